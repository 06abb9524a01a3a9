//! `overwrite`: updates (BPF_ANY) of the producer's own keys (64, or its share of the RFC's
//! live keys); every update after the first round replaces an element, so each one allocates
//! and frees.

use super::{Producer, UseCase};
use crate::producer_map::ProducerMap;
use crate::htab::UpdateFlag;

pub struct Overwrite;

impl UseCase for Overwrite {
    const NAME: &'static str = "overwrite";

    fn new(_producers: usize) -> Result<Self, String> {
        Ok(Overwrite)
    }

    #[inline]
    fn run_loop<M: ProducerMap>(&self, p: &mut Producer<'_, M>) -> u64 {
        let g = super::section::<M>(p.gate, &p.pin);
        for key in p.own_keys() {
            // Errors are ignored, as the BPF program ignores them.
            let _ = p.map.update(&g, key, &p.value, UpdateFlag::Any);
        }
        1
    }
}
