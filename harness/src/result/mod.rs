//! The native result file, one schema for every benchmark (htab-mem, map-perf-test,
//! kfree-rcu). Field names and shape are an interface: they key the dashboard history, so
//! change them only with a `SCHEMA_VERSION` bump. Version 1 files (htab-mem only, before
//! `benchmark` existed) are still read: their cells and config default to htab-mem.
//!
//! By role: this file has the file-level types (the file, its config, the benchmark, a
//! cell's status), `cell` a cell and its ids, `metrics` what a cell measured, `io` reading
//! and writing files, `stamp` the timestamp and commit a file records.

mod cell;
mod io;
mod metrics;
mod stamp;

pub use cell::{
    cell_id, paced_cell_id, CellResult, Intervals, KfreeCell, KvfreeCounters, LoopShapeInfo,
    Pacing, TrialFigures, Trials,
};
pub use io::{check_output_path, read_result_file, write_atomic, write_bytes_atomic};
pub use metrics::{AllocCounters, DomainReport, MemLimitCell, Metric, Metrics, Sample};
pub use stamp::{format_utc, git_sha, utc_timestamp};

use serde::{Deserialize, Serialize};

use crate::host::HostInfo;

/// 2: `benchmark` in the config and in every cell, and map-perf-test's and kfree-rcu's
/// cells and parameters.
pub const SCHEMA_VERSION: u32 = 2;

/// Which benchmark a file or cell holds; the first segment of a cell id.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[serde(rename_all = "kebab-case")]
pub enum Benchmark {
    /// bench htab-mem: use case x allocator flavor x producers, timed.
    #[default]
    HtabMem,
    /// samples/bpf map_perf_test: one cell per test (the use case) x flavor x workers.
    MapPerfTest,
    /// rcuscale's kfree test: one cell per mode (the flavor) x threads.
    KfreeRcu,
}

impl Benchmark {
    pub const ALL: [Benchmark; 3] = [
        Benchmark::HtabMem,
        Benchmark::MapPerfTest,
        Benchmark::KfreeRcu,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Benchmark::HtabMem => "htab-mem",
            Benchmark::MapPerfTest => "map-perf-test",
            Benchmark::KfreeRcu => "kfree-rcu",
        }
    }

    pub fn from_name(s: &str) -> Option<Benchmark> {
        Self::ALL.into_iter().find(|b| b.name() == s)
    }

    /// The unit of `loops_per_sec` in this benchmark's cells.
    pub fn rate_unit(self) -> &'static str {
        match self {
            Benchmark::HtabMem => "loops/s",
            Benchmark::MapPerfTest => "events/s",
            Benchmark::KfreeRcu => "objects/s",
        }
    }
}

impl std::fmt::Display for Benchmark {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Value of the `tool` field.
pub const TOOL: &str = concat!("htab-mem ", env!("CARGO_PKG_VERSION"));

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct ResultFile {
    pub schema_version: u32,
    pub tool: String,
    pub git_sha: String,
    pub timestamp: String,
    pub host: HostInfo,
    pub config: RunConfig,
    pub results: Vec<CellResult>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
pub struct RunConfig {
    /// Absent in version 1 files: htab-mem.
    #[serde(default)]
    pub benchmark: Benchmark,
    /// htab-mem's; 0 for the benchmarks that run to completion.
    pub warmup_s: u64,
    pub duration_s: u64,
    /// CPU list as given (`0-1`), or "none" when producers are not pinned.
    pub affinity: String,
    pub max_entries: u64,
    pub value_size: u64,
    /// Set by a single run; absent in a matrix file, whose cells vary in both.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub use_case: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub producers: Option<usize>,
    pub rcu_gp_delay_us: u64,
    pub ttrace_gp_delay_us: u64,
    /// false: tasks-trace callbacks were chained into RCU grace periods (--ttrace-chain).
    #[serde(default = "yes")]
    pub ttrace_implies_rcu: bool,
    /// `--rcu-readers`: "non-preemptible" or "preemptible" (files before it existed: "preemptible",
    /// the only model then).
    #[serde(default = "preemptible")]
    pub rcu_readers: String,
    /// `--deferred-work`: "inline" (files before it existed: the only model then), "signal",
    /// or the busy-wait time charged per raise ("1500ns").
    #[serde(default = "inline")]
    pub deferred_work: String,
    /// `--memalloc`: "current" or "v6.3" (files before it existed: "current", the only one
    /// then).
    #[serde(default = "current")]
    pub memalloc: String,
    /// map-perf-test's parameters; absent for the other benchmarks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub map_perf_test: Option<MapPerfParams>,
    /// kfree-rcu's parameters; absent for the other benchmarks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kfree_rcu: Option<KfreeParams>,
    /// htab-mem, test only: the busy work `--inject-loop-ns` added to every loop of some
    /// flavors; absent when off (the default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inject: Option<Inject>,
    /// `--mem-limit` when given, and `--fail-alloc`; absent when neither was (the default
    /// limit, a share of the machine's memory, is recorded in each cell's `mem_limit`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mem_limit: Option<MemLimitConfig>,
}

/// The memory limit and the failure injection a run was given.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
pub struct MemLimitConfig {
    /// `--mem-limit` in bytes; absent: not given (or `max`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit_bytes: Option<u64>,
    /// `--fail-alloc` (`0.01`, `every:100`) and `--fail-seed`; absent when off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fail_alloc: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fail_seed: Option<u64>,
}

/// `--inject-loop-ns` and `--inject-flavors`: a controlled slowdown, for proving that
/// `compare` catches one.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
pub struct Inject {
    /// Files from before `--inject-slowdown`: nanoseconds of busy work per loop.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loop_ns: Option<u64>,
    /// How much slower the flavors were made, % of their loops per CPU-second.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slowdown_pct: Option<u32>,
    /// The flavors it applies to (all of them when `--inject-flavors` was not given).
    pub flavors: Vec<String>,
}

/// map_perf_test's positional arguments as the run used them (`max_entries` is in the
/// config: 0 = each map's own).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
pub struct MapPerfParams {
    /// Events per worker per test.
    pub iterations: u32,
}

/// rcuscale's kfree module parameters and the kvfree_rcu model's knobs.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
pub struct KfreeParams {
    pub alloc_num: usize,
    pub loops: usize,
    pub mult: usize,
    pub object_bytes: usize,
    pub drain_ms: u64,
    pub cached_blocks: usize,
    pub lazy_flush_us: u64,
    pub qhimark: u64,
}

fn yes() -> bool {
    true
}

fn preemptible() -> String {
    "preemptible".into()
}

fn inline() -> String {
    "inline".into()
}

fn current() -> String {
    "current".into()
}

/// How a cell ended; serialised as "ok", "leak", "error" or "n/a".
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    #[default]
    Ok,
    /// Measured, but objects were never returned to the system.
    Leak,
    /// Nothing measured (the cell failed); its metrics are meaningless.
    Error,
    /// Nothing measured because the row cannot express the use case (a peer map and the
    /// LPM trie); not a failure. Its metrics are meaningless.
    #[serde(rename = "n/a")]
    NotApplicable,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Leak => "leak",
            Status::Error => "error",
            Status::NotApplicable => "n/a",
        }
    }

    /// Whether the cell's metrics mean anything.
    pub fn measured(self) -> bool {
        !matches!(self, Status::Error | Status::NotApplicable)
    }

    /// Whether the cell failed (an error or a leak; "n/a" is not a failure).
    pub fn failed(self) -> bool {
        matches!(self, Status::Error | Status::Leak)
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A one-cell htab-mem file, for the tests of every part of the schema.
    pub(super) fn sample_file() -> ResultFile {
        ResultFile {
            schema_version: SCHEMA_VERSION,
            tool: TOOL.to_string(),
            git_sha: "0123456789ab".into(),
            timestamp: format_utc(1_700_000_000),
            host: HostInfo {
                cpu_model: "Test CPU".into(),
                nr_cpus: 2,
                kernel: "6.8.0".into(),
                mem_total_bytes: 0,
            },
            config: RunConfig {
                benchmark: Benchmark::HtabMem,
                warmup_s: 1,
                duration_s: 5,
                affinity: "0-1".into(),
                max_entries: 8192,
                value_size: 8,
                use_case: Some("overwrite".into()),
                producers: Some(16),
                rcu_gp_delay_us: 1000,
                ttrace_gp_delay_us: 10000,
                ttrace_implies_rcu: true,
                rcu_readers: "non-preemptible".into(),
                deferred_work: "inline".into(),
                memalloc: "current".into(),
                map_perf_test: None,
                kfree_rcu: None,
                inject: None,
                mem_limit: None,
            },
            results: vec![CellResult {
                id: cell_id("overwrite", "reuse-after-gp", 16),
                benchmark: Benchmark::HtabMem,
                use_case: "overwrite".into(),
                flavor: "reuse-after-gp".into(),
                producers: 16,
                pacing: None,
                status: Status::Ok,
                error: None,
                samples: vec![Sample {
                    t_ns: 1_000_000_000,
                    loops: 16370,
                    mem_bytes: 25_176_309,
                    rss_bytes: 30_000_000,
                    charged_bytes: None,
                }],
                metrics: Metrics {
                    loops_per_sec: Metric::new(16370.0, Some(270.0), "loops/s"),
                    loops_per_sec_per_producer: Metric::new(1023.1, Some(16.9), "loops/s"),
                    mem_avg: Metric::new(25_176_309.0, Some(1_200_000.0), "bytes"),
                    mem_peak: Metric::new(33_302_118.0, None, "bytes"),
                    rss_peak: Metric::new(40_000_000.0, None, "bytes"),
                    mem_avg_charged: None,
                    mem_peak_charged: None,
                    incorrect_lookups_per_million: None,
                    loops_per_cpu_sec_per_producer: None,
                    mem_p95_charged: None,
                },
                allocator: AllocCounters::default(),
                rcu: Vec::new(),
                memory_model: None,
                loop_shape: None,
                kfree_rcu: None,
                machine: None,
                steady: None,
                trials: Default::default(),
                mem_limit: None,
            }],
        }
    }

    #[test]
    fn json_shape_is_fixed() {
        let v = serde_json::to_value(sample_file()).unwrap();
        let keys = |v: &serde_json::Value| -> Vec<String> {
            v.as_object().unwrap().keys().cloned().collect()
        };
        let mut top = keys(&v);
        top.sort();
        assert_eq!(
            top,
            [
                "config",
                "git_sha",
                "host",
                "results",
                "schema_version",
                "timestamp",
                "tool"
            ]
        );
        assert_eq!(v["schema_version"], 2);
        assert_eq!(v["config"]["benchmark"], "htab-mem");
        assert_eq!(v["results"][0]["benchmark"], "htab-mem");
        assert_eq!(v["tool"], "htab-mem 0.1.0");
        assert_eq!(v["timestamp"], "2023-11-14T22:13:20Z");
        assert_eq!(v["config"]["affinity"], "0-1");
        assert_eq!(v["config"]["ttrace_gp_delay_us"], 10000);
        let cell = &v["results"][0];
        assert_eq!(cell["id"], "htab-mem/overwrite/reuse-after-gp/p16");
        // `error: None` and `stddev: None` are omitted, not null.
        assert!(cell.get("error").is_none());
        assert!(cell["metrics"]["mem_peak"].get("stddev").is_none());
        assert_eq!(cell["metrics"]["loops_per_sec"]["stddev"], 270.0);
        assert_eq!(cell["metrics"]["loops_per_sec"]["unit"], "loops/s");
        assert_eq!(cell["samples"][0]["mem_bytes"], 25_176_309);
        assert_eq!(
            cell["allocator"],
            serde_json::json!({"from_system": 0, "to_system": 0, "leaked": 0,
                               "cached": 0, "waiting_gp": 0})
        );
    }
}
