//! liburcu memb's numbers (feature `liburcu`).

use std::hint::black_box;
use std::time::{Duration, Instant};

use rcu_peers::urcu::{self, UrcuHead, UrcuThread};

use crate::probe::{
    self, best_ns_per_iter, time_ops, Batch, IdleThreads, Latencies, Probe, Spinner,
};
use crate::rows::{self, *};
use crate::table::{Col, Table};

#[repr(C)]
struct Obj {
    head: UrcuHead,
    probe: Probe,
}

/// # Safety
/// `head` is the head of a leaked `Box<Obj>`, and this is the one call with it.
unsafe extern "C" fn free_obj(head: *mut UrcuHead) {
    // SAFETY: `head` is the first field of the repr(C) `Obj`, so it is the leaked box's
    // pointer (our contract); this is the one call with it, so the box is dropped once.
    let b = unsafe { Box::from_raw(head as *mut Obj) };
    b.probe.fire();
}

fn objects(n: usize) -> Batch<Obj> {
    Batch::new(n, || Obj {
        head: UrcuHead::new(),
        probe: Probe::untimed(),
    })
}

fn burst(th: &UrcuThread, objs: &Batch<Obj>, lat: Option<&Latencies>) -> Duration {
    probe::reset_done();
    let t = Instant::now();
    for (i, &p) in objs.ptrs().iter().enumerate() {
        if let Some(l) = lat {
            // SAFETY: `p` is a live object of the batch, ours until `call` hands it over.
            unsafe { (*p).probe.stamp(l, i) };
        }
        // SAFETY: the head lives until `free_obj` frees it; `free_obj` is sound on any thread.
        unsafe { th.call(p.cast(), free_obj) };
    }
    t.elapsed()
}

pub fn run(t: &mut Table, n: usize) {
    let th = urcu::register();
    let col = Col::Urcu;

    let read = best_ns_per_iter(5, 20_000_000, |iters| th.read_loop(iters));
    t.set(READ, col, rows::ns(read), Some(read));
    let ffi = best_ns_per_iter(5, 20_000_000, |iters| {
        for _ in 0..iters {
            let g = th.read_lock();
            black_box(&g);
        }
    });
    t.note(format!(
        "liburcu read_lock+unlock is the header's inline fast path looped in C; through one FFI \
         call per lock and per unlock it costs {ffi:.2} ns. liburcu sys_membarrier in use: {}.",
        urcu::has_sys_membarrier()
    ));

    let reps = 3000;
    {
        let _idle = IdleThreads::spawn(2, urcu::register);
        let s = time_ops(reps, urcu::synchronize);
        t.set(SYNC_IDLE, col, rows::op(s), Some(s.mean_us));
    }
    {
        let _spin = Spinner::spawn(|stop, started| {
            let th = urcu::register();
            started();
            black_box(th.spin_reader(stop));
        });
        let s = time_ops(reps, urcu::synchronize);
        t.set(SYNC_SPIN, col, rows::op(s), Some(s.mean_us));
    }

    // The first call_rcu creates the worker thread.
    burst(&th, &objects(1000), None);
    urcu::barrier();

    let objs = objects(n);
    let took = burst(&th, &objs, None);
    let b = Instant::now();
    urcu::barrier();
    let barrier = b.elapsed();
    drop(objs);
    assert_eq!(probe::done(), n as u64, "rcu_barrier returned early");
    let enq = took.as_nanos() as f64 / n as f64;
    t.set(ENQ, col, rows::ns(enq), Some(enq));
    t.set(BARRIER, col, rows::ms(ms(barrier)), Some(ms(barrier)));

    let blocker = Spinner::spawn(|stop, started| {
        let th = urcu::register();
        let g = th.read_lock();
        started();
        while stop.load(std::sync::atomic::Ordering::Relaxed) == 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
        drop(g);
    });
    let took = burst(&th, &objects(n), None);
    drop(blocker);
    urcu::barrier();
    let enq = took.as_nanos() as f64 / n as f64;
    t.set(ENQ_BLOCKED, col, rows::ns(enq), Some(enq));

    // The queuing thread has nothing to do with invocation here: idle and barrier only.
    for (barrier_after, row) in [(false, LAT_IDLE), (true, LAT_BARRIER)] {
        let lat = Latencies::new(n);
        let objs = objects(n);
        burst(&th, &objs, Some(&lat));
        let drain = if barrier_after {
            let b = Instant::now();
            urcu::barrier();
            b.elapsed()
        } else {
            probe::wait_done(n as u64, || std::thread::sleep(Duration::from_micros(100)))
        };
        urcu::barrier();
        let p = lat.percentiles();
        t.set(row, col, rows::pcts(p), Some(p.p50_ms));
        if !barrier_after {
            t.set(DRAIN_IDLE, col, rows::ms(ms(drain)), Some(ms(drain)));
        }
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}
