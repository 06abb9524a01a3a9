//! `htab-mem map-perf-test` end to end: bad input is one line and exit status 2; real runs
//! print exactly the sample's lines.

use std::process::Output;

use allocators::FLAVORS;

mod common;
use common::{assert_refused, htab_mem_sub};

fn map_perf_test(args: &[&str]) -> Output {
    htab_mem_sub("map-perf-test", args)
}

#[test]
fn bad_input_is_one_line_and_status_2() {
    let cases: &[(&[&str], &str)] = &[
        (&["x"], "FLAGS must be a number"),
        (&["4x"], "FLAGS"),
        (&["99999999999"], "FLAGS"),
        (&["2048"], "unknown test bit 11"),
        (
            &["64", "-A", "prealloc"],
            "cannot serve test 6 (LPM_KMALLOC)",
        ),
        (&["512", "-A", "free-rcu"], "would not be used"),
        (&["64", "1", "0", "0"], "ITERATIONS must be in 1..="),
        (&["4", "two"], "NUM_PROCS"),
        (&["4", "1025"], "NUM_PROCS must be in 0..=1024"),
        (&["4", "2", "many"], "MAX_ENTRIES"),
        (&["4", "2", "16777217"], "MAX_ENTRIES"),
        (&["4", "2", "0", "0"], "ITERATIONS must be in 1..="),
        (&["4", "2", "0", "4294967296"], "ITERATIONS"),
        (&["4", "2", "0", "10", "extra"], "extra"),
        (&["4", "-A", "nope"], "unknown allocator flavor 'nope'"),
        (
            &["4", "-A", "prealloc"],
            "cannot serve test 2 (HASH_KMALLOC)",
        ),
        (&["1", "-A", "immediate-reuse"], "would not be used"),
        (&["48", "-A", "immediate-reuse"], "would not be used"),
        (&["4", "--bogus"], "bogus"),
    ];
    for (args, needle) in cases {
        let out = map_perf_test(args);
        assert_refused(&out, args, needle);
    }
}

/// Splits `<worker>:<rest> <N> <unit> per sec` into (worker, rest, N, unit).
fn parse(line: &str) -> (usize, String, u64, String) {
    let (w, rest) = line
        .split_once(':')
        .unwrap_or_else(|| panic!("no worker: {line}"));
    let words: Vec<&str> = rest.split(' ').collect();
    let n = words.len();
    assert!(n >= 5, "{line}");
    assert_eq!(&words[n - 2..], ["per", "sec"], "{line}");
    (
        w.parse().unwrap_or_else(|_| panic!("worker id: {line}")),
        words[..n - 4].join(" "),
        words[n - 4]
            .parse()
            .unwrap_or_else(|_| panic!("figure: {line}")),
        words[n - 3].to_string(),
    )
}

fn lines(out: &Output) -> Vec<String> {
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone())
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn tiny_run_prints_one_kernel_line_per_worker() {
    let out = lines(&map_perf_test(&["4", "2", "0", "1000"]));
    assert_eq!(out.len(), 2, "{out:?}");
    let mut workers: Vec<usize> = out
        .iter()
        .map(|l| {
            let (w, name, n, unit) = parse(l);
            // printf("%d:hash_map_perf kmalloc %lld events per sec\n")
            assert_eq!(name, "hash_map_perf kmalloc", "{l}");
            assert_eq!(unit, "events", "{l}");
            assert!(n > 0, "{l}");
            w
        })
        .collect();
    workers.sort();
    assert_eq!(workers, [0, 1]);
}

#[test]
fn every_test_prints_its_line_in_order() {
    let out = lines(&map_perf_test(&["0", "2", "0", "200"]));
    let expect = [
        ("hash_map_perf pre-alloc", "events"),
        ("percpu_hash_map_perf pre-alloc", "events"),
        ("hash_map_perf kmalloc", "events"),
        ("percpu_hash_map_perf kmalloc", "events"),
        ("lru_hash_map_perf pre-alloc", "events"),
        ("nocommon_lru_hash_map_perf pre-alloc", "events"),
        ("lpm_perf kmalloc", "events"),
        ("hash_lookup", "lookups"),
        ("array_lookup", "lookups"),
        ("inner_lru_hash_map_perf pre-alloc", "events"),
        ("lru_hash_lookup_perf pre-alloc", "events"),
    ];
    assert_eq!(out.len(), 2 * expect.len(), "{out:?}");
    for worker in 0..2 {
        let mine: Vec<(String, String)> = out
            .iter()
            .map(|l| parse(l))
            .filter(|(w, ..)| *w == worker)
            .map(|(_, name, _, unit)| (name, unit))
            .collect();
        let want: Vec<(String, String)> = expect
            .iter()
            .map(|(n, u)| (n.to_string(), u.to_string()))
            .collect();
        assert_eq!(mine, want, "worker {worker}");
    }
}

#[test]
fn every_mem_alloc_flavor_runs_the_kmalloc_tests() {
    for f in FLAVORS.iter().filter(|&&f| f != "prealloc") {
        let out = lines(&map_perf_test(&["12", "2", "0", "100", "-A", f]));
        assert_eq!(out.len(), 4, "{f}: {out:?}");
    }
    // prealloc is what the preallocated tests use anyway.
    let out = lines(&map_perf_test(&["1", "1", "0", "100", "-A", "prealloc"]));
    assert_eq!(out.len(), 1, "{out:?}");
}

#[test]
fn lpm_and_inner_lru_tests_print_the_samples_lines() {
    // FLAGS 0 prints no skip note: every test runs.
    let out = map_perf_test(&["0", "1", "0", "50"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !err.contains("not implemented") && !err.contains("skipped"),
        "{err}"
    );
    // printf("%d:lpm_perf kmalloc %lld events per sec\n"), with -A as for tests 2 and 3.
    for f in FLAVORS.iter().filter(|&&f| f != "prealloc") {
        let out = lines(&map_perf_test(&["64", "2", "0", "100", "-A", f]));
        assert_eq!(out.len(), 2, "{f}: {out:?}");
        for l in &out {
            let (_, name, n, unit) = parse(l);
            assert_eq!(
                (name.as_str(), unit.as_str()),
                ("lpm_perf kmalloc", "events"),
                "{l}"
            );
            assert!(n > 0, "{l}");
        }
    }
    // printf("%d:%s pre-alloc %lld events per sec\n", cpu, "inner_lru_hash_map_perf", ...)
    let out = lines(&map_perf_test(&["512", "2", "64", "500"]));
    assert_eq!(out.len(), 2, "{out:?}");
    for l in &out {
        let (_, name, n, unit) = parse(l);
        assert_eq!(
            (name.as_str(), unit.as_str()),
            ("inner_lru_hash_map_perf pre-alloc", "events"),
            "{l}"
        );
        assert!(n > 0, "{l}");
    }
}
