//! `plot` and `dashboard` end to end on synthetic result files: the SVGs and the page are
//! written with the expected titles, series and numbers; bad input writes nothing.

use std::fs;
use std::path::Path;

use serde_json::{json, Value};

mod common;
use common::{htab_mem, names, s};

fn metric(value: f64, stddev: Option<f64>, unit: &str) -> Value {
    match stddev {
        Some(s) => json!({"value": value, "stddev": s, "unit": unit}),
        None => json!({"value": value, "unit": unit}),
    }
}

/// One cell; `k` varies the numbers so every cell is distinct.
fn cell(uc: &str, flavor: &str, p: usize, k: f64, mem_mib: f64) -> Value {
    let mib = 1024.0 * 1024.0;
    let samples: Vec<Value> = (1..=4)
        .map(|t| {
            json!({"t_ns": t * 1_000_000_000u64, "loops": (1000.0 * k) as u64 * t,
                   "mem_bytes": (mem_mib * mib * (0.5 + 0.1 * t as f64)) as i64,
                   "rss_bytes": 8 * 1024 * 1024})
        })
        .collect();
    json!({
        "id": format!("htab-mem/{uc}/{flavor}/p{p}"), "use_case": uc, "flavor": flavor,
        "producers": p, "status": "ok", "samples": samples,
        "metrics": {
            "loops_per_sec": metric(1234.5 * k * p as f64, Some(10.0), "loops/s"),
            "loops_per_sec_per_producer": metric(1234.5 * k, Some(2.5 * k), "loops/s"),
            "mem_avg": metric(mem_mib * 0.8 * mib, Some(1000.0), "bytes"),
            "mem_peak": metric(mem_mib * mib, None, "bytes"),
            "rss_peak": metric(mem_mib * mib + 4e6, None, "bytes"),
        },
        "allocator": {"from_system": 10, "to_system": 10, "leaked": 0}
    })
}

fn file(timestamp: &str, cells: Vec<Value>) -> Value {
    json!({
        "schema_version": 1, "tool": "htab-mem 0.1.0", "git_sha": "0123456789ab",
        "timestamp": timestamp,
        "host": {"cpu_model": "Test CPU", "nr_cpus": 2, "kernel": "6.1.0", "mem_total_bytes": 0},
        "config": {"warmup_s": 1, "duration_s": 3, "affinity": "0-1", "max_entries": 8192,
                   "value_size": 8, "use_case": "overwrite", "producers": 2,
                   "rcu_gp_delay_us": 1000, "ttrace_gp_delay_us": 10000},
        "results": cells
    })
}

const FLAVORS: [&str; 3] = ["immediate-reuse", "reuse-after-gp", "malloc-call-rcu"];

/// Two use cases x three flavors x producers 2 and 4; immediate-reuse's memory is tiny, so
/// the memory axes go logarithmic for overwrite.
fn matrix(timestamp: &str, scale: f64) -> Value {
    let mut cells = Vec::new();
    for (u, uc) in ["overwrite", "batch_add_batch_del"].iter().enumerate() {
        for p in [2, 4] {
            for (i, f) in FLAVORS.iter().enumerate() {
                let mem = if *uc == "overwrite" && i == 0 {
                    0.25
                } else {
                    20.0 + 10.0 * i as f64 + u as f64
                };
                cells.push(cell(
                    uc,
                    f,
                    p,
                    scale * (1.0 + i as f64 + p as f64 / 10.0),
                    mem,
                ));
            }
        }
    }
    file(timestamp, cells)
}

fn write_json(path: &Path, v: &Value) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, serde_json::to_string_pretty(v).unwrap()).unwrap();
}

#[test]
fn plot_writes_bars_scaling_and_memory_svgs() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    write_json(&t.join("m.json"), &matrix("2026-11-23T12:00:00Z", 1.0));
    let out = htab_mem(&["plot", s(&t.join("m.json")), "--out", s(&t.join("svg"))]);
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
    assert_eq!(names(&t.join("svg")), want);
    // stdout names every file written.
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 8);

    let read = |n: &str| fs::read_to_string(t.join("svg").join(n)).unwrap();
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
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    fs::write(t.join("notjson.json"), "Iter 1").unwrap();
    let all_error = {
        let mut m = matrix("2026-11-23T12:00:00Z", 1.0);
        for c in m["results"].as_array_mut().unwrap() {
            c["status"] = json!("error");
        }
        m
    };
    write_json(&t.join("errors.json"), &all_error);
    write_json(&t.join("m.json"), &matrix("2026-11-23T12:00:00Z", 1.0));
    let nan = {
        let mut m = matrix("2026-11-23T12:00:00Z", 1.0);
        m["results"][0]["metrics"]["mem_peak"]["value"] = json!(123456789.125);
        serde_json::to_string(&m)
            .unwrap()
            .replace("123456789.125", "1e999")
    };
    fs::write(t.join("inf.json"), nan).unwrap();
    fs::write(t.join("a-file"), "").unwrap();
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec![t.join("missing.json").display().to_string()],
            "cannot read",
        ),
        (
            vec![t.join("notjson.json").display().to_string()],
            "not JSON",
        ),
        (
            vec![t.join("errors.json").display().to_string()],
            "no measured cell",
        ),
        (
            vec![
                t.join("m.json").display().to_string(),
                t.join("m.json").display().to_string(),
            ],
            "appears twice",
        ),
        (vec![t.join("inf.json").display().to_string()], "inf.json"),
    ];
    for (files, msg) in cases {
        let mut args = vec!["plot".to_string()];
        args.extend(files);
        args.extend(["--out".to_string(), t.join("out").display().to_string()]);
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
            !t.join("out").exists(),
            "{args:?} created the output folder"
        );
    }
    let out = htab_mem(&["plot", s(&t.join("m.json")), "--out", s(&t.join("a-file"))]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a directory"));
    assert_eq!(fs::read(t.join("a-file")).unwrap(), b"");
}

/// (data-value, shown text) of a row's cell for `metric`.
fn td<'a>(row: &'a str, metric: &str) -> (f64, &'a str) {
    let at = row
        .find(&format!("data-metric=\"{metric}\" data-value=\""))
        .expect(metric);
    let rest = &row[at..];
    let v = rest.split('"').nth(3).unwrap().parse().unwrap();
    let text = &rest[rest.find('>').unwrap() + 1..rest.find("</td>").unwrap()];
    (v, text)
}

/// Equal up to float parsing: serde_json's default parser may be one ulp off.
fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-12 * a.abs().max(b.abs())
}

#[test]
fn dashboard_shows_latest_tables_plots_and_history() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let results = t.join("results");
    write_json(
        &results.join("box-2026-11-22/matrix.json"),
        &matrix("2026-11-22T12:00:00Z", 0.5),
    );
    write_json(
        &results.join("box-2026-11-23/matrix.json"),
        &matrix("2026-11-23T12:00:00Z", 1.0),
    );
    // Exports beside a result file are not result files: skipped.
    fs::write(results.join("box-2026-11-23/bmf.json"), "{\"x\": {}}").unwrap();
    let out_dir = results.join("dashboard");
    fs::create_dir_all(&out_dir).unwrap();
    let run = || {
        let out = htab_mem(&[
            "dashboard",
            "--results",
            &results.display().to_string(),
            "--out",
            &out_dir.display().to_string(),
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains("(2 result sets)"));
        fs::read_to_string(out_dir.join("index.html")).unwrap()
    };
    let page = run();
    assert!(page.contains("<b id=\"latest-set\">box-2026-11-23</b>"));
    assert!(page.contains("Test CPU, 2 CPUs, kernel 6.1.0"));
    // Every cell of the latest set has its row, with the file's exact values.
    let latest = matrix("2026-11-23T12:00:00Z", 1.0);
    for c in latest["results"].as_array().unwrap() {
        let id = c["id"].as_str().unwrap();
        let start = page.find(&format!("<tr data-id=\"{id}\">")).expect(id);
        let row = &page[start..start + page[start..].find("</tr>").unwrap()];
        let v = c["metrics"]["loops_per_sec_per_producer"]["value"]
            .as_f64()
            .unwrap();
        let sd = c["metrics"]["loops_per_sec_per_producer"]["stddev"]
            .as_f64()
            .unwrap();
        let (value, text) = td(row, "loops_per_sec_per_producer");
        assert!(close(value, v), "{row}");
        assert_eq!(text, format!("{:.2} ± {:.2}", v / 1e3, sd / 1e3), "{row}");
        let peak = c["metrics"]["mem_peak"]["value"].as_f64().unwrap();
        let (value, text) = td(row, "mem_peak");
        assert!(close(value, peak), "{row}");
        assert_eq!(text, format!("{:.2}", peak / 1048576.0), "{row}");
    }
    // Every plot the page shows exists beside it; history has one plot per (use case, p).
    let imgs: Vec<&str> = page
        .split("<img src=\"")
        .skip(1)
        .map(|s| &s[..s.find('"').unwrap()])
        .collect();
    assert_eq!(imgs.len(), 8 + 4, "{imgs:?}");
    for i in &imgs {
        assert!(out_dir.join(i).is_file(), "{i} missing");
    }
    assert!(imgs.contains(&"history-overwrite-p4.svg"));
    // The history table has both sets, oldest first.
    let h = page.find("<table class=\"history\" data-use-case=\"overwrite\" data-producers=\"2\">");
    let h = &page[h.expect("history table")..];
    let h = &h[..h.find("</table>").unwrap()];
    assert!(h.contains("<th>#1</th><th>#2</th>"), "{h}");
    assert!(!page.contains("http://") && !page.contains("https://"));

    // A re-render tidies SVGs the page no longer shows.
    fs::write(out_dir.join("stale-bars.svg"), "<svg/>").unwrap();
    run();
    assert!(!out_dir.join("stale-bars.svg").exists());
}

#[test]
fn dashboard_bad_input_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    fs::create_dir_all(t.join("results/empty-set")).unwrap();
    let out = htab_mem(&[
        "dashboard",
        "--results",
        s(&t.join("results")),
        "--out",
        s(&t.join("out")),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no result sets"), "{err}");
    assert!(!t.join("out").exists());

    // A file that claims to be a result file must read cleanly.
    fs::write(
        t.join("results/empty-set/r.json"),
        "{\"schema_version\": 1}",
    )
    .unwrap();
    let out = htab_mem(&[
        "dashboard",
        "--results",
        s(&t.join("results")),
        "--out",
        s(&t.join("out")),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("r.json"));
    assert!(!t.join("out").exists());
}
