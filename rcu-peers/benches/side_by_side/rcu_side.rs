//! The `rcu` crate's numbers.

use std::hint::black_box;
use std::ptr::NonNull;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use rcu::{Domain, DomainConfig, RcuHead, ThreadHandle};

use crate::probe::{
    self, best_ns_per_iter, time_ops, Batch, IdleThreads, Latencies, Probe, Spinner,
};
use crate::rows::{self, *};
use crate::table::{Col, Table};

#[repr(C)]
struct Obj {
    head: RcuHead,
    probe: Probe,
}

/// # Safety
/// `head` is the head of a leaked `Box<Obj>`, and this is the one call with it.
unsafe fn free_obj(head: NonNull<RcuHead>) {
    // SAFETY: `head` is the first field of the repr(C) `Obj`, so it is the leaked box's
    // pointer (our contract); this is the one call with it, so the box is dropped once.
    let b = unsafe { Box::from_raw(head.as_ptr() as *mut Obj) };
    b.probe.fire();
}

fn objects(n: usize) -> Batch<Obj> {
    Batch::new(n, || Obj {
        head: RcuHead::new(),
        probe: Probe::untimed(),
    })
}

/// Queues every object; with `lat`, each is stamped just before its `call`. Returns the
/// burst's duration.
fn burst(h: &ThreadHandle, objs: &Batch<Obj>, lat: Option<&Latencies>) -> Duration {
    probe::reset_done();
    let t = Instant::now();
    for (i, &p) in objs.ptrs().iter().enumerate() {
        if let Some(l) = lat {
            // SAFETY: `p` is a live object of the batch, ours until `call` hands it over.
            unsafe { (*p).probe.stamp(l, i) };
        }
        // SAFETY: the head is valid until `free_obj` frees it, and `free_obj` is sound on any
        // thread.
        unsafe { h.call(NonNull::new_unchecked(p).cast(), free_obj) };
    }
    t.elapsed()
}

enum After {
    Idle,
    RunReady,
    Barrier,
}

pub fn run(t: &mut Table, col: Col, cfg: DomainConfig, n: usize) {
    let paced = !cfg.gp_delay.is_zero();
    let d = Domain::new(cfg);
    let h = d.register();

    if !paced {
        let read = best_ns_per_iter(5, 20_000_000, |iters| {
            for _ in 0..iters {
                let g = h.read_lock();
                black_box(&g);
            }
        });
        t.set(READ, col, rows::ns(read), Some(read));
    }

    // Grace periods: the paced domain's are ~1 ms each, so fewer of them.
    let reps = if paced { 200 } else { 3000 };
    {
        let dd = d.clone();
        let _idle = IdleThreads::spawn(2, move || dd.register());
        let s = time_ops(reps, || d.synchronize());
        t.set(SYNC_IDLE, col, rows::op(s), Some(s.mean_us));
        if !paced {
            let e = time_ops(reps, || d.synchronize_expedited());
            t.set(EXP_IDLE, col, rows::op(e), Some(e.mean_us));
        }
    }
    {
        let dd = d.clone();
        let _spin = Spinner::spawn(move |stop, started| {
            let h = dd.register();
            started();
            while stop.load(Ordering::Relaxed) == 0 {
                let g = h.read_lock();
                black_box(&g);
            }
        });
        let s = time_ops(reps, || d.synchronize());
        t.set(SYNC_SPIN, col, rows::op(s), Some(s.mean_us));
        if !paced {
            let e = time_ops(reps, || d.synchronize_expedited());
            t.set(EXP_SPIN, col, rows::op(e), Some(e.mean_us));
        }
    }

    // Warm the GP thread and the queue.
    burst(&h, &objects(1000), None);
    d.barrier();

    let objs = objects(n);
    let took = burst(&h, &objs, None);
    let b = Instant::now();
    d.barrier();
    let barrier = b.elapsed();
    drop(objs);
    assert_eq!(probe::done(), n as u64, "barrier returned early");
    let enq = took.as_nanos() as f64 / n as f64;
    t.set(ENQ, col, rows::ns(enq), Some(enq));
    t.set(BARRIER, col, rows::ms(ms(barrier)), Some(ms(barrier)));

    if !paced {
        let dd = d.clone();
        let blocker = Spinner::spawn(move |stop, started| {
            let h = dd.register();
            let g = h.read_lock();
            started();
            while stop.load(Ordering::Relaxed) == 0 {
                std::thread::sleep(Duration::from_millis(1));
            }
            drop(g);
        });
        let took = burst(&h, &objects(n), None);
        drop(blocker);
        d.barrier();
        let enq = took.as_nanos() as f64 / n as f64;
        t.set(ENQ_BLOCKED, col, rows::ns(enq), Some(enq));
    }

    for (after, row, drain_row) in [
        (After::Idle, LAT_IDLE, Some(DRAIN_IDLE)),
        (After::RunReady, LAT_RUN_READY, Some(DRAIN_DRIVEN)),
        (After::Barrier, LAT_BARRIER, None),
    ] {
        let lat = Latencies::new(n);
        let objs = objects(n);
        burst(&h, &objs, Some(&lat));
        let drain = match after {
            After::Idle => {
                probe::wait_done(n as u64, || std::thread::sleep(Duration::from_micros(100)))
            }
            After::RunReady => probe::wait_done(n as u64, || h.run_ready()),
            After::Barrier => {
                let b = Instant::now();
                d.barrier();
                b.elapsed()
            }
        };
        d.barrier();
        let p = lat.percentiles();
        t.set(row, col, rows::pcts(p), Some(p.p50_ms));
        if let Some(r) = drain_row {
            t.set(r, col, rows::ms(ms(drain)), Some(ms(drain)));
        }
    }
    if let Some(f) = d.failure() {
        panic!("{f}");
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}
