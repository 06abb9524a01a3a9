//! kvfree_rcu: nothing is freed under a reader that predates the call, everything is freed
//! after `drain`, polled reclaim frees exactly the blocks whose grace period passed, reclaimed
//! blocks are freed by the thread that queued them (or by the monitor once it is idle), and
//! the fallbacks (headed list, inline synchronize) run when no block can be had.

use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use rcu::{Domain, DomainConfig, KfreeConfig, KfreeHead, KfreeRcu, ReclaimMode, BLOCK_SLOTS};

mod common;
use common::hold_reader;

/// Which objects were freed, and any double free.
struct Freed {
    flags: Vec<AtomicBool>,
    doubles: AtomicU64,
    /// The threads that freed objects.
    by: Mutex<Vec<thread::ThreadId>>,
}

impl Freed {
    fn new(n: usize) -> Arc<Freed> {
        Arc::new(Freed {
            flags: (0..n).map(|_| AtomicBool::new(false)).collect(),
            doubles: AtomicU64::new(0),
            by: Mutex::new(Vec::new()),
        })
    }
    fn count(&self, r: std::ops::Range<usize>) -> usize {
        r.filter(|&i| self.flags[i].load(Ordering::SeqCst)).count()
    }
}

struct Obj {
    idx: usize,
    freed: Arc<Freed>,
}

impl Drop for Obj {
    fn drop(&mut self) {
        if self.freed.flags[self.idx].swap(true, Ordering::SeqCst) {
            self.freed.doubles.fetch_add(1, Ordering::SeqCst);
        }
        self.freed.by.lock().unwrap().push(thread::current().id());
    }
}

#[repr(C)]
struct HeadedObj {
    head: KfreeHead,
    obj: Obj,
}

/// # Safety
/// `p` came from `Box::<Obj>::into_raw` and is not used again.
unsafe fn free_a(p: *mut u8) {
    // SAFETY: queued from Box::<Obj>::into_raw, freed once.
    drop(unsafe { Box::from_raw(p as *mut Obj) });
}

/// # Safety
/// As for `free_a`.
unsafe fn free_b(p: *mut u8) {
    // SAFETY: as free_a; a second function puts objects in a block of their own.
    drop(unsafe { Box::from_raw(p as *mut Obj) });
}

/// # Safety
/// `p` came from `Box::<HeadedObj>::into_raw` and is not used again.
unsafe fn free_headed(p: *mut u8) {
    // SAFETY: queued from Box::<HeadedObj>::into_raw, freed once.
    drop(unsafe { Box::from_raw(p as *mut HeadedObj) });
}

fn obj(i: usize, f: &Arc<Freed>) -> NonNull<u8> {
    NonNull::new(Box::into_raw(Box::new(Obj {
        idx: i,
        freed: f.clone(),
    })) as *mut u8)
    .unwrap()
}

fn cfg(mode: ReclaimMode, drain_ms: u64, cached: usize) -> KfreeConfig {
    KfreeConfig {
        mode,
        drain_period: Duration::from_millis(drain_ms),
        cached_blocks: cached,
        fail_alloc: None,
    }
}

#[test]
fn nothing_freed_under_a_predating_reader_then_all_after_drain() {
    for mode in [ReclaimMode::Batched, ReclaimMode::Polled] {
        let d = Domain::new(DomainConfig::default());
        let k = KfreeRcu::new(&d, cfg(mode, 1, 5));
        let n = 3 * BLOCK_SLOTS + 17;
        let f = Freed::new(n);
        let (release, reader) = hold_reader(&d);
        let h = k.register();
        for i in 0..n {
            // SAFETY: a fresh box, unreachable by anyone else.
            unsafe { h.kvfree_rcu_raw(obj(i, &f), free_a) };
        }
        // The monitor runs every 1 ms and on every full block; give it many chances.
        thread::sleep(Duration::from_millis(50));
        assert_eq!(f.count(0..n), 0, "{mode:?}: freed under a reader");
        assert_eq!(k.stats().pending, n as u64);
        release.send(()).unwrap();
        reader.join().unwrap();
        k.drain();
        assert_eq!(f.count(0..n), n, "{mode:?}");
        let s = k.stats();
        assert_eq!(s.pending, 0);
        assert_eq!(s.pointers_batched, n as u64);
        assert_eq!(s.objects_freed, n as u64);
        assert!(s.grace_periods >= 1);
        assert_eq!(f.doubles.load(Ordering::SeqCst), 0);
    }
}

#[test]
fn many_threads_everything_freed_once_and_blocks_returned() {
    for mode in [ReclaimMode::Batched, ReclaimMode::Polled] {
        let d = Domain::new(DomainConfig::default());
        let k = KfreeRcu::new(&d, cfg(mode, 2, 2));
        let per = 4 * BLOCK_SLOTS + 3;
        let f = Freed::new(3 * per);
        thread::scope(|s| {
            for t in 0..3 {
                let (k, f) = (k.clone(), f.clone());
                s.spawn(move || {
                    let h = k.register();
                    for i in t * per..(t + 1) * per {
                        h.kvfree_rcu(Box::new(Obj {
                            idx: i,
                            freed: f.clone(),
                        }));
                    }
                });
            }
        });
        k.drain();
        let s = k.stats();
        assert_eq!(f.count(0..3 * per), 3 * per, "{mode:?}");
        assert_eq!(f.doubles.load(Ordering::SeqCst), 0);
        assert_eq!(s.pointers_batched, 3 * per as u64);
        assert_eq!(s.objects_freed, s.pointers_batched + s.fallback_list);
        assert_eq!((s.pending, s.fallback_list, s.fallback_sync), (0, 0, 0));
        assert!(s.batches >= 1);
        // The threads are gone and drain retired their queues: no block is lost or cached.
        assert_eq!(s.blocks_cached, 0);
        assert_eq!(s.blocks_allocated, s.blocks_freed, "{mode:?}: {s:?}");
    }
}

#[test]
fn polled_frees_completed_blocks_and_keeps_the_rest() {
    let d = Domain::new(DomainConfig::default());
    // An hour: the monitor only runs when asked.
    let k = KfreeRcu::new(&d, cfg(ReclaimMode::Polled, 3_600_000, 5));
    let f = Freed::new(21);
    let h = k.register();
    for i in 0..10 {
        // SAFETY: fresh boxes.
        unsafe { h.kvfree_rcu_raw(obj(i, &f), free_a) };
    }
    d.synchronize(); // block A's cookie completes
    let (release, reader) = hold_reader(&d);
    for i in 10..20 {
        // SAFETY: fresh boxes; another free function starts block B.
        unsafe { h.kvfree_rcu_raw(obj(i, &f), free_b) };
    }
    k.run_monitor();
    assert_eq!(
        k.stats().blocks_reclaimed_early,
        1,
        "block A's grace period had passed"
    );
    assert_eq!(f.count(0..10), 0, "block A is left for its owner");
    // The owner's next kvfree_rcu frees it, on the owner's thread.
    // SAFETY: a fresh box.
    unsafe { h.kvfree_rcu_raw(obj(20, &f), free_b) };
    assert_eq!(f.count(0..10), 10);
    let me = thread::current().id();
    assert!(f.by.lock().unwrap().iter().all(|t| *t == me));
    thread::sleep(Duration::from_millis(20));
    assert_eq!(f.count(10..21), 0, "block B waits for the reader");
    assert_eq!(k.stats().pending, 11);
    release.send(()).unwrap();
    reader.join().unwrap();
    k.drain();
    assert_eq!(f.count(0..21), 21);
}

/// Blocks left for an owner that stops calling kvfree_rcu are freed by the monitor's next
/// pass after one in which the owner did nothing.
#[test]
fn idle_owner_blocks_are_freed_by_the_monitor() {
    let d = Domain::new(DomainConfig::default());
    let k = KfreeRcu::new(&d, cfg(ReclaimMode::Polled, 3_600_000, 5));
    let f = Freed::new(10);
    let h = k.register();
    for i in 0..10 {
        // SAFETY: fresh boxes.
        unsafe { h.kvfree_rcu_raw(obj(i, &f), free_a) };
    }
    d.synchronize();
    k.run_monitor(); // the owner was active since the last pass: left for it
    assert_eq!(f.count(0..10), 0);
    k.run_monitor(); // idle for a whole pass: the monitor frees them
    assert_eq!(f.count(0..10), 10);
    assert_eq!(k.stats().pending, 0);
    drop(h);
}

#[test]
fn batched_waits_a_full_grace_period_from_detach_for_everything() {
    let d = Domain::new(DomainConfig::default());
    let k = KfreeRcu::new(&d, cfg(ReclaimMode::Batched, 3_600_000, 5));
    let f = Freed::new(20);
    let h = k.register();
    for i in 0..10 {
        // SAFETY: fresh boxes.
        unsafe { h.kvfree_rcu_raw(obj(i, &f), free_a) };
    }
    d.synchronize();
    let (release, reader) = hold_reader(&d);
    for i in 10..20 {
        // SAFETY: fresh boxes.
        unsafe { h.kvfree_rcu_raw(obj(i, &f), free_b) };
    }
    k.run_monitor();
    thread::sleep(Duration::from_millis(20));
    // The difference seed 002 makes: block A was ready, but the batch waits as a whole.
    assert_eq!(f.count(0..20), 0);
    assert_eq!(k.stats().blocks_reclaimed_early, 0);
    release.send(()).unwrap();
    reader.join().unwrap();
    k.drain();
    assert_eq!(f.count(0..20), 20);
}

#[test]
fn headed_fallback_list_when_no_block_can_be_had() {
    for mode in [ReclaimMode::Batched, ReclaimMode::Polled] {
        let d = Domain::new(DomainConfig::default());
        // Two cached blocks, then allocation refused.
        let k = KfreeRcu::new(&d, cfg(mode, 1, 2));
        k.set_block_alloc_fail(true);
        let n = 2 * BLOCK_SLOTS + 40;
        let f = Freed::new(n);
        let (release, reader) = hold_reader(&d);
        let h = k.register();
        for i in 0..n {
            let p = Box::into_raw(Box::new(HeadedObj {
                head: KfreeHead::new(),
                obj: Obj {
                    idx: i,
                    freed: f.clone(),
                },
            }));
            // SAFETY: a fresh box; its head lives inside it until it is freed.
            unsafe {
                let head = NonNull::new(std::ptr::addr_of_mut!((*p).head)).unwrap();
                h.kvfree_rcu_headed(NonNull::new(p as *mut u8).unwrap(), head, free_headed);
            }
        }
        let s = k.stats();
        // How full each cached block got depends on when the monitor detached it; what
        // did not fit went to the list threaded through the objects.
        assert_eq!(s.pointers_batched + s.fallback_list, n as u64, "{mode:?}");
        assert!(s.pointers_batched <= 2 * BLOCK_SLOTS as u64, "{mode:?}");
        assert!(s.fallback_list >= 40, "{mode:?}");
        assert_eq!(s.blocks_allocated, 2, "only the pre-allocated ones");
        thread::sleep(Duration::from_millis(30));
        assert_eq!(f.count(0..n), 0, "{mode:?}: freed under a reader");
        release.send(()).unwrap();
        reader.join().unwrap();
        k.drain();
        assert_eq!(f.count(0..n), n);
        assert_eq!(k.stats().objects_freed, n as u64);
    }
}

#[test]
fn headless_fallback_synchronizes_inline() {
    let d = Domain::new(DomainConfig::default());
    let k = KfreeRcu::new(&d, cfg(ReclaimMode::Polled, 1, 0));
    k.set_block_alloc_fail(true);
    let f = Freed::new(2);
    let (release, reader) = hold_reader(&d);
    let (k2, f2) = (k.clone(), f.clone());
    let (done_tx, done_rx) = mpsc::channel();
    let freer = thread::spawn(move || {
        let h = k2.register();
        h.kvfree_rcu(Box::new(Obj {
            idx: 0,
            freed: f2.clone(),
        }));
        // Freed by the time the call returns.
        done_tx.send(f2.count(0..1)).unwrap();
    });
    // The inline synchronize waits for the reader.
    assert!(done_rx.recv_timeout(Duration::from_millis(50)).is_err());
    assert_eq!(f.count(0..1), 0);
    release.send(()).unwrap();
    reader.join().unwrap();
    assert_eq!(done_rx.recv().unwrap(), 1);
    freer.join().unwrap();
    let s = k.stats();
    assert_eq!((s.fallback_sync, s.pointers_batched, s.pending), (1, 0, 0));
    // Allocation allowed again: back to blocks.
    k.set_block_alloc_fail(false);
    let h = k.register();
    h.kvfree_rcu(Box::new(Obj {
        idx: 1,
        freed: f.clone(),
    }));
    assert_eq!(k.stats().pointers_batched, 1);
    k.drain();
    assert_eq!(f.count(0..2), 2);
}
