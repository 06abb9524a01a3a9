//! `htab-mem sweep`: one use case and producer count, every selected flavor at each of a list
//! of grace-period pacings, run by `matrix_run` (a fresh process per cell) into one result
//! file; then a table and an SVG of loops/s per producer and average memory against pacing,
//! one line per flavor: memory vs speed vs reuse safety in one picture.

use std::path::{Path, PathBuf};

use crate::cli::{format_delay_us, names, parse_delay_us, split_list};
use crate::error::{OrBadInput, OrFailed, Result};
use crate::matrix_file;
use crate::matrix_run::{self, CellOpts, Outcome, Plan, Spec};
use crate::plot::{self, Dataset};
use crate::result::{CellResult, Pacing, Status};
use crate::text_table;

use crate::plot::style::MIB;

#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// The use case every cell runs (see the run mode's --use-case).
    #[arg(long = "use-case", default_value = "overwrite", value_name = "NAME")]
    pub use_case: String,

    /// Producer threads of every cell.
    #[arg(short = 'p', long = "producers", default_value_t = 2, value_name = "N")]
    pub producers: usize,

    /// RCU grace-period pacings (the kernel's RCU grace-period kthread: the delay before a
    /// requested grace period starts), comma-separated, as --rcu-gp-delay takes them: 0 (none), 250us,
    /// 1ms, 2s; a bare number is microseconds.
    #[arg(
        long = "pacings",
        default_value = "0,100us,1ms,10ms",
        value_name = "LIST",
        allow_hyphen_values = true
    )]
    pub pacings: String,

    /// RCU-tasks-trace pacing as K times each RCU pacing [default: 10, the ratio of the
    /// run mode's defaults, 10ms to 1ms].
    #[arg(
        long = "ttrace-scale",
        value_name = "K",
        conflicts_with = "ttrace_pacings",
        allow_hyphen_values = true
    )]
    pub ttrace_scale: Option<f64>,

    /// RCU-tasks-trace pacings (the kernel's RCU tasks trace grace periods), one per
    /// --pacings entry, in the same order, instead of --ttrace-scale.
    #[arg(
        long = "ttrace-pacings",
        value_name = "LIST",
        allow_hyphen_values = true
    )]
    pub ttrace_pacings: Option<String>,

    /// The SVG figure [default: --out with the extension .svg].
    #[arg(long = "svg", value_name = "FILE")]
    pub svg: Option<PathBuf>,

    #[command(flatten)]
    pub cell: CellOpts,
}

const DEFAULT_TTRACE_SCALE: f64 = 10.0;

pub fn run(a: Args) -> Result {
    let (plan, cells, svg) = make_plan(&a).or_bad_input()?;
    if a.cell.list {
        plan.print_list();
        return Ok(());
    }
    let outcome = matrix_run::execute(plan);
    if matches!(outcome, Outcome::Interrupted | Outcome::Failed) {
        return outcome.result();
    }
    report(&a, &cells, &svg).or_failed()?;
    outcome.result()
}

/// The pacings of `--pacings` with their tasks-trace partners, ascending, repeats dropped.
fn pacing_list(a: &Args) -> Result<Vec<Pacing>, String> {
    let durations = |opt: &str, list: &str| -> Result<Vec<u64>, String> {
        split_list(list)
            .iter()
            .map(|t| parse_delay_us(t).map_err(|e| format!("{opt}: {e}")))
            .collect()
    };
    let rcu = durations("--pacings", &a.pacings)?;
    let ttrace = match &a.ttrace_pacings {
        Some(list) => {
            let v = durations("--ttrace-pacings", list)?;
            if v.len() != rcu.len() {
                return Err(format!(
                    "--ttrace-pacings has {} entries for the {} of --pacings",
                    v.len(),
                    rcu.len()
                ));
            }
            v
        }
        None => {
            let k = a.ttrace_scale.unwrap_or(DEFAULT_TTRACE_SCALE);
            if !(k.is_finite() && k >= 0.0) {
                return Err(format!("--ttrace-scale {k} must be a number >= 0"));
            }
            let mut v = Vec::new();
            for &r in &rcu {
                // Through the parser, so a scaled pacing meets the same limits as a given one.
                let us = parse_delay_us(&format!("{}us", (r as f64 * k).round()))
                    .map_err(|e| format!("--ttrace-scale {k} x {}: {e}", format_delay_us(r)))?;
                v.push(us);
            }
            v
        }
    };
    let mut v: Vec<Pacing> = rcu
        .into_iter()
        .zip(ttrace)
        .map(|(r, t)| Pacing {
            rcu_gp_delay_us: r,
            ttrace_gp_delay_us: t,
        })
        .collect();
    v.sort_unstable();
    v.dedup();
    Ok(v)
}

/// The plan, the sweep's cells (done or not, for the report) and the SVG path.
fn make_plan(a: &Args) -> Result<(Plan, Vec<matrix_file::Cell>, PathBuf), String> {
    let use_case = names("--use-case", &a.use_case, workloads::USE_CASES, "use case")?;
    if use_case.len() != 1 {
        return Err(format!("--use-case {}: name one use case", a.use_case));
    }
    let flavors = a.cell.flavors("a sweep (grace-period pacings)")?;
    let pacings = pacing_list(a)?;
    let svg = match &a.svg {
        Some(p) => p.clone(),
        None => a.cell.out.with_extension("svg"),
    };
    crate::result::check_output_path("--svg", &svg)?;
    if svg == a.cell.out {
        return Err(format!(
            "--svg {}: is the result file itself",
            svg.display()
        ));
    }
    let (cells, skipped) = matrix_file::plan(
        &use_case,
        &flavors,
        &[a.producers],
        &pacings.iter().copied().map(Some).collect::<Vec<_>>(),
    );
    if let Some((_, why)) = skipped.first() {
        return Err(format!("--use-case {}: {why}", a.use_case));
    }
    let plan = matrix_run::prepare(Spec {
        what: "sweep",
        opts: &a.cell,
        delays: pacings[0],
        shard: None,
        cells: cells.clone(),
        skipped,
        plan_of: None,
    })?;
    Ok((plan, cells, svg))
}

/// The table on stdout and the SVG, from the file as the run left it.
fn report(a: &Args, cells: &[matrix_file::Cell], svg: &Path) -> Result<(), String> {
    let file = matrix_file::load(&a.cell.out)?;
    let ids: Vec<String> = cells.iter().map(matrix_file::Cell::id).collect();
    let mine: Vec<CellResult> = file
        .results
        .into_iter()
        .filter(|c| ids.contains(&c.id))
        .collect();
    let uc = &cells[0].use_case;
    let plural = if a.producers == 1 { "" } else { "s" };
    println!(
        "{uc}, {} producer{plural} ({}s warm-up, {}s measured); pacing is RCU / tasks-trace \
         grace-period delay; k/s is loops/s per producer, MiB is average memory; with trials, \
         the median and [its 95 % interval]:",
        a.producers, file.config.warmup_s, file.config.duration_s
    );
    println!("{}", table(&mine));
    let ds = Dataset::new(mine)?;
    let (_, text) = plot::sweep::render(&ds, uc, a.producers)?;
    crate::result::write_bytes_atomic(svg, text.as_bytes(), "")?;
    eprintln!("sweep: figure in {}", svg.display());
    Ok(())
}

/// Rows: flavors; per pacing, loops/s per producer (k/s) and average memory (MiB, as
/// charged when the cell has it), each with its interval when the cell has trials.
fn table(cells: &[CellResult]) -> String {
    let mut pacings: Vec<Pacing> = cells.iter().filter_map(|c| c.pacing).collect();
    pacings.sort_unstable();
    pacings.dedup();
    let mut flavors: Vec<&str> = Vec::new();
    for c in cells {
        if !flavors.contains(&c.flavor.as_str()) {
            flavors.push(&c.flavor);
        }
    }
    let labels: Vec<String> = pacings
        .iter()
        .flat_map(|p| [format!("{} k/s", p.label()), format!("{} MiB", p.label())])
        .collect();
    let header: Vec<&str> = std::iter::once("flavor")
        .chain(labels.iter().map(String::as_str))
        .collect();
    let rows: Vec<Vec<String>> = flavors
        .iter()
        .map(|f| {
            let mut row = vec![f.to_string()];
            for p in &pacings {
                let c = cells
                    .iter()
                    .find(|c| c.flavor == *f && c.pacing.as_ref() == Some(p));
                row.extend(match c {
                    None => ["-".to_string(), "-".to_string()],
                    Some(c) if c.status == Status::Error => ["error".to_string(), "-".to_string()],
                    Some(c) => {
                        let m = &c.metrics;
                        let flag = if c.status == Status::Ok {
                            String::new()
                        } else {
                            format!(" ({})", c.status)
                        };
                        let ci = c.trials.ci95.as_ref();
                        [
                            crate::report::with_interval(
                                m.loops_per_sec_per_producer.value / 1e3,
                                ci.map(|i| i.loops_per_sec_per_producer),
                                1e3,
                            ) + &flag,
                            crate::report::with_interval(
                                m.mem_avg_shown().value / MIB,
                                ci.map(|i| i.mem_avg),
                                MIB,
                            ),
                        ]
                    }
                });
            }
            row
        })
        .collect();
    text_table::render(&header, &rows)
}
