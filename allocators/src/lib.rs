//! Memory allocators for RCU-protected objects: the `Allocator` trait, the counted slab, and
//! one file per flavor of the kernel's bpf memory allocator and its baselines.
//!
//! A producer thread plays one CPU: `Allocator::cache(cpu)` gives it that CPU's cache. Work the
//! kernel defers to irq_work or a kworker on the same CPU runs inline here, at the watermark
//! crossing that would have raised it; RCU callbacks run on the domains' own threads.

mod bpf_mem_alloc;
mod counters;
mod deferred;
mod env;
mod gp_batch;
mod hold_time;
mod list;
pub mod registry;
mod slab;
mod watermarks;

// Add a flavor: one file in src/ (its module) + one line here (`mod file::Type`), in the order
// tables list the flavors. docs/adding-a-flavor.md shows the steps.
registry! {
    /// The flavors by CLI name, in the order tables list them.
    pub const FLAVORS;
    /// Runs `v` with the flavor called `name`; None if there is no such flavor.
    pub fn with_flavor<V: FlavorVisitor>;
    Allocator {
        mod malloc_call_rcu::MallocCallRcu,
        mod immediate_reuse::ImmediateReuse,
        mod reuse_after_gp::ReuseAfterGp,
        mod free_after_gp::FreeAfterGp,
        mod call_rcu_free::CallRcuFree,
        mod free_rcu::FreeRcu,
        mod prealloc::Prealloc,
    }
}

use std::ptr::NonNull;
use std::sync::Arc;

pub use deferred::DeferredWork;
pub use env::Env;
pub use hold_time::{HoldStats, HoldSummary, SAMPLE_PERIOD};
pub use slab::{HEADER_SIZE, LLIST_NODE_SZ};
pub use watermarks::Watermarks;

/// What every flavor is built from.
#[derive(Clone, Debug)]
pub struct AllocConfig {
    /// Payload bytes per object (the allocator adds its own header).
    pub obj_size: usize,
    /// Number of per-CPU caches (= producer threads).
    pub nr_caches: usize,
    pub env: Env,
    /// The map's max_entries: what a preallocating flavor sets up front.
    pub capacity: usize,
    /// Fault injection: every batch descriptor allocation of reuse-after-gp fails, forcing its
    /// synchronize_rcu_expedited fallback.
    pub fail_batch_alloc: bool,
    /// Fault injection at the slab (`--fail-alloc`): some object allocations fail, as when the
    /// kernel's slab or memcg refuses them, so every flavor's failure path runs (refill that
    /// gets nothing, an alloc that returns NULL and an update that returns ENOMEM). The
    /// preallocated map's area, made up front, is never failed.
    pub fail_alloc: Option<memcg::FailAlloc>,
    /// Which memalloc.c the bpf_mem_alloc flavors follow.
    pub memalloc: MemallocGen,
}

/// The generation of kernel/bpf/memalloc.c that immediate-reuse, call-rcu-free and free-rcu
/// follow. v6.6 added two things (commits 822fb26bdb55 "bpf: Add a hint to allocated objects"
/// and 04fabf00b4d3 "bpf: Allow reuse from waiting_for_gp_ttrace list"); before them an object
/// freed on another CPU never went back to the CPU that allocated it, which is what made
/// add_del_on_diff_cpu's memory grow in seed 001. reuse-after-gp and free-after-gp have no
/// such hint in either generation (their RFC predates it), so the choice does not change them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MemallocGen {
    /// v6.1, where bpf_mem_alloc first appeared: as v6.3, but a refill never reuses anything; every object comes from the slab, and every spill goes
    /// back to it after the tasks-trace grace period.
    V6_1,
    /// v6.2 to v6.5: the surplus of a free list goes to the freeing cache's own
    /// `free_by_rcu_ttrace` (named `free_by_rcu` before v6.6), and refill reuses only that list
    /// (commit 0893d6007db5, v6.2), never `waiting_for_gp_ttrace`.
    V6_3,
    /// v6.6 and later (today's): the surplus goes to the allocating cache (`c->tgt`), whose
    /// refill reuses `free_by_rcu_ttrace`, then `waiting_for_gp_ttrace`.
    #[default]
    Current,
}

impl MemallocGen {
    /// The `--memalloc` values, in the order of the variants.
    pub const NAMES: &'static [&'static str] = &["v6.1", "v6.3", "current"];

    pub fn name(self) -> &'static str {
        match self {
            MemallocGen::V6_1 => Self::NAMES[0],
            MemallocGen::V6_3 => Self::NAMES[1],
            MemallocGen::Current => Self::NAMES[2],
        }
    }

    pub fn from_name(s: &str) -> Option<MemallocGen> {
        [MemallocGen::V6_1, MemallocGen::V6_3, MemallocGen::Current]
            .into_iter()
            .find(|g| g.name() == s)
    }

    /// Whether a free remembers the allocating cache and spills towards it (`c->tgt`).
    #[inline]
    pub(crate) fn has_tgt_hint(self) -> bool {
        self == MemallocGen::Current
    }

    /// Whether a refill takes objects back from `free_by_rcu_ttrace` (commit 0893d6007db5,
    /// v6.2) before the slab.
    #[inline]
    pub(crate) fn reuses_free_by_rcu(self) -> bool {
        self != MemallocGen::V6_1
    }
}

impl AllocConfig {
    pub fn new(obj_size: usize, nr_caches: usize, env: Env) -> Self {
        AllocConfig {
            obj_size,
            nr_caches,
            env,
            capacity: 0,
            fail_batch_alloc: false,
            fail_alloc: None,
            memalloc: MemallocGen::Current,
        }
    }

    pub fn with_capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity;
        self
    }
}

/// A fixed-size object allocator for RCU-protected data (`bpf_mem_alloc`).
pub trait Allocator: Send + Sync + Sized + 'static {
    type Cache: Cache;
    /// The CLI name of the flavor.
    const NAME: &'static str;
    /// Whether a freed object is never handed out again before an RCU grace period has
    /// elapsed since its free — what makes a lookup's element stay the one it found.
    const REUSE_AFTER_GP: bool;

    fn new(cfg: &AllocConfig) -> Self;

    /// The charged bytes a flavor takes when the map is created (the preallocated map's
    /// area), which must fit under the memory limit or the map's creation fails with ENOMEM,
    /// as the kernel's `bpf_map_area_alloc` under a memcg does. 0 (the default) for flavors
    /// that allocate on demand.
    fn creation_charge(_cfg: &AllocConfig) -> usize {
        0
    }

    /// The per-CPU cache of `cpu`, used by the calling thread only. It registers the thread
    /// with the RCU domains. Panics if that cache is already in use.
    fn cache(self: &Arc<Self>, cpu: usize) -> Self::Cache;

    /// Counters; `leaked` is meaningful after `drain`.
    fn stats(&self) -> AllocStats;

    /// How long the objects this flavor defers are held (see `HoldStats`), cumulative.
    fn hold_stats(&self) -> HoldStats;

    /// The bytes one object takes from the slab, header included.
    fn unit_size(&self) -> usize;

    /// Teardown, once every cache is dropped and every object freed: waits for the RCU
    /// callbacks (rcu_barrier, rcu_barrier_tasks_trace), returns every cached object to the
    /// slab and reports what was never returned.
    fn drain(&self) -> AllocStats;
}

/// One CPU's cache.
pub trait Cache {
    /// An object of `obj_size` bytes, 8-aligned, contents unspecified; None = -ENOMEM.
    fn alloc(&mut self) -> Option<NonNull<u8>>;

    /// Gives `obj` back. RCU readers may still be reading it: when it may be handed out again
    /// is exactly what distinguishes the flavors.
    ///
    /// # Safety
    /// `obj` came from `alloc` of a cache of the same allocator and is not used by the caller
    /// afterwards (concurrent RCU readers aside).
    unsafe fn free(&mut self, obj: NonNull<u8>);

    /// An object for an update that replaces an existing element (which `free_replaced`
    /// will get). The preallocated map takes the CPU's spare element here.
    #[inline]
    fn alloc_replacing(&mut self) -> Option<NonNull<u8>> {
        self.alloc()
    }

    /// Frees the element an update replaced.
    ///
    /// # Safety
    /// As `free`.
    #[inline]
    unsafe fn free_replaced(&mut self, obj: NonNull<u8>) {
        // SAFETY: this function's contract is `free`'s.
        unsafe { self.free(obj) }
    }
}

/// Object counts of one allocator.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AllocStats {
    /// Objects taken from / returned to the slab (the system allocator).
    pub from_slab: u64,
    pub to_slab: u64,
    /// Handed out by `alloc` and not yet freed.
    pub in_use: i64,
    /// Deferred: freed (or spilled) and not yet reusable or returned to the slab -- waiting
    /// for a grace period, or past it on a list that waits for the tasks-trace callback.
    pub waiting_gp: i64,
    /// On the caches' own lists, ready to be handed out (the standing per-CPU caches).
    pub cached: i64,
    /// After `drain`: objects never returned to the slab.
    pub leaked: i64,
}

/// Monomorphises a computation over the flavor named at run time (the hot loop never goes
/// through `dyn`).
pub trait FlavorVisitor {
    type Output;
    fn visit<A: Allocator>(self) -> Self::Output;
}
