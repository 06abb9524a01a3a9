//! htab-mem's cell (use case x flavor x producers) in this process: pinned producers on the
//! driver, a per-second sampler as bench.c's, teardown with the allocator's leak check.

use std::io::Write;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use allocators::{with_flavor, AllocConfig, AllocStats, Allocator, Env, FlavorVisitor, HoldStats};
use crossbeam_utils::CachePadded;
use workloads::cpu_gate::Turn;
use workloads::htab::elem_size;
use workloads::{
    with_peer, with_use_case, CpuGate, HTab, Peer, PeerVisitor, Producer, ProducerMap, UseCase,
    UseCaseVisitor,
};

use super::driver::{self, Ctl};
use crate::cli::{Config, Readers};
use crate::machine::{thread_cpu_ns, MachineLoad, Snapshot};
use crate::memory::{kmalloc_size, live, process_memory, Live};
use crate::memory_model::{Inputs, MemoryModel, Standing};
use crate::result::{
    AllocCounters, Benchmark, CellResult, DomainReport, LoopShapeInfo, MemLimitCell, Metric,
    Metrics, Sample, Status,
};
use crate::stats::{mean, percentile, stddev};
use crate::steady::{Slowdown, Steady};

/// How often the sampler reads live heap bytes for the peak (and, in the measured window, the
/// allocator's counters for the memory model's time averages).
const PEAK_SAMPLE_PERIOD: Duration = Duration::from_millis(10);

/// One per-second report, as bench.c's report_progress receives it.
pub struct Tick {
    pub iter: u64,
    pub delta_ns: u64,
    pub per_prod_op_k: f64,
    /// The live heap as charged: what the Iter line shows.
    pub charged_bytes: i64,
}

/// Validates the producer count for a use case (e.g. add_del_on_diff_cpu needs pairs).
pub fn check_use_case(name: &str, producers: usize) -> Result<(), String> {
    struct Check(usize);
    impl UseCaseVisitor for Check {
        type Output = Result<(), String>;
        fn visit<U: UseCase>(self) -> Self::Output {
            U::new(self.0).map(|_| ())
        }
    }
    with_use_case(name, Check(producers))
        .unwrap_or_else(|| Err(format!("unknown use case '{name}'")))
}

/// Why row `name` cannot run `use_case` at all (a peer map and the LPM trie), if so: its
/// cell is "n/a", with no figures.
pub fn not_applicable(use_case: &str, name: &str) -> Option<String> {
    struct Peers;
    impl UseCaseVisitor for Peers {
        type Output = bool;
        fn visit<U: UseCase>(self) -> bool {
            U::PEERS
        }
    }
    let takes_peers = with_use_case(use_case, Peers).unwrap_or(true);
    (workloads::peers::is_peer(name) && !takes_peers)
        .then(|| format!("{name} cannot express {use_case}: it is an LPM trie, not a hash map"))
}

/// Runs the row `name` (an allocator flavor, or a peer map `peer:NAME`) with the configured
/// use case; `on_tick` sees each per-second sample.
pub fn run_cell(
    cfg: &Config,
    name: &str,
    on_tick: &mut dyn FnMut(&Tick),
) -> Result<CellResult, String> {
    /// Dispatches the use case once the row's type is known.
    struct ByUseCase<'a, R> {
        cfg: &'a Config,
        on_tick: &'a mut dyn FnMut(&Tick),
        _r: PhantomData<R>,
    }
    struct Row<'a>(&'a Config, &'a mut dyn FnMut(&Tick));
    impl<'a> Row<'a> {
        fn by_use_case<R>(self) -> Result<CellResult, String>
        where
            ByUseCase<'a, R>: UseCaseVisitor<Output = Result<CellResult, String>>,
        {
            let v = ByUseCase::<R> {
                cfg: self.0,
                on_tick: self.1,
                _r: PhantomData,
            };
            with_use_case(&self.0.use_case, v)
                .unwrap_or_else(|| Err(format!("unknown use case '{}'", self.0.use_case)))
        }
    }
    impl FlavorVisitor for Row<'_> {
        type Output = Result<CellResult, String>;
        fn visit<A: Allocator>(self) -> Self::Output {
            self.by_use_case::<Flavor<A>>()
        }
    }
    impl PeerVisitor for Row<'_> {
        type Output = Result<CellResult, String>;
        fn visit<P: Peer>(self) -> Self::Output {
            self.by_use_case::<PeerRow<P>>()
        }
    }
    /// Marks a flavor's row and a peer's, for the use-case dispatch.
    struct Flavor<A>(PhantomData<A>);
    struct PeerRow<P>(PhantomData<P>);
    impl<A: Allocator> UseCaseVisitor for ByUseCase<'_, Flavor<A>> {
        type Output = Result<CellResult, String>;
        fn visit<U: UseCase>(self) -> Self::Output {
            run_flavor::<A, U>(self.cfg, self.on_tick)
        }
    }
    impl<P: Peer> UseCaseVisitor for ByUseCase<'_, PeerRow<P>> {
        type Output = Result<CellResult, String>;
        fn visit<U: UseCase>(self) -> Self::Output {
            run_peer::<P, U>(self.cfg, self.on_tick)
        }
    }
    if workloads::peers::is_peer(name) {
        return with_peer(name, Row(cfg, on_tick))
            .unwrap_or_else(|| Err(format!("unknown peer map '{name}'")));
    }
    with_flavor(name, Row(cfg, on_tick))
        .unwrap_or_else(|| Err(format!("unknown allocator flavor '{name}'")))
}

/// What the sampler reads of a flavor's allocator (a peer map has none).
trait Counters: Sync {
    fn stats(&self) -> AllocStats;
    fn hold_stats(&self) -> HoldStats;
    /// The object's requested size.
    fn unit_size(&self) -> usize;
}

impl<A: Allocator> Counters for A {
    fn stats(&self) -> AllocStats {
        Allocator::stats(self)
    }
    fn hold_stats(&self) -> HoldStats {
        Allocator::hold_stats(self)
    }
    fn unit_size(&self) -> usize {
        Allocator::unit_size(self)
    }
}

/// The measured window of one cell, before its map is torn down.
struct Measured {
    samples: Vec<Sample>,
    per_prod: Vec<f64>,
    peak: Live,
    unpinned: usize,
    failed_in_summary: u64,
    failed_per_s: Vec<f64>,
    rates: Vec<f64>,
    mem_window: Vec<f64>,
    machine: (Snapshot, Snapshot),
    /// The memory model's window and inputs (a flavor's only).
    window: Option<((Instant, HoldStats), (Instant, HoldStats))>,
    standing: Standing,
    nr_online: usize,
}

/// A flavor's row: the RCU hash table on allocator `A`, torn down with the leak check.
fn run_flavor<A: Allocator, U: UseCase>(
    cfg: &Config,
    on_tick: &mut dyn FnMut(&Tick),
) -> Result<CellResult, String> {
    let p = cfg.producers;
    let env = Env::with_implies(
        Duration::from_micros(cfg.rcu_gp_delay_us),
        Duration::from_micros(cfg.ttrace_gp_delay_us),
        cfg.ttrace_implies_rcu,
    )
    .with_deferred(cfg.deferred_work);
    // One cache per producer, plus one for setup and teardown on this thread.
    let mut alloc_cfg = AllocConfig::new(elem_size(cfg.value_size), p + 1, env.clone())
        .with_capacity(cfg.max_entries as usize);
    alloc_cfg.fail_batch_alloc = cfg.fault_batch_alloc;
    alloc_cfg.fail_alloc = cfg.mem.fail();
    alloc_cfg.memalloc = cfg.memalloc;
    // The cell's memcg: its limit, and the counts it starts from (a child runs one cell, a
    // test may run several in one process).
    cfg.mem.install();
    let mem0 = memcg::counts();
    // A preallocated map's area must fit under the limit, or its creation fails (no cell).
    let area = A::creation_charge(&alloc_cfg);
    if area > 0 {
        if !memcg::try_charge(area) {
            return Err(format!(
                "creating the map: ENOMEM: {}'s preallocated area ({}) does not fit under the \
                 memory limit ({}), as the kernel's map creation fails under a memcg",
                A::NAME,
                memcg::format_size(area as u64),
                memcg::limit().map_or("none".into(), memcg::format_size),
            ));
        }
        memcg::uncharge(area);
    }
    let alloc = Arc::new(A::new(&alloc_cfg));
    let map = HTab::new(
        alloc.clone(),
        env.rcu.clone(),
        cfg.max_entries,
        cfg.value_size,
        p + 1,
    );
    let uc = U::new(p)?;
    let m = measure(cfg, A::NAME, &|i| map.cpu(i), Some(&*alloc), &uc, on_tick);

    // Before teardown: its clear() and barriers are not part of the measurement.
    let rcu = [&env.rcu, &env.tasks_trace]
        .iter()
        .map(|d| DomainReport::new(d.name(), &d.stats()))
        .collect();
    let before_teardown = alloc.stats();
    map.cpu(p).clear();
    drop(map);
    let drained = alloc.drain();
    if let Some(f) = env.rcu.failure().or_else(|| env.tasks_trace.failure()) {
        return Err(f);
    }
    let mut r = build_result(cfg, A::NAME, &m, before_teardown, drained);
    r.rcu = rcu;
    let unit = kmalloc_size(alloc.unit_size());
    if let Some(((t_a, before), (t_b, after))) = &m.window {
        r.memory_model = Some(MemoryModel::compute(&Inputs {
            window_s: (*t_b - *t_a).as_secs_f64(),
            unit,
            unit_raw: alloc.unit_size(),
            before,
            after,
            standing: &m.standing,
            mem_avg_bytes: r.metrics.mem_avg_shown().value,
            mem_avg_stderr_bytes: r.metrics.mem_avg_shown().stddev.unwrap_or(0.0)
                / (r.samples.len().saturating_sub(cfg.warmup as usize).max(1) as f64).sqrt(),
            rcu: r.rcu.iter().find(|d| d.domain == env.rcu.name()),
        }));
    }
    finish(
        cfg,
        &mut r,
        &m,
        mem0,
        uc.verify(),
        A::REUSE_AFTER_GP.then_some(A::NAME),
    );
    Ok(r)
}

/// A peer map's row: the map pre-sized to max_entries, on the global allocator (so the
/// allocator counters are zero, and the memory limit and injected failures do not apply).
fn run_peer<P: Peer, U: UseCase>(
    cfg: &Config,
    on_tick: &mut dyn FnMut(&Tick),
) -> Result<CellResult, String> {
    if !U::PEERS {
        return Err(format!("{} cannot run {}", P::NAME, U::NAME));
    }
    cfg.mem.install();
    let mem0 = memcg::counts();
    let peer = P::with_capacity(cfg.max_entries as usize);
    let uc = U::new(cfg.producers)?;
    let m = measure(cfg, P::NAME, &|_| peer.cpu(), None, &uc, on_tick);
    // The keys left behind are the peer's to drop, as the flavors' map is cleared.
    drop(peer);
    let none = AllocStats::default();
    let mut r = build_result(cfg, P::NAME, &m, none, none);
    finish(cfg, &mut r, &m, mem0, uc.verify(), None);
    Ok(r)
}

/// Runs the producers on the driver and samples them: bench.c's measurement of one cell.
fn measure<M: ProducerMap, U: UseCase>(
    cfg: &Config,
    name: &str,
    handle: &(dyn Fn(usize) -> M + Sync),
    alloc: Option<&dyn Counters>,
    uc: &U,
    on_tick: &mut dyn FnMut(&Tick),
) -> Measured {
    let p = cfg.producers;
    let nr_online = crate::host::online_cpus().len().max(1);
    let (gates, gate_of) = cpu_gates(cfg, nr_online);
    let quantum = workloads::cpu_gate::quantum(nr_online);
    let loops: Vec<CachePadded<AtomicU64>> = (0..p).map(|_| CachePadded::default()).collect();
    // Each producer's updates failed with ENOMEM so far, beside its loops (another line, so
    // the monitor's reads of one never stall the stores to the other).
    let failed: Vec<CachePadded<AtomicU64>> = (0..p).map(|_| CachePadded::default()).collect();
    let mut failed_per_s = Vec::new();
    let mut failed_in_summary = 0u64;
    let mut peak = live();
    let mut samples = Vec::new();
    let mut per_prod = Vec::new();
    // The model works in charged bytes, as the figure it is checked against.
    let unit = alloc.map_or(0, |a| kmalloc_size(a.unit_size()));
    let mut standing = Standing::default();
    // The memory model's window: the span of the memory samples mem_avg averages, from the
    // first measured tick (the end of the warm-up's first second, as bench.c counts) to the
    // last. Starting at the end of the warm-up instead took in the start-up transient that
    // the per-second samples leave out (memory still settling from its early peak), which
    // put the model's averages up to 25% above mem_avg in most cells.
    let mut window_start = None;
    let mut window_end = None;
    // The robust figures: each producer's loops per second of its own CPU time over the
    // measured window, the machine at the window's edges, and the 100 Hz charged-memory
    // samples of the window (for their p95; allocated now, so the samples never grow the
    // heap they measure).
    let cpu_rates: Mutex<Vec<f64>> = Mutex::new(Vec::with_capacity(p));
    let mut machine = (Snapshot::default(), Snapshot::default());
    let mut mem_window: Vec<f64> = Vec::with_capacity((cfg.duration as usize + 2) * 110);
    let inject = cfg.injected(name);

    let cpus: Vec<Option<usize>> = (0..p).map(|i| cfg.cpus.as_ref().map(|c| c[i])).collect();
    let fixed_charged = AtomicBool::new(false);
    let worker = |i: usize, ctl: &Ctl| {
        let gate = gate_of[i].map(|g| &gates[g]);
        let mut prod = Producer::new(i, p, handle(i), cfg.value_size)
            .with_gate(gate)
            .with_shape(cfg.shape);
        ctl.ready();
        // The monitor charges the heap beyond the objects first (below).
        while !fixed_charged.load(Ordering::Acquire) {
            thread::yield_now();
        }
        // Only this thread writes its counter: a plain store on its own line.
        let counter = &loops[i];
        let mut n = 0u64;
        let mut turn = Turn::new(prod.gate, quantum);
        let mut slowdown = inject.and_then(Slowdown::new);
        // (loops, this thread's CPU ns) when it first saw the measured window begin.
        let mut at_start = None;
        while !ctl.stopping() {
            if at_start.is_none() && ctl.measuring() {
                at_start = Some((n, thread_cpu_ns()));
            }
            let k = uc.run_loop(&mut prod);
            n += k;
            counter.store(n, Ordering::Relaxed);
            failed[i].store(prod.map.failed_updates(), Ordering::Relaxed);
            // Back from the BPF program: a quiescent state, and softirq time for this
            // CPU's RCU callbacks; then, maybe, another producer's turn.
            prod.map.quiescent();
            // Test only: the injected slowdown, outside the read-side section so that it
            // slows the loop without stretching grace periods.
            if let Some(s) = &mut slowdown {
                s.after_loop();
            }
            turn.between_loops();
        }
        if let (Some((n0, Some(c0))), Some(c1)) = (at_start, thread_cpu_ns()) {
            if c1 > c0 {
                let rate = (n - n0) as f64 / ((c1 - c0) as f64 / 1e9);
                cpu_rates
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(rate);
            }
        }
        turn.leave();
    };
    // The heap that is not the map's objects (buckets, caches, counters, buffers, the
    // threads' own allocations), as the producers left it ready to start: charged to the
    // memcg once, so that the limit bounds the whole heap the memory columns show, as a
    // memcg's memory.current counts everything the cgroup has (docs/memory-limit.md).
    let mut fixed_charge = 0usize;
    let monitor = |ctl: &Ctl| {
        let objects = alloc.map_or(0, |a| {
            let st = a.stats();
            st.from_slab.saturating_sub(st.to_slab) as i64 * unit as i64
        });
        fixed_charge = (live().charged - objects).max(0) as usize;
        memcg::charge_nofail(fixed_charge);
        fixed_charged.store(true, Ordering::Release);
        let t0 = Instant::now();
        let (mut last_t, mut last_loops, mut last_failed) = (t0, 0u64, 0u64);
        // bench.c: warmup + duration + 1 ticks; the first `warmup` are left out of the summary.
        for iter in 0..cfg.warmup + cfg.duration + 1 {
            let deadline = t0 + Duration::from_secs(iter + 1);
            let measured = iter > cfg.warmup;
            // The window the Summary averages: the ticks from `warmup` on.
            let in_summary = iter >= cfg.warmup;
            if iter == cfg.warmup {
                ctl.start_measuring();
                machine.0 = Snapshot::now();
            }
            if let (true, None, Some(a)) = (measured, &window_start, alloc) {
                window_start = Some((Instant::now(), a.hold_stats()));
            }
            loop {
                let now_live = live();
                peak = peak.max(now_live);
                if let (true, Some(a)) = (measured, alloc) {
                    standing.add(&a.stats(), now_live.charged, unit);
                }
                if in_summary {
                    mem_window.push(now_live.charged as f64);
                }
                let now = Instant::now();
                if now >= deadline {
                    break;
                }
                thread::sleep(PEAK_SAMPLE_PERIOD.min(deadline - now));
            }
            let now = Instant::now();
            let total: u64 = loops.iter().map(|c| c.load(Ordering::Relaxed)).sum();
            let delta_ns = (now - last_t).as_nanos() as u64;
            let d = total - last_loops;
            let per_prod_op_k = d as f64 / p as f64 / 1000.0 / (delta_ns as f64 / 1e9);
            let mem = live();
            peak = peak.max(mem);
            samples.push(Sample {
                t_ns: (now - t0).as_nanos() as u64,
                loops: d,
                mem_bytes: mem.raw,
                rss_bytes: process_memory().rss_bytes,
                charged_bytes: Some(mem.charged),
            });
            let total_failed: u64 = failed.iter().map(|c| c.load(Ordering::Relaxed)).sum();
            if iter >= cfg.warmup {
                per_prod.push(per_prod_op_k);
                let f = total_failed - last_failed;
                failed_in_summary += f;
                failed_per_s.push(f as f64 / (delta_ns as f64 / 1e9));
            }
            on_tick(&Tick {
                iter,
                delta_ns,
                per_prod_op_k,
                charged_bytes: mem.charged,
            });
            (last_t, last_loops, last_failed) = (now, total, total_failed);
        }
        window_end = alloc.map(|a| (Instant::now(), a.hold_stats()));
        machine.1 = Snapshot::now();
        ctl.stop();
        uc.stop();
    };
    let ((), unpinned) = driver::run("producer", &cpus, worker, monitor);
    memcg::uncharge(fixed_charge);
    Measured {
        samples,
        per_prod,
        peak,
        unpinned,
        failed_in_summary,
        failed_per_s,
        rates: cpu_rates.into_inner().unwrap_or_else(|e| e.into_inner()),
        mem_window,
        machine,
        window: window_start.zip(window_end),
        standing,
        nr_online,
    }
}

/// What every row's cell gets after its teardown: the memory limit's figures, the robust
/// figures and the lookup check (`reuse_after_gp`: the flavor whose stale read is a bug).
fn finish(
    cfg: &Config,
    r: &mut CellResult,
    m: &Measured,
    mem0: memcg::Counts,
    verify: Option<(u64, u64)>,
    reuse_after_gp: Option<&str>,
) {
    let p = cfg.producers;
    let mem1 = memcg::counts();
    r.mem_limit = Some(MemLimitCell {
        limit_bytes: cfg.mem.limit_bytes,
        charged_peak_bytes: memcg::peak(),
        hit_mem_limit: mem1.failcnt > mem0.failcnt,
        refused: mem1.failcnt - mem0.failcnt,
        injected: mem1.injected - mem0.injected,
        failed_updates: m.failed_in_summary,
        failed_updates_per_sec: mean(&m.failed_per_s),
        failed_updates_per_sec_stddev: Some(stddev(&m.failed_per_s)),
    });
    if !m.rates.is_empty() {
        r.metrics.loops_per_cpu_sec_per_producer = Some(Metric::new(
            mean(&m.rates),
            Some(stddev(&m.rates)),
            "loops/s",
        ));
    }
    if !m.mem_window.is_empty() {
        r.metrics.mem_p95_charged =
            Some(Metric::new(percentile(&m.mem_window, 95.0), None, "bytes"));
    }
    r.machine = Some(MachineLoad::between(
        &m.machine.0,
        &m.machine.1,
        m.nr_online,
        p,
    ));
    if let Some((found, bad)) = verify {
        let per_m = if found == 0 {
            0.0
        } else {
            bad as f64 * 1e6 / found as f64
        };
        r.metrics.incorrect_lookups_per_million =
            Some(Metric::new(per_m, None, "incorrect lookups per million"));
        if let (true, Some(name)) = (bad > 0, reuse_after_gp) {
            r.status = Status::Error;
            r.error = Some(format!(
                "{bad} of {found} lookups returned a recycled element under {name}, which reuses \
                 only after a grace period: a bug"
            ));
        }
    }
}

/// Non-preemptible readers: one gate per CPU shared by two or more producers (pinned ones by
/// their CPU, unpinned ones dealt over the online CPUs), and each producer's gate, if any.
fn cpu_gates(cfg: &Config, nr_online: usize) -> (Vec<CpuGate>, Vec<Option<usize>>) {
    let p = cfg.producers;
    if cfg.rcu_readers != Readers::NonPreemptible {
        return (Vec::new(), vec![None; p]);
    }
    let cpu_of: Vec<usize> = match &cfg.cpus {
        Some(c) => c.clone(),
        None => (0..p).map(|i| i % nr_online).collect(),
    };
    // The CPUs that appear more than once.
    let mut sorted = cpu_of.clone();
    sorted.sort_unstable();
    let mut shared: Vec<usize> = sorted
        .windows(2)
        .filter(|w| w[0] == w[1])
        .map(|w| w[0])
        .collect();
    shared.dedup();
    let gate_of = cpu_of
        .iter()
        .map(|c| shared.binary_search(c).ok())
        .collect();
    (shared.iter().map(|_| CpuGate::default()).collect(), gate_of)
}

fn build_result(
    cfg: &Config,
    flavor: &str,
    m: &Measured,
    during: AllocStats,
    drained: AllocStats,
) -> CellResult {
    let (samples, per_prod_k, peak, unpinned) =
        (m.samples.clone(), &m.per_prod, m.peak, m.unpinned);
    let measured = &samples[cfg.warmup as usize..];
    let per_prod: Vec<f64> = per_prod_k.iter().map(|k| k * 1000.0).collect();
    let total: Vec<f64> = per_prod.iter().map(|x| x * cfg.producers as f64).collect();
    let mem: Vec<f64> = measured.iter().map(|s| s.mem_bytes as f64).collect();
    let charged: Vec<f64> = measured
        .iter()
        .map(|s| s.charged_bytes.unwrap_or(s.mem_bytes) as f64)
        .collect();
    let hwm = process_memory().hwm_bytes;
    let (status, error) = if drained.leaked != 0 {
        (
            Status::Leak,
            Some(format!(
                "{} objects were never returned to the slab",
                drained.leaked
            )),
        )
    } else if unpinned > 0 {
        (
            Status::Ok,
            Some(format!("{unpinned} producers could not be pinned")),
        )
    } else {
        (Status::Ok, None)
    };
    let mut r = CellResult {
        id: String::new(),
        benchmark: Benchmark::HtabMem,
        use_case: cfg.use_case.clone(),
        flavor: flavor.to_string(),
        producers: cfg.producers,
        pacing: None,
        status,
        error,
        samples,
        metrics: Metrics {
            loops_per_sec: Metric::new(mean(&total), Some(stddev(&total)), "loops/s"),
            loops_per_sec_per_producer: Metric::new(
                mean(&per_prod),
                Some(stddev(&per_prod)),
                "loops/s",
            ),
            mem_avg: Metric::new(mean(&mem), Some(stddev(&mem)), "bytes"),
            mem_peak: Metric::new(peak.raw as f64, None, "bytes"),
            rss_peak: Metric::new(hwm as f64, None, "bytes"),
            mem_avg_charged: Some(Metric::new(mean(&charged), Some(stddev(&charged)), "bytes")),
            mem_peak_charged: Some(Metric::new(peak.charged as f64, None, "bytes")),
            incorrect_lookups_per_million: None,
            loops_per_cpu_sec_per_producer: None,
            mem_p95_charged: None,
        },
        allocator: AllocCounters {
            from_system: drained.from_slab,
            to_system: drained.to_slab,
            leaked: drained.leaked,
            cached: during.cached.max(0) as u64,
            waiting_gp: during.waiting_gp.max(0) as u64,
        },
        rcu: Vec::new(),
        memory_model: None,
        loop_shape: LoopShapeInfo::of(cfg.shape, cfg.producers),
        kfree_rcu: None,
        machine: None,
        steady: Some(Steady::of(&per_prod, &charged)),
        trials: Default::default(),
        mem_limit: None,
    };
    r.id = r.expected_id();
    r
}

/// Runs the config's one flavor, printing bench.c's Iter line each second unless quiet.
pub fn run_printing(cfg: &Config) -> Result<super::Ran, String> {
    let flavor = cfg
        .flavors
        .first()
        .ok_or_else(|| "an htab-mem plan needs a flavor".to_string())?;
    let (label, scale) = headline_rate(cfg);
    let mut out = std::io::stdout().lock();
    let mut on_tick = |t: &Tick| {
        if !cfg.quiet {
            let line = crate::report::rate_progress_line(
                label,
                t.iter as usize,
                t.delta_ns,
                t.per_prod_op_k * scale,
                t.charged_bytes as f64 / crate::units::MIB,
            );
            let _ = writeln!(out, "{line}");
            let _ = out.flush();
        }
    };
    let cell = run_cell(cfg, flavor, &mut on_tick)?;
    Ok(super::Ran {
        config: cfg.run_config(),
        cells: vec![cell],
    })
}

/// The progress lines' rate: the merged benchmark's per producer, or the RFC's total (the
/// per-producer rate times the producers).
pub fn headline_rate(cfg: &Config) -> (&'static str, f64) {
    match cfg.shape {
        workloads::LoopShape::Merged => (crate::report::PER_PROD_OP, 1.0),
        workloads::LoopShape::Rfc { .. } => (crate::report::RFC_LOOP, cfg.producers as f64),
    }
}
