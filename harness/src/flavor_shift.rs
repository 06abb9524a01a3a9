//! Whether a flavor moved across all its cells: `compare`'s second look, after the cell by
//! cell verdicts.
//!
//! On a shared 2-vCPU machine one cell's median of 3 one-second trials moves by 10-15 % from
//! one matrix to the next (the process's CPU efficiency itself varies that much, not only the
//! wall clock), so a cell-by-cell gate that never cries wolf cannot see a 15 % slowdown of one
//! flavor. But a real slowdown moves every cell of the flavor, and noise does not: over a
//! flavor's cells, the median of the normalised loops/s ratios and a sign test (how many cells
//! got slower, against a fair coin) see a uniform 10-15 % shift that no single cell shows
//! beyond its noise. A flavor is `slower` when its median ratio is below the threshold **and**
//! the sign test's one-sided p-value is below `MAX_P`, over at least `MIN_CELLS` cells.

use std::collections::BTreeMap;

use crate::compare::Row;

/// The default threshold on a flavor's median normalised loops/s ratio.
pub const DEFAULT_MAX_FLAVOR_SLOWDOWN: f64 = 0.90;
/// The sign test's one-sided p-value must be below this: with 19 cells, 15 or more slower.
pub const MAX_P: f64 = 0.01;
/// Fewer cells than this cannot reach `MAX_P` (6 of 6 slower is p = 0.016).
pub const MIN_CELLS: usize = 8;

/// One flavor (of one benchmark) across its matched cells' loops/s rows.
#[derive(Clone, Debug, PartialEq)]
pub struct FlavorShift {
    pub benchmark: String,
    pub flavor: String,
    /// Cells with a normalised ratio.
    pub cells: usize,
    /// Of those, how many got slower (ratio < 1) and faster (ratio > 1).
    pub slower: usize,
    pub faster: usize,
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

/// Groups `rows`' loops/s rows by (benchmark, flavor), from the cell ids
/// (`benchmark/use case/flavor/pN...`), and judges each group.
pub fn judge(rows: &[Row], max_flavor_slowdown: f64) -> Vec<FlavorShift> {
    let mut groups: BTreeMap<(String, String), Vec<f64>> = BTreeMap::new();
    for r in rows.iter().filter(|r| r.metric == "loops_per_sec") {
        let (Some(ratio), mut parts) = (r.ratio, r.id.split('/')) else {
            continue;
        };
        if let (Some(b), Some(_), Some(f)) = (parts.next(), parts.next(), parts.next()) {
            groups
                .entry((b.to_string(), f.to_string()))
                .or_default()
                .push(ratio);
        }
    }
    groups
        .into_iter()
        .map(|((benchmark, flavor), mut ratios)| {
            ratios.sort_by(f64::total_cmp);
            let n = ratios.len();
            let median = crate::trials::median(&ratios);
            let slower = ratios.iter().filter(|&&r| r < 1.0).count();
            let faster = ratios.iter().filter(|&&r| r > 1.0).count();
            let p = sign_test_p(n, if median < 1.0 { slower } else { faster });
            let significant = n >= MIN_CELLS && p < MAX_P;
            let (regression, verdict) = if significant && median < max_flavor_slowdown {
                (true, "REGRESSION (slower across its cells)")
            } else if significant && median > 1.0 / max_flavor_slowdown {
                (false, "faster across its cells")
            } else {
                (false, "no change")
            };
            FlavorShift {
                benchmark,
                flavor,
                cells: n,
                slower,
                faster,
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

/// `immediate-reuse: 19 cells, 17 slower, 2 faster, median ratio 0.848, sign test p 0.0004:
/// REGRESSION (slower across its cells)`.
pub fn line(s: &FlavorShift) -> String {
    format!(
        "{}: {} cells, {} slower, {} faster, median ratio {:.3}, sign test p {:.4}: {}",
        s.name(),
        s.cells,
        s.slower,
        s.faster,
        s.median_ratio,
        s.p_value,
        s.verdict
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(flavor: &str, cell: usize, ratio: f64) -> Row {
        Row {
            id: format!("htab-mem/overwrite/{flavor}/p{cell}"),
            metric: "loops_per_sec",
            base: None,
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
        let s = judge(&rows, DEFAULT_MAX_FLAVOR_SLOWDOWN);
        let by = |f: &str| s.iter().find(|x| x.flavor == f).unwrap();
        assert!(by("slowed").regression, "{:?}", by("slowed"));
        assert_eq!(by("slowed").cells, 19);
        assert!(!by("same").regression, "{:?}", by("same"));
        assert_eq!(by("same").verdict, "no change");
        // A few cells cannot reach the sign test's level, however slow.
        let few: Vec<Row> = (0..5).map(|i| row("few", i, 0.5)).collect();
        assert!(!judge(&few, DEFAULT_MAX_FLAVOR_SLOWDOWN)[0].regression);
        // Slower in most cells but by less than the threshold: not a regression.
        let small: Vec<Row> = (0..19).map(|i| row("small", i, 0.95)).collect();
        assert!(!judge(&small, DEFAULT_MAX_FLAVOR_SLOWDOWN)[0].regression);
        assert!(line(by("slowed")).starts_with("slowed: 19 cells, "));
    }
}
