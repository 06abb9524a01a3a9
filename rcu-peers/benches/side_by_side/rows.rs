//! Row names shared by the implementations (so the targets can find them) and cell formats.

use crate::probe::{OpTime, Pcts};

pub const READ: &str = "read_lock+unlock, 1 thread (ns, best of 5)";
pub const SYNC_IDLE: &str = "synchronize, 2 idle registered readers (µs p50 / mean)";
pub const SYNC_SPIN: &str = "synchronize, 1 spinning reader (µs p50 / mean)";
pub const EXP_IDLE: &str = "synchronize_expedited, 2 idle readers (µs p50 / mean)";
pub const EXP_SPIN: &str = "synchronize_expedited, 1 spinning reader (µs p50 / mean)";
pub const ENQ: &str = "call enqueue, 1M burst freeing a box (ns/call)";
pub const ENQ_BLOCKED: &str = "call enqueue, 1M burst while a reader blocks the GP (ns/call)";
pub const BARRIER: &str = "barrier right after the 1M burst (ms)";
pub const LAT_IDLE: &str = "cb latency p50 / p99, 1M burst, then queuing thread idle (ms)";
pub const DRAIN_IDLE: &str = "all callbacks done after burst end, thread idle (ms)";
pub const LAT_RUN_READY: &str = "cb latency p50 / p99, 1M burst, then run_ready() loop (ms)";
pub const DRAIN_DRIVEN: &str =
    "all callbacks done after burst end, thread drives: run_ready() / pin+flush loop (ms)";
pub const LAT_BARRIER: &str = "cb latency p50 / p99, 1M burst, then barrier (ms)";

pub fn ns(v: f64) -> String {
    format!("{v:.2}")
}

pub fn ms(v: f64) -> String {
    format!("{v:.2}")
}

pub fn op(t: OpTime) -> String {
    format!("{:.1} / {:.1}", t.p50_us, t.mean_us)
}

pub fn pcts(p: Pcts) -> String {
    format!("{:.2} / {:.2}", p.p50_ms, p.p99_ms)
}
