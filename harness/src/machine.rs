//! What the rest of the machine did while a cell was measured: the hypervisor's steal, the
//! CPU time other processes took, and the load average, from /proc, and this process's and
//! thread's CPU clocks. Every reader is tolerant: a missing or unreadable file, or a line in
//! an unexpected shape, gives an absent figure, never an error.

use serde::{Deserialize, Serialize};

/// Steal above this share of all CPU time flags a cell: the hypervisor took one CPU-second in
/// twenty, as much as the smallest differences worth reporting.
pub const STEAL_BUSY_PCT: f64 = 5.0;

/// Other processes' CPU time above this share of the machine flags a cell: on 2 CPUs, a
/// fifth of a CPU taken from producers that were meant to have them all.
pub const OTHERS_BUSY_PCT: f64 = 10.0;

/// The aggregate `cpu` line of /proc/stat, in clock ticks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CpuTimes {
    /// user + nice + system + idle + iowait + irq + softirq + steal (guest time is already
    /// inside user and nice).
    pub total: u64,
    /// Neither idle nor iowait nor steal: time the machine's own processes ran.
    pub busy: u64,
    pub steal: u64,
}

/// The `cpu` line of /proc/stat; None when absent or short (kernels before 2.6.11 have no
/// steal column: it counts as 0 when the line has at least the first four).
pub fn parse_proc_stat(text: &str) -> Option<CpuTimes> {
    let line = text
        .lines()
        .find(|l| l.split_whitespace().next() == Some("cpu"))?;
    let f: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map_while(|x| x.parse().ok())
        .collect();
    if f.len() < 4 {
        return None;
    }
    let at = |i: usize| f.get(i).copied().unwrap_or(0);
    let (user, nice, system, idle, iowait, irq, softirq, steal) =
        (at(0), at(1), at(2), at(3), at(4), at(5), at(6), at(7));
    Some(CpuTimes {
        total: user + nice + system + idle + iowait + irq + softirq + steal,
        busy: user + nice + system + irq + softirq,
        steal,
    })
}

/// The 1-minute load average, the first field of /proc/loadavg.
pub fn parse_loadavg(text: &str) -> Option<f64> {
    text.split_whitespace()
        .next()?
        .parse()
        .ok()
        .filter(|x: &f64| x.is_finite())
}

/// Clock ticks per second (USER_HZ), what /proc/stat counts in.
fn clock_ticks() -> f64 {
    // SAFETY: sysconf only reads a configuration value.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if hz > 0 {
        hz as f64
    } else {
        100.0
    }
}

fn read(path: &str) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

fn clock_ns(clock: libc::clockid_t) -> Option<u64> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the clock id is one of the constants below.
    let rc = unsafe { libc::clock_gettime(clock, &mut ts) };
    (rc == 0).then(|| ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64)
}

/// The calling thread's CPU time (CLOCK_THREAD_CPUTIME_ID), user and system, in ns.
pub fn thread_cpu_ns() -> Option<u64> {
    clock_ns(libc::CLOCK_THREAD_CPUTIME_ID)
}

/// This process's CPU time, all threads (CLOCK_PROCESS_CPUTIME_ID), in ns.
pub fn process_cpu_ns() -> Option<u64> {
    clock_ns(libc::CLOCK_PROCESS_CPUTIME_ID)
}

/// One reading of the machine at an edge of the measured window.
#[derive(Clone, Copy, Debug, Default)]
pub struct Snapshot {
    cpu: Option<CpuTimes>,
    load1: Option<f64>,
    own_cpu_ns: Option<u64>,
}

impl Snapshot {
    pub fn now() -> Snapshot {
        Snapshot {
            cpu: read("/proc/stat").as_deref().and_then(parse_proc_stat),
            load1: read("/proc/loadavg").as_deref().and_then(parse_loadavg),
            own_cpu_ns: process_cpu_ns(),
        }
    }
}

/// What the machine did during a cell's measured window (`machine` in a cell).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct MachineLoad {
    /// The hypervisor's steal, % of all CPU time of the window (/proc/stat).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub steal_pct: Option<f64>,
    /// CPU time of every other process, % of all CPU time of the window: the machine's busy
    /// time less this process's CPU clock.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub others_cpu_pct: Option<f64>,
    /// The 1-minute load average at the start and end of the window (/proc/loadavg).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load_avg_start: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load_avg_end: Option<f64>,
    /// Steal above 5 %, other processes above 10 % or the load average at the end above the
    /// online CPUs plus the producers (`busy_reasons` says which).
    pub busy: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub busy_reasons: Vec<String>,
}

impl MachineLoad {
    /// The window from `a` to `b`, for `producers` producers on `online` CPUs.
    pub fn between(a: &Snapshot, b: &Snapshot, online: usize, producers: usize) -> MachineLoad {
        let cpu = match (a.cpu, b.cpu) {
            (Some(x), Some(y)) if y.total > x.total => Some((x, y)),
            _ => None,
        };
        let pct = |num: f64, den: f64| (num / den * 100.0).clamp(0.0, 100.0);
        let steal_pct = cpu.map(|(x, y)| {
            pct(
                y.steal.saturating_sub(x.steal) as f64,
                (y.total - x.total) as f64,
            )
        });
        let others_cpu_pct = match (cpu, a.own_cpu_ns, b.own_cpu_ns) {
            (Some((x, y)), Some(o1), Some(o2)) => {
                let busy_s = y.busy.saturating_sub(x.busy) as f64 / clock_ticks();
                let own_s = o2.saturating_sub(o1) as f64 / 1e9;
                let total_s = (y.total - x.total) as f64 / clock_ticks();
                Some(pct((busy_s - own_s).max(0.0), total_s))
            }
            _ => None,
        };
        let mut m = MachineLoad {
            steal_pct,
            others_cpu_pct,
            load_avg_start: a.load1,
            load_avg_end: b.load1,
            busy: false,
            busy_reasons: Vec::new(),
        };
        m.judge(online, producers);
        m
    }

    /// Sets `busy` and its reasons from the figures.
    pub fn judge(&mut self, online: usize, producers: usize) {
        let mut why = Vec::new();
        if let Some(s) = self.steal_pct.filter(|&s| s > STEAL_BUSY_PCT) {
            why.push(format!("steal {s:.1}% > {STEAL_BUSY_PCT}%"));
        }
        if let Some(o) = self.others_cpu_pct.filter(|&o| o > OTHERS_BUSY_PCT) {
            why.push(format!("other processes {o:.1}% > {OTHERS_BUSY_PCT}%"));
        }
        let limit = (online + producers) as f64;
        if let Some(l) = self.load_avg_end.filter(|&l| l > limit) {
            why.push(format!(
                "load average {l:.2} > {online} CPUs + {producers} producers"
            ));
        }
        self.busy = !why.is_empty();
        self.busy_reasons = why;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STAT: &str = "cpu  2507096 44045 288552 1047683 11289 0 1257 11563 0 0\n\
                        cpu0 1253548 22022 144276 523841 5644 0 628 5781 0 0\n\
                        intr 123 0 0\nctxt 99\n";

    #[test]
    fn proc_stat_cpu_line() {
        let t = parse_proc_stat(STAT).unwrap();
        assert_eq!(t.steal, 11563);
        assert_eq!(
            t.total,
            2507096 + 44045 + 288552 + 1047683 + 11289 + 1257 + 11563
        );
        assert_eq!(t.busy, 2507096 + 44045 + 288552 + 1257);
        // No steal column (very old kernels): steal 0.
        let old = parse_proc_stat("cpu 10 0 5 85\n").unwrap();
        assert_eq!((old.total, old.busy, old.steal), (100, 15, 0));
        // Absent, empty, short or garbled: no figure.
        for bad in [
            "",
            "intr 1 2\n",
            "cpu 1 2\n",
            "cpu0 1 2 3 4 5\n",
            "cpu x y z w\n",
        ] {
            assert_eq!(parse_proc_stat(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn loadavg_first_field() {
        assert_eq!(parse_loadavg("1.31 2.12 3.00 8/119 20068\n"), Some(1.31));
        assert_eq!(parse_loadavg(""), None);
        assert_eq!(parse_loadavg("x 1 2"), None);
        assert_eq!(parse_loadavg("nan 1 2"), None);
    }

    fn snap(total: u64, busy: u64, steal: u64, load: f64, own_ns: u64) -> Snapshot {
        Snapshot {
            cpu: Some(CpuTimes { total, busy, steal }),
            load1: Some(load),
            own_cpu_ns: Some(own_ns),
        }
    }

    #[test]
    fn a_quiet_window_is_not_busy_and_steal_flags_it() {
        let hz = clock_ticks();
        let ticks = |s: f64| (s * hz) as u64;
        // 2 CPUs for 5 s: 10 CPU-seconds; this process ran 9.5 of them, the machine 9.6.
        let a = snap(0, 0, 0, 1.0, 0);
        let b = snap(ticks(10.0), ticks(9.6), 0, 2.0, 9_500_000_000);
        let m = MachineLoad::between(&a, &b, 2, 2);
        assert_eq!(m.steal_pct, Some(0.0));
        assert!((m.others_cpu_pct.unwrap() - 1.0).abs() < 0.5);
        assert!(!m.busy, "{m:?}");
        // A fifth of the window stolen.
        let b = snap(ticks(10.0), ticks(7.6), ticks(2.0), 2.0, 7_500_000_000);
        let m = MachineLoad::between(&a, &b, 2, 2);
        assert!((m.steal_pct.unwrap() - 20.0).abs() < 0.5);
        assert!(m.busy);
        assert!(m.busy_reasons[0].starts_with("steal"), "{m:?}");
        // Another process took half the machine; the load average climbed past 2 + 2.
        let b = snap(ticks(10.0), ticks(10.0), 0, 4.5, 5_000_000_000);
        let m = MachineLoad::between(&a, &b, 2, 2);
        assert_eq!(m.busy_reasons.len(), 2, "{m:?}");
    }

    #[test]
    fn missing_files_give_absent_figures() {
        let none = Snapshot::default();
        let m = MachineLoad::between(&none, &none, 2, 2);
        assert_eq!(m, MachineLoad::default());
        let v = serde_json::to_value(&m).unwrap();
        assert_eq!(v, serde_json::json!({"busy": false}));
    }

    #[test]
    fn cpu_clocks_run() {
        let t = thread_cpu_ns().unwrap();
        let p = process_cpu_ns().unwrap();
        let mut x = 0u64;
        for i in 0..1_000_000u64 {
            x = std::hint::black_box(x.wrapping_add(i));
        }
        assert!(thread_cpu_ns().unwrap() >= t);
        assert!(process_cpu_ns().unwrap() >= p);
        assert!(x > 0);
    }
}
