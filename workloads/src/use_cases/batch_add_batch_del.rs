//! `batch_add_batch_del`: updates of the producer's keys, then deletes of them; counts 2 (two
//! batches of 64) as merged, 1 in the RFC's shape (one program run).

use super::{Producer, UseCase};
use crate::producer_map::ProducerMap;
use crate::htab::UpdateFlag;

pub struct BatchAddBatchDel;

impl UseCase for BatchAddBatchDel {
    const NAME: &'static str = "batch_add_batch_del";

    fn new(_producers: usize) -> Result<Self, String> {
        Ok(BatchAddBatchDel)
    }

    #[inline]
    fn run_loop<M: ProducerMap>(&self, p: &mut Producer<'_, M>) -> u64 {
        let g = super::section::<M>(p.gate, &p.pin);
        for key in p.own_keys() {
            let _ = p.map.update(&g, key, &p.value, UpdateFlag::Any);
        }
        for key in p.own_keys() {
            let _ = p.map.delete(&g, key);
        }
        p.shape.batch_add_batch_del_count()
    }
}
