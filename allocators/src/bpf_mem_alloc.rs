//! The bpf_mem_alloc core (kernel/bpf/memalloc.c) that immediate-reuse, call-rcu-free and
//! free-rcu share; the flavors differ only in what their `Cache::free` does before (or
//! instead of) `MaCache::free_now`.
//!
//! The kernel's `struct bpf_mem_cache` is split in two: `MaCache` is the owner's side (the
//! free list, `c->tgt`), `MaShared` what callbacks and other CPUs touch (the tasks-trace lists,
//! `free_llist_extra`, free-rcu's `waiting_for_gp`). `MaCore` is `struct bpf_mem_alloc`.
//!
//! A freed object goes straight back on the freeing CPU's free list (`unit_free`). Above the
//! high watermark the surplus is handed to the *allocating* cache's `free_by_rcu_ttrace`
//! (`free_bulk`), from which at most one RCU-tasks-trace callback per cache at a time returns
//! it to the slab (`do_call_rcu_ttrace`, `__free_rcu_tasks_trace`); until then the allocating
//! cache reuses those objects first (`alloc_bulk`), also while they wait for the grace period.
//! With `MemallocGen::V6_3` the surplus stays with the freeing cache and only its
//! `free_by_rcu_ttrace` is reused: what waits for the tasks-trace grace period goes to the slab.

use std::cell::UnsafeCell;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;
use rcu::{Domain, RcuHead, ThreadHandle};

use crate::counters::{self, bump, Slot};
use crate::hold_time::{Occupancy, Stamper};
use crate::list::ObjList;
use crate::slab::{self, ObjHeader, Slab, Unit};
use crate::{AllocConfig, AllocStats, Env, HoldStats, MemallocGen, Watermarks};

/// One CPU's cache as other threads and callbacks see it: the shared half of `struct
/// bpf_mem_cache`.
pub(crate) struct MaShared {
    pub(crate) slot: Slot,
    free_by_rcu_ttrace: Mutex<ObjList>,
    waiting_for_gp_ttrace: Mutex<ObjList>,
    /// The two tasks-trace lists' length over time (hold-time stage after the grace period).
    after_gp: Occupancy,
    ttrace_in_progress: AtomicBool,
    /// Queued only by whoever set `ttrace_in_progress`, so never twice at once.
    rcu_ttrace: UnsafeCell<RcuHead>,
    /// free_llist_extra: objects that callbacks free to this CPU, and a dropped cache's list.
    extra: Mutex<ObjList>,
    extra_len: AtomicUsize,
    /// free-rcu only (bpf_mem_cache_free_rcu): the batch waiting for an RCU grace period,
    /// whether its callback is in flight, and the head it is queued with.
    pub(crate) waiting_for_gp: Mutex<ObjList>,
    pub(crate) call_rcu_in_progress: AtomicBool,
    pub(crate) rcu: UnsafeCell<RcuHead>,
    /// The owner's `tgt`, for callbacks (the kernel's callback reads `c->tgt`).
    pub(crate) tgt_hint: std::sync::atomic::AtomicPtr<MaShared>,
    core: *const MaCore,
}

// SAFETY: lists are behind locks, `rcu_ttrace` is owned by the holder of `ttrace_in_progress`,
// and `core` points to the MaCore that owns this value.
unsafe impl Sync for MaShared {}
// SAFETY: as above; nothing here is tied to a thread.
unsafe impl Send for MaShared {}

impl MaShared {
    /// Adds objects that have passed an RCU grace period to free_by_rcu_ttrace.
    pub(crate) fn free_by_rcu_ttrace_push(&self, l: &mut ObjList) {
        self.after_gp.change(l.len() as i64);
        self.free_by_rcu_ttrace.lock().prepend(l);
    }

    pub(crate) fn core_ptr(&self) -> *const MaCore {
        self.core
    }

    /// Hands objects freed elsewhere (by a callback) to this cache.
    pub(crate) fn push_extra(&self, h: NonNull<ObjHeader>) {
        let mut e = self.extra.lock();
        e.push(h);
        self.extra_len.store(e.len(), Ordering::Relaxed);
    }
}

/// The per-CPU caches of one bpf_mem_alloc and the slab below them (`struct bpf_mem_alloc`).
pub(crate) struct MaCore {
    pub(crate) slab: Slab,
    pub(crate) caches: Box<[MaShared]>,
    pub(crate) env: Env,
    pub(crate) wm: Watermarks,
    /// Objects callbacks moved out of the grace-period pipeline.
    pub(crate) gp_done: AtomicU64,
    pub(crate) gen: MemallocGen,
}

impl MaCore {
    /// bpf_mem_alloc_init.
    pub(crate) fn new(cfg: &AllocConfig) -> Arc<MaCore> {
        let slab = Slab::new(Unit::BpfMa, cfg.obj_size, cfg.nr_caches, cfg.fail_alloc);
        let wm = Watermarks::for_unit(slab.unit_size());
        Arc::new_cyclic(|weak| {
            let core = weak.as_ptr();
            MaCore {
                slab,
                caches: (0..cfg.nr_caches)
                    .map(|_| MaShared {
                        slot: Slot::default(),
                        free_by_rcu_ttrace: Mutex::default(),
                        waiting_for_gp_ttrace: Mutex::default(),
                        after_gp: Occupancy::default(),
                        ttrace_in_progress: AtomicBool::new(false),
                        rcu_ttrace: UnsafeCell::new(RcuHead::new()),
                        extra: Mutex::default(),
                        extra_len: AtomicUsize::new(0),
                        waiting_for_gp: Mutex::default(),
                        call_rcu_in_progress: AtomicBool::new(false),
                        rcu: UnsafeCell::new(RcuHead::new()),
                        tgt_hint: Default::default(),
                        core,
                    })
                    .collect(),
                env: cfg.env.clone(),
                wm,
                gp_done: AtomicU64::new(0),
                gen: cfg.memalloc,
            }
        })
    }

    pub(crate) fn stats(&self) -> AllocStats {
        counters::stats(
            &self.slab,
            self.caches.iter().map(|c| &c.slot),
            self.gp_done.load(Ordering::Relaxed),
        )
    }

    pub(crate) fn hold_stats(&self) -> HoldStats {
        let after_gp: Vec<&Occupancy> = self.caches.iter().map(|c| &c.after_gp).collect();
        counters::hold_stats(&self.slab, self.caches.iter().map(|c| &c.slot), &after_gp)
    }

    /// bpf_mem_alloc_destroy: wait for callbacks, free every list, count what is left.
    pub(crate) fn drain(&self) -> AllocStats {
        self.env.barrier();
        let shard = self.slab.gp_shard();
        for c in self.caches.iter() {
            debug_assert!(!c.ttrace_in_progress.load(Ordering::Acquire));
            std::mem::take(&mut *c.extra.lock()).free_all(&self.slab, shard);
            c.extra_len.store(0, Ordering::Relaxed);
            debug_assert!(!c.call_rcu_in_progress.load(Ordering::Acquire));
            std::mem::take(&mut *c.waiting_for_gp.lock()).free_all(&self.slab, shard);
            let n = std::mem::take(&mut *c.free_by_rcu_ttrace.lock()).free_all(&self.slab, shard)
                + std::mem::take(&mut *c.waiting_for_gp_ttrace.lock()).free_all(&self.slab, shard);
            c.after_gp.change(-(n as i64));
            self.gp_done.fetch_add(n as u64, Ordering::Relaxed);
        }
        self.stats()
    }
}

/// The owner's side of one CPU's cache (the private half of `struct bpf_mem_cache`): the free
/// list and the thread's RCU registrations.
pub(crate) struct MaCache {
    pub(crate) core: Arc<MaCore>,
    pub(crate) idx: usize,
    free: ObjList,
    /// The allocating cache of the object freed last (memalloc.c's `c->tgt`).
    pub(crate) tgt: *const MaShared,
    pub(crate) rcu: ThreadHandle,
    pub(crate) tt: ThreadHandle,
    pub(crate) stamper: Stamper,
}

impl MaCache {
    /// Claims CPU `cpu`'s cache and prefills it (prefill_mem_cache).
    pub(crate) fn new(core: &Arc<MaCore>, cpu: usize, flavor: &str) -> MaCache {
        let me = &core.caches[cpu];
        me.slot.claim(flavor, cpu);
        let mut c = MaCache {
            core: core.clone(),
            idx: cpu,
            free: ObjList::default(),
            tgt: me,
            rcu: core.env.rcu.register(),
            tt: core.env.tasks_trace.register(),
            stamper: Stamper::new(cpu),
        };
        // prefill_mem_cache: 4 objects per CPU for small units.
        c.alloc_bulk(4);
        c
    }

    #[inline]
    pub(crate) fn me(&self) -> &MaShared {
        &self.core.caches[self.idx]
    }

    /// Whether the next allocation runs the refill work.
    #[inline]
    pub(crate) fn below_low(&self) -> bool {
        self.free.len() < self.core.wm.low
    }

    /// unit_alloc: pop the free list, refilling below the low watermark.
    #[inline]
    pub(crate) fn alloc(&mut self) -> Option<NonNull<u8>> {
        let me = self.me();
        if self.free.len() < self.core.wm.low || me.extra_len.load(Ordering::Relaxed) > 0 {
            self.refill();
        }
        let h = self.free.pop()?;
        // SAFETY: h came off our free list, so we own its header.
        unsafe { *slab::hint(h) = self.me() as *const MaShared as *const () };
        bump(&self.me().slot.counters.allocs, 1);
        Some(slab::payload(h))
    }

    /// unit_free's `c->tgt = hint` (v6.6 on): the next spill goes to the cache that allocated
    /// `h`. Older generations keep `tgt` on this cache.
    ///
    /// # Safety
    /// `h` is the header of an object of this allocator that the caller owns.
    #[inline]
    pub(crate) unsafe fn remember_tgt(&mut self, h: NonNull<ObjHeader>) {
        if self.core.gen.has_tgt_hint() {
            // SAFETY: the caller owns the object, so nobody writes its header meanwhile.
            self.tgt = unsafe { *slab::hint(h) } as *const MaShared;
        }
    }

    /// unit_free: push on this CPU's list; spill above the high watermark.
    ///
    /// # Safety
    /// As `remember_tgt`; the caller gives the object up.
    #[inline]
    pub(crate) unsafe fn free_now(&mut self, h: NonNull<ObjHeader>) {
        // SAFETY: this function's contract is remember_tgt's.
        unsafe { self.remember_tgt(h) };
        self.free.push(h);
        if self.free.len() > self.core.wm.high {
            self.core.env.deferred.raise();
            self.free_bulk();
        }
    }

    /// Objects callbacks handed to this cache past the high watermark: run the refill work
    /// now, as the callback's unit_free would raise it, so the surplus spills even on a CPU
    /// that never allocates (add_del_on_diff_cpu's deleter).
    #[inline]
    pub(crate) fn spill_extra_if_high(&mut self) {
        if self.me().extra_len.load(Ordering::Relaxed) > self.core.wm.high {
            self.refill();
        }
    }

    /// The refill work (bpf_mem_refill): take objects callbacks freed here, then refill or
    /// spill.
    #[cold]
    fn refill(&mut self) {
        self.core.env.deferred.raise();
        let me = &self.core.caches[self.idx];
        if me.extra_len.load(Ordering::Relaxed) > 0 {
            let mut e = me.extra.lock();
            self.free.prepend(&mut e);
            me.extra_len.store(0, Ordering::Relaxed);
            drop(e);
            // As unit_free in the kernel's callback would have: spill towards the cache
            // that allocated what was freed (v6.6 on).
            if let Some(h) = self.free.front().filter(|_| self.core.gen.has_tgt_hint()) {
                // SAFETY: h is on our free list.
                let hint = unsafe { *slab::hint(h) } as *const MaShared;
                if !hint.is_null() {
                    self.tgt = hint;
                }
            }
        }
        if self.free.len() < self.core.wm.low {
            self.alloc_bulk(self.core.wm.batch);
        } else if self.free.len() > self.core.wm.high {
            self.free_bulk();
        }
    }

    /// alloc_bulk: reuse free_by_rcu_ttrace (v6.2 on), then waiting_for_gp_ttrace (v6.6 on),
    /// then the slab.
    fn alloc_bulk(&mut self, cnt: usize) {
        let me = &self.core.caches[self.idx];
        let mut got = if self.core.gen.reuses_free_by_rcu() {
            me.free_by_rcu_ttrace.lock().take(cnt)
        } else {
            ObjList::default()
        };
        if got.len() < cnt && self.core.gen == MemallocGen::Current {
            let mut more = me.waiting_for_gp_ttrace.lock().take(cnt - got.len());
            got.prepend(&mut more);
        }
        bump(&me.slot.counters.gp_reused, got.len() as u64);
        // llist_del_first per object off the tasks-trace lists.
        self.core.env.deferred.per_object(got.len());
        me.after_gp.change(-(got.len() as i64));
        self.core.slab.hold.reusable(self.idx, &got);
        let rest = cnt - got.len();
        self.free.prepend(&mut got);
        for _ in 0..rest {
            match self.core.slab.alloc(self.idx) {
                Some(h) => self.free.push(h),
                None => break,
            }
        }
    }

    /// free_bulk: pop down to the middle watermark into the target cache's free_by_rcu_ttrace.
    fn free_bulk(&mut self) {
        let n = self.free.len() - self.core.wm.mid();
        let mut surplus = self.free.take(n);
        // llist_add per object onto the target's free_by_rcu_ttrace.
        self.core.env.deferred.per_object(surplus.len());
        bump(&self.me().slot.counters.gp_enter, surplus.len() as u64);
        self.stamper.enter_list(&self.core.slab.hold, &surplus);
        // SAFETY: tgt points into core.caches, which lives as long as self.core.
        let tgt = unsafe { &*self.tgt };
        tgt.free_by_rcu_ttrace_push(&mut surplus);
        do_call_rcu_ttrace(tgt, self.tt.domain());
    }
}

/// do_call_rcu_ttrace: starts the tasks-trace callback of `c` unless one is in flight.
/// `tt` is the tasks-trace domain; the call goes on the calling thread's queue if it is
/// registered there (a producer), else on the domain's shared one (a callback invoked on
/// another domain's thread).
pub(crate) fn do_call_rcu_ttrace(c: &MaShared, tt: &Domain) {
    if c.ttrace_in_progress.swap(true, Ordering::AcqRel) {
        return;
    }
    {
        let mut from = c.free_by_rcu_ttrace.lock();
        let mut to = c.waiting_for_gp_ttrace.lock();
        to.prepend(&mut from);
    }
    // SAFETY: we own rcu_ttrace while ttrace_in_progress is set; MaCore (and so `c`) outlives
    // its callbacks because drain and drop wait for them with barriers.
    unsafe {
        tt.call_any(
            NonNull::new_unchecked(c.rcu_ttrace.get()),
            free_rcu_tasks_trace,
        )
    };
}

/// __free_rcu_tasks_trace (and __free_rcu): after an RCU-tasks-trace grace period (which
/// implies an RCU one), back to the slab.
///
/// # Safety
/// `h` is the `rcu_ttrace` of a `MaShared` whose MaCore is still alive, queued by
/// `do_call_rcu_ttrace`.
unsafe fn free_rcu_tasks_trace(h: NonNull<RcuHead>) {
    let off = std::mem::offset_of!(MaShared, rcu_ttrace);
    // SAFETY: `h` is the field at `off` of a live MaShared (container_of); `c.core` is the
    // MaCore that owns it, alive until its callbacks have run.
    let (c, core) = unsafe {
        let c = &*((h.as_ptr() as *const u8).sub(off) as *const MaShared);
        (c, &*c.core)
    };
    let list = std::mem::take(&mut *c.waiting_for_gp_ttrace.lock());
    let n = list.free_all_done(&core.slab, core.slab.gp_shard(), &core.gp_done);
    c.after_gp.change(-(n as i64));
    c.ttrace_in_progress.store(false, Ordering::Release);
}

impl Drop for MaCache {
    fn drop(&mut self) {
        // Park the free list where drain (or the next owner) finds it.
        let me = &self.core.caches[self.idx];
        let mut e = me.extra.lock();
        e.prepend(&mut self.free);
        me.extra_len.store(e.len(), Ordering::Relaxed);
        drop(e);
        me.slot.release();
    }
}

impl Drop for MaCore {
    fn drop(&mut self) {
        // Callbacks point into this value: never free it under them.
        self.env.barrier();
        self.drain();
    }
}
