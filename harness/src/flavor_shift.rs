//! Whether a flavor moved across all its cells: `compare`'s second look, after the cell by
//! cell verdicts, on loops/s and on memory.
//!
//! On a shared 2-vCPU machine one cell's median of 3 one-second trials moves by 10-15 % from
//! one matrix to the next (the process's CPU efficiency itself varies that much, not only the
//! wall clock), and a grace-period flavor's memory by 2x when one trial meets a long grace
//! period, so a cell-by-cell gate that never cries wolf cannot see a 15 % slowdown of one
//! flavor, nor a third more memory. But a real change moves every cell of the flavor, and
//! noise does not: over a flavor's cells, the median of the normalised ratios and a sign test
//! (how many cells got worse, against a fair coin) see a uniform shift that no single cell
//! shows beyond its noise. A flavor is worse when its median ratio is past the threshold
//! **and** the sign test's one-sided p-value is below `MAX_P`, over at least `MIN_CELLS`
//! cells; for memory, its cells' median growth must also reach the per-cell floor in MiB, so
//! a flavor that holds a fraction of a MiB is never called worse for a few KiB.

use std::collections::BTreeMap;

use crate::compare::Row;
use crate::units::MIB;

/// The default threshold on a flavor's median normalised loops/s ratio.
pub const DEFAULT_MAX_FLAVOR_SLOWDOWN: f64 = 0.90;
/// The default threshold on a flavor's median normalised memory ratio (p95, else peak).
pub const DEFAULT_MAX_FLAVOR_MEM_GROWTH: f64 = 1.25;
/// The sign test's one-sided p-value must be below this: with 19 cells, 15 or more worse.
pub const MAX_P: f64 = 0.01;
/// Fewer cells than this cannot reach `MAX_P` (6 of 6 worse is p = 0.016).
pub const MIN_CELLS: usize = 8;

/// What a flavor is judged on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Measure {
    LoopsPerSec,
    /// The memory row of each cell: `mem_p95` when both sides have it, else `mem_peak`.
    Memory,
}

impl Measure {
    fn of(metric: &str) -> Option<Measure> {
        match metric {
            "loops_per_sec" => Some(Measure::LoopsPerSec),
            "mem_p95" | "mem_peak" => Some(Measure::Memory),
            _ => None,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Measure::LoopsPerSec => "loops/s",
            Measure::Memory => "memory",
        }
    }
}

/// The thresholds of the per-flavor verdicts.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Limits {
    /// loops/s: worse when the median ratio is below this.
    pub max_slowdown: f64,
    /// memory: worse when the median ratio is above this ...
    pub max_mem_growth: f64,
    /// ... and the cells' median growth is at least this many MiB.
    pub mem_floor_mib: f64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_slowdown: DEFAULT_MAX_FLAVOR_SLOWDOWN,
            max_mem_growth: DEFAULT_MAX_FLAVOR_MEM_GROWTH,
            mem_floor_mib: crate::compare::DEFAULT_MEM_FLOOR_MIB,
        }
    }
}

/// One flavor (of one benchmark) across its matched cells' rows of one measure.
#[derive(Clone, Debug, PartialEq)]
pub struct FlavorShift {
    pub benchmark: String,
    pub flavor: String,
    pub measure: Measure,
    /// Cells with a normalised ratio.
    pub cells: usize,
    /// Of those, how many got worse (slower, more memory) and better.
    pub worse: usize,
    pub better: usize,
    pub median_ratio: f64,
    /// The sign test's one-sided p-value for the direction the median moved.
    pub p_value: f64,
    pub regression: bool,
    pub verdict: &'static str,
}

/// P(X >= k) for X ~ Binomial(n, 1/2).
pub fn sign_test_p(n: usize, k: usize) -> f64 {
    let mut c = 1.0f64; // C(n, 0)
    let mut tail = 0.0;
    for i in 0..=n {
        if i >= k {
            tail += c;
        }
        c = c * (n - i) as f64 / (i + 1) as f64;
    }
    tail / 2f64.powi(n as i32)
}

/// A cell's normalised ratio and, for memory, its normalised growth in bytes.
struct Point {
    ratio: f64,
    growth: f64,
}

/// Groups `rows` by (benchmark, flavor, measure), from the cell ids
/// (`benchmark/use case/flavor/pN...`), and judges each group.
pub fn judge(rows: &[Row], limits: &Limits) -> Vec<FlavorShift> {
    let mut groups: BTreeMap<(String, String, Measure), Vec<Point>> = BTreeMap::new();
    for r in rows {
        let (Some(measure), Some(ratio), mut parts) =
            (Measure::of(r.metric), r.ratio, r.id.split('/'))
        else {
            continue;
        };
        if r.verdict == "reference" {
            continue;
        }
        let growth = r.base.map_or(0.0, |b| b * (ratio - 1.0));
        if let (Some(b), Some(_), Some(f)) = (parts.next(), parts.next(), parts.next()) {
            groups
                .entry((b.to_string(), f.to_string(), measure))
                .or_default()
                .push(Point { ratio, growth });
        }
    }
    groups
        .into_iter()
        .map(|((benchmark, flavor, measure), points)| {
            let ratios: Vec<f64> = points.iter().map(|p| p.ratio).collect();
            let n = ratios.len();
            let median = crate::trials::median(&ratios);
            let up = ratios.iter().filter(|&&r| r > 1.0).count();
            let down = ratios.iter().filter(|&&r| r < 1.0).count();
            let p = sign_test_p(n, if median < 1.0 { down } else { up });
            let significant = n >= MIN_CELLS && p < MAX_P;
            // Per measure: which way is worse, whether the median is past the threshold
            // either way, and the words for it.
            let (worse, better, past_worse, past_better, words) = match measure {
                Measure::LoopsPerSec => (
                    down,
                    up,
                    median < limits.max_slowdown,
                    median > 1.0 / limits.max_slowdown,
                    [
                        "REGRESSION (slower across its cells)",
                        "faster across its cells",
                    ],
                ),
                Measure::Memory => {
                    let growth: Vec<f64> = points.iter().map(|p| p.growth).collect();
                    let moved = crate::trials::median(&growth).abs() >= limits.mem_floor_mib * MIB;
                    (
                        up,
                        down,
                        moved && median > limits.max_mem_growth,
                        moved && median < 1.0 / limits.max_mem_growth,
                        [
                            "REGRESSION (more memory across its cells)",
                            "less memory across its cells",
                        ],
                    )
                }
            };
            let (regression, verdict) = match (significant, past_worse, past_better) {
                (true, true, _) => (true, words[0]),
                (true, _, true) => (false, words[1]),
                _ => (false, "no change"),
            };
            FlavorShift {
                benchmark,
                flavor,
                measure,
                cells: n,
                worse,
                better,
                median_ratio: median,
                p_value: p,
                regression,
                verdict,
            }
        })
        .collect()
}

impl FlavorShift {
    /// The flavor, prefixed by its benchmark unless that is htab-mem (`map-perf-test
    /// prealloc`).
    pub fn name(&self) -> String {
        if self.benchmark == "htab-mem" {
            self.flavor.clone()
        } else {
            format!("{} {}", self.benchmark, self.flavor)
        }
    }
}

/// `immediate-reuse loops/s: 19 cells, 17 worse, 2 better, median ratio 0.848, sign test p
/// 0.0004: REGRESSION (slower across its cells)`.
pub fn line(s: &FlavorShift) -> String {
    format!(
        "{} {}: {} cells, {} worse, {} better, median ratio {:.3}, sign test p {:.4}: {}",
        s.name(),
        s.measure.label(),
        s.cells,
        s.worse,
        s.better,
        s.median_ratio,
        s.p_value,
        s.verdict
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(flavor: &str, cell: usize, ratio: f64) -> Row {
        metric_row("loops_per_sec", flavor, cell, None, ratio)
    }

    fn metric_row(
        metric: &'static str,
        flavor: &str,
        cell: usize,
        base: Option<f64>,
        ratio: f64,
    ) -> Row {
        Row {
            id: format!("htab-mem/overwrite/{flavor}/p{cell}"),
            metric,
            base,
            new: None,
            raw_ratio: Some(ratio),
            ratio: Some(ratio),
            verdict: String::new(),
            regression: false,
            trials: (3, 3),
            base_ci: None,
            new_ci: None,
            separated: None,
        }
    }

    #[test]
    fn the_sign_test_is_the_binomial_tail() {
        assert_eq!(sign_test_p(3, 0), 1.0);
        assert_eq!(sign_test_p(3, 3), 0.125);
        assert!((sign_test_p(19, 15) - 0.00961).abs() < 1e-4);
        assert!((sign_test_p(19, 17) - 0.000364).abs() < 1e-5);
    }

    #[test]
    fn a_uniform_slowdown_is_caught_and_noise_is_not() {
        // 19 cells 15 % slower give or take 12 %: several cells alone would pass for noise.
        let noise = [
            0.0, 0.1, -0.12, 0.05, -0.03, 0.08, -0.1, 0.12, 0.02, -0.06, 0.04, -0.08, 0.1, -0.02,
            0.06, -0.05, 0.03, -0.11, 0.07,
        ];
        let mut rows: Vec<Row> = noise
            .iter()
            .enumerate()
            .map(|(i, e)| row("slowed", i, 0.85 + e))
            .collect();
        rows.extend(
            noise
                .iter()
                .enumerate()
                .map(|(i, e)| row("same", i, 1.0 + e)),
        );
        let s = judge(&rows, &Limits::default());
        let by = |f: &str| s.iter().find(|x| x.flavor == f).unwrap();
        assert!(by("slowed").regression, "{:?}", by("slowed"));
        assert_eq!(by("slowed").cells, 19);
        assert!(!by("same").regression, "{:?}", by("same"));
        assert_eq!(by("same").verdict, "no change");
        // A few cells cannot reach the sign test's level, however slow.
        let few: Vec<Row> = (0..5).map(|i| row("few", i, 0.5)).collect();
        assert!(!judge(&few, &Limits::default())[0].regression);
        // Slower in most cells but by less than the threshold: not a regression.
        let small: Vec<Row> = (0..19).map(|i| row("small", i, 0.95)).collect();
        assert!(!judge(&small, &Limits::default())[0].regression);
        assert!(line(by("slowed")).starts_with("slowed loops/s: 19 cells, 19 worse"));
    }

    #[test]
    fn memory_is_judged_per_flavor_with_its_own_threshold_and_floor() {
        let noise = [
            0.0, 0.2, -0.15, 0.1, -0.05, 0.12, -0.1, 0.25, 0.02, -0.08, 0.06, -0.12, 0.15,
        ];
        let mib = |m: f64| Some(m * MIB);
        let mut rows: Vec<Row> = Vec::new();
        for (i, e) in noise.iter().enumerate() {
            // A flavor holding 20 MiB that now holds 40 % more, give or take the noise.
            rows.push(metric_row("mem_p95", "grew", i, mib(20.0), 1.4 + e));
            rows.push(metric_row("mem_p95", "same", i, mib(20.0), 1.0 + e));
            // 40 % more of 0.3 MiB: below the floor.
            rows.push(metric_row("mem_peak", "tiny", i, mib(0.3), 1.4 + e));
            rows.push(metric_row("loops_per_sec", "grew", i, None, 1.0 + e));
        }
        let s = judge(&rows, &Limits::default());
        let by = |f: &str, m: Measure| {
            s.iter()
                .find(|x| x.flavor == f && x.measure == m)
                .unwrap()
                .clone()
        };
        let grew = by("grew", Measure::Memory);
        assert!(grew.regression, "{grew:?}");
        assert_eq!((grew.cells, grew.worse), (13, 13));
        assert_eq!(grew.verdict, "REGRESSION (more memory across its cells)");
        assert!(line(&grew).starts_with("grew memory: 13 cells, 13 worse"));
        assert!(!by("grew", Measure::LoopsPerSec).regression);
        assert!(!by("same", Measure::Memory).regression);
        let tiny = by("tiny", Measure::Memory);
        assert!(tiny.p_value < MAX_P && !tiny.regression, "{tiny:?}");
        // Less memory everywhere is named, never a regression.
        let less: Vec<Row> = (0..13)
            .map(|i| metric_row("mem_p95", "less", i, mib(20.0), 0.6))
            .collect();
        let l = &judge(&less, &Limits::default())[0];
        assert_eq!(
            (l.regression, l.verdict),
            (false, "less memory across its cells")
        );
    }
}
