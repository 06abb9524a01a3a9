//! Runs a list of matrix cells into one native result file, each cell a fresh process of
//! this binary running the cell's plan (`bench::child`): the machinery behind `matrix` and
//! `sweep`, which differ only in the cells they list. Here: the options and the checks made
//! before anything runs; `execute`: the run.
//!
//! The file is rewritten atomically after every cell, so an interrupted run keeps every
//! finished cell and never a half-written one; a rerun skips the cells already there.

mod execute;

use std::path::PathBuf;

use clap::Parser;

use crate::bench;
use crate::cli::Cli;
use crate::host;
use crate::matrix_file::{self, Cell, Shard};
use crate::result::{self, Pacing, ResultFile, RunConfig};

pub use execute::execute;

/// Exit status after SIGINT/SIGTERM, as a shell reports a SIGINT death.
const INTERRUPTED: u8 = 130;

/// The options of every subcommand that runs cells: the file, the flavors, and what every
/// cell shares.
#[derive(clap::Args, Debug, Clone)]
pub struct CellOpts {
    /// Result file to create or resume (cells already in it are skipped).
    #[arg(long = "out", value_name = "FILE")]
    pub out: PathBuf,

    /// Comma-separated rows: allocator flavors (or `all`) and, in htab-mem matrices, peer
    /// maps (`peer:dashmap`, ..., or `peers`; other benchmarks leave the default's out).
    #[arg(
        short = 'A',
        long = "allocators",
        default_value = crate::rows::DEFAULT,
        value_name = "LIST"
    )]
    pub allocators: String,

    /// Warm-up seconds per cell.
    #[arg(short = 'w', long = "warmup", default_value_t = 1, value_name = "SEC")]
    pub warmup: u64,

    /// Measured seconds per trial. The default, 1 s x 3 trials, measures a cell in three
    /// processes in about 11 s (warm-up, start and drain included), so that the default
    /// matrix's CI shards stay under 8 minutes each, ten of them with the baseline commit
    /// measured beside (docs/results-tools.md).
    #[arg(
        short = 'd',
        long = "duration",
        default_value_t = 1,
        value_name = "SEC"
    )]
    pub duration: u64,

    /// Value size in bytes (1..=4096).
    #[arg(long = "value-size", default_value_t = 8, value_name = "BYTES")]
    pub value_size: usize,

    /// Map capacity of every cell [default: max(8192, 64 x largest producer count)].
    #[arg(long = "max-entries", value_name = "N")]
    pub max_entries: Option<u32>,

    /// Do not pin producers to CPUs.
    #[arg(long = "no-affinity")]
    pub no_affinity: bool,

    #[command(flatten)]
    pub readers: crate::cli::KernelModel,

    #[command(flatten)]
    pub memalloc: crate::cli::Memalloc,

    #[command(flatten)]
    pub inject: crate::cli::InjectArgs,

    #[command(flatten)]
    pub mem: crate::cli::MemLimitArgs,

    /// Drain pause between cells in milliseconds, so one cell's teardown (freed memory,
    /// busy CPUs) does not leak into the next cell's first seconds.
    #[arg(long = "pause-ms", default_value_t = 500, value_name = "MS")]
    pub pause_ms: u64,

    /// Independent child processes per cell, interleaved across the flavors of a (use case,
    /// producers) group: trial 1 of every flavor, then trial 2, ... A cell holds every
    /// trial's figures, the median across trials as its metrics and a 95 % interval of the
    /// median; it is written to the file once all its trials are done. With 3, two matrices
    /// of one commit flagged 4 of 42 cells instead of 18-29 with 1, on a loaded machine
    /// (docs/results-tools.md#trials-and-intervals).
    #[arg(long = "trials", default_value_t = 3, value_name = "N",
        value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub trials: u32,

    /// Measure another build beside this one, in the same run: every trial of every cell
    /// runs in both binaries back to back, in alternating order (this one first on odd
    /// trials, the other on even ones), and the other's cells go to --baseline-out. Two
    /// files measured so share the machine's drift minute by minute, which two matrices
    /// hours apart do not (docs/results-tools.md#the-same-job-baseline). The other binary
    /// must speak this one's child protocol (a plan as JSON on stdin): a build of a nearby
    /// commit of this tool.
    #[arg(long = "baseline-exe", value_name = "PATH", requires = "baseline_out")]
    pub baseline_exe: Option<PathBuf>,

    /// The result file of --baseline-exe's cells (created or resumed like --out).
    #[arg(long = "baseline-out", value_name = "FILE", requires = "baseline_exe")]
    pub baseline_out: Option<PathBuf>,

    /// The commit --baseline-exe was built from, recorded as its file's git_sha [default:
    /// "baseline"].
    #[arg(long = "baseline-sha", value_name = "SHA", requires = "baseline_exe")]
    pub baseline_sha: Option<String>,

    /// Print the ids of the cells that would run, one per line, and run nothing.
    #[arg(long = "list")]
    pub list: bool,

    /// Plain progress lines instead of a progress bar.
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,
}

impl CellOpts {
    /// The rows of `-A/--allocators`: flavors and peer maps (an htab-mem matrix).
    pub fn rows(&self) -> Result<Vec<String>, String> {
        crate::rows::parse("-A/--allocators", &self.allocators)
    }

    /// The flavors of `-A/--allocators`, for a benchmark without peer rows.
    pub fn flavors(&self, what: &str) -> Result<Vec<String>, String> {
        crate::rows::flavors_only("-A/--allocators", &self.allocators, what)
    }
}

/// What a subcommand asks to run.
pub struct Spec<'a> {
    /// The subcommand's name, for progress lines.
    pub what: &'static str,
    pub opts: &'a CellOpts,
    /// The delays of cells without a pacing of their own.
    pub delays: Pacing,
    pub shard: Option<Shard>,
    /// The cells in running order, and those the use case refuses, with the reason.
    pub cells: Vec<Cell>,
    pub skipped: Vec<(Cell, String)>,
    /// The plan a cell's child runs, validated; None: htab-mem's, from `opts`.
    pub plan_of: Option<PlanOf<'a>>,
}

/// Makes a cell's plan from the cell and the delays it runs with.
pub type PlanOf<'a> = Box<dyn Fn(&Cell, Pacing) -> Result<bench::Plan, String> + 'a>;

/// A cell and the plan its child runs.
#[derive(Clone)]
struct Planned {
    cell: Cell,
    plan: bench::Plan,
}

impl AsRef<Cell> for Planned {
    fn as_ref(&self) -> &Cell {
        &self.cell
    }
}

/// One binary measured and the file its cells go to: this one's, and `--baseline-exe`'s.
struct Side {
    /// None: this binary.
    exe: Option<PathBuf>,
    out: PathBuf,
    file: ResultFile,
    /// Whether `out` exists already (so an empty run leaves it untouched).
    existed: bool,
}

impl Side {
    fn open(
        exe: Option<PathBuf>,
        out: &std::path::Path,
        flag: &str,
        paced: bool,
        expected: &RunConfig,
        git_sha: String,
    ) -> Result<Side, String> {
        Ok(Side {
            exe,
            out: out.to_path_buf(),
            existed: out.exists(),
            file: open_or_new(out, flag, paced, expected, git_sha)?,
        })
    }

    /// How progress lines name this side's cells.
    fn who(&self) -> &'static str {
        if self.exe.is_some() {
            " (baseline)"
        } else {
            ""
        }
    }
}

/// Everything checked before the first cell runs.
pub struct Plan {
    what: &'static str,
    opts: CellOpts,
    /// The cells to run now, in order, with their plans.
    todo: Vec<Planned>,
    skipped: Vec<(Cell, String)>,
    already: usize,
    /// This binary's side first, then `--baseline-exe`'s when given.
    sides: Vec<Side>,
    /// Whether cells carry their own pacing, so configs are compared without the delays.
    paced: bool,
    shard: Option<Shard>,
    max_producers: usize,
    nr_online: usize,
}

/// How a run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Every cell ran; `all_ok` unless some leaked or failed.
    Finished {
        all_ok: bool,
    },
    Interrupted,
    /// Stopped on an error already reported.
    Failed,
}

impl Outcome {
    /// Every way a run ends was reported as it happened: only the exit status is left.
    pub fn result(self) -> crate::error::Result {
        use crate::error::Error::Reported;
        match self {
            Outcome::Finished { all_ok: true } => Ok(()),
            Outcome::Interrupted => Err(Reported(INTERRUPTED)),
            _ => Err(Reported(1)),
        }
    }
}

/// Checks a run before anything runs: option ranges, every cell exactly as its child will
/// parse it, the output path and the config of a file being resumed.
pub fn prepare(spec: Spec) -> Result<Plan, String> {
    let a = spec.opts;
    let out = a.out.as_path();
    let all = spec.cells.iter().chain(spec.skipped.iter().map(|(c, _)| c));
    let max_producers = all.clone().map(|c| c.producers).max().unwrap_or(1);
    if let Some(c) = all.clone().find(|c| c.producers == 0 || c.producers > 4096) {
        return Err(format!(
            "-p/--producers {} is out of range (1..=4096)",
            c.producers
        ));
    }
    if a.warmup == 0 || a.duration == 0 {
        return Err("-w/--warmup and -d/--duration must be greater than 0".into());
    }
    let online = host::online_cpus();
    let max_entries = a
        .max_entries
        .unwrap_or_else(|| (64 * max_producers.min(1 << 20) as u32).max(8192));
    let paced = all.clone().any(|c| c.pacing.is_some());

    // Every cell's plan is made and validated now, as its child will run it, so a run never
    // stops half-way on an option the run mode refuses.
    let htab = |c: &Cell, d: Pacing| htab_plan(c, a, max_entries, d, &online);
    let plan_of: &dyn Fn(&Cell, Pacing) -> Result<bench::Plan, String> = match &spec.plan_of {
        Some(f) => f,
        None => &htab,
    };
    let mut planned = Vec::new();
    for c in &spec.cells {
        let p = plan_of(c, c.pacing.unwrap_or(spec.delays))?;
        planned.push(Planned {
            cell: c.clone(),
            plan: p,
        });
    }
    let expected = match planned.first() {
        Some(p) => matrix_file::shared_config(&p.plan.run_config()),
        // Nothing can run (say add_del_on_diff_cpu with -p 1): still a valid, empty matrix.
        None => RunConfig {
            benchmark: result::Benchmark::HtabMem,
            warmup_s: a.warmup,
            duration_s: a.duration,
            affinity: if a.no_affinity {
                "none".into()
            } else {
                crate::cpuset::format_cpuset(&online)
            },
            max_entries: u64::from(max_entries),
            value_size: a.value_size as u64,
            use_case: None,
            producers: None,
            rcu_gp_delay_us: spec.delays.rcu_gp_delay_us,
            ttrace_gp_delay_us: spec.delays.ttrace_gp_delay_us,
            ttrace_implies_rcu: true,
            rcu_readers: a.readers.rcu_readers.name().into(),
            deferred_work: a.readers.deferred_work.label(),
            memalloc: a.memalloc.memalloc.name().into(),
            map_perf_test: None,
            kfree_rcu: None,
            inject: a.inject.record(),
            mem_limit: a.mem.settings()?.record(),
        },
    };
    result::check_output_path("--out", out)?;
    let mut sides = vec![Side::open(
        None,
        out,
        "--out",
        paced,
        &expected,
        result::git_sha(),
    )?];
    if let (Some(exe), Some(bout)) = (&a.baseline_exe, &a.baseline_out) {
        if !is_executable(exe) {
            return Err(format!(
                "--baseline-exe {}: not an executable file",
                exe.display()
            ));
        }
        result::check_output_path("--baseline-out", bout)?;
        if same_file(bout, out) {
            return Err("--baseline-out must not be the --out file".into());
        }
        let sha = a.baseline_sha.clone().unwrap_or_else(|| "baseline".into());
        sides.push(Side::open(
            Some(exe.clone()),
            bout,
            "--baseline-out",
            paced,
            &expected,
            sha,
        )?);
    }

    let mine = match spec.shard {
        Some(s) => matrix_file::shard(&planned, s),
        None => planned,
    };
    // Cells that errored are run again; ok and leak cells are results. With a baseline, a
    // cell is done when both files hold it (both sides of a cell are measured together).
    let measured = |f: &ResultFile| -> std::collections::HashSet<String> {
        f.results
            .iter()
            .filter(|c| c.status.measured())
            .map(|c| c.id.clone())
            .collect()
    };
    let done = sides
        .iter()
        .map(|s| measured(&s.file))
        .reduce(|a, b| a.intersection(&b).cloned().collect())
        .unwrap_or_default();
    let (todo, already): (Vec<_>, Vec<_>) =
        mine.into_iter().partition(|p| !done.contains(&p.cell.id()));
    Ok(Plan {
        what: spec.what,
        opts: a.clone(),
        todo,
        skipped: spec.skipped,
        already: already.len(),
        sides,
        paced,
        shard: spec.shard,
        max_producers,
        nr_online: online.len(),
    })
}

impl Plan {
    /// The ids of the cells that would run, one a line (`--list`).
    pub fn print_list(&self) {
        for Planned { cell: c, .. } in &self.todo {
            println!("{}", c.id());
        }
    }
}

/// The result file at `path` to resume, checked against the run's config, or a new one.
fn open_or_new(
    path: &std::path::Path,
    flag: &str,
    paced: bool,
    expected: &RunConfig,
    git_sha: String,
) -> Result<ResultFile, String> {
    if path.exists() {
        let f = matrix_file::load(path)?;
        let diff = config_differences(paced, &f.config, expected);
        if !diff.is_empty() {
            return Err(format!(
                "{}: holds results of a different config ({}); use another {flag} or the same options",
                path.display(),
                diff.join(", ")
            ));
        }
        Ok(f)
    } else {
        Ok(ResultFile {
            schema_version: result::SCHEMA_VERSION,
            tool: result::TOOL.to_string(),
            git_sha,
            timestamp: result::utc_timestamp(),
            host: host::host_info(),
            config: expected.clone(),
            results: Vec::new(),
        })
    }
}

fn is_executable(p: &std::path::Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Whether two paths name one file (the second may not exist yet).
fn same_file(a: &std::path::Path, b: &std::path::Path) -> bool {
    let canon = |p: &std::path::Path| {
        let dir = p.parent().filter(|d| !d.as_os_str().is_empty());
        let dir = dir.unwrap_or(std::path::Path::new(".")).canonicalize().ok();
        dir.map(|d| d.join(p.file_name().unwrap_or_default()))
    };
    canon(a).is_some() && canon(a) == canon(b)
}

/// `matrix_file::config_differences`, leaving out the delays when the cells carry their
/// own pacing: the file config records the first cell's.
fn config_differences(paced: bool, a: &RunConfig, b: &RunConfig) -> Vec<String> {
    let unpaced = |c: &RunConfig| RunConfig {
        rcu_gp_delay_us: 0,
        ttrace_gp_delay_us: 0,
        ..c.clone()
    };
    if paced {
        matrix_file::config_differences(&unpaced(a), &unpaced(b))
    } else {
        matrix_file::config_differences(a, b)
    }
}

/// An htab-mem cell's plan: the run mode's options, defaults and checks, with the cell's
/// and the matrix's values set as data (no command line in between).
fn htab_plan(
    c: &Cell,
    a: &CellOpts,
    max_entries: u32,
    d: Pacing,
    online: &[usize],
) -> Result<bench::Plan, String> {
    let mut r = Cli::try_parse_from(["htab-mem"])
        .expect("the run mode's defaults parse")
        .run;
    r.allocator = c.flavor.clone();
    r.producers = c.producers;
    r.use_case = c.use_case.clone();
    r.warmup = a.warmup;
    r.duration = a.duration;
    r.value_size = a.value_size;
    r.max_entries = Some(max_entries);
    r.no_affinity = a.no_affinity;
    r.readers = a.readers.clone();
    r.memalloc = a.memalloc.clone();
    r.inject = a.inject.clone();
    r.mem = a.mem.clone();
    r.rcu_gp.rcu_gp_delay_us = d.rcu_gp_delay_us;
    r.ttrace_gp.ttrace_gp_delay_us = d.ttrace_gp_delay_us;
    r.quiet = true;
    let cfg = r.validate(online).map_err(|e| format!("{}: {e}", c.id()))?;
    Ok(bench::Plan::HtabMem(cfg))
}
