//! Command-line interface, compatible with the kernel's `bench htab-mem` options.

use std::path::PathBuf;

use allocators::MemallocGen;
use clap::builder::TypedValueParser;
use clap::{Parser, Subcommand};

pub use crate::config::Config;

/// Userspace `bench htab-mem`: how bpf memory-allocator flavors trade loops/s for memory.
///
/// Each producer thread plays one CPU: it runs loops of 64 map operations (one BPF program
/// run in the kernel) against an RCU hash table whose elements come from the selected
/// allocator flavor. Every flavor runs in its own child process; progress and Summary lines
/// use the kernel's formats, and a table compares the flavors at the end.
///
/// Memory is the process's heap as a memcg charges it: a counting global allocator counts
/// each live allocation at its kmalloc size class (the analog of the cgroup's
/// memory.current), with the raw requested bytes beside it; there is no syscall trigger.
#[derive(Parser, Debug, Clone)]
#[command(
    name = "htab-mem",
    version,
    max_term_width = 100,
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub cmd: Option<Cmd>,
    #[command(flatten)]
    pub run: RunArgs,
}

/// Tools beside the htab-mem run; each lives in its own module under `cmd/`.
#[derive(Subcommand, Debug, Clone)]
pub enum Cmd {
    /// Run use cases x flavors x producer counts, each cell in a fresh process, into one file.
    Matrix(crate::cmd::matrix::Args),
    /// Run every flavor across grace-period pacings: loops/s and memory against pacing.
    ///
    /// A pacing is the delay the userspace RCU engine adds to every grace period, standing in
    /// for how long the kernel's RCU grace-period kthread takes to complete one (the run
    /// mode's --rcu-gp-delay); RCU-tasks-trace grace periods (--ttrace-gp-delay) get their own
    /// pacing. Longer grace periods leave more freed elements waiting, so the grace-period
    /// flavors hold more memory; immediate-reuse does not wait, and pays with unsafe reuse.
    /// Each cell runs in a fresh process, as in `matrix`; the table goes to stdout and the
    /// figure to --svg.
    Sweep(crate::cmd::sweep::Args),
    /// Combine result files (matrix shards) into one.
    Merge(crate::cmd::merge::Args),
    /// Export a result file for dashboards: bmf, gab-bigger, gab-smaller, csv, markdown.
    Export(crate::cmd::export::Args),
    /// Compare two result files cell by cell; exit status 1 on a regression.
    Compare(crate::cmd::compare::Args),
    /// Render SVG plots of a result file.
    Plot(crate::cmd::plot::Args),
    /// Render the static HTML dashboard of the result sets under results/.
    Dashboard(crate::cmd::dashboard::Args),
    /// The kernel's rcuscale kfree_rcu test: call_rcu per object vs batched kvfree_rcu.
    KfreeRcu(crate::cmd::kfree_rcu::Args),
    /// samples/bpf map_perf_test: hash, per-CPU hash, LRU and lookup tests.
    MapPerfTest(crate::cmd::map_perf_test::Args),
}

/// The options of the htab-mem run (the kernel bench's, plus flavor and pacing).
#[derive(clap::Args, Debug, Clone)]
pub struct RunArgs {
    /// Producer threads (each plays one CPU). More than the online CPUs is allowed and
    /// oversubscribes them: readers preempted inside read-side sections stretch grace periods.
    #[arg(short = 'p', long = "producers", default_value_t = 1, value_name = "N")]
    pub producers: usize,

    /// Pin producers (the default here; kept for compatibility with the kernel bench).
    #[arg(short = 'a', long = "affinity")]
    pub affinity: bool,

    /// Do not pin producers to CPUs.
    #[arg(long = "no-affinity", conflicts_with_all = ["affinity", "prod_affinity"])]
    pub no_affinity: bool,

    /// CPUs for the producers, in order (e.g. 0,2,4-7); one per producer.
    #[arg(long = "prod-affinity", value_name = "CPUSET")]
    pub prod_affinity: Option<String>,

    /// Warm-up seconds, reported but left out of the summary (> 0).
    #[arg(short = 'w', long = "warmup", default_value_t = 1, value_name = "SEC")]
    pub warmup: u64,

    /// Measured seconds (> 0).
    #[arg(
        short = 'd',
        long = "duration",
        default_value_t = 5,
        value_name = "SEC"
    )]
    pub duration: u64,

    /// no_op, overwrite, batch_add_batch_del, add_del_on_diff_cpu (even -p), lookup_verify
    /// (the stale-read oracle; at least 2 producers) or lpm_update_delete (an LPM trie's
    /// updates, deletes and checked lookups).
    #[arg(long = "use-case", default_value = "overwrite", value_name = "NAME")]
    pub use_case: String,

    /// Value size in bytes (1..=4096).
    #[arg(long = "value-size", default_value_t = 8, value_name = "BYTES")]
    pub value_size: usize,

    /// Map capacity [default: max(8192, 64 x producers); with --rfc 16384].
    #[arg(long = "max-entries", value_name = "N")]
    pub max_entries: Option<u32>,

    /// The RFC-era benchmark's loop, in which seed 001's tables were measured: the map's live
    /// keys (--full % of --max-entries) split round robin over the producers, one loop walking
    /// a producer's whole share (1024 keys at 16384 x 50 % and -p 8); loop (k/s) is the total
    /// over producers, as the RFC printed it. Not for lookup_verify. See
    /// docs/seed-comparison.md.
    #[arg(long = "rfc")]
    pub rfc: bool,

    /// With --rfc: percent of --max-entries that is live, 1..=100 [default: 50].
    #[arg(long = "full", value_name = "PCT")]
    pub full: Option<u32>,

    /// With --rfc, instead of --full: keys per producer per loop (live keys = N x producers;
    /// --max-entries defaults to max(16384, twice that)).
    #[arg(long = "loop-keys", value_name = "N", conflicts_with = "full")]
    pub loop_keys: Option<u32>,

    /// The rows, comma-separated: allocator flavors (malloc-call-rcu, immediate-reuse,
    /// reuse-after-gp, free-after-gp, call-rcu-free, free-rcu, prealloc, or `all`) and peer
    /// maps (peer:dashmap, peer:papaya, peer:scc, peer:flurry, or `peers`): concurrent hash
    /// maps run on the same use cases in their own rows (docs/peers.md).
    #[arg(
        short = 'A',
        long = "allocator",
        default_value = crate::rows::DEFAULT,
        value_name = "LIST"
    )]
    pub allocator: String,

    /// Fault injection: every batch descriptor allocation of reuse-after-gp fails, so each
    /// batch takes the synchronize_rcu_expedited fallback.
    #[arg(long = "fault-batch-alloc")]
    pub fault_batch_alloc: bool,

    /// Use the preallocated map (the kernel bench's --preallocated): the same as -A prealloc.
    #[arg(long = "preallocated")]
    pub preallocated: bool,

    #[command(flatten)]
    pub rcu_gp: RcuGpDelay,

    #[command(flatten)]
    pub ttrace_gp: TtraceGpDelay,

    #[command(flatten)]
    pub readers: KernelModel,

    #[command(flatten)]
    pub memalloc: Memalloc,

    /// Tasks-trace callbacks chain into an RCU grace period instead of a tasks-trace grace
    /// period implying one (the kernel's rcu_trace_implies_rcu_gp() returning false).
    #[arg(long = "ttrace-chain")]
    pub ttrace_chain: bool,

    #[command(flatten)]
    pub inject: InjectArgs,

    #[command(flatten)]
    pub mem: MemLimitArgs,

    /// Write the results in the native JSON schema to FILE (written whole, at the end).
    #[arg(long = "json", value_name = "FILE")]
    pub json: Option<PathBuf>,

    /// After each Summary, print what the RCU domains did (grace periods, their average and
    /// longest duration, callbacks); the JSON result always carries it.
    #[arg(long = "rcu-stats")]
    pub rcu_stats: bool,

    /// After each Summary, print the steal-robust figures: loops per second of each
    /// producer's own CPU time, the machine's steal, other processes' CPU and load average
    /// (and whether they flag the cell), the 95th percentile of memory beside the peak, and
    /// whether the measured seconds were steady; the JSON result always carries them.
    #[arg(long = "robust")]
    pub robust: bool,

    /// After the table, explain each flavor's average memory: free rate x mean time held x
    /// object size plus the standing caches, beside the measurement, and where the time held
    /// goes (docs/memory-model.md); the JSON result always carries it.
    #[arg(long = "explain-memory")]
    pub explain_memory: bool,

    /// Print only Summary lines and the table.
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,

    /// Measure each flavor in N independent child processes, interleaved across flavors
    /// (trial 1 of every flavor, then trial 2, ...); each trial prints its own Iter and
    /// Summary lines, and the table shows the median across trials with its 95 % interval.
    /// 1 (the default) is the kernel bench's single run.
    #[arg(long = "trials", default_value_t = 1, value_name = "N",
        value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub trials: u32,
}

/// `--inject-slowdown` and `--inject-flavors`: a controlled slowdown, for the run and the
/// subcommands that run htab-mem cells.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct InjectArgs {
    /// Test only: makes the flavors in --inject-flavors (default: all) PCT % slower, 1 to
    /// 90; off by default (0). Every few loops (at least 100 us of CPU) a producer busy-waits, on its own CPU clock,
    /// PCT / (100 - PCT) times the CPU time those loops took, after the read-side section,
    /// so its loops per CPU-second fall by PCT % in every use case; the result file's config
    /// records it.
    #[arg(long = "inject-slowdown", default_value_t = 0, value_name = "PCT",
        value_parser = clap::value_parser!(u32).range(0..=90))]
    pub inject_slowdown: u32,

    /// Test only: the flavors --inject-slowdown slows, comma-separated [default: all].
    #[arg(long = "inject-flavors", value_name = "LIST")]
    pub inject_flavors: Option<String>,
}

impl InjectArgs {
    /// The flavors slowed: none when off, all when not named; unknown names are an error.
    pub fn flavors(&self) -> Result<Vec<String>, String> {
        match (self.inject_slowdown, &self.inject_flavors) {
            (0, Some(_)) => Err("--inject-flavors needs --inject-slowdown".into()),
            (0, None) => Ok(Vec::new()),
            (_, list) => names(
                "--inject-flavors",
                list.as_deref().unwrap_or("all"),
                allocators::FLAVORS,
                "allocator flavor",
            ),
        }
    }

    /// What a result file's config records: absent when off.
    pub fn record(&self) -> Option<crate::result::Inject> {
        let flavors = self.flavors().ok()?;
        (self.inject_slowdown > 0).then_some(crate::result::Inject {
            loop_ns: None,
            slowdown_pct: Some(self.inject_slowdown),
            flavors,
        })
    }
}

/// `--mem-limit`, `--fail-alloc` and `--fail-seed`: the memory a cell may charge and injected
/// allocation failures, for the run, `matrix`, `sweep` and `kfree-rcu`
/// (docs/memory-limit.md).
#[derive(clap::Args, Debug, Clone, Default)]
pub struct MemLimitArgs {
    /// The memcg limit of each cell's process (memory.max): the map's objects (and
    /// kvfree_rcu's blocks) are charged at their kmalloc size class, the unit of the memory
    /// columns; past the limit an allocation fails, the update returns ENOMEM and the run
    /// goes on. A size such as 64MiB, 1GiB or 512KiB, or max (none) [default: half of
    /// MemTotal].
    #[arg(
        long = "mem-limit",
        value_name = "SIZE",
        value_parser = parse_mem_limit,
        allow_hyphen_values = true
    )]
    pub mem_limit: Option<MemLimitValue>,

    /// Fault injection at the slab and kvfree_rcu's block allocation: a probability (0.01)
    /// or every Nth allocation (every:100) fails, so every flavor's failure path runs;
    /// reproducible with --fail-seed.
    #[arg(long = "fail-alloc", value_name = "P|every:N", value_parser = parse_fail_alloc)]
    pub fail_alloc: Option<String>,

    /// The seed of --fail-alloc's probability [default: 1].
    #[arg(long = "fail-seed", value_name = "N")]
    pub fail_seed: Option<u64>,
}

/// `--mem-limit`'s value: bytes, or None for `max`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemLimitValue(pub Option<u64>);

fn parse_mem_limit(s: &str) -> Result<MemLimitValue, String> {
    memcg::parse_size(s).map(MemLimitValue)
}

fn parse_fail_alloc(s: &str) -> Result<String, String> {
    memcg::FailAlloc::parse(s, 0).map(|_| s.to_string())
}

impl MemLimitArgs {
    /// The settings a plan carries: the limit given or the default, and the injection.
    pub fn settings(&self) -> Result<crate::config::MemLimit, String> {
        if self.fail_seed.is_some() && self.fail_alloc.is_none() {
            return Err("--fail-seed needs --fail-alloc".into());
        }
        Ok(crate::config::MemLimit {
            limit_bytes: match self.mem_limit {
                Some(MemLimitValue(v)) => v,
                None => memcg::default_limit(),
            },
            given: self.mem_limit.is_some(),
            fail_alloc: self.fail_alloc.clone(),
            fail_seed: self.fail_seed.unwrap_or(1),
        })
    }
}

/// `--rcu-gp-delay`, shared by every subcommand that runs an RCU domain.
#[derive(clap::Args, Debug, Clone)]
pub struct RcuGpDelay {
    /// Pacing of RCU grace periods, the delay before one starts (the kernel's grace-period
    /// kthread): a duration such as 6ms, 500us or 0 (no pacing); a bare number is
    /// microseconds. The default is calibrated on the kernel: with it free-after-gp holds an
    /// object about 10 ms from free to slab at -p 2, as the kernel's own figures give
    /// (docs/calibration.md); 1ms was the default before 2026-12-02.
    #[arg(
        long = "rcu-gp-delay",
        alias = "rcu-gp-delay-us",
        default_value = "6ms",
        value_name = "DURATION",
        value_parser = parse_delay_us,
        allow_hyphen_values = true
    )]
    pub rcu_gp_delay_us: u64,
}

/// `--rcu-readers` and `--deferred-work`: the kernel behaviours the run models, for the
/// subcommands whose producers run the use cases (the run, `matrix`, `sweep`).
#[derive(clap::Args, Debug, Clone)]
pub struct KernelModel {
    /// Whether a producer can be preempted inside its read-side section by another producer
    /// on its CPU (matters when producers outnumber CPUs). non-preemptible: producers sharing
    /// a CPU take turns between sections, never inside one, so a grace period waits for at
    /// most one section per CPU -- as in a kernel that never preempts inside a read-side
    /// section (CONFIG_PREEMPT_NONE/VOLUNTARY) or a PREEMPT_RCU kernel whose RCU_BOOST
    /// boosts preempted readers out. preemptible: the scheduler preempts producers anywhere and
    /// nothing helps a reader preempted inside its section (CONFIG_PREEMPT_RCU without
    /// RCU_BOOST).
    #[arg(
        long = "rcu-readers",
        value_enum,
        default_value_t = Readers::NonPreemptible,
        value_name = "MODEL"
    )]
    pub rcu_readers: Readers,

    /// How the allocators' deferred work is charged. inline: a watermark crossing refills or
    /// spills as a function call, whole lists spliced under one lock (no cost model).
    /// Otherwise, where memalloc.c raises an irq_work (a self-IPI) or the RFC queues a
    /// kworker, the producer pays a cost, and the work does one atomic operation per object
    /// it moves, as llist_add/llist_del_first do: `signal` sends itself a signal (a real trap
    /// into the kernel and back); a time such as `1500ns` or `1.5us` busy-waits that long (a
    /// self-IPI costs about 1-2 us in a KVM guest).
    #[arg(
        long = "deferred-work",
        default_value = "inline",
        value_name = "MODEL",
        value_parser = allocators::DeferredWork::parse
    )]
    pub deferred_work: allocators::DeferredWork,
}

/// `--memalloc`, for the subcommands that run the htab-mem cells (the run, `matrix`, `sweep`).
#[derive(clap::Args, Debug, Clone)]
pub struct Memalloc {
    /// Which kernel/bpf/memalloc.c immediate-reuse, call-rcu-free and free-rcu follow.
    /// current: v6.6 and later, where a free remembers the cache that allocated the object and
    /// the surplus goes back to that cache, which reuses it even while it waits for the
    /// tasks-trace grace period. v6.3: v6.2 to v6.5, where the surplus stays with the freeing
    /// CPU's cache and, once handed to tasks-trace, goes to the system only after its grace
    /// period; an add on one CPU and a delete on another (add_del_on_diff_cpu) then allocate
    /// every element anew; seed 001's "normal bpf ma" ran on this base. v6.1 (where
    /// bpf_mem_alloc began): as v6.3, and a refill never reuses the spilled objects at all. reuse-after-gp and free-after-gp
    /// are the same in both (they never had the hint); the others have no memalloc.c.
    #[arg(
        long = "memalloc",
        default_value = "current",
        value_name = "GEN",
        value_parser = clap::builder::PossibleValuesParser::new(MemallocGen::NAMES)
            .map(|s: String| MemallocGen::from_name(&s).expect("one of the listed names"))
    )]
    pub memalloc: MemallocGen,
}

/// The reader models of `--rcu-readers`.
#[derive(
    clap::ValueEnum,
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Default,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum Readers {
    #[default]
    NonPreemptible,
    Preemptible,
}

impl Readers {
    /// The option's value, as the result file and a child's command line spell it.
    pub fn name(self) -> &'static str {
        match self {
            Readers::NonPreemptible => "non-preemptible",
            Readers::Preemptible => "preemptible",
        }
    }
}

/// `--ttrace-gp-delay`, for the subcommands that run the RCU-tasks-trace domain too.
#[derive(clap::Args, Debug, Clone)]
pub struct TtraceGpDelay {
    /// Pacing of RCU-tasks-trace grace periods (as --rcu-gp-delay).
    #[arg(
        long = "ttrace-gp-delay",
        alias = "ttrace-gp-delay-us",
        default_value = "10ms",
        value_name = "DURATION",
        value_parser = parse_delay_us,
        allow_hyphen_values = true
    )]
    pub ttrace_gp_delay_us: u64,
}

/// The items of a comma-separated list, trimmed.
pub fn split_list(s: &str) -> Vec<String> {
    s.split(',').map(|t| t.trim().to_string()).collect()
}

/// `all` or a list of names from `known`, duplicates dropped, order kept; errors name `opt`.
pub fn names(opt: &str, value: &str, known: &[&str], what: &str) -> Result<Vec<String>, String> {
    if value == "all" {
        return Ok(known.iter().map(|s| s.to_string()).collect());
    }
    let mut v: Vec<String> = Vec::new();
    for n in split_list(value) {
        if !known.contains(&n.as_str()) {
            return Err(format!(
                "{opt}: unknown {what} '{n}' (known: {}, or all)",
                known.join(", ")
            ));
        }
        if !v.contains(&n) {
            v.push(n);
        }
    }
    Ok(v)
}

/// A grace-period delay in microseconds from `0`, `250`, `250us`, `1.5ms` or `2s`.
pub fn parse_delay_us(s: &str) -> Result<u64, String> {
    let (num, scale) = if let Some(n) = s.strip_suffix("us") {
        (n, 1.0)
    } else if let Some(n) = s.strip_suffix("ms") {
        (n, 1e3)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1e6)
    } else {
        (s, 1.0)
    };
    let v: f64 = num
        .parse()
        .map_err(|_| format!("'{s}' is not a duration (like 1ms, 500us, 0)"))?;
    if !v.is_finite() || v < 0.0 {
        return Err(format!("'{s}' is not a non-negative duration"));
    }
    let us = v * scale;
    if us > 3.6e9 {
        return Err(format!("'{s}' is longer than an hour"));
    }
    Ok(us.round() as u64)
}

/// A delay in microseconds the way `parse_delay_us` reads it back: `0`, `250us`, `1500us`,
/// `2ms`, `3s`.
pub fn format_delay_us(us: u64) -> String {
    match us {
        0 => "0".into(),
        _ if us.is_multiple_of(1_000_000) => format!("{}s", us / 1_000_000),
        _ if us.is_multiple_of(1000) => format!("{}ms", us / 1000),
        _ => format!("{us}us"),
    }
}

#[cfg(test)]
mod tests {
    use super::{format_delay_us, parse_delay_us};

    #[test]
    fn delays_format_so_they_parse_back() {
        for (us, s) in [(0, "0"), (250, "250us"), (1500, "1500us"), (2000, "2ms")] {
            assert_eq!(format_delay_us(us), s);
            assert_eq!(parse_delay_us(s), Ok(us));
        }
        assert_eq!(format_delay_us(3_000_000), "3s");
    }

    #[test]
    fn delays_parse_with_units() {
        assert_eq!(parse_delay_us("0"), Ok(0));
        assert_eq!(parse_delay_us("250"), Ok(250));
        assert_eq!(parse_delay_us("250us"), Ok(250));
        assert_eq!(parse_delay_us("1.5ms"), Ok(1500));
        assert_eq!(parse_delay_us("2s"), Ok(2_000_000));
        for bad in ["-1ms", "abc", "", "ms", "nan", "inf", "2h"] {
            assert!(parse_delay_us(bad).is_err(), "{bad}");
        }
    }
}
