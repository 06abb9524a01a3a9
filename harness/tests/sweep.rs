//! `htab-mem sweep` end to end: a tiny sweep's result file, table and figure; the cell ids
//! it plans; bad input refused with nothing written.

use harness::matrix_file;
use harness::result::Pacing;

mod common;
use common::{assert_refused, htab_mem_sub, names, s, text};

const FLAVORS: [&str; 2] = ["immediate-reuse", "free-after-gp"];

#[test]
fn a_tiny_sweep_writes_paced_cells_a_table_and_a_figure() {
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("s.json");
    let mut args = vec!["--out", s(&out)];
    // Two flavors, two pacings given in descending order, tasks-trace ones listed.
    args.extend(
        "-A immediate-reuse,free-after-gp -p 1 -w 1 -d 1 --pacings 1ms,0 \
         --ttrace-pacings 3ms,0 --pause-ms 0 --trials 1 -q"
            .split_whitespace(),
    );
    let r = htab_mem_sub("sweep", &args);
    let err = text(&r.stderr);
    assert_eq!(r.status.code(), Some(0), "{err}");
    assert_eq!(names(d.path()), ["s.json", "s.svg"]);

    let f = matrix_file::load(&out).unwrap();
    let ids: Vec<&str> = f.results.iter().map(|c| c.id.as_str()).collect();
    // Pacings ascending, flavors interleaved within each.
    assert_eq!(
        ids,
        [
            "htab-mem/overwrite/immediate-reuse/p1/rcu0-tt0",
            "htab-mem/overwrite/free-after-gp/p1/rcu0-tt0",
            "htab-mem/overwrite/immediate-reuse/p1/rcu1ms-tt3ms",
            "htab-mem/overwrite/free-after-gp/p1/rcu1ms-tt3ms",
        ]
    );
    let paced = |rcu, tt| {
        Some(Pacing {
            rcu_gp_delay_us: rcu,
            ttrace_gp_delay_us: tt,
        })
    };
    let pacings: Vec<Option<Pacing>> = f.results.iter().map(|c| c.pacing).collect();
    assert_eq!(
        pacings,
        [
            paced(0, 0),
            paced(0, 0),
            paced(1000, 3000),
            paced(1000, 3000)
        ]
    );
    for c in &f.results {
        assert_eq!(c.status, harness::result::Status::Ok, "{}", c.id);
        assert!(c.metrics.loops_per_sec.value > 0.0, "{}", c.id);
    }

    let table = text(&r.stdout);
    assert!(
        table.contains("| flavor ") && table.contains("0/0 k/s") && table.contains("1ms/3ms MiB"),
        "{table}"
    );
    for flavor in FLAVORS {
        let row = table
            .lines()
            .find(|l| l.starts_with(&format!("| {flavor} ")))
            .unwrap_or_else(|| panic!("no row for {flavor}: {table}"));
        // flavor, then k/s and MiB for each of the two pacings.
        assert_eq!(row.matches('|').count(), 6, "{row}");
    }

    let svg = std::fs::read_to_string(d.path().join("s.svg")).unwrap();
    assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
    assert!(svg.contains("average memory (MiB") && svg.contains("1ms/3ms"));
    for flavor in FLAVORS {
        assert!(svg.contains(flavor), "legend lacks {flavor}");
    }
    // One line per flavor in each of the two panels.
    assert_eq!(svg.matches("stroke-width=\"2\"").count(), 2 * FLAVORS.len());

    // Nothing left to run: the file stays as it is and the table is printed again.
    let before = std::fs::read(&out).unwrap();
    let again = htab_mem_sub("sweep", &args);
    assert_eq!(again.status.code(), Some(0), "{}", text(&again.stderr));
    assert!(text(&again.stderr).contains("0 cells to run"));
    assert_eq!(again.stdout, r.stdout);
    assert_eq!(std::fs::read(&out).unwrap(), before);

    // The other tools take the sweep file: plot draws the pacing figure.
    let plots = d.path().join("plots");
    let p = htab_mem_sub("plot", &[s(&out), "--out", s(&plots)]);
    assert_eq!(p.status.code(), Some(0), "{}", text(&p.stderr));
    assert!(plots.join("overwrite-p1-sweep.svg").exists());
    let e = htab_mem_sub("export", &[s(&out), "--format", "markdown"]);
    assert_eq!(e.status.code(), Some(0), "{}", text(&e.stderr));
    assert!(text(&e.stdout).contains("pacing 1ms/3ms"));
}

#[test]
fn the_tasks_trace_pacing_scales_with_the_rcu_one() {
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("never.json");
    let list = |extra: &[&str]| {
        let mut a = vec!["--out", s(&out), "--list", "-A", "prealloc"];
        a.extend(extra);
        let r = htab_mem_sub("sweep", &a);
        assert_eq!(r.status.code(), Some(0), "{}", text(&r.stderr));
        text(&r.stdout)
    };
    assert_eq!(
        list(&[]),
        "htab-mem/overwrite/prealloc/p2/rcu0-tt0\n\
         htab-mem/overwrite/prealloc/p2/rcu100us-tt1ms\n\
         htab-mem/overwrite/prealloc/p2/rcu1ms-tt10ms\n\
         htab-mem/overwrite/prealloc/p2/rcu10ms-tt100ms\n"
    );
    assert_eq!(
        list(&["--pacings", "500us,1.5ms,500", "--ttrace-scale", "2"]),
        "htab-mem/overwrite/prealloc/p2/rcu500us-tt1ms\n\
         htab-mem/overwrite/prealloc/p2/rcu1500us-tt3ms\n"
    );
    assert!(names(d.path()).is_empty(), "--list wrote a file");
}

#[test]
fn bad_input_is_refused_and_writes_nothing() {
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("s.json");
    let cases: &[(&[&str], &str)] = &[
        (&["-A", "nope"], "unknown allocator flavor"),
        (&["--use-case", "nope"], "unknown use case"),
        (&["--use-case", "all"], "one use case"),
        (&["--use-case", "add_del_on_diff_cpu", "-p", "1"], "even"),
        (&["-p", "0"], "producers"),
        (&["-p", "x"], "'x'"),
        (&["-d", "0"], "duration"),
        (&["-w", "0"], "warmup"),
        (
            &["--pacings", "1ms,abc"],
            "--pacings: 'abc' is not a duration",
        ),
        (&["--pacings", "1ms,"], "--pacings"),
        (&["--pacings", "-1ms"], "non-negative"),
        (&["--pacings", "2h"], "--pacings"),
        (&["--pacings", "3601s"], "longer than an hour"),
        (&["--ttrace-pacings", "1ms,2ms"], "2 entries for the 4"),
        (&["--ttrace-pacings", "1ms,2ms,3ms,x"], "--ttrace-pacings"),
        (&["--ttrace-scale", "nan"], "--ttrace-scale"),
        (&["--ttrace-scale", "-1"], "--ttrace-scale"),
        (&["--ttrace-pacings", "-1ms,0,0,0"], "non-negative"),
        (&["--ttrace-scale", "1e9"], "longer than an hour"),
        (
            &["--ttrace-scale", "2", "--ttrace-pacings", "0,1,2,3"],
            "cannot be used with",
        ),
        (&["--svg", "/nonexistent-dir/x.svg"], "does not exist"),
        (&["--svg", s(&out)], "result file itself"),
        (&["--value-size", "0"], "value-size"),
    ];
    for (extra, needle) in cases {
        let mut a = vec!["--out", s(&out), "-q"];
        a.extend(extra.iter());
        let r = htab_mem_sub("sweep", &a);
        assert_refused(&r, &a, needle);
        assert!(
            names(d.path()).is_empty(),
            "{a:?} wrote {:?}",
            names(d.path())
        );
    }
}
