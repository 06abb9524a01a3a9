//! bpf_mem_alloc's per-cache watermarks (memalloc.c, `init_refill_work`).

/// When a cache refills from, and spills to, the layers below it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Watermarks {
    pub low: usize,
    pub high: usize,
    pub batch: usize,
}

impl Watermarks {
    /// The kernel's values for objects of `unit_size` bytes (payload plus header).
    pub fn for_unit(unit_size: usize) -> Watermarks {
        let (low, high) = if unit_size <= 256 {
            (32, 96)
        } else {
            ((32 * 256 / unit_size).max(1), (96 * 256 / unit_size).max(3))
        };
        Watermarks {
            low,
            high,
            batch: ((high - low) / 4 * 3).max(1),
        }
    }

    /// What a spill pops down to.
    pub fn mid(&self) -> usize {
        (self.low + self.high) / 2
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_units_use_32_96_48() {
        assert_eq!(
            Watermarks::for_unit(64),
            Watermarks {
                low: 32,
                high: 96,
                batch: 48
            }
        );
    }

    #[test]
    fn large_units_scale_down() {
        let w = Watermarks::for_unit(4096 + 40);
        assert_eq!((w.low, w.high, w.batch), (1, 5, 3));
    }
}
