//! The benchmarks, in the spirit of the kernel's bench.c (one description per benchmark; the
//! driver owns threads, timing and sampling): htab-mem, map-perf-test and kfree-rcu. Each has
//! a plan -- what one run does, validated by the parent and handed to a child process as
//! data (`child`) -- and a runner on the shared pinned driver (`driver`) that returns cells
//! of the one result schema (`crate::result`).

pub mod child;
pub mod driver;
pub mod htab_mem;
pub mod kfree_rcu;
pub mod map_perf_test;

use serde::{Deserialize, Serialize};

use crate::cli::Config;
use crate::result::{Benchmark, CellResult, RunConfig};

/// What one run (a process, usually one cell) does.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(tag = "benchmark", content = "plan", rename_all = "kebab-case")]
pub enum Plan {
    /// The run's validated options with one flavor.
    HtabMem(Config),
    MapPerfTest(map_perf_test::Plan),
    KfreeRcu(kfree_rcu::Plan),
}

/// What a run produced: the config it really ran with and its cells.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Ran {
    pub config: RunConfig,
    pub cells: Vec<CellResult>,
}

impl Plan {
    pub fn benchmark(&self) -> Benchmark {
        match self {
            Plan::HtabMem(_) => Benchmark::HtabMem,
            Plan::MapPerfTest(_) => Benchmark::MapPerfTest,
            Plan::KfreeRcu(_) => Benchmark::KfreeRcu,
        }
    }

    /// The config a result file records for this plan.
    pub fn run_config(&self) -> RunConfig {
        match self {
            Plan::HtabMem(cfg) => cfg.run_config(),
            Plan::MapPerfTest(p) => map_perf_test::run_config(p),
            Plan::KfreeRcu(p) => kfree_rcu::run_config(p),
        }
    }

    /// Runs in this process. Progress goes to stdout in the kernel's formats (htab-mem's Iter
    /// lines unless quiet, map_perf_test's per-worker lines unless quiet).
    pub fn run(&self) -> Result<Ran, String> {
        match self {
            Plan::HtabMem(cfg) => htab_mem::run_printing(cfg),
            Plan::MapPerfTest(p) => map_perf_test::run(p),
            Plan::KfreeRcu(p) => kfree_rcu::run(p),
        }
    }
}

/// A benchmark's use cases in the order tables list them: htab-mem's registry, map_perf_test's
/// tests in the sample's order (the implemented ones), kfree-rcu's one.
pub fn use_cases(b: Benchmark) -> Vec<String> {
    match b {
        Benchmark::HtabMem => workloads::USE_CASES.iter().map(|s| s.to_string()).collect(),
        Benchmark::MapPerfTest => workloads::map_perf_test::Test::ALL
            .into_iter()
            .filter(|t| t.implemented())
            .map(map_perf_test::use_case)
            .collect(),
        Benchmark::KfreeRcu => vec![kfree_rcu::USE_CASE.to_string()],
    }
}

/// The config fields a benchmark that does not set them leaves at the run's defaults.
fn base_config() -> RunConfig {
    RunConfig {
        ttrace_implies_rcu: true,
        rcu_readers: crate::cli::Readers::Preemptible.name().into(),
        deferred_work: allocators::DeferredWork::Inline.label(),
        memalloc: allocators::MemallocGen::Current.name().into(),
        ..RunConfig::default()
    }
}
