//! Synthetic result files for the plot and dashboard tests: every cell distinct, numbers
//! chosen so the memory axes of one use case go logarithmic.

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

/// A fresh directory (tempfile's, removed on drop) with path helpers.
pub struct Tmp(tempfile::TempDir);

impl Tmp {
    pub fn new(_tag: &str) -> Tmp {
        Tmp(tempfile::tempdir().unwrap())
    }
    pub fn path(&self, rel: &str) -> PathBuf {
        self.0.path().join(rel)
    }
    pub fn s(&self, rel: &str) -> String {
        self.path(rel).to_str().unwrap().to_string()
    }
}

pub fn metric(value: f64, stddev: Option<f64>, unit: &str) -> Value {
    match stddev {
        Some(s) => json!({"value": value, "stddev": s, "unit": unit}),
        None => json!({"value": value, "unit": unit}),
    }
}

/// One cell; `k` varies the numbers so every cell is distinct.
pub fn cell(uc: &str, flavor: &str, p: usize, k: f64, mem_mib: f64) -> Value {
    let mib = 1024.0 * 1024.0;
    let samples: Vec<Value> = (1..=4)
        .map(|t| {
            json!({"t_ns": t * 1_000_000_000u64, "loops": (1000.0 * k) as u64 * t,
                   "mem_bytes": (mem_mib * mib * (0.5 + 0.1 * t as f64)) as i64,
                   "rss_bytes": 8 * 1024 * 1024})
        })
        .collect();
    json!({
        "id": format!("htab-mem/{uc}/{flavor}/p{p}"), "use_case": uc, "flavor": flavor,
        "producers": p, "status": "ok", "samples": samples,
        "metrics": {
            "loops_per_sec": metric(1234.5 * k * p as f64, Some(10.0), "loops/s"),
            "loops_per_sec_per_producer": metric(1234.5 * k, Some(2.5 * k), "loops/s"),
            "mem_avg": metric(mem_mib * 0.8 * mib, Some(1000.0), "bytes"),
            "mem_peak": metric(mem_mib * mib, None, "bytes"),
            "rss_peak": metric(mem_mib * mib + 4e6, None, "bytes"),
        },
        "allocator": {"from_system": 10, "to_system": 10, "leaked": 0}
    })
}

pub fn file(timestamp: &str, cells: Vec<Value>) -> Value {
    json!({
        "schema_version": 1, "tool": "htab-mem 0.1.0", "git_sha": "0123456789ab",
        "timestamp": timestamp,
        "host": {"cpu_model": "Test CPU", "nr_cpus": 2, "kernel": "6.1.0", "mem_total_bytes": 0},
        "config": {"warmup_s": 1, "duration_s": 3, "affinity": "0-1", "max_entries": 8192,
                   "value_size": 8, "use_case": "overwrite", "producers": 2,
                   "rcu_gp_delay_us": 1000, "ttrace_gp_delay_us": 10000},
        "results": cells
    })
}

pub const FLAVORS: [&str; 3] = ["immediate-reuse", "reuse-after-gp", "malloc-call-rcu"];

/// Two use cases x three flavors x producers 2 and 4; immediate-reuse's memory is tiny, so
/// the memory axes go logarithmic for overwrite.
pub fn matrix(timestamp: &str, scale: f64) -> Value {
    let mut cells = Vec::new();
    for (u, uc) in ["overwrite", "batch_add_batch_del"].iter().enumerate() {
        for p in [2, 4] {
            for (i, f) in FLAVORS.iter().enumerate() {
                let mem = if *uc == "overwrite" && i == 0 {
                    0.25
                } else {
                    20.0 + 10.0 * i as f64 + u as f64
                };
                cells.push(cell(
                    uc,
                    f,
                    p,
                    scale * (1.0 + i as f64 + p as f64 / 10.0),
                    mem,
                ));
            }
        }
    }
    file(timestamp, cells)
}

pub fn write_json(path: &Path, v: &Value) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, serde_json::to_string_pretty(v).unwrap()).unwrap();
}

/// A cell of `bench` (`htab-mem`, `map-perf-test`, `kfree-rcu`): as `cell`, with the
/// benchmark named, its rate unit, and no per-second samples for the benchmarks that run to
/// completion.
pub fn bench_cell(bench: &str, uc: &str, flavor: &str, p: usize, k: f64, mem_mib: f64) -> Value {
    let mut c = cell(uc, flavor, p, k, mem_mib);
    c["id"] = json!(format!("{bench}/{uc}/{flavor}/p{p}"));
    c["benchmark"] = json!(bench);
    let unit = match bench {
        "map-perf-test" => "events/s",
        "kfree-rcu" => "objects/s",
        _ => "loops/s",
    };
    for m in ["loops_per_sec", "loops_per_sec_per_producer"] {
        c["metrics"][m]["unit"] = json!(unit);
    }
    if bench != "htab-mem" {
        c["samples"] = json!([]);
    }
    c
}

/// A schema version 2 file of `bench`.
pub fn bench_file(bench: &str, timestamp: &str, cells: Vec<Value>) -> Value {
    let mut f = file(timestamp, cells);
    f["schema_version"] = json!(2);
    f["config"]["benchmark"] = json!(bench);
    if bench != "htab-mem" {
        f["config"]["warmup_s"] = json!(0);
        f["config"].as_object_mut().unwrap().remove("use_case");
    }
    f
}

/// map_perf_test's tests as the benchmark lists them (hash_prealloc before hash_kmalloc),
/// with their flavors; workers 1 and 2.
pub const MAP_PERF_TESTS: [(&str, &[&str]); 2] = [
    ("hash_prealloc", &["prealloc"]),
    ("hash_kmalloc", &["immediate-reuse", "free-rcu"]),
];

/// A map-perf-test file: `MAP_PERF_TESTS` at 1 and 2 workers, in events/s.
pub fn map_perf_test(timestamp: &str, scale: f64) -> Value {
    let mut cells = Vec::new();
    for (t, (test, flavors)) in MAP_PERF_TESTS.iter().enumerate() {
        for p in [1, 2] {
            for (i, f) in flavors.iter().enumerate() {
                let k = scale * (100.0 + 10.0 * i as f64 + t as f64 + p as f64);
                cells.push(bench_cell("map-perf-test", test, f, p, k, 1.0 + i as f64));
            }
        }
    }
    bench_file("map-perf-test", timestamp, cells)
}

/// rcuscale's kfree modes, the kfree-rcu cells' flavors.
pub const KFREE_MODES: [&str; 4] = ["call-rcu", "call-rcu-lazy", "batched", "batched-polled"];

/// A kfree-rcu file: use case `kfree`, `KFREE_MODES` at 1 and 2 threads, in objects/s.
pub fn kfree_rcu(timestamp: &str, scale: f64) -> Value {
    let mut cells = Vec::new();
    for p in [1, 2] {
        for (i, m) in KFREE_MODES.iter().enumerate() {
            let k = scale * (400.0 + 20.0 * i as f64 + p as f64);
            cells.push(bench_cell(
                "kfree-rcu",
                "kfree",
                m,
                p,
                k,
                0.05 * (1 + i) as f64,
            ));
        }
    }
    bench_file("kfree-rcu", timestamp, cells)
}

/// A result set folder holding all three benchmarks' files: `matrix.json` (htab-mem's
/// `matrix`), `map-perf-test.json`, `kfree-rcu.json`.
pub fn write_mixed_set(dir: &Path, timestamp: &str, scale: f64) {
    write_json(&dir.join("matrix.json"), &matrix(timestamp, scale));
    write_json(
        &dir.join("map-perf-test.json"),
        &map_perf_test(timestamp, scale),
    );
    write_json(&dir.join("kfree-rcu.json"), &kfree_rcu(timestamp, scale));
}
