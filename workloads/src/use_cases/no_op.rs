//! `no_op`: a program run that touches nothing; measures what the harness adds per loop.

use super::{Producer, UseCase};
use crate::producer_map::ProducerMap;

pub struct NoOp;

impl UseCase for NoOp {
    const NAME: &'static str = "no_op";

    fn new(_producers: usize) -> Result<Self, String> {
        Ok(NoOp)
    }

    #[inline]
    fn run_loop<M: ProducerMap>(&self, p: &mut Producer<'_, M>) -> u64 {
        let g = super::section::<M>(p.gate, &p.pin);
        std::hint::black_box(&g);
        1
    }
}
