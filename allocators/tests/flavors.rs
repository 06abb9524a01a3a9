//! Every flavor: its reuse rule, no double allocation under concurrency, and the leak check.

use std::collections::HashSet;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;

use allocators::{
    AllocConfig, Allocator, Cache, CallRcuFree, Env, FreeAfterGp, FreeRcu, ImmediateReuse,
    MallocCallRcu, MemallocGen, Prealloc, ReuseAfterGp,
};

mod common;
use common::HeldReader;

fn make<A: Allocator>(nr_caches: usize) -> (Arc<A>, Env) {
    make_gen(nr_caches, MemallocGen::Current)
}

fn make_gen<A: Allocator>(nr_caches: usize, gen: MemallocGen) -> (Arc<A>, Env) {
    let env = Env::default();
    let mut cfg = AllocConfig::new(24, nr_caches, env.clone()).with_capacity(1 << 17);
    cfg.memalloc = gen;
    (Arc::new(A::new(&cfg)), env)
}

/// Allocating and freeing everything leaves nothing behind after drain.
fn balanced_round_trip<A: Allocator>(gen: MemallocGen) {
    let (a, _env) = make_gen::<A>(2, gen);
    {
        let mut c = a.cache(0);
        let objs: Vec<_> = (0..1000).map(|_| c.alloc().unwrap()).collect();
        assert_eq!(a.stats().in_use, 1000);
        for o in objs {
            // SAFETY: allocated above, freed once.
            unsafe { c.free(o) };
        }
        for _ in 0..10_000 {
            let o = c.alloc().unwrap();
            // SAFETY: allocated from this allocator above and freed exactly once.
            unsafe { c.free(o) };
        }
    }
    let s = a.drain();
    assert_eq!(s.in_use, 0);
    assert_eq!(s.leaked, 0, "{s:?}");
    assert_eq!(s.from_slab, s.to_slab);
}

/// An object never freed is reported as leaked: the check can fail.
fn leak_is_reported<A: Allocator>() {
    let (a, _env) = make::<A>(1);
    let kept = {
        let mut c = a.cache(0);
        let kept = c.alloc().unwrap();
        let o = c.alloc().unwrap();
        // SAFETY: allocated from this allocator above and freed exactly once.
        unsafe { c.free(o) };
        kept
    };
    let s = a.drain();
    assert_eq!(s.leaked, 1, "{s:?}");
    // Give it back so the test itself does not leak.
    let mut c = a.cache(0);
    // SAFETY: allocated from this allocator above and freed exactly once.
    unsafe { c.free(kept) };
    drop(c);
    assert_eq!(a.drain().leaked, 0);
}

/// While a reader that predates the frees holds its section, no freed object comes back.
fn no_reuse_under_reader<A: Allocator>() {
    let (a, env) = make::<A>(1);
    let reader = HeldReader::new(&env.rcu);
    let mut c = a.cache(0);
    let freed: Vec<_> = (0..500).map(|_| c.alloc().unwrap()).collect();
    let freed_set: HashSet<usize> = freed.iter().map(|p| p.as_ptr() as usize).collect();
    for o in freed {
        // SAFETY: allocated from this allocator above and freed exactly once.
        unsafe { c.free(o) };
    }
    let mut live = Vec::new();
    for _ in 0..2000 {
        let o = c.alloc().unwrap();
        assert!(
            !freed_set.contains(&(o.as_ptr() as usize)),
            "{} handed out an object freed during a reader's section",
            A::NAME
        );
        live.push(o);
    }
    reader.release();
    for o in live {
        // SAFETY: allocated from this allocator above and freed exactly once.
        unsafe { c.free(o) };
    }
    drop(c);
    assert_eq!(a.drain().leaked, 0);
}

/// Several threads allocate, free locally and free on another thread; every object handed
/// out is exclusively owned (its stamp survives until its free) and nothing leaks.
fn concurrent_exclusive_ownership<A: Allocator>(gen: MemallocGen) {
    const THREADS: usize = 4;
    let (a, _env) = make_gen::<A>(THREADS, gen);
    let corrupt = Arc::new(AtomicU64::new(0));
    let (txs, rxs): (Vec<_>, Vec<_>) = (0..THREADS).map(|_| mpsc::channel::<usize>()).unzip();
    let done = Arc::new(std::sync::Barrier::new(THREADS));
    let handles: Vec<_> = rxs
        .into_iter()
        .enumerate()
        .map(|(i, rx)| {
            let a = a.clone();
            let next = txs[(i + 1) % THREADS].clone();
            let corrupt = corrupt.clone();
            let done = done.clone();
            thread::spawn(move || {
                let mut c = a.cache(i);
                let mut mine: Vec<(NonNull<u8>, u64)> = Vec::new();
                for n in 0..20_000u64 {
                    let stamp = ((i as u64) << 48) | n;
                    let o = c.alloc().unwrap();
                    // SAFETY: 24-byte, 8-aligned object we own.
                    unsafe { (o.as_ptr() as *mut u64).write_volatile(stamp) };
                    mine.push((o, stamp));
                    if mine.len() > 64 || n % 3 == 0 {
                        let (o, s) = mine.swap_remove((n as usize * 7) % mine.len());
                        // SAFETY: allocated from this allocator above and freed exactly once.
                        if unsafe { (o.as_ptr() as *const u64).read_volatile() } != s {
                            corrupt.fetch_add(1, Ordering::Relaxed);
                        }
                        if n % 2 == 0 {
                            // SAFETY: allocated from this allocator above and freed exactly once.
                            unsafe { c.free(o) };
                        } else {
                            // Cross-CPU free: the neighbour frees it (add_del_on_diff_cpu).
                            let _ = next.send(o.as_ptr() as usize);
                        }
                    }
                    while let Ok(p) = rx.try_recv() {
                        // SAFETY: allocated from this allocator above and freed exactly once.
                        unsafe { c.free(NonNull::new(p as *mut u8).unwrap()) };
                    }
                }
                for (o, s) in mine {
                    // SAFETY: allocated from this allocator above and freed exactly once.
                    if unsafe { (o.as_ptr() as *const u64).read_volatile() } != s {
                        corrupt.fetch_add(1, Ordering::Relaxed);
                    }
                    // SAFETY: allocated from this allocator above and freed exactly once.
                    unsafe { c.free(o) };
                }
                drop(next);
                // Once everyone has stopped sending, free what is still in flight to us.
                done.wait();
                while let Ok(p) = rx.try_recv() {
                    // SAFETY: allocated from this allocator above and freed exactly once.
                    unsafe { c.free(NonNull::new(p as *mut u8).unwrap()) };
                }
            })
        })
        .collect();
    drop(txs);
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(
        corrupt.load(Ordering::Relaxed),
        0,
        "{}: object handed out twice",
        A::NAME
    );
    let s = a.drain();
    assert_eq!(s.leaked, 0, "{}: {s:?}", A::NAME);
    assert_eq!(s.in_use, 0);
}

macro_rules! flavor_tests {
    // `gen_mod = Gen`: the balanced and concurrent checks again under that memalloc.c
    // generation, for the bpf_mem_alloc flavors, whose spill and refill depend on it.
    ($m:ident, $t:ty $(, $gm:ident = $gen:ident)*) => {
        mod $m {
            use super::*;
            #[test]
            fn balanced_round_trip() {
                super::balanced_round_trip::<$t>(MemallocGen::Current);
            }
            #[test]
            fn leak_is_reported() {
                super::leak_is_reported::<$t>();
            }
            #[test]
            fn concurrent_exclusive_ownership() {
                super::concurrent_exclusive_ownership::<$t>(MemallocGen::Current);
            }
            $(
                mod $gm {
                    use super::*;
                    #[test]
                    fn balanced_round_trip() {
                        crate::balanced_round_trip::<$t>(MemallocGen::$gen);
                    }
                    #[test]
                    fn concurrent_exclusive_ownership() {
                        crate::concurrent_exclusive_ownership::<$t>(MemallocGen::$gen);
                    }
                }
            )*
        }
    };
}

flavor_tests!(immediate_reuse, ImmediateReuse, v6_3 = V6_3);
flavor_tests!(reuse_after_gp, ReuseAfterGp);
flavor_tests!(free_after_gp, FreeAfterGp);
flavor_tests!(call_rcu_free, CallRcuFree, v6_3 = V6_3);
flavor_tests!(malloc_call_rcu, MallocCallRcu);
flavor_tests!(prealloc, Prealloc);
flavor_tests!(free_rcu, FreeRcu, v6_3 = V6_3);

/// The preallocated map never touches the system allocator after setup, runs dry at its
/// capacity, steals from other CPUs' lists, and swaps replaced elements with the spare.
#[test]
fn prealloc_is_fixed_size_and_steals() {
    let env = Env::default();
    let a = Arc::new(Prealloc::new(
        &AllocConfig::new(24, 2, env.clone()).with_capacity(100),
    ));
    let setup = a.stats().from_slab;
    assert_eq!(setup, 100 + 2, "max_entries plus one spare per CPU");
    let mut c0 = a.cache(0);
    // CPU 0 holds 51 elements (a contiguous run of 100 / 2 + 1); the other 49 are stolen
    // from CPU 1.
    let mut got: Vec<_> = (0..100).map(|_| c0.alloc().unwrap()).collect();
    assert!(
        c0.alloc().is_none(),
        "a full preallocated map has nothing left"
    );
    // A replacing update takes the spare; the replaced element becomes the spare.
    let spare = c0.alloc_replacing().unwrap();
    let old = got.pop().unwrap();
    // SAFETY: allocated from this allocator above and freed exactly once.
    unsafe { c0.free_replaced(old) };
    let again = c0.alloc_replacing().unwrap();
    assert_eq!(again, old, "the replaced element is the next spare");
    // SAFETY: allocated from this allocator above and freed exactly once.
    unsafe {
        c0.free_replaced(spare);
        c0.free(again);
    }
    for o in got {
        // SAFETY: allocated from this allocator above and freed exactly once.
        unsafe { c0.free(o) };
    }
    assert_eq!(a.stats().from_slab, setup, "no allocation after setup");
    // The cache holds its CPU's spare without a lock; a dropped cache leaves it to the next.
    let kept = c0.alloc_replacing().unwrap();
    // SAFETY: allocated from this allocator above and freed exactly once.
    unsafe { c0.free_replaced(kept) };
    drop(c0);
    let mut c0 = a.cache(0);
    assert_eq!(
        c0.alloc_replacing(),
        Some(kept),
        "the spare outlives its cache"
    );
    // SAFETY: allocated from this allocator above and freed exactly once.
    unsafe { c0.free_replaced(kept) };
    drop(c0);
    assert_eq!(a.drain().leaked, 0);
}

#[test]
fn immediate_reuse_hands_back_the_object_just_freed() {
    let (a, _env) = make::<ImmediateReuse>(1);
    let mut c = a.cache(0);
    let x = c.alloc().unwrap();
    // SAFETY: allocated from this allocator above and freed exactly once.
    unsafe { c.free(x) };
    let y = c.alloc().unwrap();
    assert_eq!(x, y);
    // SAFETY: allocated from this allocator above and freed exactly once.
    unsafe { c.free(y) };
}

#[test]
fn grace_period_flavors_never_reuse_under_a_reader() {
    no_reuse_under_reader::<ReuseAfterGp>();
    no_reuse_under_reader::<CallRcuFree>();
    no_reuse_under_reader::<FreeAfterGp>();
    no_reuse_under_reader::<MallocCallRcu>();
    no_reuse_under_reader::<FreeRcu>();
}

/// Allocates and frees `rounds` times, asserting that every object handed out again was freed
/// at least a grace period earlier (the cookie taken just before its free has completed), then
/// frees what is left. Returns how many allocations reused a freed object.
fn churn_checking_reuse<C: Cache>(c: &mut C, env: &Env, rounds: u64) -> u64 {
    let mut freed_at: std::collections::HashMap<usize, u64> = Default::default();
    let mut live = Vec::new();
    let mut reused = 0;
    // At least `rounds`, and on until some object came back (a slow or serialised machine,
    // valgrind's one thread at a time, can leave the grace-period thread behind for long):
    // the reuse rule is only tested once something is reused. Bounded, and yielding now and
    // then so the grace-period thread gets its turn.
    let mut n = 0;
    while n < rounds || (reused == 0 && n < rounds * 100) {
        if n % 1024 == 1023 {
            std::thread::yield_now();
        }
        let o = c.alloc().unwrap();
        if let Some(cookie) = freed_at.remove(&(o.as_ptr() as usize)) {
            assert!(
                env.rcu.poll_state(cookie),
                "reused before a grace period elapsed"
            );
            reused += 1;
        }
        live.push(o);
        if live.len() > 100 || n % 2 == 0 {
            let o = live.swap_remove(0);
            freed_at.insert(o.as_ptr() as usize, env.rcu.get_state());
            // SAFETY: allocated from this allocator above and freed exactly once.
            unsafe { c.free(o) };
        }
        n += 1;
    }
    for o in live {
        // SAFETY: allocated from this allocator above and freed exactly once.
        unsafe { c.free(o) };
    }
    reused
}

/// Every object reuse-after-gp hands out again was freed at least a grace period earlier: the
/// cookie taken just before its free has completed.
#[test]
fn reuse_after_gp_reuses_only_after_a_grace_period() {
    let (a, env) = make::<ReuseAfterGp>(1);
    let mut c = a.cache(0);
    let reused = churn_checking_reuse(&mut c, &env, 200_000);
    assert!(reused > 0, "objects were never reused at all");
    drop(c);
    assert_eq!(a.drain().leaked, 0);
}

/// free-after-gp returns every freed object to the slab, none to a cache.
#[test]
fn free_after_gp_returns_everything_to_the_slab() {
    let (a, env) = make::<FreeAfterGp>(1);
    let mut c = a.cache(0);
    for _ in 0..10_000 {
        let o = c.alloc().unwrap();
        // SAFETY: allocated from this allocator above and freed exactly once.
        unsafe { c.free(o) };
    }
    drop(c);
    env.barrier();
    let s = a.stats();
    // Only the never-handed-out part of the last refill batch stays cached.
    assert!(s.to_slab >= 10_000 - 96, "{s:?}");
    assert_eq!(s.waiting_gp, 0);
    assert_eq!(a.drain().leaked, 0);
}

/// free-rcu keeps one RCU callback in flight per cache; frees that arrive meanwhile ask for an
/// urgent quiescent state of the grace period in flight (and queue no second callback), and
/// that grace period still waits for its reader.
#[test]
fn free_rcu_requests_urgent_grace_periods() {
    let env = Env::new(std::time::Duration::ZERO, std::time::Duration::ZERO);
    // A reader that holds the first grace period open.
    let reader = HeldReader::new(&env.rcu);
    let a = Arc::new(FreeRcu::new(&AllocConfig::new(24, 1, env.clone())));
    let mut c = a.cache(0);
    let mut rounds = 0;
    while env.rcu.stats().urgent_requests == 0 {
        for _ in 0..200 {
            let o = c.alloc().unwrap();
            // SAFETY: allocated from this allocator above and freed exactly once.
            unsafe { c.free(o) };
        }
        rounds += 1;
        assert!(
            rounds < 1_000_000,
            "no urgent request while a callback was in flight"
        );
        std::thread::yield_now();
    }
    let s = env.rcu.stats();
    assert_eq!(s.grace_periods, 0, "a grace period ended under its reader");
    assert!(s.callbacks_invoked == 0, "{s:?}");
    reader.release();
    drop(c);
    assert_eq!(a.drain().leaked, 0);
}

/// With every batch descriptor allocation failing, reuse-after-gp falls back to an expedited
/// grace period (off the freeing thread) and still never reuses an object early.
#[test]
fn reuse_after_gp_expedited_fallback_keeps_the_reuse_rule() {
    let env = Env::default();
    let mut cfg = AllocConfig::new(24, 1, env.clone());
    cfg.fail_batch_alloc = true;
    let a = Arc::new(ReuseAfterGp::new(&cfg));
    let mut c = a.cache(0);
    let reused = churn_checking_reuse(&mut c, &env, 100_000);
    drop(c);
    let s = a.drain();
    assert!(a.expedited_fallbacks() > 0, "the fallback never ran");
    assert!(reused > 0);
    assert_eq!(s.leaked, 0);
}

/// With tasks-trace callbacks chained into RCU instead of implying it, the tasks-trace paths
/// (immediate-reuse's spill, reuse-after-gp's free pass) still balance.
#[test]
fn chained_tasks_trace_round_trips() {
    fn run<A: Allocator>() {
        let env = Env::with_implies(std::time::Duration::ZERO, std::time::Duration::ZERO, false);
        let a = Arc::new(A::new(&AllocConfig::new(24, 1, env)));
        {
            let mut c = a.cache(0);
            let objs: Vec<_> = (0..5000).map(|_| c.alloc().unwrap()).collect();
            for o in objs {
                // SAFETY: allocated from this allocator above and freed exactly once.
                unsafe { c.free(o) };
            }
        }
        assert_eq!(a.drain().leaked, 0, "{}", A::NAME);
    }
    run::<ImmediateReuse>();
    run::<ReuseAfterGp>();
    run::<FreeRcu>();
}
