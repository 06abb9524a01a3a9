//! Trials end to end: the run and the matrix measure each cell in N interleaved child
//! processes and record every trial, the median and the interval; `compare` judges cells
//! with trials by threshold and interval overlap (synthetic files, no timing thresholds).

use harness::result::{Intervals, ResultFile, TrialFigures, Trials};

mod common;
use common::results::{sample, write};
use common::{htab_mem, s, text};

fn load(path: &std::path::Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The cell's headline figure is the median of its trials' and lies in its interval.
fn check_cell(c: &serde_json::Value, n: usize) {
    let trials = c["trials"].as_array().unwrap();
    assert_eq!(trials.len(), n, "{c}");
    let mut loops: Vec<f64> = trials
        .iter()
        .map(|t| t["loops_per_sec"].as_f64().unwrap())
        .collect();
    loops.sort_by(f64::total_cmp);
    let median = if n % 2 == 1 {
        loops[n / 2]
    } else {
        (loops[n / 2 - 1] + loops[n / 2]) / 2.0
    };
    let value = c["metrics"]["loops_per_sec"]["value"].as_f64().unwrap();
    assert!((value - median).abs() <= 1e-9 * median.abs(), "{c}");
    let ci = &c["ci95"]["loops_per_sec"];
    let (lo, hi) = (ci[0].as_f64().unwrap(), ci[1].as_f64().unwrap());
    assert!(lo <= value && value <= hi, "{c}");
    for (i, t) in trials.iter().enumerate() {
        assert_eq!(t["trial"], i + 1);
        assert_eq!(t["status"], "ok");
    }
}

#[test]
fn the_run_interleaves_trials_and_reports_the_median_with_its_interval() {
    let d = tempfile::tempdir().unwrap();
    let json = d.path().join("run.json");
    let out = htab_mem(&[
        "-w1",
        "-d1",
        "-p1",
        "--use-case",
        "overwrite",
        "-A",
        "immediate-reuse,prealloc",
        "--trials",
        "2",
        "-q",
        "--json",
        s(&json),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let order: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("htab-mem: use case"))
        .map(|l| {
            let flavor = l
                .split("flavor ")
                .nth(1)
                .unwrap()
                .split(',')
                .next()
                .unwrap();
            let trial = l.rsplit("trial ").next().unwrap();
            if flavor == "immediate-reuse" {
                if trial == "1/2" {
                    "A1"
                } else {
                    "A2"
                }
            } else if trial == "1/2" {
                "B1"
            } else {
                "B2"
            }
        })
        .collect();
    assert_eq!(order, ["A1", "B1", "A2", "B2"], "{stdout}");
    // The kernel's Summary line once per trial, then the table of medians and intervals.
    assert_eq!(
        stdout.lines().filter(|l| l.starts_with("Summary:")).count(),
        4,
        "{stdout}"
    );
    assert!(stdout.contains("medians of 2 trials"), "{stdout}");
    let table_row = stdout
        .lines()
        .find(|l| l.starts_with("| prealloc"))
        .unwrap();
    assert!(table_row.contains(" ["), "{stdout}");
    let v = load(&json);
    let cells = v["results"].as_array().unwrap();
    assert_eq!(cells.len(), 2);
    for c in cells {
        check_cell(c, 2);
    }
}

#[test]
fn the_matrix_writes_whole_cells_of_interleaved_trials() {
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("m.json");
    let args = |trials: &'static str| {
        vec![
            "matrix",
            "--use-cases",
            "overwrite",
            "-A",
            "immediate-reuse,prealloc",
            "-p",
            "1",
            "-w",
            "1",
            "-d",
            "1",
            "--pause-ms",
            "0",
            "-q",
            "--trials",
            trials,
        ]
    };
    let mut a = args("3");
    a.extend(["--out", s(&out)]);
    let r = htab_mem(&a);
    assert!(r.status.success(), "{}", text(&r.stderr));
    let stderr = text(&r.stderr);
    let trials: Vec<String> = stderr
        .lines()
        .filter_map(|l| l.trim().strip_prefix("trial "))
        .map(|l| {
            let mut w = l.split_whitespace();
            let t = w.next().unwrap();
            let id = w.next().unwrap();
            format!("{}:{t}", id.split('/').nth(2).unwrap())
        })
        .collect();
    assert_eq!(
        trials,
        [
            "immediate-reuse:1/3",
            "prealloc:1/3",
            "immediate-reuse:2/3",
            "prealloc:2/3",
            "immediate-reuse:3/3",
            "prealloc:3/3"
        ],
        "{stderr}"
    );
    let v = load(&out);
    let cells = v["results"].as_array().unwrap();
    assert_eq!(cells.len(), 2);
    for c in cells {
        check_cell(c, 3);
        assert!(
            c["ci95"]["method"].as_str().unwrap().contains("bootstrap"),
            "{c}"
        );
    }
    // One trial: the cell as it always was, no trials and no interval.
    let one = d.path().join("one.json");
    let mut a = args("1");
    a.extend(["--out", s(&one)]);
    let r = htab_mem(&a);
    assert!(r.status.success(), "{}", text(&r.stderr));
    for c in load(&one)["results"].as_array().unwrap() {
        assert!(c.get("trials").is_none() && c.get("ci95").is_none(), "{c}");
    }
    // The trial count is checked before anything runs.
    let mut a = args("0");
    a.extend(["--out", s(&one)]);
    assert_eq!(htab_mem(&a).status.code(), Some(2));
    let r = htab_mem(&["-w1", "-d1", "--trials", "0"]);
    assert_eq!(r.status.code(), Some(2), "{}", text(&r.stderr));
}

// ---------------------------------------------------------------- compare

/// Gives every cell of `f` three trials around its figures: loops/s at x (1 - s), x,
/// x (1 + s), the peak likewise; the interval is their range (as the bootstrap gives for 3).
fn with_trials(f: &mut ResultFile, spread: f64) {
    for c in &mut f.results {
        let (l, m) = (c.metrics.loops_per_sec.value, c.metrics.mem_peak.value);
        let k = [1.0 - spread, 1.0, 1.0 + spread];
        c.trials = Trials {
            trials: (0..3)
                .map(|i| TrialFigures {
                    trial: i + 1,
                    status: c.status,
                    error: None,
                    loops_per_sec: l * k[i],
                    loops_per_sec_per_producer: l * k[i] / 2.0,
                    mem_avg: m * k[i] / 2.0,
                    mem_peak: m * k[i],
                    mem_p95: None,
                    ..Default::default()
                })
                .collect(),
            ci95: Some(Intervals {
                method: "test".into(),
                loops_per_sec: [l * k[0], l * k[2]],
                loops_per_sec_per_producer: [l * k[0] / 2.0, l * k[2] / 2.0],
                mem_avg: [m * k[0] / 2.0, m * k[2] / 2.0],
                mem_peak: [m * k[0], m * k[2]],
                mem_p95: None,
            }),
        };
    }
}

fn scaled(flavor: &str, loops: f64, mem: f64, spread: f64) -> ResultFile {
    let mut f = sample();
    for c in &mut f.results {
        if c.flavor == flavor {
            c.metrics.loops_per_sec.value *= loops;
            c.metrics.mem_peak.value *= mem;
        }
    }
    with_trials(&mut f, spread);
    f
}

fn compare(base: &ResultFile, new: &ResultFile, extra: &[&str]) -> (Option<i32>, String) {
    let d = tempfile::tempdir().unwrap();
    let b = write(&d, "base.json", base);
    let n = write(&d, "new.json", new);
    let mut args = vec!["compare", s(&b), s(&n)];
    args.extend(extra);
    let out = htab_mem(&args);
    (out.status.code(), text(&out.stdout))
}

/// The verdict of the row of `flavor`'s cell and `metric`.
fn verdict<'a>(stdout: &'a str, flavor: &str, metric: &str) -> &'a str {
    let id = format!("htab-mem/overwrite/{flavor}/p2 ");
    let line = stdout
        .lines()
        .find(|l| l.contains(&id) && l.contains(metric))
        .unwrap_or_else(|| panic!("no row for {flavor} {metric}: {stdout}"));
    line.trim_end()
        .trim_end_matches('|')
        .rsplit('|')
        .next()
        .unwrap()
        .trim()
}

#[test]
fn compare_flags_only_changes_beyond_the_threshold_and_outside_the_noise() {
    let mut base = sample();
    with_trials(&mut base, 0.02);
    // 40 % slower with tight trials: apart and beyond the threshold (0.70).
    let (code, out) = compare(&base, &scaled("reuse-after-gp", 0.6, 1.0, 0.02), &[]);
    assert_eq!(code, Some(1), "{out}");
    assert_eq!(
        verdict(&out, "reuse-after-gp", "loops_per_sec"),
        "REGRESSION (slower)",
        "{out}"
    );
    assert!(out.contains("apart"), "{out}");
    assert!(out.contains("[29.40, 30.60] vs [17.64, 18.36]"), "{out}");
    assert_eq!(
        verdict(&out, "immediate-reuse", "loops_per_sec"),
        "no change"
    );
    // 35 % slower but trials spread +-25 %: the intervals overlap, so inconclusive.
    let mut noisy = sample();
    with_trials(&mut noisy, 0.25);
    let (code, out) = compare(&noisy, &scaled("reuse-after-gp", 0.65, 1.0, 0.25), &[]);
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(
        verdict(&out, "reuse-after-gp", "loops_per_sec"),
        "inconclusive",
        "{out}"
    );
    assert!(out.contains("1 inconclusive"), "{out}");
    // 10 % slower, tight trials: apart, but within the threshold: no change.
    let (code, out) = compare(&base, &scaled("reuse-after-gp", 0.9, 1.0, 0.02), &[]);
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(
        verdict(&out, "reuse-after-gp", "loops_per_sec"),
        "no change"
    );
    // 50 % faster, apart: faster (past 1/0.70), not a regression.
    let (code, out) = compare(&base, &scaled("reuse-after-gp", 1.5, 1.0, 0.02), &[]);
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(verdict(&out, "reuse-after-gp", "loops_per_sec"), "faster");
    // Memory doubled (400 -> 800 MiB), apart: grew.
    let (code, out) = compare(&base, &scaled("reuse-after-gp", 1.0, 2.0, 0.02), &[]);
    assert_eq!(code, Some(1), "{out}");
    assert_eq!(
        verdict(&out, "reuse-after-gp", "mem_peak"),
        "REGRESSION (grew)",
        "{out}"
    );
    // Normalisation applies to the intervals too: the whole machine 40 % slower is no change.
    let mut slow = sample();
    for c in &mut slow.results {
        c.metrics.loops_per_sec.value *= 0.6;
    }
    with_trials(&mut slow, 0.02);
    let (code, out) = compare(&base, &slow, &[]);
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(
        verdict(&out, "reuse-after-gp", "loops_per_sec"),
        "no change"
    );
    let (code, out) = compare(&base, &slow, &["--no-normalize"]);
    assert_eq!(code, Some(1), "{out}");
    let (code, out) = compare(&base, &slow, &["--reference", "immediate-reuse"]);
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(
        verdict(&out, "reuse-after-gp", "loops_per_sec"),
        "no change"
    );
}

#[test]
fn a_side_of_one_trial_falls_back_to_the_threshold_and_says_so() {
    let mut base = sample();
    with_trials(&mut base, 0.25);
    let mut new = sample();
    for c in &mut new.results {
        if c.flavor == "reuse-after-gp" {
            c.metrics.loops_per_sec.value *= 0.6;
        }
    }
    let (code, out) = compare(&base, &new, &[]);
    assert_eq!(code, Some(1), "{out}");
    assert_eq!(
        verdict(&out, "reuse-after-gp", "loops_per_sec"),
        "REGRESSION (slower, 1 trial)",
        "{out}"
    );
    assert_eq!(
        verdict(&out, "immediate-reuse", "loops_per_sec"),
        "no change (1 trial)"
    );
    assert!(out.contains("(1 trial) no test"), "{out}");
}
