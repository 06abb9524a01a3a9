//! Typed result files for the results tools' tests (export, compare, merge, matrix, bad
//! files): an overwrite sample with an ok, a leaking and an erroring cell.

use std::path::PathBuf;
use std::process::Output;

use harness::host::HostInfo;
use harness::result::{
    cell_id, write_atomic, AllocCounters, Benchmark, CellResult, Metric, Metrics, ResultFile,
    RunConfig, Sample, Status,
};
use harness::units::MIB;
use tempfile::TempDir;

use super::text;

pub fn cell(uc: &str, flavor: &str, p: usize, loops: f64, peak_mib: f64) -> CellResult {
    CellResult {
        id: cell_id(uc, flavor, p),
        benchmark: Benchmark::HtabMem,
        use_case: uc.into(),
        flavor: flavor.into(),
        producers: p,
        pacing: None,
        status: Status::Ok,
        error: None,
        samples: vec![Sample {
            t_ns: 1_000_000_000,
            loops: loops as u64,
            mem_bytes: (peak_mib * MIB / 2.0) as i64,
            rss_bytes: 8 << 20,
            charged_bytes: None,
        }],
        metrics: Metrics {
            loops_per_sec: Metric::new(loops, Some(loops / 100.0), "loops/s"),
            loops_per_sec_per_producer: Metric::new(
                loops / p as f64,
                Some(loops / 100.0 / p as f64),
                "loops/s",
            ),
            mem_avg: Metric::new(peak_mib * MIB / 2.0, Some(1024.0), "bytes"),
            mem_peak: Metric::new(peak_mib * MIB, None, "bytes"),
            rss_peak: Metric::new(8.0 * MIB, None, "bytes"),
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
    }
}

pub fn config(warmup: u64, duration: u64, affinity: &str) -> RunConfig {
    RunConfig {
        benchmark: Benchmark::HtabMem,
        warmup_s: warmup,
        duration_s: duration,
        affinity: affinity.into(),
        max_entries: 8192,
        value_size: 8,
        use_case: None,
        producers: None,
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
    }
}

pub fn file(cells: Vec<CellResult>) -> ResultFile {
    ResultFile {
        schema_version: 1,
        tool: "htab-mem 0.1.0".into(),
        git_sha: "0123456789ab".into(),
        timestamp: "2026-01-02T03:04:05Z".into(),
        host: HostInfo {
            cpu_model: "Test CPU".into(),
            nr_cpus: 2,
            kernel: "6.8.0".into(),
            mem_total_bytes: 0,
        },
        config: config(1, 3, "0-1"),
        results: cells,
    }
}

/// overwrite at p2: the reference flavor and one other, plus a leak and an error cell.
pub fn sample() -> ResultFile {
    let mut leak = cell("overwrite", "free-after-gp", 2, 10_000.0, 20.0);
    leak.status = Status::Leak;
    leak.allocator.leaked = 3;
    let mut err = cell("overwrite", "call-rcu-free", 2, 0.0, 0.0);
    err.status = Status::Error;
    err.error = Some("child process failed".into());
    file(vec![
        cell("overwrite", "immediate-reuse", 2, 100_000.0, 0.25),
        cell("overwrite", "reuse-after-gp", 2, 30_000.0, 400.0),
        leak,
        err,
    ])
}

pub fn write(dir: &TempDir, name: &str, f: &ResultFile) -> PathBuf {
    let p = dir.path().join(name);
    write_atomic(&p, f).unwrap();
    p
}

pub fn ok_stdout(out: &Output) -> String {
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    text(&out.stdout)
}

/// A tiny matrix: one use case, two flavors, one producer, one trial, 1 s + 1 s (the
/// duration last: tests change it).
pub const TINY: [&str; 12] = [
    "--use-cases",
    "no_op",
    "-A",
    "immediate-reuse,free-after-gp",
    "-p",
    "1",
    "--trials",
    "1",
    "-w",
    "1",
    "-d",
    "1",
];
