//! `--mem-limit`, `--fail-alloc`, `--fail-seed`: bad input is one line, exit 2 and no file
//! for the run, `matrix`, `sweep` and `kfree-rcu`; a run under a tight limit fails updates
//! with ENOMEM, goes on, says so, and keeps its memory within the limit.

use harness::result::read_result_file;

mod common;
use common::{assert_refused, htab_mem, htab_mem_sub, names, s, text};

const BAD: &[(&[&str], &str)] = &[
    (&["--mem-limit", "64XB"], "not a size"),
    (&["--mem-limit", "0"], "positive size"),
    (&["--mem-limit", "-1MiB"], "--mem-limit"),
    (&["--mem-limit", "2EiB"], "--mem-limit"),
    (&["--fail-alloc", "0"], "probability"),
    (&["--fail-alloc", "1.5"], "probability"),
    (&["--fail-alloc", "every:0"], "every:N"),
    (&["--fail-alloc", "sometimes"], "probability"),
    (&["--fail-seed", "x"], "--fail-seed"),
    (&["--fail-seed", "3"], "--fail-seed needs --fail-alloc"),
];

#[test]
fn bad_input_is_one_line_status_2_and_no_file_everywhere() {
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("never.json");
    for (extra, needle) in BAD {
        // The run and kfree-rcu take --json; matrix and sweep --out.
        for (sub, file_opt) in [
            (None, "--json"),
            (Some("kfree-rcu"), "--json"),
            (Some("matrix"), "--out"),
            (Some("sweep"), "--out"),
        ] {
            let mut a = vec![file_opt, s(&out), "-q"];
            if sub == Some("kfree-rcu") {
                a.pop();
            }
            a.extend(extra.iter());
            let r = match sub {
                None => htab_mem(&a),
                Some(sub) => htab_mem_sub(sub, &a),
            };
            assert_refused(&r, &(sub, &a), needle);
            assert!(names(d.path()).is_empty(), "{sub:?} {a:?} wrote a file");
        }
    }
    // map-perf-test cells have no limit: a matrix of them refuses the options.
    let r = htab_mem_sub(
        "matrix",
        &[
            "--benchmark",
            "map-perf-test",
            "--out",
            s(&out),
            "--mem-limit",
            "64MiB",
        ],
    );
    assert_refused(&r, &"map-perf-test matrix", "map-perf-test");
    assert!(names(d.path()).is_empty());
}

#[test]
fn a_run_under_a_tight_limit_fails_updates_and_goes_on() {
    let d = tempfile::tempdir().unwrap();
    let json = d.path().join("run.json");
    let limit: u64 = 6 << 20;
    let out = htab_mem(&[
        "-p",
        "2",
        "-w",
        "1",
        "-d",
        "1",
        "-A",
        "free-rcu,malloc-call-rcu",
        "--use-case",
        "overwrite",
        "--ttrace-gp-delay",
        "1s",
        "--rcu-gp-delay",
        "200ms",
        "--mem-limit",
        "6MiB",
        "--json",
        s(&json),
    ]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains("memory limit 6MiB"), "{stdout}");
    // The Summary line keeps the kernel's format; the failures come on the line after it.
    let lines: Vec<&str> = stdout.lines().collect();
    let i = lines
        .iter()
        .position(|l| l.starts_with("Summary: per-prod-op "))
        .unwrap();
    assert!(lines[i + 1].starts_with("failed updates: "), "{stdout}");
    assert!(lines[i + 1].contains("memory limit 6MiB hit"), "{stdout}");
    assert!(stdout.contains("| failed updates/s |"), "{stdout}");
    let f = read_result_file(&json).unwrap();
    assert_eq!(
        f.config.mem_limit.as_ref().unwrap().limit_bytes,
        Some(limit)
    );
    for c in &f.results {
        assert_eq!(c.status, harness::result::Status::Ok, "{}", c.id);
        assert_eq!(c.allocator.leaked, 0, "{}", c.id);
        let m = c.mem_limit.as_ref().unwrap();
        assert!(m.hit_mem_limit && m.refused > 0, "{}: {m:?}", c.id);
        assert!(
            m.failed_updates > 0 && m.failed_updates_per_sec > 0.0,
            "{}",
            c.id
        );
        assert!(m.charged_peak_bytes <= limit, "{}: {m:?}", c.id);
        // The whole heap as charged stays within the limit and a small overhead.
        let peak = c.metrics.mem_peak_charged.as_ref().unwrap().value;
        assert!(peak <= limit as f64 * 1.05, "{}: peak {peak}", c.id);
    }
}

#[test]
fn injected_failures_are_counted_and_reproducible_in_kind() {
    let d = tempfile::tempdir().unwrap();
    let json = d.path().join("run.json");
    let out = htab_mem(&[
        "-p",
        "2",
        "-w",
        "1",
        "-d",
        "1",
        "-q",
        "-A",
        "malloc-call-rcu",
        "--use-case",
        "lookup_verify",
        "--fail-alloc",
        "0.01",
        "--fail-seed",
        "9",
        "--json",
        s(&json),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let f = read_result_file(&json).unwrap();
    let rec = f.config.mem_limit.as_ref().unwrap();
    assert_eq!(rec.fail_alloc.as_deref(), Some("0.01"));
    assert_eq!(rec.fail_seed, Some(9));
    // Not given: the default limit is in the cell, not in the config.
    assert_eq!(rec.limit_bytes, None);
    let m = f.results[0].mem_limit.as_ref().unwrap();
    assert!(m.injected > 0 && m.failed_updates > 0, "{m:?}");
    assert!(!m.hit_mem_limit, "{m:?}");
}

#[test]
fn kvfree_rcu_blocks_are_refused_at_the_limit_and_the_fallbacks_run() {
    let d = tempfile::tempdir().unwrap();
    let json = d.path().join("k.json");
    let out = htab_mem_sub(
        "kfree-rcu",
        &[
            "--nthreads",
            "2",
            "--loops",
            "20",
            "--cached-blocks",
            "0",
            "--rcu-gp-delay",
            "20ms",
            "--mem-limit",
            "512KiB",
            "--json",
            s(&json),
        ],
    );
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.contains("kfree-rcu: memory limit 512KiB"),
        "{stdout}"
    );
    let f = read_result_file(&json).unwrap();
    let c = &f.results[0];
    let m = c.mem_limit.as_ref().unwrap();
    assert!(m.hit_mem_limit, "{m:?}");
    let k = c.kfree_rcu.as_ref().unwrap().kvfree.as_ref().unwrap();
    assert!(k.fallback_list > 0, "{k:?}");
    assert_eq!(c.allocator.leaked, 0);
}

#[test]
fn a_preallocated_map_over_the_limit_is_not_created_and_the_others_run() {
    // max entries 8192 x 64 B (kmalloc-64) = 512 KiB of area: over a 256 KiB limit.
    let d = tempfile::tempdir().unwrap();
    let json = d.path().join("run.json");
    let run = |flavors: &str, limit: &str| {
        let line = format!("-p 1 -w 1 -d 1 --use-case overwrite -A {flavors} --mem-limit {limit}");
        let mut args: Vec<&str> = line.split(' ').collect();
        args.extend(["--json", s(&json)]);
        let out = htab_mem(&args);
        let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
        (out.status.code(), all)
    };
    let (code, all) = run("prealloc,immediate-reuse", "256KiB");
    assert_eq!(code, Some(1), "{all}");
    assert!(
        all.contains("creating the map: ENOMEM: prealloc's preallocated area"),
        "{all}"
    );
    let f = read_result_file(&json).unwrap();
    let status = |flavor: &str| {
        f.results
            .iter()
            .find(|c| c.flavor == flavor)
            .unwrap()
            .status
    };
    assert_eq!(status("prealloc"), harness::result::Status::Error);
    assert_eq!(status("immediate-reuse"), harness::result::Status::Ok);
    // Under a limit it fits in, prealloc runs.
    let (code, all) = run("prealloc", "4MiB");
    assert_eq!(code, Some(0), "{all}");
}
