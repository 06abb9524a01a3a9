//! `reuse-after-gp`: Hou Tao's BPF_MA_REUSE_AFTER_RCU_GP (seed 001, RFC v2 4/4).
//!
//! Freed objects collect on `prepare_reuse`; past the high watermark the batch goes through
//! its own `call_rcu` (many may be in flight) and, after the grace period, joins
//! `reuse_ready`. Allocation refills from `reuse_ready`, then `wait_for_free`, then the slab.
//! Whenever a batch is sent and no free callback is in flight, everything on `reuse_ready`
//! moves to `wait_for_free` and goes back to the slab after an RCU-tasks-trace grace period —
//! still reusable until then. An object is never handed out before a grace period has passed
//! since its free.

use std::cell::UnsafeCell;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;
use rcu::{RcuHead, ThreadHandle};

use crate::counters::{self, bump, Slot};
use crate::gp_batch::send_after_gp;
use crate::hold_time::{aux_word, Occupancy, Stamper};
use crate::list::ObjList;
use crate::slab::{self, header, Slab, Unit};
use crate::{AllocConfig, AllocStats, Allocator, Cache, Env, HoldStats, Watermarks};

#[derive(Default)]
struct ReuseLists {
    reuse_ready: ObjList,
    wait_for_free: ObjList,
    /// Set by drain: late callbacks free to the slab instead of refilling the lists.
    abort: bool,
}

struct Shared {
    slot: Slot,
    reuse: Mutex<ReuseLists>,
    /// reuse_ready and wait_for_free's length over time (hold-time stage after the GP).
    after_gp: Occupancy,
    free_cb_in_progress: AtomicBool,
    /// Owned by whoever set `free_cb_in_progress`.
    rcu_free: UnsafeCell<RcuHead>,
    reuse_cb_in_progress: AtomicUsize,
    /// A dropped cache's free list (objects already past their grace period).
    parked: Mutex<ObjList>,
    core: *const Core,
}

// SAFETY: lists are behind locks; `rcu_free` belongs to the holder of `free_cb_in_progress`;
// `core` points to the Core owning this value, which outlives every callback.
unsafe impl Sync for Shared {}
// SAFETY: as above.
unsafe impl Send for Shared {}

struct Core {
    slab: Slab,
    caches: Box<[Shared]>,
    env: Env,
    wm: Watermarks,
    gp_done: AtomicU64,
    /// Fault injection: every batch descriptor "allocation" fails.
    fail_batch_alloc: bool,
    /// Batches that took the synchronize_rcu_expedited fallback.
    expedited_fallbacks: AtomicU64,
    /// The kworker of the fallback path, started on first use.
    fallback: Mutex<Option<Fallback>>,
}

/// The fallback runs where the kernel's kworker runs it: off the freeing thread, which may be
/// inside a read-side section and so could never wait for a grace period itself.
struct Fallback {
    tx: std::sync::mpsc::Sender<(usize, ObjList)>,
    worker: std::thread::JoinHandle<()>,
}

/// A pointer to the Core for its own fallback worker, which Core joins before it goes.
struct CorePtr(*const Core);
// SAFETY: Core is Sync and outlives the worker (Drop joins it).
unsafe impl Send for CorePtr {}

pub struct ReuseAfterGp {
    core: Arc<Core>,
}

pub struct ReuseAfterGpCache {
    core: Arc<Core>,
    idx: usize,
    free: ObjList,
    prepare_reuse: ObjList,
    rcu: ThreadHandle,
    tt: ThreadHandle,
    stamper: Stamper,
}

impl Allocator for ReuseAfterGp {
    type Cache = ReuseAfterGpCache;
    const NAME: &'static str = "reuse-after-gp";
    const REUSE_AFTER_GP: bool = true;

    fn new(cfg: &AllocConfig) -> Self {
        let slab = Slab::new(Unit::BpfMa, cfg.obj_size, cfg.nr_caches, cfg.fail_alloc);
        let wm = Watermarks::for_unit(slab.unit_size());
        let core = Arc::new_cyclic(|weak| {
            let core = weak.as_ptr();
            Core {
                slab,
                caches: (0..cfg.nr_caches)
                    .map(|_| Shared {
                        slot: Slot::default(),
                        reuse: Mutex::default(),
                        after_gp: Occupancy::default(),
                        free_cb_in_progress: AtomicBool::new(false),
                        rcu_free: UnsafeCell::new(RcuHead::new()),
                        reuse_cb_in_progress: AtomicUsize::new(0),
                        parked: Mutex::default(),
                        core,
                    })
                    .collect(),
                env: cfg.env.clone(),
                wm,
                gp_done: AtomicU64::new(0),
                fail_batch_alloc: cfg.fail_batch_alloc,
                expedited_fallbacks: AtomicU64::new(0),
                fallback: Mutex::new(None),
            }
        });
        ReuseAfterGp { core }
    }

    fn cache(self: &Arc<Self>, cpu: usize) -> Self::Cache {
        let core = &self.core;
        core.caches[cpu].slot.claim(Self::NAME, cpu);
        let mut c = ReuseAfterGpCache {
            core: core.clone(),
            idx: cpu,
            free: std::mem::take(&mut *core.caches[cpu].parked.lock()),
            prepare_reuse: ObjList::default(),
            rcu: core.env.rcu.register(),
            tt: core.env.tasks_trace.register(),
            stamper: Stamper::new(cpu),
        };
        if c.free.len() < 4 {
            c.alloc_bulk(4);
        }
        c
    }

    fn stats(&self) -> AllocStats {
        self.core.stats()
    }

    fn drain(&self) -> AllocStats {
        self.core.drain()
    }

    fn hold_stats(&self) -> HoldStats {
        let c = &self.core;
        let after_gp: Vec<&Occupancy> = c.caches.iter().map(|s| &s.after_gp).collect();
        counters::hold_stats(&c.slab, c.caches.iter().map(|s| &s.slot), &after_gp)
    }

    fn unit_size(&self) -> usize {
        self.core.slab.unit_size()
    }
}

impl Core {
    fn stats(&self) -> AllocStats {
        counters::stats(
            &self.slab,
            self.caches.iter().map(|c| &c.slot),
            self.gp_done.load(Ordering::Relaxed),
        )
    }

    /// Hands a batch to the fallback worker: synchronize_rcu_expedited, then reusable.
    fn fallback(&self, idx: usize, list: ObjList) {
        let mut f = self.fallback.lock();
        let f = f.get_or_insert_with(|| {
            let (tx, rx) = std::sync::mpsc::channel::<(usize, ObjList)>();
            let core = CorePtr(self);
            let worker = std::thread::Builder::new()
                .name("reuse-fallback".into())
                .spawn(move || {
                    let core = core;
                    // SAFETY: see CorePtr.
                    let core = unsafe { &*core.0 };
                    while let Ok((idx, list)) = rx.recv() {
                        core.env.rcu.synchronize_expedited();
                        core.expedited_fallbacks.fetch_add(1, Ordering::Relaxed);
                        let c = &core.caches[idx];
                        // SAFETY: a grace period has passed since these were freed.
                        unsafe { reuse_ready(c as *const Shared as *const (), list) };
                    }
                })
                .expect("spawning the reuse fallback worker");
            Fallback { tx, worker }
        });
        f.tx.send((idx, list))
            .expect("the fallback worker lives as long as Core");
    }

    fn drain(&self) -> AllocStats {
        self.env.barrier();
        // Fallback batches in flight finish with their own expedited grace period.
        while self
            .caches
            .iter()
            .any(|c| c.reuse_cb_in_progress.load(Ordering::Acquire) != 0)
        {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        let shard = self.slab.gp_shard();
        for c in self.caches.iter() {
            let (a, b) = {
                let mut r = c.reuse.lock();
                r.abort = true;
                (
                    std::mem::take(&mut r.reuse_ready),
                    std::mem::take(&mut r.wait_for_free),
                )
            };
            let n = a.free_all(&self.slab, shard) + b.free_all(&self.slab, shard);
            c.after_gp.change(-(n as i64));
            self.gp_done.fetch_add(n as u64, Ordering::Relaxed);
            std::mem::take(&mut *c.parked.lock()).free_all(&self.slab, shard);
        }
        self.stats()
    }
}

impl Drop for Core {
    fn drop(&mut self) {
        self.drain();
        if let Some(f) = self.fallback.lock().take() {
            drop(f.tx);
            let _ = f.worker.join();
        }
    }
}

impl ReuseAfterGp {
    /// Batches that fell back to synchronize_rcu_expedited (fault injection).
    pub fn expedited_fallbacks(&self) -> u64 {
        self.core.expedited_fallbacks.load(Ordering::Relaxed)
    }
}

impl ReuseAfterGpCache {
    #[inline]
    fn me(&self) -> &Shared {
        &self.core.caches[self.idx]
    }

    /// alloc_bulk: reuse_ready, then wait_for_free (both past an RCU grace period), then slab.
    fn alloc_bulk(&mut self, cnt: usize) {
        let mut got = {
            let mut r = self.core.caches[self.idx].reuse.lock();
            let mut got = r.reuse_ready.take(cnt);
            if got.len() < cnt {
                let mut more = r.wait_for_free.take(cnt - got.len());
                got.prepend(&mut more);
            }
            got
        };
        let me = &self.core.caches[self.idx];
        bump(&me.slot.counters.gp_reused, got.len() as u64);
        // The RFC's reuse path takes objects one at a time.
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

    /// bpf_ma_prepare_reuse_work, run inline where the kernel queues it.
    fn prepare_reuse_work(&mut self) {
        let list = std::mem::take(&mut self.prepare_reuse);
        let me = &self.core.caches[self.idx];
        let do_free = {
            let mut r = me.reuse.lock();
            if !r.reuse_ready.is_empty() && !me.free_cb_in_progress.swap(true, Ordering::AcqRel) {
                let ReuseLists {
                    reuse_ready,
                    wait_for_free,
                    ..
                } = &mut *r;
                wait_for_free.prepend(reuse_ready);
                true
            } else {
                false
            }
        };
        if do_free {
            // SAFETY: we set free_cb_in_progress, so rcu_free is ours; Core outlives callbacks.
            unsafe {
                self.tt.call(
                    NonNull::new_unchecked(me.rcu_free.get()),
                    free_reusable_after_ttrace,
                )
            };
        }
        if list.is_empty() {
            return;
        }
        self.stamper.batch_sent(&self.core.slab.hold);
        me.reuse_cb_in_progress.fetch_add(1, Ordering::Relaxed);
        if self.core.fail_batch_alloc {
            // kmalloc of the batch descriptor failed.
            self.core.fallback(self.idx, list);
            return;
        }
        // SAFETY: `me` lives in Core, which waits for callbacks before it goes.
        unsafe {
            send_after_gp(
                &self.rcu,
                list,
                me as *const Shared as *const (),
                reuse_ready,
            )
        };
    }
}

/// bpf_ma_reuse_cb: the batch has seen a grace period; make it reusable.
///
/// # Safety
/// `ctx` is the `Shared` that `prepare_reuse_work` passed, whose Core is still alive.
unsafe fn reuse_ready(ctx: *const (), mut list: ObjList) {
    // SAFETY: `ctx` points into the Core's caches, which outlive its callbacks; `c.core` is
    // that Core.
    let (c, core) = unsafe {
        let c = &*(ctx as *const Shared);
        (c, &*c.core)
    };
    let n = list.len() as i64;
    // Reusable from here, yet still deferred: they leave the pipeline when an alloc_bulk takes
    // them (gp_reused) or the tasks-trace callback returns them to the slab (gp_done).
    c.after_gp.change(n);
    let leftover = {
        let mut r = c.reuse.lock();
        if r.abort {
            Some(list)
        } else {
            r.reuse_ready.prepend(&mut list);
            None
        }
    };
    if let Some(l) = leftover {
        let n = l.free_all_done(&core.slab, core.slab.gp_shard(), &core.gp_done);
        c.after_gp.change(-(n as i64));
    }
    c.reuse_cb_in_progress.fetch_sub(1, Ordering::Release);
}

/// bpf_ma_free_reusable_cb: after a tasks-trace grace period, back to the slab.
///
/// # Safety
/// `h` is the `rcu_free` of a `Shared` whose Core is still alive, queued by the holder of its
/// `free_cb_in_progress`.
unsafe fn free_reusable_after_ttrace(h: NonNull<RcuHead>) {
    let off = std::mem::offset_of!(Shared, rcu_free);
    // SAFETY: `h` is the field at `off` of a live Shared (container_of); `c.core` is the Core
    // that owns it, alive until its callbacks have run.
    let (c, core) = unsafe {
        let c = &*((h.as_ptr() as *const u8).sub(off) as *const Shared);
        (c, &*c.core)
    };
    let list = std::mem::take(&mut c.reuse.lock().wait_for_free);
    let n = list.free_all_done(&core.slab, core.slab.gp_shard(), &core.gp_done);
    c.after_gp.change(-(n as i64));
    c.free_cb_in_progress.store(false, Ordering::Release);
}

impl Cache for ReuseAfterGpCache {
    #[inline]
    fn alloc(&mut self) -> Option<NonNull<u8>> {
        if self.free.len() < self.core.wm.low {
            self.core.env.deferred.raise();
            self.alloc_bulk(self.core.wm.batch);
        }
        let h = self.free.pop()?;
        bump(&self.me().slot.counters.allocs, 1);
        Some(slab::payload(h))
    }

    #[inline]
    unsafe fn free(&mut self, obj: NonNull<u8>) {
        let c = &self.core.caches[self.idx].slot.counters;
        bump(&c.frees, 1);
        bump(&c.gp_enter, 1);
        // SAFETY: `obj` came from `alloc`, which hands out `slab::payload`s.
        let h = unsafe { header(obj) };
        // The hold-time stamp, or null: `aux` is unused while the object is deferred.
        let stamp = aux_word(self.stamper.enter_batch(&self.core.slab.hold));
        // SAFETY: the caller gave the object up and it is on no list: we own its header.
        unsafe { (*h.as_ptr()).aux = stamp };
        self.prepare_reuse.push(h);
        if self.prepare_reuse.len() > self.core.wm.high {
            // The kworker the RFC queues on this CPU.
            self.core.env.deferred.raise();
            self.core.env.deferred.per_object(self.prepare_reuse.len());
            self.prepare_reuse_work();
        }
    }
}

impl Drop for ReuseAfterGpCache {
    fn drop(&mut self) {
        // What was freed here still needs its grace period before anyone reuses it.
        self.prepare_reuse_work();
        let me = &self.core.caches[self.idx];
        me.parked.lock().prepend(&mut self.free);
        me.slot.release();
    }
}
