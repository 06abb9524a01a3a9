//! The hash table against a std HashMap model, under concurrency, and every use case x flavor.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use allocators::{
    with_flavor, AllocConfig, Allocator, Env, FlavorVisitor, ImmediateReuse, ReuseAfterGp, FLAVORS,
};
use workloads::htab::elem_size;
use workloads::ProducerMap;
use workloads::{
    with_use_case, HTab, MapError, Producer, UpdateFlag, UseCase, UseCaseVisitor, USE_CASES,
};

mod common;
use common::Rng;

fn new_map<A: Allocator>(max_entries: u32, value_size: usize, cpus: usize) -> (HTab<A>, Env) {
    let env = Env::default();
    let alloc = Arc::new(A::new(
        &AllocConfig::new(elem_size(value_size), cpus, env.clone())
            .with_capacity(max_entries as usize),
    ));
    (
        HTab::new(alloc, env.rcu.clone(), max_entries, value_size, cpus),
        env,
    )
}

fn matches_model<A: Allocator>() {
    let (map, _env) = new_map::<A>(64, 16, 1);
    let mut model: HashMap<u32, [u64; 2]> = HashMap::new();
    let mut rng = Rng(0x1234_5678);
    {
        let mut m = map.cpu(0);
        let rcu = m.rcu();
        for _ in 0..50_000 {
            let key = (rng.next() % 100) as u32;
            let v = [rng.next(), rng.next()];
            match rng.next() % 5 {
                0..=2 => {
                    let flag = [UpdateFlag::Any, UpdateFlag::NoExist, UpdateFlag::Exist]
                        [(rng.next() % 3) as usize];
                    let expect = match (flag, model.contains_key(&key)) {
                        (UpdateFlag::NoExist, true) => Err(MapError::Eexist),
                        (UpdateFlag::Exist, false) => Err(MapError::Enoent),
                        (_, false) if model.len() >= 64 => Err(MapError::E2big),
                        _ => Ok(()),
                    };
                    assert_eq!(m.update(key, &v, flag), expect, "update {key} {flag:?}");
                    if expect.is_ok() {
                        model.insert(key, v);
                    }
                }
                3 => {
                    let expect = if model.remove(&key).is_some() {
                        Ok(())
                    } else {
                        Err(MapError::Enoent)
                    };
                    assert_eq!(m.delete(key), expect);
                }
                _ => {
                    let g = rcu.read_lock();
                    let got = map.lookup(&g, key).map(|e| {
                        assert_eq!(e.key(), key);
                        [
                            e.value()[0].load(Ordering::Relaxed),
                            e.value()[1].load(Ordering::Relaxed),
                        ]
                    });
                    assert_eq!(got, model.get(&key).copied(), "lookup {key}");
                }
            }
            assert_eq!(map.len(), model.len());
        }
        assert_eq!(m.clear(), model.len());
    }
    assert_eq!(map.allocator().drain().leaked, 0);
}

#[test]
fn matches_hashmap_model_immediate_reuse() {
    matches_model::<ImmediateReuse>();
}

#[test]
fn matches_hashmap_model_reuse_after_gp() {
    matches_model::<ReuseAfterGp>();
}

#[test]
fn full_map_refuses_new_keys_but_replaces_existing() {
    let (map, _env) = new_map::<ImmediateReuse>(8, 8, 1);
    let mut m = map.cpu(0);
    for k in 0..8 {
        m.update(k, &[k as u64], UpdateFlag::Any).unwrap();
    }
    assert_eq!(m.update(100, &[0], UpdateFlag::Any), Err(MapError::E2big));
    m.update(3, &[33], UpdateFlag::Any).unwrap();
    assert_eq!(map.len(), 8);
    m.clear();
}

/// A read guard of another domain does not hold back this map's reclamation: a lookup under
/// it could return freed memory from safe code, so the map refuses it.
#[test]
#[should_panic(expected = "not this map's")]
fn lookup_refuses_a_guard_of_another_domain() {
    let (map, _env) = new_map::<ReuseAfterGp>(8, 8, 1);
    let other = rcu::Domain::new(rcu::DomainConfig::default());
    let h = other.register();
    let g = h.read_lock();
    let _ = map.lookup(&g, 1);
}

/// Writers overwrite and delete while readers look up keys that are always present. With a
/// grace-period flavor an element a lookup returns still holds the key and value it was
/// found with. (A walk already past the bucket head can miss a key whose element is being
/// replaced, in the kernel too: the new element goes in at the head; so misses are counted,
/// not forbidden.)
struct ConcurrentStress;
impl FlavorVisitor for ConcurrentStress {
    type Output = ();
    fn visit<A: Allocator>(self) {
        const WRITERS: usize = 2;
        const READERS: usize = 2;
        const STABLE: u32 = 32;
        let (map, _env) = new_map::<A>(4096, 8, WRITERS + READERS + 1);
        {
            let mut m = map.cpu(WRITERS + READERS);
            for k in 0..STABLE {
                m.update(k, &[k as u64], UpdateFlag::Any).unwrap();
            }
        }
        let stop = AtomicBool::new(false);
        let misses = AtomicU64::new(0);
        let wrong_key = AtomicU64::new(0);
        let lookups = AtomicU64::new(0);
        let grace_period_flavor = A::REUSE_AFTER_GP;
        thread::scope(|s| {
            for w in 0..WRITERS {
                let (map, stop) = (&map, &stop);
                s.spawn(move || {
                    let mut m = map.cpu(w);
                    let mut i = 0u32;
                    while !stop.load(Ordering::Relaxed) {
                        let k = i % STABLE;
                        m.update(k, &[k as u64], UpdateFlag::Any).unwrap();
                        // Churn on private keys moves elements between buckets.
                        let p = 1000 + w as u32 * 1000 + i % 512;
                        let _ = m.update(p, &[p as u64], UpdateFlag::Any);
                        if i.is_multiple_of(3) {
                            let _ = m.delete(1000 + w as u32 * 1000 + (i / 3) % 512);
                        }
                        i = i.wrapping_add(1);
                    }
                });
            }
            for r in 0..READERS {
                let (map, stop, misses, wrong_key, lookups) =
                    (&map, &stop, &misses, &wrong_key, &lookups);
                s.spawn(move || {
                    let m = map.cpu(WRITERS + r);
                    let rcu = m.rcu();
                    let mut i = 0u32;
                    while !stop.load(Ordering::Relaxed) {
                        let g = rcu.read_lock();
                        for _ in 0..64 {
                            let k = i % STABLE;
                            match map.lookup(&g, k) {
                                None => {
                                    misses.fetch_add(1, Ordering::Relaxed);
                                }
                                Some(e) => {
                                    if e.key() != k
                                        || e.value()[0].load(Ordering::Relaxed) != k as u64
                                    {
                                        wrong_key.fetch_add(1, Ordering::Relaxed);
                                    }
                                }
                            }
                            i = i.wrapping_add(7);
                        }
                        drop(g);
                        lookups.fetch_add(64, Ordering::Relaxed);
                    }
                });
            }
            let end = Instant::now() + Duration::from_millis(300);
            while Instant::now() < end || lookups.load(Ordering::Relaxed) < 10_000 {
                thread::sleep(Duration::from_millis(10));
            }
            stop.store(true, Ordering::Relaxed);
        });
        let (l, m) = (
            lookups.load(Ordering::Relaxed),
            misses.load(Ordering::Relaxed),
        );
        assert!(m < l, "{}: every lookup missed", A::NAME);
        if grace_period_flavor {
            assert_eq!(
                wrong_key.load(Ordering::Relaxed),
                0,
                "{}: a lookup returned a recycled element",
                A::NAME
            );
        }
        map.cpu(0).clear();
        assert_eq!(map.allocator().drain().leaked, 0, "{}", A::NAME);
    }
}

#[test]
fn concurrent_lookups_return_consistent_elements() {
    for f in FLAVORS {
        with_flavor(f, ConcurrentStress).unwrap();
    }
}

/// Every use case with every flavor: a short run with 4 producers leaves nothing leaked.
struct RunBriefly<'a> {
    use_case: &'a str,
}

impl FlavorVisitor for RunBriefly<'_> {
    type Output = ();
    fn visit<A: Allocator>(self) {
        struct Inner<A: Allocator>(std::marker::PhantomData<A>);
        impl<A: Allocator> UseCaseVisitor for Inner<A> {
            type Output = ();
            fn visit<U: UseCase>(self) {
                const P: usize = 4;
                let (map, _env) = new_map::<A>(8192, 8, P + 1);
                let uc = U::new(P).unwrap();
                let stop = AtomicBool::new(false);
                let loops = AtomicU64::new(0);
                thread::scope(|s| {
                    for i in 0..P {
                        let (map, uc, stop, loops) = (&map, &uc, &stop, &loops);
                        s.spawn(move || {
                            let mut p = Producer::new(i, P, map.cpu(i), 8);
                            let mut n = 0;
                            while !stop.load(Ordering::Relaxed) {
                                n += uc.run_loop(&mut p);
                            }
                            loops.fetch_add(n, Ordering::Relaxed);
                        });
                    }
                    thread::sleep(Duration::from_millis(150));
                    stop.store(true, Ordering::Relaxed);
                    uc.stop();
                });
                assert!(loops.load(Ordering::Relaxed) > 0, "{}/{}", U::NAME, A::NAME);
                map.cpu(P).clear();
                assert!(map.is_empty());
                let s = map.allocator().drain();
                assert_eq!(s.leaked, 0, "{}/{}: {s:?}", U::NAME, A::NAME);
            }
        }
        with_use_case(self.use_case, Inner::<A>(std::marker::PhantomData)).unwrap();
    }
}

#[test]
fn every_use_case_with_every_flavor_runs_without_leaks() {
    for uc in USE_CASES {
        for f in FLAVORS {
            with_flavor(f, RunBriefly { use_case: uc }).unwrap();
        }
    }
}

/// The use-case registry keeps the tables' order and dispatches each name to its own type.
#[test]
fn use_case_registry_lists_in_order_and_dispatches_by_name() {
    struct NameOf;
    impl UseCaseVisitor for NameOf {
        type Output = &'static str;
        fn visit<U: UseCase>(self) -> &'static str {
            U::NAME
        }
    }
    assert_eq!(
        USE_CASES,
        [
            "no_op",
            "overwrite",
            "batch_add_batch_del",
            "add_del_on_diff_cpu",
            "lookup_verify",
            "lpm_update_delete",
        ]
    );
    for &name in USE_CASES {
        assert_eq!(with_use_case(name, NameOf), Some(name));
    }
    assert_eq!(with_use_case("no-such-use-case", NameOf), None);
}

#[test]
fn add_del_on_diff_cpu_needs_even_producers() {
    let e = workloads::use_cases::AddDelOnDiffCpu::new(3).err().unwrap();
    assert!(e.contains("even"), "{e}");
}

/// lpm_update_delete's stale-read check, with `stop` emptying the trie before the drain: the
/// grace-period flavors never let a trie lookup return a reused node, and no flavor leaks.
#[test]
fn lpm_update_delete_finds_no_stale_reads_under_grace_period_flavors() {
    struct Oracle;
    impl FlavorVisitor for Oracle {
        type Output = ();
        fn visit<A: Allocator>(self) {
            const P: usize = 2;
            let (map, _env) = new_map::<A>(8192, 8, P + 1);
            let uc = workloads::use_cases::LpmUpdateDelete::new(P).unwrap();
            let stop = AtomicBool::new(false);
            thread::scope(|s| {
                for i in 0..P {
                    let (map, uc, stop) = (&map, &uc, &stop);
                    s.spawn(move || {
                        let mut p = Producer::new(i, P, map.cpu(i), 8);
                        while !stop.load(Ordering::Relaxed) {
                            uc.run_loop(&mut p);
                            p.map.quiescent();
                        }
                    });
                }
                thread::sleep(Duration::from_millis(150));
                stop.store(true, Ordering::Relaxed);
                uc.stop();
            });
            let (found, bad) = uc.verify().unwrap();
            assert!(found > 0, "{}: lookups found nothing", A::NAME);
            if A::REUSE_AFTER_GP {
                assert_eq!(bad, 0, "{}: {bad} stale reads of {found}", A::NAME);
            }
            map.cpu(P).clear();
            let s = map.allocator().drain();
            assert_eq!(s.leaked, 0, "{}: {s:?}", A::NAME);
            assert!(s.from_slab > 0, "{}: the trie allocated nothing", A::NAME);
        }
    }
    for f in FLAVORS {
        with_flavor(f, Oracle).unwrap();
    }
}

/// The stale-read oracle: flavors that reuse only after a grace period never let a lookup
/// return a recycled element.
#[test]
fn lookup_verify_finds_no_stale_reads_under_grace_period_flavors() {
    struct Oracle;
    impl FlavorVisitor for Oracle {
        type Output = ();
        fn visit<A: Allocator>(self) {
            if !A::REUSE_AFTER_GP {
                return;
            }
            const P: usize = 4;
            let (map, _env) = new_map::<A>(8192, 16, P + 1);
            let uc = workloads::use_cases::LookupVerify::new(P).unwrap();
            let stop = AtomicBool::new(false);
            thread::scope(|s| {
                for i in 0..P {
                    let (map, uc, stop) = (&map, &uc, &stop);
                    s.spawn(move || {
                        let mut p = Producer::new(i, P, map.cpu(i), 16);
                        while !stop.load(Ordering::Relaxed) {
                            uc.run_loop(&mut p);
                        }
                    });
                }
                thread::sleep(Duration::from_millis(200));
                stop.store(true, Ordering::Relaxed);
            });
            let (found, bad) = uc.verify().unwrap();
            assert!(found > 0, "{}: readers found nothing", A::NAME);
            assert_eq!(bad, 0, "{}: {bad} stale reads of {found}", A::NAME);
            map.cpu(P).clear();
            assert_eq!(map.allocator().drain().leaked, 0);
        }
    }
    for f in FLAVORS {
        with_flavor(f, Oracle).unwrap();
    }
}

/// One loop in the RFC's shape walks the producer's share of the live keys (the pair's, in
/// add_del_on_diff_cpu) and counts 1; the merged shape walks 64 keys.
#[test]
fn loops_walk_the_keys_their_shape_gives_them() {
    use workloads::use_cases::{AddDelOnDiffCpu, BatchAddBatchDel, Overwrite};
    use workloads::LoopShape;
    const P: usize = 4;
    let rfc = LoopShape::Rfc { live: 1000 };
    let (map, _env) = new_map::<ImmediateReuse>(2000, 8, P + 1);
    let producer = |i: usize, shape| Producer::new(i, P, map.cpu(i), 8).with_shape(shape);

    let ow = Overwrite::new(P).unwrap();
    for i in 0..P {
        assert_eq!(ow.run_loop(&mut producer(i, rfc)), 1);
        assert_eq!(map.len(), 250 * (i + 1), "producer {i} added its 250 keys");
    }
    // Replacing its own keys adds none.
    ow.run_loop(&mut producer(0, rfc));
    assert_eq!(map.len(), 1000);

    let bb = BatchAddBatchDel::new(P).unwrap();
    assert_eq!(bb.run_loop(&mut producer(1, rfc)), 1, "one RFC program run");
    assert_eq!(map.len(), 750, "producer 1 deleted exactly its share");
    map.cpu(P).clear();

    // The merged shape: 64 keys, and batch_add_batch_del counts its two batches.
    ow.run_loop(&mut producer(2, LoopShape::Merged));
    assert_eq!(map.len(), 64);
    assert_eq!(bb.run_loop(&mut producer(2, LoopShape::Merged)), 2);
    assert!(map.is_empty());

    // add_del_on_diff_cpu: a stopped barrier lets each side run alone. The even producer of
    // pair 0 adds the pair's keys (both producers' shares: 500), the odd one deletes them.
    let ad = AddDelOnDiffCpu::new(P).unwrap();
    ad.stop();
    assert_eq!(ad.run_loop(&mut producer(0, rfc)), 1);
    assert_eq!(map.len(), 500);
    assert_eq!(ad.run_loop(&mut producer(3, rfc)), 1);
    assert_eq!(map.len(), 500, "pair 1 deletes only its own keys");
    assert_eq!(ad.run_loop(&mut producer(1, rfc)), 1);
    assert!(map.is_empty());
    ad.run_loop(&mut producer(0, LoopShape::Merged));
    assert_eq!(map.len(), 64);
    map.cpu(P).clear();
    assert_eq!(map.allocator().drain().leaked, 0);
}
