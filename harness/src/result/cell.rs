//! A cell (`results[]`): one (use case, flavor, producers) measurement, its id, and what
//! only some benchmarks' cells hold (an RFC loop, a sweep's pacing, kfree-rcu's figures).

use rcu::KfreeStats;
use serde::{Deserialize, Serialize};

use super::{AllocCounters, Benchmark, DomainReport, Metrics, Sample, Status};
use crate::machine::MachineLoad;
use crate::memory_model::MemoryModel;
use crate::steady::Steady;

/// One (use case, allocator flavor, producer count) measurement.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct CellResult {
    pub id: String,
    /// Absent in version 1 files: htab-mem.
    #[serde(default)]
    pub benchmark: Benchmark,
    /// htab-mem's use case, map-perf-test's test (`hash_kmalloc`), kfree-rcu's `kfree`.
    pub use_case: String,
    /// The allocator flavor; kfree-rcu's mode (how objects are freed).
    pub flavor: String,
    pub producers: usize,
    /// Set only in cells of a sweep: the grace-period delays this cell ran with, instead of
    /// the file config's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pacing: Option<Pacing>,
    pub status: Status,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub samples: Vec<Sample>,
    pub metrics: Metrics,
    pub allocator: AllocCounters,
    /// Grace-period statistics of the RCU domains during the cell.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rcu: Vec<DomainReport>,
    /// Why the cell holds what it holds: Little's law for the deferred objects beside the
    /// measured average (absent in files written before it existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_model: Option<MemoryModel>,
    /// Set only in cells run with `--rfc` (the RFC-era loop of seed 001's tables); absent:
    /// the merged benchmark's loop of 64 operations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loop_shape: Option<LoopShapeInfo>,
    /// kfree-rcu's cells: rcuscale's own figures and kvfree_rcu's counters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kfree_rcu: Option<KfreeCell>,
    /// htab-mem: what the rest of the machine did during the measured window (steal, other
    /// processes, load average) and whether that flags the cell as measured on a busy machine.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub machine: Option<MachineLoad>,
    /// htab-mem: the trends over the measured seconds and whether the cell was steady.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub steady: Option<Steady>,
    /// Set only for a cell measured in more than one trial (`--trials N`): every trial's
    /// figures (`trials`) and the 95 % intervals of the medians (`ci95`); the cell's
    /// `metrics` are then the medians across trials (`crate::trials`).
    #[serde(flatten)]
    pub trials: Trials,
    /// htab-mem and kfree-rcu: the memory limit, what it refused, the injected failures and
    /// the failed updates (absent in files written before it existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mem_limit: Option<super::MemLimitCell>,
}

/// A cell's trials, flattened into the cell as `trials` and `ci95`; both absent for a
/// cell of one trial (and in files written before trials existed).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct Trials {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub trials: Vec<TrialFigures>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ci95: Option<Intervals>,
}

impl Trials {
    /// How many trials the cell was measured in (1 for a cell without trials).
    pub fn count(&self) -> usize {
        self.trials.len().max(1)
    }
}

/// One trial's headline figures: memory as shown (charged when the cell has it).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct TrialFigures {
    /// 1-based, in the order the trials ran.
    pub trial: usize,
    pub status: Status,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub loops_per_sec: f64,
    pub loops_per_sec_per_producer: f64,
    pub mem_avg: f64,
    pub mem_peak: f64,
    /// The p95 of the charged memory samples (htab-mem; absent in older files).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mem_p95: Option<f64>,
    /// htab-mem: whether the machine was busy during this trial (`machine.busy`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub busy: Option<bool>,
    /// htab-mem: whether this trial measured a steady state (`steady.steady`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub steady: Option<bool>,
}

/// 95 % confidence intervals of the cell's medians across its trials, `[low, high]`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct Intervals {
    /// How they were computed (a percentile bootstrap of the median).
    pub method: String,
    pub loops_per_sec: [f64; 2],
    pub loops_per_sec_per_producer: [f64; 2],
    pub mem_avg: [f64; 2],
    pub mem_peak: [f64; 2],
    /// When every measured trial has the p95 memory figure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mem_p95: Option<[f64; 2]>,
}

/// A cell's loop when it is not the merged benchmark's. Its `loops_per_sec` is then the
/// headline figure (the RFC printed the total over producers); `loops_per_sec_per_producer`
/// is that divided by the producers, as always.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct LoopShapeInfo {
    /// "rfc".
    pub mode: String,
    /// Keys live in the map, split round robin over the producers.
    pub live_keys: u32,
    /// Keys one producer's loop walks (the remainder of live / producers walk one fewer).
    pub keys_per_loop: u32,
}

impl LoopShapeInfo {
    /// None for the merged shape, which files before this field existed all have.
    pub fn of(shape: workloads::LoopShape, producers: usize) -> Option<LoopShapeInfo> {
        match shape {
            workloads::LoopShape::Merged => None,
            workloads::LoopShape::Rfc { live } => Some(LoopShapeInfo {
                mode: "rfc".into(),
                live_keys: live,
                keys_per_loop: shape.keys_per_loop(producers),
            }),
        }
    }

    /// `rfc-live8192`: the cell id segment, so RFC cells never pair with merged ones.
    pub fn id_part(&self) -> String {
        format!("{}-live{}", self.mode, self.live_keys)
    }
}

/// The grace-period pacing of one sweep cell, in microseconds (as `--rcu-gp-delay` and
/// `--ttrace-gp-delay`).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Pacing {
    pub rcu_gp_delay_us: u64,
    pub ttrace_gp_delay_us: u64,
}

impl Pacing {
    /// `rcu100us-tt1ms`: the cell id segment.
    pub fn id_part(&self) -> String {
        format!(
            "rcu{}-tt{}",
            crate::cli::format_delay_us(self.rcu_gp_delay_us),
            crate::cli::format_delay_us(self.ttrace_gp_delay_us)
        )
    }

    /// `100us/1ms`: RCU / tasks-trace, for tables and axes.
    pub fn label(&self) -> String {
        format!(
            "{}/{}",
            crate::cli::format_delay_us(self.rcu_gp_delay_us),
            crate::cli::format_delay_us(self.ttrace_gp_delay_us)
        )
    }
}

impl CellResult {
    /// A cell the row cannot express ("n/a"), with the reason.
    pub fn not_applicable(use_case: &str, flavor: &str, producers: usize, why: String) -> Self {
        CellResult {
            status: Status::NotApplicable,
            ..CellResult::error(Benchmark::HtabMem, use_case, flavor, producers, why)
        }
    }

    /// A cell that produced no measurement, with the reason.
    pub fn error(
        benchmark: Benchmark,
        use_case: &str,
        flavor: &str,
        producers: usize,
        msg: String,
    ) -> CellResult {
        CellResult {
            id: paced_cell_id(benchmark, use_case, flavor, producers, None),
            benchmark,
            use_case: use_case.to_string(),
            flavor: flavor.to_string(),
            producers,
            pacing: None,
            status: Status::Error,
            error: Some(msg),
            samples: Vec::new(),
            metrics: Default::default(),
            allocator: Default::default(),
            rcu: Vec::new(),
            memory_model: None,
            loop_shape: None,
            kfree_rcu: None,
            machine: None,
            steady: None,
            trials: Trials::default(),
            mem_limit: None,
        }
    }
}

/// `htab-mem/{use_case}/{flavor}/p{producers}`: an htab-mem cell's id.
pub fn cell_id(use_case: &str, flavor: &str, producers: usize) -> String {
    paced_cell_id(Benchmark::HtabMem, use_case, flavor, producers, None)
}

/// `{benchmark}/{use_case}/{flavor}/p{producers}`, with `/{pacing}` appended for a cell of a
/// sweep.
pub fn paced_cell_id(
    benchmark: Benchmark,
    use_case: &str,
    flavor: &str,
    producers: usize,
    pacing: Option<&Pacing>,
) -> String {
    let id = format!("{benchmark}/{use_case}/{flavor}/p{producers}");
    match pacing {
        Some(p) => format!("{id}/{}", p.id_part()),
        None => id,
    }
}

impl CellResult {
    /// The flags a reader must see beside the figures: `busy` (measured while the machine
    /// was busy: steal, other processes, load) and `transient` (the figures drifted over
    /// the window, `crate::steady`), each with how many trials it hit ("busy 1/3") when the
    /// cell has trials, and `mem limit` when a charge was refused at the memory limit.
    pub fn notes(&self) -> Vec<String> {
        let mut out = Vec::new();
        let ts = &self.trials.trials;
        let mut flag = |name: &str, hits: usize, of: usize| {
            if hits > 0 {
                out.push(if of > 1 {
                    format!("{name} {hits}/{of}")
                } else {
                    name.to_string()
                });
            }
        };
        if ts.is_empty() {
            let busy = self.machine.as_ref().is_some_and(|m| m.busy);
            let transient = self.steady.as_ref().is_some_and(|s| !s.steady);
            flag("busy", busy as usize, 1);
            flag("transient", transient as usize, 1);
        } else {
            let n = ts.len();
            flag(
                "busy",
                ts.iter().filter(|t| t.busy == Some(true)).count(),
                n,
            );
            flag(
                "transient",
                ts.iter().filter(|t| t.steady == Some(false)).count(),
                n,
            );
        }
        if self.mem_limit.as_ref().is_some_and(|l| l.hit_mem_limit) {
            out.push("mem limit".into());
        }
        out
    }

    /// The id this cell's fields call for.
    pub fn expected_id(&self) -> String {
        self.id_for(&self.flavor)
    }

    /// The id of the cell with these fields but `flavor`'s.
    pub fn id_for(&self, flavor: &str) -> String {
        let id = paced_cell_id(
            self.benchmark,
            &self.use_case,
            flavor,
            self.producers,
            self.pacing.as_ref(),
        );
        match &self.loop_shape {
            Some(s) => format!("{id}/{}", s.id_part()),
            None => id,
        }
    }
}

/// What rcuscale reports beside the rate: its own figures, and kvfree_rcu's counters.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct KfreeCell {
    /// From the last-finishing thread's start to its end.
    pub total_ns: u64,
    /// Grace periods completed meanwhile (rcuscale's "batches").
    pub batches: u64,
    pub objects: u64,
    pub callbacks_invoked: u64,
    /// Batched modes only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kvfree: Option<KvfreeCounters>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct KvfreeCounters {
    pub blocks_allocated: u64,
    pub blocks_freed: u64,
    pub pointers_batched: u64,
    pub fallback_list: u64,
    pub fallback_sync: u64,
    pub blocks_reclaimed_early: u64,
    pub batches_to_worker: u64,
    pub grace_periods: u64,
}

impl From<KfreeStats> for KvfreeCounters {
    fn from(s: KfreeStats) -> Self {
        KvfreeCounters {
            blocks_allocated: s.blocks_allocated,
            blocks_freed: s.blocks_freed,
            pointers_batched: s.pointers_batched,
            fallback_list: s.fallback_list,
            fallback_sync: s.fallback_sync,
            blocks_reclaimed_early: s.blocks_reclaimed_early,
            batches_to_worker: s.batches,
            grace_periods: s.grace_periods,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::result::tests::sample_file;

    #[test]
    fn rfc_cells_record_their_loop_and_get_their_own_ids() {
        let mut c = sample_file().results.remove(0);
        let merged = serde_json::to_value(&c).unwrap();
        assert!(
            merged.get("loop_shape").is_none(),
            "merged cells keep the old shape"
        );
        c.loop_shape = LoopShapeInfo::of(workloads::LoopShape::Rfc { live: 8192 }, 16);
        assert_eq!(
            c.expected_id(),
            "htab-mem/overwrite/reuse-after-gp/p16/rfc-live8192"
        );
        assert_eq!(
            c.id_for("prealloc"),
            "htab-mem/overwrite/prealloc/p16/rfc-live8192"
        );
        let v = serde_json::to_value(&c).unwrap();
        assert_eq!(v["loop_shape"]["mode"], "rfc");
        assert_eq!(v["loop_shape"]["live_keys"], 8192);
        assert_eq!(v["loop_shape"]["keys_per_loop"], 512);
        let back: CellResult = serde_json::from_value(v).unwrap();
        assert_eq!(back, c);
        // A file written before the field existed still loads, as a merged-shape cell.
        let old: CellResult = serde_json::from_value(merged).unwrap();
        assert_eq!(old.loop_shape, None);
    }

    #[test]
    fn cell_id_format() {
        assert_eq!(
            cell_id("overwrite", "reuse-after-gp", 16),
            "htab-mem/overwrite/reuse-after-gp/p16"
        );
    }

    #[test]
    fn paced_ids_extend_plain_ones() {
        let p = Pacing {
            rcu_gp_delay_us: 100,
            ttrace_gp_delay_us: 1000,
        };
        assert_eq!(
            paced_cell_id(Benchmark::HtabMem, "overwrite", "prealloc", 2, Some(&p)),
            "htab-mem/overwrite/prealloc/p2/rcu100us-tt1ms"
        );
        assert_eq!(
            paced_cell_id(Benchmark::HtabMem, "overwrite", "prealloc", 2, None),
            cell_id("overwrite", "prealloc", 2)
        );
        assert_eq!(p.label(), "100us/1ms");
    }

    #[test]
    fn error_field_serialised_when_present() {
        let mut f = sample_file();
        f.results[0].status = Status::Error;
        f.results[0].error = Some("boom".into());
        let v = serde_json::to_value(&f).unwrap();
        assert_eq!(v["results"][0]["error"], "boom");
    }
}
