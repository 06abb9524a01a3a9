//! The shape of one loop (one BPF program run): which keys a producer walks and what the
//! loop counts. Every use case asks this module, so the two benchmark generations differ
//! here and nowhere else.
//!
//! - `Merged`: progs/htab_mem_bench.c as merged. A loop is `OP_BATCH` (64) operations on
//!   keys `idx, idx + nr, ...`; the two producers of an add_del_on_diff_cpu pair share one
//!   batch of 64 keys; batch_add_batch_del counts 2 (two batches).
//! - `Rfc`: the RFC-era program that seed 001's tables come from. `live` keys (max_entries
//!   x full% in the RFC) are split round robin: producer `idx` walks every key below `live`
//!   congruent to `idx` mod `nr` (its CPU id mod the thread count in the RFC), so a loop is
//!   `live / nr` operations. An add_del_on_diff_cpu pair walks every key below `live`
//!   congruent to the pair's index mod `nr / 2` (both producers' shares). Every program run
//!   counts 1, batch_add_batch_del included, and the RFC reported the sum over producers.

use std::iter::StepBy;
use std::ops::Range;

use super::OP_BATCH;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LoopShape {
    #[default]
    Merged,
    Rfc {
        live: u32,
    },
}

impl LoopShape {
    /// The keys producer `idx` of `nr` walks in one loop of overwrite or batch_add_batch_del.
    pub fn own_keys(self, idx: usize, nr: usize) -> StepBy<Range<u32>> {
        self.keys(idx as u32, nr as u32)
    }

    /// The keys the pair of producer `idx` of `nr` adds and deletes in add_del_on_diff_cpu.
    pub fn pair_keys(self, idx: usize, nr: usize) -> StepBy<Range<u32>> {
        self.keys((idx / 2) as u32, (nr / 2).max(1) as u32)
    }

    fn keys(self, first: u32, stride: u32) -> StepBy<Range<u32>> {
        let end = match self {
            LoopShape::Merged => first + OP_BATCH * stride,
            // A producer past the live keys (more producers than keys) walks none.
            LoopShape::Rfc { live } => live.max(first),
        };
        (first..end).step_by(stride as usize)
    }

    /// What one batch_add_batch_del loop adds to the loop count.
    pub fn batch_add_batch_del_count(self) -> u64 {
        match self {
            LoopShape::Merged => 2,
            LoopShape::Rfc { .. } => 1,
        }
    }

    /// The most keys any producer walks in one loop (all but a remainder walk this many).
    pub fn keys_per_loop(self, nr: usize) -> u32 {
        self.own_keys(0, nr).len() as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merged_loops_are_64_keys_strided_by_producers() {
        let s = LoopShape::Merged;
        let k: Vec<u32> = s.own_keys(3, 8).collect();
        assert_eq!(k.len(), 64);
        assert_eq!(&k[..3], &[3, 11, 19]);
        assert_eq!(s.pair_keys(5, 8).len(), 64);
        assert_eq!(s.pair_keys(5, 8).next(), Some(2));
        assert_eq!(s.batch_add_batch_del_count(), 2);
    }

    #[test]
    fn rfc_split_gives_each_producer_its_share_of_the_live_keys() {
        // The seed's setting: 16384 x 50 % = 8192 live keys over 8 producers.
        let s = LoopShape::Rfc { live: 8192 };
        assert_eq!(s.keys_per_loop(8), 1024);
        let mut seen = vec![0u8; 8192];
        for i in 0..8 {
            for k in s.own_keys(i, 8) {
                assert_eq!(k as usize % 8, i, "key {k} is not producer {i}'s");
                seen[k as usize] += 1;
            }
        }
        assert!(seen.iter().all(|&n| n == 1), "every live key is owned once");
        // A pair walks both its producers' shares.
        for i in 0..8 {
            assert_eq!(s.pair_keys(i, 8).len(), 2048);
            assert!(s.pair_keys(i, 8).all(|k| k % 4 == (i / 2) as u32));
        }
        assert_eq!(s.batch_add_batch_del_count(), 1);
    }

    #[test]
    fn rfc_remainders_and_tiny_maps() {
        let s = LoopShape::Rfc { live: 10 };
        let lens: Vec<usize> = (0..4).map(|i| s.own_keys(i, 4).len()).collect();
        assert_eq!(lens, [3, 3, 2, 2]);
        assert_eq!(s.keys_per_loop(4), 3);
        assert_eq!(LoopShape::Rfc { live: 2 }.own_keys(3, 4).len(), 0);
    }
}
