//! Bad result files: every results tool refuses them (exit status 2, one line naming the
//! file and why) and overwrites nothing.

use std::path::{Path, PathBuf};
use std::process::Output;

use tempfile::TempDir;

mod common;
use common::results::{sample, write, TINY};
use common::{htab_mem, names, s, text};

/// Files that are not usable result files, with what the error must say.
fn bad_files(d: &TempDir) -> Vec<(PathBuf, &'static str)> {
    let full = serde_json::to_string_pretty(&sample()).unwrap();
    let mut newer: serde_json::Value = serde_json::to_value(sample()).unwrap();
    newer["schema_version"] = (harness::result::SCHEMA_VERSION + 1).into();
    let mut dup = sample();
    dup.results.push(dup.results[0].clone());
    let cases: Vec<(&str, String, &'static str)> = vec![
        ("empty.json", String::new(), "file is empty"),
        (
            "truncated.json",
            full[..full.len() / 2].to_string(),
            "truncated JSON",
        ),
        (
            "newer.json",
            newer.to_string(),
            "newer than this tool supports",
        ),
        (
            "other.json",
            r#"[{"name": "x", "value": 1}]"#.into(),
            "not an htab-mem result file",
        ),
        (
            "dup.json",
            serde_json::to_string(&dup).unwrap(),
            "appears twice",
        ),
    ];
    cases
        .into_iter()
        .map(|(name, body, why)| {
            let p = d.path().join(name);
            std::fs::write(&p, body).unwrap();
            (p, why)
        })
        .collect()
}

fn assert_bad(r: &Output, path: &Path, why: &str) {
    let err = text(&r.stderr);
    assert_eq!(r.status.code(), Some(2), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains(s(path)) && err.contains(why), "{why}: {err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn bad_result_files_are_refused_and_nothing_is_overwritten() {
    let d = tempfile::tempdir().unwrap();
    let good = write(&d, "good.json", &sample());
    let out = d.path().join("out.txt");
    for (bad, why) in bad_files(&d) {
        std::fs::write(&out, "previous output").unwrap();
        let before_bad = std::fs::read(&bad).unwrap();
        for fmt in ["bmf", "csv", "markdown"] {
            let r = htab_mem(&["export", s(&bad), "--format", fmt, "--out", s(&out)]);
            assert_bad(&r, &bad, why);
        }
        assert_bad(&htab_mem(&["compare", s(&good), s(&bad)]), &bad, why);
        assert_bad(&htab_mem(&["compare", s(&bad), s(&good)]), &bad, why);
        assert_bad(
            &htab_mem(&["merge", s(&good), s(&bad), "--out", s(&out)]),
            &bad,
            why,
        );
        // A matrix resuming into it must not clobber it either.
        let mut a = vec!["matrix", "--out", s(&bad), "-q"];
        a.extend(TINY);
        assert_bad(&htab_mem(&a), &bad, why);
        assert_eq!(std::fs::read(&bad).unwrap(), before_bad);
        assert_eq!(std::fs::read_to_string(&out).unwrap(), "previous output");
    }
    // Only the files this test made: no temp file was left anywhere.
    assert_eq!(
        names(d.path()),
        [
            "dup.json",
            "empty.json",
            "good.json",
            "newer.json",
            "other.json",
            "out.txt",
            "truncated.json"
        ]
    );
}
