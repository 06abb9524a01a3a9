//! `lookup_verify`: the stale-read oracle. Even producers overwrite and delete their keys
//! while odd producers look keys up under the read lock and check that the element found
//! still carries the key asked for and a consistent value stamp (every value word holds
//! `key << 32 | sequence`). With immediate reuse a lookup can return an element that was
//! freed and refilled for another key meanwhile — the "use-after-bpf-ma-free" of seed 001;
//! a flavor that reuses only after a grace period must never produce one. A peer map's lookup
//! returns the value stored under the key asked (a guard or a reference into the live entry),
//! never a recycled element, so its check counts only torn or misfiled values.

use std::sync::atomic::{AtomicU64, Ordering};

use crossbeam_utils::CachePadded;

use super::{Producer, UseCase, OP_BATCH};
use crate::htab::UpdateFlag;
use crate::producer_map::ProducerMap;

pub struct LookupVerify {
    /// Per producer (owner-written): writer sequence numbers, reader lookups and failures.
    seq: Box<[CachePadded<AtomicU64>]>,
    lookups: Box<[CachePadded<AtomicU64>]>,
    incorrect: Box<[CachePadded<AtomicU64>]>,
}

impl UseCase for LookupVerify {
    const NAME: &'static str = "lookup_verify";

    fn new(producers: usize) -> Result<Self, String> {
        if producers < 2 {
            return Err(format!(
                "lookup_verify needs at least 2 producers (writers and readers), got {producers}"
            ));
        }
        let per = || (0..producers).map(|_| CachePadded::default()).collect();
        Ok(LookupVerify {
            seq: per(),
            lookups: per(),
            incorrect: per(),
        })
    }

    fn run_loop<M: ProducerMap>(&self, p: &mut Producer<'_, M>) -> u64 {
        let writers = p.nr.div_ceil(2) as u32;
        if p.idx.is_multiple_of(2) {
            let me = (p.idx / 2) as u32;
            let seq = &self.seq[p.idx];
            let g = super::section::<M>(p.gate, &p.pin);
            for j in 0..OP_BATCH {
                let key = me + j * writers;
                let s = seq.load(Ordering::Relaxed) + 1;
                seq.store(s, Ordering::Relaxed);
                let stamp = (key as u64) << 32 | (s & 0xffff_ffff);
                p.value.iter_mut().for_each(|w| *w = stamp);
                let _ = p.map.update(&g, key, &p.value, UpdateFlag::Any);
                if j % 4 == 3 {
                    let _ = p.map.delete(&g, key);
                }
            }
        } else {
            let g = super::section::<M>(p.gate, &p.pin);
            let (mut found, mut bad) = (0u64, 0u64);
            let base = self.lookups[p.idx].load(Ordering::Relaxed);
            for j in 0..OP_BATCH {
                // Walk all writers' keys in a scattered order.
                let k = (base as u32).wrapping_add(j.wrapping_mul(2_654_435_761));
                let key = (k % writers) + ((k / writers) % OP_BATCH) * writers;
                if let Some(consistent) = p.map.lookup_verify(&g, key) {
                    found += 1;
                    bad += u64::from(!consistent);
                }
            }
            drop(g);
            self.lookups[p.idx].store(base + found, Ordering::Relaxed);
            let inc = &self.incorrect[p.idx];
            inc.store(inc.load(Ordering::Relaxed) + bad, Ordering::Relaxed);
        }
        1
    }

    fn verify(&self) -> Option<(u64, u64)> {
        let sum = |v: &[CachePadded<AtomicU64>]| v.iter().map(|c| c.load(Ordering::Relaxed)).sum();
        Some((sum(&self.lookups), sum(&self.incorrect)))
    }
}
