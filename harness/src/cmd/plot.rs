//! `htab-mem plot RESULTS... --out DIR`: SVG plots of result files.

use std::path::PathBuf;

use crate::plot::{self, Dataset};
use crate::result::{read_result_file, Benchmark};

#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// Result files (native JSON: a run's --json, a matrix or a sweep); their cells are plotted
    /// together, so no cell id may appear twice.
    #[arg(value_name = "RESULTS", required = true)]
    pub results: Vec<PathBuf>,
    /// Directory for the SVGs (created if missing): per use case <use_case>-bars.svg and
    /// <use_case>-scaling.svg, per use case and producer count <use_case>-p<N>-memory.svg
    /// (htab-mem's cells only: the others have no per-second samples), and for the cells of
    /// a sweep <use_case>-p<N>-sweep.svg; map-perf-test's and kfree-rcu's names start with
    /// the benchmark (map-perf-test-hash_kmalloc-bars.svg).
    #[arg(long = "out", value_name = "DIR")]
    pub out: PathBuf,
}

pub fn run(a: Args) -> crate::error::Result {
    // Its errors are all about the input (the file, the output directory), checked before
    // anything is written.
    let names = plot_files(&a).map_err(crate::error::Error::BadInput)?;
    for n in names {
        println!("{}", a.out.join(n).display());
    }
    Ok(())
}

/// Reads, renders, then writes: nothing is written unless every file read and every plot
/// rendered.
fn plot_files(a: &Args) -> Result<Vec<String>, String> {
    let mut cells = Vec::new();
    // The warm-up shaded in the memory plots: the first htab-mem file's (the benchmark with
    // per-second samples and a warm-up; the others run to completion and say 0), else the
    // first file's.
    let (mut warmup, mut first) = (None, None);
    for path in &a.results {
        let f = read_result_file(path)?;
        if f.config.benchmark == Benchmark::HtabMem {
            warmup = warmup.or(Some(f.config.warmup_s));
        }
        first = first.or(Some(f.config.warmup_s));
        cells.extend(f.results);
    }
    let warmup = warmup.or(first);
    let ds = Dataset::new(cells).map_err(|e| format!("{}: {e}", join(&a.results)))?;
    let plots = plot::render_all(&ds, warmup)?;
    plot::ensure_dir(&a.out)?;
    plot::write_files(
        &a.out,
        plots.iter().map(|p| (p.file.as_str(), p.svg.as_bytes())),
    )?;
    Ok(plots.into_iter().map(|p| p.file).collect())
}

fn join(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}
