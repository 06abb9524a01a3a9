//! `htab-mem compare BASE NEW`: per-cell ratios of loops/s and peak memory, exit status 1
//! on a regression.
//!
//! Noise-aware: by default each metric's raw ratios are divided by their median over all
//! matched cells, so a uniform drift of the machine between the two runs (another CI runner,
//! frequency, a steady noisy neighbour) cancels and only cells that moved against the rest
//! are judged; with ~100 cells the median adds almost no noise of its own. `--reference
//! FLAVOR` instead divides each side by the same side's cell of that flavor with the same
//! use case and producers (the reference cells are then shown but not judged), and
//! `--no-normalize` judges raw ratios. A change that moves every cell alike is invisible
//! to the normalised modes by design.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;

use crate::matrix_file;
use crate::result::{CellResult, ResultFile, Status};
use crate::{bad_input, text_table};

use crate::units::MIB;

#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// Baseline result file.
    #[arg(value_name = "BASE")]
    pub base: PathBuf,

    /// New result file.
    #[arg(value_name = "NEW")]
    pub new: PathBuf,

    /// Normalise each cell by this flavor's cell of the same use case and producers
    /// instead of by the median ratio of all cells.
    #[arg(
        long = "reference",
        value_name = "FLAVOR",
        conflicts_with = "no_normalize"
    )]
    pub reference: Option<String>,

    /// Compare raw values, not normalised ones.
    #[arg(long = "no-normalize")]
    pub no_normalize: bool,

    /// A regression when the (normalised) loops/s ratio new/base falls below this.
    #[arg(long = "max-slowdown", default_value_t = 0.80, value_name = "RATIO")]
    pub max_slowdown: f64,

    /// A regression when the (normalised) peak-memory ratio new/base rises above this. Peak
    /// memory of the grace-period flavors is a maximum over samples that tracks the longest
    /// grace period, so it is noisier than loops/s: two runs of one commit on the 2-CPU
    /// machine differed by up to 1.41x, hence 1.5.
    #[arg(long = "max-mem-growth", default_value_t = 1.5, value_name = "RATIO")]
    pub max_mem_growth: f64,

    /// Peak-memory growth smaller than this many MiB (raw, new - base) is never a
    /// regression: a few hundred KiB of cache on a 0.3 MiB cell is a large ratio but noise.
    #[arg(long = "mem-floor-mib", default_value_t = 1.0, value_name = "MIB")]
    pub mem_floor_mib: f64,

    /// Show only the rows that are regressions.
    #[arg(long = "only-regressions")]
    pub only_regressions: bool,
}

/// What `compare` decided, for the table and the exit status.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    pub id: String,
    pub metric: &'static str,
    pub base: Option<f64>,
    pub new: Option<f64>,
    pub raw_ratio: Option<f64>,
    /// Normalised ratio (the raw one with --no-normalize); None when not computable.
    pub ratio: Option<f64>,
    pub verdict: String,
    pub regression: bool,
}

struct MetricSpec {
    name: &'static str,
    higher_is_better: bool,
    get: fn(&CellResult) -> f64,
    /// The charged figure, preferred when both cells of a pair have it.
    charged: fn(&CellResult) -> Option<f64>,
}

const METRICS: [MetricSpec; 2] = [
    MetricSpec {
        name: "loops_per_sec",
        higher_is_better: true,
        get: |c| c.metrics.loops_per_sec.value,
        charged: |_| None,
    },
    MetricSpec {
        name: "mem_peak",
        higher_is_better: false,
        get: |c| c.metrics.mem_peak.value,
        charged: |c| c.metrics.mem_peak_charged.as_ref().map(|m| m.value),
    },
];

/// The metric for a (base, new) pair: charged memory when both files have it, else raw on
/// both sides, so that an old file (raw only) is never compared with a charged figure.
fn values(m: &MetricSpec, b: &CellResult, n: &CellResult) -> (f64, f64) {
    match ((m.charged)(b), (m.charged)(n)) {
        (Some(bv), Some(nv)) => (bv, nv),
        _ => ((m.get)(b), (m.get)(n)),
    }
}

pub fn run(a: Args) -> ExitCode {
    if let Some(r) = &a.reference {
        if !allocators::FLAVORS.contains(&r.as_str()) {
            return bad_input(&format!(
                "--reference: unknown allocator flavor '{r}' (known: {})",
                allocators::FLAVORS.join(", ")
            ));
        }
    }
    if !(a.max_slowdown > 0.0 && a.max_slowdown <= 1.0) {
        return bad_input(&format!(
            "--max-slowdown {} must be in (0, 1]",
            a.max_slowdown
        ));
    }
    if !(a.max_mem_growth >= 1.0 && a.max_mem_growth.is_finite()) {
        return bad_input(&format!(
            "--max-mem-growth {} must be at least 1",
            a.max_mem_growth
        ));
    }
    if !(a.mem_floor_mib >= 0.0 && a.mem_floor_mib.is_finite()) {
        return bad_input(&format!(
            "--mem-floor-mib {} must be 0 or more",
            a.mem_floor_mib
        ));
    }
    let base = match matrix_file::load(&a.base) {
        Ok(f) => f,
        Err(e) => return bad_input(&e),
    };
    let new = match matrix_file::load(&a.new) {
        Ok(f) => f,
        Err(e) => return bad_input(&e),
    };
    let diff = matrix_file::config_differences(&base.config, &new.config);
    if !diff.is_empty() {
        eprintln!(
            "htab-mem: warning: the runs differ in config ({}); ratios mix that in",
            diff.join(", ")
        );
    }
    if base.host != new.host {
        eprintln!(
            "htab-mem: warning: the runs are from different hosts ({} vs {})",
            base.host.cpu_model, new.host.cpu_model
        );
    }
    let (rows, only_base, only_new) = compare(&base, &new, &a);
    print!("{}", table(&rows, a.only_regressions));
    for (side, ids) in [("base", &only_base), ("new", &only_new)] {
        if !ids.is_empty() {
            println!("\nonly in {side} ({}): {}", ids.len(), ids.join(", "));
        }
    }
    let regressions = rows.iter().filter(|r| r.regression).count();
    println!();
    for m in &METRICS {
        println!("{}", spread_line(&rows, m.name));
    }
    println!(
        "compare: {} cells matched, {regressions} regressions (thresholds: loops/s ratio < {}, \
         peak memory ratio > {} and +{} MiB; {})",
        rows.len() / METRICS.len(),
        a.max_slowdown,
        a.max_mem_growth,
        a.mem_floor_mib,
        match (&a.reference, a.no_normalize) {
            (_, true) => "raw values".to_string(),
            (Some(r), _) => format!("normalised by the {r} cells"),
            (None, _) => "normalised by the median ratio".to_string(),
        }
    );
    if regressions > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// Rows for every matched cell and metric (in base's order), and the ids found on one side only.
pub fn compare(
    base: &ResultFile,
    new: &ResultFile,
    a: &Args,
) -> (Vec<Row>, Vec<String>, Vec<String>) {
    let by_id = |f: &ResultFile| -> HashMap<String, CellResult> {
        f.results
            .iter()
            .map(|c| (c.id.clone(), c.clone()))
            .collect()
    };
    let (bmap, nmap) = (by_id(base), by_id(new));
    let pairs: Vec<(&CellResult, &CellResult)> = base
        .results
        .iter()
        .filter_map(|b| nmap.get(&b.id).map(|n| (b, n)))
        .collect();
    let measured = |b: &CellResult, n: &CellResult| b.status.measured() && n.status.measured();
    let mut rows = Vec::new();
    for m in &METRICS {
        // The drift of the whole run for this metric: the median raw ratio.
        let mut raw: Vec<f64> = pairs
            .iter()
            .filter(|(b, n)| measured(b, n))
            .filter_map(|(b, n)| {
                let (bv, nv) = values(m, b, n);
                ratio(nv, bv)
            })
            .collect();
        raw.sort_by(f64::total_cmp);
        let drift = (raw.len() >= 3).then(|| raw[raw.len() / 2]);
        for (b, n) in &pairs {
            rows.push(judge(m, b, n, drift, &bmap, &nmap, a));
        }
    }
    // Cell by cell, metrics together.
    let order: HashMap<&str, usize> = pairs
        .iter()
        .enumerate()
        .map(|(i, (b, _))| (b.id.as_str(), i))
        .collect();
    rows.sort_by_key(|r| order[r.id.as_str()]);
    let only_base = base
        .results
        .iter()
        .filter(|c| !nmap.contains_key(&c.id))
        .map(|c| c.id.clone())
        .collect();
    let only_new = new
        .results
        .iter()
        .filter(|c| !bmap.contains_key(&c.id))
        .map(|c| c.id.clone())
        .collect();
    (rows, only_base, only_new)
}

fn judge(
    m: &MetricSpec,
    b: &CellResult,
    n: &CellResult,
    drift: Option<f64>,
    bmap: &HashMap<String, CellResult>,
    nmap: &HashMap<String, CellResult>,
    a: &Args,
) -> Row {
    let (bv, nv) = values(m, b, n);
    let mut row = Row {
        id: b.id.clone(),
        metric: m.name,
        base: Some(bv),
        new: Some(nv),
        raw_ratio: ratio(nv, bv),
        ratio: None,
        verdict: String::new(),
        regression: false,
    };
    if b.status == Status::Error {
        row.base = None;
        row.raw_ratio = None;
        if n.status == Status::Error {
            row.new = None;
        }
        row.verdict = "n/a (base error)".into();
        return row;
    }
    if n.status == Status::Error || (n.status == Status::Leak && b.status != Status::Leak) {
        if n.status == Status::Error {
            row.new = None;
            row.raw_ratio = None;
        }
        row.verdict = format!("REGRESSION ({})", n.status);
        row.regression = true;
        return row;
    }
    let reference = |map: &HashMap<String, CellResult>, c: &CellResult, flavor: &str| {
        map.get(&c.id_for(flavor))
            .filter(|r| r.status.measured())
            .cloned()
    };
    row.ratio = match (&a.reference, a.no_normalize) {
        (_, true) => row.raw_ratio,
        (Some(flavor), _) => {
            if b.flavor == *flavor {
                row.verdict = "reference".into();
                return row;
            }
            match (reference(bmap, b, flavor), reference(nmap, n, flavor)) {
                (Some(br), Some(nr)) => match values(m, &br, &nr) {
                    (br, nr) if br > 0.0 && nr > 0.0 => ratio(nv / nr, bv / br),
                    _ => None,
                },
                _ => None,
            }
        }
        (None, _) => drift.and_then(|d| row.raw_ratio.map(|r| r / d)),
    };
    if row.ratio.is_none() && row.raw_ratio.is_some() && !a.no_normalize {
        // Nothing to normalise by (no reference cell, too few cells): judge raw, and say so.
        row.ratio = row.raw_ratio;
        row.verdict = "(raw) ".into();
    }
    let Some(r) = row.ratio else {
        row.verdict = "n/a".into();
        return row;
    };
    let bad = if m.higher_is_better {
        r < a.max_slowdown
    } else {
        r > a.max_mem_growth && nv - bv >= a.mem_floor_mib * MIB
    };
    row.regression = bad;
    row.verdict.push_str(if bad { "REGRESSION" } else { "ok" });
    row
}

fn ratio(new: f64, base: f64) -> Option<f64> {
    let r = new / base;
    (base > 0.0 && r.is_finite()).then_some(r)
}

fn fmt_value(metric: &str, v: Option<f64>) -> String {
    match v {
        None => "-".into(),
        Some(v) if metric == "loops_per_sec" => format!("{:.2} k/s", v / 1000.0),
        Some(v) => format!("{:.2} MiB", v / MIB),
    }
}

fn fmt_ratio(r: Option<f64>) -> String {
    r.map_or("-".into(), |r| format!("{r:.3}"))
}

pub fn table(rows: &[Row], only_regressions: bool) -> String {
    let body: Vec<Vec<String>> = rows
        .iter()
        .filter(|r| !only_regressions || r.regression)
        .map(|r| {
            vec![
                r.id.clone(),
                r.metric.to_string(),
                fmt_value(r.metric, r.base),
                fmt_value(r.metric, r.new),
                fmt_ratio(r.raw_ratio),
                fmt_ratio(r.ratio),
                r.verdict.clone(),
            ]
        })
        .collect();
    text_table::render(
        &[
            "cell",
            "metric",
            "base",
            "new",
            "raw ratio",
            "ratio",
            "verdict",
        ],
        &body,
    )
}

/// The distribution of the judged ratios of one metric: what the thresholds must clear.
fn spread_line(rows: &[Row], metric: &str) -> String {
    let mut v: Vec<f64> = rows
        .iter()
        .filter(|r| r.metric == metric && r.verdict != "reference")
        .filter_map(|r| r.ratio)
        .collect();
    if v.is_empty() {
        return format!("{metric} ratio spread: no judged cells");
    }
    v.sort_by(f64::total_cmp);
    let q = |p: f64| v[((v.len() - 1) as f64 * p).round() as usize];
    format!(
        "{metric} ratio spread over {} cells: min {:.3}, p10 {:.3}, median {:.3}, p90 {:.3}, max {:.3}",
        v.len(),
        v[0],
        q(0.1),
        q(0.5),
        q(0.9),
        v[v.len() - 1]
    )
}
