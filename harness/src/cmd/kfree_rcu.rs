//! `htab-mem kfree-rcu`: the kernel's rcuscale kfree_rcu test (kernel/rcu/rcuscale.c) with
//! per-object call_rcu (hurried or lazy), batched kvfree_rcu, and batched kvfree_rcu with
//! polled reclaim.

use std::path::PathBuf;

use workloads::kfree_scale::{KfreeMode, OBJ_BASE};

use crate::bench::kfree_rcu::{self, Plan};
use crate::error::{Error, OrBadInput, OrFailed, Result};
use crate::result::{self, CellResult, ResultFile, Status};
use crate::units::MIB;
use crate::{host, report};

#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// kfree_nthreads: threads running the kfree loops (default: one per online CPU).
    #[arg(long, value_name = "N")]
    pub nthreads: Option<usize>,
    /// kfree_alloc_num: allocations and frees per loop.
    #[arg(long, default_value_t = kfree_rcu::ALLOC_NUM, value_name = "N")]
    pub alloc_num: usize,
    /// kfree_loops: loops per thread.
    #[arg(long, default_value_t = kfree_rcu::LOOPS, value_name = "N")]
    pub loops: usize,
    /// kfree_mult: object size multiplier (object = mult x 32 bytes: 8 + a 24-byte head).
    #[arg(long, default_value_t = kfree_rcu::MULT, value_name = "N")]
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
    #[arg(long, default_value_t = kfree_rcu::DRAIN_MS, value_name = "MS")]
    pub drain_ms: u64,
    /// Pre-allocated blocks per thread (rcu_min_cached_objs).
    #[arg(long, default_value_t = rcu::DEFAULT_CACHED_BLOCKS, value_name = "N")]
    pub cached_blocks: usize,
    #[command(flatten)]
    pub mem: crate::cli::MemLimitArgs,
    /// Do not pin thread i to online CPU i mod n.
    #[arg(long)]
    pub no_affinity: bool,
    /// Print the RCU domain's statistics after each mode (grace periods with their duration
    /// percentiles, callbacks, callback latency, lazy flushes); the JSON has them regardless.
    #[arg(long)]
    pub rcu_stats: bool,
    /// Write the results in the native JSON schema (one cell per mode), whole, at the end.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
}

/// The validated run: one plan per mode.
fn validate(a: &Args) -> Result<Vec<Plan>, String> {
    let cpus = host::online_cpus();
    let nthreads = a.nthreads.unwrap_or(cpus.len());
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
    let mem = a.mem.settings()?;
    if let Some(p) = &a.json {
        crate::result::check_output_path("--json", p)?;
    }
    let plans: Vec<Plan> = modes
        .into_iter()
        .map(|m| Plan {
            nthreads,
            alloc_num: a.alloc_num,
            loops: a.loops,
            mult: a.mult,
            mode: m.name().into(),
            drain_ms: a.drain_ms,
            cached_blocks: a.cached_blocks,
            rcu_gp_delay_us: a.rcu_gp.rcu_gp_delay_us,
            lazy_flush_us: a.lazy_flush_us,
            qhimark: a.qhimark,
            cpus: (!a.no_affinity).then(|| cpus.clone()),
            mem: mem.clone(),
        })
        .collect();
    plans[0].check()?;
    Ok(plans)
}

pub fn run(a: Args) -> Result {
    let plans = validate(&a).or_bad_input()?;
    let mut cells = Vec::new();
    let mut config = None;
    for plan in &plans {
        println!(
            "kfree-rcu: mode {}, kfree_nthreads={} kfree_alloc_num={} kfree_loops={} kfree_mult={}, object size {} bytes",
            plan.mode,
            plan.nthreads,
            plan.alloc_num,
            plan.loops,
            plan.mult,
            plan.mult * OBJ_BASE
        );
        println!("kfree-rcu: memory limit {}", plan.mem.describe());
        let ran = kfree_rcu::run(plan).map_err(|e| Error::Failed(format!("kfree-rcu: {e}")))?;
        for c in &ran.cells {
            let k = c.kfree_rcu.clone().unwrap_or_default();
            // rcuscale.c's pr_alert, byte for byte: `memory footprint: %lldMB`, no space.
            println!(
                "Total time taken by all kfree'ers: {} ns, loops: {}, batches: {}, memory footprint: {}MB",
                k.total_ns,
                plan.loops,
                k.batches,
                (c.metrics.mem_avg.value as i64) >> 20
            );
            println!("{}", detail_line(c));
            if a.rcu_stats {
                for d in &c.rcu {
                    println!("{}", report::rcu_stats_line(d));
                }
            }
        }
        config.get_or_insert(ran.config);
        cells.extend(ran.cells);
    }
    if cells.len() > 1 {
        println!();
        println!("{}", comparison_table(&cells));
    }
    if let (Some(path), Some(config)) = (&a.json, config) {
        let file = ResultFile {
            schema_version: result::SCHEMA_VERSION,
            tool: result::TOOL.to_string(),
            git_sha: result::git_sha(),
            timestamp: result::utc_timestamp(),
            host: host::host_info(),
            config,
            results: cells.clone(),
        };
        result::write_atomic(path, &file).or_failed()?;
    }
    if cells.iter().any(|c| c.status != Status::Ok) {
        return Err(Error::Failed("kfree-rcu: objects were never freed".into()));
    }
    Ok(())
}

fn detail_line(c: &CellResult) -> String {
    let k = c.kfree_rcu.clone().unwrap_or_default();
    let mut s = format!(
        "kfree-rcu: {}: footprint {:.3} MiB average, {:.3} MiB peak, {} objects, {} leaked",
        c.flavor,
        c.metrics.mem_avg.value / MIB,
        c.metrics.mem_peak.value / MIB,
        k.objects,
        c.allocator.leaked
    );
    if let Some(k) = &k.kvfree {
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
        s += &format!("; {} callbacks invoked", k.callbacks_invoked);
    }
    if let Some(m) = c.mem_limit.as_ref().filter(|m| m.refused + m.injected > 0) {
        s += &format!(
            "; block allocations refused at the memory limit {}, failed by injection {}",
            m.refused, m.injected
        );
    }
    if c.flavor == KfreeMode::CallRcuLazy.name() {
        if let Some(d) = c.rcu.first() {
            s += &format!(
                "; lazy flushes {} full / {} timer / {} other",
                d.lazy_flushes_full, d.lazy_flushes_timer, d.lazy_flushes_other
            );
        }
    }
    s
}

fn comparison_table(cells: &[CellResult]) -> String {
    let time = |c: &CellResult| c.kfree_rcu.as_ref().map_or(0, |k| k.total_ns);
    let batches = |c: &CellResult| c.kfree_rcu.as_ref().map_or(0, |k| k.batches);
    let (avg, peak) = (
        |c: &CellResult| c.metrics.mem_avg.value,
        |c: &CellResult| c.metrics.mem_peak.value,
    );
    let base = cells.iter().find(|c| c.flavor == KfreeMode::CallRcu.name());
    let mut t = String::from(
        "| mode | time (ms) | batches (GPs) | footprint avg (MiB) | footprint peak (MiB) | time vs call-rcu | footprint vs call-rcu |\n\
         | -- | -- | -- | -- | -- | -- | -- |\n",
    );
    for c in cells {
        let (tr, fr) = match base {
            Some(b) if time(b) > 0 => (
                format!("{:.2}x", time(c) as f64 / time(b) as f64),
                if avg(b) > 0.0 {
                    format!("{:.3}x", avg(c) / avg(b))
                } else {
                    "-".into()
                },
            ),
            _ => ("-".into(), "-".into()),
        };
        t += &format!(
            "| {} | {:.1} | {} | {:.3} | {:.3} | {} | {} |\n",
            c.flavor,
            time(c) as f64 / 1e6,
            batches(c),
            avg(c) / MIB,
            peak(c) / MIB,
            tr,
            fr
        );
    }
    t.pop();
    t
}
