//! `htab-mem`: the userspace reproduction of the kernel's `bench htab-mem`.

use std::process::ExitCode;

use clap::error::ErrorKind;
use clap::Parser;

use allocators::MemallocGen;
use harness::bench::{child, Plan};
use harness::cli::{Cli, Config, Readers, RunArgs};
use harness::error::{self, Error, OrBadInput, OrFailed};
use harness::result::{self, Benchmark, CellResult, ResultFile, Status};
use harness::{host, memory, report};
use workloads::LoopShape;

#[global_allocator]
static GLOBAL: memory::CountingAlloc = memory::CountingAlloc;

use harness::units::MIB;

fn main() -> ExitCode {
    let args: Vec<_> = std::env::args_os().collect();
    if args.get(1).is_some_and(|a| a == child::CHILD_FLAG) {
        return child::child_main();
    }
    let argv = match harness::bench_argv::bench_argv(args.clone()) {
        Ok(a) => a,
        Err(e) => return Error::BadInput(e).report(),
    };
    let top = match Cli::try_parse_from(argv) {
        Ok(c) => c,
        Err(e) => {
            return match e.kind() {
                ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
                    let _ = e.print();
                    ExitCode::SUCCESS
                }
                _ => Error::BadInput(parse_error(&args, &e)).report(),
            }
        }
    };
    match top.cmd {
        Some(cmd) => harness::cmd::run(cmd),
        None => error::exit(run(&top.run)),
    }
}

/// The htab-mem run: validated whole before anything runs.
fn run(cli: &RunArgs) -> error::Result {
    let online = host::online_cpus();
    let cfg = cli.validate(&online).or_bad_input()?;
    if let Some(path) = &cli.json {
        result::check_output_path("--json", path).or_bad_input()?;
    }
    parent_main(cli, &cfg, &online)
}

/// clap's message as one line: its first, and when that ends in a colon, the list clap puts
/// on the lines after it ("cannot be used with:" and the options), joined.
fn first_line(clap_msg: &str) -> String {
    let mut lines = clap_msg.lines().map(str::trim).filter(|l| !l.is_empty());
    let first = lines.next().unwrap_or("invalid arguments");
    let first = first.strip_prefix("error: ").unwrap_or(first);
    match first.strip_suffix(':') {
        Some(head) => {
            let items: Vec<&str> = lines
                .take_while(|l| !l.starts_with("Usage:") && !l.starts_with("For more"))
                .collect();
            format!("{head} {}", items.join(", "))
        }
        None => first.to_string(),
    }
}

/// clap's message, except for a word where a benchmark or subcommand goes that names none
/// (clap would call it a subcommand that "cannot be used with" the options before it).
fn parse_error(args: &[std::ffi::OsString], e: &clap::Error) -> String {
    let known = harness::bench_argv::known_commands();
    match harness::bench_argv::first_positional(args) {
        Some((_, word)) if !known.contains(&word) => format!(
            "unknown benchmark or subcommand '{word}' (known: {})",
            known.join(", ")
        ),
        _ => first_line(&e.to_string()),
    }
}

/// Runs every flavor in its own child process, then the summary table and the JSON file.
fn parent_main(cli: &RunArgs, cfg: &Config, online: &[usize]) -> error::Result {
    if cfg.producers > online.len() {
        let how = match cfg.rcu_readers {
            Readers::NonPreemptible => {
                "producers sharing a CPU take turns between read-side sections \
                 (--rcu-readers non-preemptible)"
            }
            Readers::Preemptible => {
                "readers preempted inside read-side sections stretch grace periods \
                 (--rcu-readers preemptible)"
            }
        };
        eprintln!(
            "htab-mem: warning: {} producers on {} online CPUs: CPUs are oversubscribed; {how}",
            cfg.producers,
            online.len()
        );
    }
    if cfg.deferred_work != allocators::DeferredWork::Inline {
        let ns = cfg.deferred_work.measure_raise_ns(2000);
        eprintln!(
            "htab-mem: deferred work: {:.2} us paid at every irq_work/kworker step (measured \
             here), plus an atomic operation per object moved (--deferred-work {})",
            ns / 1000.0,
            cfg.deferred_work.label()
        );
    }
    let n = cli.trials as usize;
    // Trial 1 of every flavor, then trial 2, ...: drift of the machine hits every flavor.
    let mut runs: Vec<Vec<CellResult>> = vec![Vec::new(); cfg.flavors.len()];
    for (t, i) in harness::trials::schedule(cfg.flavors.len(), n) {
        let flavor = &cfg.flavors[i];
        let trial = if n > 1 {
            format!(", trial {}/{n}", t + 1)
        } else {
            String::new()
        };
        println!(
            "htab-mem: use case {}, flavor {}, {} producers, value size {}, max entries {}, memory limit {}{trial}",
            cfg.use_case, flavor, cfg.producers, cfg.value_size, cfg.max_entries, cfg.mem.describe()
        );
        // A row that cannot express the use case runs nothing: one "n/a" cell.
        let cell = match harness::bench::htab_mem::not_applicable(&cfg.use_case, flavor) {
            Some(_) if !runs[i].is_empty() => continue,
            Some(why) => CellResult::not_applicable(&cfg.use_case, flavor, cfg.producers, why),
            None => run_child(cfg, flavor),
        };
        report_trial(cli, cfg, &cell);
        runs[i].push(cell);
    }
    let cells: Vec<CellResult> = runs.into_iter().map(harness::trials::combine).collect();
    let mut failed = false;
    for cell in &cells {
        if cell.status.failed() {
            failed = true;
            if n > 1 {
                eprintln!(
                    "htab-mem: {}: {} over {n} trials{}{}",
                    cell.flavor,
                    cell.status,
                    if cell.error.is_some() { ": " } else { "" },
                    cell.error.as_deref().unwrap_or("")
                );
            }
        }
    }
    println!();
    // Named only when not today's, so the default output stays as it was.
    let memalloc = match cfg.memalloc {
        MemallocGen::Current => String::new(),
        g => format!(", memalloc {}", g.name()),
    };
    let trials = if n > 1 {
        format!("; figures are medians of {n} trials, [95 % interval of the median] (bootstrap)")
    } else {
        String::new()
    };
    println!(
        "{} with {} producers ({}s warm-up, {}s measured{memalloc}){}{trials}:",
        cfg.use_case,
        cfg.producers,
        cfg.warmup,
        cfg.duration,
        shape_caption(cfg)
    );
    println!("{}", report::comparison_table(&table_rows(cfg, &cells)));
    if cli.explain_memory {
        println!("Memory explained (Little's law; docs/memory-model.md):");
        println!("{}", report::memory_model_table(&cells));
    }
    if let Some(path) = &cli.json {
        let file = ResultFile {
            schema_version: result::SCHEMA_VERSION,
            tool: result::TOOL.to_string(),
            git_sha: result::git_sha(),
            timestamp: result::utc_timestamp(),
            host: host::host_info(),
            config: cfg.run_config(),
            results: cells,
        };
        result::write_atomic(path, &file).or_failed()?;
    }
    // Each failed flavor was reported as it ended.
    if failed {
        Err(Error::Reported(1))
    } else {
        Ok(())
    }
}

/// What one trial's child printed is followed by its Summary line (as the kernel bench
/// prints it) and, with --rcu-stats, the domains' lines; a failed trial says why.
fn report_trial(cli: &RunArgs, cfg: &Config, cell: &CellResult) {
    if cell.status != Status::Ok {
        eprintln!(
            "htab-mem: {}: {}: {}",
            cell.flavor,
            cell.status,
            cell.error.as_deref().unwrap_or("")
        );
    }
    if cell.status.measured() {
        let m = &cell.metrics;
        let (label, rate) = match cfg.shape {
            LoopShape::Merged => (report::PER_PROD_OP, &m.loops_per_sec_per_producer),
            LoopShape::Rfc { .. } => (report::RFC_LOOP, &m.loops_per_sec),
        };
        println!(
            "{}",
            report::rate_summary_line(
                label,
                rate.value / 1000.0,
                rate.stddev.unwrap_or(0.0) / 1000.0,
                m.mem_avg_shown().value / MIB,
                m.mem_avg_shown().stddev.unwrap_or(0.0) / MIB,
                m.mem_peak_shown().value / MIB,
            )
        );
        if let Some(l) = cell.mem_limit.as_ref().and_then(report::mem_limit_line) {
            println!("{l}");
        }
    }
    if cli.robust && cell.status.measured() {
        println!("{}", harness::steady::robust_line(cell));
    }
    if cli.rcu_stats {
        for d in &cell.rcu {
            println!("{}", report::rcu_stats_line(d));
        }
    }
}

/// What the table's caption adds for the RFC's loop, whose units differ.
fn shape_caption(cfg: &Config) -> String {
    match cfg.shape {
        LoopShape::Merged => String::new(),
        LoopShape::Rfc { live } => format!(
            "; RFC loop: {} keys per producer ({live} live of {}), loop (k/s) is the total \
             over producers",
            cfg.shape.keys_per_loop(cfg.producers),
            cfg.max_entries
        ),
    }
}

fn table_rows(cfg: &Config, cells: &[CellResult]) -> Vec<report::TableRow> {
    let rfc = matches!(cfg.shape, LoopShape::Rfc { .. });
    cells
        .iter()
        .map(|c| {
            let m = &c.metrics;
            let rate = if rfc {
                &m.loops_per_sec
            } else {
                &m.loops_per_sec_per_producer
            };
            let ci = c.trials.ci95.as_ref();
            let k = |r: [f64; 2]| (r[0] / 1000.0, r[1] / 1000.0);
            report::TableRow {
                flavor: c.flavor.clone(),
                loops_k: rate.value / 1000.0,
                loops_k_ci: ci.map(|ci| {
                    k(if rfc {
                        ci.loops_per_sec
                    } else {
                        ci.loops_per_sec_per_producer
                    })
                }),
                mem_avg_ci: ci.map(|ci| (ci.mem_avg[0] / MIB, ci.mem_avg[1] / MIB)),
                loops_k_std: rate.stddev.unwrap_or(0.0) / 1000.0,
                per_producer_k: rfc.then(|| m.loops_per_sec_per_producer.value / 1000.0),
                mem_avg_mib: m.mem_avg_shown().value / MIB,
                mem_peak_mib: m.mem_peak_shown().value / MIB,
                raw_avg_mib: m.mem_avg.value / MIB,
                rss_peak_mib: m.rss_peak.value / MIB,
                leaked: c.allocator.leaked,
                status: c.status,
                incorrect_per_m: m.incorrect_lookups_per_million.as_ref().map(|x| x.value),
                failed_per_s: c.mem_limit.as_ref().map(|l| l.failed_updates_per_sec),
                notes: c.notes(),
            }
        })
        .collect()
}

/// Runs `flavor` of `cfg` in a child process; a child that fails gives an error cell.
fn run_child(cfg: &Config, flavor: &str) -> CellResult {
    let plan = Plan::HtabMem(Config {
        flavors: vec![flavor.to_string()],
        ..cfg.clone()
    });
    let how = child::Spawn {
        forward: true,
        stop: None,
        exe: None,
    };
    match child::run(&plan, how) {
        child::Outcome::Ran(r) if r.cells.len() == 1 => r.cells.into_iter().next().unwrap(),
        child::Outcome::Ran(r) => error_cell(
            cfg,
            flavor,
            format!("{} cells from one flavor", r.cells.len()),
        ),
        child::Outcome::Failed(e) => error_cell(cfg, flavor, e),
        child::Outcome::Stopped => error_cell(cfg, flavor, "stopped".into()),
    }
}

fn error_cell(cfg: &Config, flavor: &str, msg: String) -> CellResult {
    let mut c = CellResult::error(
        Benchmark::HtabMem,
        &cfg.use_case,
        flavor,
        cfg.producers,
        msg,
    );
    c.loop_shape = result::LoopShapeInfo::of(cfg.shape, cfg.producers);
    c.id = c.expected_id();
    c
}
