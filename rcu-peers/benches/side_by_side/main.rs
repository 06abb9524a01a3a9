//! `cargo bench -p rcu-peers [--features liburcu] [-- --burst N]`: the rcu crate next to
//! liburcu memb and crossbeam-epoch, one markdown table and the target ratios, from one run.

#![deny(unsafe_op_in_unsafe_fn)]

mod epoch_side;
mod probe;
mod rcu_side;
mod rows;
mod table;
#[cfg(feature = "liburcu")]
mod urcu_side;

use std::process::ExitCode;
use std::time::{Duration, Instant};

use rcu::DomainConfig;
use rows::*;
use table::{Col, Table};

fn parse_burst() -> Result<usize, String> {
    let mut n = 1_000_000;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--bench" => {}
            "--burst" => {
                let v = args.next().ok_or("--burst needs a value")?;
                n = v
                    .parse()
                    .ok()
                    .filter(|&n: &usize| n > 0)
                    .ok_or(format!("--burst: '{v}' is not a positive integer"))?;
            }
            other => return Err(format!("unknown argument '{other}' (expected --burst N)")),
        }
    }
    Ok(n)
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    // Other work on the machine skews every column alike; say how busy it was.
    let load = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_string))
        .unwrap_or_default();
    format!("{cpus} CPUs, {cpu}, Linux {kernel}, load average {load} at start")
}

fn main() -> ExitCode {
    let n = match parse_burst() {
        Ok(n) => n,
        Err(e) => {
            eprintln!("side_by_side: {e}");
            return ExitCode::from(2);
        }
    };
    let started = Instant::now();
    let host = machine(); // before pinning narrows the visible CPUs
    probe::pin_to(probe::Cpu::Writer);
    let mut t = Table::default();
    rcu_side::run(&mut t, Col::Rcu, DomainConfig::default(), n);
    let paced = DomainConfig {
        gp_delay: Duration::from_millis(1),
        ..Default::default()
    };
    rcu_side::run(&mut t, Col::RcuPaced, paced, n);
    #[cfg(feature = "liburcu")]
    urcu_side::run(&mut t, n);
    #[cfg(not(feature = "liburcu"))]
    t.note("liburcu column empty: built without `--features liburcu`.".into());
    epoch_side::run(&mut t, n);

    println!(
        "## rcu side by side ({}; burst {n}; main thread on the first CPU, spinning reader \
         on the last)\n",
        host
    );
    t.print();
    println!();
    targets(&t);
    println!("\n(total {:.1} s)", started.elapsed().as_secs_f64());
    ExitCode::SUCCESS
}

/// The targets, as ratios from this run.
fn targets(t: &Table) {
    println!("### targets (this run)\n");
    let check = |what: &str, row: &str, a: Col, b: Col, want: &str, ok: fn(f64) -> bool| match (
        t.num(row, a),
        t.num(row, b),
    ) {
        (Some(x), Some(y)) => {
            let r = x / y;
            let verdict = if ok(r) { "met" } else { "NOT met" };
            println!("- {what}: {x:.3} / {y:.3} = {r:.3} (want {want}): **{verdict}**");
        }
        _ => println!("- {what}: n/a (a side was not measured in this build)"),
    };
    check(
        "read_lock+unlock vs crossbeam-epoch pin+unpin",
        READ,
        Col::Rcu,
        Col::Epoch,
        "<= 0.2",
        |r| r <= 0.2,
    );
    check(
        "synchronize (idle readers, mean µs) vs liburcu synchronize_rcu",
        SYNC_IDLE,
        Col::Rcu,
        Col::Urcu,
        "<= 1",
        |r| r <= 1.0,
    );
    check(
        "call enqueue (ns/call, 1M burst) vs liburcu call_rcu",
        ENQ,
        Col::Rcu,
        Col::Urcu,
        "< 1",
        |r| r < 1.0,
    );
    check(
        "callback latency p50, 1M burst, thread idle after, vs liburcu",
        LAT_IDLE,
        Col::Rcu,
        Col::Urcu,
        "<= 0.2",
        |r| r <= 0.2,
    );
    check(
        "callback latency p50, 1M burst, barrier after, vs liburcu",
        LAT_BARRIER,
        Col::Rcu,
        Col::Urcu,
        "<= 0.2",
        |r| r <= 0.2,
    );
}
