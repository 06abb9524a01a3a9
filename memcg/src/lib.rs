//! A memory cgroup for one process: a charge counter with a limit (`memory.max`), and seeded
//! allocation-failure injection.
//!
//! The kernel charges a memcg for the slab pages of `__GFP_ACCOUNT` allocations (bpf_mem_alloc's
//! objects among them); past `memory.max` a charge fails, the allocation returns NULL, and a
//! map update returns -ENOMEM while the program goes on. Here the objects that stand for those
//! allocations (the allocators' slab, kvfree_rcu's blocks) call [`try_charge`] before they
//! take memory and [`uncharge`] when they give it back, in the bytes a memcg would charge
//! ([`kmalloc_size`]): so a limit means the figure the tool's memory columns show.
//!
//! Charging costs no shared cache line in the common case: as the kernel's per-CPU
//! `memcg_stock`, each thread keeps a small stock of bytes already charged to the counter
//! ([`STOCK_BATCH`]) and charges or uncharges from it; only refilling or returning a stock
//! touches the shared counter. The counter holds what is in use plus the stocks, so what is in
//! use never exceeds the limit; a charge may be refused while other threads' stocks still hold
//! up to `2 x STOCK_BATCH` each below it.
//!
//! This crate sits below every other in the workspace (rcu, allocators, workloads, harness
//! all may charge), and depends on nothing.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};

/// Page size: kmalloc_large and vmalloc charge whole pages, and a kvfree_rcu block is one.
pub const PAGE_SIZE: usize = 4096;

/// Bytes a thread charges to the counter at a time, and keeps (up to twice this) after
/// uncharges: the kernel's per-CPU stock (`MEMCG_CHARGE_BATCH` pages), smaller because here it
/// is per thread and a run has dozens of threads.
pub const STOCK_BATCH: u64 = 16 << 10;

/// The kmalloc classes up to 192 bytes by `(size + 7) / 8` (mm/slab_common.c's size_index
/// with KMALLOC_MIN_SIZE 8, as on x86_64, where the 96 and 192 caches exist); 0 for size 0.
const SMALL: [u8; 25] = [
    0, 8, 16, 32, 32, 64, 64, 64, 64, 96, 96, 96, 96, 128, 128, 128, 128, 192, 192, 192, 192, 192,
    192, 192, 192,
];

/// The bytes the kernel charges a memcg for a kmalloc of `size`: its size class (8, 16, 32,
/// 64, 96, 128, 192, 256, 512, 1k, 2k, 4k, 8k); above 8 KiB whole pages. kmalloc_large takes
/// a power of two of pages, but the kernel's big map areas (bpf_map_area_alloc) are vmalloc'd
/// page by page, and those are what a userspace allocation this large stands for.
#[inline]
pub const fn kmalloc_size(size: usize) -> usize {
    if size <= 192 {
        SMALL[size.div_ceil(8)] as usize
    } else if size <= 8192 {
        size.next_power_of_two()
    } else {
        size.div_ceil(PAGE_SIZE) * PAGE_SIZE
    }
}

/// No limit.
const UNLIMITED: u64 = u64::MAX;

/// Bytes charged: in use plus the threads' stocks (`memory.current`).
static USAGE: AtomicU64 = AtomicU64::new(0);
/// `memory.max`; `UNLIMITED` when none.
static LIMIT: AtomicU64 = AtomicU64::new(UNLIMITED);
/// The highest `USAGE` seen (`memory.peak`).
static PEAK: AtomicU64 = AtomicU64::new(0);
/// Charges refused at the limit (cgroup v1's `memory.failcnt`).
static FAILCNT: AtomicU64 = AtomicU64::new(0);
/// Allocations that an injector failed (`FailAlloc::fails` said yes).
static INJECTED: AtomicU64 = AtomicU64::new(0);

/// A thread's stock; what is left of it goes back to the counter when the thread exits.
struct Stock(Cell<u64>);

impl Drop for Stock {
    fn drop(&mut self) {
        let n = self.0.replace(0);
        if n > 0 {
            USAGE.fetch_sub(n, Ordering::Relaxed);
        }
    }
}

thread_local! {
    static STOCK: Stock = const { Stock(Cell::new(0)) };
}

/// Sets `memory.max`: `None` is no limit. What is charged already stays charged, even above
/// a new, lower limit (as writing memory.max below memory.current does not free anything
/// here: there is no reclaim).
pub fn set_limit(bytes: Option<u64>) {
    LIMIT.store(bytes.unwrap_or(UNLIMITED), Ordering::SeqCst);
}

/// The limit, if any.
pub fn limit() -> Option<u64> {
    match LIMIT.load(Ordering::Relaxed) {
        UNLIMITED => None,
        l => Some(l),
    }
}

/// Adds `n` to the counter unless that would pass the limit.
#[inline]
fn counter_try_add(n: u64) -> bool {
    let limit = LIMIT.load(Ordering::Relaxed);
    let mut cur = USAGE.load(Ordering::Relaxed);
    loop {
        let Some(new) = cur.checked_add(n).filter(|&v| v <= limit) else {
            return false;
        };
        match USAGE.compare_exchange_weak(cur, new, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => {
                PEAK.fetch_max(new, Ordering::Relaxed);
                return true;
            }
            Err(now) => cur = now,
        }
    }
}

/// Charges `n` bytes, or refuses (and counts a failure) when that would pass the limit: the
/// caller then fails its allocation, as the kernel's `__GFP_ACCOUNT` allocation returns NULL.
#[inline]
pub fn try_charge(n: usize) -> bool {
    let n = n as u64;
    let charged = STOCK.try_with(|s| {
        let have = s.0.get();
        if have >= n {
            s.0.set(have - n);
            return true;
        }
        let want = n - have;
        // A batch on top when there is room; exactly what is missing when there is not.
        if counter_try_add(want + STOCK_BATCH) {
            s.0.set(STOCK_BATCH);
            true
        } else if counter_try_add(want) {
            s.0.set(0);
            true
        } else {
            false
        }
    });
    // The thread is exiting (its stock is gone): charge the counter directly.
    let ok = charged.unwrap_or_else(|_| counter_try_add(n));
    if !ok {
        FAILCNT.fetch_add(1, Ordering::Relaxed);
    }
    ok
}

/// Charges `n` bytes whatever the limit (`__GFP_NOFAIL`): for memory whose allocation the
/// kernel would not let fail (a small GFP_KERNEL kmalloc reclaims or OOM-kills rather than
/// fail) or that is made once up front (the preallocated map's area).
pub fn charge_nofail(n: usize) {
    let new = USAGE.fetch_add(n as u64, Ordering::Relaxed) + n as u64;
    PEAK.fetch_max(new, Ordering::Relaxed);
}

/// Gives back `n` bytes charged by `try_charge` or `charge_nofail` (on any thread).
#[inline]
pub fn uncharge(n: usize) {
    let n = n as u64;
    let kept = STOCK.try_with(|s| {
        let have = s.0.get() + n;
        if have > 2 * STOCK_BATCH {
            USAGE.fetch_sub(have - STOCK_BATCH, Ordering::Relaxed);
            s.0.set(STOCK_BATCH);
        } else {
            s.0.set(have);
        }
    });
    if kept.is_err() {
        USAGE.fetch_sub(n, Ordering::Relaxed);
    }
}

/// Returns the calling thread's stock to the counter (`drain_stock`).
pub fn drain_stock() {
    let _ = STOCK.try_with(|s| {
        let n = s.0.replace(0);
        USAGE.fetch_sub(n, Ordering::Relaxed);
    });
}

/// Bytes charged now, the threads' stocks included (`memory.current`).
pub fn usage() -> u64 {
    USAGE.load(Ordering::Relaxed)
}

/// The highest `usage` so far (`memory.peak`).
pub fn peak() -> u64 {
    PEAK.load(Ordering::Relaxed)
}

/// Charges refused at the limit so far (`memory.failcnt`).
pub fn failcnt() -> u64 {
    FAILCNT.load(Ordering::Relaxed)
}

/// Allocations failed by injection so far, over every injector of the process.
pub fn injected() -> u64 {
    INJECTED.load(Ordering::Relaxed)
}

/// The process-wide counts at one moment, for differences over a run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub failcnt: u64,
    pub injected: u64,
}

pub fn counts() -> Counts {
    Counts {
        failcnt: failcnt(),
        injected: injected(),
    }
}

/// A size from `64MiB`, `1GiB`, `512KiB`, `4096` (bytes), with `K`, `M`, `G`, `T` (and `KB`..,
/// `k`..) read as binary units as cgroup's memory.max reads them; fractions allowed
/// (`1.5GiB`). `max` is no limit (None).
pub fn parse_size(s: &str) -> Result<Option<u64>, String> {
    let t = s.trim();
    if t.eq_ignore_ascii_case("max") {
        return Ok(None);
    }
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        "t" | "tb" | "tib" => 40,
        _ => {
            return Err(format!(
                "'{s}' is not a size (like 64MiB, 1GiB, 512KiB or max)"
            ))
        }
    };
    let v: f64 = num
        .parse()
        .map_err(|_| format!("'{s}' is not a size (like 64MiB, 1GiB, 512KiB or max)"))?;
    let bytes = v * (1u64 << shift) as f64;
    if !bytes.is_finite() || bytes < 1.0 {
        return Err(format!("'{s}' is not a positive size"));
    }
    if bytes >= (1u64 << 60) as f64 {
        return Err(format!("'{s}' is too large (at most 1EiB)"));
    }
    Ok(Some(bytes as u64))
}

/// A size the way `parse_size` reads it back: `64MiB`, `1.5GiB`, `4096B`.
pub fn format_size(bytes: u64) -> String {
    for (shift, unit) in [(40, "TiB"), (30, "GiB"), (20, "MiB"), (10, "KiB")] {
        let u = 1u64 << shift;
        if bytes >= u {
            return if bytes.is_multiple_of(u) {
                format!("{}{unit}", bytes / u)
            } else {
                format!("{:.2}{unit}", bytes as f64 / u as f64)
            };
        }
    }
    format!("{bytes}B")
}

/// MemTotal from /proc/meminfo, in bytes; None where it cannot be read.
pub fn mem_total() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = s.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// The default limit: half of physical memory (each flavor runs in a process of its own, so
/// the half is nobody else's share), None where MemTotal cannot be read.
pub fn default_limit() -> Option<u64> {
    mem_total().map(|t| t / 2)
}

/// Which allocations an injector fails.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum FailMode {
    /// Each with this probability (0 < p <= 1).
    Probability(f64),
    /// Every Nth of a stream (the Nth, 2Nth, ...).
    Every(u64),
}

/// Allocation-failure injection, seeded: whether attempt `n` of stream `s` fails depends on
/// (seed, s, n) only, so a stream that makes the same attempts fails the same ones in every
/// run. A stream is one allocating context (an allocator cache, a kvfree_rcu thread queue).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FailAlloc {
    pub mode: FailMode,
    pub seed: u64,
}

impl FailAlloc {
    /// From `0.01` (a probability) or `every:100`.
    pub fn parse(s: &str, seed: u64) -> Result<FailAlloc, String> {
        let mode = if let Some(n) = s.strip_prefix("every:") {
            match n.parse::<u64>() {
                Ok(n) if n >= 1 => FailMode::Every(n),
                _ => {
                    return Err(format!(
                        "'{s}': every:N needs a whole N of at least 1 (like every:100)"
                    ))
                }
            }
        } else {
            match s.parse::<f64>() {
                Ok(p) if p > 0.0 && p <= 1.0 => FailMode::Probability(p),
                _ => {
                    return Err(format!(
                        "'{s}' is not a probability in (0, 1] or every:N (like 0.01 or every:100)"
                    ))
                }
            }
        };
        Ok(FailAlloc { mode, seed })
    }

    /// As `parse` reads it.
    pub fn spec(&self) -> String {
        match self.mode {
            FailMode::Probability(p) => format!("{p}"),
            FailMode::Every(n) => format!("every:{n}"),
        }
    }

    /// Whether attempt `n` (from 0) of stream `stream` fails; counted in `injected()` if so.
    #[inline]
    pub fn fails(&self, stream: u64, n: u64) -> bool {
        let fail = match self.mode {
            FailMode::Every(k) => (n + 1).is_multiple_of(k),
            FailMode::Probability(p) => {
                let h = splitmix64(
                    self.seed ^ stream.wrapping_mul(0xd1b5_4a32_d192_ed03) ^ splitmix64(n),
                );
                // A uniform draw in [0, 1) from the hash's top 53 bits.
                ((h >> 11) as f64 / (1u64 << 53) as f64) < p
            }
        };
        if fail {
            INJECTED.fetch_add(1, Ordering::Relaxed);
        }
        fail
    }
}

fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_binary_units() {
        assert_eq!(parse_size("64MiB"), Ok(Some(64 << 20)));
        assert_eq!(parse_size("64M"), Ok(Some(64 << 20)));
        assert_eq!(parse_size("1GiB"), Ok(Some(1 << 30)));
        assert_eq!(parse_size("1.5GiB"), Ok(Some(3 << 29)));
        assert_eq!(parse_size("512kib"), Ok(Some(512 << 10)));
        assert_eq!(parse_size("4096"), Ok(Some(4096)));
        assert_eq!(parse_size("max"), Ok(None));
        for bad in ["", "MiB", "-1MiB", "0", "64XB", "abc", "1e30GiB", "0.1B"] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
        for b in [64u64 << 20, 1 << 30, 4096, 100, 3 << 29] {
            assert_eq!(parse_size(&format_size(b)), Ok(Some(b)), "{b}");
        }
    }

    #[test]
    fn fail_specs_parse_and_are_reproducible() {
        let every = FailAlloc::parse("every:4", 0).unwrap();
        let hits: Vec<u64> = (0..12).filter(|&n| every.fails(7, n)).collect();
        assert_eq!(hits, [3, 7, 11]);
        let p = FailAlloc::parse("0.25", 42).unwrap();
        let run = |f: &FailAlloc| (0..4000).filter(|&n| f.fails(1, n)).count();
        let n = run(&p);
        assert!((800..1200).contains(&n), "{n}");
        assert_eq!(n, run(&FailAlloc::parse("0.25", 42).unwrap()));
        assert_ne!(
            (0..64).map(|n| p.fails(1, n)).collect::<Vec<_>>(),
            (0..64)
                .map(|n| FailAlloc::parse("0.25", 43).unwrap().fails(1, n))
                .collect::<Vec<_>>()
        );
        assert_eq!(FailAlloc::parse("1", 0).unwrap().spec(), "1");
        for bad in ["0", "1.5", "-0.1", "every:0", "every:", "every:x", "x"] {
            assert!(FailAlloc::parse(bad, 0).is_err(), "{bad}");
        }
    }

    /// The one test that sets the process's limit (tests run in parallel in one process).
    #[test]
    fn the_limit_refuses_charges_and_stocks_stay_under_it() {
        let base = usage();
        set_limit(Some(base + (1 << 20)));
        let before = failcnt();
        let mut n = 0;
        while try_charge(96) {
            n += 1;
            assert!(usage() <= base + (1 << 20));
        }
        assert!(failcnt() > before);
        assert!(
            n * 96 <= 1 << 20 && n * 96 > (1 << 20) - 2 * STOCK_BATCH as usize,
            "{n}"
        );
        for _ in 0..n {
            uncharge(96);
        }
        drain_stock();
        set_limit(None);
        assert!(try_charge(1 << 21));
        uncharge(1 << 21);
        drain_stock();
        // Other tests here never charge, so the counter is back where it was.
        assert_eq!(usage(), base);
        let t = std::thread::spawn(|| {
            assert!(try_charge(100));
        });
        t.join().unwrap();
        // The exited thread's stock went back; its 100 bytes are still charged.
        assert_eq!(usage(), base + 100);
        uncharge(100);
        drain_stock();
        assert_eq!(usage(), base);
    }

    #[test]
    fn kmalloc_classes() {
        for (size, class) in [(0, 0), (1, 8), (65, 96), (72, 96), (193, 256), (4096, 4096)] {
            assert_eq!(kmalloc_size(size), class);
        }
        assert_eq!(kmalloc_size(8193), 12288);
    }
}
