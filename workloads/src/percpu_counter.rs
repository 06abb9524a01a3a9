//! The kernel's `percpu_counter` as hashtab.c uses it for the element count: per-CPU deltas
//! folded into a global count in batches, so counting does not bounce one cache line.

use std::sync::atomic::{AtomicI64, Ordering};

use crossbeam_utils::CachePadded;

/// PERCPU_COUNTER_BATCH in hashtab.c.
pub const PERCPU_COUNTER_BATCH: i64 = 32;

pub struct PercpuCounter {
    global: CachePadded<AtomicI64>,
    /// Written by the owning CPU only.
    local: Box<[CachePadded<AtomicI64>]>,
}

impl PercpuCounter {
    pub fn new(nr_cpus: usize) -> Self {
        PercpuCounter {
            global: CachePadded::new(AtomicI64::new(0)),
            local: (0..nr_cpus.max(1))
                .map(|_| CachePadded::default())
                .collect(),
        }
    }

    /// percpu_counter_add_batch; `cpu` is the caller's own CPU.
    #[inline]
    pub fn add(&self, cpu: usize, v: i64) {
        let l = &self.local[cpu];
        let n = l.load(Ordering::Relaxed) + v;
        if n.abs() >= PERCPU_COUNTER_BATCH {
            self.global.fetch_add(n, Ordering::Relaxed);
            l.store(0, Ordering::Relaxed);
        } else {
            l.store(n, Ordering::Relaxed);
        }
    }

    /// The exact sum (percpu_counter_sum).
    pub fn sum(&self) -> i64 {
        self.global.load(Ordering::Relaxed)
            + self
                .local
                .iter()
                .map(|l| l.load(Ordering::Relaxed))
                .sum::<i64>()
    }

    /// `__percpu_counter_compare(c, rhs, batch) >= 0`: cheap unless the count is near `rhs`.
    #[inline]
    pub fn at_least(&self, rhs: i64) -> bool {
        let g = self.global.load(Ordering::Relaxed);
        let slack = PERCPU_COUNTER_BATCH * self.local.len() as i64;
        if g - slack >= rhs {
            true
        } else if g + slack < rhs {
            false
        } else {
            self.sum() >= rhs
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_batches_and_compares_exactly_near_the_limit() {
        let c = PercpuCounter::new(4);
        for cpu in 0..4 {
            for _ in 0..100 {
                c.add(cpu, 1);
            }
        }
        assert_eq!(c.sum(), 400);
        assert!(c.at_least(400));
        assert!(!c.at_least(401));
        for _ in 0..50 {
            c.add(2, -1);
        }
        assert_eq!(c.sum(), 350);
        assert!(!c.at_least(351));
    }
}
