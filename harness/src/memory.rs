//! Heap accounting: the userspace analog of the cgroup's `memory.current`.
//!
//! `CountingAlloc` forwards to the system allocator and counts live heap
//! bytes twice: as requested (raw) and as a memcg charges them, each
//! allocation rounded up to its kmalloc size class (`kmalloc_size`). The
//! counters are sharded per thread so that accounting never becomes the
//! contended cache line the benchmark ends up measuring.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};

use crossbeam_utils::CachePadded;

/// Number of counter shards. Threads beyond this share slots, which is why
/// slots are updated with `fetch_add` rather than a plain load + store.
const SLOTS: usize = 256;

/// One shard: both figures on one cache line, so charging costs one more add, not one more
/// line.
struct Slot {
    raw: AtomicI64,
    charged: AtomicI64,
}

static COUNTERS: [CachePadded<Slot>; SLOTS] = [const {
    CachePadded::new(Slot {
        raw: AtomicI64::new(0),
        charged: AtomicI64::new(0),
    })
}; SLOTS];

/// The bytes the kernel charges a memcg for a kmalloc of `size` (its size class; whole
/// pages above 8 KiB). The `memcg` crate holds it, as its limit charges in the same units.
pub use memcg::kmalloc_size;

/// Hands out slot indices round-robin, one per thread on first allocation.
static NEXT_SLOT: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    // `const` init of a non-Drop type: no lazy initialiser and no destructor
    // registration, so touching it can never recurse into the allocator.
    static SLOT: Cell<usize> = const { Cell::new(usize::MAX) };
}

/// This thread's counter slot; slot 0 if the thread-local is already gone
/// (thread teardown), which is still correct because updates are atomic adds.
#[inline]
fn slot() -> usize {
    SLOT.try_with(|s| {
        let v = s.get();
        if v != usize::MAX {
            return v;
        }
        let v = NEXT_SLOT.fetch_add(1, Ordering::Relaxed) % SLOTS;
        s.set(v);
        v
    })
    .unwrap_or(0)
}

#[inline]
fn account(raw: i64, charged: i64) {
    let s = &COUNTERS[slot()];
    s.raw.fetch_add(raw, Ordering::Relaxed);
    s.charged.fetch_add(charged, Ordering::Relaxed);
}

#[inline]
fn alloc_delta(size: usize) -> (i64, i64) {
    (size as i64, kmalloc_size(size) as i64)
}

/// Global allocator that counts live heap bytes. Install it in the binary
/// with `#[global_allocator] static A: CountingAlloc = CountingAlloc;`.
pub struct CountingAlloc;

// SAFETY: every method forwards to `System` with the caller's arguments
// unchanged, so `System`'s guarantees carry over; counting has no effect on
// the returned memory.
unsafe impl GlobalAlloc for CountingAlloc {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: `layout` has a non-zero size (`GlobalAlloc::alloc`'s contract on our
        // caller), which is all `System.alloc` asks.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let (raw, charged) = alloc_delta(layout.size());
            account(raw, charged);
        }
        p
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: our caller's contract: `ptr` is a live block of this allocator, allocated
        // with `layout`. Every block of ours is one of `System`'s with the same layout (all
        // methods forward unchanged), so `System.dealloc` gets a block of its own.
        unsafe { System.dealloc(ptr, layout) };
        let (raw, charged) = alloc_delta(layout.size());
        account(-raw, -charged);
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: `layout` has a non-zero size (`GlobalAlloc::alloc_zeroed`'s contract on our
        // caller), which is all `System.alloc_zeroed` asks.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            let (raw, charged) = alloc_delta(layout.size());
            account(raw, charged);
        }
        p
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: `ptr` is a live block of ours allocated with `layout`, so one of `System`'s
        // (as in `dealloc`), and `new_size` is non-zero and does not overflow `isize` once
        // rounded up to `layout.align()`: `GlobalAlloc::realloc`'s contract on our caller,
        // which is what `System.realloc` asks.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        // On failure the old block is untouched and still live.
        if !p.is_null() {
            let ((new_raw, new_charged), (old_raw, old_charged)) =
                (alloc_delta(new_size), alloc_delta(layout.size()));
            account(new_raw - old_raw, new_charged - old_charged);
        }
        p
    }
}

/// Live heap bytes allocated through `CountingAlloc`, summed over all slots.
/// Slots may be individually negative (freed on another thread than
/// allocated); only the sum is meaningful. Not a snapshot: concurrent
/// updates during the sum may be partially included.
pub fn live_bytes() -> i64 {
    COUNTERS.iter().map(|c| c.raw.load(Ordering::Relaxed)).sum()
}

/// Live heap bytes as charged (`kmalloc_size` of each allocation), summed like `live_bytes`.
pub fn charged_bytes() -> i64 {
    COUNTERS
        .iter()
        .map(|c| c.charged.load(Ordering::Relaxed))
        .sum()
}

/// Both figures from one pass over the shards.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Live {
    pub raw: i64,
    pub charged: i64,
}

impl Live {
    /// Each figure's own maximum (they need not peak at the same moment).
    pub fn max(self, o: Live) -> Live {
        Live {
            raw: self.raw.max(o.raw),
            charged: self.charged.max(o.charged),
        }
    }

    /// Each figure less `base`'s (a footprint above the start).
    pub fn minus(self, base: Live) -> Live {
        Live {
            raw: self.raw - base.raw,
            charged: self.charged - base.charged,
        }
    }
}

/// The live heap's average and peak over samples (the benchmarks that run to completion).
pub struct LiveStats {
    sum: (i128, i128),
    n: i128,
    peak: Live,
}

impl LiveStats {
    /// Starts with the peak at `start`.
    pub fn new(start: Live) -> LiveStats {
        LiveStats {
            sum: (0, 0),
            n: 0,
            peak: start,
        }
    }

    /// Reads the live heap once.
    pub fn sample(&mut self) {
        let m = live();
        self.sum.0 += i128::from(m.raw);
        self.sum.1 += i128::from(m.charged);
        self.n += 1;
        self.peak = self.peak.max(m);
    }

    pub fn avg(&self) -> Live {
        let n = self.n.max(1);
        Live {
            raw: (self.sum.0 / n) as i64,
            charged: (self.sum.1 / n) as i64,
        }
    }

    pub fn peak(&self) -> Live {
        self.peak
    }
}

pub fn live() -> Live {
    COUNTERS.iter().fold(Live::default(), |l, c| Live {
        raw: l.raw + c.raw.load(Ordering::Relaxed),
        charged: l.charged + c.charged.load(Ordering::Relaxed),
    })
}

/// Process-level memory as the kernel sees it, in bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProcMem {
    /// Current resident set size (VmRSS).
    pub rss_bytes: u64,
    /// Peak resident set size (VmHWM).
    pub hwm_bytes: u64,
}

/// Reads VmRSS and VmHWM from /proc/self/status; zeros for whatever is
/// missing or unreadable (non-Linux, restricted /proc).
pub fn process_memory() -> ProcMem {
    std::fs::read_to_string("/proc/self/status")
        .map(|s| parse_status(&s))
        .unwrap_or_default()
}

fn parse_status(status: &str) -> ProcMem {
    let mut m = ProcMem::default();
    for line in status.lines() {
        let Some((key, rest)) = line.split_once(':') else {
            continue;
        };
        let field = match key {
            "VmRSS" => &mut m.rss_bytes,
            "VmHWM" => &mut m.hwm_bytes,
            _ => continue,
        };
        // Format is "VmRSS:\t   1234 kB".
        if let Some(kb) = rest
            .split_whitespace()
            .next()
            .and_then(|v| v.parse::<u64>().ok())
        {
            *field = kb.saturating_mul(1024);
        }
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    const BIG: usize = 64 << 20;
    // Other test threads allocate concurrently; they churn far less than this.
    const SLACK: i64 = 8 << 20;

    // The big-allocation tests would see each other's 64 MiB; run them one at a time.
    static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

    fn serial() -> std::sync::MutexGuard<'static, ()> {
        SERIAL.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn assert_near(got: i64, want: i64) {
        assert!(
            (got - want).abs() < SLACK,
            "delta {got} not within {SLACK} of {want}"
        );
    }

    #[test]
    fn alloc_and_dealloc_move_live_bytes() {
        let _serial = serial();
        let layout = Layout::from_size_align(BIG, 64).unwrap();
        let before = live_bytes();
        // SAFETY: non-zero-size layout; the pointer is freed below with the same layout.
        let p = unsafe { CountingAlloc.alloc(layout) };
        assert!(!p.is_null());
        assert_near(live_bytes() - before, BIG as i64);
        // SAFETY: `p` was allocated above by `CountingAlloc` with `layout`.
        unsafe { CountingAlloc.dealloc(p, layout) };
        assert_near(live_bytes() - before, 0);
    }

    #[test]
    fn zeroed_and_realloc_are_counted() {
        let _serial = serial();
        let layout = Layout::from_size_align(BIG, 8).unwrap();
        let before = live_bytes();
        // SAFETY: non-zero-size layout; freed below.
        let p = unsafe { CountingAlloc.alloc_zeroed(layout) };
        assert!(!p.is_null());
        // SAFETY: alloc_zeroed returned BIG readable bytes.
        assert!(unsafe { std::slice::from_raw_parts(p, BIG) }
            .iter()
            .step_by(4096)
            .all(|&b| b == 0));
        assert_near(live_bytes() - before, BIG as i64);

        // SAFETY: `p` came from `CountingAlloc` with `layout`; new size is non-zero.
        let q = unsafe { CountingAlloc.realloc(p, layout, 2 * BIG) };
        assert!(!q.is_null());
        assert_near(live_bytes() - before, 2 * BIG as i64);

        let grown = Layout::from_size_align(2 * BIG, 8).unwrap();
        // SAFETY: `q` is the live block of size 2*BIG returned by realloc.
        let r = unsafe { CountingAlloc.realloc(q, grown, BIG / 2) };
        assert!(!r.is_null());
        assert_near(live_bytes() - before, BIG as i64 / 2);

        let shrunk = Layout::from_size_align(BIG / 2, 8).unwrap();
        // SAFETY: `r` is the live block of size BIG/2 returned by realloc.
        unsafe { CountingAlloc.dealloc(r, shrunk) };
        assert_near(live_bytes() - before, 0);
    }

    #[test]
    fn cross_thread_free_sums_to_zero() {
        let _serial = serial();
        let layout = Layout::from_size_align(BIG, 64).unwrap();
        let before = live_bytes();
        // Raw pointers aren't Send; pass the address.
        let addr = std::thread::spawn(move || {
            // SAFETY: non-zero-size layout; freed on the other thread below.
            let p = unsafe { CountingAlloc.alloc(layout) };
            assert!(!p.is_null());
            (slot(), p as usize)
        })
        .join()
        .unwrap();
        let (alloc_slot, ptr) = addr;
        assert_near(live_bytes() - before, BIG as i64);

        let free_slot = std::thread::spawn(move || {
            // SAFETY: `ptr` was allocated by `CountingAlloc` with `layout` and not yet freed.
            unsafe { CountingAlloc.dealloc(ptr as *mut u8, layout) };
            slot()
        })
        .join()
        .unwrap();
        // Each thread took its own slot, so one went up and one went down.
        assert_ne!(alloc_slot, free_slot);
        assert_near(live_bytes() - before, 0);
    }

    #[test]
    fn kmalloc_classes_and_their_boundaries() {
        for (size, class) in [
            (0, 0),
            (1, 8),
            (8, 8),
            (9, 16),
            (17, 32),
            (33, 64),
            (64, 64),
            (65, 96),
            (72, 96),
            (96, 96),
            (97, 128),
            (128, 128),
            (129, 192),
            (192, 192),
            (193, 256),
            (257, 512),
            (4097, 8192),
            (8192, 8192),
            (8193, 12288),
            (1 << 20, 1 << 20),
            ((1 << 20) + 1, (1 << 20) + 4096),
        ] {
            assert_eq!(kmalloc_size(size), class, "size {size}");
        }
    }

    #[test]
    fn charged_covers_raw_and_equals_it_on_a_class() {
        let classes = [
            8, 16, 32, 64, 96, 128, 192, 256, 512, 1024, 2048, 4096, 8192,
        ];
        for size in 1..=3 * 8192 {
            let c = kmalloc_size(size);
            assert!(c >= size, "size {size} charged {c}");
            // The smallest class that holds it: one byte less would not fit the one below.
            assert_eq!(kmalloc_size(c), c, "a class is its own class");
            assert_eq!(
                c == size,
                classes.contains(&size) || (size > 8192 && size % 4096 == 0)
            );
        }
    }

    #[test]
    fn allocations_are_charged_at_their_class() {
        let _serial = serial();
        // Only this module's tests call CountingAlloc (it is not this binary's global
        // allocator), and they take turns: the deltas are exact.
        const N: usize = 1000;
        for (size, class) in [(72, 96), (64, 64), (8193, 12288)] {
            let layout = Layout::from_size_align(size, 8).unwrap();
            let before = live();
            let ptrs: Vec<usize> = (0..N)
                // SAFETY: non-zero-size layout; every block is freed below with it.
                .map(|_| unsafe { CountingAlloc.alloc(layout) } as usize)
                .collect();
            assert!(ptrs.iter().all(|&p| p != 0));
            let mid = live();
            for &p in &ptrs {
                // SAFETY: allocated above by `CountingAlloc` with `layout`.
                unsafe { CountingAlloc.dealloc(p as *mut u8, layout) };
            }
            assert_eq!(mid.raw - before.raw, (N * size) as i64);
            assert_eq!(mid.charged - before.charged, (N * class) as i64);
            assert_eq!(live(), before);
        }
    }

    #[test]
    fn slot_is_stable_per_thread() {
        let a = slot();
        assert_eq!(a, slot());
        assert!(a < SLOTS);
    }

    #[test]
    fn parses_proc_status() {
        let s = "Name:\tx\nVmPeak:\t  999 kB\nVmHWM:\t    2048 kB\nVmRSS:\t    1024 kB\n";
        assert_eq!(
            parse_status(s),
            ProcMem {
                rss_bytes: 1024 * 1024,
                hwm_bytes: 2048 * 1024
            }
        );
        assert_eq!(parse_status(""), ProcMem::default());
        assert_eq!(parse_status("VmRSS: garbage\n"), ProcMem::default());
    }

    #[test]
    fn process_memory_is_plausible() {
        let m = process_memory();
        if std::path::Path::new("/proc/self/status").exists() {
            assert!(m.rss_bytes > 0);
            assert!(m.hwm_bytes >= m.rss_bytes);
        }
    }
}
