//! Subcommands, one module each.

pub mod compare;
pub mod dashboard;
pub mod export;
pub mod kfree_rcu;
pub mod map_perf_test;
pub mod matrix;
pub mod matrix_plans;
pub mod merge;
pub mod plot;
pub mod sweep;

use std::process::ExitCode;

use crate::cli::Cmd;

pub fn run(cmd: Cmd) -> ExitCode {
    crate::error::exit(match cmd {
        Cmd::Matrix(a) => matrix::run(a),
        Cmd::Sweep(a) => sweep::run(a),
        Cmd::Merge(a) => merge::run(a),
        Cmd::Export(a) => export::run(a),
        Cmd::Compare(a) => compare::run(a),
        Cmd::Plot(a) => plot::run(a),
        Cmd::Dashboard(a) => dashboard::run(a),
        Cmd::KfreeRcu(a) => kfree_rcu::run(a),
        Cmd::MapPerfTest(a) => map_perf_test::run(a),
    })
}
