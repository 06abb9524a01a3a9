//! "Memory explained": Little's law for the objects a flavor defers, beside the measurement.
//!
//! predicted = entries/s x mean hold per entry x unit size      (the deferred objects)
//!           + in-use elements + the caches' own free lists    (standing, sampled)
//!           + the rest of the cell's heap                      (standing, sampled)
//!
//! Entries are frees, plus the surplus a cache spills towards the tasks-trace lists; for every
//! flavor but immediate-reuse and call-rcu-free they are the frees. The mean hold per free is
//! the deferred term divided by the free rate. See docs/memory-model.md.

use allocators::{AllocStats, HoldStats, HoldSummary};
use serde::{Deserialize, Serialize};

use crate::result::DomainReport;

/// One sampled hold-time distribution over the measured window (percentiles cumulative
/// since the cell started, since the histograms are not reset after the warm-up).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct HoldReport {
    pub count: u64,
    pub mean_ns: f64,
    pub p50_ns: u64,
    pub p99_ns: u64,
}

impl HoldReport {
    fn window(before: &HoldSummary, after: &HoldSummary) -> HoldReport {
        let count = after.count - before.count;
        let sum = after.sum_ns - before.sum_ns;
        HoldReport {
            count,
            mean_ns: ratio(sum as f64, count as f64),
            p50_ns: after.p50_ns,
            p99_ns: after.p99_ns,
        }
    }
}

/// Where a free's mean hold goes, nanoseconds per free.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct HoldStages {
    /// From the free until its batch is handed to call_rcu (measured on the samples).
    pub batch_fill_ns: f64,
    /// From call_rcu until the grace period that completes it starts (pacing, earlier GPs),
    /// the grace period, and from its end until the callback runs: the RCU domain's sampled
    /// callbacks (zero for flavors that queue no RCU callback).
    pub pacing_ns: f64,
    pub gp_ns: f64,
    pub cb_wait_ns: f64,
    /// On the lists after the RCU callback (reusable lists, and those the tasks-trace callback
    /// returns to the slab): their object-time in the window divided by the frees.
    pub tasks_trace_ns: f64,
}

impl HoldStages {
    pub fn sum_ns(&self) -> f64 {
        self.batch_fill_ns + self.pacing_ns + self.gp_ns + self.cb_wait_ns + self.tasks_trace_ns
    }
}

/// The memory model of one cell (`CellResult::memory_model`).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct MemoryModel {
    /// The measured window the rates and averages cover.
    pub window_s: f64,
    /// Bytes one object is charged (its kmalloc size class), header included: the model is
    /// in charged bytes, as `mem_avg_charged` it is checked against.
    pub unit_bytes: u64,
    /// The object's requested size (0 in files from before charging, whose `unit_bytes`
    /// was this).
    #[serde(default)]
    pub unit_raw_bytes: u64,
    pub frees_per_s: f64,
    /// Entries into the deferred state per second (frees plus spills).
    pub entries_per_s: f64,
    /// Sampled entries that became reusable again / went back to the slab in the window.
    pub to_reuse: HoldReport,
    pub to_slab: HoldReport,
    /// Mean hold per sampled entry: the sampled objects' deferred time inside the window
    /// (completed holds, and the age of those still held at its end) per sampled entry; and
    /// per free (= entries/s x that / frees/s).
    pub mean_hold_per_entry_ns: f64,
    pub mean_held_ns: f64,
    /// The mean of the holds that completed in the window only (a steady state makes it the
    /// same as the above), and the sampled objects still held at the window's start and end:
    /// a backlog that grows makes the completed holds understate what is held.
    #[serde(default)]
    pub completed_hold_mean_ns: f64,
    #[serde(default)]
    pub sampled_held_start: i64,
    #[serde(default)]
    pub sampled_held_end: i64,
    pub stages: HoldStages,
    /// The prediction's terms, bytes: the deferred objects by Little's law, and the
    /// standing sizes (time averages over the window).
    pub deferred_bytes: f64,
    pub in_use_bytes: f64,
    pub cached_bytes: f64,
    pub other_heap_bytes: f64,
    pub predicted_bytes: f64,
    /// What it is checked against: `metrics.mem_avg`, and the deferred objects the
    /// allocator's counters saw (time average of `waiting_gp` x unit).
    pub measured_avg_bytes: f64,
    /// `mem_avg`'s standard error (one sample a second: in a spiky cell, megabytes).
    #[serde(default)]
    pub measured_avg_stderr_bytes: f64,
    pub deferred_measured_bytes: f64,
    /// The live heap averaged over the same 10 ms samples as the standing terms: the time
    /// average `mem_avg` estimates from one sample a second, which a spiky cell (peaks far
    /// above the average) can miss by more than the model's error.
    #[serde(default)]
    pub measured_10ms_avg_bytes: f64,
}

impl MemoryModel {
    /// predicted / measured average memory (0 when nothing was measured).
    pub fn ratio(&self) -> f64 {
        ratio(self.predicted_bytes, self.measured_avg_bytes)
    }

    /// predicted / the 10 ms average of the live heap.
    pub fn ratio_10ms(&self) -> f64 {
        ratio(self.predicted_bytes, self.measured_10ms_avg_bytes)
    }

    /// predicted / measured deferred bytes.
    pub fn deferred_ratio(&self) -> f64 {
        ratio(self.deferred_bytes, self.deferred_measured_bytes)
    }
}

fn ratio(a: f64, b: f64) -> f64 {
    if b == 0.0 {
        0.0
    } else {
        a / b
    }
}

/// Time averages of the allocator's counters and the heap over the measured window.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Standing {
    pub samples: u64,
    sum_in_use: f64,
    sum_cached: f64,
    sum_waiting: f64,
    sum_other: f64,
    sum_live: f64,
}

impl Standing {
    /// One sample: the allocator's counters and the live heap at the same moment, the heap
    /// and `unit` both charged.
    pub fn add(&mut self, s: &AllocStats, live_bytes: i64, unit: usize) {
        let outstanding = (s.from_slab as f64 - s.to_slab as f64) * unit as f64;
        self.samples += 1;
        self.sum_in_use += s.in_use as f64;
        self.sum_cached += s.cached as f64;
        self.sum_waiting += s.waiting_gp as f64;
        self.sum_other += live_bytes as f64 - outstanding;
        self.sum_live += live_bytes as f64;
    }

    fn mean(&self, sum: f64) -> f64 {
        ratio(sum, self.samples as f64)
    }
}

/// Everything the model is computed from.
pub struct Inputs<'a> {
    pub window_s: f64,
    /// The object's charged size, and its requested size.
    pub unit: usize,
    pub unit_raw: usize,
    /// `hold_stats` at the end of the warm-up and at the end of the window.
    pub before: &'a HoldStats,
    pub after: &'a HoldStats,
    pub standing: &'a Standing,
    pub mem_avg_bytes: f64,
    /// Its standard error: the per-second samples' stddev over the root of their number.
    pub mem_avg_stderr_bytes: f64,
    /// The "rcu" domain's report, for the three middle stages.
    pub rcu: Option<&'a DomainReport>,
}

impl MemoryModel {
    pub fn compute(i: &Inputs) -> MemoryModel {
        let (b, a) = (i.before, i.after);
        let unit = i.unit as f64;
        let frees = (a.frees - b.frees) as f64;
        let entries = a.entries.saturating_sub(b.entries) as f64;
        let frees_per_s = ratio(frees, i.window_s);
        let entries_per_s = ratio(entries, i.window_s);
        let to_reuse = HoldReport::window(&b.to_reuse, &a.to_reuse);
        let to_slab = HoldReport::window(&b.to_slab, &a.to_slab);
        let (n_after, sum_after) = a.exits();
        let (n_before, sum_before) = b.exits();
        let completed_hold_mean_ns =
            ratio((sum_after - sum_before) as f64, (n_after - n_before) as f64);
        // A sample that left between the reads of two shards can make a window with
        // (next to) nothing held come out a few microseconds negative: that is zero.
        let mean_hold_per_entry_ns = ratio(
            (a.object_time_ns() - b.object_time_ns()).max(0.0),
            (a.stamped - b.stamped) as f64,
        );
        let deferred_objects = entries_per_s * mean_hold_per_entry_ns / 1e9;
        let mean_held_ns = ratio(deferred_objects * 1e9, frees_per_s);
        let rcu_stage = |f: fn(&DomainReport) -> u64| {
            i.rcu
                .filter(|d| d.cb_latency_samples > 0)
                .map_or(0.0, |d| f(d) as f64)
        };
        let stages = HoldStages {
            batch_fill_ns: ratio(
                (a.batch_fill_ns - b.batch_fill_ns) as f64,
                (a.batch_fill_n - b.batch_fill_n) as f64,
            ),
            pacing_ns: rcu_stage(|d| d.cb_wait_gp_start_mean_ns),
            gp_ns: rcu_stage(|d| d.cb_in_gp_mean_ns),
            cb_wait_ns: rcu_stage(|d| d.cb_wait_invoke_mean_ns),
            tasks_trace_ns: ratio(a.after_gp_obj_ns - b.after_gp_obj_ns, frees),
        };
        let s = i.standing;
        let deferred_bytes = deferred_objects * unit;
        let in_use_bytes = s.mean(s.sum_in_use) * unit;
        let cached_bytes = s.mean(s.sum_cached) * unit;
        let other_heap_bytes = s.mean(s.sum_other);
        MemoryModel {
            window_s: i.window_s,
            unit_bytes: i.unit as u64,
            unit_raw_bytes: i.unit_raw as u64,
            frees_per_s,
            entries_per_s,
            to_reuse,
            to_slab,
            mean_hold_per_entry_ns,
            mean_held_ns,
            completed_hold_mean_ns,
            sampled_held_start: b.in_flight(),
            sampled_held_end: a.in_flight(),
            stages,
            deferred_bytes,
            in_use_bytes,
            cached_bytes,
            other_heap_bytes,
            predicted_bytes: deferred_bytes + in_use_bytes + cached_bytes + other_heap_bytes,
            measured_avg_bytes: i.mem_avg_bytes,
            measured_avg_stderr_bytes: i.mem_avg_stderr_bytes,
            deferred_measured_bytes: s.mean(s.sum_waiting) * unit,
            measured_10ms_avg_bytes: s.mean(s.sum_live),
        }
    }
}
