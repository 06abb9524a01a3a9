//! Every flavor records the hold time of its sampled deferred objects, and accounts for each
//! sampled object exactly once (reusable again, or back to the slab). No timing thresholds.

use std::sync::Arc;

use allocators::{
    AllocConfig, Allocator, Cache, CallRcuFree, Env, FreeAfterGp, FreeRcu, HoldStats,
    ImmediateReuse, MallocCallRcu, Prealloc, ReuseAfterGp, HEADER_SIZE, LLIST_NODE_SZ,
    SAMPLE_PERIOD,
};

const BURST: usize = 4000;
const CHURN: usize = 40_000;

/// A burst of frees (spills past the high watermark), then alloc/free churn with a window of
/// live objects so that deferred objects come back for reuse; then teardown.
fn exercise<A: Allocator>() -> (HoldStats, HoldStats, u64) {
    let env = Env::default();
    let a = Arc::new(A::new(
        &AllocConfig::new(24, 1, env.clone()).with_capacity(1 << 14),
    ));
    let mut frees = 0u64;
    {
        let mut c = a.cache(0);
        let burst: Vec<_> = (0..BURST).map(|_| c.alloc().unwrap()).collect();
        for o in burst {
            // SAFETY: allocated from this allocator above and freed exactly once.
            unsafe { c.free(o) };
            frees += 1;
        }
        let mut live = std::collections::VecDeque::new();
        for i in 0..CHURN {
            live.push_back(c.alloc().unwrap());
            if live.len() > 200 {
                let o = live.pop_front().unwrap();
                // SAFETY: allocated from this allocator above and freed exactly once.
                unsafe { c.free(o) };
                frees += 1;
            }
            if i % 1000 == 0 {
                // Let callbacks run so that reuse lists fill.
                env.rcu.synchronize_expedited();
            }
        }
        for o in live {
            // SAFETY: allocated from this allocator above and freed exactly once.
            unsafe { c.free(o) };
            frees += 1;
        }
    }
    let during = a.hold_stats();
    let s = a.drain();
    assert_eq!(s.leaked, 0, "{}: {s:?}", A::NAME);
    assert_eq!(
        s.waiting_gp,
        0,
        "{}: nothing is deferred after drain",
        A::NAME
    );
    (during, a.hold_stats(), frees)
}

/// What every flavor must show; returns the final stats for flavor-specific checks.
fn common<A: Allocator>() -> HoldStats {
    let (during, h, frees) = exercise::<A>();
    assert_eq!(h.frees, frees, "{}", A::NAME);
    assert!(h.stamped > 0, "{}: no free was sampled: {h:?}", A::NAME);
    // Sampling is about one in SAMPLE_PERIOD; the bounds are loose, not statistical.
    let period = SAMPLE_PERIOD as u64;
    assert!(
        h.stamped <= h.entries && h.entries < 4 * period * h.stamped,
        "{}: {} stamped of {} entries",
        A::NAME,
        h.stamped,
        h.entries
    );
    let (exits, _) = h.exits();
    assert_eq!(
        exits,
        h.stamped,
        "{}: every sampled object ends reusable or in the slab exactly once: {h:?}",
        A::NAME
    );
    assert_eq!(
        h.stamp_sum_in,
        h.stamp_sum_out,
        "{}: every exit is recorded with its own stamp",
        A::NAME
    );
    assert_eq!(h.in_flight(), 0);
    assert!(during.exits().0 <= h.exits().0);
    // The kernel's sizes for the default map (24 bytes of payload here): the bare 64-byte
    // htab element for kmalloc'd and preallocated elements, 72 for a bpf_ma unit.
    let (unit, kernel) = match A::NAME {
        "malloc-call-rcu" | "prealloc" => (HEADER_SIZE + 24, 64),
        _ => (LLIST_NODE_SZ + HEADER_SIZE + 24, 72),
    };
    assert_eq!(
        A::new(&AllocConfig::new(24, 1, Env::default())).unit_size(),
        unit
    );
    assert_eq!(unit, kernel, "{}", A::NAME);
    h
}

/// Grace-period flavors hold every sampled object for a while, and the summary says so.
fn holds_for_a_grace_period<A: Allocator>() -> HoldStats {
    let h = common::<A>();
    let (n, sum) = h.exits();
    assert!(
        n > 0 && sum > 0,
        "{}: no positive hold recorded: {h:?}",
        A::NAME
    );
    h
}

#[test]
fn immediate_reuse_reuses_at_once_and_holds_only_its_spills() {
    let h = common::<ImmediateReuse>();
    // A free is reusable at once and not an entry; the burst spilled past the high
    // watermark towards tasks-trace: those are the entries, and they are held.
    assert!(h.entries > 0, "{h:?}");
    assert_eq!(h.batch_fill_n, 0);
    assert!(h.after_gp_obj_ns > 0.0, "{h:?}");
}

#[test]
fn prealloc_holds_nothing() {
    let (_, h, frees) = exercise::<Prealloc>();
    assert_eq!(h.frees, frees);
    assert_eq!(h.entries, 0, "{h:?}");
    assert_eq!(h.stamped, 0);
    assert_eq!(h.to_slab.count, 0);
    assert_eq!(h.to_reuse.count, 0);
    assert_eq!(h.after_gp_obj_ns, 0.0);
}

#[test]
fn reuse_after_gp_records_batch_fill_and_after_gp_stage() {
    let h = holds_for_a_grace_period::<ReuseAfterGp>();
    assert!(h.batch_fill_n > 0, "{h:?}");
    assert!(
        h.to_reuse.count > 0,
        "churn reuses objects past their GP: {h:?}"
    );
    assert!(h.after_gp_obj_ns > 0.0, "{h:?}");
}

#[test]
fn free_after_gp_returns_every_sample_to_the_slab() {
    let h = holds_for_a_grace_period::<FreeAfterGp>();
    assert_eq!(h.to_reuse.count, 0, "{h:?}");
    assert!(h.batch_fill_n > 0);
}

#[test]
fn free_rcu_records_batch_fill_and_after_gp_stage() {
    let h = holds_for_a_grace_period::<FreeRcu>();
    assert!(h.batch_fill_n > 0, "{h:?}");
    assert!(h.after_gp_obj_ns > 0.0, "{h:?}");
}

#[test]
fn call_rcu_free_records_its_per_object_callbacks() {
    let h = holds_for_a_grace_period::<CallRcuFree>();
    assert!(h.to_reuse.count > 0, "{h:?}");
    assert_eq!(h.batch_fill_n, 0, "one call_rcu per free: no batch");
}

#[test]
fn malloc_call_rcu_records_free_to_slab() {
    let h = holds_for_a_grace_period::<MallocCallRcu>();
    assert_eq!(h.to_reuse.count, 0, "{h:?}");
    assert_eq!(h.to_slab.count, h.stamped);
}

/// The object-time of a snapshot: completed holds plus the ages of the sampled objects still
/// held, from the stamp sums alone.
#[test]
fn object_time_adds_the_age_of_objects_still_held() {
    let h = HoldStats {
        stamped: 3,
        to_reuse: allocators::HoldSummary {
            count: 1,
            sum_ns: 5,
            ..Default::default()
        },
        // Entered at 10, 20 and 30; the one at 10 left.
        stamp_sum_in: 60,
        stamp_sum_out: 10,
        at_ns: 100,
        ..Default::default()
    };
    assert_eq!(h.in_flight(), 2);
    assert_eq!(h.object_time_ns(), 5.0 + 80.0 + 70.0);
}
