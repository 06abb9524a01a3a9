//! The results tools end to end: matrix (shards, resume, interrupt), merge, export, compare,
//! and bad result files (exit status 2, nothing overwritten).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use harness::host::HostInfo;
use harness::result::{
    cell_id, read_result_file, write_atomic, AllocCounters, Benchmark, CellResult, Metric, Metrics,
    ResultFile, RunConfig, Sample, Status,
};

mod common;
use common::{htab_mem, names, s, text};
use tempfile::TempDir;

use harness::units::MIB;

fn cell(uc: &str, flavor: &str, p: usize, loops: f64, peak_mib: f64) -> CellResult {
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
        },
        allocator: AllocCounters::default(),
        rcu: Vec::new(),
        memory_model: None,
        loop_shape: None,
        kfree_rcu: None,
    }
}

fn config(warmup: u64, duration: u64, affinity: &str) -> RunConfig {
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
    }
}

fn file(cells: Vec<CellResult>) -> ResultFile {
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
fn sample() -> ResultFile {
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

fn write(dir: &TempDir, name: &str, f: &ResultFile) -> PathBuf {
    let p = dir.path().join(name);
    write_atomic(&p, f).unwrap();
    p
}

fn ok_stdout(out: &Output) -> String {
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    text(&out.stdout)
}

// ---------------------------------------------------------------- export

#[test]
fn export_bmf_exact() {
    let d = tempfile::tempdir().unwrap();
    let f = write(&d, "r.json", &sample());
    let v: serde_json::Value =
        serde_json::from_str(&ok_stdout(&htab_mem(&["export", s(&f), "--format", "bmf"]))).unwrap();
    let want = serde_json::json!({
        "htab-mem/overwrite/immediate-reuse/p2": {
            "loops_per_sec": {"value": 100000.0, "lower_value": 99000.0, "upper_value": 101000.0},
            "mem_peak": {"value": 262144.0},
            "mem_avg": {"value": 131072.0, "lower_value": 130048.0, "upper_value": 132096.0}
        },
        "htab-mem/overwrite/reuse-after-gp/p2": {
            "loops_per_sec": {"value": 30000.0, "lower_value": 29700.0, "upper_value": 30300.0},
            "mem_peak": {"value": 419430400.0},
            "mem_avg": {"value": 209715200.0, "lower_value": 209714176.0, "upper_value": 209716224.0}
        },
        "htab-mem/overwrite/free-after-gp/p2": {
            "loops_per_sec": {"value": 10000.0, "lower_value": 9900.0, "upper_value": 10100.0},
            "mem_peak": {"value": 20971520.0},
            "mem_avg": {"value": 10485760.0, "lower_value": 10484736.0, "upper_value": 10486784.0}
        }
    });
    assert_eq!(v, want);
}

#[test]
fn export_gab_exact() {
    let d = tempfile::tempdir().unwrap();
    let f = write(&d, "r.json", &sample());
    let big = ok_stdout(&htab_mem(&["export", s(&f), "--format", "gab-bigger"]));
    let v: serde_json::Value = serde_json::from_str(&big).unwrap();
    assert_eq!(
        v,
        serde_json::json!([
            {"name": "htab-mem/overwrite/immediate-reuse/p2 loops_per_sec", "unit": "loops/s",
             "value": 100000.0, "range": "± 1000"},
            {"name": "htab-mem/overwrite/reuse-after-gp/p2 loops_per_sec", "unit": "loops/s",
             "value": 30000.0, "range": "± 300"},
            {"name": "htab-mem/overwrite/free-after-gp/p2 loops_per_sec", "unit": "loops/s",
             "value": 10000.0, "range": "± 100"}
        ])
    );
    let small = ok_stdout(&htab_mem(&["export", s(&f), "--format", "gab-smaller"]));
    let v: serde_json::Value = serde_json::from_str(&small).unwrap();
    let arr = v.as_array().unwrap();
    assert_eq!(arr.len(), 6);
    assert_eq!(
        arr[0],
        serde_json::json!({"name": "htab-mem/overwrite/immediate-reuse/p2 mem_peak",
                           "unit": "bytes", "value": 262144.0})
    );
    assert_eq!(
        arr[1],
        serde_json::json!({"name": "htab-mem/overwrite/immediate-reuse/p2 mem_avg",
                           "unit": "bytes", "value": 131072.0, "range": "± 1024"})
    );
}

#[test]
fn export_csv_exact() {
    let d = tempfile::tempdir().unwrap();
    let f = write(&d, "r.json", &sample());
    let out = ok_stdout(&htab_mem(&["export", s(&f), "--format", "csv"]));
    let want = "\
id,use_case,flavor,producers,status,loops_per_sec,loops_per_sec_stddev,loops_per_sec_per_producer,loops_per_sec_per_producer_stddev,mem_avg_bytes,mem_avg_stddev_bytes,mem_peak_bytes,rss_peak_bytes,leaked
htab-mem/overwrite/immediate-reuse/p2,overwrite,immediate-reuse,2,ok,100000,1000,50000,500,131072,1024,262144,8388608,0
htab-mem/overwrite/reuse-after-gp/p2,overwrite,reuse-after-gp,2,ok,30000,300,15000,150,209715200,1024,419430400,8388608,0
htab-mem/overwrite/free-after-gp/p2,overwrite,free-after-gp,2,leak,10000,100,5000,50,10485760,1024,20971520,8388608,3
htab-mem/overwrite/call-rcu-free/p2,overwrite,call-rcu-free,2,error,,,,,,,,,
";
    assert_eq!(out, want);
}

#[test]
fn export_markdown_exact_and_to_file() {
    let d = tempfile::tempdir().unwrap();
    let mut f = sample();
    f.results
        .push(cell("no_op", "immediate-reuse", 1, 500_000_000.0, 0.13));
    let p = write(&d, "r.json", &f);
    let out_md = d.path().join("summary.md");
    let out = htab_mem(&["export", s(&p), "--format", "markdown", "--out", s(&out_md)]);
    assert!(ok_stdout(&out).is_empty());
    let want = "\
no_op, 1 producer (1s warm-up, 3s measured):
| name            | loop (k/s) | average memory (MiB) | peak memory (MiB) |
| --              | --         | --                   | --                |
| immediate-reuse | 500000.00  | 0.07                 | 0.13              |

overwrite, 2 producers (1s warm-up, 3s measured):
| name                  | loop (k/s) | average memory (MiB) | peak memory (MiB) |
| --                    | --         | --                   | --                |
| immediate-reuse       | 50.00      | 0.12                 | 0.25              |
| reuse-after-gp        | 15.00      | 200.00               | 400.00            |
| free-after-gp (leak)  | 5.00       | 10.00                | 20.00             |
| call-rcu-free (error) | -          | -                    | -                 |
";
    assert_eq!(std::fs::read_to_string(&out_md).unwrap(), want);
    assert_eq!(names(d.path()), ["r.json", "summary.md"]);
}

// ---------------------------------------------------------------- compare

fn compare(base: &ResultFile, new: &ResultFile, extra: &[&str]) -> Output {
    let d = tempfile::tempdir().unwrap();
    let b = write(&d, "base.json", base);
    let n = write(&d, "new.json", new);
    let mut args = vec!["compare", s(&b), s(&n)];
    args.extend(extra);
    htab_mem(&args)
}

fn scale(f: &mut ResultFile, flavor: Option<&str>, loops: f64, mem: f64) {
    for c in &mut f.results {
        if flavor.is_none_or(|fl| fl == c.flavor) {
            c.metrics.loops_per_sec.value *= loops;
            c.metrics.mem_peak.value *= mem;
        }
    }
}

#[test]
fn compare_identical_runs_pass() {
    let out = compare(&sample(), &sample(), &[]);
    let stdout = ok_stdout(&out);
    assert!(!stdout.contains("REGRESSION"), "{stdout}");
    assert!(stdout.contains("0 regressions"), "{stdout}");
}

#[test]
fn compare_flags_a_30_percent_slowdown() {
    let mut new = sample();
    scale(&mut new, Some("reuse-after-gp"), 0.7, 1.0);
    let out = compare(&sample(), &new, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let bad: Vec<&str> = stdout
        .lines()
        .filter(|l| l.contains("REGRESSION"))
        .collect();
    assert_eq!(bad.len(), 1, "{stdout}");
    assert!(
        bad[0].contains("htab-mem/overwrite/reuse-after-gp/p2")
            && bad[0].contains("loops_per_sec")
            && bad[0].contains("0.700"),
        "{stdout}"
    );
    let out = compare(&sample(), &new, &["--reference", "immediate-reuse"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    // A threshold below the drop lets it pass.
    let out = compare(&sample(), &new, &["--max-slowdown", "0.6"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
}

#[test]
fn compare_cancels_uniform_machine_drift() {
    // The whole machine 30% slower: every flavor alike, so nothing regressed.
    let mut new = sample();
    scale(&mut new, None, 0.7, 1.0);
    let out = compare(&sample(), &new, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    // So does normalising by a reference flavor's cells.
    let out = compare(&sample(), &new, &["--reference", "immediate-reuse"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    assert!(text(&out.stdout).contains("reference"));
    // Raw comparison sees it.
    let out = compare(&sample(), &new, &["--no-normalize"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
}

#[test]
fn compare_memory_growth_and_floor() {
    let mut new = sample();
    scale(&mut new, Some("reuse-after-gp"), 1.0, 2.0);
    let out = compare(&sample(), &new, &[]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = text(&out.stdout);
    assert!(
        stdout.lines().any(|l| l.contains("reuse-after-gp")
            && l.contains("mem_peak")
            && l.contains("REGRESSION")),
        "{stdout}"
    );
    // 0.25 MiB -> 0.5 MiB doubles but stays under the 1 MiB floor.
    let mut new = sample();
    scale(&mut new, Some("immediate-reuse"), 1.0, 2.0);
    let out = compare(&sample(), &new, &["--no-normalize"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    let out = compare(&sample(), &new, &["--no-normalize", "--mem-floor-mib", "0"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
}

#[test]
fn compare_judges_charged_memory_and_falls_back_to_raw() {
    // New files carry the charged peak too: a growth there alone is judged.
    let charge = |f: &mut ResultFile, flavor: &str, k: f64| {
        for c in &mut f.results {
            let peak = c.metrics.mem_peak.value;
            let k = if c.flavor == flavor { k } else { 1.0 };
            c.metrics.mem_peak_charged = Some(Metric::new(peak * 1.3 * k, None, "bytes"));
        }
    };
    let mut base = sample();
    charge(&mut base, "", 1.0);
    let mut new = sample();
    charge(&mut new, "reuse-after-gp", 2.0);
    let out = compare(&base, &new, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    assert!(
        text(&out.stdout)
            .lines()
            .any(|l| l.contains("reuse-after-gp")
                && l.contains("mem_peak")
                && l.contains("REGRESSION")),
        "{}",
        text(&out.stdout)
    );
    // An old base without the field: both sides raw, where nothing changed.
    let out = compare(&sample(), &new, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    let out = compare(&sample(), &new, &["--reference", "immediate-reuse"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
}

#[test]
fn compare_lists_missing_cells_and_new_leaks() {
    let mut new = sample();
    new.results.retain(|c| c.flavor != "reuse-after-gp");
    new.results
        .push(cell("overwrite", "prealloc", 2, 90_000.0, 1.0));
    let out = compare(&sample(), &new, &[]);
    let stdout = ok_stdout(&out);
    assert!(
        stdout.contains("only in base (1): htab-mem/overwrite/reuse-after-gp/p2"),
        "{stdout}"
    );
    assert!(
        stdout.contains("only in new (1): htab-mem/overwrite/prealloc/p2"),
        "{stdout}"
    );
    // An ok cell that now leaks is a regression whatever its numbers.
    let mut base = sample();
    base.results[2].status = Status::Ok;
    let out = compare(&base, &sample(), &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stdout).contains("REGRESSION (leak)"));
}

// ---------------------------------------------------------------- merge

#[test]
fn merge_combines_disjoint_shards_in_canonical_order() {
    let d = tempfile::tempdir().unwrap();
    let all = sample();
    let mut a = all.clone();
    a.results = vec![all.results[1].clone(), all.results[3].clone()];
    let mut b = all.clone();
    b.results = vec![all.results[0].clone(), all.results[2].clone()];
    b.timestamp = "2026-01-01T00:00:00Z".into();
    let (pa, pb) = (write(&d, "a.json", &a), write(&d, "b.json", &b));
    let out = d.path().join("m.json");
    let r = htab_mem(&["merge", s(&pa), s(&pb), "--out", s(&out)]);
    assert_eq!(r.status.code(), Some(0), "{}", text(&r.stderr));
    let m = read_result_file(&out).unwrap();
    let ids: Vec<&str> = m.results.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "htab-mem/overwrite/immediate-reuse/p2",
            "htab-mem/overwrite/reuse-after-gp/p2",
            "htab-mem/overwrite/free-after-gp/p2",
            "htab-mem/overwrite/call-rcu-free/p2",
        ]
    );
    assert_eq!(m.timestamp, "2026-01-01T00:00:00Z");
    assert_eq!(m.config, all.config);

    // The same shard twice overlaps: refused, then allowed with --force.
    let out2 = d.path().join("m2.json");
    let r = htab_mem(&["merge", s(&pa), s(&pa), "--out", s(&out2)]);
    assert_eq!(r.status.code(), Some(2));
    assert!(text(&r.stderr).contains("more than one file"));
    assert!(!out2.exists());
    let r = htab_mem(&["merge", s(&pa), s(&pa), "--force", "--out", s(&out2)]);
    assert_eq!(r.status.code(), Some(0));
    assert_eq!(read_result_file(&out2).unwrap().results.len(), 2);
}

#[test]
fn merge_refuses_different_configs_unless_forced() {
    let d = tempfile::tempdir().unwrap();
    let a = sample();
    let mut b = file(vec![cell("no_op", "immediate-reuse", 1, 1e8, 0.1)]);
    b.config.duration_s = 5;
    b.git_sha = "fedcba987654".into();
    let (pa, pb) = (write(&d, "a.json", &a), write(&d, "b.json", &b));
    let out = d.path().join("m.json");
    std::fs::write(&out, "keep me").unwrap();
    let r = htab_mem(&["merge", s(&pa), s(&pb), "--out", s(&out)]);
    assert_eq!(r.status.code(), Some(2));
    let err = text(&r.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("duration_s 3 vs 5") && err.contains("git_sha") && err.contains("--force"),
        "{err}"
    );
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "keep me");
    let r = htab_mem(&["merge", s(&pa), s(&pb), "--force", "--out", s(&out)]);
    assert_eq!(r.status.code(), Some(0), "{}", text(&r.stderr));
    assert_eq!(read_result_file(&out).unwrap().results.len(), 5);
}

// ---------------------------------------------------------------- matrix

/// `matrix --list` output: the cells that would run (the --out file need not exist).
fn list(args: &[&str]) -> Vec<String> {
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("never.json");
    let mut a = vec!["matrix", "--list", "--out", s(&out)];
    a.extend(args);
    let ids = ok_stdout(&htab_mem(&a))
        .lines()
        .map(str::to_string)
        .collect();
    assert!(names(d.path()).is_empty(), "--list wrote a file");
    ids
}

#[test]
fn shards_are_disjoint_and_complete() {
    let whole = list(&[]);
    // Default sweep: 4 use cases x every flavor x the producer counts, less odd add_del.
    assert!(whole.len() >= 4 * 5 * 4, "{}", whole.len());
    assert!(!whole
        .iter()
        .any(|id| id.starts_with("htab-mem/add_del_on_diff_cpu/") && id.ends_with("/p1")));
    let mut union = Vec::new();
    for i in 1..=3 {
        let part = list(&["--shard", &format!("{i}/3")]);
        assert!(!part.is_empty());
        union.extend(part);
    }
    let mut sorted_union = union.clone();
    sorted_union.sort();
    sorted_union.dedup();
    assert_eq!(sorted_union.len(), union.len(), "shards overlap");
    let mut sorted_whole = whole.clone();
    sorted_whole.sort();
    assert_eq!(sorted_union, sorted_whole);
}

#[test]
fn matrix_rejects_bad_options_before_running() {
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("m.json");
    for (args, needle) in [
        (vec!["-p", "0"], "producers"),
        (vec!["-p", "2,x"], "'x'"),
        (vec!["--use-cases", "nope"], "unknown use case"),
        (vec!["-A", "nope"], "unknown allocator flavor"),
        (vec!["--shard", "0/2"], "invalid shard"),
        (vec!["--shard", "3/2"], "invalid shard"),
        (vec!["-d", "0"], "duration"),
        (vec!["--value-size", "0"], "value-size"),
        (vec!["--memalloc", "v6.6"], "memalloc"),
    ] {
        let mut a = vec!["matrix", "--out", s(&out)];
        a.extend(&args);
        let r = htab_mem(&a);
        let err = text(&r.stderr);
        assert_eq!(r.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
    }
    assert!(names(d.path()).is_empty());
}

/// The config `matrix -w 1 -d 1` on this machine records.
fn tiny_matrix_config() -> RunConfig {
    let online = harness::host::online_cpus();
    let mut c = config(1, 1, &harness::cpuset::format_cpuset(&online));
    c.max_entries = 8192;
    c.rcu_gp_delay_us = 6000; // the run mode's default pacing
    c
}

const TINY: [&str; 10] = [
    "--use-cases",
    "no_op",
    "-A",
    "immediate-reuse,free-after-gp",
    "-p",
    "1",
    "-w",
    "1",
    "-d",
    "1",
];

/// Writes a tiny matrix's file holding one finished cell, with numbers no real run gives.
fn write_one_cell_file(out: &Path) -> ResultFile {
    let mut pre = file(vec![cell("no_op", "immediate-reuse", 1, 42.0, 0.5)]);
    pre.config = tiny_matrix_config();
    write_atomic(out, &pre).unwrap();
    pre
}

/// Cells of another memalloc.c generation never join a file: resuming with a different
/// `--memalloc` is refused before anything runs.
#[test]
fn matrix_refuses_to_resume_with_another_memalloc() {
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("m.json");
    let pre = write_one_cell_file(&out);
    let mut a = vec!["matrix", "--out", s(&out), "--list", "--memalloc", "v6.3"];
    a.extend(TINY);
    let r = htab_mem(&a);
    let err = text(&r.stderr);
    assert_ne!(r.status.code(), Some(0), "{err}");
    assert!(err.contains("memalloc current vs v6.3"), "{err}");
    assert_eq!(read_result_file(&out).unwrap(), pre);
}

#[test]
fn matrix_resumes_skipping_finished_cells() {
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("m.json");
    // A finished cell: it must survive untouched.
    let pre = write_one_cell_file(&out);

    let mut a = vec!["matrix", "--out", s(&out), "-q", "--pause-ms", "0"];
    a.extend(TINY);
    let listed = htab_mem(&[a.clone(), vec!["--list"]].concat());
    assert_eq!(ok_stdout(&listed), "htab-mem/no_op/free-after-gp/p1\n");

    let r = htab_mem(&a);
    let err = text(&r.stderr);
    assert_eq!(r.status.code(), Some(0), "{err}");
    assert!(
        err.contains("1 cells to run") && err.contains("1 already there"),
        "{err}"
    );
    let f = read_result_file(&out).unwrap();
    let ids: Vec<&str> = f.results.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "htab-mem/no_op/immediate-reuse/p1",
            "htab-mem/no_op/free-after-gp/p1"
        ]
    );
    assert_eq!(f.results[0], pre.results[0]);
    assert_eq!(f.results[1].status, Status::Ok);
    assert!(!f.results[1].samples.is_empty());
    assert!(f.results[1].metrics.loops_per_sec.value > 0.0);
    assert_eq!(f.config, pre.config);

    // Nothing left: the file is not even rewritten.
    let before = std::fs::read(&out).unwrap();
    let r = htab_mem(&a);
    assert_eq!(r.status.code(), Some(0), "{}", text(&r.stderr));
    assert_eq!(std::fs::read(&out).unwrap(), before);
    assert_eq!(names(d.path()), ["m.json"]);

    // Other options than the file's: refused, file untouched.
    let mut other = a.clone();
    let last = other.len() - 1;
    other[last] = "2";
    let r = htab_mem(&other);
    assert_eq!(r.status.code(), Some(2));
    assert!(
        text(&r.stderr).contains("duration_s 1 vs 2"),
        "{}",
        text(&r.stderr)
    );
    assert_eq!(std::fs::read(&out).unwrap(), before);
}

#[test]
fn interrupted_matrix_keeps_finished_cells_and_no_half_cell() {
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("m.json");
    let mut pre = file(vec![cell("no_op", "immediate-reuse", 1, 42.0, 0.5)]);
    pre.config = tiny_matrix_config();
    pre.config.duration_s = 30;
    write_atomic(&out, &pre).unwrap();
    let before = std::fs::read(&out).unwrap();
    let mut args = vec!["matrix", "--out", s(&out), "-q"];
    args.extend(TINY);
    let n = args.len();
    args[n - 1] = "30";
    let mut child = Command::new(env!("CARGO_BIN_EXE_htab-mem"))
        .args(&args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The plan line comes after the signal handler is in place and before the cell starts;
    // the cell then runs 32 s, far longer than the wait below.
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut first = String::new();
    std::io::BufRead::read_line(&mut stderr, &mut first).unwrap();
    assert!(first.contains("1 cells to run"), "{first}");
    std::thread::sleep(std::time::Duration::from_millis(500));
    // SAFETY: signals the child we spawned and have not yet waited for.
    unsafe {
        libc::kill(child.id() as libc::pid_t, libc::SIGINT);
    }
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut rest).unwrap();
    let status = child.wait().unwrap();
    let err = rest;
    assert_eq!(status.code(), Some(130), "{err}");
    assert!(err.contains("interrupted"), "{err}");
    assert_eq!(std::fs::read(&out).unwrap(), before);
    assert_eq!(names(d.path()), ["m.json"], "a temp file was left behind");
}

// ---------------------------------------------------------------- bad files

/// Files that are not usable result files, with what the error must say.
fn bad_files(d: &TempDir) -> Vec<(PathBuf, &'static str)> {
    let full = serde_json::to_string_pretty(&sample()).unwrap();
    let mut newer: serde_json::Value = serde_json::to_value(sample()).unwrap();
    newer["schema_version"] = (harness::result::SCHEMA_VERSION + 1).into();
    let mut dup = sample();
    dup.results.push(dup.results[0].clone());
    let cases: Vec<(&str, String, &'static str)> = vec![
        ("empty.json", String::new(), "file is empty"),
        (
            "truncated.json",
            full[..full.len() / 2].to_string(),
            "truncated JSON",
        ),
        (
            "newer.json",
            newer.to_string(),
            "newer than this tool supports",
        ),
        (
            "other.json",
            r#"[{"name": "x", "value": 1}]"#.into(),
            "not an htab-mem result file",
        ),
        (
            "dup.json",
            serde_json::to_string(&dup).unwrap(),
            "appears twice",
        ),
    ];
    cases
        .into_iter()
        .map(|(name, body, why)| {
            let p = d.path().join(name);
            std::fs::write(&p, body).unwrap();
            (p, why)
        })
        .collect()
}

fn assert_bad(r: &Output, path: &Path, why: &str) {
    let err = text(&r.stderr);
    assert_eq!(r.status.code(), Some(2), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains(s(path)) && err.contains(why), "{why}: {err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn bad_result_files_are_refused_and_nothing_is_overwritten() {
    let d = tempfile::tempdir().unwrap();
    let good = write(&d, "good.json", &sample());
    let out = d.path().join("out.txt");
    for (bad, why) in bad_files(&d) {
        std::fs::write(&out, "previous output").unwrap();
        let before_bad = std::fs::read(&bad).unwrap();
        for fmt in ["bmf", "csv", "markdown"] {
            let r = htab_mem(&["export", s(&bad), "--format", fmt, "--out", s(&out)]);
            assert_bad(&r, &bad, why);
        }
        assert_bad(&htab_mem(&["compare", s(&good), s(&bad)]), &bad, why);
        assert_bad(&htab_mem(&["compare", s(&bad), s(&good)]), &bad, why);
        assert_bad(
            &htab_mem(&["merge", s(&good), s(&bad), "--out", s(&out)]),
            &bad,
            why,
        );
        // A matrix resuming into it must not clobber it either.
        let mut a = vec!["matrix", "--out", s(&bad), "-q"];
        a.extend(TINY);
        assert_bad(&htab_mem(&a), &bad, why);
        assert_eq!(std::fs::read(&bad).unwrap(), before_bad);
        assert_eq!(std::fs::read_to_string(&out).unwrap(), "previous output");
    }
    // Only the files this test made: no temp file was left anywhere.
    assert_eq!(
        names(d.path()),
        [
            "dup.json",
            "empty.json",
            "good.json",
            "newer.json",
            "other.json",
            "out.txt",
            "truncated.json"
        ]
    );
}
