//! `call-rcu-free`: every free is its own `call_rcu` whose callback does the normal
//! (immediate-reuse) free, on the CPU that freed it.
//!
//! The callback runs on the RCU domain's thread, so it cannot push on the owner's private free
//! list; it hands the object to that cache's `free_llist_extra`, which the owner folds into its
//! free list at its next allocation (where the kernel's callback, running on the same CPU,
//! would have pushed it directly). Its surplus spills as immediate-reuse's does for the chosen
//! `MemallocGen`: towards the allocating cache (v6.6 on) or onto the freeing cache's own lists.

use std::ptr::NonNull;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use rcu::RcuHead;

use crate::bpf_mem_alloc::{MaCache, MaCore, MaShared};
use crate::counters::bump;
use crate::hold_time::{link_word, take_link_stamp};
use crate::slab::{header, header_of_rcu};
use crate::{AllocConfig, AllocStats, Allocator, Cache, HoldStats};

pub struct CallRcuFree {
    core: Arc<MaCore>,
}

pub struct CallRcuFreeCache(MaCache);

impl Allocator for CallRcuFree {
    type Cache = CallRcuFreeCache;
    const NAME: &'static str = "call-rcu-free";
    const REUSE_AFTER_GP: bool = true;

    fn new(cfg: &AllocConfig) -> Self {
        CallRcuFree {
            core: MaCore::new(cfg),
        }
    }

    fn cache(self: &Arc<Self>, cpu: usize) -> Self::Cache {
        CallRcuFreeCache(MaCache::new(&self.core, cpu, Self::NAME))
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

impl Cache for CallRcuFreeCache {
    #[inline]
    fn alloc(&mut self) -> Option<NonNull<u8>> {
        self.0.alloc()
    }

    #[inline]
    unsafe fn free(&mut self, obj: NonNull<u8>) {
        let c = &mut self.0;
        let counters = &c.me().slot.counters;
        bump(&counters.frees, 1);
        bump(&counters.gp_enter, 1);
        // SAFETY: `obj` came from `alloc`, which hands out `slab::payload`s.
        let h = unsafe { header(obj) }.as_ptr();
        // SAFETY: the caller gave the object up, so its header is ours until the callback.
        unsafe { (*h).aux = c.me() as *const MaShared as *const () };
        // The callback owns `aux`; the stamp waits in `link`, unused off a list.
        let stamp = link_word(c.stamper.enter(&c.core.slab.hold));
        // SAFETY: as for `aux`.
        unsafe { (*h).link = stamp };
        // SAFETY: the head is in the object's header, ours and so not queued, and valid until
        // the callback hands the object on; free_after_rcu_gp gets the `aux` it needs, this
        // cache's MaShared, whose MaCore outlives its callbacks (drain and drop wait).
        unsafe {
            c.rcu
                .call(NonNull::new_unchecked(&mut (*h).rcu), free_after_rcu_gp)
        };
        // The call may have run callbacks that returned objects here.
        c.spill_extra_if_high();
    }
}

/// # Safety
/// `rcu` is the head in the header of an object `free` queued, after its grace period.
unsafe fn free_after_rcu_gp(rcu: NonNull<RcuHead>) {
    // SAFETY: `free` queued the `rcu` field of an ObjHeader.
    let h = unsafe { header_of_rcu(rcu) };
    // SAFETY: the object is ours until pushed below; `free` set `aux` to a MaShared, whose
    // MaCore (`core_ptr`) outlives its callbacks.
    let (c, core) = unsafe {
        let c = &*((*h.as_ptr()).aux as *const MaShared);
        (c, &*c.core_ptr())
    };
    // Reusable from here: free_llist_extra is the owner's free list.
    // SAFETY: ours, on no list, and `free` set `link` to a stamp or null.
    if let Some(stamp) = unsafe { take_link_stamp(h) } {
        core.slab.hold.record_reuse(core.slab.gp_shard(), stamp);
    }
    // SAFETY: ours.
    unsafe { (*h.as_ptr()).aux = std::ptr::null() };
    c.push_extra(h);
    core.gp_done.fetch_add(1, Ordering::Relaxed);
}
