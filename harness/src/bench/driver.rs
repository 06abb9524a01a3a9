//! The pinned runner every benchmark uses, as bench.c's driver: worker threads, each pinned
//! to its CPU, set themselves up, start together, and a monitor on the calling thread
//! samples while they work -- until it stops them (a timed benchmark) or they all finish (one
//! that runs to completion).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Barrier;
use std::thread;
use std::time::Duration;

/// What workers and the monitor share.
pub struct Ctl {
    start: Barrier,
    stop: AtomicBool,
    /// Set by a timed benchmark's monitor when its measured window begins (the warm-up is
    /// over), so workers can read their own clocks at that moment.
    measuring: AtomicBool,
    finished: AtomicUsize,
    n: usize,
}

impl Ctl {
    /// Workers call it once, set up; they all go at once, with the monitor.
    pub fn ready(&self) {
        self.start.wait();
    }

    /// For a timed benchmark's workers: whether the monitor asked them to stop.
    #[inline]
    pub fn stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// Asks the workers to stop (a timed benchmark's monitor, at the end of its window).
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }

    /// The monitor says the measured window begins.
    pub fn start_measuring(&self) {
        self.measuring.store(true, Ordering::Relaxed);
    }

    /// Whether the measured window has begun.
    #[inline]
    pub fn measuring(&self) -> bool {
        self.measuring.load(Ordering::Relaxed)
    }

    /// Whether every worker has returned.
    pub fn all_finished(&self) -> bool {
        self.finished.load(Ordering::Acquire) == self.n
    }

    /// Sleeps `period` at a time, calling `sample` before each sleep and once more at the
    /// end, until every worker has returned (a benchmark that runs to completion).
    pub fn sample_until_finished(&self, period: Duration, sample: &mut dyn FnMut()) {
        while !self.all_finished() {
            sample();
            thread::sleep(period);
        }
        sample();
    }
}

/// Runs `worker(i, ctl)` on threads `{name}-{i}`, thread i pinned to `cpus[i]` when it is
/// `Some` (one entry per worker), and `monitor(ctl)` on the calling thread once all have
/// called `ctl.ready()`. Returns the monitor's value and how many workers could not be
/// pinned (a run that could not pin still counts; the caller says so).
pub fn run<W, M, R>(name: &str, cpus: &[Option<usize>], worker: W, monitor: M) -> (R, usize)
where
    W: Fn(usize, &Ctl) + Sync,
    M: FnOnce(&Ctl) -> R,
{
    let n = cpus.len();
    let ctl = Ctl {
        start: Barrier::new(n + 1),
        stop: AtomicBool::new(false),
        measuring: AtomicBool::new(false),
        finished: AtomicUsize::new(0),
        n,
    };
    let unpinned = AtomicUsize::new(0);
    let out = thread::scope(|s| {
        for (i, &cpu) in cpus.iter().enumerate() {
            let (ctl, worker, unpinned) = (&ctl, &worker, &unpinned);
            thread::Builder::new()
                .name(format!("{name}-{i}"))
                .spawn_scoped(s, move || {
                    if let Some(id) = cpu {
                        if !core_affinity::set_for_current(core_affinity::CoreId { id }) {
                            unpinned.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    worker(i, ctl);
                    ctl.finished.fetch_add(1, Ordering::Release);
                })
                .expect("spawning a worker thread");
        }
        ctl.ready();
        monitor(&ctl)
    });
    (out, unpinned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU64;

    #[test]
    fn workers_start_together_and_a_timed_monitor_stops_them() {
        let ready = AtomicUsize::new(0);
        let loops = AtomicU64::new(0);
        let (seen, _) = run(
            "t",
            &[None, None, None],
            |_, ctl| {
                ready.fetch_add(1, Ordering::SeqCst);
                ctl.ready();
                while !ctl.stopping() {
                    loops.fetch_add(1, Ordering::Relaxed);
                    thread::yield_now();
                }
            },
            |ctl| {
                // Past the start line every worker is set up.
                let seen = ready.load(Ordering::SeqCst);
                while loops.load(Ordering::Relaxed) == 0 {
                    thread::yield_now();
                }
                ctl.stop();
                seen
            },
        );
        assert_eq!(seen, 3);
        assert!(loops.load(Ordering::Relaxed) > 0);
    }

    #[test]
    fn a_monitor_samples_until_every_worker_finishes() {
        let done = AtomicUsize::new(0);
        let (samples, _) = run(
            "t",
            &[None, None],
            |i, ctl| {
                ctl.ready();
                thread::sleep(Duration::from_millis(20 * (i as u64 + 1)));
                done.fetch_add(1, Ordering::SeqCst);
            },
            |ctl| {
                let mut n = 0;
                ctl.sample_until_finished(Duration::from_millis(1), &mut || n += 1);
                // The last sample comes after the last worker returned.
                assert_eq!(done.load(Ordering::SeqCst), 2);
                n
            },
        );
        assert!(samples >= 2);
    }
}
