//! map_perf_test: flags and flavor checks, the event bodies' effect on the maps, the sample's
//! arithmetic, and every test on every bpf_mem_alloc flavor with concurrent workers.

use std::sync::Barrier;
use std::thread;
use std::time::Duration;

use allocators::{with_flavor, Allocator, Env, FlavorVisitor, ImmediateReuse, FLAVORS};
use workloads::lpm_trie::LpmKey;
use workloads::map_perf_test::{
    check_flavor, lpm_fill, per_sec, tests_from_flags, Config, GlibcRand, Maps, Test,
    LPM_FILL_PREFIXES, LPM_LOOKUP_ADDR, LPM_LOOKUP_VALUE, LRU_LOOKUP_TEST_ENTRIES, MAX_ENTRIES,
    PID_BASE, PREALLOC_NAME,
};
use workloads::UpdateFlag;

fn config(tests: Vec<Test>, workers: usize, entries: u32) -> Config {
    Config {
        tests,
        nr_workers: workers,
        num_map_entries: entries,
        iterations: 100,
    }
}

#[test]
fn flags_select_tests_in_order() {
    let all = tests_from_flags(0).unwrap();
    assert_eq!(
        all.len(),
        11,
        "FLAGS 0 runs every one of the sample's tests"
    );
    assert!(all.iter().all(|t| t.implemented()));
    assert!(all.windows(2).all(|w| w[0].bit() < w[1].bit()));
    assert_eq!(tests_from_flags(4).unwrap(), vec![Test::HashKmalloc]);
    assert_eq!(
        tests_from_flags(0b1_1000_0001).unwrap(),
        vec![Test::HashPrealloc, Test::HashLookup, Test::ArrayLookup]
    );
    assert_eq!(
        tests_from_flags(64 | 4).unwrap(),
        vec![Test::HashKmalloc, Test::LpmKmalloc]
    );
    assert_eq!(
        tests_from_flags(512).unwrap(),
        vec![Test::InnerLruHashPrealloc]
    );
    let e = tests_from_flags(1 << 11 | 1).unwrap_err();
    assert!(e.contains("unknown test bit 11"), "{e}");
    let e = tests_from_flags(1 << 31).unwrap_err();
    assert!(e.contains("unknown test bit 31"), "{e}");
}

#[test]
fn flavors_reach_only_the_non_preallocated_maps() {
    let kmalloc = [Test::HashKmalloc];
    let lpm = [Test::LpmKmalloc, Test::InnerLruHashPrealloc];
    let prealloc_only = [Test::HashPrealloc, Test::LruHashPrealloc];
    let both = [Test::HashPrealloc, Test::PercpuHashKmalloc];
    for f in FLAVORS.iter().filter(|&&f| f != PREALLOC_NAME) {
        assert_eq!(check_flavor(&kmalloc, f), Ok(()));
        assert_eq!(check_flavor(&both, f), Ok(()));
        assert_eq!(check_flavor(&lpm, f), Ok(()), "test 6 takes -A");
        let e = check_flavor(&prealloc_only, f).unwrap_err();
        assert!(e.contains("would not be used"), "{e}");
    }
    let e = check_flavor(&kmalloc, PREALLOC_NAME).unwrap_err();
    assert!(e.contains("cannot serve test 2 (HASH_KMALLOC)"), "{e}");
    assert!(check_flavor(&both, PREALLOC_NAME).is_err());
    let e = check_flavor(&lpm, PREALLOC_NAME).unwrap_err();
    assert!(e.contains("cannot serve test 6 (LPM_KMALLOC)"), "{e}");
    let e = check_flavor(&[Test::InnerLruHashPrealloc], "free-rcu").unwrap_err();
    assert!(e.contains("would not be used"), "{e}");
    assert_eq!(check_flavor(&prealloc_only, PREALLOC_NAME), Ok(()));
}

#[test]
fn per_sec_is_the_samples_integer_arithmetic() {
    let s = Duration::from_secs(1);
    assert_eq!(per_sec(Test::HashKmalloc, 1_000_000, s), 1_000_000);
    assert_eq!(
        per_sec(Test::HashKmalloc, 3, Duration::from_nanos(2)),
        1_500_000_000
    );
    assert_eq!(per_sec(Test::HashLookup, 1000, s), 64_000);
    assert_eq!(per_sec(Test::ArrayLookup, 1000, s), 64_000);
    assert_eq!(per_sec(Test::LruHashLookup, 1000, s), 1000);
    // No overflow where the sample's long long would, no division by zero.
    assert_eq!(per_sec(Test::HashLookup, u32::MAX, s), u32::MAX as u64 * 64);
    assert!(per_sec(Test::HashKmalloc, 10, Duration::ZERO) > 0);
}

#[test]
fn max_entries_override_reaches_enabled_tests_maps_only() {
    let maps = Maps::<ImmediateReuse>::new(
        &config(
            vec![Test::HashKmalloc, Test::NocommonLruHashPrealloc],
            2,
            500,
        ),
        Env::default(),
    )
    .unwrap();
    assert_eq!(maps.hash_map_alloc().unwrap().nr_buckets(), 512);
    assert_eq!(maps.nocommon_lru_hash_map().unwrap().max_entries(), 500);
    assert!(maps.hash_map().is_none() && maps.lru_hash_map().is_none());
    maps.teardown().unwrap();

    let maps = Maps::<ImmediateReuse>::new(
        &config(
            vec![Test::LruHashPrealloc, Test::NocommonLruHashPrealloc],
            3,
            0,
        ),
        Env::default(),
    )
    .unwrap();
    assert_eq!(maps.lru_hash_map().unwrap().max_entries(), 10_000);
    // A per-CPU LRU splits evenly over the workers' CPUs.
    assert_eq!(maps.nocommon_lru_hash_map().unwrap().max_entries(), 10_002);
    maps.teardown().unwrap();
}

#[test]
fn glibc_rand_is_the_samples_generator() {
    // rand() with no srand: glibc's first outputs.
    let mut r = GlibcRand::new(1);
    let first: Vec<u32> = (0..5).map(|_| r.next()).collect();
    assert_eq!(
        first,
        [1804289383, 846930886, 1681692777, 1714636915, 1957747793]
    );
}

/// fill_lpm_trie's prefixes, canonical, sorted, each once (random ones may repeat).
fn distinct_fill() -> Vec<LpmKey> {
    let mut d: Vec<LpmKey> = lpm_fill().iter().map(|(k, _)| k.canonical()).collect();
    d.sort_by_key(|k| (k.prefixlen(), k.addr()));
    d.dedup();
    d
}

#[test]
fn lpm_trie_is_filled_as_the_sample_fills_it() {
    let fill = lpm_fill();
    assert_eq!(fill.len(), LPM_FILL_PREFIXES as usize + 1);
    assert!(fill.iter().all(|(k, _)| k.prefixlen() <= 32));
    assert!(
        fill.iter().any(|(k, _)| k.prefixlen() == 0),
        "lengths span 0..=32"
    );
    let maps =
        Maps::<ImmediateReuse>::new(&config(vec![Test::LpmKmalloc], 1, 0), Env::default()).unwrap();
    let trie = maps.lpm_trie_map_alloc().unwrap();
    let distinct = distinct_fill();
    let mut stored = trie.check().unwrap();
    stored.sort_by_key(|k| (k.prefixlen(), k.addr()));
    assert_eq!(stored, distinct);
    {
        let h = maps.env().rcu.register();
        let g = h.read_lock();
        let e = trie.lookup(&g, &LpmKey::host(LPM_LOOKUP_ADDR)).unwrap();
        assert_eq!(e.matched(), LpmKey::host(LPM_LOOKUP_ADDR));
        assert_eq!(
            e.value()[0].load(std::sync::atomic::Ordering::Relaxed),
            LPM_LOOKUP_VALUE
        );
    }
    // An event is lookups only.
    maps.worker(0).run(Test::LpmKmalloc, 10);
    assert_eq!(trie.check().unwrap().len(), distinct.len());
    maps.teardown().unwrap();
}

#[test]
fn array_of_maps_gives_each_worker_its_own_inner_lru_map() {
    let maps = Maps::<ImmediateReuse>::new(
        &config(vec![Test::InnerLruHashPrealloc], 3, 0),
        Env::default(),
    )
    .unwrap();
    for i in 0..3 {
        assert_eq!(
            maps.array_of_lru_hashs(i).unwrap().max_entries(),
            MAX_ENTRIES
        );
    }
    assert!(maps.array_of_lru_hashs(3).is_none());
    maps.worker(1).run(Test::InnerLruHashPrealloc, 50);
    assert_eq!(maps.array_of_lru_hashs(0).unwrap().len(), 0);
    assert_eq!(maps.array_of_lru_hashs(1).unwrap().len(), 50);
    assert_eq!(maps.array_of_lru_hashs(2).unwrap().len(), 0);
    // More updates than entries: the LRU evicts, the map stays full and consistent.
    maps.worker(2).run(Test::InnerLruHashPrealloc, 5000);
    let m = maps.array_of_lru_hashs(2).unwrap();
    assert!(m.len() <= MAX_ENTRIES as usize);
    m.check().unwrap();
    maps.teardown().unwrap();
    // MAX_ENTRIES sizes the inner maps (fixup_map).
    let maps = Maps::<ImmediateReuse>::new(
        &config(vec![Test::InnerLruHashPrealloc], 2, 64),
        Env::default(),
    )
    .unwrap();
    assert_eq!(maps.array_of_lru_hashs(1).unwrap().max_entries(), 64);
    maps.teardown().unwrap();
}

#[test]
fn one_event_of_each_test_does_what_the_program_does() {
    let tests = tests_from_flags(0).unwrap();
    let maps = Maps::<ImmediateReuse>::new(&config(tests, 1, 0), Env::default()).unwrap();
    let lookup_map = maps.lru_hash_lookup_map().unwrap();
    assert_eq!(
        lookup_map.len(),
        LRU_LOOKUP_TEST_ENTRIES as usize,
        "pre_test fill"
    );
    {
        let mut w = maps.worker(0);
        assert_eq!(w.pid(), PID_BASE);
        // The hash tests end every round with a delete of the worker's key.
        for t in [
            Test::HashPrealloc,
            Test::PercpuHashPrealloc,
            Test::HashKmalloc,
            Test::PercpuHashKmalloc,
        ] {
            w.event(t);
        }
        assert!(maps.hash_map().unwrap().is_empty());
        assert!(maps.percpu_hash_map().unwrap().is_empty());
        assert!(maps.hash_map_alloc().unwrap().is_empty());
        assert!(maps.percpu_hash_map_alloc().unwrap().is_empty());
        // One LRU event inserts one random key (no eviction in an empty 10000-entry map).
        for n in 1..=50 {
            w.event(Test::LruHashPrealloc);
            w.event(Test::NocommonLruHashPrealloc);
            assert_eq!(maps.lru_hash_map().unwrap().len(), n);
            assert_eq!(maps.nocommon_lru_hash_map().unwrap().len(), n);
        }
        // Lookups change nothing.
        for t in [Test::HashLookup, Test::ArrayLookup, Test::LruHashLookup] {
            w.run(t, 10);
        }
        assert!(maps.hash_map().unwrap().is_empty());
        assert_eq!(lookup_map.len(), LRU_LOOKUP_TEST_ENTRIES as usize);
    }
    for m in [
        maps.lru_hash_map().unwrap(),
        maps.nocommon_lru_hash_map().unwrap(),
        lookup_map,
    ] {
        m.check().unwrap();
    }
    maps.teardown().unwrap();
}

#[test]
fn hash_event_deletes_the_key_it_finds() {
    // With the worker's key already in the map, an event still leaves it empty: the first
    // update replaces it, the lookup finds it, the delete removes it.
    let maps = Maps::<ImmediateReuse>::new(&config(vec![Test::HashKmalloc], 1, 0), Env::default())
        .unwrap();
    let m = maps.hash_map_alloc().unwrap();
    {
        let mut spare = m.cpu(1);
        spare.update(PID_BASE, &[7], UpdateFlag::Any).unwrap();
        spare.update(PID_BASE + 1, &[7], UpdateFlag::Any).unwrap();
    }
    assert_eq!(m.len(), 2);
    maps.worker(0).event(Test::HashKmalloc);
    assert_eq!(m.len(), 1, "only worker 0's key goes");
    maps.teardown().unwrap();
}

struct AllTests;

impl FlavorVisitor for AllTests {
    type Output = ();
    fn visit<A: Allocator>(self) {
        const WORKERS: usize = 3;
        let cfg = Config {
            iterations: 300,
            ..config(tests_from_flags(0).unwrap(), WORKERS, 0)
        };
        let maps = Maps::<A>::new(&cfg, Env::default()).unwrap();
        let start = Barrier::new(WORKERS);
        thread::scope(|s| {
            for i in 0..WORKERS {
                let (maps, start, cfg) = (&maps, &start, &cfg);
                s.spawn(move || {
                    let mut w = maps.worker(i);
                    start.wait();
                    for &t in &cfg.tests {
                        w.run(t, cfg.iterations);
                    }
                });
            }
        });
        for m in [
            maps.hash_map().unwrap().len(),
            maps.percpu_hash_map().unwrap().len(),
            maps.hash_map_alloc().unwrap().len(),
            maps.percpu_hash_map_alloc().unwrap().len(),
        ] {
            assert_eq!(m, 0, "{}: a hash map kept elements", A::NAME);
        }
        let lru = maps.lru_hash_map().unwrap();
        lru.check().unwrap();
        assert_eq!(
            lru.len(),
            WORKERS * 300,
            "{}: random keys evicted early",
            A::NAME
        );
        maps.nocommon_lru_hash_map().unwrap().check().unwrap();
        maps.lru_hash_lookup_map().unwrap().check().unwrap();
        for i in 0..WORKERS {
            let inner = maps.array_of_lru_hashs(i).unwrap();
            inner.check().unwrap();
            assert_eq!(inner.len(), 300, "{}: worker {i}'s inner map", A::NAME);
        }
        assert_eq!(
            maps.lpm_trie_map_alloc().unwrap().check().unwrap().len(),
            distinct_fill().len(),
            "{}: lookups changed the trie",
            A::NAME
        );
        maps.teardown()
            .unwrap_or_else(|e| panic!("{}: {e}", A::NAME));
    }
}

#[test]
fn every_test_on_every_flavor_with_concurrent_workers() {
    for f in FLAVORS.iter().filter(|&&f| f != PREALLOC_NAME) {
        with_flavor(f, AllTests).unwrap();
    }
}
