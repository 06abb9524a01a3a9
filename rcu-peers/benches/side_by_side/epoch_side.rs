//! crossbeam-epoch's numbers: pin instead of read_lock, `defer_destroy` instead of `call`.
//! Nothing reclaims in the background: deferred destructors run only when some thread pins
//! (or flushes), so completion is driven by a pin+flush loop on the queuing thread.

use std::hint::black_box;
use std::time::{Duration, Instant};

use rcu_peers::epoch::{self, Owned};

use crate::probe::{self, best_ns_per_iter, Batch, Latencies, Probe};
use crate::rows::{self, *};
use crate::table::{Col, Table};

struct Obj {
    probe: Probe,
    _payload: [u64; 3],
}

impl Drop for Obj {
    fn drop(&mut self) {
        self.probe.fire();
    }
}

fn objects(n: usize) -> Batch<Obj> {
    Batch::new(n, || Obj {
        probe: Probe::untimed(),
        _payload: [0; 3],
    })
}

/// One pin per object, as a writer outside any read-side section would do it.
fn burst(objs: &Batch<Obj>, flush: bool, lat: Option<&Latencies>) -> Duration {
    probe::reset_done();
    let t = Instant::now();
    for (i, &p) in objs.ptrs().iter().enumerate() {
        // SAFETY: each pointer of the batch is a live box handed over exactly once.
        let mut o = unsafe { Box::from_raw(p) };
        if let Some(l) = lat {
            o.probe.stamp(l, i);
        }
        let g = epoch::pin();
        let s = Owned::<Obj>::from(o).into_shared(&g);
        // SAFETY: `s` was never published, so no other thread can reach it.
        unsafe { g.defer_destroy(s) };
        if flush {
            g.flush();
        }
    }
    t.elapsed()
}

fn drive(n: u64) -> Duration {
    probe::wait_done(n, || epoch::pin().flush())
}

pub fn run(t: &mut Table, n: usize) {
    let pin = best_ns_per_iter(5, 20_000_000, |iters| {
        for _ in 0..iters {
            let g = epoch::pin();
            black_box(&g);
        }
    });
    t.set(
        READ,
        Col::Epoch,
        format!("{} (pin+unpin)", rows::ns(pin)),
        Some(pin),
    );
    let handle = epoch::default_collector().register();
    let local = best_ns_per_iter(5, 20_000_000, |iters| {
        for _ in 0..iters {
            let g = handle.pin();
            black_box(&g);
        }
    });
    drop(handle);
    t.note(format!(
        "crossbeam-epoch pin+unpin through an explicit LocalHandle (no thread-local lookup): \
         {local:.2} ns; `epoch::pin()` is the column's figure."
    ));

    for (col, flush) in [(Col::Epoch, false), (Col::EpochFlush, true)] {
        burst(&objects(1000), flush, None);
        drive(1000);

        let objs = objects(n);
        let took = burst(&objs, flush, None);
        let until = drive(n as u64);
        drop(objs);
        let enq = took.as_nanos() as f64 / n as f64;
        t.set(
            ENQ,
            col,
            format!("{} (pin+defer_destroy)", rows::ns(enq)),
            Some(enq),
        );
        t.set(
            BARRIER,
            col,
            format!("{} (pin+flush loop)", rows::ms(ms(until))),
            Some(ms(until)),
        );

        let lat = Latencies::new(n);
        let objs = objects(n);
        burst(&objs, flush, Some(&lat));
        let until = drive(n as u64);
        drop(objs);
        let p = lat.percentiles();
        t.set(
            LAT_RUN_READY,
            col,
            format!("{} (pin+flush loop)", rows::pcts(p)),
            Some(p.p50_ms),
        );
        t.set(
            DRAIN_IDLE,
            col,
            "never (no background reclaim)".into(),
            None,
        );
        t.set(DRAIN_DRIVEN, col, rows::ms(ms(until)), Some(ms(until)));
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}
