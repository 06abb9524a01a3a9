//! Placeholder until this subcommand is written; refuses to run.

use std::process::ExitCode;

#[derive(clap::Args, Debug, Clone)]
pub struct Args {}

pub fn run(_a: Args) -> ExitCode {
    crate::bad_input("this subcommand is not available in this build")
}
