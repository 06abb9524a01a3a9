//! `htab-mem matrix`: use cases x flavors x producer counts, each cell a fresh process of
//! this binary in its normal run mode, appended to one native result file (see
//! `matrix_run`, which runs the cells).

use std::process::ExitCode;

use crate::cli::names;
use crate::matrix_file::{self, Shard};
use crate::matrix_run::{self, CellOpts, Plan, Spec};
use crate::result::Pacing;
use crate::{bad_input, host};

#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// Comma-separated use cases, or `all` (every registered one). The default is the
    /// kernel bench's four.
    #[arg(
        long = "use-cases",
        default_value = "no_op,overwrite,batch_add_batch_del,add_del_on_diff_cpu",
        value_name = "LIST"
    )]
    pub use_cases: String,

    /// Comma-separated producer counts [default: 1,2,4,8,16 and the CPU count].
    #[arg(short = 'p', long = "producers", value_name = "LIST")]
    pub producers: Option<String>,

    #[command(flatten)]
    pub cell: CellOpts,

    #[command(flatten)]
    pub rcu_gp: crate::cli::RcuGpDelay,

    #[command(flatten)]
    pub ttrace_gp: crate::cli::TtraceGpDelay,

    /// Run only slice I of N: the (use case, producers) groups of the ordered matrix are
    /// dealt round-robin, so every flavor of a group runs in the same slice.
    #[arg(long = "shard", value_name = "I/N")]
    pub shard: Option<String>,
}

pub fn run(a: Args) -> ExitCode {
    let plan = match make_plan(&a) {
        Ok(p) => p,
        Err(e) => return bad_input(&e),
    };
    if a.cell.list {
        plan.print_list();
        return ExitCode::SUCCESS;
    }
    matrix_run::execute(plan).exit_code()
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
    let use_cases = names(
        "--use-cases",
        &a.use_cases,
        workloads::USE_CASES,
        "use case",
    )?;
    let flavors = a.cell.flavors()?;
    let producers = match &a.producers {
        Some(s) => producer_list(s)?,
        None => matrix_file::default_producers(host::online_cpus().len()),
    };
    let shard = a.shard.as_deref().map(str::parse::<Shard>).transpose()?;
    let (cells, skipped) = matrix_file::plan(&use_cases, &flavors, &producers, &[None]);
    matrix_run::prepare(Spec {
        what: "matrix",
        opts: &a.cell,
        delays: Pacing {
            rcu_gp_delay_us: a.rcu_gp.rcu_gp_delay_us,
            ttrace_gp_delay_us: a.ttrace_gp.ttrace_gp_delay_us,
        },
        shard,
        cells,
        skipped,
        plan_of: None,
    })
}
