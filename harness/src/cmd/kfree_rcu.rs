//! `htab-mem kfree-rcu`: the kernel's rcuscale kfree_rcu test (kernel/rcu/rcuscale.c) with
//! per-object call_rcu (hurried or lazy), batched kvfree_rcu, and batched kvfree_rcu with
//! polled reclaim.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use rcu::{Domain, DomainConfig, KfreeStats};
use serde::Serialize;
use workloads::kfree_scale::{self, KfreeMode, ScaleConfig, ScaleResult, OBJ_BASE};

use crate::result::DomainReport;
use crate::{bad_input, host, memory, report};

use crate::units::MIB;
/// Memory sampling period while the kfree'ers run.
const TICK: Duration = Duration::from_millis(1);

#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// kfree_nthreads: threads running the kfree loops (default: one per online CPU).
    #[arg(long, value_name = "N")]
    pub nthreads: Option<usize>,
    /// kfree_alloc_num: allocations and frees per loop.
    #[arg(long, default_value_t = 8000, value_name = "N")]
    pub alloc_num: usize,
    /// kfree_loops: loops per thread.
    #[arg(long, default_value_t = 10, value_name = "N")]
    pub loops: usize,
    /// kfree_mult: object size multiplier (object = mult x 32 bytes: 8 + a 24-byte head).
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub mult: usize,
    /// call-rcu (one call_rcu per object), call-rcu-lazy (the same, lazy as under
    /// CONFIG_RCU_LAZY), batched (kvfree_rcu, whole-batch reclaim), batched-polled
    /// (kvfree_rcu, per-block polled reclaim), or all four.
    #[arg(long, default_value = "batched-polled", value_name = "MODE")]
    pub mode: String,
    #[command(flatten)]
    pub rcu_gp: crate::cli::RcuGpDelay,
    /// call-rcu-lazy: a thread's lazy callbacks are flushed at the latest this long after the
    /// first (the kernel's jiffies_lazy_flush): 10s, 500ms.
    #[arg(long = "lazy-flush", default_value = "10s", value_name = "DURATION",
        value_parser = crate::cli::parse_delay_us, allow_hyphen_values = true)]
    pub lazy_flush_us: u64,
    /// call-rcu-lazy: ... or as soon as a thread has this many (the kernel's qhimark).
    #[arg(long, default_value_t = rcu::DEFAULT_LAZY_QHIMARK, value_name = "N")]
    pub qhimark: u64,
    /// The kvfree_rcu monitor's period, milliseconds (KFREE_DRAIN_JIFFIES).
    #[arg(long, default_value_t = 20, value_name = "MS")]
    pub drain_ms: u64,
    /// Pre-allocated blocks per thread (rcu_min_cached_objs).
    #[arg(long, default_value_t = rcu::DEFAULT_CACHED_BLOCKS, value_name = "N")]
    pub cached_blocks: usize,
    /// Do not pin thread i to online CPU i mod n.
    #[arg(long)]
    pub no_affinity: bool,
    /// Print the RCU domain's statistics after each mode (grace periods with their duration
    /// percentiles, callbacks, callback latency, lazy flushes); the JSON has them regardless.
    #[arg(long)]
    pub rcu_stats: bool,
    /// Write the results as JSON, whole, at the end.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
}

#[derive(Serialize)]
struct JsonOut {
    tool: &'static str,
    host: host::HostInfo,
    config: JsonConfig,
    results: Vec<ModeOut>,
}

#[derive(Serialize)]
struct JsonConfig {
    nthreads: usize,
    alloc_num: usize,
    loops: usize,
    mult: usize,
    object_bytes: usize,
    rcu_gp_delay_us: u64,
    drain_ms: u64,
    cached_blocks: usize,
    lazy_flush_us: u64,
    qhimark: u64,
}

#[derive(Serialize, Clone)]
struct ModeOut {
    mode: String,
    total_ns: u64,
    loops: usize,
    batches: u64,
    objects: u64,
    /// Average live heap during the run minus the value at its start.
    mem_footprint_bytes: i64,
    mem_peak_bytes: i64,
    callbacks_invoked: u64,
    lazy_flushes: Option<LazyOut>,
    kfree: Option<KfreeOut>,
    leaked: u64,
    /// The mode's RCU domain over the test and the final drain.
    rcu: DomainReport,
}

/// Why lazy callbacks were flushed into grace periods (call-rcu-lazy).
#[derive(Serialize, Clone)]
struct LazyOut {
    full: u64,
    timer: u64,
    other: u64,
}

#[derive(Serialize, Clone)]
struct KfreeOut {
    blocks_allocated: u64,
    blocks_freed: u64,
    pointers_batched: u64,
    fallback_list: u64,
    fallback_sync: u64,
    blocks_reclaimed_early: u64,
    batches_to_worker: u64,
    grace_periods: u64,
}

impl From<KfreeStats> for KfreeOut {
    fn from(s: KfreeStats) -> Self {
        KfreeOut {
            blocks_allocated: s.blocks_allocated,
            blocks_freed: s.blocks_freed,
            pointers_batched: s.pointers_batched,
            fallback_list: s.fallback_list,
            fallback_sync: s.fallback_sync,
            blocks_reclaimed_early: s.blocks_reclaimed_early,
            batches_to_worker: s.batches,
            grace_periods: s.grace_periods,
        }
    }
}

/// The validated run.
struct Plan {
    cfg: ScaleConfig,
    modes: Vec<KfreeMode>,
    gp_delay: Duration,
    lazy_flush: Duration,
    qhimark: u64,
    cpus: Vec<usize>,
    pin: bool,
}

fn validate(a: &Args) -> Result<Plan, String> {
    let cpus = host::online_cpus();
    let nthreads = a.nthreads.unwrap_or(cpus.len());
    let positive = [
        ("--nthreads", nthreads),
        ("--alloc-num", a.alloc_num),
        ("--loops", a.loops),
        ("--mult", a.mult),
        ("--cached-blocks", a.cached_blocks),
        ("--drain-ms", a.drain_ms as usize),
        ("--qhimark", a.qhimark.min(usize::MAX as u64) as usize),
    ];
    for (name, v) in positive {
        if v == 0 {
            return Err(format!("{name} must be at least 1"));
        }
    }
    if a.mult > 1 << 20 {
        return Err(format!(
            "--mult {} is too large (at most {})",
            a.mult,
            1 << 20
        ));
    }
    if nthreads > 4096 {
        return Err(format!("--nthreads {nthreads} is too large (at most 4096)"));
    }
    if (nthreads as u128) * (a.alloc_num as u128) * (a.loops as u128) > u64::MAX as u128 {
        return Err("--nthreads x --alloc-num x --loops overflows".into());
    }
    let modes = if a.mode == "all" {
        KfreeMode::ALL.to_vec()
    } else {
        match KfreeMode::parse(&a.mode) {
            Some(m) => vec![m],
            None => {
                return Err(format!(
                    "unknown --mode '{}' (call-rcu, call-rcu-lazy, batched, batched-polled, all)",
                    a.mode
                ))
            }
        }
    };
    if let Some(p) = &a.json {
        crate::result::check_output_path("--json", p)?;
    }
    Ok(Plan {
        cfg: ScaleConfig {
            nthreads,
            alloc_num: a.alloc_num,
            loops: a.loops,
            mult: a.mult,
            mode: modes[0],
            drain_period: Duration::from_millis(a.drain_ms),
            cached_blocks: a.cached_blocks,
        },
        modes,
        gp_delay: Duration::from_micros(a.rcu_gp.rcu_gp_delay_us),
        lazy_flush: Duration::from_micros(a.lazy_flush_us),
        qhimark: a.qhimark,
        cpus,
        pin: !a.no_affinity,
    })
}

pub fn run(a: Args) -> ExitCode {
    let plan = match validate(&a) {
        Ok(p) => p,
        Err(e) => return bad_input(&e),
    };
    let mut outs = Vec::new();
    for &mode in &plan.modes {
        let cfg = ScaleConfig {
            mode,
            ..plan.cfg.clone()
        };
        println!(
            "kfree-rcu: mode {}, kfree_nthreads={} kfree_alloc_num={} kfree_loops={} kfree_mult={}, object size {} bytes",
            mode.name(),
            cfg.nthreads,
            cfg.alloc_num,
            cfg.loops,
            cfg.mult,
            cfg.mult * OBJ_BASE
        );
        let out = run_mode(&plan, &cfg);
        println!(
            "Total time taken by all kfree'ers: {} ns, loops: {}, batches: {}, memory footprint: {} MB",
            out.total_ns,
            out.loops,
            out.batches,
            out.mem_footprint_bytes >> 20
        );
        println!("{}", detail_line(&out));
        if a.rcu_stats {
            println!("{}", report::rcu_stats_line(&out.rcu));
        }
        outs.push(out);
    }
    if outs.len() > 1 {
        println!();
        println!("{}", comparison_table(&outs));
    }
    if let Some(path) = &a.json {
        let file = JsonOut {
            tool: "htab-mem kfree-rcu",
            host: host::host_info(),
            config: JsonConfig {
                nthreads: plan.cfg.nthreads,
                alloc_num: plan.cfg.alloc_num,
                loops: plan.cfg.loops,
                mult: plan.cfg.mult,
                object_bytes: plan.cfg.mult * OBJ_BASE,
                rcu_gp_delay_us: a.rcu_gp.rcu_gp_delay_us,
                drain_ms: a.drain_ms,
                cached_blocks: a.cached_blocks,
                lazy_flush_us: a.lazy_flush_us,
                qhimark: a.qhimark,
            },
            results: outs.clone(),
        };
        if let Err(e) = write_json(path, &file) {
            eprintln!("htab-mem: {e}");
            return ExitCode::FAILURE;
        }
    }
    if outs.iter().any(|o| o.leaked > 0) {
        eprintln!("htab-mem: kfree-rcu: objects were never freed");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

fn run_mode(plan: &Plan, cfg: &ScaleConfig) -> ModeOut {
    let domain = Domain::new(DomainConfig {
        name: "rcu".into(),
        gp_delay: plan.gp_delay,
        lazy_flush: plan.lazy_flush,
        lazy_qhimark: plan.qhimark,
        ..Default::default()
    });
    let cpus = &plan.cpus;
    let pin = |i: usize| {
        if plan.pin {
            let id = cpus[i % cpus.len()];
            // Best effort, as rcuscale's set_cpus_allowed_ptr: an unpinned run still counts.
            let _ = core_affinity::set_for_current(core_affinity::CoreId { id });
        }
    };
    let base = memory::live_bytes();
    let (mut sum, mut n, mut peak) = (0i128, 0i128, base);
    let mut tick = || {
        let v = memory::live_bytes();
        sum += v as i128;
        n += 1;
        peak = peak.max(v);
    };
    let r: ScaleResult = kfree_scale::run(cfg, &domain, &pin, TICK, &mut tick);
    let avg = if n > 0 { (sum / n) as i64 } else { base };
    let freed = match &r.kfree {
        Some(k) => k.objects_freed + k.fallback_sync,
        None => r.callbacks_invoked,
    };
    // The mode's own domain: its counters cover this run only.
    let rcu = DomainReport::new(domain.name(), &domain.stats());
    ModeOut {
        mode: cfg.mode.name().into(),
        total_ns: r.total_ns,
        loops: cfg.loops,
        batches: r.batches,
        objects: r.objects,
        mem_footprint_bytes: avg - base,
        mem_peak_bytes: peak - base,
        callbacks_invoked: r.callbacks_invoked,
        lazy_flushes: (cfg.mode == KfreeMode::CallRcuLazy).then_some(LazyOut {
            full: rcu.lazy_flushes_full,
            timer: rcu.lazy_flushes_timer,
            other: rcu.lazy_flushes_other,
        }),
        kfree: r.kfree.map(KfreeOut::from),
        leaked: r.objects.saturating_sub(freed),
        rcu,
    }
}

fn detail_line(o: &ModeOut) -> String {
    let mut s = format!(
        "kfree-rcu: {}: footprint {:.3} MiB average, {:.3} MiB peak, {} objects, {} leaked",
        o.mode,
        o.mem_footprint_bytes as f64 / MIB,
        o.mem_peak_bytes as f64 / MIB,
        o.objects,
        o.leaked
    );
    if let Some(k) = &o.kfree {
        s += &format!(
            "; blocks {} allocated / {} freed, {} early, {} pointers batched, fallbacks {} list / {} sync, {} batches to the worker",
            k.blocks_allocated,
            k.blocks_freed,
            k.blocks_reclaimed_early,
            k.pointers_batched,
            k.fallback_list,
            k.fallback_sync,
            k.batches_to_worker
        );
    } else {
        s += &format!("; {} callbacks invoked", o.callbacks_invoked);
    }
    if let Some(l) = &o.lazy_flushes {
        s += &format!(
            "; lazy flushes {} full / {} timer / {} other",
            l.full, l.timer, l.other
        );
    }
    s
}

fn comparison_table(outs: &[ModeOut]) -> String {
    let base = outs.iter().find(|o| o.mode == "call-rcu");
    let mut t = String::from(
        "| mode | time (ms) | batches (GPs) | footprint avg (MiB) | footprint peak (MiB) | time vs call-rcu | footprint vs call-rcu |\n\
         | -- | -- | -- | -- | -- | -- | -- |\n",
    );
    for o in outs {
        let (tr, fr) = match base {
            Some(b) if b.total_ns > 0 => (
                format!("{:.2}x", o.total_ns as f64 / b.total_ns as f64),
                if b.mem_footprint_bytes > 0 {
                    format!(
                        "{:.3}x",
                        o.mem_footprint_bytes as f64 / b.mem_footprint_bytes as f64
                    )
                } else {
                    "-".into()
                },
            ),
            _ => ("-".into(), "-".into()),
        };
        t += &format!(
            "| {} | {:.1} | {} | {:.3} | {:.3} | {} | {} |\n",
            o.mode,
            o.total_ns as f64 / 1e6,
            o.batches,
            o.mem_footprint_bytes as f64 / MIB,
            o.mem_peak_bytes as f64 / MIB,
            tr,
            fr
        );
    }
    t.pop();
    t
}

/// Whole or not at all (`write_bytes_atomic`).
fn write_json(path: &Path, v: &JsonOut) -> Result<(), String> {
    let text = serde_json::to_string_pretty(v).map_err(|e| format!("serialising: {e}"))?;
    crate::result::write_bytes_atomic(path, (text + "\n").as_bytes(), "")
}
