//! The judgement behind `htab-mem compare` (and the dashboard's "what changed"): per-cell
//! ratios new/base of loops/s and peak memory, and which of them are regressions.
//!
//! Noise-aware: by default each metric's raw ratios are divided by their median over all
//! matched cells, so a uniform drift of the machine between the two runs (another CI runner,
//! frequency, a steady noisy neighbour) cancels and only cells that moved against the rest
//! are judged; with ~100 cells the median adds almost no noise of its own. `reference`
//! instead divides each side by the same side's cell of that flavor with the same use case
//! and producers (the reference cells are then shown but not judged), and `no_normalize`
//! judges raw ratios. A change that moves every cell alike is invisible to the normalised
//! modes by design.

use std::collections::HashMap;

use crate::result::{CellResult, Status};
use crate::text_table;
use crate::units::MIB;

pub const DEFAULT_MAX_SLOWDOWN: f64 = 0.80;
/// Peak memory of the grace-period flavors is a maximum over samples that tracks the longest
/// grace period, so it is noisier than loops/s: two runs of one commit on the 2-CPU machine
/// differed by up to 1.41x, hence 1.5.
pub const DEFAULT_MAX_MEM_GROWTH: f64 = 1.5;
pub const DEFAULT_MEM_FLOOR_MIB: f64 = 1.0;

/// How to normalise and where the thresholds lie; `Default` is `htab-mem compare`'s.
#[derive(Clone, Debug, PartialEq)]
pub struct Options {
    /// Normalise by this flavor's cells instead of the median ratio.
    pub reference: Option<String>,
    /// Judge raw ratios.
    pub no_normalize: bool,
    /// A regression when the loops/s ratio falls below this.
    pub max_slowdown: f64,
    /// A regression when the peak-memory ratio rises above this ...
    pub max_mem_growth: f64,
    /// ... and the peak grew by at least this many MiB.
    pub mem_floor_mib: f64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            reference: None,
            no_normalize: false,
            max_slowdown: DEFAULT_MAX_SLOWDOWN,
            max_mem_growth: DEFAULT_MAX_MEM_GROWTH,
            mem_floor_mib: DEFAULT_MEM_FLOOR_MIB,
        }
    }
}

impl Options {
    /// What the ratios are divided by, in words.
    pub fn normalisation(&self) -> String {
        match (&self.reference, self.no_normalize) {
            (_, true) => "raw values".to_string(),
            (Some(r), _) => format!("normalised by the {r} cells"),
            (None, _) => "normalised by the median ratio".to_string(),
        }
    }
}

/// The rows of every matched cell and metric, and the ids found on one side only.
#[derive(Clone, Debug, PartialEq)]
pub struct Comparison {
    pub rows: Vec<Row>,
    pub only_base: Vec<String>,
    pub only_new: Vec<String>,
}

impl Comparison {
    pub fn regressions(&self) -> usize {
        self.rows.iter().filter(|r| r.regression).count()
    }

    pub fn cells_matched(&self) -> usize {
        self.rows.len() / METRICS.len()
    }

    /// One line per metric: the spread of its judged ratios, what the thresholds must clear.
    pub fn spread_lines(&self) -> Vec<String> {
        METRICS
            .iter()
            .map(|m| spread_line(&self.rows, m.name))
            .collect()
    }
}

/// What was decided for one cell and metric.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    pub id: String,
    /// `loops_per_sec` or `mem_peak`.
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

/// Matches the cells by id and judges every matched pair, rows in base's order.
pub fn compare(base: &[CellResult], new: &[CellResult], a: &Options) -> Comparison {
    let by_id = |cells: &[CellResult]| -> HashMap<String, CellResult> {
        cells.iter().map(|c| (c.id.clone(), c.clone())).collect()
    };
    let (bmap, nmap) = (by_id(base), by_id(new));
    let pairs: Vec<(&CellResult, &CellResult)> = base
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
        .iter()
        .filter(|c| !nmap.contains_key(&c.id))
        .map(|c| c.id.clone())
        .collect();
    let only_new = new
        .iter()
        .filter(|c| !bmap.contains_key(&c.id))
        .map(|c| c.id.clone())
        .collect();
    Comparison {
        rows,
        only_base,
        only_new,
    }
}

fn judge(
    m: &MetricSpec,
    b: &CellResult,
    n: &CellResult,
    drift: Option<f64>,
    bmap: &HashMap<String, CellResult>,
    nmap: &HashMap<String, CellResult>,
    a: &Options,
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

pub fn fmt_value(metric: &str, v: Option<f64>) -> String {
    match v {
        None => "-".into(),
        Some(v) if metric == "loops_per_sec" => format!("{:.2} k/s", v / 1000.0),
        Some(v) => format!("{:.2} MiB", v / MIB),
    }
}

pub fn fmt_ratio(r: Option<f64>) -> String {
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
