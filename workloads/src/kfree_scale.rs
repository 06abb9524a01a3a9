//! The kfree_rcu scalability test of kernel/rcu/rcuscale.c (`kfree_scale_thread`): threads
//! started together each run `loops` x `alloc_num` rounds of allocate-then-free-via-RCU, and
//! the last one to finish reports the time since its start and the grace periods elapsed.

use std::alloc::{self, Layout};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rcu::{Domain, KfreeConfig, KfreeHead, KfreeRcu, KfreeStats, RcuHead, ReclaimMode};

/// How objects are freed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KfreeMode {
    /// One `call_rcu` per object, its callback frees it (`kfree_by_call_rcu` on a kernel
    /// without CONFIG_RCU_LAZY, or `call_rcu_hurry`).
    CallRcu,
    /// The same with lazy callbacks (`kfree_by_call_rcu` under CONFIG_RCU_LAZY, the kernel
    /// configuration rcuscale's call_rcu mode was written to test).
    CallRcuLazy,
    /// `kvfree_rcu` with whole-batch reclaim (the kernel before seed 002).
    Batched,
    /// `kvfree_rcu` with per-block polled reclaim (seed 002).
    BatchedPolled,
}

impl KfreeMode {
    pub const ALL: [KfreeMode; 4] = [
        KfreeMode::CallRcu,
        KfreeMode::CallRcuLazy,
        KfreeMode::Batched,
        KfreeMode::BatchedPolled,
    ];

    pub fn name(self) -> &'static str {
        match self {
            KfreeMode::CallRcu => "call-rcu",
            KfreeMode::CallRcuLazy => "call-rcu-lazy",
            KfreeMode::Batched => "batched",
            KfreeMode::BatchedPolled => "batched-polled",
        }
    }

    pub fn parse(s: &str) -> Option<KfreeMode> {
        Self::ALL.into_iter().find(|m| m.name() == s)
    }
}

/// The test's parameters (rcuscale's module parameters).
#[derive(Clone, Debug)]
pub struct ScaleConfig {
    pub nthreads: usize,
    pub alloc_num: usize,
    pub loops: usize,
    pub mult: usize,
    pub mode: KfreeMode,
    pub drain_period: Duration,
    pub cached_blocks: usize,
    /// Fails some of kvfree_rcu's block allocations (`--fail-alloc`).
    pub fail_alloc: Option<memcg::FailAlloc>,
}

/// rcuscale's `struct kfree_obj { char kfree_obj[8]; struct rcu_head rh; }`: the 8 bytes
/// hold the allocation's size here (the kernel's slab knows it; our free needs it), and the
/// head is an `RcuHead` (call-rcu) or a `KfreeHead` (kvfree_rcu), both 24 bytes.
pub const OBJ_BASE: usize = 8 + HEAD_BYTES;
const HEAD_BYTES: usize = 24;
const _: () = assert!(std::mem::size_of::<RcuHead>() == HEAD_BYTES);
const _: () = assert!(std::mem::size_of::<KfreeHead>() == HEAD_BYTES);

/// What one run measured.
#[derive(Clone, Debug, Default)]
pub struct ScaleResult {
    /// From the last-finishing thread's start to its end (rcuscale's "Total time").
    pub total_ns: u64,
    /// Grace periods completed between the last thread's start and the last thread's end.
    pub batches: u64,
    pub objects: u64,
    /// kvfree_rcu counters after the final drain (batched modes).
    pub kfree: Option<KfreeStats>,
    /// Callbacks the domain invoked during the test and the drain (call-rcu modes).
    pub callbacks_invoked: u64,
}

fn obj_layout(mult: usize) -> Layout {
    Layout::from_size_align(mult * OBJ_BASE, 8).expect("object layout")
}

/// Allocates one object and records its size in its first 8 bytes. It is charged to the
/// process's memcg whatever the limit: rcuscale's small GFP_KERNEL kmalloc would reclaim or
/// OOM-kill rather than fail, so the limit bites on kvfree_rcu's blocks, not on these.
fn alloc_obj(layout: Layout) -> NonNull<u8> {
    memcg::charge_nofail(memcg::kmalloc_size(layout.size()));
    // SAFETY: the layout has a non-zero size (mult >= 1, asserted by `KfreeScale::new`).
    let p = unsafe { alloc::alloc(layout) };
    let Some(p) = NonNull::new(p) else {
        alloc::handle_alloc_error(layout)
    };
    // SAFETY: at least 32 bytes, 8-aligned, ours.
    unsafe { (p.as_ptr() as *mut usize).write(layout.size()) };
    p
}

/// Frees an object made by `alloc_obj` (`kfree`).
///
/// # Safety
/// `p` came from `alloc_obj` and is not used again.
unsafe fn free_obj(p: *mut u8) {
    // SAFETY: `p` came from `alloc_obj`, whose first word is the allocation's size.
    let size = unsafe {
        let size = (p as *const usize).read();
        alloc::dealloc(p, Layout::from_size_align_unchecked(size, 8));
        size
    };
    memcg::uncharge(memcg::kmalloc_size(size));
}

/// `kfree_call_rcu`: the callback recovers the object from its head (container_of).
///
/// # Safety
/// `head` sits 8 bytes into an object made by `alloc_obj`, which is not used again.
unsafe fn free_obj_cb(head: NonNull<RcuHead>) {
    // SAFETY: the head sits 8 bytes into an object made by `alloc_obj` (our contract), so
    // stepping back 8 bytes stays inside it and gives that object, which `free_obj` may free
    // since nothing uses it again.
    unsafe { free_obj((head.as_ptr() as *mut u8).sub(8)) }
}

/// One run of the test: the harness's driver runs `thread(i, ready)` on each of
/// `cfg.nthreads` threads (pinned as rcuscale pins its kfree'ers), then `finish`.
pub struct KfreeScale<'d> {
    cfg: ScaleConfig,
    domain: &'d Domain,
    kfree: Option<KfreeRcu>,
    layout: Layout,
    started: AtomicUsize,
    ended: AtomicUsize,
    gp_start: AtomicU64,
    /// The last thread's (time, grace periods).
    out: Mutex<(u64, u64)>,
    cb_base: u64,
}

impl<'d> KfreeScale<'d> {
    /// A run of `cfg` on `domain`.
    ///
    /// # Panics
    /// If `cfg.mult` is 0: an object is `mult` x 32 bytes and holds its size word and a
    /// 24-byte head, so it cannot be empty (rcuscale's kfree_mult is at least 1 too).
    pub fn new(cfg: &ScaleConfig, domain: &'d Domain) -> Self {
        assert!(
            cfg.mult >= 1,
            "KfreeScale: mult must be at least 1 (an object is mult x {OBJ_BASE} bytes), got 0"
        );
        let kfree = match cfg.mode {
            KfreeMode::CallRcu | KfreeMode::CallRcuLazy => None,
            m => Some(KfreeRcu::new(
                domain,
                KfreeConfig {
                    mode: if m == KfreeMode::Batched {
                        ReclaimMode::Batched
                    } else {
                        ReclaimMode::Polled
                    },
                    drain_period: cfg.drain_period,
                    cached_blocks: cfg.cached_blocks,
                    fail_alloc: cfg.fail_alloc,
                },
            )),
        };
        KfreeScale {
            cfg: cfg.clone(),
            domain,
            kfree,
            layout: obj_layout(cfg.mult),
            started: AtomicUsize::new(0),
            ended: AtomicUsize::new(0),
            gp_start: AtomicU64::new(0),
            out: Mutex::new((0, 0)),
            cb_base: domain.stats().callbacks_invoked,
        }
    }

    /// `kfree_scale_thread` for thread `i` of `cfg.nthreads`: registers, calls `ready`
    /// (the start line every thread crosses together), then runs its loops.
    pub fn thread(&self, _i: usize, ready: &dyn Fn()) {
        let (cfg, domain, n) = (&self.cfg, self.domain, self.cfg.nthreads);
        let lazy = cfg.mode == KfreeMode::CallRcuLazy;
        let rcu_h = domain.register();
        let kh = self.kfree.as_ref().map(|k| k.register());
        ready();
        let start = Instant::now();
        if self.started.fetch_add(1, Ordering::AcqRel) + 1 == n {
            self.gp_start
                .store(domain.stats().grace_periods, Ordering::Release);
        }
        for _ in 0..cfg.loops {
            for _ in 0..cfg.alloc_num {
                let p = alloc_obj(self.layout);
                // SAFETY: the object is fresh and 32+ bytes; its head at offset 8 stays
                // valid until the free below runs, which frees it once.
                unsafe {
                    let head = p.as_ptr().add(8);
                    match &kh {
                        None => {
                            let h = head as *mut RcuHead;
                            h.write(RcuHead::new());
                            if lazy {
                                rcu_h.call_lazy(NonNull::new_unchecked(h), free_obj_cb);
                            } else {
                                rcu_h.call(NonNull::new_unchecked(h), free_obj_cb);
                            }
                        }
                        Some(kh) => {
                            let h = head as *mut KfreeHead;
                            h.write(KfreeHead::new());
                            kh.kvfree_rcu_headed(p, NonNull::new_unchecked(h), free_obj);
                        }
                    }
                }
            }
            std::thread::yield_now(); // cond_resched()
        }
        if self.ended.fetch_add(1, Ordering::AcqRel) + 1 == n {
            let ns = start.elapsed().as_nanos() as u64;
            let gps = domain.stats().grace_periods - self.gp_start.load(Ordering::Acquire);
            *self.out.lock().unwrap() = (ns, gps);
        }
    }

    /// After every thread returned: drains kvfree_rcu, waits for the callbacks
    /// (rcu_barrier) and reports.
    pub fn finish(self) -> ScaleResult {
        let (total_ns, batches) = *self.out.lock().unwrap();
        let kstats = self.kfree.as_ref().map(|k| {
            k.drain();
            k.stats()
        });
        self.domain.barrier();
        let c = &self.cfg;
        ScaleResult {
            total_ns,
            batches,
            objects: (c.nthreads * c.loops * c.alloc_num) as u64,
            kfree: kstats,
            callbacks_invoked: self.domain.stats().callbacks_invoked - self.cb_base,
        }
    }
}
