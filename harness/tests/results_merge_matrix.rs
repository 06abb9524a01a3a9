//! The results tools that make and combine files, end to end: merge (order, overlaps,
//! configs) and matrix (shards, bad options, resume, interrupt).

use std::path::Path;
use std::process::Command;

use harness::result::{read_result_file, write_atomic, ResultFile, RunConfig, Status};

mod common;
use common::results::{cell, config, file, ok_stdout, sample, write, TINY};
use common::{htab_mem, names, s, text};

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

/// `--baseline-exe`: every trial runs in both binaries, alternating which goes first; each
/// side's cells land in its own file, whole, with all their trials, the baseline's under
/// the commit given. A resumed run is done only when both files hold a cell.
#[test]
fn matrix_measures_a_baseline_binary_beside_this_one() {
    let d = tempfile::tempdir().unwrap();
    let (out, base) = (d.path().join("new.json"), d.path().join("base.json"));
    let exe = env!("CARGO_BIN_EXE_htab-mem");
    let mut a = vec![
        "matrix",
        "--out",
        s(&out),
        "--baseline-exe",
        exe,
        "--baseline-out",
        s(&base),
        "--baseline-sha",
        "0123abcd",
        "--trials",
        "2",
        "--pause-ms",
        "0",
        "-q",
    ];
    // TINY with two trials.
    a.extend(&TINY[..6]);
    a.extend(&TINY[8..]);
    let r = htab_mem(&a);
    let err = text(&r.stderr);
    assert_eq!(r.status.code(), Some(0), "{err}");
    // Trial 1: this binary first; trial 2: the baseline first.
    let order: Vec<bool> = err
        .lines()
        .filter(|l| l.contains("trial ") && l.contains("immediate-reuse"))
        .map(|l| l.contains("(baseline)"))
        .collect();
    assert_eq!(order, [false, true, true, false], "{err}");
    let (n, b) = (
        read_result_file(&out).unwrap(),
        read_result_file(&base).unwrap(),
    );
    assert_eq!(b.git_sha, "0123abcd");
    assert_ne!(n.git_sha, "0123abcd");
    assert_eq!(n.config, b.config);
    for f in [&n, &b] {
        let ids: Vec<&str> = f.results.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "htab-mem/no_op/immediate-reuse/p1",
                "htab-mem/no_op/free-after-gp/p1"
            ]
        );
        for c in &f.results {
            assert_eq!(c.status, Status::Ok);
            assert_eq!(c.trials.count(), 2, "{}", c.id);
        }
    }
    // The two files compare, and a rerun has nothing left to do.
    let r = htab_mem(&["compare", s(&base), s(&out)]);
    assert!(r.status.code().unwrap() <= 1, "{}", text(&r.stderr));
    let before = (std::fs::read(&out).unwrap(), std::fs::read(&base).unwrap());
    let r = htab_mem(&a);
    assert_eq!(r.status.code(), Some(0), "{}", text(&r.stderr));
    assert_eq!(
        (std::fs::read(&out).unwrap(), std::fs::read(&base).unwrap()),
        before
    );
    // A cell missing from the baseline's file is run again on both sides.
    let mut short = b.clone();
    short.results.truncate(1);
    write_atomic(&base, &short).unwrap();
    let mut listed = a.clone();
    listed.push("--list");
    assert_eq!(
        ok_stdout(&htab_mem(&listed)),
        "htab-mem/no_op/free-after-gp/p1\n"
    );
}

#[test]
fn matrix_rejects_a_bad_baseline_before_running() {
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("m.json");
    let not_exe = d.path().join("plain.txt");
    std::fs::write(&not_exe, "not a program").unwrap();
    let missing = d.path().join("nope").join("b.json");
    let exe = env!("CARGO_BIN_EXE_htab-mem");
    for (args, needle) in [
        (
            vec!["--baseline-exe", s(&not_exe), "--baseline-out", "b.json"],
            "not an executable",
        ),
        (
            vec!["--baseline-exe", exe, "--baseline-out", s(&out)],
            "must not be the --out",
        ),
        (
            vec!["--baseline-exe", exe, "--baseline-out", s(&missing)],
            "does not exist",
        ),
        (vec!["--baseline-exe", exe], "--baseline-out"),
        (vec!["--baseline-out", "b.json"], "--baseline-exe"),
    ] {
        let mut a = vec!["matrix", "--out", s(&out)];
        a.extend(&args);
        a.extend(TINY);
        let r = htab_mem(&a);
        let err = text(&r.stderr);
        assert_eq!(r.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
    }
    assert_eq!(names(d.path()), ["plain.txt"]);
}

/// `ci/uninjected.sh` as the baseline: the injected slowdown reaches this binary's side only,
/// and each file records what its side ran.
#[test]
fn an_injected_slowdown_can_slow_one_side_only() {
    let d = tempfile::tempdir().unwrap();
    let (out, base) = (d.path().join("new.json"), d.path().join("base.json"));
    let wrapper = concat!(env!("CARGO_MANIFEST_DIR"), "/../ci/uninjected.sh");
    let mut a = vec![
        "matrix",
        "--out",
        s(&out),
        "--baseline-exe",
        wrapper,
        "--baseline-out",
        s(&base),
        "--inject-slowdown",
        "20",
        "--inject-flavors",
        "immediate-reuse",
        "--pause-ms",
        "0",
        "-q",
    ];
    a.extend(TINY);
    let r = Command::new(env!("CARGO_BIN_EXE_htab-mem"))
        .args(&a)
        .env("UNINJECTED_EXE", env!("CARGO_BIN_EXE_htab-mem"))
        .output()
        .unwrap();
    assert_eq!(r.status.code(), Some(0), "{}", text(&r.stderr));
    let (n, b) = (
        read_result_file(&out).unwrap(),
        read_result_file(&base).unwrap(),
    );
    let inject = n
        .config
        .inject
        .as_ref()
        .expect("the new side records its injection");
    assert_eq!(inject.slowdown_pct, Some(20));
    assert_eq!(b.config.inject, None, "the baseline side ran without it");
    assert_eq!((n.results.len(), b.results.len()), (2, 2));
}
