//! `htab-mem matrix`: use cases x flavors x producer counts of one benchmark (htab-mem,
//! map-perf-test or kfree-rcu), each cell a fresh process of this binary running the cell's
//! plan, appended to one native result file (see `matrix_run`, which runs the cells).

use crate::cli::names;
use crate::error::{OrBadInput, Result};
use crate::host;
use crate::matrix_file::{self, Shard};
use crate::matrix_run::{self, CellOpts, Plan, Spec};
use crate::result::{Benchmark, Pacing};

#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// Which benchmark's cells: htab-mem, map-perf-test (use cases are its tests, producers
    /// its workers) or kfree-rcu (the use case is `kfree`, the flavors its modes).
    #[arg(long = "benchmark", default_value = "htab-mem", value_name = "NAME",
        value_parser = clap::builder::PossibleValuesParser::new(["htab-mem", "map-perf-test", "kfree-rcu"]))]
    pub benchmark: String,

    /// Comma-separated use cases, or `all`. htab-mem's default is the kernel bench's four;
    /// map-perf-test's use cases are its tests in lower case (hash_kmalloc, lru_hash_prealloc,
    /// ...; default all implemented ones); kfree-rcu has one, kfree.
    #[arg(long = "use-cases", value_name = "LIST")]
    pub use_cases: Option<String>,

    /// Comma-separated producer counts [default: 1,2,4,8,16 and the CPU count].
    #[arg(short = 'p', long = "producers", value_name = "LIST")]
    pub producers: Option<String>,

    #[command(flatten)]
    pub cell: CellOpts,

    #[command(flatten)]
    pub rcu_gp: crate::cli::RcuGpDelay,

    #[command(flatten)]
    pub ttrace_gp: crate::cli::TtraceGpDelay,

    #[command(flatten)]
    pub other: super::matrix_plans::OtherBenchOpts,

    /// Run only slice I of N: the (use case, producers) groups of the ordered matrix are
    /// dealt round-robin, so every flavor of a group runs in the same slice.
    #[arg(long = "shard", value_name = "I/N")]
    pub shard: Option<String>,
}

pub fn run(a: Args) -> Result {
    let plan = make_plan(&a).or_bad_input()?;
    if a.cell.list {
        plan.print_list();
        return Ok(());
    }
    matrix_run::execute(plan).result()
}

fn producer_list(value: &str) -> Result<Vec<usize>, String> {
    let mut v = Vec::new();
    for t in crate::cli::split_list(value) {
        let n: usize = t
            .parse()
            .ok()
            .filter(|_| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()))
            .ok_or_else(|| format!("-p/--producers: '{t}' is not a producer count"))?;
        v.push(n);
    }
    v.sort_unstable();
    v.dedup();
    Ok(v)
}

fn make_plan(a: &Args) -> Result<Plan, String> {
    let benchmark = Benchmark::from_name(&a.benchmark).expect("clap checked the name");
    a.other.check(benchmark)?;
    let producers = match &a.producers {
        Some(s) => producer_list(s)?,
        None => matrix_file::default_producers(host::online_cpus().len()),
    };
    let shard = a.shard.as_deref().map(str::parse::<Shard>).transpose()?;
    let delays = Pacing {
        rcu_gp_delay_us: a.rcu_gp.rcu_gp_delay_us,
        ttrace_gp_delay_us: a.ttrace_gp.ttrace_gp_delay_us,
    };
    let (cells, skipped, plan_of) = match benchmark {
        Benchmark::HtabMem => {
            let use_cases = names(
                "--use-cases",
                a.use_cases.as_deref().unwrap_or(HTAB_MEM_USE_CASES),
                workloads::USE_CASES,
                "use case",
            )?;
            let flavors = a.cell.rows()?;
            let (cells, skipped) = matrix_file::plan(&use_cases, &flavors, &producers, &[None]);
            (cells, skipped, None)
        }
        other => {
            let (cells, plan_of) = super::matrix_plans::cells(other, a, &producers)?;
            (cells, Vec::new(), Some(plan_of))
        }
    };
    matrix_run::prepare(Spec {
        what: "matrix",
        opts: &a.cell,
        delays,
        shard,
        cells,
        skipped,
        plan_of,
    })
}

/// The kernel bench's four use cases, htab-mem's default.
const HTAB_MEM_USE_CASES: &str = "no_op,overwrite,batch_add_batch_del,add_del_on_diff_cpu";
