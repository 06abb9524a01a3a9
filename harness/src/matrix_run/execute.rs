//! Running a prepared plan: one child process per trial of a cell (trials interleaved across
//! the flavors of a group), the file rewritten after each finished cell, a
//! progress bar or plain lines, and SIGINT/SIGTERM ending the run between cells.

use std::io::IsTerminal;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

use super::{config_differences, Outcome, Plan, Planned, Side};
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

impl Side {
    /// Puts a whole cell in the file and rewrites it.
    fn record(&mut self, res: CellResult) -> Result<(), String> {
        self.file.results.retain(|c| c.id != res.id);
        self.file.results.push(res);
        matrix_file::sort_cells(&mut self.file.results);
        result::write_atomic(&self.out, &self.file)
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
    let mut sides = std::mem::take(&mut plan.sides);
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
    let trials = a.trials.max(1) as usize;
    let runs_per_cell = trials * sides.len();
    let per_cell = (run_s + 0.5 + a.pause_ms as f64 / 1000.0) * runs_per_cell as f64;
    let mut head = format!(
        "{}: {n} cells to run into {}",
        plan.what,
        sides[0].out.display()
    );
    if let Some(b) = sides.get(1) {
        head.push_str(&format!(
            " and, measured beside them by {}, into {}",
            b.exe.as_deref().unwrap_or(Path::new("?")).display(),
            b.out.display()
        ));
    }
    if let Some(s) = plan.shard {
        head.push_str(&format!(" (shard {s})"));
    }
    if trials > 1 {
        head.push_str(&format!(", {trials} trials each"));
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
    if n == 0 {
        // An empty shard still leaves a file, so `merge` of every shard just works.
        for side in sides.iter().filter(|s| !s.existed) {
            if let Err(e) = result::write_atomic(&side.out, &side.file) {
                eprintln!("htab-mem: {e}");
                return Outcome::Failed;
            }
        }
        return Outcome::Finished { all_ok: true };
    }

    let progress = if a.quiet || !std::io::stderr().is_terminal() {
        Progress::Plain
    } else {
        let bar = ProgressBar::new((n * runs_per_cell) as u64);
        bar.set_style(
            ProgressStyle::with_template(
                "[{elapsed_precise}] {bar:30} {pos}/{len} ETA {eta} {msg}",
            )
            .expect("a valid template"),
        );
        Progress::Bar(bar)
    };
    let failed = |progress: &Progress, msg: String| {
        if let Progress::Bar(b) = progress {
            b.abandon();
        }
        eprintln!("htab-mem: {msg}");
        Outcome::Failed
    };
    let started = Instant::now();
    let (mut ok, mut leak, mut error) = (0usize, 0usize, 0usize);
    let mut interrupted = false;
    let todo = std::mem::take(&mut plan.todo);
    let (mut runs_done, mut cells_done) = (0usize, 0usize);
    'groups: for group in groups(&todo) {
        // runs[side][cell]: the trials so far.
        let mut runs: Vec<Vec<Vec<CellResult>>> = vec![vec![Vec::new(); group.len()]; sides.len()];
        for (t, i) in crate::trials::schedule(group.len(), trials) {
            let Planned {
                cell,
                plan: cell_plan,
            } = &group[i];
            let t0 = Instant::now();
            // Both binaries back to back, the first of the pair alternating trial by trial,
            // so neither always runs on the machine the other just warmed or loaded.
            for k in 0..sides.len() {
                let s = (k + t) % sides.len();
                if stop.load(Ordering::Relaxed) {
                    interrupted = true;
                    break 'groups;
                }
                if runs_done > 0
                    && a.pause_ms > 0
                    && sleep_unless(&stop, Duration::from_millis(a.pause_ms))
                {
                    interrupted = true;
                    break 'groups;
                }
                let who = sides[s].who();
                if let Progress::Bar(b) = &progress {
                    b.set_message(if trials > 1 {
                        format!("{}{who} (trial {}/{trials})", cell.id(), t + 1)
                    } else {
                        format!("{}{who}", cell.id())
                    });
                }
                let side = &mut sides[s];
                let t1 = Instant::now();
                let Some((res, cell_config)) =
                    run_cell(cell, cell_plan, &stop, side.exe.as_deref())
                else {
                    interrupted = true;
                    break 'groups;
                };
                if s > 0
                    && res
                        .error
                        .as_deref()
                        .is_some_and(|e| e.contains(child::UNREADABLE_PLAN))
                {
                    return failed(
                        &progress,
                        format!(
                            "--baseline-exe cannot read this binary's cell plans ({}): build \
                             it from a commit with the same child protocol, or compare with \
                             a committed result set instead",
                            res.error.as_deref().unwrap_or_default()
                        ),
                    );
                }
                // The child records what it really ran with: a new file takes that, and a
                // cell that disagrees with the file is never mixed in.
                if let Some(c) = cell_config {
                    if side.file.results.is_empty() && !side.existed {
                        side.file.config = matrix_file::shared_config(&c);
                    }
                    let diff = config_differences(plan.paced, &side.file.config, &c);
                    if !diff.is_empty() {
                        return failed(
                            &progress,
                            format!(
                                "{}{who}: the cell ran with another config than {} holds ({}); \
                                 stopped",
                                cell.id(),
                                side.out.display(),
                                diff.join(", ")
                            ),
                        );
                    }
                }
                runs_done += 1;
                if let Progress::Bar(b) = &progress {
                    b.inc(1);
                }
                if trials > 1 || s > 0 {
                    progress.line(&trial_line(
                        t + 1,
                        trials,
                        &res,
                        who,
                        t1.elapsed().as_secs_f64(),
                    ));
                }
                runs[s][i].push(res);
            }
            if t + 1 < trials {
                continue;
            }
            // The cell's last trial: the cell is whole, and only now written.
            let secs = t0.elapsed().as_secs_f64();
            let eta = started.elapsed().as_secs_f64() / runs_done as f64
                * (n * runs_per_cell - runs_done) as f64;
            cells_done += 1;
            for (s, side) in sides.iter_mut().enumerate() {
                let res = crate::trials::combine(std::mem::take(&mut runs[s][i]));
                match res.status {
                    Status::Ok => ok += 1,
                    Status::Leak => leak += 1,
                    Status::Error => error += 1,
                    Status::NotApplicable => {}
                }
                let line = cell_line(cells_done, n, &res, side.who(), secs, eta);
                if let Err(e) = side.record(res) {
                    return failed(&progress, e);
                }
                progress.line(&line);
            }
        }
    }
    if let Progress::Bar(b) = &progress {
        b.finish_and_clear();
    }
    let total = matrix_file::fmt_duration(started.elapsed().as_secs_f64());
    let holds = |s: &Side| format!("{} holds {} cells", s.out.display(), s.file.results.len());
    let holding: Vec<String> = sides.iter().map(holds).collect();
    if interrupted {
        eprintln!(
            "{}: interrupted after {total}; {} (finished cells; rerun to resume)",
            plan.what,
            holding.join(", ")
        );
        return Outcome::Interrupted;
    }
    eprintln!(
        "{}: {} cells in {total} ({ok} ok, {leak} leak, {error} error); {}",
        plan.what,
        ok + leak + error,
        holding.join(", ")
    );
    Outcome::Finished {
        all_ok: leak + error == 0,
    }
}

/// The consecutive runs of cells that share a use case, producer count and pacing: the
/// flavors whose trials interleave.
fn groups(todo: &[Planned]) -> Vec<&[Planned]> {
    let key = |p: &Planned| {
        let c = &p.cell;
        (c.benchmark, c.use_case.clone(), c.producers, c.pacing)
    };
    let mut out = Vec::new();
    let mut start = 0;
    for i in 1..=todo.len() {
        if i == todo.len() || key(&todo[i]) != key(&todo[start]) {
            out.push(&todo[start..i]);
            start = i;
        }
    }
    out
}

/// One trial's line: which trial of which cell (of which binary), and its figures.
fn trial_line(t: usize, trials: usize, c: &CellResult, who: &str, secs: f64) -> String {
    format!(
        "  trial {t}/{trials} {}{who} {} ({secs:.1}s)",
        c.id,
        cell_figures(c)
    )
}

/// A cell's status and figures for a progress line; with trials, the medians and the
/// interval of loops/s per producer.
fn cell_figures(c: &CellResult) -> String {
    if !c.status.measured() {
        return format!("{}: {}", c.status, c.error.as_deref().unwrap_or("?"));
    }
    let m = &c.metrics;
    let ci = match &c.trials.ci95 {
        Some(ci) => format!(
            " [{:.2}, {:.2}]",
            ci.loops_per_sec_per_producer[0] / 1000.0,
            ci.loops_per_sec_per_producer[1] / 1000.0
        ),
        None => String::new(),
    };
    format!(
        "{}: {:.2}{ci} k/s per producer, peak memory {:.2} MiB",
        c.status,
        m.loops_per_sec_per_producer.value / 1000.0,
        m.mem_peak_shown().value / MIB
    )
}

fn cell_line(i: usize, n: usize, c: &CellResult, who: &str, secs: f64, eta: f64) -> String {
    let w = n.to_string().len();
    let what = cell_figures(c);
    format!(
        "[{i:>w$}/{n}] {}{who} {what} ({secs:.1}s, eta {})",
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
    exe: Option<&Path>,
) -> Option<(CellResult, Option<RunConfig>)> {
    let how = child::Spawn {
        forward: false,
        stop: Some(stop),
        exe,
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
