//! `plot` end to end on synthetic result files: the SVGs are written with the expected
//! titles and series; bad input writes nothing.

use std::fs;

use serde_json::json;

mod common;
use common::htab_mem;
use common::names;
use common::synthetic::{matrix, write_json, Tmp, FLAVORS};

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
