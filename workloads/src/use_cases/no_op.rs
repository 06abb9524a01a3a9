//! `no_op`: a program run that touches nothing; measures what the harness adds per loop.

use allocators::Allocator;

use super::{Producer, UseCase};

pub struct NoOp;

impl UseCase for NoOp {
    const NAME: &'static str = "no_op";

    fn new(_producers: usize) -> Result<Self, String> {
        Ok(NoOp)
    }

    #[inline]
    fn run_loop<A: Allocator>(&self, p: &mut Producer<'_, A>) -> u64 {
        let g = super::section(p.gate, &p.rcu);
        std::hint::black_box(&g);
        1
    }
}
