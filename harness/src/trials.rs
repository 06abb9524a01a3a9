//! Trials: one cell measured in N independent child processes, and what the cell then holds
//! -- every trial's headline figures, the median across trials as the cell's `metrics`, and
//! a 95 % confidence interval of that median.
//!
//! The interval is a percentile bootstrap of the median: `RESAMPLES` resamples (with
//! replacement) of the trials, each resample's median, and the 2.5th and 97.5th percentiles
//! of those medians. The generator is a xorshift64* with a fixed seed, so the same trials
//! always give the same interval. Why the median: one trial disturbed by the machine (a
//! neighbour, a long grace period) moves the mean by its whole excess and the median not at
//! all. With 3 to 5 trials the percentile bootstrap of the median is the range of the trials
//! ([min, max]); its true coverage then is 75 % (n = 3) to 94 % (n = 5), which `compare`
//! takes into account by requiring two such intervals not to overlap
//! (docs/results-tools.md#trials-and-intervals).

use crate::result::{CellResult, Intervals, Status, TrialFigures, Trials};

/// Bootstrap resamples per interval.
pub const RESAMPLES: usize = 2000;
/// The generator's seed: fixed, so intervals are reproducible.
pub const SEED: u64 = 0x9E37_79B9_7F4A_7C15;
/// What `Intervals::method` records.
pub const METHOD: &str = "percentile bootstrap of the median, 2000 resamples, fixed seed";

/// xorshift64* (Vigna): tiny, deterministic, good enough to draw resample indices.
pub struct XorShift(u64);

impl XorShift {
    pub fn new(seed: u64) -> XorShift {
        XorShift(seed.max(1))
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in 0..n (n > 0); the modulo bias is below 2^-50 for the n used here.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

/// The median; the mean of the two middle values for an even count; 0.0 for none.
pub fn median(xs: &[f64]) -> f64 {
    if xs.is_empty() {
        return 0.0;
    }
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// The 95 % percentile-bootstrap interval of the median of `xs`; None for fewer than two.
pub fn bootstrap_median_ci(xs: &[f64]) -> Option<[f64; 2]> {
    bootstrap_median_ci_with(xs, 0.95, RESAMPLES, SEED)
}

/// [`bootstrap_median_ci`] at any level, resample count and seed.
pub fn bootstrap_median_ci_with(
    xs: &[f64],
    level: f64,
    resamples: usize,
    seed: u64,
) -> Option<[f64; 2]> {
    if xs.len() < 2 || resamples == 0 {
        return None;
    }
    let mut rng = XorShift::new(seed);
    let mut buf = vec![0.0; xs.len()];
    let mut medians: Vec<f64> = (0..resamples)
        .map(|_| {
            for b in buf.iter_mut() {
                *b = xs[rng.below(xs.len())];
            }
            median(&buf)
        })
        .collect();
    medians.sort_by(f64::total_cmp);
    let tail = (1.0 - level) / 2.0;
    let at = |p: f64| medians[((resamples - 1) as f64 * p).round() as usize];
    Some([at(tail), at(1.0 - tail)])
}

/// Whether two intervals share no point.
pub fn disjoint(a: [f64; 2], b: [f64; 2]) -> bool {
    a[1] < b[0] || b[1] < a[0]
}

/// The order in which `cells` x `n` trials run: trial 1 of every cell, then trial 2, ...
/// (A B C A B C), so drift of the machine hits every flavor of a group alike. Pairs of
/// (trial index from 0, cell index).
pub fn schedule(cells: usize, n: usize) -> Vec<(usize, usize)> {
    (0..n)
        .flat_map(|t| (0..cells).map(move |c| (t, c)))
        .collect()
}

/// One trial's headline figures.
pub fn figures(trial: usize, c: &CellResult) -> TrialFigures {
    let m = &c.metrics;
    TrialFigures {
        trial,
        status: c.status,
        error: c.error.clone(),
        loops_per_sec: m.loops_per_sec.value,
        loops_per_sec_per_producer: m.loops_per_sec_per_producer.value,
        mem_avg: m.mem_avg_shown().value,
        mem_peak: m.mem_peak_shown().value,
        mem_p95: m.mem_p95_charged.as_ref().map(|x| x.value),
        busy: c.machine.as_ref().map(|l| l.busy),
        steady: c.steady.as_ref().map(|s| s.steady),
    }
}

/// The cell of N trials (in trial order). One trial: that trial's cell, unchanged. More:
/// the measured trial with the median loops/s (the lower middle one for an even count)
/// gives the samples, counters and RCU statistics; the headline metrics are the medians
/// over the measured trials (loops/s, per producer, and the average and peak memory as
/// shown: charged when the cell has it); `trials` holds every trial's figures and the 95 %
/// intervals. The status is the worst trial's: an error in any trial makes an error cell
/// (a matrix runs it again on resume), a leak in any a leak cell.
pub fn combine(mut runs: Vec<CellResult>) -> CellResult {
    assert!(!runs.is_empty(), "a cell has at least one trial");
    if runs.len() == 1 {
        return runs.pop().unwrap();
    }
    let figs: Vec<TrialFigures> = runs
        .iter()
        .enumerate()
        .map(|(i, c)| figures(i + 1, c))
        .collect();
    let measured: Vec<&TrialFigures> = figs.iter().filter(|f| f.status.measured()).collect();
    let first_error = figs.iter().find(|f| f.status == Status::Error);
    let leaked = runs.iter().map(|c| c.allocator.leaked).max().unwrap_or(0);
    let mut by_loops: Vec<usize> = (0..runs.len())
        .filter(|&i| runs[i].status.measured())
        .collect();
    by_loops.sort_by(|&a, &b| {
        runs[a]
            .metrics
            .loops_per_sec
            .value
            .total_cmp(&runs[b].metrics.loops_per_sec.value)
    });
    let rep = match by_loops.get(by_loops.len().saturating_sub(1) / 2) {
        Some(&i) => i,
        None => 0,
    };
    let mut cell = runs.swap_remove(rep);
    let col = |f: fn(&TrialFigures) -> f64| -> Vec<f64> { measured.iter().map(|t| f(t)).collect() };
    let cols = [
        col(|t| t.loops_per_sec),
        col(|t| t.loops_per_sec_per_producer),
        col(|t| t.mem_avg),
        col(|t| t.mem_peak),
    ];
    if !measured.is_empty() {
        let m = &mut cell.metrics;
        m.loops_per_sec.value = median(&cols[0]);
        m.loops_per_sec_per_producer.value = median(&cols[1]);
        match &mut m.mem_avg_charged {
            Some(c) => c.value = median(&cols[2]),
            None => m.mem_avg.value = median(&cols[2]),
        }
        match &mut m.mem_peak_charged {
            Some(c) => c.value = median(&cols[3]),
            None => m.mem_peak.value = median(&cols[3]),
        }
    }
    // The p95 memory, when every measured trial has it (older builds' trials do not).
    let p95: Option<Vec<f64>> = measured.iter().map(|t| t.mem_p95).collect();
    if let (Some(v), Some(m)) = (&p95, &mut cell.metrics.mem_p95_charged) {
        if !v.is_empty() {
            m.value = median(v);
        }
    }
    let ci95 = match cols.each_ref().map(|c| bootstrap_median_ci(c)) {
        [Some(a), Some(b), Some(c), Some(d)] => Some(Intervals {
            method: METHOD.into(),
            loops_per_sec: a,
            loops_per_sec_per_producer: b,
            mem_avg: c,
            mem_peak: d,
            mem_p95: p95.as_deref().and_then(bootstrap_median_ci),
        }),
        _ => None,
    };
    if let Some(e) = first_error {
        cell.status = Status::Error;
        cell.error = Some(format!(
            "trial {}: {}",
            e.trial,
            e.error.as_deref().unwrap_or("error")
        ));
    } else if figs.iter().any(|f| f.status == Status::Leak) {
        cell.status = Status::Leak;
        cell.allocator.leaked = leaked;
    }
    cell.trials = Trials { trials: figs, ci95 };
    cell
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::result::{Benchmark, Metric};

    fn cell(loops: f64, mem: f64) -> CellResult {
        let mut c = CellResult::error(Benchmark::HtabMem, "overwrite", "prealloc", 2, "".into());
        c.status = Status::Ok;
        c.error = None;
        c.metrics.loops_per_sec = Metric::new(loops, Some(1.0), "loops/s");
        c.metrics.loops_per_sec_per_producer = Metric::new(loops / 2.0, Some(0.5), "loops/s");
        c.metrics.mem_avg = Metric::new(mem / 2.0, None, "bytes");
        c.metrics.mem_peak = Metric::new(mem, None, "bytes");
        c
    }

    #[test]
    fn medians() {
        assert_eq!(median(&[]), 0.0);
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), 2.5);
    }

    #[test]
    fn the_generator_is_fixed() {
        let mut a = XorShift::new(SEED);
        let mut b = XorShift::new(SEED);
        let xs: Vec<u64> = (0..4).map(|_| a.next_u64()).collect();
        let ys: Vec<u64> = (0..4).map(|_| b.next_u64()).collect();
        assert_eq!(xs, ys);
        assert!(xs.windows(2).all(|w| w[0] != w[1]));
    }

    #[test]
    fn bootstrap_interval_on_known_data() {
        assert_eq!(bootstrap_median_ci(&[5.0]), None);
        // Three trials: a resample's median is the minimum with probability 7/27 > 2.5 %,
        // so the interval is the range.
        assert_eq!(
            bootstrap_median_ci(&[90.0, 100.0, 110.0]),
            Some([90.0, 110.0])
        );
        // Deterministic: the same data, the same interval.
        let xs = [10.0, 11.0, 9.5, 10.2, 10.4, 9.9, 10.1, 30.0, 10.3];
        let ci = bootstrap_median_ci(&xs).unwrap();
        assert_eq!(bootstrap_median_ci(&xs), Some(ci));
        // It holds the median, and the one outlier does not reach it.
        let m = median(&xs);
        assert!(ci[0] <= m && m <= ci[1], "{ci:?} {m}");
        assert!(ci[1] < 30.0 && ci[0] > 9.5 - 1e-9, "{ci:?}");
        // The exact bounds: a resample's median is at most 9.9 (or at least 11.0) when 5 of
        // its 9 draws fall on the two smallest (largest) values, binomial(9, 2/9) >= 5, about
        // 3 %: just above the 2.5 % tail, so those are the bounds.
        assert_eq!(ci, [9.9, 11.0]);
        // Noisier data, a wider interval.
        let noisy: Vec<f64> = xs.iter().map(|x| 10.0 + (x - 10.0) * 5.0).collect();
        let wide = bootstrap_median_ci(&noisy).unwrap();
        assert!(wide[1] - wide[0] > ci[1] - ci[0], "{wide:?} {ci:?}");
        // A narrower level gives a narrower interval.
        let ci50 = bootstrap_median_ci_with(&xs, 0.5, RESAMPLES, SEED).unwrap();
        assert!(ci50[0] >= ci[0] && ci50[1] <= ci[1], "{ci50:?}");
    }

    #[test]
    fn trials_interleave_across_cells() {
        assert_eq!(
            schedule(3, 2),
            [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2)]
        );
        assert_eq!(schedule(2, 1), [(0, 0), (0, 1)]);
    }

    #[test]
    fn one_trial_is_the_cell_as_today() {
        let c = cell(100.0, 1e6);
        let one = combine(vec![c.clone()]);
        assert_eq!(one, c);
        let v = serde_json::to_value(&one).unwrap();
        assert!(v.get("trials").is_none() && v.get("ci95").is_none(), "{v}");
    }

    #[test]
    fn trials_give_the_median_every_trial_and_an_interval() {
        let c = combine(vec![cell(100.0, 3e6), cell(80.0, 1e6), cell(120.0, 2e6)]);
        assert_eq!(c.status, Status::Ok);
        assert_eq!(c.metrics.loops_per_sec.value, 100.0);
        assert_eq!(c.metrics.loops_per_sec_per_producer.value, 50.0);
        assert_eq!(c.metrics.mem_peak.value, 2e6);
        assert_eq!(c.metrics.mem_avg.value, 1e6);
        assert_eq!(c.trials.trials.len(), 3);
        assert_eq!(c.trials.trials[1].trial, 2);
        assert_eq!(c.trials.trials[1].loops_per_sec, 80.0);
        let ci = c.trials.ci95.as_ref().unwrap();
        assert_eq!(ci.loops_per_sec, [80.0, 120.0]);
        assert_eq!(ci.mem_peak, [1e6, 3e6]);
        let v = serde_json::to_value(&c).unwrap();
        assert_eq!(v["trials"].as_array().unwrap().len(), 3);
        assert_eq!(v["trials"][2]["status"], "ok");
        assert_eq!(v["ci95"]["loops_per_sec"], serde_json::json!([80.0, 120.0]));
        let back: CellResult = serde_json::from_value(v).unwrap();
        assert_eq!(back, c);
    }

    #[test]
    fn busy_and_transient_trials_are_counted_in_the_notes() {
        use crate::machine::MachineLoad;
        use crate::steady::Steady;
        let flagged = |busy: bool, steady: bool| {
            let mut c = cell(100.0, 1.0);
            c.machine = Some(MachineLoad {
                busy,
                ..Default::default()
            });
            c.steady = Some(Steady {
                steady,
                ..Default::default()
            });
            c
        };
        let one = combine(vec![flagged(true, false)]);
        assert_eq!(one.notes(), ["busy", "transient"]);
        assert!(combine(vec![flagged(false, true)]).notes().is_empty());
        let c = combine(vec![
            flagged(true, true),
            flagged(false, false),
            flagged(false, false),
        ]);
        assert_eq!(c.trials.trials[0].busy, Some(true));
        assert_eq!(c.trials.trials[2].steady, Some(false));
        assert_eq!(c.notes(), ["busy 1/3", "transient 2/3"]);
        // Trials from builds before the flags: no notes, no guess.
        let mut old = c.clone();
        for t in &mut old.trials.trials {
            (t.busy, t.steady) = (None, None);
        }
        assert!(old.notes().is_empty());
    }

    #[test]
    fn charged_memory_takes_the_median_and_a_failed_trial_fails_the_cell() {
        let charged = |loops, mem: f64| {
            let mut c = cell(loops, mem);
            c.metrics.mem_peak_charged = Some(Metric::new(mem * 2.0, None, "bytes"));
            c
        };
        let c = combine(vec![
            charged(1.0, 1.0),
            charged(2.0, 5.0),
            charged(3.0, 3.0),
        ]);
        assert_eq!(c.metrics.mem_peak_charged.as_ref().unwrap().value, 6.0);
        assert_eq!(c.trials.trials[1].mem_peak, 10.0);
        let mut bad = cell(0.0, 0.0);
        bad.status = Status::Error;
        bad.error = Some("boom".into());
        let mut leak = cell(90.0, 1.0);
        leak.status = Status::Leak;
        leak.allocator.leaked = 7;
        let c = combine(vec![cell(100.0, 1.0), bad.clone(), cell(110.0, 1.0)]);
        assert_eq!(c.status, Status::Error);
        assert_eq!(c.error.as_deref(), Some("trial 2: boom"));
        assert_eq!(c.trials.trials[1].status, Status::Error);
        let c = combine(vec![cell(100.0, 1.0), leak, cell(110.0, 1.0)]);
        assert_eq!(c.status, Status::Leak);
        assert_eq!(c.allocator.leaked, 7);
        assert_eq!(c.metrics.loops_per_sec.value, 100.0);
        let c = combine(vec![bad.clone(), bad]);
        assert_eq!(c.status, Status::Error);
        assert!(c.trials.ci95.is_none());
    }
}
