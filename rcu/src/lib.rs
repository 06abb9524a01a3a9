//! A userspace RCU with kernel semantics.
//!
//! * [`Domain`] is one grace-period domain; the harness makes two, modelling RCU and
//!   RCU-tasks-trace. A domain owns one background thread that runs grace periods for queued
//!   callbacks and invokes them.
//! * Readers follow liburcu's memb algorithm: `read_lock` is a store of the domain's reader
//!   counter into the thread's own slot plus a compiler fence; the writer pays with one
//!   `membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED)` per grace period (a full fence on both sides
//!   when the syscall is unavailable).
//! * One 64-bit grace-period sequence number (`gp_seq`, low bit = "in progress", as the kernel's
//!   `rcu_seq`) backs `synchronize`, callback cookies and the polled API.

#![deny(unsafe_op_in_unsafe_fn)]

mod callback;
mod domain;
mod kfree;
mod membarrier;
mod reader;
mod seq;

pub use callback::{CallbackFn, RcuHead};
pub use domain::{Domain, DomainConfig, DomainStats, DEFAULT_LAZY_FLUSH, DEFAULT_LAZY_QHIMARK};
pub use kfree::{
    FreeFn, KfreeConfig, KfreeHandle, KfreeHead, KfreeRcu, KfreeStats, ReclaimMode, BLOCK_BYTES,
    BLOCK_SLOTS, DEFAULT_CACHED_BLOCKS, DEFAULT_DRAIN_PERIOD, KFREE_N_BATCHES,
};
pub use reader::{ReadGuard, ThreadHandle};
pub use seq::{seq_done, seq_snap};
