//! `free-rcu`: upstream bpf_mem_cache_free_rcu (seed 000, the free_rcu series).
//!
//! Allocation is the normal bpf_mem_alloc's. A free goes to the CPU's `free_by_rcu`; the refill
//! work moves it to `waiting_for_gp` and queues one `call_rcu` per cache (never more than one
//! in flight); after the RCU grace period the batch joins the target cache's
//! `free_by_rcu_ttrace`, reusable from there, and back to the slab after an RCU-tasks-trace
//! grace period. While a callback is in flight, new frees wait on `free_by_rcu` and the work
//! asks RCU for an urgent quiescent state instead of queueing more (without that request the
//! series saw gigabytes pile up).
//!
//! bpf_mem_cache_free_rcu came with the allocating-cache hint (v6.6); under `MemallocGen::V6_3`
//! it runs on the older base, a pairing no kernel shipped: each batch goes to the freeing
//! cache's `free_by_rcu_ttrace`.

use std::ptr::NonNull;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use rcu::RcuHead;

use crate::bpf_mem_alloc::{do_call_rcu_ttrace, MaCache, MaCore, MaShared};
use crate::counters::bump;
use crate::hold_time::aux_word;
use crate::list::ObjList;
use crate::slab::header;
use crate::{AllocConfig, AllocStats, Allocator, Cache, HoldStats};

pub struct FreeRcu {
    core: Arc<MaCore>,
}

pub struct FreeRcuCache {
    ma: MaCache,
    /// free_by_rcu: freed here, not yet handed to a grace period.
    free_by_rcu: ObjList,
}

impl Allocator for FreeRcu {
    type Cache = FreeRcuCache;
    const NAME: &'static str = "free-rcu";
    const REUSE_AFTER_GP: bool = true;

    fn new(cfg: &AllocConfig) -> Self {
        FreeRcu {
            core: MaCore::new(cfg),
        }
    }

    fn cache(self: &Arc<Self>, cpu: usize) -> Self::Cache {
        FreeRcuCache {
            ma: MaCache::new(&self.core, cpu, Self::NAME),
            free_by_rcu: ObjList::default(),
        }
    }

    fn stats(&self) -> AllocStats {
        self.core.stats()
    }

    fn drain(&self) -> AllocStats {
        self.core.drain()
    }

    fn hold_stats(&self) -> HoldStats {
        self.core.hold_stats()
    }

    fn unit_size(&self) -> usize {
        self.core.slab.unit_size()
    }
}

impl FreeRcuCache {
    /// check_free_by_rcu, run where the kernel's refill irq_work would run.
    fn check_free_by_rcu(&mut self) {
        if self.free_by_rcu.is_empty() {
            return;
        }
        let me = &self.ma.core.caches[self.ma.idx];
        if me.call_rcu_in_progress.swap(true, Ordering::AcqRel) {
            // rcu_request_urgent_qs_task: hurry the grace period in flight rather than
            // queueing thousands of callbacks.
            self.ma.rcu.domain().request_urgent();
            return;
        }
        self.ma.stamper.batch_sent(&self.ma.core.slab.hold);
        {
            let mut w = me.waiting_for_gp.lock();
            debug_assert!(w.is_empty());
            w.prepend(&mut self.free_by_rcu);
        }
        me.tgt_hint
            .store(self.ma.tgt as *mut MaShared, Ordering::Relaxed);
        // SAFETY: we set call_rcu_in_progress, so `rcu` is ours until the callback clears
        // it; MaCore outlives its callbacks (drain and drop wait with barriers).
        unsafe {
            self.ma
                .rcu
                .call(NonNull::new_unchecked(me.rcu.get()), free_by_rcu_after_gp)
        };
    }
}

/// __free_by_rcu: the batch has seen an RCU grace period; it becomes reusable on the target
/// cache and goes on towards the slab through tasks-trace.
///
/// # Safety
/// `h` is the `rcu` of a `MaShared` whose MaCore is still alive, queued by the holder of its
/// `call_rcu_in_progress`.
unsafe fn free_by_rcu_after_gp(h: NonNull<RcuHead>) {
    let off = std::mem::offset_of!(MaShared, rcu);
    // SAFETY: `h` is the field at `off` of a live MaShared (container_of); `core_ptr` is the
    // MaCore that owns it, alive until its callbacks have run.
    let (c, core) = unsafe {
        let c = &*((h.as_ptr() as *const u8).sub(off) as *const MaShared);
        (c, &*c.core_ptr())
    };
    let mut batch = std::mem::take(&mut *c.waiting_for_gp.lock());
    let tgt = c.tgt_hint.load(Ordering::Relaxed);
    // SAFETY: a non-null hint is a `MaCache::tgt`, which points into the same MaCore's caches.
    let tgt: &MaShared = if tgt.is_null() { c } else { unsafe { &*tgt } };
    // Still counted as waiting: they leave the pipeline when reused or freed to the slab.
    tgt.free_by_rcu_ttrace_push(&mut batch);
    c.call_rcu_in_progress.store(false, Ordering::Release);
    // This runs on whichever thread invokes the callback: its owner, or the domain's thread.
    do_call_rcu_ttrace(tgt, &core.env.tasks_trace);
}

impl Cache for FreeRcuCache {
    #[inline]
    fn alloc(&mut self) -> Option<NonNull<u8>> {
        // One refill work runs both (bpf_mem_refill): its deferred-work cost is charged once,
        // by the refill in `ma.alloc`.
        if self.ma.below_low() {
            self.check_free_by_rcu();
        }
        self.ma.alloc()
    }

    #[inline]
    unsafe fn free(&mut self, obj: NonNull<u8>) {
        let counters = &self.ma.me().slot.counters;
        bump(&counters.frees, 1);
        bump(&counters.gp_enter, 1);
        // SAFETY: `obj` came from `alloc`, which hands out `slab::payload`s.
        let h = unsafe { header(obj) };
        // SAFETY: the caller gave up this object of our allocator, so we own it.
        unsafe { self.ma.remember_tgt(h) };
        let ma = &mut self.ma;
        // The hold-time stamp, or null: `aux` is unused while the object is deferred.
        let stamp = aux_word(ma.stamper.enter_batch(&ma.core.slab.hold));
        // SAFETY: ours, and on no list yet.
        unsafe { (*h.as_ptr()).aux = stamp };
        self.free_by_rcu.push(h);
        // unit_free_rcu raises the refill work only while no callback is in flight.
        if !self.ma.me().call_rcu_in_progress.load(Ordering::Relaxed) {
            self.ma.core.env.deferred.raise();
            self.check_free_by_rcu();
        }
    }
}

impl Drop for FreeRcuCache {
    fn drop(&mut self) {
        if self.free_by_rcu.is_empty() {
            return;
        }
        // What was freed here still needs its grace period before anyone may reuse it;
        // teardown need not wait for pacing.
        self.ma.rcu.domain().synchronize_expedited();
        self.ma.stamper.batch_sent(&self.ma.core.slab.hold);
        let mut l = std::mem::take(&mut self.free_by_rcu);
        // SAFETY: tgt points into core.caches, alive while `ma` holds the core.
        let tgt = unsafe { &*self.ma.tgt };
        tgt.free_by_rcu_ttrace_push(&mut l);
        do_call_rcu_ttrace(tgt, self.ma.tt.domain());
    }
}
