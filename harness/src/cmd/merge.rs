//! `htab-mem merge`: combine result files (matrix shards) into one.
//!
//! Files must come from the same commit and the same config (warm-up, duration, pinning,
//! map size, value size, grace-period pacing) and hold disjoint cells; `--force` merges
//! anyway (a later file's cell replaces an earlier one's).

use std::path::PathBuf;

use crate::error::{OrBadInput, OrFailed, Result};
use crate::matrix_file;
use crate::result::{self, ResultFile};

#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// Result files to combine (native schema).
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,

    /// Output file (written whole, atomically; may be one of the inputs).
    #[arg(long = "out", value_name = "FILE")]
    pub out: PathBuf,

    /// Merge files of different configs or commits, and overlapping cells.
    #[arg(long = "force")]
    pub force: bool,
}

pub fn run(a: Args) -> Result {
    let f = merge(&a).or_bad_input()?;
    result::write_atomic(&a.out, &f).or_failed()?;
    eprintln!(
        "merge: {} cells from {} files into {}",
        f.results.len(),
        a.files.len(),
        a.out.display()
    );
    Ok(())
}

fn merge(a: &Args) -> Result<ResultFile, String> {
    let out_dir = match a.out.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => std::path::Path::new("."),
    };
    if !out_dir.is_dir() {
        return Err(format!(
            "--out {}: directory {} does not exist",
            a.out.display(),
            out_dir.display()
        ));
    }
    let mut files = Vec::new();
    for p in &a.files {
        files.push((p, matrix_file::load(p)?));
    }
    let (first_path, first) = &files[0];
    let mut merged = first.clone();
    merged.config = matrix_file::shared_config(&first.config);
    // A merge of single runs of one use case (or one producer count) keeps that field.
    let same = |f: &dyn Fn(&ResultFile) -> bool| files.iter().all(|(_, x)| f(x));
    if same(&|x| x.config.use_case == first.config.use_case) {
        merged.config.use_case = first.config.use_case.clone();
    }
    if same(&|x| x.config.producers == first.config.producers) {
        merged.config.producers = first.config.producers;
    }
    merged.results.clear();
    let mut warned_host = false;
    for (path, f) in &files {
        let mut conflicts = matrix_file::config_differences(&first.config, &f.config);
        if f.git_sha != first.git_sha {
            conflicts.push(format!("git_sha {} vs {}", first.git_sha, f.git_sha));
        }
        if !conflicts.is_empty() {
            let msg = format!(
                "{} and {} differ: {}",
                first_path.display(),
                path.display(),
                conflicts.join(", ")
            );
            if !a.force {
                return Err(format!("{msg} (use --force to merge anyway)"));
            }
            eprintln!("htab-mem: warning: {msg}; merged because of --force");
        }
        if f.host != first.host && !warned_host {
            warned_host = true;
            eprintln!(
                "htab-mem: warning: {} ran on another host ({}, {} CPUs) than {} ({}, {} CPUs); \
                 the merged file records the first",
                path.display(),
                f.host.cpu_model,
                f.host.nr_cpus,
                first_path.display(),
                first.host.cpu_model,
                first.host.nr_cpus
            );
        }
        // The earliest start is the merged run's start (RFC 3339 UTC sorts as text).
        if f.timestamp < merged.timestamp {
            merged.timestamp = f.timestamp.clone();
        }
        for c in &f.results {
            if let Some(pos) = merged.results.iter().position(|m| m.id == c.id) {
                if !a.force {
                    return Err(format!(
                        "cell {} is in more than one file (second time in {}); use --force to \
                         keep the later one",
                        c.id,
                        path.display()
                    ));
                }
                merged.results.remove(pos);
            }
            merged.results.push(c.clone());
        }
    }
    matrix_file::sort_cells(&mut merged.results);
    Ok(merged)
}
