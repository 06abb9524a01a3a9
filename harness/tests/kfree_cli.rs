//! `htab-mem kfree-rcu`: bad input is one line and exit status 2; a tiny run prints the
//! kernel's rcuscale line for every mode and frees everything.

use std::process::Output;

mod common;
use common::{assert_refused, htab_mem_sub};

fn kfree_rcu(args: &[&str]) -> Output {
    htab_mem_sub("kfree-rcu", args)
}

#[test]
fn bad_input_is_one_line_and_status_2() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("never.json");
    let js = json.to_str().unwrap().to_string();
    let cases: &[(&[&str], &str)] = &[
        (&["--nthreads", "0"], "--nthreads"),
        (&["--alloc-num", "0"], "--alloc-num"),
        (&["--loops", "0"], "--loops"),
        (&["--mult", "0"], "--mult"),
        (&["--drain-ms", "0"], "--drain-ms"),
        (&["--qhimark", "0"], "--qhimark"),
        (&["--lazy-flush", "-1s"], "-1s"),
        (&["--lazy-flush", "soon"], "soon"),
        (&["--nthreads", "two"], "two"),
        (&["--loops", "-1"], "-1"),
        (&["--alloc-num", "1e3"], "1e3"),
        (&["--mode", "lazy"], "unknown --mode"),
        (&["--json", "/nonexistent-dir/x.json"], "does not exist"),
    ];
    for (args, needle) in cases {
        let mut a = args.to_vec();
        if !args.contains(&"--json") {
            a.extend(["--json", &js]);
        }
        let out = kfree_rcu(&a);
        assert_refused(&out, args, needle);
        assert!(!json.exists(), "{args:?} wrote a result file");
    }
}

#[test]
fn tiny_run_prints_the_kernel_line_per_mode() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("tiny.json");
    let out = kfree_rcu(&[
        "--nthreads",
        "2",
        "--alloc-num",
        "100",
        "--loops",
        "2",
        "--mode",
        "all",
        "--rcu-stats",
        "--json",
        json.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let kernel_lines = stdout.lines().filter(|l| is_kernel_line(l, 2)).count();
    assert_eq!(kernel_lines, 4, "{stdout}");
    for mode in ["call-rcu", "call-rcu-lazy", "batched", "batched-polled"] {
        assert!(stdout.contains(&format!("kfree-rcu: {mode}: ")), "{stdout}");
    }
    assert!(stdout.contains("400 objects, 0 leaked"), "{stdout}");
    let stats_lines = stdout.lines().filter(|l| l.starts_with("rcu: ")).count();
    assert_eq!(stats_lines, 4, "{stdout}");
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    // The native schema: one kfree-rcu cell per mode.
    assert_eq!(v["schema_version"], 2);
    assert_eq!(v["config"]["benchmark"], "kfree-rcu");
    assert_eq!(v["config"]["kfree_rcu"]["alloc_num"], 100);
    let results = v["results"].as_array().unwrap();
    assert_eq!(results.len(), 4);
    for (r, mode) in results
        .iter()
        .zip(["call-rcu", "call-rcu-lazy", "batched", "batched-polled"])
    {
        assert_eq!(r["id"], format!("kfree-rcu/kfree/{mode}/p2"));
        assert_eq!(r["benchmark"], "kfree-rcu");
        assert_eq!(r["status"], "ok");
        assert_eq!(r["kfree_rcu"]["objects"], 400);
        assert_eq!(r["allocator"]["leaked"], 0);
        assert_eq!(r["metrics"]["loops_per_sec"]["unit"], "objects/s");
        assert!(r["metrics"]["loops_per_sec"]["value"].as_f64().unwrap() > 0.0);
        // Every object waited for a grace period of the mode's own domain.
        let rcu = &r["rcu"][0];
        assert!(rcu["grace_periods"].as_u64().unwrap() >= 1, "{r}");
        assert_eq!(rcu["callbacks_pending"], 0);
    }
    for r in &results[..2] {
        assert_eq!(r["rcu"][0]["callbacks_invoked"], 400, "{r}");
        assert!(r["kfree_rcu"]["kvfree"].is_null());
    }
    // 200 lazy callbacks per thread never reach qhimark (10000): flushed by the final
    // barrier (or, on a very slow machine, the 10 s timer).
    let lazy = &results[1]["rcu"][0];
    // Zero counts are left out of the file.
    let count = |k: &str| lazy[k].as_u64().unwrap_or(0);
    assert_eq!(count("lazy_flushes_full"), 0, "{lazy}");
    let flushes = count("lazy_flushes_timer") + count("lazy_flushes_other");
    assert!(flushes >= 1, "{lazy}");
    let polled = &results[3]["kfree_rcu"]["kvfree"];
    assert_eq!(polled["pointers_batched"], 400);
    assert_eq!(polled["blocks_allocated"], polled["blocks_freed"]);
    // The results tools read it like any result file.
    let csv = htab_mem_sub("export", &["--format", "csv", json.to_str().unwrap()]);
    assert!(
        csv.status.success(),
        "{}",
        String::from_utf8_lossy(&csv.stderr)
    );
    let csv = String::from_utf8_lossy(&csv.stdout);
    assert!(csv.contains("kfree-rcu/kfree/batched-polled/p2"), "{csv}");
}

/// rcuscale.c's `Total time taken by all kfree'ers: %llu ns, loops: %d, batches: %ld, memory
/// footprint: %lldMB` (no space before MB).
fn is_kernel_line(l: &str, loops: u64) -> bool {
    let num = |s: &str| s.strip_prefix('-').unwrap_or(s).parse::<u64>().is_ok();
    let Some(rest) = l.strip_prefix("Total time taken by all kfree'ers: ") else {
        return false;
    };
    let Some((ns, rest)) = rest.split_once(" ns, loops: ") else {
        return false;
    };
    let Some((lo, rest)) = rest.split_once(", batches: ") else {
        return false;
    };
    let Some((b, rest)) = rest.split_once(", memory footprint: ") else {
        return false;
    };
    let Some(mb) = rest.strip_suffix("MB") else {
        return false;
    };
    ns.parse::<u64>().is_ok()
        && lo.parse::<u64>() == Ok(loops)
        && b.parse::<u64>().is_ok()
        && num(mb)
}

#[test]
fn kernel_line_matcher() {
    assert!(is_kernel_line(
        "Total time taken by all kfree'ers: 8535693700 ns, loops: 2, batches: 1188, memory footprint: 22MB",
        2
    ));
    // The space the kernel does not print.
    assert!(!is_kernel_line(
        "Total time taken by all kfree'ers: 85 ns, loops: 2, batches: 1, memory footprint: 22 MB",
        2
    ));
    assert!(!is_kernel_line(
        "Total time taken by all kfree'ers: 85 ns, loops: 3, batches: 1, memory footprint: 22MB",
        2
    ));
    assert!(!is_kernel_line(
        "Total time taken by all kfree'ers: x ns, loops: 2, batches: 1, memory footprint: 2MB",
        2
    ));
}
