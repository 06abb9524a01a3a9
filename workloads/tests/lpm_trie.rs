//! The LPM trie against a reference longest-prefix match: single-threaded (every result and
//! errno, and the trie's invariants, after each operation), with concurrent readers beside a
//! writer (what readers find is always a prefix that contains the address and never shorter
//! than the longest prefix nobody deletes; under the grace-period flavors the node found still
//! carries the prefix it matched), and no leak with any flavor.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use allocators::{
    with_flavor, AllocConfig, Allocator, Env, FlavorVisitor, ImmediateReuse, FLAVORS,
};
use workloads::lpm_trie::{node_size, LpmKey, LpmTrie};
use workloads::{MapError, UpdateFlag};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn new_trie<A: Allocator>(max_entries: u32, cpus: usize) -> (LpmTrie<A>, Env) {
    let env = Env::default();
    let alloc = Arc::new(A::new(
        &AllocConfig::new(node_size(8), cpus, env.clone()).with_capacity(max_entries as usize),
    ));
    (LpmTrie::new(alloc, env.rcu.clone(), max_entries, 8), env)
}

/// The reference: the longest stored prefix, of at most `key`'s length, containing its bits.
fn reference(model: &BTreeMap<(u32, u32), u64>, key: &LpmKey) -> Option<(LpmKey, u64)> {
    (0..=key.prefixlen()).rev().find_map(|pl| {
        let k = LpmKey::new(pl, key.data()).unwrap().canonical();
        model.get(&(pl, k.addr())).map(|&v| (k, v))
    })
}

/// A random prefix from a small space (so that updates collide, nest and split), with the
/// bits past the prefix random too (the trie must ignore them).
fn random_key(rng: &mut Rng) -> LpmKey {
    let r = rng.next();
    let pl = (r % 33) as u32;
    // Few distinct leading patterns: the top 6 bits from 8 values.
    let addr = ((r >> 40) as u32 & 0x03ff_ffff) | (((r >> 8) % 8) as u32) << 26;
    LpmKey::new(pl, addr.to_be_bytes()).unwrap()
}

#[test]
fn matches_the_reference_single_threaded() {
    let (trie, env) = new_trie::<ImmediateReuse>(200, 1);
    let h = env.rcu.register();
    let mut model: BTreeMap<(u32, u32), u64> = BTreeMap::new();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut c = trie.cpu(0);
    for step in 0..20_000u64 {
        let k = random_key(&mut rng);
        let ck = k.canonical();
        let id = (ck.prefixlen(), ck.addr());
        let op = rng.next() % 10;
        if op < 5 {
            let flag = match rng.next() % 3 {
                0 => UpdateFlag::Any,
                1 => UpdateFlag::NoExist,
                _ => UpdateFlag::Exist,
            };
            let present = model.contains_key(&id);
            let expect = match (flag, present) {
                (UpdateFlag::NoExist, true) => Err(MapError::Eexist),
                (UpdateFlag::Exist, false) => Err(MapError::Enoent),
                (_, false) if model.len() == 200 => Err(MapError::E2big),
                _ => Ok(()),
            };
            assert_eq!(
                c.update(&k, &[step], flag),
                expect,
                "step {step}: update {k:?} {flag:?}"
            );
            if expect.is_ok() {
                model.insert(id, step);
            }
        } else if op < 8 {
            let expect = if model.remove(&id).is_some() {
                Ok(())
            } else {
                Err(MapError::Enoent)
            };
            assert_eq!(c.delete(&k), expect, "step {step}: delete {k:?}");
        }
        // Lookups of a few keys, of every length.
        let g = h.read_lock();
        for _ in 0..4 {
            let q = random_key(&mut rng);
            let got = trie.lookup(&g, &q).map(|e| {
                assert!(e.still_matches());
                (
                    e.matched().canonical(),
                    e.value()[0].load(Ordering::Relaxed),
                )
            });
            assert_eq!(got, reference(&model, &q), "step {step}: lookup {q:?}");
        }
        drop(g);
        if step % 500 == 0 {
            let mut stored = trie.check().unwrap();
            stored.sort_by_key(|k| (k.prefixlen(), k.addr()));
            let want: Vec<LpmKey> = model
                .keys()
                .map(|&(pl, a)| LpmKey::new(pl, a.to_be_bytes()).unwrap())
                .collect();
            assert_eq!(stored, want, "step {step}");
        }
    }
    assert_eq!(trie.len(), model.len());
    c.clear();
    assert!(trie.is_empty());
    drop(c);
    let alloc = trie.allocator().clone();
    drop(trie);
    assert_eq!(alloc.drain().leaked, 0);
}

/// A writer updates and deletes random prefixes while readers look up addresses: every
/// answer contains the address and is at least as long as the longest stable prefix (inserted
/// before and never deleted) that contains it.
struct Concurrent;

impl FlavorVisitor for Concurrent {
    type Output = ();
    fn visit<A: Allocator>(self) {
        const READERS: usize = 2;
        let (trie, env) = new_trie::<A>(10_000, READERS + 2);
        let stable: Vec<LpmKey> = (0..64u32)
            .map(|i| LpmKey::new(8 + i % 9, (i.wrapping_mul(0x9e37_79b9)).to_be_bytes()).unwrap())
            .collect();
        {
            let mut c = trie.cpu(READERS + 1);
            for k in &stable {
                c.update(k, &[1], UpdateFlag::Any).unwrap();
            }
        }
        let stop = AtomicBool::new(false);
        let (lookups, stale, wrong) = (AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0));
        thread::scope(|s| {
            for r in 0..READERS {
                let (trie, env, stable, stop) = (&trie, &env, &stable, &stop);
                let (lookups, stale, wrong) = (&lookups, &stale, &wrong);
                s.spawn(move || {
                    let h = env.rcu.register();
                    let mut rng = Rng(0x1234_5678 + r as u64);
                    let (mut n, mut st, mut bad) = (0, 0, 0);
                    while !stop.load(Ordering::Relaxed) {
                        let g = h.read_lock();
                        for _ in 0..64 {
                            let base = stable[(rng.next() % 64) as usize];
                            let addr = base.addr() ^ ((rng.next() as u32) >> base.prefixlen());
                            let floor = stable
                                .iter()
                                .filter(|k| k.contains(addr))
                                .map(|k| k.prefixlen())
                                .max()
                                .unwrap();
                            n += 1;
                            match trie.lookup(&g, &LpmKey::host(addr)) {
                                Some(e) => {
                                    let m = e.matched();
                                    if !e.still_matches() {
                                        st += 1;
                                    } else if !m.contains(addr) || m.prefixlen() < floor {
                                        bad += 1;
                                    }
                                }
                                None => bad += 1,
                            }
                        }
                        drop(g);
                        h.quiescent();
                    }
                    lookups.fetch_add(n, Ordering::Relaxed);
                    stale.fetch_add(st, Ordering::Relaxed);
                    wrong.fetch_add(bad, Ordering::Relaxed);
                });
            }
            let (trie, stable, stop) = (&trie, &stable, &stop);
            s.spawn(move || {
                let mut c = trie.cpu(READERS);
                let mut rng = Rng(0xdead_beef);
                while !stop.load(Ordering::Relaxed) {
                    for _ in 0..64 {
                        let mut k = random_key(&mut rng);
                        if stable.iter().any(|s| s.canonical() == k.canonical()) {
                            k = LpmKey::host(k.addr() | 1);
                            if stable.contains(&k) {
                                continue;
                            }
                        }
                        if rng.next().is_multiple_of(2) {
                            let _ = c.update(&k, &[2], UpdateFlag::Any);
                        } else {
                            let _ = c.delete(&k);
                        }
                    }
                }
            });
            thread::sleep(Duration::from_millis(200));
            stop.store(true, Ordering::Relaxed);
        });
        let (n, st, bad) = (
            lookups.load(Ordering::Relaxed),
            stale.load(Ordering::Relaxed),
            wrong.load(Ordering::Relaxed),
        );
        assert!(n > 0, "{}: no lookups", A::NAME);
        if A::REUSE_AFTER_GP {
            assert_eq!(
                st,
                0,
                "{}: {st} of {n} lookups returned a reused node",
                A::NAME
            );
            assert_eq!(bad, 0, "{}: {bad} of {n} wrong answers", A::NAME);
        }
        let stored = trie.check().unwrap();
        for k in &stable {
            assert!(stored.contains(&k.canonical()), "{}: lost {k:?}", A::NAME);
        }
        trie.cpu(READERS + 1).clear();
        let alloc = trie.allocator().clone();
        drop(trie);
        assert_eq!(alloc.drain().leaked, 0, "{}", A::NAME);
    }
}

#[test]
fn concurrent_readers_beside_a_writer_with_every_flavor() {
    for f in FLAVORS {
        with_flavor(f, Concurrent).unwrap();
    }
}

/// Fill, churn and clear: every node goes back, with every flavor.
struct NoLeak;

impl FlavorVisitor for NoLeak {
    type Output = ();
    fn visit<A: Allocator>(self) {
        let (trie, _env) = new_trie::<A>(5000, 2);
        let mut rng = Rng(42);
        {
            let mut c = trie.cpu(0);
            for _ in 0..3000 {
                let k = random_key(&mut rng);
                let _ = c.update(&k, &[1], UpdateFlag::Any);
            }
            for _ in 0..3000 {
                let k = random_key(&mut rng);
                if rng.next().is_multiple_of(2) {
                    let _ = c.delete(&k);
                } else {
                    let _ = c.update(&k, &[3], UpdateFlag::Any);
                }
            }
            trie.check().unwrap();
        }
        let n = trie.cpu(1).clear();
        assert!(n > 0);
        assert!(trie.is_empty());
        let alloc = trie.allocator().clone();
        drop(trie);
        let s = alloc.drain();
        assert_eq!(s.leaked, 0, "{}: {s:?}", A::NAME);
    }
}

#[test]
fn no_leaks_with_every_flavor() {
    for f in FLAVORS {
        with_flavor(f, NoLeak).unwrap();
    }
}
