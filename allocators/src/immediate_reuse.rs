//! `immediate-reuse`: the normal bpf_mem_alloc (kernel/bpf/memalloc.c, `bpf_mem_cache_free`).
//!
//! A freed object goes straight back on the freeing CPU's free list and may be handed out by
//! the very next allocation, while RCU readers may still be looking at it. The free list, its
//! watermarks and the spill through tasks-trace are the shared core in `bpf_mem_alloc`.

use std::ptr::NonNull;
use std::sync::Arc;

use crate::bpf_mem_alloc::{MaCache, MaCore};
use crate::counters::bump;
use crate::slab::header;
use crate::{AllocConfig, AllocStats, Allocator, Cache, HoldStats};

/// The normal bpf_mem_alloc.
pub struct ImmediateReuse {
    core: Arc<MaCore>,
}

pub struct ImmediateReuseCache(MaCache);

impl Allocator for ImmediateReuse {
    type Cache = ImmediateReuseCache;
    const NAME: &'static str = "immediate-reuse";
    const REUSE_AFTER_GP: bool = false;

    fn new(cfg: &AllocConfig) -> Self {
        ImmediateReuse {
            core: MaCore::new(cfg),
        }
    }

    fn cache(self: &Arc<Self>, cpu: usize) -> Self::Cache {
        ImmediateReuseCache(MaCache::new(&self.core, cpu, Self::NAME))
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

impl Cache for ImmediateReuseCache {
    #[inline]
    fn alloc(&mut self) -> Option<NonNull<u8>> {
        self.0.alloc()
    }

    #[inline]
    unsafe fn free(&mut self, obj: NonNull<u8>) {
        let c = &mut self.0;
        bump(&c.me().slot.counters.frees, 1);
        // Reusable at once: nothing is deferred, and nothing sampled on this hot path (a
        // zero hold adds entries and no object-time: the prediction is the same without it).
        // SAFETY: `obj` came from `alloc` (a `slab::payload` of this allocator) and the
        // caller gives it up, as free_now requires.
        unsafe { c.free_now(header(obj)) };
    }
}
