//! `free-after-gp`: freed objects are batched through `call_rcu` back to the slab and never
//! reused (seed 001's "free directly through call_rcu"). Allocation refills from the slab in
//! batches at the low watermark.

use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;
use rcu::ThreadHandle;

use crate::counters::{self, bump, Slot};
use crate::gp_batch::send_after_gp;
use crate::hold_time::{aux_word, Stamper};
use crate::list::ObjList;
use crate::slab::{self, header, Slab, Unit};
use crate::{AllocConfig, AllocStats, Allocator, Cache, Env, HoldStats, Watermarks};

struct Core {
    slab: Slab,
    slots: Box<[Slot]>,
    parked: Mutex<ObjList>,
    env: Env,
    wm: Watermarks,
    gp_done: AtomicU64,
}

pub struct FreeAfterGp {
    core: Arc<Core>,
}

pub struct FreeAfterGpCache {
    core: Arc<Core>,
    idx: usize,
    free: ObjList,
    free_by_rcu: ObjList,
    rcu: ThreadHandle,
    stamper: Stamper,
}

impl Allocator for FreeAfterGp {
    type Cache = FreeAfterGpCache;
    const NAME: &'static str = "free-after-gp";
    const REUSE_AFTER_GP: bool = true;

    fn new(cfg: &AllocConfig) -> Self {
        let slab = Slab::new(Unit::BpfMa, cfg.obj_size, cfg.nr_caches, cfg.fail_alloc);
        let wm = Watermarks::for_unit(slab.unit_size());
        FreeAfterGp {
            core: Arc::new(Core {
                slab,
                slots: (0..cfg.nr_caches).map(|_| Slot::default()).collect(),
                parked: Mutex::default(),
                env: cfg.env.clone(),
                wm,
                gp_done: AtomicU64::new(0),
            }),
        }
    }

    fn cache(self: &Arc<Self>, cpu: usize) -> Self::Cache {
        self.core.slots[cpu].claim(Self::NAME, cpu);
        FreeAfterGpCache {
            core: self.core.clone(),
            idx: cpu,
            free: ObjList::default(),
            free_by_rcu: ObjList::default(),
            rcu: self.core.env.rcu.register(),
            stamper: Stamper::new(cpu),
        }
    }

    fn stats(&self) -> AllocStats {
        self.core.stats()
    }

    fn drain(&self) -> AllocStats {
        self.core.drain()
    }

    fn hold_stats(&self) -> HoldStats {
        counters::hold_stats(&self.core.slab, self.core.slots.iter(), &[])
    }

    fn unit_size(&self) -> usize {
        self.core.slab.unit_size()
    }
}

impl Core {
    fn stats(&self) -> AllocStats {
        counters::stats(
            &self.slab,
            self.slots.iter(),
            self.gp_done.load(Ordering::Relaxed),
        )
    }

    fn drain(&self) -> AllocStats {
        self.env.barrier();
        std::mem::take(&mut *self.parked.lock()).free_all(&self.slab, self.slab.gp_shard());
        self.stats()
    }
}

impl Drop for Core {
    fn drop(&mut self) {
        self.drain();
    }
}

/// The `BatchDone` of `flush`.
///
/// # Safety
/// `ctx` is the `Core` that `flush` passed, still alive.
unsafe fn free_to_slab(ctx: *const (), list: ObjList) {
    // SAFETY: `flush` passed `Arc::as_ptr` of the Core, which outlives its callbacks.
    let core = unsafe { &*(ctx as *const Core) };
    list.free_all_done(&core.slab, core.slab.gp_shard(), &core.gp_done);
}

impl FreeAfterGpCache {
    fn flush(&mut self) {
        let list = std::mem::take(&mut self.free_by_rcu);
        if !list.is_empty() {
            self.stamper.batch_sent(&self.core.slab.hold);
            // SAFETY: Core outlives its callbacks (drain and drop wait for them).
            unsafe {
                send_after_gp(
                    &self.rcu,
                    list,
                    Arc::as_ptr(&self.core) as *const (),
                    free_to_slab,
                )
            };
        }
    }
}

impl Cache for FreeAfterGpCache {
    #[inline]
    fn alloc(&mut self) -> Option<NonNull<u8>> {
        if self.free.len() < self.core.wm.low {
            self.core.env.deferred.raise();
            for _ in 0..self.core.wm.batch {
                match self.core.slab.alloc(self.idx) {
                    Some(h) => self.free.push(h),
                    None => break,
                }
            }
        }
        let h = self.free.pop()?;
        bump(&self.core.slots[self.idx].counters.allocs, 1);
        Some(slab::payload(h))
    }

    #[inline]
    unsafe fn free(&mut self, obj: NonNull<u8>) {
        let c = &self.core.slots[self.idx].counters;
        bump(&c.frees, 1);
        bump(&c.gp_enter, 1);
        // SAFETY: `obj` came from `alloc`, which hands out `slab::payload`s.
        let h = unsafe { header(obj) };
        // The hold-time stamp, or null: `aux` is unused while the object is deferred.
        let stamp = aux_word(self.stamper.enter_batch(&self.core.slab.hold));
        // SAFETY: the caller gave the object up and it is on no list: we own its header.
        unsafe { (*h.as_ptr()).aux = stamp };
        self.free_by_rcu.push(h);
        if self.free_by_rcu.len() > self.core.wm.high {
            self.core.env.deferred.raise();
            self.core.env.deferred.per_object(self.free_by_rcu.len());
            self.flush();
        }
    }
}

impl Drop for FreeAfterGpCache {
    fn drop(&mut self) {
        self.flush();
        self.core.parked.lock().prepend(&mut self.free);
        self.core.slots[self.idx].release();
    }
}
