//! Comparison points for the `rcu` crate.
//!
//! * [`urcu`] (cargo feature `liburcu`): liburcu's memb flavor, the algorithm `rcu` readers
//!   follow, through a small hand-written FFI to Debian's liburcu-dev (0.13).
//! * crossbeam-epoch, re-exported as [`epoch`]: epoch-based reclamation, Rust's usual answer.
//!
//! `cargo bench -p rcu-peers [--features liburcu]` measures all of them side by side.

#![deny(unsafe_op_in_unsafe_fn)]

pub use crossbeam_epoch as epoch;

#[cfg(feature = "liburcu")]
pub mod urcu;
