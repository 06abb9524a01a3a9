//! The results tools that read files to report, end to end: export (BMF, GAB, CSV,
//! markdown) and compare (regressions, drift, memory floor, missing cells, leaks).

use std::process::Output;

use harness::result::{Metric, ResultFile, Status};

mod common;
use common::results::{cell, ok_stdout, sample, write};
use common::{htab_mem, names, s, text};

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
fn compare_flags_a_40_percent_slowdown() {
    // Past the per-cell threshold (0.70): a cell alone must lose more than its noise can.
    let mut new = sample();
    scale(&mut new, Some("reuse-after-gp"), 0.6, 1.0);
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
            && bad[0].contains("0.600"),
        "{stdout}"
    );
    let out = compare(&sample(), &new, &["--reference", "immediate-reuse"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    // A threshold below the drop lets it pass.
    let out = compare(&sample(), &new, &["--max-slowdown", "0.5"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
}

#[test]
fn compare_cancels_uniform_machine_drift() {
    // The whole machine 40% slower: every flavor alike, so nothing regressed.
    let mut new = sample();
    scale(&mut new, None, 0.6, 1.0);
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
