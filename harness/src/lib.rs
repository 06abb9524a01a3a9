//! The harness of `htab-mem`: CLI, runner (pinned producers, sampler), memory accounting,
//! result schema and reports. The binary (`main.rs`) wires them together.

pub mod cli;
pub mod cpuset;
pub mod host;
pub mod memory;
pub mod report;
pub mod result;
pub mod runner;
pub mod stats;
