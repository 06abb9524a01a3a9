//! Object counters shared by the flavors.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crossbeam_utils::CachePadded;

use crate::hold_time::Occupancy;
use crate::slab::Slab;
use crate::{AllocStats, HoldStats};

/// One cache's counters. Written by the owning thread only (a plain load and store, no
/// read-modify-write), read by `stats`.
#[derive(Default)]
pub(crate) struct CacheCounters {
    pub(crate) allocs: AtomicU64,
    pub(crate) frees: AtomicU64,
    /// Objects this cache sent towards a grace period, and took back from one for reuse.
    pub(crate) gp_enter: AtomicU64,
    pub(crate) gp_reused: AtomicU64,
}

#[inline]
pub(crate) fn bump(c: &AtomicU64, n: u64) {
    c.store(c.load(Ordering::Relaxed) + n, Ordering::Relaxed);
}

/// What every flavor keeps per CPU besides its lists: the claim and the counters.
#[derive(Default)]
pub(crate) struct Slot {
    claimed: AtomicBool,
    pub(crate) counters: CachePadded<CacheCounters>,
}

impl Slot {
    pub(crate) fn claim(&self, flavor: &str, cpu: usize) {
        assert!(
            !self.claimed.swap(true, Ordering::Acquire),
            "{flavor}: cache {cpu} is already in use by another thread"
        );
    }

    pub(crate) fn release(&self) {
        self.claimed.store(false, Ordering::Release);
    }
}

/// Builds the stats of an allocator from its slab, its slots and the number of objects that
/// callbacks took out of the grace-period pipeline (to the slab or back to a cache).
pub(crate) fn stats<'a>(
    slab: &Slab,
    slots: impl Iterator<Item = &'a Slot>,
    gp_done_by_callbacks: u64,
) -> AllocStats {
    let (mut allocs, mut frees, mut enter, mut reused) = (0u64, 0u64, 0u64, 0u64);
    for s in slots {
        let c = &s.counters;
        allocs += c.allocs.load(Ordering::Relaxed);
        frees += c.frees.load(Ordering::Relaxed);
        enter += c.gp_enter.load(Ordering::Relaxed);
        reused += c.gp_reused.load(Ordering::Relaxed);
    }
    let from = slab.taken();
    let to = slab.returned();
    let in_use = allocs as i64 - frees as i64;
    let waiting = enter as i64 - reused as i64 - gp_done_by_callbacks as i64;
    AllocStats {
        from_slab: from,
        to_slab: to,
        in_use,
        waiting_gp: waiting,
        cached: from as i64 - to as i64 - in_use - waiting,
        leaked: from as i64 - to as i64,
    }
}

/// The hold-time summary of an allocator from its slab, its slots and the occupancy of its
/// post-grace-period lists.
pub(crate) fn hold_stats<'a>(
    slab: &Slab,
    slots: impl Iterator<Item = &'a Slot>,
    after_gp: &[&Occupancy],
) -> HoldStats {
    let frees = slots
        .map(|s| s.counters.frees.load(Ordering::Relaxed))
        .sum();
    slab.hold.summary(frees, after_gp)
}
