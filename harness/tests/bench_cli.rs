//! bench.c's command line: the kernel's `run_bench_htab_mem.sh` runs
//! `$RUN_BENCH htab-mem --use-case NAME -p8 [--preallocated]` with
//! `RUN_BENCH="./bench -w3 -d10 -a"`, and scrapes the output's last Summary with sed. This
//! binary in bench's place must run that unchanged and give the script what it scrapes.

mod common;
use common::{assert_refused, htab_mem};

/// What the script's `htab_mem()` extracts from the whole output (joined into one line by
/// `echo $2`): the last `per-prod-op X ± Yk/s`, `memory usage X ± YMiB` and
/// `peak memory usage XMiB`.
fn scrape(stdout: &str) -> Option<(String, String, String)> {
    let line = stdout.split_whitespace().collect::<Vec<_>>().join(" ");
    // sed's greedy `.* key\s+(pattern)` takes the last `key` that the pattern follows.
    let after = |key: &str, n: usize| -> Option<String> {
        line.match_indices(key)
            .map(|(at, _)| {
                line[at + key.len()..]
                    .split_whitespace()
                    .take(n)
                    .collect::<Vec<_>>()
            })
            .filter(|t| n == 1 || t.get(1) == Some(&"±"))
            .last()
            .map(|t| t.join(" "))
    };
    Some((
        after(" per-prod-op ", 3)?,
        after(" memory usage ", 3)?,
        after(" peak memory usage ", 1)?,
    ))
}

#[test]
fn the_kernel_script_runs_every_use_case_with_and_without_preallocated() {
    for use_case in [
        "no_op",
        "overwrite",
        "batch_add_batch_del",
        "add_del_on_diff_cpu",
    ] {
        for extra in [&[][..], &["--preallocated"][..]] {
            let mut args = vec![
                "-w1",
                "-d1",
                "-a",
                "htab-mem",
                "--use-case",
                use_case,
                "-p8",
            ];
            args.extend_from_slice(extra);
            let out = htab_mem(&args);
            let stdout = String::from_utf8_lossy(&out.stdout);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(0), "{args:?}: {stderr}");
            // One map per invocation, as bench: the kernel's default map, or prealloc.
            let flavor = if extra.is_empty() {
                "immediate-reuse"
            } else {
                "prealloc"
            };
            let runs: Vec<_> = stdout
                .lines()
                .filter(|l| l.starts_with("htab-mem: use case"))
                .collect();
            assert_eq!(runs.len(), 1, "{args:?}: {stdout}");
            assert!(runs[0].contains(&format!("flavor {flavor},")), "{runs:?}");
            let (rate, mem, peak) = scrape(&stdout).unwrap_or_else(|| panic!("{stdout}"));
            assert!(rate.ends_with("k/s,"), "{args:?}: {rate}");
            assert!(rate.contains(" ± "), "{rate}");
            assert!(mem.ends_with("MiB,"), "{args:?}: {mem}");
            assert!(peak.ends_with("MiB"), "{args:?}: {peak}");
        }
    }
}

#[test]
fn a_word_that_names_no_benchmark_is_one_line_naming_the_known_ones() {
    for args in [&["-w3", "-a", "htab-map"][..], &["bogus"][..]] {
        let out = htab_mem(args);
        assert_refused(&out, &args, "unknown benchmark or subcommand");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("htab-mem, matrix"), "{err}");
    }
}

#[test]
fn bench_style_options_keep_their_checks() {
    let out = htab_mem(&["-w1", "-d1", "-a", "htab-mem", "--use-case", "nope"]);
    assert_refused(&out, &"--use-case nope", "unknown use case");
    let out = htab_mem(&["-w1", "htab-mem", "-A", "immediate-reuse", "--preallocated"]);
    assert_refused(&out, &"-A with --preallocated", "--preallocated");
}

#[test]
fn bench_lines_for_the_other_benchmarks_run_or_say_why_not() {
    // bench.c's common options before kfree-rcu: -a is the default, -p its threads.
    let out = htab_mem(&[
        "-a",
        "-p",
        "2",
        "kfree-rcu",
        "--loops",
        "1",
        "--alloc-num",
        "50",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("kfree_nthreads=2 "), "{stdout}");
    let out = htab_mem(&["-w3", "-d10", "-a", "map-perf-test", "4", "2"]);
    assert_refused(&out, &"-w before map-perf-test", "runs to completion");
    // A subcommand clap refuses beside run options: one line, the options named (clap's
    // own message ends in a colon and lists them on the lines after).
    let out = htab_mem(&["-w3", "-d10", "-a", "matrix", "--list", "--out", "x.json"]);
    assert_refused(&out, &"-w3 -d10 -a matrix", "cannot be used with --warmup");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.trim_end().ends_with(':'), "{err}");
}
