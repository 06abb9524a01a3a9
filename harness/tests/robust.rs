//! The steal-robust figures and the test-only slowdown, end to end: a tiny run records the
//! knob in its config and every robust figure in its cells, `--robust` prints them after each
//! Summary, and the knob's bad input is refused. No timing is asserted.

mod common;

use common::{assert_refused, htab_mem, htab_mem_sub, text};

#[test]
fn a_tiny_run_records_the_knob_and_the_robust_figures() {
    let d = tempfile::tempdir().unwrap();
    let json = d.path().join("r.json");
    let args = [
        "-p",
        "1",
        "-A",
        "immediate-reuse,prealloc",
        "-w",
        "1",
        "-d",
        "1",
        "--inject-slowdown",
        "15",
        "--inject-flavors",
        "immediate-reuse",
        "--robust",
        "--json",
        json.to_str().unwrap(),
    ];
    let out = htab_mem(&args);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    // Each Summary, still in the kernel's format, is followed by its Robust line.
    let lines: Vec<&str> = stdout.lines().collect();
    let summaries: Vec<usize> = (0..lines.len())
        .filter(|&i| lines[i].starts_with("Summary: per-prod-op "))
        .collect();
    assert_eq!(summaries.len(), 2, "{stdout}");
    for i in summaries {
        assert!(lines[i].contains("k/s, memory usage "), "{}", lines[i]);
        assert!(lines[i + 1].starts_with("Robust: per-prod-op "), "{stdout}");
        assert!(lines[i + 1].contains("memory p95 "), "{stdout}");
    }
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(
        v["config"]["inject"],
        serde_json::json!({"slowdown_pct": 15, "flavors": ["immediate-reuse"]})
    );
    for c in v["results"].as_array().unwrap() {
        let m = &c["metrics"];
        assert!(
            m["loops_per_cpu_sec_per_producer"]["value"]
                .as_f64()
                .unwrap()
                > 0.0
        );
        assert!(m["mem_p95_charged"]["value"].as_f64().unwrap() > 0.0);
        assert!(
            m["mem_p95_charged"]["value"].as_f64().unwrap()
                <= m["mem_peak_charged"]["value"].as_f64().unwrap()
        );
        assert!(c["steady"]["steady"].is_boolean(), "{c}");
        assert!(c["machine"]["busy"].is_boolean(), "{c}");
    }
}

#[test]
fn the_knob_says_it_is_test_only_and_bad_input_is_refused() {
    let help = text(&htab_mem(&["--help"]).stdout);
    assert!(
        help.contains(
            "Test only: makes the flavors in --inject-flavors (default: all) PCT % slower"
        ),
        "{help}"
    );
    assert!(help.contains("off by default"), "{help}");
    for (args, needle) in [
        (
            &["--inject-flavors", "prealloc"][..],
            "--inject-flavors needs --inject-slowdown",
        ),
        (
            &["--inject-slowdown", "10", "--inject-flavors", "nope"][..],
            "unknown allocator flavor 'nope'",
        ),
        (&["--inject-slowdown", "95"][..], "--inject-slowdown"),
    ] {
        assert_refused(&htab_mem(args), &args, needle);
    }
    // The matrix takes the knob too (listing runs nothing).
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("m.json");
    let list = htab_mem_sub(
        "matrix",
        &[
            "--out",
            out.to_str().unwrap(),
            "--use-cases",
            "overwrite",
            "-p",
            "2",
            "--inject-slowdown",
            "15",
            "--inject-flavors",
            "reuse-after-gp",
            "--list",
        ],
    );
    assert!(list.status.success(), "{}", text(&list.stderr));
    assert!(text(&list.stdout).contains("htab-mem/overwrite/reuse-after-gp/p2"));
}
