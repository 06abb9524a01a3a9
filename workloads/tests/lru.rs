//! The LRU hash map against a model, its eviction order, both LRU layouts, and concurrency.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::thread;

use rcu::{Domain, DomainConfig};
use workloads::lru::{LruHTab, LOCAL_FREE_TARGET};
use workloads::{MapError, UpdateFlag};

mod common;
use common::Rng;

fn domain() -> Domain {
    Domain::new(DomainConfig::default())
}

fn present(map: &LruHTab, key: u32) -> Option<u64> {
    let h = map.cpu(0).rcu();
    let g = h.read_lock();
    map.lookup(&g, key).map(|e| {
        assert_eq!(e.key(), key);
        e.value()[0].load(Ordering::Relaxed)
    })
}

/// Random updates (all three flags), deletes and lookups on one CPU: every answer is the one
/// a map that may forget (evict) keys but never invents or corrupts one must give.
fn matches_model(percpu: bool, cpus: usize) {
    let rcu = domain();
    let map = LruHTab::new(rcu, 200, 8, cpus, percpu);
    let cap = map.max_entries() as usize;
    let mut model: HashMap<u32, u64> = HashMap::new();
    let mut rng = Rng(0x9e37_79b9);
    let mut evicted = 0;
    for step in 0..40_000u32 {
        let cpu = (rng.next() % cpus as u64) as usize;
        let mut m = map.cpu(cpu);
        let key = (rng.next() % 600) as u32;
        let here = present(&map, key);
        if let Some(v) = here {
            assert_eq!(
                model.get(&key),
                Some(&v),
                "key {key} holds a value never written"
            );
        } else if model.remove(&key).is_some() {
            evicted += 1;
        }
        match rng.next() % 4 {
            0 | 1 => {
                let flag = [UpdateFlag::Any, UpdateFlag::NoExist, UpdateFlag::Exist]
                    [(rng.next() % 3) as usize];
                let v = rng.next();
                let r = m.update(key, &[v], flag);
                // htab_lru_map_update_elem pops (and so may evict) before it looks the key
                // up, so an update can evict the very key it checks: NOEXIST then succeeds
                // and EXIST fails, as in the kernel.
                let allowed: &[Result<(), MapError>] = match (flag, here.is_some()) {
                    (UpdateFlag::NoExist, true) => &[Err(MapError::Eexist), Ok(())],
                    (UpdateFlag::Exist, true) => &[Ok(()), Err(MapError::Enoent)],
                    (UpdateFlag::Exist, false) => &[Err(MapError::Enoent)],
                    _ => &[Ok(())],
                };
                assert!(
                    allowed.contains(&r),
                    "step {step}: update {key} {flag:?}: {r:?}"
                );
                if r.is_ok() {
                    model.insert(key, v);
                    assert_eq!(
                        present(&map, key),
                        Some(v),
                        "a fresh update must be visible"
                    );
                } else if r == Err(MapError::Enoent) && here.is_some() {
                    model.remove(&key);
                    assert_eq!(present(&map, key), None);
                }
            }
            2 => {
                let expect = if here.is_some() {
                    Ok(())
                } else {
                    Err(MapError::Enoent)
                };
                assert_eq!(m.delete(key), expect, "step {step}: delete {key}");
                model.remove(&key);
                assert_eq!(present(&map, key), None);
            }
            _ => {}
        }
        assert!(map.len() <= cap, "{} elements in a map of {cap}", map.len());
        if step % 5000 == 0 {
            map.check().unwrap();
        }
    }
    map.check().unwrap();
    assert!(evicted > 0, "the model never saw an eviction");
    for key in 0..600 {
        if let Some(v) = present(&map, key) {
            assert_eq!(model.get(&key), Some(&v));
        }
    }
}

#[test]
fn common_lru_matches_model() {
    matches_model(false, 1);
    matches_model(false, 3);
}

#[test]
fn percpu_lru_matches_model() {
    matches_model(true, 1);
    matches_model(true, 3);
}

#[test]
fn capacity_is_respected_and_full_maps_evict() {
    for percpu in [false, true] {
        let map = LruHTab::new(domain(), 1000, 8, 2, percpu);
        let mut m = map.cpu(0);
        for key in 0..3000 {
            // An LRU update never fails for lack of room: it evicts.
            m.update(key, &[key as u64], UpdateFlag::Any).unwrap();
            assert!(map.len() <= 1000);
            assert_eq!(present(&map, key), Some(key as u64));
        }
        let survivors = (0..3000).filter(|&k| present(&map, k).is_some()).count();
        assert_eq!(survivors, map.len(), "percpu={percpu}");
        // Nodes parked on local free lists are not in the map, so it is never quite full;
        // with the per-CPU layout CPU 0 only ever has its own half.
        let floor = if percpu {
            500 - 4
        } else {
            1000 - LOCAL_FREE_TARGET as usize
        };
        assert!(
            map.len() >= floor,
            "percpu={percpu}: only {} left",
            map.len()
        );
        assert!(
            (0..500).all(|k| present(&map, k).is_none()),
            "the oldest keys must go first"
        );
        map.check().unwrap();
    }
}

#[test]
fn lookups_keep_keys_alive() {
    for percpu in [false, true] {
        let map = LruHTab::new(domain(), 1000, 8, 1, percpu);
        let mut m = map.cpu(0);
        for key in 0..1000 {
            m.update(key, &[0], UpdateFlag::Any).unwrap();
        }
        // Keys 300..350 are looked up after every insert; 350..400, inserted at the same
        // time, never are. 800 inserts evict more than every key of that age.
        let hot = 300..350;
        let cold = 350..400;
        for key in 1000..1800 {
            m.update(key, &[0], UpdateFlag::Any).unwrap();
            for k in hot.clone() {
                present(&map, k);
            }
        }
        let hot_alive = hot.filter(|&k| present(&map, k).is_some()).count();
        let cold_alive = cold.filter(|&k| present(&map, k).is_some()).count();
        assert_eq!(
            hot_alive, 50,
            "percpu={percpu}: recently used keys were evicted"
        );
        assert_eq!(
            cold_alive, 0,
            "percpu={percpu}: cold keys of the same age survived"
        );
        map.check().unwrap();
    }
}

#[test]
fn percpu_lru_evicts_only_the_churning_cpus_elements() {
    // CPU 1 inserts 40 keys, then CPU 0 churns through 500. With a per-CPU LRU each CPU
    // evicts from its own share, so CPU 1's keys survive; with the common LRU CPU 0 takes
    // them (from the global list, or by stealing CPU 1's pending ones).
    let run = |percpu: bool| {
        let map = LruHTab::new(domain(), 100, 8, 2, percpu);
        let mut c1 = map.cpu(1);
        for key in 10_000..10_040 {
            c1.update(key, &[1], UpdateFlag::Any).unwrap();
        }
        let mut c0 = map.cpu(0);
        for key in 0..500 {
            c0.update(key, &[0], UpdateFlag::Any).unwrap();
        }
        map.check().unwrap();
        (10_000..10_040)
            .filter(|&k| present(&map, k).is_some())
            .count()
    };
    assert_eq!(run(true), 40);
    assert!(
        run(false) < 40,
        "common LRU: CPU 0 never evicted CPU 1's keys"
    );
}

#[test]
fn percpu_lru_rounds_max_entries_to_the_cpus() {
    assert_eq!(LruHTab::new(domain(), 10, 8, 4, true).max_entries(), 12);
    assert_eq!(LruHTab::new(domain(), 1, 8, 4, true).max_entries(), 4);
    assert_eq!(LruHTab::new(domain(), 10, 8, 4, false).max_entries(), 10);
}

#[test]
fn replacing_update_frees_the_old_element() {
    let map = LruHTab::new(domain(), 64, 16, 1, false);
    let mut m = map.cpu(0);
    for round in 0..100u64 {
        m.update(7, &[round, round + 1], UpdateFlag::Any).unwrap();
        assert_eq!(map.len(), 1);
    }
    let h = m.rcu();
    let g = h.read_lock();
    let e = map.lookup(&g, 7).unwrap();
    assert_eq!(e.value()[0].load(Ordering::Relaxed), 99);
    assert_eq!(e.value()[1].load(Ordering::Relaxed), 100);
    drop(g);
    let c = map.check().unwrap();
    assert_eq!(c.active + c.inactive + c.pending, 1);
}

/// Threads on their own CPUs update, delete and look up overlapping keys; afterwards the
/// lists, buckets and count agree and every value belongs to its key.
fn stress(percpu: bool) {
    const THREADS: usize = 4;
    let map = LruHTab::new(domain(), 256, 8, THREADS, percpu);
    thread::scope(|s| {
        for t in 0..THREADS {
            let map = &map;
            s.spawn(move || {
                let mut m = map.cpu(t);
                let h = m.rcu();
                let mut rng = Rng(0x1234_5678 + t as u64);
                for _ in 0..20_000 {
                    let key = (rng.next() % 1024) as u32;
                    match rng.next() % 3 {
                        0 => {
                            let r =
                                m.update(key, &[key as u64 | (t as u64) << 32], UpdateFlag::Any);
                            // ENOMEM only if every element is in flight on other CPUs.
                            assert!(r.is_ok() || r == Err(MapError::Enomem));
                        }
                        1 => {
                            let _ = m.delete(key);
                        }
                        _ => {
                            let g = h.read_lock();
                            if let Some(e) = map.lookup(&g, key) {
                                std::hint::black_box(e.value()[0].load(Ordering::Relaxed));
                            }
                        }
                    }
                }
            });
        }
    });
    map.check().unwrap();
    assert!(map.len() <= 256);
    for key in 0..1024 {
        if let Some(v) = present(&map, key) {
            assert_eq!(v as u32, key, "key {key} holds another key's value");
        }
    }
}

#[test]
fn concurrent_stress_common() {
    stress(false);
}

#[test]
fn concurrent_stress_percpu() {
    stress(true);
}
