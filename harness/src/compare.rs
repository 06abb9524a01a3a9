//! The judgement behind `htab-mem compare` (and the dashboard's "what changed"): per-cell
//! ratios new/base of loops/s and peak memory, and which of them are regressions.
//!
//! A cell and metric is `slower`/`faster` (memory: `grew`/`shrank`) only when the change is
//! both beyond the threshold and outside the noise. The noise test, when both cells were
//! measured in trials: their 95 % intervals of the median (`crate::trials`, a percentile
//! bootstrap), normalised as the ratio is, do not overlap. Why intervals and not a rank
//! test: with the 3 trials a matrix runs by default, Mann-Whitney U cannot reach p < 0.05
//! two-sided (its smallest p-value for 3 against 3 is 0.1), while the intervals -- the range
//! of the trials at n = 3 -- are already in each file, need nothing re-derived, and are what
//! the table shows as the evidence. Disjoint ranges of 3 against 3 happen by chance with
//! probability 2/20 = 0.1 per cell; the threshold on the median ratio does the rest (the
//! measured false-alarm rate: docs/results-tools.md#trials-and-intervals). Beyond the
//! threshold but overlapping: `inconclusive`, never a regression. Within the threshold: `no
//! change`, separated or not. Memory past its threshold must be apart by the threshold
//! itself (every new trial above 1.5x every base trial): a grace-period flavor's memory is
//! skewed by single long grace periods, so a median of 3 is one trial's luck. A side with a
//! single trial has no interval: the threshold alone decides, as before trials existed, and
//! the verdict says "(1 trial)". After the cells, `flavor_shift` judges each flavor across
//! its cells, loops/s and memory.
//!
//! Noise-aware: by default each metric's raw ratios are divided by their median over the
//! cell's group -- the cells that differ only in flavor (same benchmark, use case,
//! producers, pacing, loop), which a matrix measures interleaved, trial by trial, in the same
//! minute -- so a drift of the machine between the two runs cancels even when it hit only
//! part of a run (a noisy neighbour for ten minutes moved whole groups by 20-30 % in the
//! measurements of docs/results-tools.md), and only cells that moved against the other
//! flavors of their group are judged. A group of fewer than 3 matched cells (a file of one
//! flavor) is divided by the median over its benchmark's cells instead. `reference`
//! instead divides each side by the same side's cell of that flavor with the same use case
//! and producers (the reference cells are then shown but not judged), and `no_normalize`
//! judges raw ratios. A change that moves every cell alike is invisible to the normalised
//! modes by design.

use std::collections::HashMap;

use crate::flavor_shift::FlavorShift;
use crate::result::{CellResult, Status};
use crate::text_table;
use crate::units::MIB;

/// A cell alone is a regression only past its noise: two default matrices of one commit moved
/// single cells' normalised medians down to 0.72 with their trials apart (the measurements in
/// docs/results-tools.md), so 0.80 cried wolf about twice per matrix and 0.70 did not.
pub const DEFAULT_MAX_SLOWDOWN: f64 = 0.70;
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
    /// A regression when the memory ratio (p95, or peak for a cell without it) rises above
    /// this ...
    pub max_mem_growth: f64,
    /// ... and it grew by at least this many MiB.
    pub mem_floor_mib: f64,
    /// A flavor is a regression when the median of its cells' normalised loops/s ratios
    /// falls below this (and the sign test agrees; `flavor_shift`).
    pub max_flavor_slowdown: f64,
    /// ... or its memory when their median ratio rises above this (and the sign test agrees,
    /// and the median growth reaches `mem_floor_mib`).
    pub max_flavor_mem_growth: f64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            reference: None,
            no_normalize: false,
            max_slowdown: DEFAULT_MAX_SLOWDOWN,
            max_mem_growth: DEFAULT_MAX_MEM_GROWTH,
            mem_floor_mib: DEFAULT_MEM_FLOOR_MIB,
            max_flavor_slowdown: crate::flavor_shift::DEFAULT_MAX_FLAVOR_SLOWDOWN,
            max_flavor_mem_growth: crate::flavor_shift::DEFAULT_MAX_FLAVOR_MEM_GROWTH,
        }
    }
}

impl Options {
    /// The thresholds of the per-flavor verdicts.
    pub fn flavor_limits(&self) -> crate::flavor_shift::Limits {
        crate::flavor_shift::Limits {
            max_slowdown: self.max_flavor_slowdown,
            max_mem_growth: self.max_flavor_mem_growth,
            mem_floor_mib: self.mem_floor_mib,
        }
    }

    /// What the ratios are divided by, in words.
    pub fn normalisation(&self) -> String {
        match (&self.reference, self.no_normalize) {
            (_, true) => "raw values".to_string(),
            (Some(r), _) => format!("normalised by the {r} cells"),
            (None, _) => "normalised by the median ratio of each group of flavors".to_string(),
        }
    }
}

/// The rows of every matched cell and metric, each flavor across its cells, and the ids
/// found on one side only.
#[derive(Clone, Debug, PartialEq)]
pub struct Comparison {
    pub rows: Vec<Row>,
    /// The second look, after the cells: each flavor's loops/s and memory across its cells.
    pub flavors: Vec<FlavorShift>,
    pub only_base: Vec<String>,
    pub only_new: Vec<String>,
}

impl Comparison {
    /// Cells (rows) that regressed.
    pub fn regressions(&self) -> usize {
        self.rows.iter().filter(|r| r.regression).count()
    }

    /// Flavor verdicts (loops/s or memory) that are regressions.
    pub fn flavor_regressions(&self) -> usize {
        self.flavors.iter().filter(|s| s.regression).count()
    }

    /// How many rows have a verdict that starts with each of these words (after "(raw) "),
    /// for the summary line: regressions, faster/shrank, inconclusive.
    pub fn verdict_counts(&self) -> (usize, usize, usize) {
        let word = |r: &Row| r.verdict.trim_start_matches("(raw) ").to_string();
        let better = self
            .rows
            .iter()
            .filter(|r| {
                let w = word(r);
                w.starts_with("faster") || w.starts_with("shrank")
            })
            .count();
        let inconclusive = self
            .rows
            .iter()
            .filter(|r| word(r) == "inconclusive")
            .count();
        (self.regressions(), better, inconclusive)
    }

    pub fn cells_matched(&self) -> usize {
        // Every matched cell has exactly one loops/s row (memory is judged on one of two).
        self.rows
            .iter()
            .filter(|r| r.metric == "loops_per_sec")
            .count()
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
    /// `loops_per_sec`, and `mem_p95` (both cells have it) or `mem_peak`.
    pub metric: &'static str,
    pub base: Option<f64>,
    pub new: Option<f64>,
    pub raw_ratio: Option<f64>,
    /// Normalised ratio (the raw one with --no-normalize); None when not computable.
    pub ratio: Option<f64>,
    pub verdict: String,
    pub regression: bool,
    /// Trials behind each side's figure (1 for a cell without trials).
    pub trials: (usize, usize),
    /// The 95 % intervals of the medians, raw (not normalised), when the cell has trials.
    pub base_ci: Option<[f64; 2]>,
    pub new_ci: Option<[f64; 2]>,
    /// Whether the normalised intervals are apart (for memory beyond the threshold, by the
    /// threshold itself: `judge`); None when a side has no interval.
    pub separated: Option<bool>,
}

struct MetricSpec {
    name: &'static str,
    higher_is_better: bool,
    get: fn(&CellResult) -> f64,
    /// The charged figure, preferred when both cells of a pair have it.
    charged: fn(&CellResult) -> Option<f64>,
    /// The interval of the figure as shown (charged when the cell has it).
    ci: fn(&CellResult) -> Option<[f64; 2]>,
    /// Words for a change beyond the threshold: worse, better.
    words: [&'static str; 2],
    /// Whether a pair is judged on this metric.
    applies: fn(&CellResult, &CellResult) -> bool,
}

/// Whether both cells have the p95 memory figure: memory is then judged on it, not on the
/// peak, which one long grace period lifts for the few tens of ms it lasts.
fn both_p95(b: &CellResult, n: &CellResult) -> bool {
    b.metrics.mem_p95_charged.is_some() && n.metrics.mem_p95_charged.is_some()
}

const METRICS: [MetricSpec; 3] = [
    MetricSpec {
        name: "loops_per_sec",
        higher_is_better: true,
        get: |c| c.metrics.loops_per_sec.value,
        charged: |_| None,
        ci: |c| c.trials.ci95.as_ref().map(|i| i.loops_per_sec),
        words: ["slower", "faster"],
        applies: |_, _| true,
    },
    MetricSpec {
        name: "mem_peak",
        higher_is_better: false,
        get: |c| c.metrics.mem_peak.value,
        charged: |c| c.metrics.mem_peak_charged.as_ref().map(|m| m.value),
        ci: |c| c.trials.ci95.as_ref().map(|i| i.mem_peak),
        words: ["grew", "shrank"],
        applies: |b, n| !both_p95(b, n),
    },
    MetricSpec {
        name: "mem_p95",
        higher_is_better: false,
        get: |c| c.metrics.mem_p95_charged.as_ref().map_or(0.0, |m| m.value),
        charged: |c| c.metrics.mem_p95_charged.as_ref().map(|m| m.value),
        ci: |c| c.trials.ci95.as_ref().and_then(|i| i.mem_p95),
        words: ["grew", "shrank"],
        applies: both_p95,
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

/// The intervals of a pair, when both cells have one of the figure compared: an interval
/// is of the figure as shown, so a pair judged on raw memory (one side without the charged
/// figure) has none.
fn intervals(
    m: &MetricSpec,
    b: &CellResult,
    n: &CellResult,
) -> (Option<[f64; 2]>, Option<[f64; 2]>) {
    let same = (m.charged)(b).is_some() == (m.charged)(n).is_some();
    if !same {
        return (None, None);
    }
    ((m.ci)(b), (m.ci)(n))
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
        let mine: Vec<&(&CellResult, &CellResult)> =
            pairs.iter().filter(|(b, n)| (m.applies)(b, n)).collect();
        // The drift for this metric: the median raw ratio of the pair's group (the flavors
        // of one use case and producer count, measured interleaved), or of its benchmark's
        // cells when the group has fewer than 3 (a set's files joined put map-perf-test's
        // and kfree-rcu's cells beside htab-mem's, whose rates drift apart).
        let mut by_group: HashMap<String, Vec<f64>> = HashMap::new();
        let mut by_bench: HashMap<crate::result::Benchmark, Vec<f64>> = HashMap::new();
        for (b, n) in mine.iter().filter(|(b, n)| measured(b, n)) {
            let (bv, nv) = values(m, b, n);
            if let Some(r) = ratio(nv, bv) {
                by_group.entry(b.id_for("*")).or_default().push(r);
                by_bench.entry(b.benchmark).or_default().push(r);
            }
        }
        let median = |raw: Option<&Vec<f64>>| -> Option<f64> {
            let mut raw = raw.filter(|r| r.len() >= 3)?.clone();
            raw.sort_by(f64::total_cmp);
            Some(raw[raw.len() / 2])
        };
        for (b, n) in mine.iter().copied() {
            let drift =
                median(by_group.get(&b.id_for("*"))).or_else(|| median(by_bench.get(&b.benchmark)));
            rows.push(judge(m, b, n, drift, &bmap, &nmap, a));
        }
    }
    rows.extend(
        pairs
            .iter()
            .filter(|(b, n)| measured(b, n))
            .filter_map(|(b, n)| failed_updates_row(b, n, a)),
    );
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
    let flavors = crate::flavor_shift::judge(&rows, &a.flavor_limits());
    Comparison {
        rows,
        flavors,
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
    let (base_ci, new_ci) = intervals(m, b, n);
    let mut row = Row {
        id: b.id.clone(),
        metric: m.name,
        base: Some(bv),
        new: Some(nv),
        raw_ratio: ratio(nv, bv),
        ratio: None,
        verdict: String::new(),
        regression: false,
        trials: (b.trials.count(), n.trials.count()),
        base_ci,
        new_ci,
        separated: None,
    };
    if !b.status.measured() {
        row.base = None;
        row.raw_ratio = None;
        if !n.status.measured() {
            row.new = None;
        }
        row.verdict = if b.status == Status::NotApplicable {
            "n/a (not applicable)".into()
        } else {
            "n/a (base error)".into()
        };
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
    // What each side is divided by: ratio = (new / kn) / (base / kb).
    let scale: Option<(f64, f64)> = match (&a.reference, a.no_normalize) {
        (_, true) => Some((1.0, 1.0)),
        (Some(flavor), _) => {
            if b.flavor == *flavor {
                row.verdict = "reference".into();
                return row;
            }
            match (reference(bmap, b, flavor), reference(nmap, n, flavor)) {
                (Some(br), Some(nr)) => match values(m, &br, &nr) {
                    (br, nr) if br > 0.0 && nr > 0.0 => Some((br, nr)),
                    _ => None,
                },
                _ => None,
            }
        }
        (None, _) => drift.map(|d| (1.0, d)),
    };
    let scale = match scale {
        Some(s) => s,
        None if row.raw_ratio.is_some() => {
            // Nothing to normalise by (no reference cell, too few cells): judge raw, and say
            // so.
            row.verdict = "(raw) ".into();
            (1.0, 1.0)
        }
        None => (1.0, 1.0),
    };
    row.ratio = ratio(nv / scale.1, bv / scale.0);
    let Some(r) = row.ratio else {
        row.verdict = "n/a".into();
        return row;
    };
    let (mut worse, mut better) = if m.higher_is_better {
        (r < a.max_slowdown, r > 1.0 / a.max_slowdown)
    } else {
        let floor = a.mem_floor_mib * MIB;
        (
            r > a.max_mem_growth && nv - bv >= floor,
            r < 1.0 / a.max_mem_growth && bv - nv >= floor,
        )
    };
    // A change must also point the same way before normalising: a cell that got faster is
    // not called slower because its group got faster still (the group's median is itself an
    // estimate from a few noisy cells; two matrices of nearby commits showed a cell 1.11x
    // faster raw flagged 0.66x slower by a group that moved 1.68x).
    let raw = row.raw_ratio.unwrap_or(1.0);
    let raw_worse = if m.higher_is_better {
        raw < 1.0
    } else {
        raw > 1.0
    };
    let against_raw = worse && !raw_worse || better && raw_worse;
    if against_raw {
        (worse, better) = (false, false);
    }
    if let (Some(bc), Some(nc)) = (row.base_ci, row.new_ci) {
        let norm = |c: [f64; 2], k: f64| [c[0] / k, c[1] / k];
        let (bc, nc) = (norm(bc, scale.0), norm(nc, scale.1));
        // Memory must be apart by the threshold itself: a grace-period flavor's p95 is
        // skewed (one trial that meets a long grace period holds 2-4x its siblings' memory:
        // 9.2 and 38.8 MiB in one cell of docs/results-tools.md), so a median of 3 past 1.5x
        // with intervals barely apart is one such trial. Every new trial above 1.5x every
        // base trial is not; a uniform smaller growth is the per-flavor verdict's.
        row.separated = Some(match (m.higher_is_better, worse, better) {
            (false, true, _) => nc[0] > bc[1] * a.max_mem_growth,
            (false, _, true) => bc[0] > nc[1] * a.max_mem_growth,
            _ => crate::trials::disjoint(bc, nc),
        });
    }
    let word = if worse {
        Some(m.words[0])
    } else if better {
        Some(m.words[1])
    } else {
        None
    };
    let verdict = match (word, row.separated) {
        (None, _) if against_raw => "no change (raw ratio the other way)".to_string(),
        (None, Some(_)) => "no change".to_string(),
        (None, None) => "no change (1 trial)".to_string(),
        (Some(_), Some(false)) => "inconclusive".to_string(),
        (Some(w), Some(true)) if worse => format!("REGRESSION ({w})"),
        (Some(w), Some(true)) => w.to_string(),
        (Some(w), None) if worse => format!("REGRESSION ({w}, 1 trial)"),
        (Some(w), None) => format!("{w} (1 trial)"),
    };
    row.regression = worse && row.separated != Some(false);
    row.verdict.push_str(&verdict);
    row
}

/// Updates failed with ENOMEM per second (memory limit or injected failures).
fn failed_per_s(c: &CellResult) -> f64 {
    c.mem_limit
        .as_ref()
        .map_or(0.0, |l| l.failed_updates_per_sec)
}

/// A row for the failed updates when either side had some: shown, never a regression.
/// How many updates fail follows from loops/s and the memory held under the limit, which
/// are judged already; a change here explains those rows rather than adding a verdict.
fn failed_updates_row(b: &CellResult, n: &CellResult, a: &Options) -> Option<Row> {
    let (bv, nv) = (failed_per_s(b), failed_per_s(n));
    if bv == 0.0 && nv == 0.0 {
        return None;
    }
    let r = ratio(nv, bv);
    let verdict = match r {
        None => "started failing",
        Some(_) if nv == 0.0 => "stopped failing",
        Some(r) if r > 1.0 / a.max_slowdown => "more failures",
        Some(r) if r < a.max_slowdown => "fewer failures",
        Some(_) => "about the same",
    };
    Some(Row {
        id: b.id.clone(),
        metric: "failed_updates_per_sec",
        base: Some(bv),
        new: Some(nv),
        raw_ratio: r,
        ratio: r,
        verdict: format!("{verdict} (not gated)"),
        regression: false,
        trials: (b.trials.count(), n.trials.count()),
        base_ci: None,
        new_ci: None,
        separated: None,
    })
}

fn ratio(new: f64, base: f64) -> Option<f64> {
    let r = new / base;
    (base > 0.0 && r.is_finite()).then_some(r)
}

pub fn fmt_value(metric: &str, v: Option<f64>) -> String {
    match v {
        None => "-".into(),
        Some(v) if metric == "loops_per_sec" => format!("{:.2} k/s", v / 1000.0),
        Some(v) if metric == "failed_updates_per_sec" => format!("{v:.2}/s"),
        Some(v) => format!("{:.2} MiB", v / MIB),
    }
}

pub fn fmt_ratio(r: Option<f64>) -> String {
    r.map_or("-".into(), |r| format!("{r:.3}"))
}

/// A side's 95 % interval in the metric's unit (`[83.10, 88.00]`), or its trial count when
/// it has none.
pub fn fmt_interval(metric: &str, ci: Option<[f64; 2]>, trials: usize) -> String {
    let k = if metric == "loops_per_sec" {
        1000.0
    } else {
        MIB
    };
    match ci {
        Some([lo, hi]) => format!("[{:.2}, {:.2}]", lo / k, hi / k),
        None => format!("({trials} trial{})", if trials == 1 { "" } else { "s" }),
    }
}

/// The evidence of a row beyond its ratio: the two intervals and whether they are apart once
/// normalised (memory grown or shrunk past the threshold: apart by the threshold).
pub fn fmt_evidence(r: &Row) -> String {
    let how = match r.separated {
        Some(true) => "apart",
        Some(false) => "not apart",
        None => "no test",
    };
    format!(
        "{} vs {} {how}",
        fmt_interval(r.metric, r.base_ci, r.trials.0),
        fmt_interval(r.metric, r.new_ci, r.trials.1)
    )
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
                fmt_evidence(r),
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
            "95% intervals (k/s or MiB)",
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
    let mut dev: Vec<f64> = v.iter().map(|r| (r - 1.0).abs()).collect();
    dev.sort_by(f64::total_cmp);
    let p90_dev = dev[((dev.len() - 1) as f64 * 0.9).round() as usize];
    format!(
        "{metric} ratio spread over {} cells: min {:.3}, p10 {:.3}, median {:.3}, p90 {:.3}, max {:.3}; p90 of |ratio - 1| {:.3}",
        v.len(),
        v[0],
        q(0.1),
        q(0.5),
        q(0.9),
        v[v.len() - 1],
        p90_dev
    )
}

#[cfg(test)]
mod p95_tests {
    use super::*;
    use crate::result::{Benchmark, Metric};

    fn cell(flavor: &str, peak: f64, p95: Option<f64>) -> CellResult {
        let mut c = CellResult::error(Benchmark::HtabMem, "overwrite", flavor, 2, String::new());
        c.status = Status::Ok;
        c.error = None;
        c.metrics.loops_per_sec = Metric::new(1000.0, None, "loops/s");
        c.metrics.mem_peak = Metric::new(peak, None, "bytes");
        c.metrics.mem_peak_charged = Some(Metric::new(peak, None, "bytes"));
        c.metrics.mem_p95_charged = p95.map(|v| Metric::new(v, None, "bytes"));
        c
    }

    fn memory_rows(base: &[CellResult], new: &[CellResult]) -> Vec<Row> {
        let o = Options {
            no_normalize: true,
            ..Options::default()
        };
        compare(base, new, &o)
            .rows
            .into_iter()
            .filter(|r| r.metric != "loops_per_sec")
            .collect()
    }

    /// A cell whose p95 has trials spanning `ci` (MiB), its median `mid`.
    fn with_trials(flavor: &str, mid: f64, ci: [f64; 2]) -> CellResult {
        let mut c = cell(flavor, mid * MIB, Some(mid * MIB));
        c.trials.trials = vec![Default::default(); 3];
        c.trials.ci95 = Some(crate::result::Intervals {
            mem_p95: Some([ci[0] * MIB, ci[1] * MIB]),
            ..Default::default()
        });
        c
    }

    /// The measured false alarm: malloc-call-rcu's p95 of 7.4/8.5/8.8 MiB against
    /// 38.8/9.2/19.1 MiB (one trial met long grace periods). The medians are 2.25x apart
    /// and the ranges disjoint, but not by the threshold: inconclusive. Every new trial
    /// above 1.5x every base trial is a regression.
    #[test]
    fn memory_must_be_apart_by_the_threshold_not_just_apart() {
        let base = [with_trials("malloc-call-rcu", 8.5, [7.4, 8.8])];
        let lifted = [with_trials("malloc-call-rcu", 19.1, [9.2, 38.8])];
        let rows = memory_rows(&base, &lifted);
        assert_eq!(rows[0].metric, "mem_p95");
        assert_eq!(rows[0].verdict, "inconclusive", "{:?}", rows[0]);
        assert!(!rows[0].regression);
        assert!(fmt_evidence(&rows[0]).ends_with("not apart"));
        let grown = [with_trials("malloc-call-rcu", 17.0, [14.8, 17.6])];
        let rows = memory_rows(&base, &grown);
        assert_eq!(rows[0].verdict, "REGRESSION (grew)", "{:?}", rows[0]);
        // Shrinking is judged the same way round.
        let rows = memory_rows(&lifted, &base);
        assert_eq!(rows[0].verdict, "inconclusive", "{:?}", rows[0]);
        let rows = memory_rows(&grown, &base);
        assert_eq!(rows[0].verdict, "shrank", "{:?}", rows[0]);
    }

    #[test]
    fn memory_is_judged_on_the_p95_when_both_cells_have_it() {
        let mib = 1024.0 * 1024.0;
        // One long grace period tripled the peak; the p95 held: no regression.
        let base = [cell("free-rcu", 20.0 * mib, Some(10.0 * mib))];
        let new = [cell("free-rcu", 60.0 * mib, Some(10.5 * mib))];
        let rows = memory_rows(&base, &new);
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].metric, "mem_p95");
        assert!(!rows[0].regression, "{:?}", rows[0]);
        // The p95 itself grew past the threshold: a regression.
        let new = [cell("free-rcu", 20.0 * mib, Some(30.0 * mib))];
        assert!(memory_rows(&base, &new)[0].regression);
        // A side without the p95 (an older file): judged on the peak, as before.
        let old = [cell("free-rcu", 20.0 * mib, None)];
        let new = [cell("free-rcu", 60.0 * mib, Some(10.0 * mib))];
        let rows = memory_rows(&old, &new);
        assert_eq!(rows[0].metric, "mem_peak");
        assert!(rows[0].regression);
        // Two cells, each with one loops/s row and one memory row: two cells matched.
        let base = [
            cell("free-rcu", 1.0, None),
            cell("prealloc", 1.0, Some(1.0)),
        ];
        let new = [
            cell("free-rcu", 1.0, None),
            cell("prealloc", 1.0, Some(1.0)),
        ];
        let o = Options::default();
        assert_eq!(compare(&base, &new, &o).cells_matched(), 2);
    }

    #[test]
    fn each_benchmark_is_normalised_by_its_own_drift() {
        let mib = 1024.0 * 1024.0;
        let with = |bench: Benchmark, flavor: &str, loops: f64| {
            let mut c = cell(flavor, mib, None);
            c.benchmark = bench;
            c.use_case = if bench == Benchmark::KfreeRcu {
                "kfree".into()
            } else {
                "overwrite".into()
            };
            c.metrics.loops_per_sec.value = loops;
            c.id = c.expected_id();
            c
        };
        let flavors = ["a", "b", "c"];
        let mut base = Vec::new();
        let mut new = Vec::new();
        for f in flavors {
            base.push(with(Benchmark::HtabMem, f, 1000.0));
            new.push(with(Benchmark::HtabMem, f, 1000.0));
            // kfree-rcu's cells all doubled (another machine's state for that benchmark).
            base.push(with(Benchmark::KfreeRcu, f, 1000.0));
            new.push(with(Benchmark::KfreeRcu, f, 2000.0));
        }
        let c = compare(&base, &new, &Options::default());
        // Normalised by one median over both, htab-mem's unchanged cells read as halved.
        assert_eq!(c.regressions(), 0, "{:?}", c.rows);
        for r in c.rows.iter().filter(|r| r.metric == "loops_per_sec") {
            assert!((r.ratio.unwrap() - 1.0).abs() < 1e-9, "{r:?}");
        }
    }

    #[test]
    fn failed_updates_are_shown_beside_the_cell_and_never_gate() {
        let failing = |flavor: &str, per_s: f64| {
            let mut c = cell(flavor, 1.0, None);
            c.mem_limit = Some(crate::result::MemLimitCell {
                failed_updates_per_sec: per_s,
                ..Default::default()
            });
            c
        };
        let base = [
            failing("a", 0.0),
            failing("b", 100.0),
            failing("c", 100.0),
            cell("d", 1.0, None),
        ];
        let new = [
            failing("a", 50.0),
            failing("b", 300.0),
            failing("c", 100.0),
            cell("d", 1.0, None),
        ];
        let c = compare(&base, &new, &Options::default());
        let rows: Vec<&Row> = c
            .rows
            .iter()
            .filter(|r| r.metric == "failed_updates_per_sec")
            .collect();
        let verdicts: Vec<(&str, &str)> = rows
            .iter()
            .map(|r| (r.id.rsplit('/').nth(1).unwrap(), r.verdict.as_str()))
            .collect();
        assert_eq!(
            verdicts,
            [
                ("a", "started failing (not gated)"),
                ("b", "more failures (not gated)"),
                ("c", "about the same (not gated)"),
            ]
        );
        assert_eq!(c.regressions(), 0);
        assert_eq!(c.cells_matched(), 4);
        assert_eq!(fmt_value(rows[1].metric, rows[1].new), "300.00/s");
    }

    #[test]
    fn each_group_of_flavors_is_normalised_by_its_own_drift() {
        // Two groups of four flavors; the machine was 30 % slower while the new run measured
        // the p4 group (a time-local drift), and flavor "d" got 40 % slower in the p2 group.
        let with = |flavor: &str, p: usize, loops: f64| {
            let mut c = cell(flavor, 1.0, None);
            c.producers = p;
            c.metrics.loops_per_sec.value = loops;
            c.id = c.expected_id();
            c
        };
        let mut base = Vec::new();
        let mut new = Vec::new();
        for f in ["a", "b", "c", "d"] {
            base.push(with(f, 2, 1000.0));
            new.push(with(f, 2, if f == "d" { 600.0 } else { 1000.0 }));
            base.push(with(f, 4, 1000.0));
            new.push(with(f, 4, 700.0));
        }
        let c = compare(&base, &new, &Options::default());
        let flagged: Vec<&str> = c
            .rows
            .iter()
            .filter(|r| r.regression)
            .map(|r| r.id.as_str())
            .collect();
        assert_eq!(flagged, ["htab-mem/overwrite/d/p2"], "{:?}", c.rows);
    }

    #[test]
    fn a_cell_that_got_faster_is_not_called_slower_because_its_group_got_faster_still() {
        // Three flavors 1.7x faster, "d" 1.1x faster: normalised, d is at 0.65, past the
        // threshold; raw, it gained. Then 0.9x raw in the same group: a regression.
        let with = |flavor: &str, loops: f64| {
            let mut c = cell(flavor, 1.0, None);
            c.metrics.loops_per_sec.value = loops;
            c.id = c.expected_id();
            c
        };
        for (d_new, regression, verdict) in [
            (1100.0, false, "no change (raw ratio the other way)"),
            (900.0, true, "REGRESSION (slower, 1 trial)"),
        ] {
            let base: Vec<_> = ["a", "b", "c", "d"]
                .iter()
                .map(|f| with(f, 1000.0))
                .collect();
            let new: Vec<_> = ["a", "b", "c", "d"]
                .iter()
                .map(|&f| with(f, if f == "d" { d_new } else { 1700.0 }))
                .collect();
            let c = compare(&base, &new, &Options::default());
            let d = c
                .rows
                .iter()
                .find(|r| r.id.contains("/d/") && r.metric == "loops_per_sec")
                .unwrap();
            assert!(d.ratio.unwrap() < DEFAULT_MAX_SLOWDOWN, "{d:?}");
            assert_eq!((d.regression, d.verdict.as_str()), (regression, verdict));
        }
    }
}
