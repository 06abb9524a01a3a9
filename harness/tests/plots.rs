//! `plot` end to end on synthetic result files: the SVGs are written with the expected
//! titles and series; the three benchmarks' files plot side by side, each in its own unit
//! under names that never collide, htab-mem's unchanged; bad input writes nothing.

use std::fs;

use serde_json::json;

mod common;
use common::synthetic::{
    bench_cell, bench_file, kfree_rcu, map_perf_test, matrix, write_json, Tmp, FLAVORS, KFREE_MODES,
};
use common::{htab_mem, names, text};

#[test]
fn plot_writes_bars_scaling_and_memory_svgs() {
    let t = Tmp::new("ok");
    write_json(&t.path("m.json"), &matrix("2026-11-23T12:00:00Z", 1.0));
    let out = htab_mem(&["plot", &t.s("m.json"), "--out", &t.s("svg")]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut want = Vec::new();
    for uc in ["batch_add_batch_del", "overwrite"] {
        want.push(format!("{uc}-bars.svg"));
        want.push(format!("{uc}-p2-memory.svg"));
        want.push(format!("{uc}-p4-memory.svg"));
        want.push(format!("{uc}-scaling.svg"));
    }
    want.sort();
    assert_eq!(names(&t.path("svg")), want);
    // stdout names every file written.
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 8);

    let read = |n: &str| fs::read_to_string(t.path("svg").join(n)).unwrap();
    let bars = read("overwrite-bars.svg");
    assert!(bars.starts_with("<svg"), "{}", &bars[..80]);
    assert!(bars.contains("overwrite: loops/s per producer and peak memory, per flavor"));
    for f in FLAVORS {
        assert!(bars.contains(f), "legend lacks {f}");
    }
    assert!(bars.contains("2 producers") && bars.contains("4 producers"));
    assert!(bars.contains("k loops/s per producer"));
    // 0.25 MiB against 40 MiB: the memory axis is logarithmic.
    assert!(bars.contains("peak memory (MiB), log scale"));
    let other = read("batch_add_batch_del-bars.svg");
    assert!(other.contains("peak memory (MiB)") && !other.contains("log scale"));

    let scaling = read("overwrite-scaling.svg");
    assert!(scaling.contains("overwrite: scaling with producers"));
    assert!(scaling.contains("k loops/s (total)") && scaling.contains("\nproducers\n"));
    // Series are the 2-px lines: one per flavor in each of the two panels.
    assert_eq!(
        scaling.matches("stroke-width=\"2\"").count(),
        2 * FLAVORS.len()
    );

    let mem = read("overwrite-p4-memory.svg");
    assert!(mem.contains("overwrite, 4 producers: memory over time"));
    assert!(mem.contains("seconds since start") && mem.contains("warm-up"));
    assert_eq!(mem.matches("stroke-width=\"2\"").count(), FLAVORS.len());
}

#[test]
fn plot_bad_input_writes_nothing() {
    let t = Tmp::new("bad");
    fs::write(t.path("notjson.json"), "Iter 1").unwrap();
    let all_error = {
        let mut m = matrix("2026-11-23T12:00:00Z", 1.0);
        for c in m["results"].as_array_mut().unwrap() {
            c["status"] = json!("error");
        }
        m
    };
    write_json(&t.path("errors.json"), &all_error);
    write_json(&t.path("m.json"), &matrix("2026-11-23T12:00:00Z", 1.0));
    let nan = {
        let mut m = matrix("2026-11-23T12:00:00Z", 1.0);
        m["results"][0]["metrics"]["mem_peak"]["value"] = json!(123456789.125);
        serde_json::to_string(&m)
            .unwrap()
            .replace("123456789.125", "1e999")
    };
    fs::write(t.path("inf.json"), nan).unwrap();
    fs::write(t.path("a-file"), "").unwrap();
    let cases: Vec<(Vec<String>, &str)> = vec![
        (vec![t.s("missing.json")], "cannot read"),
        (vec![t.s("notjson.json")], "not JSON"),
        (vec![t.s("errors.json")], "no measured cell"),
        (vec![t.s("m.json"), t.s("m.json")], "appears twice"),
        (vec![t.s("inf.json")], "inf.json"),
    ];
    for (files, msg) in cases {
        let mut args = vec!["plot".to_string()];
        args.extend(files);
        args.extend(["--out".to_string(), t.s("out")]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = htab_mem(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.starts_with("htab-mem: ") && err.contains(msg),
            "{msg}: {err}"
        );
        assert!(
            !t.path("out").exists(),
            "{args:?} created the output folder"
        );
    }
    let out = htab_mem(&["plot", &t.s("m.json"), "--out", &t.s("a-file")]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a directory"));
    assert_eq!(fs::read(t.path("a-file")).unwrap(), b"");
}

/// The text of every `<text>` of an SVG, one per line (plotters writes them on their own
/// lines).
fn texts(svg: &str) -> String {
    svg.lines()
        .filter(|l| !l.starts_with('<'))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn plot_keeps_benchmarks_apart_with_their_units() {
    let t = Tmp::new("mixed");
    let ts = "2026-11-23T12:00:00Z";
    write_json(&t.path("m.json"), &matrix(ts, 1.0));
    write_json(&t.path("mpt.json"), &map_perf_test(ts, 1.0));
    write_json(&t.path("kf.json"), &kfree_rcu(ts, 1.0));
    // A map_perf_test test that shares htab-mem's use case name stays its own group.
    let shared = bench_file(
        "map-perf-test",
        ts,
        vec![
            bench_cell("map-perf-test", "overwrite", "prealloc", 1, 50.0, 2.0),
            bench_cell("map-perf-test", "overwrite", "prealloc", 2, 60.0, 2.0),
        ],
    );
    write_json(&t.path("shared.json"), &shared);
    let out = htab_mem(&[
        "plot",
        &t.s("kf.json"),
        &t.s("shared.json"),
        &t.s("mpt.json"),
        &t.s("m.json"),
        "--out",
        &t.s("svg"),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    // htab-mem's names as ever, first; then map-perf-test's tests in the sample's order
    // (unknown ones last), then kfree-rcu; no memory-over-time plot without samples.
    let said: Vec<String> = text(&out.stdout)
        .lines()
        .map(|l| l.rsplit('/').next().unwrap().to_string())
        .collect();
    let mut want = Vec::new();
    for uc in ["overwrite", "batch_add_batch_del"] {
        want.extend([
            format!("{uc}-bars.svg"),
            format!("{uc}-scaling.svg"),
            format!("{uc}-p2-memory.svg"),
            format!("{uc}-p4-memory.svg"),
        ]);
    }
    for g in [
        "map-perf-test-hash_prealloc",
        "map-perf-test-hash_kmalloc",
        "map-perf-test-overwrite",
        "kfree-rcu-kfree",
    ] {
        want.extend([format!("{g}-bars.svg"), format!("{g}-scaling.svg")]);
    }
    assert_eq!(said, want);
    let mut sorted = want.clone();
    sorted.sort();
    assert_eq!(names(&t.path("svg")), sorted, "a file name collided");

    // htab-mem's SVGs are byte for byte those of its file plotted alone.
    let alone = htab_mem(&["plot", &t.s("m.json"), "--out", &t.s("alone")]);
    assert!(alone.status.success());
    let read = |d: &str, n: &str| fs::read_to_string(t.path(d).join(n)).unwrap();
    for n in names(&t.path("alone")) {
        assert_eq!(read("svg", &n), read("alone", &n), "{n} changed");
    }
    let bars = texts(&read("svg", "overwrite-bars.svg"));
    assert!(bars.contains("overwrite: loops/s per producer and peak memory, per flavor"));
    assert!(
        !bars.contains("prealloc"),
        "htab-mem's overwrite took the other's cells"
    );
    let shared = texts(&read("svg", "map-perf-test-overwrite-bars.svg"));
    assert!(shared.contains("map-perf-test overwrite: events/s per worker"));
    assert!(shared.contains("prealloc") && !shared.contains("immediate-reuse"));

    let mpt = texts(&read("svg", "map-perf-test-hash_kmalloc-bars.svg"));
    assert!(
        mpt.contains("map-perf-test hash_kmalloc: events/s per worker and peak memory, per flavor"),
        "{mpt}"
    );
    assert!(mpt.contains("k events/s per worker") && mpt.contains("1 worker"));
    assert!(mpt.contains("2 workers") && !mpt.contains("loops") && !mpt.contains("producer"));
    for f in ["immediate-reuse", "free-rcu"] {
        assert!(mpt.contains(f), "legend lacks {f}");
    }
    let kf = texts(&read("svg", "kfree-rcu-kfree-scaling.svg"));
    assert!(kf.contains("kfree-rcu kfree: scaling with threads (objects/s and peak memory)"));
    assert!(kf.contains("k objects/s (total)") && kf.contains("objects/s, all threads"));
    assert!(!kf.contains("loops") && !kf.contains("producer"), "{kf}");
    let kf = texts(&read("svg", "kfree-rcu-kfree-bars.svg"));
    assert!(kf.contains("kfree-rcu kfree: objects/s per thread and peak memory, per mode"));
    for m in KFREE_MODES {
        assert!(kf.contains(m), "legend lacks {m}");
    }
}
