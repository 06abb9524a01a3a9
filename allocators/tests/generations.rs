//! The memalloc.c generations (`MemallocGen`): where a cross-CPU free's surplus goes, and what
//! the refill reuses. A reader holds the tasks-trace grace period open, so nothing handed to
//! tasks-trace goes back to the slab during a check and the counts below are exact.

use std::ptr::NonNull;
use std::sync::Arc;

use allocators::{
    AllocConfig, Allocator, Cache, CallRcuFree, Env, FreeRcu, ImmediateReuse, MemallocGen,
};

mod common;
use common::HeldReader;

fn make<A: Allocator>(nr_caches: usize, gen: MemallocGen) -> (Arc<A>, Env) {
    let env = Env::default();
    let mut cfg = AllocConfig::new(24, nr_caches, env.clone());
    cfg.memalloc = gen;
    (Arc::new(A::new(&cfg)), env)
}

fn alloc_n<C: Cache>(c: &mut C, n: usize) -> Vec<NonNull<u8>> {
    (0..n).map(|_| c.alloc().unwrap()).collect()
}

fn free_all<C: Cache>(c: &mut C, objs: Vec<NonNull<u8>>) {
    for o in objs {
        // SAFETY: every object was allocated from this allocator and is freed exactly once.
        unsafe { c.free(o) };
    }
}

/// Cache 0 allocates, cache 1 frees (add_del_on_diff_cpu); then cache 0 allocates as many
/// again. Returns how many of those came from the slab. Nothing leaks.
fn cross_cpu_refill<A: Allocator>(gen: MemallocGen) -> u64 {
    const N: usize = 300;
    let (a, env) = make::<A>(2, gen);
    let reader = HeldReader::new(&env.tasks_trace);
    let mut alloc_side = a.cache(0);
    let mut free_side = a.cache(1);
    let objs = alloc_n(&mut alloc_side, N);
    free_all(&mut free_side, objs);
    // Let the RCU callbacks of call-rcu-free and free-rcu run, and the freeing cache's
    // refill work hand their objects on (its next allocation runs it).
    for _ in 0..3 {
        env.rcu.barrier();
        let o = alloc_n(&mut free_side, 1);
        free_all(&mut free_side, o);
    }
    env.rcu.barrier();
    let before = a.stats().from_slab;
    let again = alloc_n(&mut alloc_side, N);
    let from_slab = a.stats().from_slab - before;
    free_all(&mut alloc_side, again);
    drop((alloc_side, free_side));
    reader.release();
    let s = a.drain();
    assert_eq!(s.leaked, 0, "{} {gen:?}: {s:?}", A::NAME);
    from_slab
}

/// v6.6 on, the freeing cache spills towards the cache that allocated (`c->tgt`), which takes
/// those objects back; before, the surplus stayed with the freeing cache, so the allocating
/// one went to the slab for every refill.
#[test]
fn cross_cpu_frees_go_back_to_the_allocating_cache_only_with_the_hint() {
    fn check<A: Allocator>() {
        let current = cross_cpu_refill::<A>(MemallocGen::Current);
        let old = cross_cpu_refill::<A>(MemallocGen::V6_3);
        // Its own free list holds at most low + batch = 80 objects before a refill, so at
        // least 300 - 80 come from refills: all from the slab without the hint.
        assert!(
            old >= 220,
            "{}: v6.3 took only {old} of 300 from the slab",
            A::NAME
        );
        // With it, every object the freeing cache spilled (all but its standing ~64-96) is
        // reusable here.
        assert!(
            current <= 150,
            "{}: current took {current} of 300 from the slab",
            A::NAME
        );
    }
    check::<ImmediateReuse>();
    check::<CallRcuFree>();
    check::<FreeRcu>();
}

/// One cache frees past its high watermark while the tasks-trace callback of its first spill
/// is held: that spill waits on waiting_for_gp_ttrace, the later ones on free_by_rcu_ttrace.
/// Refilling far beyond both, v6.6 on reuses both lists; v6.2-v6.5 reuses free_by_rcu_ttrace
/// (commit 0893d6007db5, v6.2) but leaves waiting_for_gp_ttrace to the grace period.
#[test]
fn only_the_current_generation_reuses_waiting_for_gp_ttrace() {
    fn left_waiting(gen: MemallocGen) -> (i64, i64) {
        let (a, env) = make::<ImmediateReuse>(1, gen);
        let reader = HeldReader::new(&env.tasks_trace);
        let mut c = a.cache(0);
        let objs = alloc_n(&mut c, 300);
        free_all(&mut c, objs);
        let spilled = a.stats().waiting_gp;
        let objs = alloc_n(&mut c, 1000);
        let left = a.stats().waiting_gp;
        free_all(&mut c, objs);
        drop(c);
        reader.release();
        assert_eq!(a.drain().leaked, 0, "{gen:?}");
        (spilled, left)
    }
    let (spilled, left) = left_waiting(MemallocGen::Current);
    assert!(spilled > 0);
    assert_eq!(left, 0, "current left {left} of {spilled} unreused");
    let (spilled, left) = left_waiting(MemallocGen::V6_3);
    // The first spill: from just above the high watermark (96) down to the middle (64).
    assert_eq!(left, 33, "v6.3 left {left} of {spilled}");
    assert!(
        spilled > left,
        "v6.3 reused nothing from free_by_rcu_ttrace"
    );
    // v6.1 reuses neither list: every refill comes from the slab.
    let (spilled, left) = left_waiting(MemallocGen::V6_1);
    assert!(spilled > 0);
    assert_eq!(left, spilled, "v6.1 reused {} of {spilled}", spilled - left);
}

#[test]
fn generation_names_round_trip() {
    for &n in MemallocGen::NAMES {
        assert_eq!(MemallocGen::from_name(n).unwrap().name(), n);
    }
    assert_eq!(MemallocGen::default(), MemallocGen::Current);
    assert_eq!(MemallocGen::from_name("v6.6"), None);
}
