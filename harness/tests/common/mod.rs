//! Helpers shared by the binary's end-to-end tests.
#![allow(dead_code)] // not every test file uses every helper

use std::fmt::Debug;
use std::path::Path;
use std::process::{Command, Output};

pub mod results;
pub mod synthetic;

/// Runs the built `htab-mem` with `args`.
pub fn htab_mem(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_htab-mem"))
        .args(args)
        .output()
        .expect("running htab-mem")
}

/// Runs `htab-mem SUBCOMMAND args...`.
pub fn htab_mem_sub(sub: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_htab-mem"))
        .arg(sub)
        .args(args)
        .output()
        .expect("running htab-mem")
}

/// The bad-input contract: exit status 2, one line on stderr naming `needle`, no panic,
/// nothing on stdout.
pub fn assert_refused(out: &Output, args: &dyn Debug, needle: &str) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
    assert_eq!(err.lines().count(), 1, "{args:?}: not one line: {err}");
    assert!(err.contains(needle), "{args:?}: {err}");
    assert!(!err.contains("panicked"), "{args:?}: {err}");
    assert!(out.stdout.is_empty(), "{args:?} printed to stdout");
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The names in `dir`, sorted (none if it does not exist).
pub fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.map(|e| e.unwrap().file_name().into_string().unwrap())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

pub fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}
