//! The matrix's cells and plans for the benchmarks other than htab-mem: map-perf-test (a cell
//! per test x flavor x workers; a test whose map does not use bpf_mem_alloc has one cell, its
//! own allocator's) and kfree-rcu (a cell per mode x threads).

use allocators::{Allocator, ImmediateReuse};
use workloads::kfree_scale::KfreeMode;
use workloads::map_perf_test::{check_flavor, Test, DEFAULT_ITERATIONS};

use crate::bench::{self, kfree_rcu, map_perf_test};
use crate::cli::names;
use crate::matrix_file::Cell;
use crate::matrix_run::PlanOf;
use crate::result::{Benchmark, Pacing};

/// The largest map map-perf-test accepts (its LRU maps allocate every element up front).
pub const MAX_MAP_ENTRIES: u32 = 1 << 24;
/// MAX_NR_CPUS of the sample: its most workers.
pub const MAX_WORKERS: usize = 1024;

/// The matrix options of map-perf-test and kfree-rcu.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct OtherBenchOpts {
    /// map-perf-test: events per worker per test [default: 10000].
    #[arg(long = "iterations", value_name = "N")]
    pub iterations: Option<u32>,
    /// kfree-rcu: kfree_alloc_num [default: 8000].
    #[arg(long = "alloc-num", value_name = "N")]
    pub alloc_num: Option<usize>,
    /// kfree-rcu: kfree_loops [default: 10].
    #[arg(long = "loops", value_name = "N")]
    pub loops: Option<usize>,
    /// kfree-rcu: kfree_mult [default: 1].
    #[arg(long = "mult", value_name = "N")]
    pub mult: Option<usize>,
}

impl OtherBenchOpts {
    /// Refuses an option of another benchmark than `b`'s.
    pub fn check(&self, b: Benchmark) -> Result<(), String> {
        let given = |o: &str, set: bool, owner: Benchmark| {
            if set && b != owner {
                Err(format!(
                    "{o} is map-perf-test's or kfree-rcu's: {o} needs --benchmark {owner}"
                ))
            } else {
                Ok(())
            }
        };
        given(
            "--iterations",
            self.iterations.is_some(),
            Benchmark::MapPerfTest,
        )?;
        given("--alloc-num", self.alloc_num.is_some(), Benchmark::KfreeRcu)?;
        given("--loops", self.loops.is_some(), Benchmark::KfreeRcu)?;
        given("--mult", self.mult.is_some(), Benchmark::KfreeRcu)
    }
}

/// The cells of `b` (not htab-mem) and how to plan each.
pub fn cells<'a>(
    b: Benchmark,
    a: &'a super::matrix::Args,
    producers: &[usize],
) -> Result<(Vec<Cell>, PlanOf<'a>), String> {
    let online = crate::host::online_cpus();
    let cell = |uc: &str, flavor: &str, p: usize| Cell {
        benchmark: b,
        use_case: uc.to_string(),
        flavor: flavor.to_string(),
        producers: p,
        pacing: None,
    };
    let mut cells = Vec::new();
    match b {
        Benchmark::MapPerfTest => {
            let known = bench::use_cases(b);
            let known: Vec<&str> = known.iter().map(String::as_str).collect();
            let ucs = names(
                "--use-cases",
                a.use_cases.as_deref().unwrap_or("all"),
                &known,
                "map-perf-test test",
            )?;
            let mut flavors = a.cell.flavors("map-perf-test")?;
            // A list not named flavor by flavor (the default, `all`) leaves prealloc out: the
            // tests that allocate from bpf_mem_alloc are BPF_F_NO_PREALLOC maps it cannot
            // serve, and the preallocated tests run once with their own map anyway.
            if matches!(a.cell.allocators.as_str(), crate::rows::DEFAULT | "all") {
                flavors.retain(|f| f != workloads::map_perf_test::PREALLOC_NAME);
            }
            for uc in &ucs {
                let t = test_of(uc).expect("a listed test");
                for &p in producers {
                    if p > MAX_WORKERS {
                        return Err(format!("-p/--producers {p}: at most {MAX_WORKERS} workers"));
                    }
                    if t.uses_mem_alloc() {
                        for f in &flavors {
                            cells.push(cell(uc, f, p));
                        }
                    } else {
                        cells.push(cell(uc, map_perf_test::cell_flavor(t, ""), p));
                    }
                }
            }
            let entries = a.cell.max_entries.unwrap_or(0);
            if entries > MAX_MAP_ENTRIES {
                return Err(format!("--max-entries must be at most {MAX_MAP_ENTRIES}"));
            }
            let iterations = a.other.iterations.unwrap_or(DEFAULT_ITERATIONS);
            if a.cell.mem.mem_limit.is_some() || a.cell.mem.fail_alloc.is_some() {
                return Err(
                    "--mem-limit and --fail-alloc apply to htab-mem and kfree-rcu cells, \
                     not map-perf-test's"
                        .into(),
                );
            }
            if iterations == 0 {
                return Err("--iterations must be at least 1".into());
            }
            let plan_of = move |c: &Cell, d: Pacing| {
                let t = test_of(&c.use_case)
                    .ok_or_else(|| format!("{}: unknown test '{}'", c.id(), c.use_case))?;
                let flavor = if t.uses_mem_alloc() {
                    check_flavor(&[t], &c.flavor)?;
                    c.flavor.clone()
                } else {
                    ImmediateReuse::NAME.to_string()
                };
                Ok(bench::Plan::MapPerfTest(map_perf_test::Plan {
                    tests: vec![t.bit()],
                    nr_workers: c.producers,
                    num_map_entries: entries,
                    iterations,
                    flavor,
                    online: online.clone(),
                    rcu_gp_delay_us: d.rcu_gp_delay_us,
                    ttrace_gp_delay_us: d.ttrace_gp_delay_us,
                    quiet: true,
                }))
            };
            Ok((cells, Box::new(plan_of)))
        }
        Benchmark::KfreeRcu => {
            names(
                "--use-cases",
                a.use_cases.as_deref().unwrap_or(kfree_rcu::USE_CASE),
                &[kfree_rcu::USE_CASE],
                "kfree-rcu use case",
            )?;
            let all: Vec<&str> = KfreeMode::ALL.iter().map(|m| m.name()).collect();
            // `-A`'s default (the flavors and a peer map) means every mode here.
            let modes = match a.cell.allocators.as_str() {
                crate::rows::DEFAULT => all.iter().map(|m| m.to_string()).collect(),
                list => names("-A/--allocators", list, &all, "kfree-rcu mode")?,
            };
            for &p in producers {
                for m in &modes {
                    cells.push(cell(kfree_rcu::USE_CASE, m, p));
                }
            }
            let plan_of = move |c: &Cell, d: Pacing| {
                let p = kfree_rcu::Plan {
                    nthreads: c.producers,
                    alloc_num: a.other.alloc_num.unwrap_or(kfree_rcu::ALLOC_NUM),
                    loops: a.other.loops.unwrap_or(kfree_rcu::LOOPS),
                    mult: a.other.mult.unwrap_or(kfree_rcu::MULT),
                    mode: c.flavor.clone(),
                    drain_ms: kfree_rcu::DRAIN_MS,
                    cached_blocks: rcu::DEFAULT_CACHED_BLOCKS,
                    rcu_gp_delay_us: d.rcu_gp_delay_us,
                    lazy_flush_us: kfree_rcu::LAZY_FLUSH_US,
                    qhimark: rcu::DEFAULT_LAZY_QHIMARK,
                    cpus: (!a.cell.no_affinity).then(|| online.clone()),
                    mem: a.cell.mem.settings()?,
                };
                p.check().map_err(|e| format!("{}: {e}", c.id()))?;
                Ok(bench::Plan::KfreeRcu(p))
            };
            Ok((cells, Box::new(plan_of)))
        }
        Benchmark::HtabMem => unreachable!("htab-mem's cells are matrix_file::plan's"),
    }
}

fn test_of(use_case: &str) -> Option<Test> {
    Test::ALL
        .into_iter()
        .find(|t| t.implemented() && map_perf_test::use_case(*t) == use_case)
}
