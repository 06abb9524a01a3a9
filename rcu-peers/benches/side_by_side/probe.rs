//! Measuring tools shared by every implementation: a clock, the probe a callback fires,
//! latency collection, helper threads (idle and spinning readers), per-op timing.

use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Barrier, OnceLock};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

/// Callbacks (of whichever implementation) that have run since the last `reset_done`.
static DONE: AtomicU64 = AtomicU64::new(0);

pub fn reset_done() {
    DONE.store(0, Ordering::SeqCst);
}

pub fn done() -> u64 {
    DONE.load(Ordering::Acquire)
}

/// Nanoseconds on one monotonic clock shared by all threads.
pub fn now_ns() -> u64 {
    static BASE: OnceLock<Instant> = OnceLock::new();
    BASE.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

/// What each reclaimed object carries: its enqueue time and where its callback reports the
/// latency (null: not timed, only counted).
pub struct Probe {
    pub t_enq: u64,
    pub slot: *const AtomicU64,
}

impl Probe {
    pub fn untimed() -> Self {
        Probe {
            t_enq: 0,
            slot: std::ptr::null(),
        }
    }

    /// Times this object as entry `i` of `lat`, from now (just before it is queued).
    pub fn stamp(&mut self, lat: &Latencies, i: usize) {
        self.slot = lat.slot(i);
        self.t_enq = now_ns();
    }

    /// Called by the callback / destructor.
    pub fn fire(&self) {
        if !self.slot.is_null() {
            let lat = now_ns().saturating_sub(self.t_enq);
            // SAFETY: `slot` points into a `Latencies` that outlives every callback of its
            // burst (the burst waits for all of them before dropping it).
            unsafe { (*self.slot).store(lat, Ordering::Relaxed) };
        }
        DONE.fetch_add(1, Ordering::Release);
    }
}

/// One latency slot per object of a burst.
pub struct Latencies {
    slots: Box<[AtomicU64]>,
}

/// p50 and p99 in milliseconds.
#[derive(Clone, Copy, Debug)]
pub struct Pcts {
    pub p50_ms: f64,
    pub p99_ms: f64,
}

impl Latencies {
    pub fn new(n: usize) -> Self {
        Latencies {
            slots: (0..n).map(|_| AtomicU64::new(u64::MAX)).collect(),
        }
    }

    pub fn slot(&self, i: usize) -> *const AtomicU64 {
        &self.slots[i]
    }

    pub fn percentiles(&self) -> Pcts {
        let mut h = Histogram::<u64>::new_with_bounds(1, 600_000_000_000, 3).unwrap();
        for s in self.slots.iter() {
            let v = s.load(Ordering::Relaxed);
            assert!(v != u64::MAX, "a callback never reported");
            h.saturating_record(v.max(1));
        }
        Pcts {
            p50_ms: h.value_at_quantile(0.5) as f64 / 1e6,
            p99_ms: h.value_at_quantile(0.99) as f64 / 1e6,
        }
    }
}

/// Spins calling `step` until `n` callbacks have run; returns how long that took.
pub fn wait_done(n: u64, mut step: impl FnMut()) -> Duration {
    let t = Instant::now();
    while done() < n {
        step();
    }
    t.elapsed()
}

/// Best (lowest) ns per iteration over `runs` runs of `f(iters)`.
pub fn best_ns_per_iter(runs: u32, iters: u64, mut f: impl FnMut(u64)) -> f64 {
    f(iters / 10); // warm-up
    (0..runs)
        .map(|_| {
            let t = Instant::now();
            f(iters);
            t.elapsed().as_nanos() as f64 / iters as f64
        })
        .fold(f64::INFINITY, f64::min)
}

/// Per-operation latency of `n` runs of `op`: p50 and mean, microseconds.
#[derive(Clone, Copy, Debug)]
pub struct OpTime {
    pub p50_us: f64,
    pub mean_us: f64,
}

pub fn time_ops(n: u32, mut op: impl FnMut()) -> OpTime {
    let mut h = Histogram::<u64>::new_with_bounds(1, 600_000_000_000, 3).unwrap();
    for _ in 0..n.div_ceil(10) {
        op(); // warm-up
    }
    for _ in 0..n {
        let t = Instant::now();
        op();
        h.saturating_record((t.elapsed().as_nanos() as u64).max(1));
    }
    OpTime {
        p50_us: h.value_at_quantile(0.5) as f64 / 1e3,
        mean_us: h.mean() / 1e3,
    }
}

/// Where a measuring thread runs: the writer (main thread) on the first CPU, a spinning
/// reader on the last, so that a grace period really has to reach a reader running elsewhere.
pub enum Cpu {
    Writer,
    Reader,
}

/// Pins the calling thread (no-op with one CPU or when pinning is not allowed). The CPU list
/// is read once, before the first pin: a thread spawned by a pinned one inherits its mask.
pub fn pin_to(which: Cpu) {
    static CORES: OnceLock<Vec<core_affinity::CoreId>> = OnceLock::new();
    let cores = CORES.get_or_init(|| core_affinity::get_core_ids().unwrap_or_default());
    if cores.len() < 2 {
        return;
    }
    let core = match which {
        Cpu::Writer => cores[0],
        Cpu::Reader => cores[cores.len() - 1],
    };
    core_affinity::set_for_current(core);
}

/// Threads that register (whatever `register` returns is held) and then sleep until dropped:
/// readers that never read.
pub struct IdleThreads {
    stop: Option<mpsc::Sender<()>>,
    threads: Vec<JoinHandle<()>>,
}

impl IdleThreads {
    pub fn spawn<R>(k: usize, register: impl Fn() -> R + Send + Clone + 'static) -> Self {
        let (tx, rx) = mpsc::channel::<()>();
        let rx = Arc::new(std::sync::Mutex::new(rx));
        let ready = Arc::new(Barrier::new(k + 1));
        let threads = (0..k)
            .map(|_| {
                let (register, rx, ready) = (register.clone(), rx.clone(), ready.clone());
                thread::spawn(move || {
                    let reg = register();
                    ready.wait();
                    // Blocks until the sender is dropped (every receiver then sees Err).
                    let _ = rx.lock().unwrap().recv();
                    drop(reg);
                })
            })
            .collect();
        ready.wait();
        IdleThreads {
            stop: Some(tx),
            threads,
        }
    }
}

impl Drop for IdleThreads {
    fn drop(&mut self) {
        drop(self.stop.take());
        for t in self.threads.drain(..) {
            t.join().unwrap();
        }
    }
}

/// One thread running `body` (a read-side loop) until told to stop.
pub struct Spinner {
    stop: Arc<AtomicI32>,
    thread: Option<JoinHandle<()>>,
}

impl Spinner {
    /// `body` must call `started()` once registered, then loop until `stop` is non-zero.
    pub fn spawn(body: impl FnOnce(&AtomicI32, &dyn Fn()) + Send + 'static) -> Self {
        let stop = Arc::new(AtomicI32::new(0));
        let ready = Arc::new(Barrier::new(2));
        let (s, r) = (stop.clone(), ready.clone());
        let thread = thread::spawn(move || {
            pin_to(Cpu::Reader);
            body(&s, &|| {
                r.wait();
            })
        });
        ready.wait();
        Spinner {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Spinner {
    fn drop(&mut self) {
        self.stop.store(1, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
    }
}

/// Objects allocated ahead of a burst, held as raw pointers that the burst hands over one by
/// one. The pointer array itself is freed only when the batch drops, after the burst has been
/// timed: freeing that 8 MB array took tens of ms here, which would land in the last `call`.
/// Objects never handed over leak (a benchmark never does that).
pub struct Batch<T> {
    ptrs: Vec<*mut T>,
}

impl<T> Batch<T> {
    pub fn new(n: usize, make: impl Fn() -> T) -> Self {
        Batch {
            ptrs: (0..n).map(|_| Box::into_raw(Box::new(make()))).collect(),
        }
    }

    pub fn ptrs(&self) -> &[*mut T] {
        &self.ptrs
    }
}
