//! `malloc-call-rcu`: the "no bpf ma" baseline, the htab of v6.0 — every element is
//! allocated from the slab and freed back to it by its own `call_rcu` callback.

use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use rcu::{RcuHead, ThreadHandle};

use crate::counters::{self, bump, Slot};
use crate::hold_time::{aux_word, link_word, take_link_stamp, Stamper};
use crate::slab::{self, header, header_of_rcu, Slab, Unit};
use crate::{AllocConfig, AllocStats, Allocator, Cache, Env, HoldStats};

pub struct MallocCallRcu {
    inner: Arc<Inner>,
}

struct Inner {
    slab: Slab,
    slots: Box<[Slot]>,
    env: Env,
    gp_done: AtomicU64,
}

pub struct MallocCallRcuCache {
    inner: Arc<Inner>,
    idx: usize,
    rcu: ThreadHandle,
    stamper: Stamper,
}

impl Allocator for MallocCallRcu {
    type Cache = MallocCallRcuCache;
    const NAME: &'static str = "malloc-call-rcu";
    const REUSE_AFTER_GP: bool = true;

    fn new(cfg: &AllocConfig) -> Self {
        MallocCallRcu {
            inner: Arc::new(Inner {
                slab: Slab::new(Unit::Kmalloc, cfg.obj_size, cfg.nr_caches, cfg.fail_alloc),
                slots: (0..cfg.nr_caches).map(|_| Slot::default()).collect(),
                env: cfg.env.clone(),
                gp_done: AtomicU64::new(0),
            }),
        }
    }

    fn cache(self: &Arc<Self>, cpu: usize) -> Self::Cache {
        self.inner.slots[cpu].claim(Self::NAME, cpu);
        MallocCallRcuCache {
            inner: self.inner.clone(),
            idx: cpu,
            rcu: self.inner.env.rcu.register(),
            stamper: Stamper::new(cpu),
        }
    }

    fn stats(&self) -> AllocStats {
        self.inner.stats()
    }

    fn drain(&self) -> AllocStats {
        self.inner.env.barrier();
        self.inner.stats()
    }

    fn hold_stats(&self) -> HoldStats {
        counters::hold_stats(&self.inner.slab, self.inner.slots.iter(), &[])
    }

    fn unit_size(&self) -> usize {
        self.inner.slab.unit_size()
    }
}

impl Inner {
    fn stats(&self) -> AllocStats {
        counters::stats(
            &self.slab,
            self.slots.iter(),
            self.gp_done.load(Ordering::Relaxed),
        )
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.env.barrier();
    }
}

impl Cache for MallocCallRcuCache {
    #[inline]
    fn alloc(&mut self) -> Option<NonNull<u8>> {
        let h = self.inner.slab.alloc(self.idx)?;
        bump(&self.inner.slots[self.idx].counters.allocs, 1);
        Some(slab::payload(h))
    }

    #[inline]
    unsafe fn free(&mut self, obj: NonNull<u8>) {
        let c = &self.inner.slots[self.idx].counters;
        bump(&c.frees, 1);
        bump(&c.gp_enter, 1);
        // SAFETY: `obj` came from `alloc`, which hands out `slab::payload`s.
        let h = unsafe { header(obj) }.as_ptr();
        // SAFETY: the caller gave the object up, so its header is ours until the callback.
        unsafe { (*h).aux = Arc::as_ptr(&self.inner) as *const () };
        // The callback owns `aux`; the stamp waits in `link`, unused by this flavor.
        let stamp = link_word(self.stamper.enter(&self.inner.slab.hold));
        // SAFETY: as for `aux`.
        unsafe { (*h).link = stamp };
        // SAFETY: the head is in the object's header, ours and so not queued, and valid until
        // the callback frees it; kfree_after_gp gets the `aux` it needs, an Inner that
        // outlives its callbacks (its drop waits for them).
        unsafe {
            self.rcu
                .call(NonNull::new_unchecked(&mut (*h).rcu), kfree_after_gp)
        };
    }
}

impl Drop for MallocCallRcuCache {
    fn drop(&mut self) {
        self.inner.slots[self.idx].release();
    }
}

/// # Safety
/// `rcu` is the head in the header of an object `free` queued, after its grace period.
unsafe fn kfree_after_gp(rcu: NonNull<RcuHead>) {
    // SAFETY: `free` queued the `rcu` field of an ObjHeader.
    let h = unsafe { header_of_rcu(rcu) };
    // SAFETY: the object is ours until it goes to the slab; `free` set `aux` to the Inner,
    // which outlives its callbacks.
    let inner = unsafe { &*((*h.as_ptr()).aux as *const Inner) };
    // Slab::free finds the stamp, if any, where every other flavor leaves it.
    // SAFETY: ours, on no list, and `free` set `link` to a stamp or null.
    let stamp = unsafe { take_link_stamp(h) };
    // SAFETY: ours.
    unsafe { (*h.as_ptr()).aux = aux_word(stamp) };
    // SAFETY: from this slab; past the grace period no reader references it, and `aux` now
    // holds a stamp or null.
    unsafe { inner.slab.free(h, inner.slab.gp_shard()) };
    inner.gp_done.fetch_add(1, Ordering::Relaxed);
}
