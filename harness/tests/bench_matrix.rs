//! The matrix runs every benchmark's cells, and the results tools read them like htab-mem's:
//! map-perf-test (a cell per test x flavor x workers) and kfree-rcu (a cell per mode).

mod common;
use common::{assert_refused, htab_mem, text};

fn load(path: &std::path::Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn map_perf_test_and_kfree_rcu_cells_go_through_matrix_compare_and_export() {
    let dir = tempfile::tempdir().unwrap();
    let mpt = dir.path().join("mpt.json");
    let out = htab_mem(&[
        "matrix",
        "--trials",
        "1",
        "--benchmark",
        "map-perf-test",
        "-p",
        "2",
        "-A",
        "free-rcu,immediate-reuse",
        "--use-cases",
        "hash_kmalloc,array_lookup",
        "--iterations",
        "500",
        "--pause-ms",
        "0",
        "-q",
        "--out",
        mpt.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v = load(&mpt);
    assert_eq!(v["config"]["benchmark"], "map-perf-test");
    assert_eq!(v["config"]["map_perf_test"]["iterations"], 500);
    let ids: Vec<&str> = v["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    // The kmalloc test runs once per flavor; the array map allocates nothing per element.
    assert_eq!(
        ids,
        [
            "map-perf-test/hash_kmalloc/immediate-reuse/p2",
            "map-perf-test/hash_kmalloc/free-rcu/p2",
            "map-perf-test/array_lookup/array/p2",
        ]
    );
    for c in v["results"].as_array().unwrap() {
        assert_eq!(c["status"], "ok", "{c}");
        assert_eq!(c["metrics"]["loops_per_sec"]["unit"], "events/s");
        assert!(c["metrics"]["loops_per_sec"]["value"].as_f64().unwrap() > 0.0);
    }

    let kf = dir.path().join("kfree.json");
    let out = htab_mem(&[
        "matrix",
        "--trials",
        "1",
        "--benchmark",
        "kfree-rcu",
        "-p",
        "1,2",
        "-A",
        "call-rcu,batched-polled",
        "--alloc-num",
        "200",
        "--loops",
        "2",
        "--pause-ms",
        "0",
        "-q",
        "--out",
        kf.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v = load(&kf);
    assert_eq!(v["config"]["kfree_rcu"]["alloc_num"], 200);
    let cells = v["results"].as_array().unwrap();
    assert_eq!(cells.len(), 4);
    for c in cells {
        assert_eq!(c["benchmark"], "kfree-rcu");
        let threads = c["producers"].as_u64().unwrap();
        assert_eq!(
            c["kfree_rcu"]["objects"].as_u64().unwrap(),
            200 * 2 * threads
        );
        assert_eq!(c["allocator"]["leaked"], 0);
    }

    // A file compared with itself holds no regression; export and a rerun (nothing left to
    // run) read it.
    for f in [&mpt, &kf] {
        let cmp = htab_mem(&["compare", f.to_str().unwrap(), f.to_str().unwrap()]);
        assert_eq!(cmp.status.code(), Some(0), "{}", text(&cmp.stderr));
        let csv = htab_mem(&["export", "--format", "csv", f.to_str().unwrap()]);
        assert!(csv.status.success(), "{}", text(&csv.stderr));
        assert_eq!(
            text(&csv.stdout).lines().count(),
            1 + load(f)["results"].as_array().unwrap().len()
        );
    }
    let again = htab_mem(&[
        "matrix",
        "--trials",
        "1",
        "--benchmark",
        "kfree-rcu",
        "-p",
        "1,2",
        "-A",
        "call-rcu,batched-polled",
        "--alloc-num",
        "200",
        "--loops",
        "2",
        "-q",
        "--out",
        kf.to_str().unwrap(),
    ]);
    assert!(
        text(&again.stderr).contains("0 cells to run"),
        "{}",
        text(&again.stderr)
    );
}

#[test]
fn a_benchmark_refuses_the_options_and_names_of_another() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x.json");
    let o = out.to_str().unwrap();
    let cases: [(&[&str], &str); 5] = [
        (
            &["--benchmark", "kfree-rcu", "--iterations", "10"],
            "--iterations",
        ),
        (&["--alloc-num", "10"], "--alloc-num"),
        (
            &["--benchmark", "kfree-rcu", "-A", "free-rcu"],
            "unknown kfree-rcu mode 'free-rcu'",
        ),
        (
            &["--benchmark", "map-perf-test", "--use-cases", "overwrite"],
            "unknown map-perf-test test 'overwrite'",
        ),
        (&["--benchmark", "nope"], "nope"),
    ];
    for (args, needle) in cases {
        let mut a = vec!["matrix", "--out", o];
        a.extend_from_slice(args);
        assert_refused(&htab_mem(&a), &a, needle);
        assert!(!out.exists());
    }
}

#[test]
fn map_perf_test_with_the_default_flavors_leaves_prealloc_out() {
    // The default list and `all` hold prealloc, which no bpf_mem_alloc test can use: the
    // perf pipeline runs `matrix --benchmark map-perf-test` with the default list.
    let d = tempfile::tempdir().unwrap();
    for list in [None, Some("all")] {
        let out = d.path().join("mpt.json");
        let mut args = vec![
            "matrix",
            "--benchmark",
            "map-perf-test",
            "--list",
            "-p",
            "2",
        ];
        args.extend(["--out", out.to_str().unwrap()]);
        if let Some(l) = list {
            args.extend(["-A", l]);
        }
        let r = common::htab_mem(&args);
        let ids = String::from_utf8_lossy(&r.stdout).to_string();
        assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
        assert!(
            ids.contains("map-perf-test/hash_kmalloc/immediate-reuse/p2"),
            "{ids}"
        );
        assert!(!ids.contains("hash_kmalloc/prealloc/"), "{ids}");
    }
    // Named on its own, prealloc is still refused with the reason.
    let out = d.path().join("one.json");
    let r = common::htab_mem(&[
        "matrix",
        "--benchmark",
        "map-perf-test",
        "--list",
        "-A",
        "prealloc",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(r.status.code(), Some(2));
}
