//! How long a flavor holds the objects it defers, measured on a sample of them.
//!
//! An object is *deferred* from the moment it enters the flavor's grace-period pipeline (its
//! `free`, or a spill of surplus towards a tasks-trace list) until it is *reusable* again
//! (back on a list an `alloc` pops without waiting) or returned to the slab. That is exactly
//! the state `AllocStats::waiting_gp` counts, so by Little's law its mean size is the entry
//! rate times the mean time held.
//!
//! About one entry in [`SAMPLE_PERIOD`] (random gaps, so batch sizes cannot alias with the
//! sampling) is stamped with `Instant`-based nanoseconds in a header word that is unused in
//! that state (`aux`, or `link` while a per-object callback owns `aux`); nothing else on the
//! hot path reads a clock. The stamp is consumed where the object leaves the state: `Slab::free`
//! (free to slab) or the walk that moves it onto a reusable list (free to reuse). A flavor
//! whose free makes the object reusable at once records a zero hold for a sampled free.
//!
//! Stage measurements: the batch-fill stage (entry until the batch is handed to `call_rcu`)
//! from the same stamps, aggregated per batch without walking it; the stage after the RCU
//! callback (the post-grace-period lists that end in the tasks-trace callback) as the
//! time-integral of those lists' length, taken at every batch event.

use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::Instant;

use crossbeam_utils::CachePadded;
use hdrhistogram::Histogram;
use parking_lot::Mutex;

use crate::list::ObjList;
use crate::slab::ObjHeader;

/// One entry in this many (on average) is stamped.
pub const SAMPLE_PERIOD: u32 = 64;

/// Nanoseconds since the first call in this process, plus one: a stamp is never zero, so a
/// null header word means "not sampled".
#[inline]
pub(crate) fn now_ns() -> u64 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    EPOCH.get_or_init(Instant::now).elapsed().as_nanos() as u64 + 1
}

/// A stamp, or none, as the `aux` word it is kept in.
#[inline]
pub(crate) fn aux_word(stamp: Option<u64>) -> *const () {
    std::ptr::without_provenance(stamp.unwrap_or(0) as usize)
}

/// A stamp, or none, as the `link` word it is kept in while a per-object callback owns `aux`.
#[inline]
pub(crate) fn link_word(stamp: Option<u64>) -> *mut ObjHeader {
    std::ptr::without_provenance_mut(stamp.unwrap_or(0) as usize)
}

/// The stamp in `aux`, if any, clearing it.
///
/// # Safety
/// `h` is a live header the caller owns, whose `aux` holds a stamp or null.
#[inline]
pub(crate) unsafe fn take_stamp(h: NonNull<ObjHeader>) -> Option<u64> {
    // SAFETY: the header is live and the caller owns it, so nothing else accesses `aux`.
    let w = unsafe { (*h.as_ptr()).aux }.addr() as u64;
    if w == 0 {
        return None;
    }
    // SAFETY: as for the read.
    unsafe { (*h.as_ptr()).aux = std::ptr::null() };
    Some(w)
}

/// The stamp a per-object callback's object carries in `link` (see `Stamper::enter`), if any,
/// clearing it.
///
/// # Safety
/// `h` is a live header the caller owns, off every list, whose `link` was set at its free to
/// a stamp or null.
#[inline]
pub(crate) unsafe fn take_link_stamp(h: NonNull<ObjHeader>) -> Option<u64> {
    // SAFETY: the header is live, the caller owns it and it is on no list, so nothing else
    // accesses `link`.
    let w = unsafe { (*h.as_ptr()).link }.addr() as u64;
    // SAFETY: as for the read.
    unsafe { (*h.as_ptr()).link = std::ptr::null_mut() };
    (w != 0).then_some(w)
}

/// A cache's sampler, owned by the thread that owns the cache (no atomics on the fast path).
pub(crate) struct Stamper {
    /// The slab shard of the owning cache, where its samples are recorded.
    shard: usize,
    /// Entries left until the next sample.
    gap: u32,
    rng: u32,
    /// Entries seen since the last sample, published on the next one.
    seen: u64,
    /// Stamped objects in the batch being filled, and the sum of their stamps.
    batch_n: u64,
    batch_sum: u64,
}

impl Stamper {
    /// The sampler of the cache of CPU `shard`.
    pub(crate) fn new(shard: usize) -> Stamper {
        let mut s = Stamper {
            shard,
            gap: 0,
            rng: (shard as u32).wrapping_mul(0x9E37_79B9) | 1,
            seen: 0,
            batch_n: 0,
            batch_sum: 0,
        };
        s.gap = s.next_gap();
        s
    }

    /// Uniform in 1..=2*SAMPLE_PERIOD-1: mean SAMPLE_PERIOD.
    fn next_gap(&mut self) -> u32 {
        // xorshift32
        let mut x = self.rng;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        self.rng = x;
        1 + x % (2 * SAMPLE_PERIOD - 1)
    }

    /// One object enters the deferred state: a stamp when it is sampled.
    #[inline]
    pub(crate) fn enter(&mut self, hold: &HoldTimes) -> Option<u64> {
        self.seen += 1;
        self.gap -= 1;
        if self.gap != 0 {
            return None;
        }
        Some(self.sampled(hold))
    }

    #[cold]
    fn sampled(&mut self, hold: &HoldTimes) -> u64 {
        self.gap = self.next_gap();
        hold.entries
            .fetch_add(std::mem::take(&mut self.seen), Ordering::Relaxed);
        let now = now_ns();
        let mut s = hold.shards[self.shard].lock();
        s.stamped += 1;
        s.stamp_in = s.stamp_in.wrapping_add(now);
        now
    }

    /// As `enter`, for an object that joins the batch being filled.
    #[inline]
    pub(crate) fn enter_batch(&mut self, hold: &HoldTimes) -> Option<u64> {
        let s = self.enter(hold)?;
        self.batch_n += 1;
        self.batch_sum += s;
        Some(s)
    }

    /// The batch being filled is handed to `call_rcu` now.
    #[inline]
    pub(crate) fn batch_sent(&mut self, hold: &HoldTimes) {
        if self.batch_n == 0 {
            return;
        }
        let now = now_ns();
        let n = std::mem::take(&mut self.batch_n);
        let sum = std::mem::take(&mut self.batch_sum);
        hold.batch_fill_ns
            .fetch_add((n * now).saturating_sub(sum), Ordering::Relaxed);
        hold.batch_fill_n.fetch_add(n, Ordering::Relaxed);
    }

    /// Stamps the objects of a spill (entering the tasks-trace lists) that are sampled.
    pub(crate) fn enter_list(&mut self, hold: &HoldTimes, l: &ObjList) {
        for h in l.iter() {
            if let Some(s) = self.enter(hold) {
                // SAFETY: the objects of `l` are ours; `aux` is unused while on a list.
                unsafe { (*h.as_ptr()).aux = aux_word(Some(s)) };
            }
        }
    }
}

/// One shard's samples. Each count moves together with its stamp sum under the shard's lock,
/// so that a snapshot never sees a sample's count without its stamp (an error of the whole
/// run's length); an object entering in one shard and leaving in another is seen in a state
/// it was in, or as left but not entered, which is off by the time since it left.
#[derive(Default)]
struct Shard {
    to_reuse: Hist,
    to_slab: Hist,
    /// Sampled entries and the (wrapping) sum of their stamps; the sum of the stamps of the
    /// sampled objects that left.
    stamped: u64,
    stamp_in: u64,
    stamp_out: u64,
}

impl Shard {
    fn left(&mut self, stamp: u64) -> u64 {
        self.stamp_out = self.stamp_out.wrapping_add(stamp);
        now_ns().saturating_sub(stamp)
    }
}

/// Microseconds up to 100 s at two significant digits with u32 counts: about 10 KiB, which
/// the cell's heap measurement sees (a few per allocator).
struct Hist {
    us: Histogram<u32>,
    sum_ns: u64,
}

impl Default for Hist {
    fn default() -> Self {
        Hist {
            us: Histogram::new_with_bounds(1, 100_000_000, 2).expect("static bounds"),
            sum_ns: 0,
        }
    }
}

impl Hist {
    fn record(&mut self, ns: u64) {
        self.us.saturating_record(ns / 1000);
        self.sum_ns += ns;
    }
}

/// The time-integral of a set of lists' length: object-nanoseconds spent on them.
#[derive(Default)]
pub(crate) struct Occupancy {
    inner: Mutex<OccInner>,
}

#[derive(Default)]
struct OccInner {
    len: u64,
    at: u64,
    area: u128,
}

impl Occupancy {
    /// The lists gained (`delta` > 0) or lost objects now.
    pub(crate) fn change(&self, delta: i64) {
        if delta == 0 {
            return;
        }
        let now = now_ns();
        let mut o = self.inner.lock();
        o.area += o.len as u128 * now.saturating_sub(o.at) as u128;
        o.at = now;
        o.len = o.len.saturating_add_signed(delta);
    }

    /// Object-nanoseconds up to now.
    fn area(&self, now: u64) -> u128 {
        let o = self.inner.lock();
        o.area + o.len as u128 * now.saturating_sub(o.at) as u128
    }
}

/// One allocator's hold-time records: a histogram pair per slab shard (a producer's cache,
/// or the callbacks' shard), so that recording rarely meets another thread.
pub(crate) struct HoldTimes {
    shards: Box<[CachePadded<Mutex<Shard>>]>,
    /// Entries into the deferred state (published by the samplers).
    entries: AtomicU64,
    batch_fill_ns: AtomicU64,
    batch_fill_n: AtomicU64,
}

impl HoldTimes {
    pub(crate) fn new(nr_shards: usize) -> HoldTimes {
        HoldTimes {
            shards: (0..nr_shards).map(|_| CachePadded::default()).collect(),
            entries: AtomicU64::new(0),
            batch_fill_ns: AtomicU64::new(0),
            batch_fill_n: AtomicU64::new(0),
        }
    }

    /// A sampled object that entered at `stamp` becomes reusable now.
    pub(crate) fn record_reuse(&self, shard: usize, stamp: u64) {
        let mut s = self.shards[shard].lock();
        let ns = s.left(stamp);
        s.to_reuse.record(ns);
    }

    /// A sampled object that entered at `stamp` goes back to the slab now.
    pub(crate) fn record_slab(&self, shard: usize, stamp: u64) {
        let mut s = self.shards[shard].lock();
        let ns = s.left(stamp);
        s.to_slab.record(ns);
    }

    /// The objects of `l` become reusable now: records the sampled ones.
    pub(crate) fn reusable(&self, shard: usize, l: &ObjList) {
        for h in l.iter() {
            // SAFETY: the caller owns the objects of `l`, whose `aux` holds a stamp or null.
            if let Some(s) = unsafe { take_stamp(h) } {
                self.record_reuse(shard, s);
            }
        }
    }

    pub(crate) fn summary(&self, frees: u64, after_gp: &[&Occupancy]) -> HoldStats {
        let (mut reuse, mut slab) = (Hist::default(), Hist::default());
        let (mut stamped, mut stamp_sum_in, mut stamp_sum_out) = (0u64, 0u64, 0u64);
        for s in self.shards.iter() {
            let s = s.lock();
            reuse.us.add(&s.to_reuse.us).expect("same bounds");
            reuse.sum_ns += s.to_reuse.sum_ns;
            slab.us.add(&s.to_slab.us).expect("same bounds");
            slab.sum_ns += s.to_slab.sum_ns;
            stamped += s.stamped;
            stamp_sum_in = stamp_sum_in.wrapping_add(s.stamp_in);
            stamp_sum_out = stamp_sum_out.wrapping_add(s.stamp_out);
        }
        // The clock after every shard: the objects seen held have entered before it.
        let now = now_ns();
        HoldStats {
            frees,
            entries: self.entries.load(Ordering::Relaxed),
            stamped,
            stamp_sum_in,
            stamp_sum_out,
            to_reuse: reuse.summary(),
            to_slab: slab.summary(),
            batch_fill_ns: self.batch_fill_ns.load(Ordering::Relaxed),
            batch_fill_n: self.batch_fill_n.load(Ordering::Relaxed),
            after_gp_obj_ns: after_gp.iter().map(|o| o.area(now)).sum::<u128>() as f64,
            at_ns: now,
        }
    }
}

impl Hist {
    fn summary(&self) -> HoldSummary {
        HoldSummary {
            count: self.us.len(),
            sum_ns: self.sum_ns,
            p50_ns: self.us.value_at_quantile(0.5) * 1000,
            p99_ns: self.us.value_at_quantile(0.99) * 1000,
            max_ns: self.us.max() * 1000,
        }
    }
}

/// A distribution of sampled hold times (cumulative since the allocator was made); the
/// percentiles have microsecond resolution, the sum is exact.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct HoldSummary {
    pub count: u64,
    pub sum_ns: u64,
    pub p50_ns: u64,
    pub p99_ns: u64,
    pub max_ns: u64,
}

impl HoldSummary {
    pub fn mean_ns(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            self.sum_ns as f64 / self.count as f64
        }
    }
}

/// What a flavor holds and for how long (`Allocator::hold_stats`). All counts are cumulative,
/// so a window is the difference of two snapshots.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct HoldStats {
    /// `free` calls.
    pub frees: u64,
    /// Entries into the deferred state seen by the samplers (up to one sampling gap per cache
    /// behind), and how many of them were stamped.
    pub entries: u64,
    pub stamped: u64,
    /// Wrapping sums of the sampled entries' stamps, and of those of the sampled objects that
    /// left (see `object_time_ns`).
    pub stamp_sum_in: u64,
    pub stamp_sum_out: u64,
    /// The clock (`hold_time`'s nanoseconds) of this snapshot.
    pub at_ns: u64,
    /// Sampled entries until the object was reusable again, and until it went back to the
    /// slab; every sampled entry ends in exactly one of the two.
    pub to_reuse: HoldSummary,
    pub to_slab: HoldSummary,
    /// Sampled objects' time from entry until their batch was handed to `call_rcu`.
    pub batch_fill_ns: u64,
    pub batch_fill_n: u64,
    /// Object-nanoseconds on the lists after the RCU callback (reusable lists and the lists
    /// waiting for the tasks-trace callback that returns them to the slab).
    pub after_gp_obj_ns: f64,
}

impl HoldStats {
    /// Sampled object-time up to this snapshot: the holds of the sampled objects that left,
    /// plus the age of those still held (`stamped - exits` of them, entered at
    /// `stamp_sum_in - stamp_sum_out` in total). The difference of two snapshots is the
    /// sampled deferred population integrated over the window between them -- Little's law
    /// without assuming a steady state, for a backlog that grows or drains in the window.
    pub fn object_time_ns(&self) -> f64 {
        let (exits, held_sum) = self.exits();
        let in_flight = self.stamped.wrapping_sub(exits);
        let ages = in_flight
            .wrapping_mul(self.at_ns)
            .wrapping_sub(self.stamp_sum_in.wrapping_sub(self.stamp_sum_out));
        held_sum.wrapping_add(ages) as i64 as f64
    }

    /// Sampled objects still held.
    pub fn in_flight(&self) -> i64 {
        self.stamped as i64 - self.exits().0 as i64
    }

    /// Sampled exits (reusable or returned) and their total hold.
    pub fn exits(&self) -> (u64, u64) {
        (
            self.to_reuse.count + self.to_slab.count,
            self.to_reuse.sum_ns + self.to_slab.sum_ns,
        )
    }
}
