//! Host description recorded with every result, so numbers from different
//! machines are never compared blindly.

use serde::{Deserialize, Serialize};
use sysinfo::{CpuRefreshKind, MemoryRefreshKind, RefreshKind, System};

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
pub struct HostInfo {
    pub cpu_model: String,
    pub nr_cpus: usize,
    pub kernel: String,
    pub mem_total_bytes: u64,
}

/// Collects the host description. Never fails: unknown parts are "unknown"/0.
pub fn host_info() -> HostInfo {
    // Only CPU brand and RAM: a full refresh would sample CPU usage and walk processes.
    let sys = System::new_with_specifics(
        RefreshKind::nothing()
            .with_cpu(CpuRefreshKind::nothing())
            .with_memory(MemoryRefreshKind::nothing().with_ram()),
    );
    let cpu_model = sys
        .cpus()
        .first()
        .map(|c| c.brand().trim().to_string())
        .filter(|b| !b.is_empty())
        .unwrap_or_else(|| "unknown".to_string());
    let kernel = System::kernel_version()
        .filter(|k| !k.is_empty())
        .or_else(uname_release)
        .unwrap_or_else(|| "unknown".to_string());
    HostInfo {
        cpu_model,
        nr_cpus: available_parallelism(),
        kernel,
        mem_total_bytes: sys.total_memory(),
    }
}

fn available_parallelism() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn uname_release() -> Option<String> {
    // SAFETY: utsname is plain old data; all-zero is a valid value.
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: `u` is a valid, writable utsname.
    if unsafe { libc::uname(&mut u) } != 0 {
        return None;
    }
    // SAFETY: on success `release` holds a NUL-terminated string within the array.
    let rel = unsafe { std::ffi::CStr::from_ptr(u.release.as_ptr()) };
    Some(rel.to_string_lossy().into_owned()).filter(|s| !s.is_empty())
}

/// CPU ids this process may run on (its affinity mask), ascending.
/// Falls back to `0..available_parallelism` where the mask can't be read.
pub fn online_cpus() -> Vec<usize> {
    affinity_cpus()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| (0..available_parallelism()).collect())
}

#[cfg(target_os = "linux")]
fn affinity_cpus() -> Option<Vec<usize>> {
    // SAFETY: cpu_set_t is a plain bitmask; all-zero is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    let size = std::mem::size_of::<libc::cpu_set_t>();
    // SAFETY: `set` is valid and writable for `size` bytes; pid 0 = this thread.
    let rc = unsafe { libc::sched_getaffinity(0, size, &mut set) };
    if rc != 0 {
        return None;
    }
    let max = libc::CPU_SETSIZE as usize;
    let is_set = |c: usize| {
        // SAFETY: CPU_ISSET only reads `set`, and every index is < CPU_SETSIZE.
        unsafe { libc::CPU_ISSET(c, &set) }
    };
    Some((0..max).filter(|&c| is_set(c)).collect())
}

#[cfg(not(target_os = "linux"))]
fn affinity_cpus() -> Option<Vec<usize>> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_info_is_filled() {
        let h = host_info();
        assert!(!h.cpu_model.is_empty());
        assert!(!h.kernel.is_empty());
        assert!(h.nr_cpus >= 1);
        if cfg!(target_os = "linux") {
            assert!(h.mem_total_bytes > 0);
            assert_ne!(h.kernel, "unknown");
        }
    }

    #[test]
    fn online_cpus_sorted_unique_and_match_parallelism() {
        let cpus = online_cpus();
        assert!(!cpus.is_empty());
        assert!(cpus.windows(2).all(|w| w[0] < w[1]));
        // std derives available_parallelism from the same affinity mask on Linux
        // (cgroup quota can only lower it).
        assert!(available_parallelism() <= cpus.len());
    }

    #[test]
    fn uname_gives_release() {
        if cfg!(target_os = "linux") {
            let r = uname_release().unwrap();
            assert!(r.chars().next().unwrap().is_ascii_digit(), "{r}");
        }
    }

    #[test]
    fn serde_round_trip() {
        let h = HostInfo {
            cpu_model: "Xeon".into(),
            nr_cpus: 2,
            kernel: "6.8.0".into(),
            mem_total_bytes: 1 << 30,
        };
        let s = serde_json::to_string(&h).unwrap();
        assert_eq!(
            s,
            r#"{"cpu_model":"Xeon","nr_cpus":2,"kernel":"6.8.0","mem_total_bytes":1073741824}"#
        );
        assert_eq!(serde_json::from_str::<HostInfo>(&s).unwrap(), h);
    }
}
