//! The overwrite use case on each peer map, driven directly: no `ProducerMap`, no `Producer`,
//! no child process, no sampler. Producer i of p, pinned to online CPU i mod the CPUs, runs
//! loops of 64 insert-or-replace of keys `i + j*p` (j < 64) with an 8-byte value, one pinned
//! guard per loop where the map has guards, into a map pre-sized to max(8192, 64p) keys;
//! 1 s of warm-up, then 3 s measured. It prints loops/s per producer, the figure the tool's
//! `loop (k/s)` column gives for `-A peer:NAME --use-case overwrite` (docs/peers.md). It
//! allocates through the tool's counting global allocator, as the tool's child does, so the
//! two differ by the tool's traits, producer loop and sampler only. Beside the wall-clock
//! rate it prints loops per second of each producer's own CPU time, the figure `--robust`
//! prints (`Robust: per-prod-op ... of CPU time`), which holds on a machine shared with
//! other work.
//!
//!     cargo run --release -p harness --example peer_direct -- [-p N] [dashmap,papaya,scc,flurry]

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Barrier;
use std::time::{Duration, Instant};

const OP_BATCH: u32 = 64;

#[global_allocator]
static ALLOC: harness::memory::CountingAlloc = harness::memory::CountingAlloc;

/// One loop of 64 updates of producer `idx`'s keys.
trait Direct: Sync {
    fn run_loop(&self, idx: u32, nr: u32);
}

impl Direct for dashmap::DashMap<u32, u64> {
    fn run_loop(&self, idx: u32, nr: u32) {
        for j in 0..OP_BATCH {
            self.insert(idx + j * nr, 0);
        }
    }
}

impl Direct for papaya::HashMap<u32, u64> {
    fn run_loop(&self, idx: u32, nr: u32) {
        let m = self.pin();
        for j in 0..OP_BATCH {
            m.insert(idx + j * nr, 0);
        }
    }
}

impl Direct for scc::HashMap<u32, u64> {
    fn run_loop(&self, idx: u32, nr: u32) {
        for j in 0..OP_BATCH {
            self.upsert_sync(idx + j * nr, 0);
        }
    }
}

impl Direct for flurry::HashMap<u32, u64> {
    fn run_loop(&self, idx: u32, nr: u32) {
        let g = self.guard();
        for j in 0..OP_BATCH {
            self.insert(idx + j * nr, 0, &g);
        }
    }
}

/// Loops/s per producer over the measured seconds: of wall-clock time, and of each
/// producer's own CPU time (the mean over producers).
fn measure(map: &dyn Direct, p: usize, warmup: Duration, duration: Duration) -> (f64, f64) {
    let cores = core_affinity::get_core_ids().unwrap_or_default();
    let (measuring, stop) = (AtomicBool::new(false), AtomicBool::new(false));
    let loops: Vec<AtomicU64> = (0..p).map(|_| AtomicU64::new(0)).collect();
    let start = Barrier::new(p + 1);
    std::thread::scope(|s| {
        let threads: Vec<_> = (0..p)
            .map(|i| {
                let (measuring, stop, loops, start, cores) =
                    (&measuring, &stop, &loops, &start, &cores);
                s.spawn(move || {
                    if !cores.is_empty() {
                        core_affinity::set_for_current(cores[i % cores.len()]);
                    }
                    start.wait();
                    let (mut n, mut at_start) = (0u64, None);
                    while !stop.load(Ordering::Relaxed) {
                        if at_start.is_none() && measuring.load(Ordering::Relaxed) {
                            at_start = Some((n, harness::machine::thread_cpu_ns()));
                        }
                        map.run_loop(i as u32, p as u32);
                        n += 1;
                        loops[i].store(n, Ordering::Relaxed);
                    }
                    match (at_start, harness::machine::thread_cpu_ns()) {
                        (Some((n0, Some(c0))), Some(c1)) if c1 > c0 => {
                            (n - n0) as f64 / ((c1 - c0) as f64 / 1e9)
                        }
                        _ => 0.0,
                    }
                })
            })
            .collect();
        start.wait();
        std::thread::sleep(warmup);
        let sum = || loops.iter().map(|l| l.load(Ordering::Relaxed)).sum::<u64>();
        measuring.store(true, Ordering::Relaxed);
        let (t0, n0) = (Instant::now(), sum());
        std::thread::sleep(duration);
        let (t1, n1) = (Instant::now(), sum());
        stop.store(true, Ordering::Relaxed);
        let cpu: f64 = threads.into_iter().map(|t| t.join().unwrap()).sum();
        let wall = (n1 - n0) as f64 / p as f64 / (t1 - t0).as_secs_f64();
        (wall, cpu / p as f64)
    })
}

fn main() {
    let mut p = 2usize;
    let mut peers = "dashmap,papaya,scc,flurry".to_string();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "-p" => p = args.next().and_then(|v| v.parse().ok()).unwrap_or(0),
            _ => peers = a,
        }
    }
    if p == 0 {
        eprintln!("peer_direct: -p needs a producer count of at least 1");
        std::process::exit(2);
    }
    let cap = (64 * p).max(8192);
    let (warmup, duration) = (Duration::from_secs(1), Duration::from_secs(3));
    for name in peers.split(',') {
        let map: Box<dyn Direct> = match name {
            "dashmap" => Box::new(dashmap::DashMap::<u32, u64>::with_capacity(cap)),
            "papaya" => Box::new(papaya::HashMap::<u32, u64>::with_capacity(cap)),
            "scc" => Box::new(scc::HashMap::<u32, u64>::with_capacity(cap)),
            "flurry" => Box::new(flurry::HashMap::<u32, u64>::with_capacity(cap)),
            _ => {
                eprintln!(
                    "peer_direct: unknown peer map '{name}' (known: dashmap, papaya, scc, flurry)"
                );
                std::process::exit(2);
            }
        };
        let (wall, cpu) = measure(&*map, p, warmup, duration);
        println!(
            "peer:{name}: {:.2} k loops/s per producer, {:.2} k/s of CPU time ({p} producers, \
             overwrite, direct)",
            wall / 1000.0,
            cpu / 1000.0
        );
    }
}
