//! `htab-mem`: the userspace reproduction of the kernel's `bench htab-mem`.

#![deny(unsafe_op_in_unsafe_fn)]

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, ExitCode, Stdio};

use clap::error::ErrorKind;
use clap::Parser;

use allocators::MemallocGen;
use harness::cli::{Cli, Config, Readers, RunArgs};
use harness::result::{self, CellResult, ResultFile};
use harness::{host, memory, report, runner};
use workloads::LoopShape;

#[global_allocator]
static GLOBAL: memory::CountingAlloc = memory::CountingAlloc;

/// Marks the child's result line on its stdout.
const RESULT_TAG: &str = "@@htab-mem-result ";

use harness::units::MIB;

fn main() -> ExitCode {
    let args: Vec<_> = std::env::args_os().collect();
    let top = match Cli::try_parse_from(harness::bench_argv::bench_argv(args.clone())) {
        Ok(c) => c,
        Err(e) => {
            return match e.kind() {
                ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
                    let _ = e.print();
                    ExitCode::SUCCESS
                }
                _ => bad_input(&parse_error(&args, &e)),
            }
        }
    };
    if let Some(cmd) = top.cmd {
        return harness::cmd::run(cmd);
    }
    let cli = top.run;
    let online = host::online_cpus();
    let cfg = match cli.validate(&online) {
        Ok(c) => c,
        Err(e) => return bad_input(&e),
    };
    if cli.child {
        return child_main(&cfg);
    }
    if let Some(path) = &cli.json {
        if let Err(e) = result::check_output_path("--json", path) {
            return bad_input(&e);
        }
    }
    parent_main(&cli, &cfg, &online)
}

use harness::bad_input;

fn first_line(clap_msg: &str) -> String {
    let l = clap_msg.lines().next().unwrap_or("invalid arguments");
    l.strip_prefix("error: ").unwrap_or(l).to_string()
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

/// Runs the one flavor it was given and reports the result on stdout.
fn child_main(cfg: &Config) -> ExitCode {
    let flavor = &cfg.flavors[0];
    let quiet = cfg.quiet;
    let (label, scale) = headline_rate(cfg);
    let mut out = std::io::stdout().lock();
    let mut on_tick = |t: &runner::Tick| {
        if !quiet {
            let line = report::rate_progress_line(
                label,
                t.iter as usize,
                t.delta_ns,
                t.per_prod_op_k * scale,
                t.charged_bytes as f64 / MIB,
            );
            let _ = writeln!(out, "{line}");
            let _ = out.flush();
        }
    };
    match runner::run_cell(cfg, flavor, &mut on_tick) {
        Ok(r) => {
            let json = serde_json::to_string(&r).expect("serialising a result");
            println!("{RESULT_TAG}{json}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("htab-mem: {flavor}: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Runs every flavor in its own child process, then the summary table and the JSON file.
fn parent_main(cli: &RunArgs, cfg: &Config, online: &[usize]) -> ExitCode {
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
    let mut cells = Vec::new();
    let mut failed = false;
    for flavor in &cfg.flavors {
        println!(
            "htab-mem: use case {}, flavor {}, {} producers, value size {}, max entries {}",
            cfg.use_case, flavor, cfg.producers, cfg.value_size, cfg.max_entries
        );
        let cell = run_child(cli, cfg, flavor);
        if cell.status != "ok" {
            failed = true;
            eprintln!(
                "htab-mem: {flavor}: {}: {}",
                cell.status,
                cell.error.as_deref().unwrap_or("")
            );
        }
        if cell.status != "error" {
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
        }
        if cli.rcu_stats {
            for d in &cell.rcu {
                println!("{}", report::rcu_stats_line(d));
            }
        }
        cells.push(cell);
    }
    println!();
    // Named only when not today's, so the default output stays as it was.
    let memalloc = match cfg.memalloc {
        MemallocGen::Current => String::new(),
        g => format!(", memalloc {}", g.name()),
    };
    println!(
        "{} with {} producers ({}s warm-up, {}s measured{memalloc}){}:",
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
        if let Err(e) = result::write_atomic(path, &file) {
            eprintln!("htab-mem: {e}");
            return ExitCode::FAILURE;
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// The progress lines' rate: the merged benchmark's per producer, or the RFC's total (the
/// per-producer rate times the producers).
fn headline_rate(cfg: &Config) -> (&'static str, f64) {
    match cfg.shape {
        LoopShape::Merged => (report::PER_PROD_OP, 1.0),
        LoopShape::Rfc { .. } => (report::RFC_LOOP, cfg.producers as f64),
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
            report::TableRow {
                flavor: c.flavor.clone(),
                loops_k: rate.value / 1000.0,
                loops_k_std: rate.stddev.unwrap_or(0.0) / 1000.0,
                per_producer_k: rfc.then(|| m.loops_per_sec_per_producer.value / 1000.0),
                mem_avg_mib: m.mem_avg_shown().value / MIB,
                mem_peak_mib: m.mem_peak_shown().value / MIB,
                raw_avg_mib: m.mem_avg.value / MIB,
                rss_peak_mib: m.rss_peak.value / MIB,
                leaked: c.allocator.leaked,
                status: c.status.clone(),
                incorrect_per_m: m.incorrect_lookups_per_million.as_ref().map(|x| x.value),
            }
        })
        .collect()
}

/// The arguments that make a child run exactly `cfg` with one flavor.
fn child_args(cli: &RunArgs, cfg: &Config, flavor: &str) -> Vec<String> {
    let mut a: Vec<String> = vec![
        "--child".into(),
        "-A".into(),
        flavor.into(),
        "-p".into(),
        cfg.producers.to_string(),
        "-w".into(),
        cfg.warmup.to_string(),
        "-d".into(),
        cfg.duration.to_string(),
        "--use-case".into(),
        cfg.use_case.clone(),
        "--value-size".into(),
        cfg.value_size.to_string(),
        "--max-entries".into(),
        cfg.max_entries.to_string(),
        "--rcu-gp-delay".into(),
        format!("{}us", cfg.rcu_gp_delay_us),
        "--ttrace-gp-delay".into(),
        format!("{}us", cfg.ttrace_gp_delay_us),
    ];
    a.extend(harness::cli::model_args(
        cfg.rcu_readers,
        cfg.deferred_work,
        cfg.memalloc,
    ));
    if !cfg.ttrace_implies_rcu {
        a.push("--ttrace-chain".into());
    }
    if cli.rfc {
        a.push("--rfc".into());
        if let Some(k) = cli.loop_keys {
            a.extend(["--loop-keys".into(), k.to_string()]);
        } else if let Some(f) = cli.full {
            a.extend(["--full".into(), f.to_string()]);
        }
    }
    if cli.no_affinity {
        a.push("--no-affinity".into());
    } else if let Some(set) = &cli.prod_affinity {
        a.push("--prod-affinity".into());
        a.push(set.clone());
    }
    if cfg.quiet {
        a.push("-q".into());
    }
    if cfg.fault_batch_alloc {
        a.push("--fault-batch-alloc".into());
    }
    a
}

fn run_child(cli: &RunArgs, cfg: &Config, flavor: &str) -> CellResult {
    let error_cell = |msg: String| {
        let mut c = CellResult::error(&cfg.use_case, flavor, cfg.producers, msg);
        c.loop_shape = result::LoopShapeInfo::of(cfg.shape, cfg.producers);
        c.id = c.expected_id();
        c
    };
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => return error_cell(format!("cannot find own executable: {e}")),
    };
    let mut child = match Command::new(exe)
        .args(child_args(cli, cfg, flavor))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
    {
        Ok(c) => c,
        Err(e) => return error_cell(format!("cannot start a child process: {e}")),
    };
    let mut result = None;
    let stdout = child.stdout.take().expect("piped stdout");
    for line in BufReader::new(stdout).lines() {
        let Ok(line) = line else { break };
        if let Some(json) = line.strip_prefix(RESULT_TAG) {
            result = Some(serde_json::from_str::<CellResult>(json));
        } else {
            println!("{line}");
        }
    }
    let status = child.wait();
    match (result, status) {
        (Some(Ok(r)), Ok(s)) if s.success() => r,
        (Some(Err(e)), _) => error_cell(format!("unreadable result from the child: {e}")),
        (_, Ok(s)) => error_cell(format!("child process failed ({s})")),
        (_, Err(e)) => error_cell(format!("waiting for the child process: {e}")),
    }
}
