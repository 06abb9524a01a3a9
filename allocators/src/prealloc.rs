//! `prealloc`: the preallocated hash map (no BPF_F_NO_PREALLOC; hashtab.c + percpu_freelist.c).
//!
//! max_entries elements are allocated up front and spread over per-CPU free lists; each CPU
//! also holds one spare element (`extra_elems`). An update that replaces an element takes the
//! spare and the replaced element becomes the new spare, without any lock (the kernel swaps
//! `*this_cpu_ptr(htab->extra_elems)`); an insert pops the CPU's list, or steals from another
//! CPU's, skipping empty lists without locking them (`pcpu_freelist_pop` reads `head->first`
//! first); a delete pushes on the deleting CPU's list. Reuse is immediate and memory never
//! changes after setup.

use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

use crate::counters::{self, bump, Slot};
use crate::list::ObjList;
use crate::slab::{self, header, ObjHeader, Slab, Unit};
use crate::{AllocConfig, AllocStats, Allocator, Cache, HoldStats};

struct PerCpu {
    slot: Slot,
    /// pcpu_freelist head: locked because other CPUs steal from it.
    free: Mutex<ObjList>,
    /// Whether `free` may hold an element (`READ_ONCE(head->first)`): written under the
    /// lock, read without it so that a pop passes empty lists by. A stale `false` only
    /// makes a pop skip a list that just got an element, as in the kernel.
    nonempty: AtomicBool,
    /// extra_elems while no cache of this CPU exists; a cache holds it while it lives.
    spare: Mutex<Option<SendHeader>>,
}

impl PerCpu {
    fn push(&self, h: NonNull<ObjHeader>) {
        let mut l = self.free.lock();
        l.push(h);
        self.nonempty.store(true, Ordering::Relaxed);
    }

    fn pop(&self) -> Option<NonNull<ObjHeader>> {
        if !self.nonempty.load(Ordering::Relaxed) {
            return None;
        }
        let mut l = self.free.lock();
        let h = l.pop();
        if l.is_empty() {
            self.nonempty.store(false, Ordering::Relaxed);
        }
        h
    }
}

struct SendHeader(NonNull<ObjHeader>);
// SAFETY: a spare element is owned by the list it sits in, like ObjList's objects.
unsafe impl Send for SendHeader {}

struct Core {
    slab: Slab,
    cpus: Box<[PerCpu]>,
}

pub struct Prealloc {
    core: Arc<Core>,
}

pub struct PreallocCache {
    core: Arc<Core>,
    idx: usize,
    /// This CPU's extra_elems: only the cache's owner touches it, so no lock.
    spare: Option<NonNull<ObjHeader>>,
}

// SAFETY: the spare is an element owned by this cache alone (like ObjList's objects); the
// cache moves between threads only as a whole.
unsafe impl Send for PreallocCache {}

impl Allocator for Prealloc {
    type Cache = PreallocCache;
    const NAME: &'static str = "prealloc";
    const REUSE_AFTER_GP: bool = false;

    fn creation_charge(cfg: &AllocConfig) -> usize {
        // max_entries elements plus one spare per CPU (extra_elems), as `new` makes them.
        (cfg.capacity + cfg.nr_caches.max(1)) * crate::slab::kmalloc_charge(cfg.obj_size)
    }

    fn new(cfg: &AllocConfig) -> Self {
        let n = cfg.nr_caches.max(1);
        let slab = Slab::new(Unit::Kmalloc, cfg.obj_size, n, None);
        let cpus: Box<[PerCpu]> = (0..n)
            .map(|_| PerCpu {
                slot: Slot::default(),
                free: Mutex::default(),
                nonempty: AtomicBool::new(false),
                spare: Mutex::new(None),
            })
            .collect();
        // pcpu_freelist_populate: each CPU gets a contiguous run of capacity / n + 1 elements
        // (dealing them round-robin would put neighbours of one cache line on different
        // CPUs' lists, and their producers would write the same lines).
        let per_cpu = cfg.capacity / n + 1;
        for i in 0..cfg.capacity {
            let cpu = i / per_cpu;
            let h = slab.alloc_nofail(cpu).expect("preallocating the map");
            cpus[cpu].push(h);
        }
        for (i, c) in cpus.iter().enumerate() {
            let h = slab.alloc_nofail(i).expect("preallocating the spare elements");
            *c.spare.lock() = Some(SendHeader(h));
        }
        Prealloc {
            core: Arc::new(Core { slab, cpus }),
        }
    }

    fn cache(self: &Arc<Self>, cpu: usize) -> Self::Cache {
        let me = &self.core.cpus[cpu];
        me.slot.claim(Self::NAME, cpu);
        let spare = me.spare.lock().take().map(|SendHeader(h)| h);
        PreallocCache {
            core: self.core.clone(),
            idx: cpu,
            spare,
        }
    }

    fn stats(&self) -> AllocStats {
        counters::stats(&self.core.slab, self.core.cpus.iter().map(|c| &c.slot), 0)
    }

    fn hold_stats(&self) -> HoldStats {
        let c = &self.core;
        counters::hold_stats(&c.slab, c.cpus.iter().map(|c| &c.slot), &[])
    }

    fn unit_size(&self) -> usize {
        self.core.slab.unit_size()
    }

    fn drain(&self) -> AllocStats {
        // Map teardown frees the whole preallocated area.
        let shard = self.core.slab.gp_shard();
        for c in self.core.cpus.iter() {
            std::mem::take(&mut *c.free.lock()).free_all(&self.core.slab, shard);
            if let Some(SendHeader(h)) = c.spare.lock().take() {
                // SAFETY: the spare is referenced by nobody else.
                unsafe { self.core.slab.free(h, shard) };
            }
        }
        self.stats()
    }
}

impl Drop for Core {
    fn drop(&mut self) {
        let shard = self.slab.gp_shard();
        for c in self.cpus.iter() {
            std::mem::take(&mut *c.free.lock()).free_all(&self.slab, shard);
            if let Some(SendHeader(h)) = c.spare.lock().take() {
                // SAFETY: as in drain.
                unsafe { self.slab.free(h, shard) };
            }
        }
    }
}

impl PreallocCache {
    fn me(&self) -> &PerCpu {
        &self.core.cpus[self.idx]
    }

    /// pcpu_freelist_pop: this CPU's list, then the others' in order (for_each_cpu_wrap).
    fn pop(&self) -> Option<NonNull<ObjHeader>> {
        let n = self.core.cpus.len();
        (0..n).find_map(|k| self.core.cpus[(self.idx + k) % n].pop())
    }
}

impl Cache for PreallocCache {
    #[inline]
    fn alloc(&mut self) -> Option<NonNull<u8>> {
        let h = self.pop()?;
        bump(&self.me().slot.counters.allocs, 1);
        Some(slab::payload(h))
    }

    #[inline]
    unsafe fn free(&mut self, obj: NonNull<u8>) {
        bump(&self.me().slot.counters.frees, 1);
        // SAFETY: `obj` came from `alloc`, which hands out `slab::payload`s.
        self.me().push(unsafe { header(obj) });
    }

    #[inline]
    fn alloc_replacing(&mut self) -> Option<NonNull<u8>> {
        match self.spare.take() {
            Some(h) => {
                bump(&self.me().slot.counters.allocs, 1);
                Some(slab::payload(h))
            }
            None => self.alloc(),
        }
    }

    #[inline]
    unsafe fn free_replaced(&mut self, obj: NonNull<u8>) {
        bump(&self.me().slot.counters.frees, 1);
        // SAFETY: `obj` came from `alloc` or `alloc_replacing`, which hand out
        // `slab::payload`s.
        let h = unsafe { header(obj) };
        match self.spare {
            // The replaced element becomes this CPU's spare.
            None => self.spare = Some(h),
            Some(_) => self.me().push(h),
        }
    }
}

impl Drop for PreallocCache {
    fn drop(&mut self) {
        // The spare stays with the CPU for the next cache, or for drain.
        if let Some(h) = self.spare.take() {
            *self.me().spare.lock() = Some(SendHeader(h));
        }
        self.me().slot.release();
    }
}
