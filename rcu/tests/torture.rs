//! rcutorture in miniature: readers walk a table of published objects and check that none
//! is ever poisoned, while writers replace objects and retire the old ones through every
//! reclamation path the crate has — synchronize, synchronize_expedited, call, call_lazy
//! (flushed both by its timer and by its length threshold), the polled API
//! (start_poll/poll_state and cond_synchronize), and kvfree_rcu in both reclaim modes.
//! "Retiring" poisons the object instead of freeing it, so a violation is read as poison
//! rather than as undefined behaviour; the objects are freed when every thread is done.
//!
//! `cargo test -p rcu --test torture` runs about a second; the `--ignored` variant a minute.

use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use rcu::{Domain, DomainConfig, KfreeConfig, KfreeRcu, ReclaimMode};

const LIVE: u64 = 0x600D_600D_600D_600D;
const POISON: u64 = 0xDEAD_DEAD_DEAD_DEAD;
const SLOTS: usize = 64;

struct Node {
    magic: AtomicU64,
}

/// Retired nodes, freed at the end (retiring only poisons).
static GRAVEYARD: Mutex<Vec<usize>> = Mutex::new(Vec::new());

/// Retires a node: poisons it and leaves it in the graveyard.
///
/// # Safety
/// `p` points to a live `Node` from `Box::into_raw`, retired once.
unsafe fn poison(p: *mut u8) {
    // SAFETY: `p` is a live `Node` (our contract), and nodes are only freed at the end of
    // the test, after every thread is done, so the store cannot hit freed memory.
    unsafe { (*(p as *const Node)).magic.store(POISON, Ordering::Relaxed) };
    GRAVEYARD.lock().unwrap().push(p as usize);
}

fn torture(run_for: Duration, gp_delay: Duration) {
    let d = Domain::new(DomainConfig {
        gp_delay,
        // Short enough that both lazy flush causes fire within a run.
        lazy_flush: Duration::from_millis(3),
        lazy_qhimark: 16,
        ..Default::default()
    });
    let polled = KfreeRcu::new(
        &d,
        KfreeConfig {
            mode: ReclaimMode::Polled,
            drain_period: Duration::from_millis(2),
            cached_blocks: 2,
            fail_alloc: None,
        },
    );
    let batched = KfreeRcu::new(
        &d,
        KfreeConfig {
            mode: ReclaimMode::Batched,
            drain_period: Duration::from_millis(2),
            cached_blocks: 2,
            fail_alloc: None,
        },
    );
    let table: Arc<Vec<AtomicPtr<Node>>> = Arc::new(
        (0..SLOTS)
            .map(|_| {
                AtomicPtr::new(Box::into_raw(Box::new(Node {
                    magic: AtomicU64::new(LIVE),
                })))
            })
            .collect(),
    );
    let stop = Arc::new(AtomicBool::new(false));
    let violations = Arc::new(AtomicU64::new(0));
    let reads = Arc::new(AtomicU64::new(0));
    let retired = Arc::new(AtomicU64::new(0));

    let readers: Vec<_> = (0..2)
        .map(|r| {
            let (d, table, stop, violations, reads) = (
                d.clone(),
                table.clone(),
                stop.clone(),
                violations.clone(),
                reads.clone(),
            );
            thread::spawn(move || {
                let h = d.register();
                let mut i = r;
                while !stop.load(Ordering::Relaxed) {
                    let _g = h.read_lock();
                    // Nest now and then: the inner section must not end the outer one.
                    let nested = (i % 3 == 0).then(|| h.read_lock());
                    for k in 0..SLOTS {
                        let p = table[(i + k) % SLOTS].load(Ordering::Acquire);
                        // SAFETY: published nodes are poisoned only after a grace period
                        // and never freed while readers run.
                        if unsafe { (*p).magic.load(Ordering::Relaxed) } != LIVE {
                            violations.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    drop(nested);
                    i = i.wrapping_add(7);
                    reads.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();

    let writers: Vec<_> = (0..2)
        .map(|w| {
            let (d, table, stop, retired) =
                (d.clone(), table.clone(), stop.clone(), retired.clone());
            let (polled, batched) = (polled.clone(), batched.clone());
            thread::spawn(move || {
                let h = d.register();
                let kp = polled.register();
                let kb = batched.register();
                let mut pending: Vec<(u64, usize)> = Vec::new();
                let mut n: usize = w;
                while !stop.load(Ordering::Relaxed) {
                    let new = Box::into_raw(Box::new(Node {
                        magic: AtomicU64::new(LIVE),
                    }));
                    let old = table[n.wrapping_mul(31) % SLOTS].swap(new, Ordering::AcqRel);
                    let old8 = old as *mut u8;
                    match n % 8 {
                        0 => {
                            d.synchronize();
                            // SAFETY: unpublished, retired once, after its grace period.
                            unsafe { poison(old8) };
                        }
                        1 => {
                            d.synchronize_expedited();
                            // SAFETY: unpublished, retired once, after its grace period.
                            unsafe { poison(old8) };
                        }
                        2 => {
                            let p = old as usize;
                            // SAFETY: unpublished, retired once, after its grace period.
                            h.call_boxed(move || unsafe { poison(p as *mut u8) });
                        }
                        3 => pending.push((d.start_poll(), old as usize)),
                        6 => {
                            let p = old as usize;
                            // SAFETY: unpublished, retired once, after its grace period.
                            h.call_lazy_boxed(move || unsafe { poison(p as *mut u8) });
                        }
                        4 => {
                            let c = d.get_state();
                            d.cond_synchronize(c);
                            // SAFETY: unpublished, retired once, after its grace period.
                            unsafe { poison(old8) };
                        }
                        // SAFETY: unpublished, retired once, after its grace period.
                        5 => unsafe { kp.kvfree_rcu_raw(NonNull::new(old8).unwrap(), poison) },
                        // SAFETY: unpublished, retired once, after its grace period.
                        _ => unsafe { kb.kvfree_rcu_raw(NonNull::new(old8).unwrap(), poison) },
                    }
                    pending.retain(|&(c, p)| {
                        if d.poll_state(c) {
                            // SAFETY: unpublished, retired once, after its grace period.
                            unsafe { poison(p as *mut u8) };
                            false
                        } else {
                            true
                        }
                    });
                    retired.fetch_add(1, Ordering::Relaxed);
                    n += 2;
                }
                for (c, p) in pending {
                    d.cond_synchronize(c);
                    // SAFETY: unpublished, retired once, after its grace period.
                    unsafe { poison(p as *mut u8) };
                }
            })
        })
        .collect();

    let end = Instant::now() + run_for;
    while Instant::now() < end || reads.load(Ordering::Relaxed) < 1000 {
        thread::sleep(Duration::from_millis(10));
    }
    stop.store(true, Ordering::Relaxed);
    for t in writers.into_iter().chain(readers) {
        t.join().unwrap();
    }
    polled.drain();
    batched.drain();
    d.barrier();
    assert_eq!(
        violations.load(Ordering::Relaxed),
        0,
        "readers saw poisoned objects ({} retired)",
        retired.load(Ordering::Relaxed)
    );
    assert!(retired.load(Ordering::Relaxed) > 8, "writers barely ran");
    for p in table.iter() {
        // SAFETY: every thread is done.
        drop(unsafe { Box::from_raw(p.load(Ordering::Relaxed)) });
    }
    for p in GRAVEYARD.lock().unwrap().drain(..) {
        // SAFETY: as above; each retired node is in the graveyard once.
        drop(unsafe { Box::from_raw(p as *mut Node) });
    }
}

#[test]
fn torture_briefly() {
    torture(Duration::from_millis(800), Duration::ZERO);
}

#[test]
#[ignore = "a minute of torture: cargo test -p rcu --test torture -- --ignored"]
fn torture_for_a_minute() {
    torture(Duration::from_secs(30), Duration::ZERO);
    torture(Duration::from_secs(30), Duration::from_millis(1));
}
