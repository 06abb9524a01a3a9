//! The harness of `htab-mem`: CLI, runner (pinned producers, sampler), memory accounting,
//! result schema and reports. The binary (`main.rs`) wires them together.

pub mod bench;
pub mod bench_argv;
pub mod cli;
pub mod cmd;
pub mod compare;
pub mod config;
pub mod cpuset;
pub mod dashboard;
pub mod error;
pub mod flavor_shift;
pub mod host;
pub mod machine;
pub mod matrix_file;
pub mod matrix_run;
pub mod memory;
pub mod memory_model;
pub mod plot;
pub mod report;
pub mod result;
pub mod rows;
pub mod stats;
pub mod steady;
pub mod text_table;
pub mod trials;
pub mod units;
