//! `htab-mem dashboard --results DIR --out DIR`: the static HTML dashboard.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::dashboard::{self, sets};

#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// Folder of result sets: one subfolder per machine and date, each holding native
    /// result files (other JSON there is skipped). The newest set (by timestamp) is shown in
    /// full; every set appears in the history.
    #[arg(long = "results", value_name = "DIR", default_value = "results")]
    pub results: PathBuf,
    /// Output folder (created if missing): index.html and the SVGs it shows.
    #[arg(long = "out", value_name = "DIR", default_value = "results/dashboard")]
    pub out: PathBuf,
}

pub fn run(a: Args) -> ExitCode {
    let go = || -> Result<usize, String> {
        let sets = sets::discover(&a.results, &a.out)?;
        let files = dashboard::render(&sets)?;
        dashboard::write(&a.out, &files)?;
        Ok(sets.len())
    };
    match go() {
        Ok(n) => {
            println!(
                "{} ({n} result set{})",
                a.out.join("index.html").display(),
                if n == 1 { "" } else { "s" }
            );
            ExitCode::SUCCESS
        }
        Err(msg) => crate::bad_input(&msg),
    }
}
