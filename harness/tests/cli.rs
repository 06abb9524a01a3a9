//! The binary end to end: bad input is one line and exit status 2; a real run prints the
//! kernel's formats and writes a result file that reads back.

use harness::result::read_result_file;

mod common;
use common::{assert_refused, htab_mem};

#[test]
fn bad_input_is_one_line_and_status_2() {
    let cases: &[(&[&str], &str)] = &[
        (&["-p", "0"], "producers"),
        (&["-p", "abc"], "abc"),
        (&["-d", "0"], "duration"),
        (&["-w", "0"], "warmup"),
        (&["--value-size", "0"], "value-size"),
        (&["--value-size", "4097"], "value-size"),
        (&["--use-case", "nope"], "unknown use case"),
        (&["-A", "nope"], "unknown allocator flavor"),
        (&["--use-case", "add_del_on_diff_cpu", "-p", "3"], "even"),
        (&["--prod-affinity", "4096"], "does not exist"),
        (&["--prod-affinity", "0-"], "--prod-affinity"),
        (&["--max-entries", "0"], "max-entries"),
        (&["--bogus-flag"], "bogus"),
        (&["--rcu-readers", "boosted"], "rcu-readers"),
        (&["--deferred-work", "irq"], "deferred-work"),
        (&["--deferred-work", "5ms"], "deferred-work"),
        (&["--memalloc", "v6.6"], "memalloc"),
        (&["--json", "/nonexistent-dir/x.json"], "does not exist"),
        // The RFC's loop shape.
        (&["--full", "50"], "add --rfc"),
        (&["--loop-keys", "64"], "add --rfc"),
        (&["--rfc", "--full", "0"], "--full 0 is out of range"),
        (&["--rfc", "--full", "101"], "--full 101 is out of range"),
        (&["--rfc", "--full", "x"], "--full"),
        (
            &["--rfc", "--loop-keys", "0"],
            "--loop-keys must be at least 1",
        ),
        (
            &["--rfc", "--full", "50", "--loop-keys", "8"],
            "--loop-keys",
        ),
        (
            &[
                "--rfc",
                "-p",
                "2",
                "--loop-keys",
                "5000",
                "--max-entries",
                "8192",
            ],
            "do not fit",
        ),
        (&["--rfc", "-p", "4", "--max-entries", "4"], "live keys"),
        (
            &["--rfc", "-p", "2", "--use-case", "lookup_verify"],
            "lookup_verify",
        ),
    ];
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("never.json");
    for (args, needle) in cases {
        let mut a: Vec<&str> = args.to_vec();
        let js = json.to_str().unwrap().to_string();
        if !args.contains(&"--json") {
            a.extend(["--json", &js]);
        }
        let out = htab_mem(&a);
        assert_refused(&out, args, needle);
        assert!(!json.exists(), "{args:?} wrote a result file");
    }
}

#[test]
fn help_lists_every_option() {
    let out = htab_mem(&["--help"]);
    assert_eq!(out.status.code(), Some(0));
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--producers",
        "--affinity",
        "--prod-affinity",
        "--warmup",
        "--duration",
        "--use-case",
        "--value-size",
        "--max-entries",
        "--allocator",
        "--json",
        "--quiet",
        "--rcu-gp-delay",
        "--ttrace-gp-delay",
        "--ttrace-chain",
        "--fault-batch-alloc",
        "--preallocated",
        "--rcu-stats",
        "--rcu-readers",
        "--explain-memory",
        "--deferred-work",
        "--memalloc",
        "--rfc",
        "--full",
        "--loop-keys",
    ] {
        assert!(help.contains(flag), "--help lacks {flag}");
    }
    // Which kernels each generation stands for.
    for kernels in ["v6.6 and later", "v6.2 to v6.5"] {
        assert!(help.contains(kernels), "--help lacks {kernels}");
    }
}

/// A 1 s + 1 s run at -p 2 that must succeed; its stdout.
fn short_run(extra: &[&str], use_case: &str, flavors: &str, json: &std::path::Path) -> String {
    let mut args = vec![
        "-p",
        "2",
        "-w",
        "1",
        "-d",
        "1",
        "--use-case",
        use_case,
        "-A",
        flavors,
    ];
    args.extend(["--json", json.to_str().unwrap()]);
    args.extend(extra);
    let out = htab_mem(&args);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[test]
fn a_short_run_reports_in_kernel_formats_and_writes_json() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("run.json");
    let stdout = short_run(
        &[],
        "batch_add_batch_del",
        "immediate-reuse,reuse-after-gp",
        &json,
    );
    // bench.c: warmup + duration + 1 ticks per flavor.
    let iters = stdout.lines().filter(|l| l.starts_with("Iter ")).count();
    assert_eq!(iters, 2 * 3, "{stdout}");
    let summaries: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("Summary: "))
        .collect();
    assert_eq!(summaries.len(), 2, "{stdout}");
    for s in &summaries {
        // The shape the kernel's wrapper script scrapes with sed.
        assert!(
            s.contains("k/s, memory usage")
                && s.contains("MiB, peak memory usage")
                && s.contains('\u{00B1}'),
            "{s}"
        );
    }
    assert!(stdout.contains("| flavor"), "{stdout}");
    assert!(stdout.contains("| reuse-after-gp"), "{stdout}");

    let file = read_result_file(&json).expect("result file reads back");
    assert_eq!(file.results.len(), 2);
    assert_eq!(file.config.use_case.as_deref(), Some("batch_add_batch_del"));
    assert_eq!(file.config.producers, Some(2));
    for r in &file.results {
        assert_eq!(r.status, harness::result::Status::Ok, "{r:?}");
        assert_eq!(r.allocator.leaked, 0);
        assert_eq!(r.samples.len(), 3);
        assert!(r.metrics.loops_per_sec.value > 0.0);
        assert_eq!(
            r.id,
            format!("htab-mem/batch_add_batch_del/{}/p2", r.flavor)
        );
        // Charged at kmalloc size classes: never below the requested bytes, and the model
        // sizes these flavors' 72-byte bpf_ma units at kmalloc-96.
        let m = &r.metrics;
        let (avg, peak) = (m.mem_avg_charged.as_ref(), m.mem_peak_charged.as_ref());
        assert!(avg.unwrap().value >= m.mem_avg.value, "{m:?}");
        assert!(peak.unwrap().value >= m.mem_peak.value, "{m:?}");
        assert!(r
            .samples
            .iter()
            .all(|s| s.charged_bytes >= Some(s.mem_bytes)));
        let model = r.memory_model.as_ref().unwrap();
        assert_eq!((model.unit_bytes, model.unit_raw_bytes), (96, 72));
    }
}

#[test]
fn oversubscription_is_warned_about_with_either_reader_model() {
    let cpus = std::thread::available_parallelism().unwrap().get();
    let p = (cpus * 2).to_string();
    let dir = tempfile::tempdir().unwrap();
    for model in ["non-preemptible", "preemptible"] {
        let json = dir.path().join(format!("over-{model}.json"));
        let out = htab_mem(&[
            "-p",
            &p,
            "-w",
            "1",
            "-d",
            "1",
            "-A",
            "reuse-after-gp",
            "--use-case",
            "overwrite",
            "--rcu-readers",
            model,
            "-q",
            "--json",
            json.to_str().unwrap(),
        ]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{err}");
        assert!(err.contains("oversubscribed"), "{err}");
        assert!(err.contains(model), "{err}");
        let file = read_result_file(&json).expect("result file reads back");
        assert_eq!(file.config.rcu_readers, model);
        assert_eq!(file.results[0].allocator.leaked, 0);
    }
}

/// The older memalloc.c runs add_del_on_diff_cpu clean, says so in the table's title and
/// records it in the result file.
#[test]
fn the_memalloc_generation_is_run_and_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("memalloc.json");
    let args =
        "-p 2 -w 1 -d 1 -A immediate-reuse --use-case add_del_on_diff_cpu --memalloc v6.3 -q";
    let mut a: Vec<&str> = args.split_whitespace().collect();
    a.extend(["--json", json.to_str().unwrap()]);
    let out = htab_mem(&a);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("measured, memalloc v6.3):"), "{stdout}");
    let file = read_result_file(&json).expect("result file reads back");
    assert_eq!(file.config.memalloc, "v6.3");
    assert_eq!(file.results[0].allocator.leaked, 0);
}

#[test]
fn fault_injected_reuse_after_gp_and_the_oracle_run_clean() {
    let out = htab_mem(&[
        "-p",
        "2",
        "-w",
        "1",
        "-d",
        "1",
        "-q",
        "-A",
        "reuse-after-gp",
        "--fault-batch-alloc",
        "--use-case",
        "lookup_verify",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("incorrect lookups (per M)"), "{stdout}");
}

#[test]
fn deferred_work_cost_is_reported_and_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("deferred.json");
    let out = htab_mem(&[
        "-p",
        "1",
        "-w",
        "1",
        "-d",
        "1",
        "-A",
        "immediate-reuse",
        "--use-case",
        "batch_add_batch_del",
        "--deferred-work",
        "1.5us",
        "-q",
        "--json",
        json.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("deferred work:"), "{err}");
    let file = read_result_file(&json).expect("result file reads back");
    assert_eq!(file.config.deferred_work, "1500ns");
    assert_eq!(file.results[0].allocator.leaked, 0);
}

#[test]
fn the_rfc_loop_reports_totals_over_producers_and_records_its_shape() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("rfc.json");
    let stdout = short_run(&["--rfc"], "overwrite", "immediate-reuse", &json);
    // The RFC's formats: the rate is `loop`, not `per-prod-op`.
    assert_eq!(stdout.lines().filter(|l| l.starts_with("Iter ")).count(), 3);
    assert!(
        stdout.lines().any(|l| l.starts_with("Summary: loop ")),
        "{stdout}"
    );
    assert!(!stdout.contains("per-prod-op"), "{stdout}");
    assert!(stdout.contains("max entries 16384"), "{stdout}");
    assert!(
        stdout.contains("4096 keys per producer (8192 live of 16384)"),
        "{stdout}"
    );
    assert!(stdout.contains("| per producer (k/s) |"), "{stdout}");

    let file = read_result_file(&json).expect("result file reads back");
    assert_eq!(file.config.max_entries, 16384);
    let r = &file.results[0];
    assert_eq!(r.status, harness::result::Status::Ok, "{r:?}");
    assert_eq!(r.id, "htab-mem/overwrite/immediate-reuse/p2/rfc-live8192");
    let shape = r.loop_shape.as_ref().expect("the cell records its loop");
    assert_eq!(
        (shape.mode.as_str(), shape.live_keys, shape.keys_per_loop),
        ("rfc", 8192, 4096)
    );
    // The headline total is the sum over producers: the per-producer figure times two.
    let m = &r.metrics;
    let total = m.loops_per_sec.value;
    assert!(total > 0.0);
    assert!((total - 2.0 * m.loops_per_sec_per_producer.value).abs() < 1e-6 * total);
    // And the table prints that total (k/s, two decimals) in the loop column.
    let row = stdout
        .lines()
        .find(|l| l.starts_with("| immediate-reuse"))
        .unwrap();
    assert!(
        row.contains(&format!("| {:.2} \u{00B1}", total / 1000.0)),
        "{row}"
    );
}

#[test]
fn help_names_every_flavor_and_use_case() {
    let out = htab_mem(&["--help"]);
    let help = String::from_utf8_lossy(&out.stdout);
    // The option's own paragraph, in whole words ("kfree-rcu" does not name "free-rcu").
    let words_of = |option: &str| -> std::collections::HashSet<String> {
        let at = help.find(option).unwrap_or_else(|| panic!("no {option}"));
        let para = help[at..].split("\n\n").next().unwrap_or("");
        para.split(|c: char| !(c.is_alphanumeric() || c == '-' || c == '_'))
            .map(str::to_string)
            .collect()
    };
    // Peer maps are `peer:NAME`: the ':' splits words, so their NAME is what must be there.
    let flavors = words_of("--allocator <LIST>");
    for name in allocators::FLAVORS {
        assert!(flavors.contains(*name), "-A's help does not name {name}");
    }
    for name in workloads::PEERS {
        let bare = name.strip_prefix("peer:").unwrap();
        assert!(flavors.contains(bare), "-A's help does not name {name}");
    }
    let use_cases = words_of("--use-case <");
    for name in workloads::USE_CASES {
        assert!(
            use_cases.contains(*name),
            "--use-case's help does not name {name}"
        );
    }
}
