//! `lpm_update_delete`: the flavors on a second map shape, the LPM trie of
//! kernel/bpf/lpm_trie.c. Each loop (one program run, one read-side section) does 64
//! operations on a pool of 512 random prefixes (lengths 8..=32): an update (BPF_ANY) or a
//! delete of a random pool prefix, alternating, each followed by a longest-prefix-match
//! lookup of a random address inside a random pool prefix. Every producer writes and reads, so
//! updates and deletes always run beside lookups.
//!
//! The trie takes its nodes from the run's allocator, the one the hash map was given (which
//! stays empty), so the run's memory, allocator counters, memory model and leak check are the
//! trie's. A node must then fit the allocator's object, `elem_size(--value-size)`: the trie's
//! value is what that leaves after the node's 24-byte head (`--value-size` rounded up to 8,
//! minus 8: none at the default 8; the kernel's trie requires a value of at least one byte).
//!
//! The stale-read check, as `lookup_verify`'s: the node a lookup returns must still carry the
//! prefix the walk matched, and that prefix must contain the address; when the node has a
//! value, every word holds the prefix's stamp. A flavor that reuses only after a grace period
//! never fails it.
//!
//! The harness drains the allocator right after the producers stop, with no hook for a use
//! case's own map, so `stop` empties the trie: it waits for the loops in flight, then frees
//! every node through a cache of the setup CPU (index = producers), as trie_free does.
//!
//! A peer map cannot run it (`PEERS = false`): it is a trie of an allocator flavor, not a
//! hash map's operations.

use std::any::Any;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use allocators::Allocator;
use crossbeam_utils::CachePadded;

use super::{Producer, UseCase, OP_BATCH};
use crate::cpu_gate::Seat;
use crate::htab::{elem_size, MapCpu, MapError, UpdateFlag};
use crate::producer_map::{HtabVisitor, ProducerMap};
use crate::lpm_trie::{LpmKey, LpmTrie, NODE_HEAD};

/// Prefixes the producers update and delete.
pub const POOL: usize = 512;
/// The trie's max_entries: the pool fits.
const MAX_ENTRIES: u32 = 2 * POOL as u32;

/// The trie of one run and how to empty it, without naming the flavor.
struct Shared {
    /// An `Arc<LpmTrie<A>>`.
    trie: Box<dyn Any + Send + Sync>,
    /// Frees every node through a cache of the given CPU; returns the nodes freed.
    clear: Box<dyn Fn(usize) -> usize + Send + Sync>,
}

pub struct LpmUpdateDelete {
    producers: usize,
    pool: Box<[LpmKey]>,
    shared: OnceLock<Shared>,
    stopped: AtomicBool,
    in_flight: AtomicUsize,
    /// Per producer (owner-written): random state, lookups that found a prefix, failures.
    rng: Box<[CachePadded<AtomicU64>]>,
    lookups: Box<[CachePadded<AtomicU64>]>,
    incorrect: Box<[CachePadded<AtomicU64>]>,
}

fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The value words a prefix's node holds.
fn stamp(k: &LpmKey) -> u64 {
    (k.prefixlen() as u64) << 32 | k.addr() as u64
}

/// An address inside prefix `k`: its bits, then `host`'s.
fn inside(k: &LpmKey, host: u32) -> u32 {
    let net = u32::MAX.checked_shl(32 - k.prefixlen()).unwrap_or(0);
    (k.addr() & net) | (host & !net)
}

/// The pool: 512 prefixes of lengths 8..=32, fixed so that runs compare.
pub fn pool() -> Vec<LpmKey> {
    (0..POOL as u64)
        .map(|i| {
            let r = splitmix(i ^ 0x1b_9a_0c);
            let pl = 8 + (r % 25) as u32;
            let addr = ((r >> 32) as u32).to_be_bytes();
            LpmKey::new(pl, addr).expect("prefixlen <= 32").canonical()
        })
        .collect()
}

impl LpmUpdateDelete {
    /// The run's trie, made by the first loop from the map's allocator.
    fn trie<A: Allocator>(&self, map: &MapCpu<'_, A>, value_words: usize) -> &LpmTrie<A> {
        let shared = self.shared.get_or_init(|| {
            let alloc = map.map().allocator().clone();
            // The allocator's objects are elem_size(value bytes); the node's head is 24.
            let value_size = elem_size(value_words * 8) - NODE_HEAD;
            let trie = Arc::new(LpmTrie::new(
                alloc,
                map.rcu_handle().domain().clone(),
                MAX_ENTRIES,
                value_size,
            ));
            let t = trie.clone();
            Shared {
                trie: Box::new(trie),
                clear: Box::new(move |cpu| t.cpu(cpu).clear()),
            }
        });
        shared
            .trie
            .downcast_ref::<Arc<LpmTrie<A>>>()
            .expect("one flavor per run")
    }

    fn next(&self, idx: usize) -> u64 {
        let s = &self.rng[idx];
        let v = splitmix(s.load(Ordering::Relaxed));
        s.store(v, Ordering::Relaxed);
        v
    }
}

/// One loop's producer fields, for the loop on the flavor's hash table handle.
struct Loop<'a> {
    uc: &'a LpmUpdateDelete,
    idx: usize,
    gate: Option<Seat<'a>>,
    value: &'a [u64],
}

impl HtabVisitor for Loop<'_> {
    type Output = u64;
    fn visit<A: Allocator>(self, map: &mut MapCpu<'_, A>) -> u64 {
        self.uc.htab_loop(self, map)
    }
}

impl LpmUpdateDelete {
    fn htab_loop<A: Allocator>(&self, l: Loop<'_>, map: &mut MapCpu<'_, A>) -> u64 {
        // Against `stop`: it raises `stopped`, then waits for the loops in flight.
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        if self.stopped.load(Ordering::SeqCst) {
            self.in_flight.fetch_sub(1, Ordering::SeqCst);
            return 0;
        }
        let trie = self.trie(map, l.value.len());
        let rcu = map.rcu();
        let g = super::section::<MapCpu<'_, A>>(l.gate, &rcu);
        let mut t = trie
            .with_map_cache(map)
            .expect("the trie shares the map's allocator");
        let mut value = l.value.to_vec();
        let (mut found, mut bad, mut enomem) = (0u64, 0u64, 0u64);
        for j in 0..OP_BATCH {
            let r = self.next(l.idx);
            let k = &self.pool[(r % POOL as u64) as usize];
            // Errors are ignored, as the BPF program ignores them; ENOMEM is counted, as the
            // hash table's updates are (a memory limit or injected failures).
            if j % 2 == 0 {
                value.iter_mut().for_each(|w| *w = stamp(k));
                enomem += u64::from(t.update(k, &value, UpdateFlag::Any) == Err(MapError::Enomem));
            } else {
                let _ = t.delete(k);
            }
            let q = &self.pool[((r >> 16) % POOL as u64) as usize];
            let addr = inside(q, (r >> 32) as u32);
            if let Some(e) = trie.lookup(&g, &LpmKey::host(addr)) {
                found += 1;
                let m = e.matched();
                let consistent = e.still_matches()
                    && m.contains(addr)
                    && e.value().iter().all(|w| w.load(Ordering::Relaxed) == stamp(&m));
                if !consistent {
                    bad += 1;
                }
            }
        }
        drop(g);
        map.add_failed_updates(enomem);
        let n = &self.lookups[l.idx];
        n.store(n.load(Ordering::Relaxed) + found, Ordering::Relaxed);
        let inc = &self.incorrect[l.idx];
        inc.store(inc.load(Ordering::Relaxed) + bad, Ordering::Relaxed);
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        1
    }

}

impl UseCase for LpmUpdateDelete {
    const NAME: &'static str = "lpm_update_delete";

    fn new(producers: usize) -> Result<Self, String> {
        let per = |f: &dyn Fn(usize) -> u64| {
            (0..producers)
                .map(|i| CachePadded::new(AtomicU64::new(f(i))))
                .collect()
        };
        Ok(LpmUpdateDelete {
            producers,
            pool: pool().into(),
            shared: OnceLock::new(),
            stopped: AtomicBool::new(false),
            in_flight: AtomicUsize::new(0),
            rng: per(&|i| i as u64 + 1),
            lookups: per(&|_| 0),
            incorrect: per(&|_| 0),
        })
    }

    const PEERS: bool = false;

    fn run_loop<M: ProducerMap>(&self, p: &mut Producer<'_, M>) -> u64 {
        let l = Loop {
            uc: self,
            idx: p.idx,
            gate: p.gate,
            value: &p.value,
        };
        // A peer map has no flavor to build the trie from; the harness never runs one here.
        p.map.visit_htab(l).unwrap_or(0)
    }

    fn stop(&self) {
        if self.stopped.swap(true, Ordering::SeqCst) {
            return;
        }
        while self.in_flight.load(Ordering::SeqCst) != 0 {
            std::thread::yield_now();
        }
        if let Some(s) = self.shared.get() {
            (s.clear)(self.producers);
        }
    }

    fn verify(&self) -> Option<(u64, u64)> {
        let sum = |v: &[CachePadded<AtomicU64>]| v.iter().map(|c| c.load(Ordering::Relaxed)).sum();
        Some((sum(&self.lookups), sum(&self.incorrect)))
    }
}
