//! The RCU hash table of kernel/bpf/hashtab.c (non-preallocated flavour).
//!
//! Buckets are nulls-terminated lists, each with a lock for writers. Lookups walk a bucket
//! without locks inside an RCU read-side section; because the allocator may reuse an element
//! for another key (and another bucket) while a reader stands on it, a walk that ends on the
//! nulls marker of a different bucket restarts. An update links the new element at the bucket
//! head *before* unlinking the old one, so a concurrent lookup always finds one of them; the
//! old element is freed through the allocator after the bucket is unlocked.

use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use allocators::{Allocator, Cache};
use parking_lot::lock_api::RawMutex as _;
use parking_lot::RawMutex;
use rcu::{Domain, ReadGuard, ThreadHandle};

use crate::hash::hash_u32;
use crate::percpu_counter::PercpuCounter;

/// BPF_ANY, BPF_NOEXIST, BPF_EXIST.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UpdateFlag {
    Any,
    NoExist,
    Exist,
}

impl UpdateFlag {
    /// The kernel's rule for an update of a key that `exists` or not: NOEXIST on an existing
    /// key is EEXIST, EXIST on a missing one ENOENT.
    #[inline]
    pub fn check(self, exists: bool) -> Result<(), MapError> {
        match (self, exists) {
            (UpdateFlag::NoExist, true) => Err(MapError::Eexist),
            (UpdateFlag::Exist, false) => Err(MapError::Enoent),
            _ => Ok(()),
        }
    }
}

/// The errno an operation fails with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapError {
    /// The map holds max_entries elements.
    E2big,
    /// The allocator had nothing to give.
    Enomem,
    /// NOEXIST on an existing key.
    Eexist,
    /// EXIST, or delete, on a missing key.
    Enoent,
}

/// Head of an element; the value follows as 8-byte words. Fields are atomics because an
/// immediately-reused element is rewritten while lock-free readers may be reading it.
#[repr(C)]
struct ElemHead {
    /// Next element, or a nulls marker `(bucket << 1) | 1`.
    next: AtomicUsize,
    hash: AtomicU32,
    key: AtomicU32,
}

const ELEM_HEAD: usize = std::mem::size_of::<ElemHead>();

#[inline]
fn nulls(bucket: usize) -> usize {
    (bucket << 1) | 1
}

#[repr(C)]
struct Bucket {
    lock: RawMutex,
    head: AtomicUsize,
}

/// The map. Per-thread operations go through a [`MapCpu`].
pub struct HTab<A: Allocator> {
    buckets: Box<[Bucket]>,
    mask: usize,
    max_entries: u32,
    value_words: usize,
    seed: u32,
    count: PercpuCounter,
    alloc: Arc<A>,
    rcu: Domain,
}

/// Bytes of map payload per element (head, 4-byte key included, value rounded to 8).
pub fn elem_size(value_size: usize) -> usize {
    ELEM_HEAD + value_size.div_ceil(8) * 8
}

impl<A: Allocator> HTab<A> {
    /// A map of `max_entries` elements whose values are `value_size` bytes, allocating
    /// elements from `alloc` (whose objects must be `elem_size(value_size)` bytes) on
    /// `nr_cpus` CPUs; lookups are protected by `rcu`.
    pub fn new(
        alloc: Arc<A>,
        rcu: Domain,
        max_entries: u32,
        value_size: usize,
        nr_cpus: usize,
    ) -> Self {
        let n = (max_entries.max(1) as usize).next_power_of_two();
        HTab {
            buckets: (0..n)
                .map(|i| Bucket {
                    lock: RawMutex::INIT,
                    head: AtomicUsize::new(nulls(i)),
                })
                .collect(),
            mask: n - 1,
            max_entries,
            value_words: value_size.div_ceil(8),
            // Fixed, so runs are comparable; the kernel's is random per map.
            seed: 0x5bd1_e995,
            count: PercpuCounter::new(nr_cpus),
            alloc,
            rcu,
        }
    }

    pub fn allocator(&self) -> &Arc<A> {
        &self.alloc
    }

    /// Elements in the map (exact sum of the per-CPU counts).
    pub fn len(&self) -> usize {
        self.count.sum().max(0) as usize
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn nr_buckets(&self) -> usize {
        self.buckets.len()
    }

    /// The handle CPU `cpu` operates through: its allocator cache and RCU registration.
    pub fn cpu(&self, cpu: usize) -> MapCpu<'_, A> {
        let cache = self.alloc.cache(cpu);
        MapCpu {
            map: self,
            cache,
            cpu,
            rcu: self.rcu.register(),
            enomem: 0,
        }
    }

    #[inline]
    fn bucket_of(&self, hash: u32) -> usize {
        hash as usize & self.mask
    }

    /// Lock-free lookup inside a read-side section. With immediate reuse the element found
    /// may be recycled for another key while the caller looks at it; check `ElemRef::key`.
    #[inline]
    pub fn lookup<'g>(&self, guard: &'g ReadGuard<'_>, key: u32) -> Option<ElemRef<'g>> {
        // A section of another domain would not hold back this map's reclamation: the
        // element found could be freed under the caller, from safe code.
        assert!(
            guard.domain().same_as(&self.rcu),
            "lookup under a read guard of RCU domain '{}', not this map's",
            guard.domain().name()
        );
        let hash = hash_u32(key, self.seed);
        let idx = self.bucket_of(hash);
        let b = &self.buckets[idx];
        'again: loop {
            let mut p = b.head.load(Ordering::Acquire);
            while p & 1 == 0 {
                // SAFETY: elements reachable from a bucket inside a read-side section are
                // not returned to the system before the section ends (every flavor frees
                // to the slab only after an RCU grace period), though they may be reused.
                let e = unsafe { &*(p as *const ElemHead) };
                if e.hash.load(Ordering::Relaxed) == hash && e.key.load(Ordering::Relaxed) == key {
                    return Some(ElemRef {
                        head: e,
                        words: self.value_words,
                    });
                }
                p = e.next.load(Ordering::Acquire);
            }
            if p != nulls(idx) {
                // The walk was carried into another bucket by a reused element.
                continue 'again;
            }
            return None;
        }
    }

    /// Finds `key` in a locked bucket.
    fn find_locked(&self, b: &Bucket, hash: u32, key: u32) -> Option<NonNull<ElemHead>> {
        let mut p = b.head.load(Ordering::Relaxed);
        while p & 1 == 0 {
            // SAFETY: under the bucket lock, linked elements are live.
            let e = unsafe { &*(p as *const ElemHead) };
            if e.hash.load(Ordering::Relaxed) == hash && e.key.load(Ordering::Relaxed) == key {
                return NonNull::new(p as *mut ElemHead);
            }
            p = e.next.load(Ordering::Relaxed);
        }
        None
    }

    /// hlist_nulls_del_rcu: the element keeps its `next`, so readers standing on it go on.
    fn unlink_locked(&self, b: &Bucket, victim: NonNull<ElemHead>) {
        let v = victim.as_ptr() as usize;
        // SAFETY: victim is linked in b, which we hold locked.
        let after = unsafe { (*victim.as_ptr()).next.load(Ordering::Relaxed) };
        if b.head.load(Ordering::Relaxed) == v {
            b.head.store(after, Ordering::Release);
            return;
        }
        let mut p = b.head.load(Ordering::Relaxed);
        while p & 1 == 0 {
            // SAFETY: as in find_locked.
            let e = unsafe { &*(p as *const ElemHead) };
            let n = e.next.load(Ordering::Relaxed);
            if n == v {
                e.next.store(after, Ordering::Release);
                return;
            }
            p = n;
        }
        unreachable!("element to unlink is not in its bucket");
    }
}

/// One CPU's access to the map.
pub struct MapCpu<'m, A: Allocator> {
    map: &'m HTab<A>,
    cache: A::Cache,
    cpu: usize,
    rcu: ThreadHandle,
    /// Updates that failed with ENOMEM through this handle (the allocator gave nothing).
    enomem: u64,
}

impl<'m, A: Allocator> MapCpu<'m, A> {
    /// Updates through this handle that failed with ENOMEM so far: one CPU's count, kept by
    /// the thread that owns the handle (a plain add, no shared line).
    pub fn failed_updates(&self) -> u64 {
        self.enomem
    }

    /// Counts updates of another map on this CPU's cache (the LPM trie's) that failed
    /// with ENOMEM, so they show beside the hash table's.
    pub fn add_failed_updates(&mut self, n: u64) {
        self.enomem += n;
    }

    pub fn map(&self) -> &'m HTab<A> {
        self.map
    }

    pub fn cpu_index(&self) -> usize {
        self.cpu
    }

    /// This CPU's allocator cache (for another map over the same allocator, as the LPM
    /// trie use case's).
    pub fn cache_mut(&mut self) -> &mut A::Cache {
        &mut self.cache
    }

    /// This thread's RCU registration (a shared handle: hold it to take read locks while
    /// operating through `self`).
    pub fn rcu(&self) -> ThreadHandle {
        self.rcu.clone()
    }

    /// This thread's RCU registration, borrowed (for a quiescent state between loops).
    pub fn rcu_handle(&self) -> &ThreadHandle {
        &self.rcu
    }

    /// bpf_map_update_elem. `value` is copied in (missing words are zero).
    pub fn update(&mut self, key: u32, value: &[u64], flag: UpdateFlag) -> Result<(), MapError> {
        let map = self.map;
        let hash = hash_u32(key, map.seed);
        let b = &map.buckets[map.bucket_of(hash)];
        b.lock.lock();
        let old = map.find_locked(b, hash, key);
        let new = flag
            .check(old.is_some())
            .and_then(|()| self.alloc_elem(old.is_some()));
        let new = match new {
            Ok(n) => n,
            Err(e) => {
                // SAFETY: we locked it above.
                unsafe { b.lock.unlock() };
                self.enomem += u64::from(e == MapError::Enomem);
                return Err(e);
            }
        };
        // SAFETY: `new` is a fresh element of elem_size bytes that only we reference, apart
        // from readers still holding it from a previous life (hence atomic stores).
        let e = unsafe { &*new.as_ptr() };
        e.hash.store(hash, Ordering::Relaxed);
        e.key.store(key, Ordering::Relaxed);
        let words = value_words(new, map.value_words);
        for (i, w) in words.iter().enumerate() {
            w.store(value.get(i).copied().unwrap_or(0), Ordering::Relaxed);
        }
        e.next
            .store(b.head.load(Ordering::Relaxed), Ordering::Relaxed);
        b.head.store(new.as_ptr() as usize, Ordering::Release);
        if let Some(old) = old {
            map.unlink_locked(b, old);
        }
        // SAFETY: locked above.
        unsafe { b.lock.unlock() };
        if let Some(old) = old {
            self.map.count.add(self.cpu, -1);
            // SAFETY: `old` is unlinked and came from this allocator.
            unsafe { self.cache.free_replaced(old.cast()) };
        }
        Ok(())
    }

    /// bpf_map_delete_elem.
    pub fn delete(&mut self, key: u32) -> Result<(), MapError> {
        let map = self.map;
        let hash = hash_u32(key, map.seed);
        let b = &map.buckets[map.bucket_of(hash)];
        b.lock.lock();
        let found = map.find_locked(b, hash, key);
        if let Some(e) = found {
            map.unlink_locked(b, e);
        }
        // SAFETY: locked above.
        unsafe { b.lock.unlock() };
        match found {
            Some(e) => {
                self.free_elem(e);
                Ok(())
            }
            None => Err(MapError::Enoent),
        }
    }

    /// alloc_htab_elem: the count check, then the allocator.
    fn alloc_elem(&mut self, replacing: bool) -> Result<NonNull<ElemHead>, MapError> {
        let map = self.map;
        // A full map may still replace an element: the old one is freed right after.
        if !replacing && map.count.at_least(map.max_entries as i64) {
            return Err(MapError::E2big);
        }
        map.count.add(self.cpu, 1);
        let got = if replacing {
            self.cache.alloc_replacing()
        } else {
            self.cache.alloc()
        };
        match got {
            Some(p) => Ok(p.cast()),
            None => {
                map.count.add(self.cpu, -1);
                Err(MapError::Enomem)
            }
        }
    }

    fn free_elem(&mut self, e: NonNull<ElemHead>) {
        self.map.count.add(self.cpu, -1);
        // SAFETY: `e` came from this allocator and is unlinked; readers may still see it,
        // which the flavor accounts for.
        unsafe { self.cache.free(e.cast()) };
    }

    /// Unlinks and frees every element (htab_map_free's delete_all_elements). Call with no
    /// other CPU operating on the map.
    pub fn clear(&mut self) -> usize {
        let map = self.map;
        let mut n = 0;
        for (i, b) in map.buckets.iter().enumerate() {
            b.lock.lock();
            let mut p = b.head.swap(nulls(i), Ordering::AcqRel);
            // SAFETY: locked above.
            unsafe { b.lock.unlock() };
            while p & 1 == 0 {
                let e = NonNull::new(p as *mut ElemHead).unwrap();
                // SAFETY: the chain was unlinked whole; its elements are ours.
                p = unsafe { (*e.as_ptr()).next.load(Ordering::Relaxed) };
                self.free_elem(e);
                n += 1;
            }
        }
        n
    }
}

fn value_words<'a>(e: NonNull<ElemHead>, n: usize) -> &'a [AtomicU64] {
    // SAFETY: the allocator object holds ELEM_HEAD + 8 * n bytes, 8-aligned.
    unsafe {
        std::slice::from_raw_parts(
            (e.as_ptr() as *const u8).add(ELEM_HEAD) as *const AtomicU64,
            n,
        )
    }
}

/// An element found by a lookup, valid for the read-side section.
pub struct ElemRef<'g> {
    head: &'g ElemHead,
    words: usize,
}

impl ElemRef<'_> {
    /// The key the element holds *now* (it may have been reused since the lookup matched).
    pub fn key(&self) -> u32 {
        self.head.key.load(Ordering::Relaxed)
    }

    pub fn value(&self) -> &[AtomicU64] {
        value_words(NonNull::from(self.head), self.words)
    }
}
