//! `ci/pipeline.sh` with a baseline measured in the same run (`BASELINE_EXE`): the matrix
//! runs beside it, `report` judges against it, and the result set keeps it in `baseline/`
//! for the dashboard's "what changed" (a tiny matrix; the build under test on both sides).

mod common;

use std::process::Command;

use harness::result::read_result_file;

#[test]
fn the_pipeline_judges_against_a_baseline_measured_in_the_same_run() {
    let d = tempfile::tempdir().unwrap();
    let (results, out) = (d.path().join("results"), d.path().join("out"));
    std::fs::create_dir(&results).unwrap();
    let exe = env!("CARGO_BIN_EXE_htab-mem");
    let r = Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../ci/pipeline.sh"))
        .env("MATRIX_ARGS", "--use-cases no_op -A immediate-reuse,free-after-gp -p 1 --trials 2 -w 1 -d 1 --pause-ms 0")
        .env("OTHER_BENCHES", "")
        .env("BASELINE_EXE", exe)
        .env("BASELINE_SHA", "0123abcd")
        .env("HTAB_MEM", exe)
        .env("RESULTS", &results)
        .env("OUT", &out)
        .env("MACHINE", "box")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&r.stderr);
    assert_eq!(r.status.code(), Some(0), "{err}");
    assert!(
        err.contains("judging against the baseline measured in the same run"),
        "{err}"
    );
    let compare = std::fs::read_to_string(out.join("compare.txt")).unwrap();
    assert!(compare.contains("compare: 2 cells matched"), "{compare}");
    let set = std::fs::read_dir(&results)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.file_name().unwrap().to_string_lossy().starts_with("box-"))
        .expect("a result set");
    let (new, base) = (
        read_result_file(&set.join("matrix.json")).unwrap(),
        read_result_file(&set.join("baseline/matrix.json")).unwrap(),
    );
    assert_eq!(base.git_sha, "0123abcd");
    assert_eq!(new.results.len(), 2);
    assert_eq!(base.results.len(), 2);
    assert!(base.results.iter().all(|c| c.trials.count() == 2));
    let page = std::fs::read_to_string(results.join("dashboard/index.html")).unwrap();
    assert!(
        page.contains("baseline (commit 0123abcd, measured in the same run)"),
        "the dashboard judges against the same-run baseline"
    );
}
