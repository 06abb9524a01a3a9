//! Helpers shared by the binary's end-to-end tests.
#![allow(dead_code)] // not every test file uses every helper

use std::fmt::Debug;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

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

/// A fresh directory per test, removed on drop.
pub struct Dir(pub PathBuf);

impl Dir {
    pub fn new(tag: &str) -> Self {
        let d = std::env::temp_dir().join(format!("htab-mem-test-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        Dir(d)
    }
    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
    pub fn names(&self) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(&self.0)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        v.sort();
        v
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}
