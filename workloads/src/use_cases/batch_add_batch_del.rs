//! `batch_add_batch_del`: updates of the producer's keys, then deletes of them; counts 2 (two
//! batches of 64) as merged, 1 in the RFC's shape (one program run).

use allocators::Allocator;

use super::{Producer, UseCase};
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
        for key in p.own_keys() {
            let _ = p.map.update(key, &p.value, UpdateFlag::Any);
        }
        for key in p.own_keys() {
            let _ = p.map.delete(key);
        }
        p.shape.batch_add_batch_del_count()
    }
}
