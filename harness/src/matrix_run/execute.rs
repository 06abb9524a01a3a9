//! Running a prepared plan: one child process per cell, the file rewritten after each, a
//! progress bar or plain lines, and SIGINT/SIGTERM ending the run between cells.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

use super::{config_differences, Outcome, Plan, Planned};
use crate::bench::{self, child};
use crate::matrix_file::{self, Cell};
use crate::result::{self, CellResult, RunConfig, Status};
use crate::units::MIB;

/// Where progress goes: a bar on a terminal, plain lines otherwise or with -q.
enum Progress {
    Bar(ProgressBar),
    Plain,
}

impl Progress {
    fn line(&self, s: &str) {
        match self {
            Progress::Bar(b) => b.println(s),
            Progress::Plain => eprintln!("{s}"),
        }
    }
}

/// Runs the plan's cells in order, rewriting the file after each.
pub fn execute(mut plan: Plan) -> Outcome {
    let a = plan.opts.clone();
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        if let Err(e) = signal_hook::flag::register(sig, Arc::clone(&stop)) {
            eprintln!("htab-mem: cannot install a signal handler: {e}");
            return Outcome::Failed;
        }
    }
    let n = plan.todo.len();
    // Per htab-mem cell: warm-up + measured seconds + the extra tick bench.c takes, plus
    // about half a second of process start and teardown, plus the pause; the benchmarks that
    // run to completion take about a second.
    let timed = plan
        .todo
        .first()
        .is_none_or(|p| matches!(p.plan, bench::Plan::HtabMem(_)));
    let run_s = if timed {
        (a.warmup + a.duration + 1) as f64
    } else {
        1.0
    };
    let per_cell = run_s + 0.5 + a.pause_ms as f64 / 1000.0;
    let mut head = format!(
        "{}: {n} cells to run into {}",
        plan.what,
        plan.out.display()
    );
    if let Some(s) = plan.shard {
        head.push_str(&format!(" (shard {s})"));
    }
    if plan.already > 0 {
        head.push_str(&format!(", {} already there", plan.already));
    }
    if !plan.skipped.is_empty() {
        head.push_str(&format!(
            ", {} skipped ({})",
            plan.skipped.len(),
            plan.skipped[0].1
        ));
    }
    head.push_str(&format!(
        ", about {}",
        matrix_file::fmt_duration(n as f64 * per_cell)
    ));
    eprintln!("{head}");
    if plan.max_producers > plan.nr_online {
        eprintln!(
            "htab-mem: warning: up to {} producers on {} online CPUs: cells with more producers \
             than CPUs oversubscribe them",
            plan.max_producers, plan.nr_online
        );
    }
    if !plan.existed && n == 0 {
        // An empty shard still leaves a file, so `merge` of every shard just works.
        if let Err(e) = result::write_atomic(&plan.out, &plan.file) {
            eprintln!("htab-mem: {e}");
            return Outcome::Failed;
        }
    }
    if n == 0 {
        return Outcome::Finished { all_ok: true };
    }

    let progress = if a.quiet || !std::io::stderr().is_terminal() {
        Progress::Plain
    } else {
        let bar = ProgressBar::new(n as u64);
        bar.set_style(
            ProgressStyle::with_template(
                "[{elapsed_precise}] {bar:30} {pos}/{len} ETA {eta} {msg}",
            )
            .expect("a valid template"),
        );
        Progress::Bar(bar)
    };
    let started = Instant::now();
    let (mut ok, mut leak, mut error) = (0usize, 0usize, 0usize);
    let mut interrupted = false;
    for (
        k,
        Planned {
            cell,
            plan: cell_plan,
        },
    ) in plan.todo.iter().enumerate()
    {
        if stop.load(Ordering::Relaxed) {
            interrupted = true;
            break;
        }
        if k > 0 && a.pause_ms > 0 && sleep_unless(&stop, Duration::from_millis(a.pause_ms)) {
            interrupted = true;
            break;
        }
        if let Progress::Bar(b) = &progress {
            b.set_message(cell.id());
        }
        let t0 = Instant::now();
        let Some((res, cell_config)) = run_cell(cell, cell_plan, &stop) else {
            interrupted = true;
            break;
        };
        // The child records what it really ran with: a new file takes that, and a cell
        // that disagrees with the file is never mixed in.
        if let Some(c) = cell_config {
            if plan.file.results.is_empty() && !plan.existed {
                plan.file.config = matrix_file::shared_config(&c);
            }
            let diff = config_differences(plan.paced, &plan.file.config, &c);
            if !diff.is_empty() {
                if let Progress::Bar(b) = &progress {
                    b.abandon();
                }
                eprintln!(
                    "htab-mem: {}: the cell ran with another config than {} holds ({}); stopped",
                    cell.id(),
                    plan.out.display(),
                    diff.join(", ")
                );
                return Outcome::Failed;
            }
        }
        match res.status {
            Status::Ok => ok += 1,
            Status::Leak => leak += 1,
            Status::Error => error += 1,
        }
        let line = cell_line(k + 1, n, &res, t0.elapsed().as_secs_f64(), {
            let done = (k + 1) as f64;
            let left = (n - k - 1) as f64;
            started.elapsed().as_secs_f64() / done * left
        });
        plan.file.results.retain(|c| c.id != res.id);
        plan.file.results.push(res);
        matrix_file::sort_cells(&mut plan.file.results);
        if let Err(e) = result::write_atomic(&plan.out, &plan.file) {
            if let Progress::Bar(b) = &progress {
                b.abandon();
            }
            eprintln!("htab-mem: {e}");
            return Outcome::Failed;
        }
        progress.line(&line);
        if let Progress::Bar(b) = &progress {
            b.inc(1);
        }
    }
    if let Progress::Bar(b) = &progress {
        b.finish_and_clear();
    }
    let total = matrix_file::fmt_duration(started.elapsed().as_secs_f64());
    if interrupted {
        eprintln!(
            "{}: interrupted after {total}; {} holds {} finished cells (rerun to resume)",
            plan.what,
            plan.out.display(),
            plan.file.results.len()
        );
        return Outcome::Interrupted;
    }
    eprintln!(
        "{}: {} cells in {total} ({ok} ok, {leak} leak, {error} error); {} holds {} cells",
        plan.what,
        ok + leak + error,
        plan.out.display(),
        plan.file.results.len()
    );
    Outcome::Finished {
        all_ok: leak + error == 0,
    }
}

fn cell_line(i: usize, n: usize, c: &CellResult, secs: f64, eta: f64) -> String {
    let w = n.to_string().len();
    let what = if c.status == Status::Error {
        format!("error: {}", c.error.as_deref().unwrap_or("?"))
    } else {
        format!(
            "{}: {:.2} k/s per producer, peak memory {:.2} MiB",
            c.status,
            c.metrics.loops_per_sec_per_producer.value / 1000.0,
            c.metrics.mem_peak.value / MIB
        )
    };
    format!(
        "[{i:>w$}/{n}] {} {what} ({secs:.1}s, eta {})",
        c.id,
        matrix_file::fmt_duration(eta)
    )
}

/// Sleeps `d` in small steps; true if a stop was requested meanwhile.
fn sleep_unless(stop: &AtomicBool, d: Duration) -> bool {
    let end = Instant::now() + d;
    while Instant::now() < end {
        if stop.load(Ordering::Relaxed) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20).min(end - Instant::now()));
    }
    stop.load(Ordering::Relaxed)
}

/// Runs one cell in a child process group of its own; None if a stop was requested, in
/// which case the whole group is killed and its result, if any, dropped.
fn run_cell(
    cell: &Cell,
    plan: &bench::Plan,
    stop: &AtomicBool,
) -> Option<(CellResult, Option<RunConfig>)> {
    let how = child::Spawn {
        forward: false,
        stop: Some(stop),
    };
    let error_cell = |msg: String| {
        cell.claim(CellResult::error(
            cell.benchmark,
            &cell.use_case,
            &cell.flavor,
            cell.producers,
            msg,
        ))
    };
    // The child ran a plain cell: its id has no pacing.
    let plain_id = result::paced_cell_id(
        cell.benchmark,
        &cell.use_case,
        &cell.flavor,
        cell.producers,
        None,
    );
    Some(match child::run(plan, how) {
        child::Outcome::Stopped => return None,
        child::Outcome::Failed(e) => (error_cell(e), None),
        child::Outcome::Ran(r) => match r.cells.into_iter().find(|c| c.id == plain_id) {
            Some(c) => (cell.claim(c), Some(r.config)),
            None => (
                error_cell(format!("the child ran no cell {plain_id}")),
                None,
            ),
        },
    })
}
