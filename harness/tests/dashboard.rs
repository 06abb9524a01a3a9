//! `dashboard` end to end on synthetic result sets: the page leads with loops/s against
//! memory and what changed, then the tables with the files' exact numbers, no_op last; the
//! trade-off figures have a point per measured (flavor, producers) cell; a set of all three
//! benchmarks' files shows each benchmark's groups in turn, in its own unit, htab-mem's
//! plots unchanged.

use std::fs;
use std::path::Path;

use serde_json::{json, Value};

mod common;
use common::htab_mem;
use common::synthetic::{cell, file, kfree_rcu, matrix, write_json, write_mixed_set, Tmp};

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
    let t = Tmp::new("dash");
    let results = t.path("results");
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
    let page = render(&results, 2);
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
    // Per use case: bars, scaling, memory at p2 and p4, and the trade-off figure.
    assert_eq!(imgs.len(), 2 * 5 + 4, "{imgs:?}");
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
    render(&results, 2);
    assert!(!out_dir.join("stale-bars.svg").exists());
}

#[test]
fn dashboard_bad_input_writes_nothing() {
    let t = Tmp::new("dashbad");
    fs::create_dir_all(t.path("results/empty-set")).unwrap();
    let dashboard = || {
        htab_mem(&[
            "dashboard",
            "--results",
            &t.s("results"),
            "--out",
            &t.s("out"),
        ])
    };
    let out = dashboard();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no result sets"), "{err}");
    assert!(!t.path("out").exists());

    // A file that claims to be a result file must read cleanly.
    fs::write(
        t.path("results/empty-set/r.json"),
        "{\"schema_version\": 1}",
    )
    .unwrap();
    let out = dashboard();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("r.json"));
    assert!(!t.path("out").exists());
}

/// Renders `results` (`sets` result sets) into `results/dashboard`; the page.
fn render(results: &Path, sets: usize) -> String {
    let out_dir = results.join("dashboard");
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
    let said = format!("({sets} result set{})", if sets == 1 { "" } else { "s" });
    assert!(String::from_utf8_lossy(&out.stdout).contains(&said));
    fs::read_to_string(out_dir.join("index.html")).unwrap()
}

/// Where `needle` first stands in `page`; panics naming it when absent.
fn at(page: &str, needle: &str) -> usize {
    page.find(needle)
        .unwrap_or_else(|| panic!("page lacks {needle}"))
}

/// Four use cases (no_op among them, first in the kernel's order), three flavors, p 1 and 2;
/// overwrite also has a peer map's row at p 2 only and a failed cell, which is no point.
fn four_use_cases(timestamp: &str) -> Value {
    let mut cells = Vec::new();
    for uc in [
        "no_op",
        "overwrite",
        "batch_add_batch_del",
        "add_del_on_diff_cpu",
    ] {
        for p in [1, 2] {
            for (i, f) in ["immediate-reuse", "reuse-after-gp", "malloc-call-rcu"]
                .iter()
                .enumerate()
            {
                cells.push(cell(uc, f, p, 1.0 + i as f64, 5.0 + i as f64));
            }
        }
    }
    cells.push(cell("overwrite", "peer:dashmap", 2, 2.5, 3.0));
    let mut failed = cell("overwrite", "free-rcu", 2, 1.0, 1.0);
    failed["status"] = json!("error");
    failed["error"] = json!("child died");
    cells.push(failed);
    file(timestamp, cells)
}

/// One set of `four_use_cases` rendered: the folder (kept while the value lives) and the page.
fn four_use_cases_rendered(tag: &str) -> (Tmp, String) {
    let t = Tmp::new(tag);
    let results = t.path("results");
    write_json(
        &results.join("box-2026-11-23/matrix.json"),
        &four_use_cases("2026-11-23T12:00:00Z"),
    );
    let page = render(&results, 1);
    (t, page)
}

#[test]
fn tradeoff_has_one_point_per_flavor_and_producer_count() {
    let (t, page) = four_use_cases_rendered("tradeoff");
    let results = t.path("results");
    let svg = |uc: &str| fs::read_to_string(results.join(format!("dashboard/tradeoff-{uc}.svg")));
    // overwrite: 3 flavors x 2 producer counts, and the peer map's one cell (after the
    // known flavors); not the failed one.
    let want = [
        (
            "overwrite",
            7,
            "malloc-call-rcu,immediate-reuse,reuse-after-gp,peer:dashmap",
        ),
        ("no_op", 6, "malloc-call-rcu,immediate-reuse,reuse-after-gp"),
    ];
    for (uc, points, flavors) in want {
        let fig = at(
            &page,
            &format!("<figure class=\"tradeoff\" data-use-case=\"{uc}\""),
        );
        let fig = &page[fig..fig + page[fig..].find("</figure>").unwrap()];
        assert!(fig.contains(&format!("data-points=\"{points}\"")), "{fig}");
        assert!(
            fig.contains(&format!("data-flavors=\"{flavors}\"")),
            "{fig}"
        );
        assert!(fig.contains("data-producers=\"1,2\""), "{fig}");
        let svg = svg(uc).unwrap();
        assert!(svg.contains(&format!("{uc}: loops/s per producer against memory")));
        assert!(svg.contains("average memory (MiB)") && svg.contains("peak memory (MiB)"));
        // Markers are the only radius-5 circles: one per point in each of the two panels.
        assert_eq!(svg.matches("r=\"5\"").count(), 2 * points, "{uc}");
        for f in flavors.split(',') {
            assert!(svg.contains(f), "{uc}: legend lacks {f}");
        }
    }
    assert!(!svg("overwrite").unwrap().contains("free-rcu"));
}

#[test]
fn dashboard_leads_with_the_answer_and_puts_no_op_last() {
    let (_t, page) = four_use_cases_rendered("order");
    let tradeoff = at(&page, "<section id=\"tradeoff\">");
    let changes = at(&page, "<section id=\"changes\"");
    let first_table = at(&page, "<table class=\"results\"");
    assert!(tradeoff < changes && changes < first_table);
    // One set: nothing to compare with, said so.
    assert!(page[changes..first_table].contains("nothing to compare with"));
    // no_op last among the trade-off figures, the detail sections and the history.
    for kind in [
        "<figure class=\"tradeoff\" data-use-case=\"",
        "<section id=\"uc-",
        "<table class=\"history\" data-use-case=\"",
    ] {
        let ucs: Vec<&str> = page
            .split(kind)
            .skip(1)
            .map(|s| &s[..s.find('"').unwrap()])
            .collect();
        let mut dedup = ucs.clone();
        dedup.dedup();
        assert_eq!(
            dedup,
            [
                "overwrite",
                "batch_add_batch_del",
                "add_del_on_diff_cpu",
                "no_op"
            ],
            "{kind}"
        );
    }
}

#[test]
fn what_changed_puts_regressions_first_as_compare_judges() {
    let t = Tmp::new("changes");
    let results = t.path("results");
    let base = matrix("2026-11-22T12:00:00Z", 1.0);
    let mut new = matrix("2026-11-23T12:00:00Z", 1.0);
    // One cell at half its loops/s: against a steady rest, a regression.
    let slow = "htab-mem/batch_add_batch_del/reuse-after-gp/p4";
    for c in new["results"].as_array_mut().unwrap() {
        if c["id"] == slow {
            let v = c["metrics"]["loops_per_sec"]["value"].as_f64().unwrap();
            c["metrics"]["loops_per_sec"]["value"] = json!(v * 0.5);
        }
    }
    let (b, n) = (
        results.join("box-2026-11-22/matrix.json"),
        results.join("box-2026-11-23/matrix.json"),
    );
    write_json(&b, &base);
    write_json(&n, &new);
    let page = render(&results, 2);
    let changes = at(&page, "<section id=\"changes\" data-regressions=\"1\">");
    assert!(page[changes..].starts_with(
        "<section id=\"changes\" data-regressions=\"1\"><h2>What changed since box-2026-11-22</h2>"
    ));
    let regressions = at(&page, "<table class=\"changes regressions\">");
    let judged = at(&page, "<table class=\"changes judged\">");
    assert!(changes < regressions && regressions < judged);
    let row = at(
        &page,
        &format!("<tr data-id=\"{slow}\" data-metric=\"loops_per_sec\">"),
    );
    assert!(
        regressions < row && row < judged,
        "the regression is not in its table"
    );
    assert!(page[row..]
        .split("</tr>")
        .next()
        .unwrap()
        .contains("REGRESSION"));
    // The command judges the same files alike.
    let out = htab_mem(&[
        "compare",
        &b.display().to_string(),
        &n.display().to_string(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("1 regressions"));
}

/// Two use cases at five producer counts for each synthetic flavor, the second flavor
/// (reuse-after-gp) at `slow` times its rate.
fn ten_cells_a_flavor(ts: &str, slow: f64) -> Value {
    let mut cells = Vec::new();
    for uc in ["overwrite", "batch_add_batch_del"] {
        for p in [1, 2, 4, 8, 16] {
            for (i, f) in common::synthetic::FLAVORS.iter().enumerate() {
                let k = (1.0 + i as f64 + p as f64 / 10.0) * if i == 1 { slow } else { 1.0 };
                cells.push(cell(uc, f, p, k, 20.0));
            }
        }
    }
    file(ts, cells)
}

/// A flavor 15 % slower in every cell: no cell alone passes the per-cell threshold,
/// but the flavor does across its cells, and the page says so as `compare` does.
#[test]
fn what_changed_shows_a_flavor_slower_across_its_cells() {
    let t = Tmp::new("flavor-shift");
    let results = t.path("results");
    let set = ten_cells_a_flavor;
    let (b, n) = (
        results.join("box-2026-11-22/matrix.json"),
        results.join("box-2026-11-23/matrix.json"),
    );
    write_json(&b, &set("2026-11-22T12:00:00Z", 1.0));
    write_json(&n, &set("2026-11-23T12:00:00Z", 0.85));
    let page = render(&results, 2);
    let changes = at(&page, "<section id=\"changes\" data-regressions=\"1\">");
    let flavors = at(&page, "<table class=\"changes flavors\">");
    assert!(changes < flavors);
    let row = at(
        &page,
        "<tr data-flavor=\"reuse-after-gp\" data-measure=\"loops/s\">",
    );
    let row = page[row..].split("</tr>").next().unwrap();
    assert!(
        row.contains("REGRESSION (slower across its cells)"),
        "{row}"
    );
    assert!(
        row.contains(">10</td>") && row.contains(">0.850</td>"),
        "{row}"
    );
    let other = at(
        &page,
        "<tr data-flavor=\"immediate-reuse\" data-measure=\"loops/s\">",
    );
    assert!(page[other..]
        .split("</tr>")
        .next()
        .unwrap()
        .contains("no change"));
    assert!(page.contains("<p>No cell regressions.</p>"));
    let out = htab_mem(&[
        "compare",
        &b.display().to_string(),
        &n.display().to_string(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("0 regressions and 1 flavor regressions"),
        "{stdout}"
    );
}

/// A set that holds the baseline commit measured in the same run (its `baseline/` folder):
/// "what changed" judges the set against that, not against the set before, as the perf
/// pipeline's gate did; with no set before, the section is still there.
#[test]
fn what_changed_judges_against_the_baseline_measured_in_the_same_run() {
    let t = Tmp::new("same-run");
    let results = t.path("results");
    let set = ten_cells_a_flavor;
    let new = results.join("box-2026-11-23/matrix.json");
    write_json(&new, &set("2026-11-23T12:00:00Z", 0.85));
    let mut base = set("2026-11-23T11:00:00Z", 1.0);
    base["git_sha"] = json!("0123abcd");
    write_json(&results.join("box-2026-11-23/baseline/matrix.json"), &base);
    let page = render(&results, 1);
    at(&page, "<section id=\"changes\" data-regressions=\"1\">");
    assert!(
        page.contains("box-2026-11-23 baseline (commit 0123abcd, measured in the same run)"),
        "the section names its base"
    );
    let row = at(
        &page,
        "<tr data-flavor=\"reuse-after-gp\" data-measure=\"loops/s\">",
    );
    assert!(page[row..]
        .split("</tr>")
        .next()
        .unwrap()
        .contains("REGRESSION (slower across its cells)"));
    // A set before, unchanged from the new one: still the same-run baseline decides.
    write_json(
        &results.join("box-2026-11-22/matrix.json"),
        &set("2026-11-22T12:00:00Z", 0.85),
    );
    let page = render(&results, 2);
    at(&page, "<section id=\"changes\" data-regressions=\"1\">");
    assert!(page.contains("measured in the same run"));
}

/// The ids of the page's `<section>`s, in order.
fn sections(page: &str) -> Vec<&str> {
    page.split("<section id=\"")
        .skip(1)
        .map(|s| &s[..s.find('"').unwrap()])
        .collect()
}

#[test]
fn dashboard_shows_every_benchmark_in_order_with_its_unit() {
    let t = Tmp::new("mixed");
    let results = t.path("results");
    write_mixed_set(&results.join("box-2026-11-22"), "2026-11-22T12:00:00Z", 1.0);
    write_mixed_set(&results.join("box-2026-11-23"), "2026-11-23T12:00:00Z", 1.0);
    // One kfree-rcu cell at half its rate: the one regression of what changed.
    let slow = "kfree-rcu/kfree/batched/p2";
    let mut kf = kfree_rcu("2026-11-23T12:00:00Z", 1.0);
    for c in kf["results"].as_array_mut().unwrap() {
        if c["id"] == slow {
            let v = c["metrics"]["loops_per_sec"]["value"].as_f64().unwrap();
            c["metrics"]["loops_per_sec"]["value"] = json!(v * 0.5);
        }
    }
    write_json(&results.join("box-2026-11-23/kfree-rcu.json"), &kf);
    let page = render(&results, 2);
    let dir = results.join("dashboard");
    assert_eq!(
        sections(&page),
        [
            "tradeoff",
            "changes",
            "uc-overwrite",
            "uc-batch_add_batch_del",
            "uc-map-perf-test-hash_prealloc",
            "uc-map-perf-test-hash_kmalloc",
            "uc-kfree-rcu-kfree",
            "history"
        ]
    );
    // The header describes htab-mem's file (kfree-rcu.json sorts first, with 0 s warm-up).
    assert!(page.contains("<p>1 s warm-up, 3 s measured"), "header");
    assert!(page.contains("<h2>Throughput against memory</h2>"));
    let section = |id: &str| {
        let s = at(&page, &format!("<section id=\"{id}\""));
        &page[s..s + page[s..].find("</section>").unwrap()]
    };
    let mpt = section("uc-map-perf-test-hash_kmalloc");
    assert!(mpt.contains("<h2>map-perf-test hash_kmalloc</h2>"), "{mpt}");
    assert!(mpt.contains("<h3>map-perf-test hash_kmalloc with 2 workers</h3>"));
    // The rate columns' data-metric stay loops_per_sec*, as in the file; no label says loops.
    assert!(mpt.contains("<th>k events/s per worker</th>") && !mpt.contains("loops/s"));
    assert!(
        !mpt.contains("loop (k/s)") && !mpt.contains("producer<"),
        "{mpt}"
    );
    let kfree = section("uc-kfree-rcu-kfree");
    assert!(kfree.contains("<h2>kfree-rcu kfree</h2>") && kfree.contains("1 thread</h3>"));
    assert!(kfree.contains("<th>mode</th><th>k objects/s per thread</th>"));
    assert!(
        !kfree.contains("loops/s") && !kfree.contains("-memory.svg"),
        "{kfree}"
    );
    // htab-mem's sections as before: their heading, header and memory plots.
    let htab = section("uc-overwrite");
    assert!(htab.contains("<h3>overwrite with 2 producers</h3>"));
    assert!(htab.contains("<th>loop (k/s) per producer</th>"));
    assert!(htab.contains("overwrite-p2-memory.svg"));
    // Every cell of the three files has its row.
    for f in ["matrix.json", "map-perf-test.json", "kfree-rcu.json"] {
        let text = fs::read_to_string(results.join("box-2026-11-23").join(f)).unwrap();
        let v: Value = serde_json::from_str(&text).unwrap();
        for c in v["results"].as_array().unwrap() {
            let id = c["id"].as_str().unwrap();
            at(&page, &format!("<tr data-id=\"{id}\">"));
        }
    }
    // Each group has its trade-off figure, in page order, naming its benchmark.
    let figs: Vec<&str> = page
        .split("<figure class=\"tradeoff\" ")
        .skip(1)
        .map(|s| &s[..s.find(" data-points").unwrap()])
        .collect();
    assert_eq!(
        figs,
        [
            "data-use-case=\"overwrite\"",
            "data-use-case=\"batch_add_batch_del\"",
            "data-use-case=\"hash_prealloc\" data-benchmark=\"map-perf-test\"",
            "data-use-case=\"hash_kmalloc\" data-benchmark=\"map-perf-test\"",
            "data-use-case=\"kfree\" data-benchmark=\"kfree-rcu\"",
        ]
    );
    let svg = |n: &str| fs::read_to_string(dir.join(n)).unwrap();
    let tradeoff = svg("tradeoff-kfree-rcu-kfree.svg");
    assert!(tradeoff.contains("kfree-rcu kfree: objects/s per thread against memory"));
    assert!(tradeoff.contains("k objects/s per thread") && !tradeoff.contains("loops"));
    let history = svg("history-map-perf-test-hash_kmalloc-p2.svg");
    assert!(history.contains("map-perf-test hash_kmalloc, 2 workers: across result sets"));
    assert!(history.contains("k events/s per worker") && !history.contains("loops"));
    // Every plot named exists; no name twice.
    let mut imgs: Vec<&str> = page
        .split("<img src=\"")
        .skip(1)
        .map(|s| &s[..s.find('"').unwrap()])
        .collect();
    for i in &imgs {
        assert!(dir.join(i).is_file(), "{i} missing");
    }
    imgs.sort_unstable();
    let n = imgs.len();
    imgs.dedup();
    assert_eq!(imgs.len(), n, "a plot name collided");

    // What changed: judged by id across the three files; the kfree-rcu regression found,
    // and the judged rows grouped in page order.
    let changes = section("changes");
    assert!(changes.contains("data-regressions=\"1\""), "{changes}");
    let regressions = at(&page, "<table class=\"changes regressions\">");
    let row = at(
        &page,
        &format!("<tr data-id=\"{slow}\" data-metric=\"loops_per_sec\">"),
    );
    assert!(regressions < row && row < at(&page, "<table class=\"changes judged\">"));
    let judged = &changes[changes.find("changes judged").unwrap()..];
    let first = |prefix: &str| {
        judged
            .find(&format!("<tr data-id=\"{prefix}"))
            .expect(prefix)
    };
    assert!(first("htab-mem/overwrite/") < first("htab-mem/batch_add_batch_del/"));
    assert!(first("htab-mem/batch_add_batch_del/") < first("map-perf-test/hash_prealloc/"));
    assert!(first("map-perf-test/hash_prealloc/") < first("map-perf-test/hash_kmalloc/"));
    assert!(first("map-perf-test/hash_kmalloc/") < first("kfree-rcu/"));
    assert!(!changes.contains("differ in config"), "{changes}");

    // htab-mem's plots are byte for byte those of a dashboard of its files alone.
    let alone = t.path("alone");
    for d in ["box-2026-11-22", "box-2026-11-23"] {
        fs::create_dir_all(alone.join(d)).unwrap();
        fs::copy(
            results.join(d).join("matrix.json"),
            alone.join(d).join("matrix.json"),
        )
        .unwrap();
    }
    let alone_page = render(&alone, 2);
    assert!(alone_page.contains("<h2>Loops/s against memory</h2>"));
    assert!(!alone_page.contains("data-benchmark"));
    for n in common::names(&alone.join("dashboard")) {
        if n.ends_with(".svg") {
            assert_eq!(
                fs::read(alone.join("dashboard").join(&n)).unwrap(),
                fs::read(dir.join(&n)).unwrap(),
                "{n} changed"
            );
        }
    }
}

#[test]
fn a_cell_of_trials_shows_its_intervals_failed_updates_and_notes() {
    let t = Tmp::new("dash-trials");
    let results = t.path("results");
    let mut c = cell("overwrite", "free-rcu", 2, 1.0, 8.0);
    let v = c["metrics"]["loops_per_sec_per_producer"]["value"]
        .as_f64()
        .unwrap();
    c["trials"] = json!([
        {"trial": 1, "status": "ok", "loops_per_sec": 2.0 * v, "loops_per_sec_per_producer": v,
         "mem_avg": 1.0, "mem_peak": 2.0, "busy": true, "steady": true},
        {"trial": 2, "status": "ok", "loops_per_sec": 2.0 * v, "loops_per_sec_per_producer": v,
         "mem_avg": 1.0, "mem_peak": 2.0, "busy": false, "steady": false},
        {"trial": 3, "status": "ok", "loops_per_sec": 2.0 * v, "loops_per_sec_per_producer": v,
         "mem_avg": 1.0, "mem_peak": 2.0, "busy": false, "steady": true}
    ]);
    c["ci95"] = json!({"method": "test", "loops_per_sec": [1000.0, 3000.0],
        "loops_per_sec_per_producer": [1000.0, 2000.0], "mem_avg": [1048576.0, 2097152.0],
        "mem_peak": [0.0, 1.0]});
    c["mem_limit"] = json!({"limit_bytes": 1048576, "charged_peak_bytes": 1048576,
        "hit_mem_limit": true, "refused": 5, "injected": 0, "failed_updates": 40,
        "failed_updates_per_sec": 12.5});
    write_json(
        &results.join("box-2026-12-02/matrix.json"),
        &file("2026-12-02T12:00:00Z", vec![c]),
    );
    let page = render(&results, 1);
    let start = page
        .find("<tr data-id=\"htab-mem/overwrite/free-rcu/p2\">")
        .unwrap();
    let row = &page[start..start + page[start..].find("</tr>").unwrap()];
    let (_, text) = td(row, "loops_per_sec_per_producer");
    assert_eq!(text, format!("{:.2} [1.00, 2.00]", v / 1e3), "{row}");
    assert!(td(row, "mem_avg").1.ends_with(" [1.00, 2.00]"), "{row}");
    assert_eq!(td(row, "failed_updates_per_sec"), (12.5, "12.50"), "{row}");
    assert!(
        row.contains("<td class=\"note\">busy 1/3, transient 1/3, mem limit</td>"),
        "{row}"
    );
    assert!(page.contains("<th>failed updates/s</th><th>notes</th>"));
}
