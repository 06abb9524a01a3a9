//! rcuscale's kfree test on the driver: one cell per mode (how objects are freed: call_rcu
//! per object, lazy or hurried, or batched kvfree_rcu with whole-batch or polled reclaim).
//! The headline is the rate at which objects went through (objects over the last thread's
//! time, rcuscale's "Total time"), so that higher is better as in the other benchmarks; the
//! memory is the footprint above the run's start.

use std::time::Duration;

use rcu::{Domain, DomainConfig};
use serde::{Deserialize, Serialize};
use workloads::kfree_scale::{KfreeMode, KfreeScale, ScaleConfig, OBJ_BASE};

use super::driver::{self, Ctl};
use super::Ran;
use crate::memory::{live, LiveStats};
use crate::result::{
    AllocCounters, Benchmark, CellResult, DomainReport, KfreeCell, KfreeParams, KvfreeCounters,
    MemLimitCell, Metric, Metrics, RunConfig, Status,
};

/// Memory sampling period while the kfree'ers run.
const TICK: Duration = Duration::from_millis(1);

/// rcuscale's defaults (kfree_alloc_num, kfree_loops, kfree_mult) and the kvfree_rcu
/// model's: KFREE_DRAIN_JIFFIES, jiffies_lazy_flush.
pub const ALLOC_NUM: usize = 8000;
pub const LOOPS: usize = 10;
pub const MULT: usize = 1;
pub const DRAIN_MS: u64 = 20;
pub const LAZY_FLUSH_US: u64 = 10_000_000;

/// The cell's use case: rcuscale's one test.
pub const USE_CASE: &str = "kfree";

/// One mode's run, as the parent validated it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Plan {
    pub nthreads: usize,
    pub alloc_num: usize,
    pub loops: usize,
    pub mult: usize,
    /// `KfreeMode::name`.
    pub mode: String,
    pub drain_ms: u64,
    pub cached_blocks: usize,
    pub rcu_gp_delay_us: u64,
    pub lazy_flush_us: u64,
    pub qhimark: u64,
    /// Thread i runs on `cpus[i % cpus.len()]`; None: unpinned.
    pub cpus: Option<Vec<usize>>,
    /// `--mem-limit`, `--fail-alloc`: kvfree_rcu's blocks are charged and may be refused
    /// (plans written before it: no limit).
    #[serde(default)]
    pub mem: crate::config::MemLimit,
}

impl Plan {
    /// The limits of rcuscale's parameters here; the error names the option.
    pub fn check(&self) -> Result<(), String> {
        let positive = [
            ("--nthreads", self.nthreads),
            ("--alloc-num", self.alloc_num),
            ("--loops", self.loops),
            ("--mult", self.mult),
            ("--drain-ms", self.drain_ms as usize),
            ("--qhimark", self.qhimark.min(usize::MAX as u64) as usize),
        ];
        for (name, v) in positive {
            if v == 0 {
                return Err(format!("{name} must be at least 1"));
            }
        }
        if self.mult > 1 << 20 {
            return Err(format!(
                "--mult {} is too large (at most {})",
                self.mult,
                1 << 20
            ));
        }
        if self.nthreads > 4096 {
            return Err(format!(
                "--nthreads {} is too large (at most 4096)",
                self.nthreads
            ));
        }
        let total = (self.nthreads as u128) * (self.alloc_num as u128) * (self.loops as u128);
        if total > u64::MAX as u128 {
            return Err("--nthreads x --alloc-num x --loops overflows".into());
        }
        self.mode().map(|_| ())
    }

    fn mode(&self) -> Result<KfreeMode, String> {
        KfreeMode::parse(&self.mode).ok_or_else(|| format!("unknown kfree mode '{}'", self.mode))
    }

    pub fn params(&self) -> KfreeParams {
        KfreeParams {
            alloc_num: self.alloc_num,
            loops: self.loops,
            mult: self.mult,
            object_bytes: self.mult * OBJ_BASE,
            drain_ms: self.drain_ms,
            cached_blocks: self.cached_blocks,
            lazy_flush_us: self.lazy_flush_us,
            qhimark: self.qhimark,
        }
    }
}

/// Runs the plan's mode in this process, on an RCU domain of its own.
pub fn run(p: &Plan) -> Result<Ran, String> {
    let mode = p.mode()?;
    let cfg = ScaleConfig {
        nthreads: p.nthreads,
        alloc_num: p.alloc_num,
        loops: p.loops,
        mult: p.mult,
        mode,
        drain_period: Duration::from_millis(p.drain_ms),
        cached_blocks: p.cached_blocks,
        fail_alloc: p.mem.fail(),
    };
    p.mem.install();
    let mem0 = memcg::counts();
    let domain = Domain::new(DomainConfig {
        name: "rcu".into(),
        gp_delay: Duration::from_micros(p.rcu_gp_delay_us),
        lazy_flush: Duration::from_micros(p.lazy_flush_us),
        lazy_qhimark: p.qhimark,
        ..Default::default()
    });
    // Best effort, as rcuscale's set_cpus_allowed_ptr: an unpinned run still counts.
    let cpus: Vec<Option<usize>> = (0..p.nthreads)
        .map(|i| p.cpus.as_ref().map(|c| c[i % c.len()]))
        .collect();
    let test = KfreeScale::new(&cfg, &domain);
    let base = live();
    let mut mem = LiveStats::new(base);
    let worker = |i: usize, ctl: &Ctl| test.thread(i, &|| ctl.ready());
    let monitor = |ctl: &Ctl| ctl.sample_until_finished(TICK, &mut || mem.sample());
    driver::run("kfree", &cpus, worker, monitor);
    let r = test.finish();
    let footprint = mem.avg().minus(base);
    let peak = mem.peak().minus(base);
    let freed = match &r.kfree {
        Some(k) => k.objects_freed + k.fallback_sync,
        None => r.callbacks_invoked,
    };
    let leaked = r.objects.saturating_sub(freed);
    // The mode's own domain: its counters cover this run only.
    let rcu = DomainReport::new(domain.name(), &domain.stats());
    let unit = Benchmark::KfreeRcu.rate_unit();
    let secs = (r.total_ns.max(1)) as f64 / 1e9;
    let mut cell = CellResult {
        status: if leaked > 0 { Status::Leak } else { Status::Ok },
        error: (leaked > 0).then(|| format!("{leaked} objects were never freed")),
        metrics: Metrics::completed(
            Metric::new(r.objects as f64 / secs, None, unit),
            Metric::new(r.objects as f64 / secs / p.nthreads as f64, None, unit),
            (footprint.raw, footprint.charged),
            (peak.raw, peak.charged),
            crate::memory::process_memory().hwm_bytes,
        ),
        allocator: AllocCounters {
            from_system: r.objects,
            to_system: freed,
            leaked: leaked as i64,
            ..Default::default()
        },
        rcu: vec![rcu],
        kfree_rcu: Some(KfreeCell {
            total_ns: r.total_ns,
            batches: r.batches,
            objects: r.objects,
            callbacks_invoked: r.callbacks_invoked,
            kvfree: r.kfree.map(KvfreeCounters::from),
        }),
        ..CellResult::error(
            Benchmark::KfreeRcu,
            USE_CASE,
            mode.name(),
            p.nthreads,
            String::new(),
        )
    };
    let mem1 = memcg::counts();
    cell.mem_limit = Some(MemLimitCell {
        limit_bytes: p.mem.limit_bytes,
        charged_peak_bytes: memcg::peak(),
        hit_mem_limit: mem1.failcnt > mem0.failcnt,
        refused: mem1.failcnt - mem0.failcnt,
        injected: mem1.injected - mem0.injected,
        ..MemLimitCell::default()
    });
    cell.id = cell.expected_id();
    Ok(Ran {
        config: run_config(p),
        cells: vec![cell],
    })
}

pub fn run_config(p: &Plan) -> RunConfig {
    RunConfig {
        benchmark: Benchmark::KfreeRcu,
        affinity: match &p.cpus {
            Some(c) => crate::cpuset::format_cpuset(c),
            None => "none".into(),
        },
        rcu_gp_delay_us: p.rcu_gp_delay_us,
        kfree_rcu: Some(p.params()),
        mem_limit: p.mem.record(),
        ..super::base_config()
    }
}
