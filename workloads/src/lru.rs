//! BPF_MAP_TYPE_LRU_HASH: the hash table of kernel/bpf/hashtab.c over preallocated elements
//! that the LRU lists of bpf_lru_list.c (`lru/list.rs`) recycle.
//!
//! All max_entries elements exist from the start; an update never fails for lack of room: it
//! pops a free element, and when there is none the LRU evicts the least recently used ones
//! (unlinking them from their buckets). A lookup sets the element's ref bit, which is what
//! keeps it from being evicted at the next rotation. Reuse is immediate, as in the kernel: a
//! lock-free reader may stand on an element that is evicted and relinked for another key
//! meanwhile, so lookups check the key and restart a walk that ends in another bucket.
//!
//! With `no_common_lru` (BPF_F_NO_COMMON_LRU) each CPU has its own LRU of an equal share of
//! the elements and evicts only from it.

mod list;

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use parking_lot::Mutex;
use rcu::{Domain, ReadGuard, ThreadHandle};

pub use list::{Lru, LruCounts, LruOwner, LOCAL_FREE_TARGET, PERCPU_FREE_TARGET};

use crate::hash::hash_u32;
use crate::htab::{MapError, UpdateFlag};
use crate::percpu_counter::PercpuCounter;

/// Links are `idx << 1` for an element and `(bucket << 1) | 1` for a bucket's nulls marker.
#[inline]
fn nulls(bucket: usize) -> u32 {
    ((bucket as u32) << 1) | 1
}

struct Bucket {
    lock: Mutex<()>,
    head: AtomicU32,
}

/// The hash-table side of an element; its LRU node is `Lru`'s node of the same index.
struct Elem {
    hnext: AtomicU32,
    hash: AtomicU32,
    key: AtomicU32,
}

/// The map. Per-thread updates go through an [`LruCpu`].
pub struct LruHTab {
    buckets: Box<[Bucket]>,
    mask: usize,
    seed: u32,
    elems: Box<[Elem]>,
    values: Box<[AtomicU64]>,
    value_words: usize,
    lru: Lru,
    count: PercpuCounter,
    rcu: Domain,
}

impl LruHTab {
    /// An LRU map of `max_entries` elements (rounded to a multiple of `nr_cpus` with
    /// `no_common_lru`, as htab_map_alloc does) with `value_size`-byte values, for CPUs
    /// `0..nr_cpus`; lookups are protected by `rcu`.
    pub fn new(
        rcu: Domain,
        max_entries: u32,
        value_size: usize,
        nr_cpus: usize,
        no_common_lru: bool,
    ) -> LruHTab {
        let nr_cpus = nr_cpus.max(1);
        let mut n = max_entries.max(1);
        if no_common_lru {
            let c = nr_cpus as u32;
            n = n.checked_next_multiple_of(c).unwrap_or(n / c * c).max(c);
        }
        assert!(n < 1 << 31, "max_entries {n} too large");
        let nb = (n as usize).next_power_of_two();
        let value_words = value_size.div_ceil(8);
        LruHTab {
            buckets: (0..nb)
                .map(|i| Bucket {
                    lock: Mutex::new(()),
                    head: AtomicU32::new(nulls(i)),
                })
                .collect(),
            mask: nb - 1,
            seed: 0x5bd1_e995,
            elems: (0..n)
                .map(|_| Elem {
                    hnext: AtomicU32::new(1),
                    hash: AtomicU32::new(0),
                    key: AtomicU32::new(0),
                })
                .collect(),
            values: (0..n as usize * value_words)
                .map(|_| AtomicU64::new(0))
                .collect(),
            value_words,
            lru: Lru::new(n, nr_cpus, no_common_lru),
            count: PercpuCounter::new(nr_cpus),
            rcu,
        }
    }

    /// Elements in the map, after rounding.
    pub fn max_entries(&self) -> u32 {
        self.lru.nr_elems()
    }

    /// Elements linked in the map (exact sum of the per-CPU counts).
    pub fn len(&self) -> usize {
        self.count.sum().max(0) as usize
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn lru(&self) -> &Lru {
        &self.lru
    }

    /// CPU `cpu`'s handle (and the calling thread's RCU registration).
    pub fn cpu(&self, cpu: usize) -> LruCpu<'_> {
        LruCpu {
            map: self,
            cpu,
            rcu: self.rcu.register(),
        }
    }

    #[inline]
    fn bucket_of(&self, hash: u32) -> usize {
        hash as usize & self.mask
    }

    /// htab_lru_map_lookup_elem: lock-free inside a read-side section; a hit sets the ref bit.
    /// The element may be evicted and reused for another key while the caller looks at it.
    #[inline]
    pub fn lookup<'g>(&'g self, guard: &'g ReadGuard<'_>, key: u32) -> Option<LruElemRef<'g>> {
        // A section of another domain would not hold back this map's reclamation: the
        // element found could be freed under the caller, from safe code.
        assert!(
            guard.domain().same_as(&self.rcu),
            "lookup under a read guard of RCU domain '{}', not this map's",
            guard.domain().name()
        );
        let hash = hash_u32(key, self.seed);
        let bi = self.bucket_of(hash);
        let b = &self.buckets[bi];
        'again: loop {
            let mut p = b.head.load(Ordering::Acquire);
            while p & 1 == 0 {
                let i = p >> 1;
                let e = &self.elems[i as usize];
                if e.hash.load(Ordering::Relaxed) == hash && e.key.load(Ordering::Relaxed) == key {
                    self.lru.set_ref(i);
                    return Some(LruElemRef { map: self, idx: i });
                }
                p = e.hnext.load(Ordering::Acquire);
            }
            if p != nulls(bi) {
                // Carried into another bucket by an element reused meanwhile.
                continue 'again;
            }
            return None;
        }
    }

    /// The element of `key` in a bucket whose lock the caller holds.
    fn find_locked(&self, b: &Bucket, hash: u32, key: u32) -> Option<u32> {
        let mut p = b.head.load(Ordering::Relaxed);
        while p & 1 == 0 {
            let e = &self.elems[(p >> 1) as usize];
            if e.hash.load(Ordering::Relaxed) == hash && e.key.load(Ordering::Relaxed) == key {
                return Some(p >> 1);
            }
            p = e.hnext.load(Ordering::Relaxed);
        }
        None
    }

    /// hlist_nulls_del_rcu under the bucket lock; false if `idx` is not in `b`. The element
    /// keeps its `hnext`, so readers standing on it go on.
    fn unlink_locked(&self, b: &Bucket, idx: u32) -> bool {
        let target = idx << 1;
        let after = self.elems[idx as usize].hnext.load(Ordering::Relaxed);
        if b.head.load(Ordering::Relaxed) == target {
            b.head.store(after, Ordering::Release);
            return true;
        }
        let mut p = b.head.load(Ordering::Relaxed);
        while p & 1 == 0 {
            let e = &self.elems[(p >> 1) as usize];
            let n = e.hnext.load(Ordering::Relaxed);
            if n == target {
                e.hnext.store(after, Ordering::Release);
                return true;
            }
            p = n;
        }
        false
    }

    /// htab_lru_push_free.
    fn push_free(&self, cpu: usize, idx: u32) {
        self.count.add(cpu, -1);
        self.lru.push_free(idx);
    }

    fn value_of(&self, idx: u32) -> &[AtomicU64] {
        let w = self.value_words;
        &self.values[idx as usize * w..(idx as usize + 1) * w]
    }

    /// Checks the LRU lists, the buckets and the count against each other: every linked
    /// element is in use on an LRU list, in the bucket of its hash, once; every element in
    /// use is linked. Call with no concurrent updates.
    pub fn check(&self) -> Result<LruCounts, String> {
        let counts = self.lru.check()?;
        let mut seen = vec![false; self.elems.len()];
        let mut linked = 0usize;
        for (bi, b) in self.buckets.iter().enumerate() {
            let _g = b.lock.lock();
            let mut p = b.head.load(Ordering::Relaxed);
            while p & 1 == 0 {
                let i = p >> 1;
                let e = &self.elems[i as usize];
                if self.bucket_of(e.hash.load(Ordering::Relaxed)) != bi {
                    return Err(format!("element {i} is linked in the wrong bucket {bi}"));
                }
                if std::mem::replace(&mut seen[i as usize], true) {
                    return Err(format!("element {i} is linked twice"));
                }
                if !self.lru.in_use(i) {
                    return Err(format!("element {i} is linked but on a free list"));
                }
                linked += 1;
                p = e.hnext.load(Ordering::Relaxed);
            }
            if p != nulls(bi) {
                return Err(format!("bucket {bi} ends on a foreign nulls marker"));
            }
        }
        if linked != self.len() {
            return Err(format!(
                "{linked} elements linked, count says {}",
                self.len()
            ));
        }
        let in_use = (counts.active + counts.inactive + counts.pending) as usize;
        if in_use != linked {
            return Err(format!("{in_use} elements in use, {linked} linked"));
        }
        Ok(counts)
    }
}

impl LruOwner for LruHTab {
    /// htab_lru_map_delete_node.
    fn del_from_htab(&self, cpu: usize, idx: u32) -> bool {
        let hash = self.elems[idx as usize].hash.load(Ordering::Relaxed);
        let b = &self.buckets[self.bucket_of(hash)];
        let g = b.lock.lock();
        let found = self.unlink_locked(b, idx);
        drop(g);
        if found {
            self.count.add(cpu, -1);
        }
        found
    }

    fn set_hash(&self, idx: u32, hash: u32) {
        self.elems[idx as usize].hash.store(hash, Ordering::Relaxed);
    }
}

/// One CPU's access to an [`LruHTab`].
pub struct LruCpu<'m> {
    map: &'m LruHTab,
    cpu: usize,
    rcu: ThreadHandle,
}

impl<'m> LruCpu<'m> {
    pub fn map(&self) -> &'m LruHTab {
        self.map
    }

    /// This thread's RCU registration, for the read locks lookups need.
    pub fn rcu(&self) -> ThreadHandle {
        self.rcu.clone()
    }

    /// htab_lru_map_update_elem: pop a free element (evicting if need be), fill it, link it
    /// before unlinking the element it replaces, then give the replaced one back.
    pub fn update(&mut self, key: u32, value: &[u64], flag: UpdateFlag) -> Result<(), MapError> {
        let map = self.map;
        let hash = hash_u32(key, map.seed);
        let new = map
            .lru
            .pop_free(self.cpu, hash, map)
            .ok_or(MapError::Enomem)?;
        map.count.add(self.cpu, 1);
        map.elems[new as usize].key.store(key, Ordering::Relaxed);
        for (i, w) in map.value_of(new).iter().enumerate() {
            w.store(value.get(i).copied().unwrap_or(0), Ordering::Relaxed);
        }
        let b = &map.buckets[map.bucket_of(hash)];
        let g = b.lock.lock();
        let old = map.find_locked(b, hash, key);
        let check = match (flag, old) {
            (UpdateFlag::NoExist, Some(_)) => Err(MapError::Eexist),
            (UpdateFlag::Exist, None) => Err(MapError::Enoent),
            _ => Ok(()),
        };
        if check.is_ok() {
            map.elems[new as usize]
                .hnext
                .store(b.head.load(Ordering::Relaxed), Ordering::Relaxed);
            b.head.store(new << 1, Ordering::Release);
            if let Some(old) = old {
                map.lru.set_ref(new);
                map.unlink_locked(b, old);
            }
        }
        drop(g);
        match (check, old) {
            (Err(e), _) => {
                map.push_free(self.cpu, new);
                Err(e)
            }
            (Ok(()), Some(old)) => {
                map.push_free(self.cpu, old);
                Ok(())
            }
            (Ok(()), None) => Ok(()),
        }
    }

    /// htab_lru_map_delete_elem.
    pub fn delete(&mut self, key: u32) -> Result<(), MapError> {
        let map = self.map;
        let hash = hash_u32(key, map.seed);
        let b = &map.buckets[map.bucket_of(hash)];
        let g = b.lock.lock();
        let found = map.find_locked(b, hash, key);
        if let Some(i) = found {
            map.unlink_locked(b, i);
        }
        drop(g);
        let i = found.ok_or(MapError::Enoent)?;
        map.push_free(self.cpu, i);
        Ok(())
    }
}

/// An element found by a lookup, valid for the read-side section.
pub struct LruElemRef<'g> {
    map: &'g LruHTab,
    idx: u32,
}

impl LruElemRef<'_> {
    /// The key the element holds *now* (it may have been evicted and reused since).
    pub fn key(&self) -> u32 {
        self.map.elems[self.idx as usize]
            .key
            .load(Ordering::Relaxed)
    }

    pub fn value(&self) -> &[AtomicU64] {
        self.map.value_of(self.idx)
    }
}
