//! map_perf_test's run on the driver: one worker per "process", pinned to online CPU
//! `i mod n`, each running every enabled test in order, all workers at once (the sample forks
//! them and lets each run its tests); each prints `<i>:<test> <N> events per sec` as it
//! finishes a test. One result cell per test: the workers' events/s summed, and the memory
//! the run held (the whole run's when several tests ran, since workers overlap tests).

use std::sync::Mutex;
use std::time::Duration;

use allocators::{with_flavor, Allocator, Env, FlavorVisitor};
use serde::{Deserialize, Serialize};
use workloads::map_perf_test::{per_sec, Config, Maps, Test};

use super::driver::{self, Ctl};
use super::Ran;
use crate::memory::{live, Live, LiveStats};
use crate::result::{Benchmark, CellResult, MapPerfParams, Metric, Metrics, RunConfig, Status};
use crate::stats::{mean, stddev};

/// Memory sampling period while the workers run.
const TICK: Duration = Duration::from_millis(5);

/// One map_perf_test run, as the parent validated it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Plan {
    /// The enabled tests' bits, in the sample's order.
    pub tests: Vec<u32>,
    pub nr_workers: usize,
    /// 0: each map's own.
    pub num_map_entries: u32,
    pub iterations: u32,
    /// The flavor of the non-preallocated maps (tests 2 and 3).
    pub flavor: String,
    /// Worker i runs on `online[i % online.len()]`.
    pub online: Vec<usize>,
    pub rcu_gp_delay_us: u64,
    pub ttrace_gp_delay_us: u64,
    /// No per-worker lines (a matrix cell).
    pub quiet: bool,
}

impl Plan {
    pub fn tests(&self) -> Vec<Test> {
        let bits: Vec<u32> = self.tests.clone();
        Test::ALL
            .into_iter()
            .filter(|t| bits.contains(&t.bit()))
            .collect()
    }
}

/// A test's cell name: the sample's enum name in lower case (`hash_kmalloc`).
pub fn use_case(t: Test) -> String {
    t.name().to_ascii_lowercase()
}

/// What allocates a test's map elements: the chosen flavor for the bpf_mem_alloc maps,
/// `prealloc` for the preallocated hash maps, `lru` for the LRU maps' own lists and `array`
/// for the array map, which allocates nothing per element.
pub fn cell_flavor(t: Test, flavor: &str) -> &str {
    match t {
        _ if t.uses_mem_alloc() => flavor,
        Test::HashPrealloc | Test::PercpuHashPrealloc | Test::HashLookup => "prealloc",
        Test::ArrayLookup => "array",
        _ => "lru",
    }
}

/// The sample's printf of each test, for worker `cpu` and figure `v`.
pub fn line(t: Test, cpu: usize, v: u64) -> String {
    match t {
        Test::HashPrealloc => format!("{cpu}:hash_map_perf pre-alloc {v} events per sec"),
        Test::PercpuHashPrealloc => {
            format!("{cpu}:percpu_hash_map_perf pre-alloc {v} events per sec")
        }
        Test::HashKmalloc => format!("{cpu}:hash_map_perf kmalloc {v} events per sec"),
        Test::PercpuHashKmalloc => format!("{cpu}:percpu_hash_map_perf kmalloc {v} events per sec"),
        Test::LruHashPrealloc => format!("{cpu}:lru_hash_map_perf pre-alloc {v} events per sec"),
        Test::NocommonLruHashPrealloc => {
            format!("{cpu}:nocommon_lru_hash_map_perf pre-alloc {v} events per sec")
        }
        Test::LpmKmalloc => format!("{cpu}:lpm_perf kmalloc {v} events per sec"),
        Test::HashLookup => format!("{cpu}:hash_lookup {v} lookups per sec"),
        Test::ArrayLookup => format!("{cpu}:array_lookup {v} lookups per sec"),
        Test::InnerLruHashPrealloc => {
            format!("{cpu}:inner_lru_hash_map_perf pre-alloc {v} events per sec")
        }
        Test::LruHashLookup => format!("{cpu}:lru_hash_lookup_perf pre-alloc {v} events per sec"),
    }
}

/// Runs the plan in this process.
pub fn run(p: &Plan) -> Result<Ran, String> {
    struct ByFlavor<'a>(&'a Plan);
    impl FlavorVisitor for ByFlavor<'_> {
        type Output = Result<Ran, String>;
        fn visit<A: Allocator>(self) -> Self::Output {
            run_flavor::<A>(self.0)
        }
    }
    with_flavor(&p.flavor, ByFlavor(p))
        .unwrap_or_else(|| Err(format!("unknown allocator flavor '{}'", p.flavor)))
}

fn run_flavor<A: Allocator>(p: &Plan) -> Result<Ran, String> {
    let tests = p.tests();
    let cfg = Config {
        tests: tests.clone(),
        nr_workers: p.nr_workers,
        num_map_entries: p.num_map_entries,
        iterations: p.iterations,
    };
    let env = Env::new(
        Duration::from_micros(p.rcu_gp_delay_us),
        Duration::from_micros(p.ttrace_gp_delay_us),
    );
    let maps = Maps::<A>::new(&cfg, env)?;
    let cpus: Vec<Option<usize>> = (0..p.nr_workers)
        .map(|i| Some(p.online[i % p.online.len()]))
        .collect();
    // rates[test][worker]: events (or lookups) per second.
    let rates = Mutex::new(vec![vec![0u64; p.nr_workers]; tests.len()]);
    let mut mem = LiveStats::new(live());
    let worker = |i: usize, ctl: &Ctl| {
        let mut w = maps.worker(i);
        ctl.ready();
        for (k, &t) in tests.iter().enumerate() {
            let took = w.run(t, p.iterations);
            let v = per_sec(t, p.iterations, took);
            if !p.quiet {
                println!("{}", line(t, i, v));
            }
            rates.lock().unwrap()[k][i] = v;
        }
    };
    let monitor = |ctl: &Ctl| ctl.sample_until_finished(TICK, &mut || mem.sample());
    let ((), unpinned) = driver::run("map-perf", &cpus, worker, monitor);
    if unpinned > 0 {
        eprintln!("htab-mem: warning: {unpinned} workers could not be pinned to their CPUs");
    }
    let torn = maps.teardown();
    let (avg, peak) = (mem.avg(), mem.peak());
    let rates = rates.into_inner().unwrap();
    let cells = tests
        .iter()
        .zip(&rates)
        .map(|(&t, per_worker)| cell(p, t, per_worker, avg, peak, &torn))
        .collect();
    Ok(Ran {
        config: run_config(p),
        cells,
    })
}

fn cell(
    p: &Plan,
    t: Test,
    per_worker: &[u64],
    avg: Live,
    peak: Live,
    torn: &Result<(), String>,
) -> CellResult {
    let unit = Benchmark::MapPerfTest.rate_unit();
    let rates: Vec<f64> = per_worker.iter().map(|&v| v as f64).collect();
    let (status, error) = match torn {
        Ok(()) => (Status::Ok, None),
        Err(e) if e.contains("never returned") => (Status::Leak, Some(e.clone())),
        Err(e) => (Status::Error, Some(e.clone())),
    };
    let mut r = CellResult {
        status,
        error,
        metrics: Metrics::completed(
            Metric::new(rates.iter().sum(), None, unit),
            Metric::new(mean(&rates), Some(stddev(&rates)), unit),
            (avg.raw, avg.charged),
            (peak.raw, peak.charged),
            crate::memory::process_memory().hwm_bytes,
        ),
        ..CellResult::error(
            Benchmark::MapPerfTest,
            &use_case(t),
            cell_flavor(t, &p.flavor),
            p.nr_workers,
            String::new(),
        )
    };
    r.id = r.expected_id();
    r
}

pub fn run_config(p: &Plan) -> RunConfig {
    RunConfig {
        benchmark: Benchmark::MapPerfTest,
        affinity: crate::cpuset::format_cpuset(&p.online),
        max_entries: u64::from(p.num_map_entries),
        value_size: 8,
        rcu_gp_delay_us: p.rcu_gp_delay_us,
        ttrace_gp_delay_us: p.ttrace_gp_delay_us,
        map_perf_test: Some(MapPerfParams {
            iterations: p.iterations,
        }),
        ..super::base_config()
    }
}
