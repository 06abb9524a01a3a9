//! `htab-mem dashboard --results DIR --out DIR`: the static HTML dashboard.

use std::path::PathBuf;

use crate::dashboard::{self, sets};
use crate::error::{OrBadInput, OrFailed, Result};

#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// Folder of result sets: one subfolder per machine and date, each holding native
    /// result files (other JSON there is skipped) and, when the baseline commit was measured
    /// in the same run, its files in `baseline/`. The newest set (by timestamp) is shown in
    /// full, what changed judged against its same-run baseline or else the set before;
    /// every set appears in the history.
    #[arg(long = "results", value_name = "DIR", default_value = "results")]
    pub results: PathBuf,
    /// Output folder (created if missing): index.html and the SVGs it shows.
    #[arg(long = "out", value_name = "DIR", default_value = "results/dashboard")]
    pub out: PathBuf,
}

pub fn run(a: Args) -> Result {
    // Reading the sets checks the input; rendering a set that read fine does too (an
    // unplottable file); only writing the page can fail on its own.
    let sets = sets::discover(&a.results, &a.out).or_bad_input()?;
    let files = dashboard::render(&sets).or_bad_input()?;
    dashboard::write(&a.out, &files).or_failed()?;
    let n = sets.len();
    println!(
        "{} ({n} result set{})",
        a.out.join("index.html").display(),
        if n == 1 { "" } else { "s" }
    );
    Ok(())
}
