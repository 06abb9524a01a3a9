//! Peer maps as rows beside the flavors: `-A peer:NAME` in a run and a matrix, their cell ids
//! and table rows, the "n/a" cell of a use case a peer cannot express, and bad names.

mod common;
use common::{assert_refused, htab_mem, text};

fn load(path: &std::path::Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// 2 producers, 1 s of warm-up and 1 s measured, quiet: a run's and a matrix's options.
const TINY: [&str; 7] = ["-p", "2", "-w", "1", "-d", "1", "-q"];

/// A tiny run of `args` writing its JSON to `json`.
fn tiny_run(args: &[&str], json: &std::path::Path) -> std::process::Output {
    let mut a = args.to_vec();
    a.extend(TINY);
    a.extend(["--json", json.to_str().unwrap()]);
    htab_mem(&a)
}

fn ids(v: &serde_json::Value) -> Vec<String> {
    v["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn a_run_puts_peer_rows_beside_the_flavors_in_the_table_and_the_json() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("run.json");
    let out = tiny_run(
        &[
            "-A",
            "immediate-reuse,peer:dashmap,peer:papaya",
            "--use-case",
            "lookup_verify",
        ],
        &json,
    );
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    for row in ["| immediate-reuse ", "| peer:dashmap ", "| peer:papaya "] {
        assert!(stdout.contains(row), "no row {row}: {stdout}");
    }
    let v = load(&json);
    assert_eq!(
        ids(&v),
        [
            "htab-mem/lookup_verify/immediate-reuse/p2",
            "htab-mem/lookup_verify/peer:dashmap/p2",
            "htab-mem/lookup_verify/peer:papaya/p2",
        ]
    );
    for c in &v["results"].as_array().unwrap()[1..] {
        assert_eq!(c["status"], "ok", "{c}");
        assert!(c["metrics"]["loops_per_sec"]["value"].as_f64().unwrap() > 0.0);
        // A peer returns the value stored under the key asked: never a recycled element.
        assert_eq!(c["metrics"]["incorrect_lookups_per_million"]["value"], 0.0);
        assert_eq!(
            c["allocator"]["from_system"], 0,
            "a peer has no flavor: {c}"
        );
        assert!(c["metrics"]["mem_avg"]["value"].as_f64().unwrap() > 0.0);
    }
}

#[test]
fn a_peer_cannot_run_the_lpm_trie_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("lpm.json");
    let out = tiny_run(
        &["-A", "prealloc,peer:scc", "--use-case", "lpm_update_delete"],
        &json,
    );
    let stdout = text(&out.stdout);
    assert!(
        out.status.success(),
        "n/a is not a failure: {}",
        text(&out.stderr)
    );
    let row = stdout
        .lines()
        .find(|l| l.starts_with("| peer:scc"))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(
        row.contains("peer:scc (n/a)") && row.contains("| n/a"),
        "{row}"
    );
    let v = load(&json);
    let c = &v["results"][1];
    assert_eq!(c["id"], "htab-mem/lpm_update_delete/peer:scc/p2");
    assert_eq!(c["status"], "n/a");
    assert!(c["error"].as_str().unwrap().contains("LPM trie"), "{c}");
}

#[test]
fn a_matrix_with_a_peer_goes_through_export_and_compare() {
    let dir = tempfile::tempdir().unwrap();
    let out_path = dir.path().join("m.json");
    let mut args = vec![
        "matrix",
        "--trials",
        "1",
        "-A",
        "prealloc,peer:flurry",
        "--use-cases",
        "overwrite,lpm_update_delete",
        "--pause-ms",
        "0",
        "--out",
        out_path.to_str().unwrap(),
    ];
    args.extend(TINY);
    let out = htab_mem(&args);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v = load(&out_path);
    // The trie's peer cell is skipped (with its reason on the progress lines), not run.
    assert_eq!(
        ids(&v),
        [
            "htab-mem/overwrite/prealloc/p2",
            "htab-mem/overwrite/peer:flurry/p2",
            "htab-mem/lpm_update_delete/prealloc/p2",
        ]
    );
    let p = out_path.to_str().unwrap();
    let csv = htab_mem(&["export", "--format", "csv", p]);
    assert!(csv.status.success(), "{}", text(&csv.stderr));
    assert!(text(&csv.stdout).contains("peer:flurry"));
    let cmp = htab_mem(&["compare", p, p]);
    assert!(cmp.status.success(), "{}", text(&cmp.stderr));
    assert!(text(&cmp.stdout).contains("htab-mem/overwrite/peer:flurry/p2"));
}

#[test]
fn bad_peer_names_are_one_line_and_exit_2() {
    for args in [
        &["-A", "peer:nope"][..],
        &["-A", "all,dashmap"],
        &[
            "matrix",
            "--benchmark",
            "map-perf-test",
            "-A",
            "peer:dashmap",
            "--out",
            "x.json",
        ],
    ] {
        let out = htab_mem(args);
        let needle = if args[1] == "peer:nope" {
            "unknown peer map"
        } else {
            "peer"
        };
        assert_refused(&out, &args, needle);
    }
}

#[test]
fn the_default_list_adds_dashmap_to_htab_mem_matrices_only() {
    let dir = tempfile::tempdir().unwrap();
    let out_path = dir.path().join("l.json");
    let list = |bench: &str| {
        let p = out_path.to_str().unwrap();
        let out = htab_mem(&[
            "matrix",
            "--benchmark",
            bench,
            "-p",
            "2",
            "--list",
            "--out",
            p,
        ]);
        assert!(out.status.success(), "{bench}: {}", text(&out.stderr));
        text(&out.stdout)
    };
    let htab = list("htab-mem");
    assert!(
        htab.contains("htab-mem/overwrite/peer:dashmap/p2"),
        "{htab}"
    );
    assert!(!htab.contains("peer:papaya"), "{htab}");
    let kfree = list("kfree-rcu");
    assert_eq!(kfree.lines().count(), 4, "every kfree-rcu mode: {kfree}");
    assert!(!kfree.contains("peer:"), "{kfree}");
}
