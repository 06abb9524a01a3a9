//! `overwrite`: 64 updates (BPF_ANY) of the producer's own keys; every update after the first
//! round replaces an element, so each one allocates and frees.

use allocators::Allocator;

use super::{Producer, UseCase, OP_BATCH};
use crate::htab::UpdateFlag;

pub struct Overwrite;

impl UseCase for Overwrite {
    const NAME: &'static str = "overwrite";

    fn new(_producers: usize) -> Result<Self, String> {
        Ok(Overwrite)
    }

    #[inline]
    fn run_loop<A: Allocator>(&self, p: &mut Producer<'_, A>) -> u64 {
        let _g = super::section(p.gate, &p.rcu);
        for j in 0..OP_BATCH {
            let key = p.own_key(j);
            // Errors are ignored, as the BPF program ignores them.
            let _ = p.map.update(key, &p.value, UpdateFlag::Any);
        }
        1
    }
}
