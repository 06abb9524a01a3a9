//! `batch_add_batch_del`: 64 updates of the producer's keys, then 64 deletes of them; counts 2.

use allocators::Allocator;

use super::{Producer, UseCase, OP_BATCH};
use crate::htab::UpdateFlag;

pub struct BatchAddBatchDel;

impl UseCase for BatchAddBatchDel {
    const NAME: &'static str = "batch_add_batch_del";

    fn new(_producers: usize) -> Result<Self, String> {
        Ok(BatchAddBatchDel)
    }

    #[inline]
    fn run_loop<A: Allocator>(&self, p: &mut Producer<'_, A>) -> u64 {
        let _g = super::section(p.gate, &p.rcu);
        for j in 0..OP_BATCH {
            let _ = p.map.update(p.own_key(j), &p.value, UpdateFlag::Any);
        }
        for j in 0..OP_BATCH {
            let _ = p.map.delete(p.own_key(j));
        }
        2
    }
}
