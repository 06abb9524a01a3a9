//! `add_del_on_diff_cpu`: producers pair up; the even one adds the pair's keys (NOEXIST: 64,
//! or both producers' shares of the RFC's live keys), the odd one deletes them, strictly
//! alternating through a 2-party barrier per pair as the kernel bench does with pthread
//! barriers — allocation on one CPU, free on another. Each side counts 1 per loop.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex};

use super::{Producer, UseCase};
use crate::producer_map::ProducerMap;
use crate::htab::UpdateFlag;

pub struct AddDelOnDiffCpu {
    pairs: Box<[PairBarrier]>,
    stopped: AtomicBool,
}

impl UseCase for AddDelOnDiffCpu {
    const NAME: &'static str = "add_del_on_diff_cpu";

    fn new(producers: usize) -> Result<Self, String> {
        if !producers.is_multiple_of(2) {
            return Err(format!(
                "add_del_on_diff_cpu needs an even number of producers, got {producers}"
            ));
        }
        Ok(AddDelOnDiffCpu {
            pairs: (0..producers / 2).map(|_| PairBarrier::default()).collect(),
            stopped: AtomicBool::new(false),
        })
    }

    fn run_loop<M: ProducerMap>(&self, p: &mut Producer<'_, M>) -> u64 {
        let pair = &self.pairs[p.idx / 2];
        if p.idx.is_multiple_of(2) {
            {
                let g = super::section::<M>(p.gate, &p.pin);
                for key in p.pair_keys() {
                    let _ = p.map.update(&g, key, &p.value, UpdateFlag::NoExist);
                }
            }
            p.leave_cpu();
            pair.wait(&self.stopped);
            pair.wait(&self.stopped);
        } else {
            p.leave_cpu();
            pair.wait(&self.stopped);
            {
                let g = super::section::<M>(p.gate, &p.pin);
                for key in p.pair_keys() {
                    let _ = p.map.delete(&g, key);
                }
            }
            p.leave_cpu();
            pair.wait(&self.stopped);
        }
        1
    }

    fn stop(&self) {
        self.stopped.store(true, Ordering::SeqCst);
        for p in self.pairs.iter() {
            let _g = p.state.lock().unwrap();
            p.cv.notify_all();
        }
    }
}

/// pthread_barrier_wait for two threads, which `stop` releases for good.
#[derive(Default)]
struct PairBarrier {
    /// (threads arrived in this generation, generation)
    state: Mutex<(u32, u64)>,
    cv: Condvar,
}

impl PairBarrier {
    fn wait(&self, stopped: &AtomicBool) {
        let mut s = self.state.lock().unwrap();
        if stopped.load(Ordering::SeqCst) {
            return;
        }
        let gen = s.1;
        s.0 += 1;
        if s.0 == 2 {
            *s = (0, gen + 1);
            self.cv.notify_all();
            return;
        }
        while s.1 == gen && !stopped.load(Ordering::SeqCst) {
            s = self.cv.wait(s).unwrap();
        }
    }
}
