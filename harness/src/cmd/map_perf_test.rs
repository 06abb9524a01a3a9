//! `htab-mem map-perf-test`: samples/bpf map_perf_test with the sample's positional
//! arguments and output lines; the run itself is `bench::map_perf_test`. What one event is:
//! `workloads::map_perf_test`.

use std::path::PathBuf;

use allocators::{Allocator, ImmediateReuse, FLAVORS};
use workloads::map_perf_test::{
    check_flavor, tests_from_flags, DEFAULT_ITERATIONS, LPM_MAX_ENTRIES, LRU_MAX_ENTRIES,
    MAX_ENTRIES, NR_TESTS,
};

use crate::bench::map_perf_test::{self, Plan};
use crate::error::{Error, OrBadInput, OrFailed, Result};
use crate::host::online_cpus;
use crate::result::{self, ResultFile, Status};

/// MAX_NR_CPUS of the sample.
const MAX_WORKERS: u64 = 1024;
/// The largest map this accepts (elements are allocated up front for the LRU maps).
const MAX_MAP_ENTRIES: u64 = 1 << 24;

/// samples/bpf map_perf_test: hash, per-CPU hash, LRU, LPM trie, array-of-maps and lookup
/// maps, each test a loop of "events" (one BPF program run each) per worker.
///
/// Tests (bit: name): 0 HASH_PREALLOC, 1 PERCPU_HASH_PREALLOC, 2 HASH_KMALLOC,
/// 3 PERCPU_HASH_KMALLOC, 4 LRU_HASH_PREALLOC, 5 NOCOMMON_LRU_HASH_PREALLOC, 6 LPM_KMALLOC,
/// 7 HASH_LOOKUP, 8 ARRAY_LOOKUP, 9 INNER_LRU_HASH_PREALLOC, 10 LRU_HASH_LOOKUP. Example:
/// `map-perf-test 4 8 16348 1000000`.
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// Test bitmask, test t runs when FLAGS & (1 << t): 0 HASH_PREALLOC, 1
    /// PERCPU_HASH_PREALLOC, 2 HASH_KMALLOC, 3 PERCPU_HASH_KMALLOC, 4 LRU_HASH_PREALLOC, 5
    /// NOCOMMON_LRU_HASH_PREALLOC, 6 LPM_KMALLOC, 7 HASH_LOOKUP, 8 ARRAY_LOOKUP, 9
    /// INNER_LRU_HASH_PREALLOC, 10 LRU_HASH_LOOKUP; 0 or absent = all of them.
    #[arg(value_name = "FLAGS")]
    pub flags: Option<String>,

    /// Worker threads ("processes"), each pinned to online CPU i mod n; 0 or absent = the
    /// online CPUs.
    #[arg(value_name = "NUM_PROCS")]
    pub num_procs: Option<String>,

    /// max_entries of the enabled tests' maps (and of test 9's inner maps); 0 or absent =
    /// each map's own (1000; 10000 for the LRU maps of tests 4 and 5 and the LPM trie).
    #[arg(value_name = "MAX_ENTRIES")]
    pub max_entries: Option<String>,

    /// Events per worker per test (default 10000).
    #[arg(value_name = "ITERATIONS")]
    pub iterations: Option<String>,

    /// bpf_mem_alloc flavor of the non-preallocated maps (tests 2, 3 and 6), default
    /// immediate-reuse. Preallocated maps (tests 0, 1, 7) always use prealloc, LRU maps their
    /// own lists: a flavor that no enabled test would use is refused.
    #[arg(short = 'A', long = "allocator", value_name = "FLAVOR")]
    pub allocator: Option<String>,

    #[command(flatten)]
    pub rcu_gp: crate::cli::RcuGpDelay,

    #[command(flatten)]
    pub ttrace_gp: crate::cli::TtraceGpDelay,

    /// Write the results in the native JSON schema (one cell per test), whole, at the end.
    #[arg(long = "json", value_name = "FILE")]
    pub json: Option<PathBuf>,
}

/// A positional argument as an unsigned number in `lo..=hi`, or `default` when absent.
fn number(name: &str, v: &Option<String>, default: u64, lo: u64, hi: u64) -> Result<u64, String> {
    let Some(s) = v else {
        return Ok(default);
    };
    let n: u64 = s
        .parse()
        .map_err(|_| format!("{name} must be a number in {lo}..={hi}, got '{s}'"))?;
    if !(lo..=hi).contains(&n) {
        return Err(format!("{name} must be in {lo}..={hi}, got {n}"));
    }
    Ok(n)
}

fn plan(a: &Args) -> Result<Plan, String> {
    if let Some(p) = &a.json {
        crate::result::check_output_path("--json", p)?;
    }
    let flags = number("FLAGS", &a.flags, 0, 0, (1 << NR_TESTS) - 1).map_err(|e| {
        // A bit past the last test is an unknown test, not just a big number.
        match a.flags.as_deref().and_then(|s| s.parse::<u32>().ok()) {
            Some(f) => tests_from_flags(f).err().unwrap_or(e),
            None => e,
        }
    })?;
    let tests = tests_from_flags(flags as u32)?;
    let online = online_cpus();
    let procs = number("NUM_PROCS", &a.num_procs, 0, 0, MAX_WORKERS)?;
    let nr_workers = if procs == 0 {
        online.len()
    } else {
        procs as usize
    };
    let num_map_entries = number("MAX_ENTRIES", &a.max_entries, 0, 0, MAX_MAP_ENTRIES)? as u32;
    let iterations = number(
        "ITERATIONS",
        &a.iterations,
        DEFAULT_ITERATIONS as u64,
        1,
        u32::MAX as u64,
    )? as u32;
    let flavor = match &a.allocator {
        Some(f) => {
            if !FLAVORS.contains(&f.as_str()) {
                return Err(format!(
                    "unknown allocator flavor '{f}' (one of: {})",
                    FLAVORS.join(", ")
                ));
            }
            check_flavor(&tests, f)?;
            f.clone()
        }
        None => ImmediateReuse::NAME.to_string(),
    };
    Ok(Plan {
        tests: tests.iter().map(|t| t.bit()).collect(),
        nr_workers,
        num_map_entries,
        iterations,
        flavor,
        online,
        rcu_gp_delay_us: a.rcu_gp.rcu_gp_delay_us,
        ttrace_gp_delay_us: a.ttrace_gp.ttrace_gp_delay_us,
        quiet: false,
    })
}

pub fn run(a: Args) -> Result {
    let p = plan(&a).or_bad_input()?;
    let tests = p.tests();
    let names: Vec<String> = tests
        .iter()
        .map(|t| format!("{} ({})", t.bit(), t.name()))
        .collect();
    let entries = match p.num_map_entries {
        0 => {
            format!("max_entries {MAX_ENTRIES} (LRU {LRU_MAX_ENTRIES}, LPM trie {LPM_MAX_ENTRIES})")
        }
        n => format!("max_entries {n}"),
    };
    let flavor = if tests.iter().any(|t| t.uses_mem_alloc()) {
        format!(", flavor {}", p.flavor)
    } else {
        String::new()
    };
    eprintln!(
        "htab-mem: map_perf_test: tests {}; {} workers, {entries}, {} iterations{flavor}",
        names.join(", "),
        p.nr_workers,
        p.iterations
    );
    if p.nr_workers > p.online.len() {
        eprintln!(
            "htab-mem: warning: {} workers on {} online CPUs: workers share CPUs",
            p.nr_workers,
            p.online.len()
        );
    }
    let ran = map_perf_test::run(&p).map_err(|e| Error::Failed(format!("error: {e}")))?;
    if let Some(path) = &a.json {
        let file = ResultFile {
            schema_version: result::SCHEMA_VERSION,
            tool: result::TOOL.to_string(),
            git_sha: result::git_sha(),
            timestamp: result::utc_timestamp(),
            host: crate::host::host_info(),
            config: ran.config.clone(),
            results: ran.cells.clone(),
        };
        result::write_atomic(path, &file).or_failed()?;
    }
    match ran.cells.iter().find(|c| c.status != Status::Ok) {
        Some(c) => Err(Error::Failed(format!(
            "error: {}",
            c.error.as_deref().unwrap_or(c.status.as_str())
        ))),
        None => Ok(()),
    }
}
