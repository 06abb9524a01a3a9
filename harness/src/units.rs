//! Units the reports and tools share, defined once.

/// Bytes in a MiB: every memory figure is printed in MiB.
pub const MIB: f64 = 1024.0 * 1024.0;
