//! Whether a cell measured a steady state or averaged a transient into its figures, and the
//! test-only slowdown (`--inject-slowdown`).
//!
//! The detector is a least-squares trend over the measured window's per-second samples, per
//! producer loops/s and charged memory, each as a percentage of its mean per second. A least
//! squares slope uses every sample (a first-half/second-half comparison of medians throws
//! most of a 6-sample window away), and expressed over the whole window it reads as "the
//! figure moved this much from the first second to the last". A cell is not steady when
//! either figure drifted by more than `DRIFT_PCT` over the window *and* the slope stands out
//! of the per-second scatter (|t| > `MIN_T`): a drift the noise can produce alone is not a
//! trend.
//!
//! A cell that is not steady is flagged, not rerun with a longer warm-up: see
//! docs/options.md (Robust figures) for the measurements behind that choice.

use crate::machine::thread_cpu_ns;

use serde::{Deserialize, Serialize};

use crate::stats::{mean, trend_pct};

/// A figure that moved by more than this, end to end over the window (trend x seconds), is
/// not steady: larger than the run-to-run noise compare has to see through.
pub const DRIFT_PCT: f64 = 10.0;

/// The slope's t statistic (slope over its standard error) must also exceed this: with 6
/// samples (4 degrees of freedom) |t| > 2.5 happens by chance in about 7 % of noise-only
/// windows, and together with the drift threshold in fewer. Measured at -p 16 on 2 CPUs
/// the per-second scatter is about 9 %, so a 6-sample window catches a drift of about 30 %
/// or more (the -p 16 reuse-after-gp start-up transient, 47 % over `-w 1 -d 5`, gives
/// t = -2.7); smaller drifts need a longer window.
pub const MIN_T: f64 = 2.5;

/// A cell's steadiness (`steady` in a cell).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct Steady {
    /// Least-squares slope of loops/s per producer over the measured seconds, % of the mean
    /// per second.
    pub loops_trend_pct_per_s: f64,
    /// The same for the charged memory samples.
    pub mem_trend_pct_per_s: f64,
    /// Neither trend is a real drift (`DRIFT_PCT` over the window, |t| > `MIN_T`).
    pub steady: bool,
}

impl Steady {
    /// Judges the per-second series of one window (one sample a second each).
    pub fn of(loops_per_prod: &[f64], mem: &[f64]) -> Steady {
        let (lt, lsig) = trend(loops_per_prod);
        let (mt, msig) = trend(mem);
        Steady {
            loops_trend_pct_per_s: lt,
            mem_trend_pct_per_s: mt,
            steady: !(lsig || msig),
        }
    }
}

/// The trend in % per step, and whether it is a drift (large and significant).
fn trend(ys: &[f64]) -> (f64, bool) {
    let n = ys.len();
    let slope = trend_pct(ys);
    if n < 3 {
        return (slope, false);
    }
    let window = (n - 1) as f64;
    let large = slope.abs() * window > DRIFT_PCT;
    (slope, large && t_stat(ys).abs() > MIN_T)
}

/// The least-squares slope's t statistic: slope / its standard error, from the residuals.
/// Infinite for a perfect line (no residuals) that is not flat.
fn t_stat(ys: &[f64]) -> f64 {
    let n = ys.len() as f64;
    let m = mean(ys);
    let t_mean = (n - 1.0) / 2.0;
    let sxx: f64 = (0..ys.len()).map(|i| (i as f64 - t_mean).powi(2)).sum();
    let b = ys
        .iter()
        .enumerate()
        .map(|(i, y)| (i as f64 - t_mean) * (y - m))
        .sum::<f64>()
        / sxx;
    let sse: f64 = ys
        .iter()
        .enumerate()
        .map(|(i, y)| (y - m - b * (i as f64 - t_mean)).powi(2))
        .sum();
    let se = (sse / (n - 2.0) / sxx).sqrt();
    if se == 0.0 {
        return if b == 0.0 { 0.0 } else { f64::INFINITY };
    }
    b / se
}

/// Test only (`--inject-slowdown`): a producer's controlled slowdown. Every `every` loops it
/// busy-waits, on the thread's CPU clock, `pct / (100 - pct)` times the CPU time those loops
/// took, so its loops per CPU-second fall by `pct` % whatever a loop costs (a fixed time per
/// loop would slow a 5 ns no_op loop far more than a 1 us overwrite loop). On the CPU clock,
/// a producer preempted while it waits still does the whole work. The clock reads are system
/// calls (a few hundred ns) and part of the slowed flavor's cost, so `every` doubles until
/// the loops between two reads take at least `MIN_BATCH_NS` of CPU: then they add under 1 %.
pub struct Slowdown {
    factor: f64,
    every: u32,
    loops: u32,
    /// The thread's CPU clock when the last wait ended.
    since: u64,
}

impl Slowdown {
    const FIRST_EVERY: u32 = 64;
    const MIN_BATCH_NS: u64 = 100_000;

    /// None when the thread has no CPU clock (then nothing is slowed, and the figures say
    /// so by not moving).
    pub fn new(pct: u32) -> Option<Slowdown> {
        let pct = f64::from(pct.min(90));
        Some(Slowdown {
            factor: pct / (100.0 - pct),
            every: Self::FIRST_EVERY,
            loops: 0,
            since: thread_cpu_ns()?,
        })
    }

    /// After each loop, outside the read-side section.
    #[inline]
    pub fn after_loop(&mut self) {
        self.loops += 1;
        if self.loops < self.every {
            return;
        }
        self.loops = 0;
        let Some(now) = thread_cpu_ns() else { return };
        let work = now.saturating_sub(self.since);
        if work < Self::MIN_BATCH_NS && self.every < 1 << 24 {
            self.every *= 2;
        }
        let until = now + (work as f64 * self.factor) as u64;
        let mut t = now;
        while t < until {
            std::hint::spin_loop();
            t = thread_cpu_ns().unwrap_or(until);
        }
        self.since = t;
    }
}

/// What `--robust` prints after a Summary: the CPU-time rate, the machine, the p95 memory
/// and the steadiness, each only where the cell has it.
pub fn robust_line(c: &crate::result::CellResult) -> String {
    let m = &c.metrics;
    let k = |x: f64| x / 1000.0;
    let mib = |x: f64| x / crate::units::MIB;
    let mut parts = Vec::new();
    if let Some(r) = &m.loops_per_cpu_sec_per_producer {
        parts.push(format!(
            "per-prod-op {:.2} \u{00B1} {:.2}k/s of CPU time",
            k(r.value),
            k(r.stddev.unwrap_or(0.0))
        ));
    }
    if let Some(ml) = &c.machine {
        let f = |v: Option<f64>, unit: &str| v.map_or("-".to_string(), |x| format!("{x:.1}{unit}"));
        let l = |v: Option<f64>| v.map_or("-".to_string(), |x| format!("{x:.2}"));
        let mut s = format!(
            "steal {}, other processes {}, load {} -> {}",
            f(ml.steal_pct, "%"),
            f(ml.others_cpu_pct, "%"),
            l(ml.load_avg_start),
            l(ml.load_avg_end)
        );
        if ml.busy {
            s.push_str(&format!(" BUSY ({})", ml.busy_reasons.join(", ")));
        }
        parts.push(s);
    }
    if let Some(p95) = &m.mem_p95_charged {
        parts.push(format!(
            "memory p95 {:.2}MiB (peak {:.2}MiB)",
            mib(p95.value),
            mib(m.mem_peak_shown().value)
        ));
    }
    if let Some(st) = &c.steady {
        parts.push(format!(
            "{} (loops {:+.2}%/s, memory {:+.2}%/s)",
            if st.steady { "steady" } else { "NOT STEADY" },
            st.loops_trend_pct_per_s,
            st.mem_trend_pct_per_s
        ));
    }
    format!("Robust: {}", parts.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flat_noisy_window_is_steady() {
        let loops = [9.1, 8.8, 9.3, 8.9, 9.2, 9.0];
        let mem = [85.0, 86.0, 84.0, 85.5, 84.5, 85.0];
        let s = Steady::of(&loops, &mem);
        assert!(s.steady, "{s:?}");
        assert!(s.loops_trend_pct_per_s.abs() < 1.0);
    }

    #[test]
    fn a_falling_transient_is_not_steady() {
        // The p16 reuse-after-gp: 23.8k falling to 9k, memory 214 to 85 MiB.
        let loops = [23.8, 17.0, 13.0, 10.5, 9.4, 9.0];
        let mem = [214.0, 160.0, 120.0, 95.0, 88.0, 85.0];
        let s = Steady::of(&loops, &mem);
        assert!(!s.steady, "{s:?}");
        assert!(s.loops_trend_pct_per_s < -10.0);
        assert!(s.mem_trend_pct_per_s < -10.0);
    }

    #[test]
    fn a_small_or_noisy_drift_is_steady() {
        // 1 % a second for 5 s: 5 % end to end, under the drift threshold.
        let s = Steady::of(&[100.0, 101.0, 102.0, 103.0, 104.0, 105.0], &[1.0; 6]);
        assert!(s.steady, "{s:?}");
        // One slow last second: a large slope, but not out of the scatter.
        let s = Steady::of(&[100.0, 104.0, 97.0, 103.0, 99.0, 70.0], &[1.0; 6]);
        assert!(s.steady, "{s:?}");
        // Too few samples to judge.
        assert!(Steady::of(&[100.0, 50.0], &[1.0, 2.0]).steady);
    }

    #[test]
    fn the_robust_line_shows_what_a_cell_has() {
        use crate::result::{Benchmark, CellResult, Metric};
        let mut c = CellResult::error(Benchmark::HtabMem, "overwrite", "x", 2, String::new());
        assert_eq!(robust_line(&c), "Robust: ");
        c.metrics.loops_per_cpu_sec_per_producer = Some(Metric::new(12_340.0, Some(500.0), ""));
        c.metrics.mem_peak_charged = Some(Metric::new(4.0 * crate::units::MIB, None, ""));
        c.metrics.mem_p95_charged = Some(Metric::new(2.0 * crate::units::MIB, None, ""));
        c.steady = Some(Steady::of(&[23.8, 17.0, 13.0, 10.5, 9.4, 9.0], &[1.0; 6]));
        let mut ml = crate::machine::MachineLoad {
            steal_pct: Some(7.5),
            load_avg_start: Some(1.0),
            ..Default::default()
        };
        ml.judge(2, 2);
        c.machine = Some(ml);
        let line = robust_line(&c);
        assert!(line.starts_with("Robust: per-prod-op 12.34 \u{00B1} 0.50k/s of CPU time; steal 7.5%, other processes -, load 1.00 -> - BUSY (steal 7.5% > 5%); memory p95 2.00MiB (peak 4.00MiB); NOT STEADY (loops -"), "{line}");
    }

    #[test]
    fn the_slowdown_adds_its_share_of_cpu_time() {
        // 64 loops of about 20 us of CPU each, then the wait: 25 % makes it a third more.
        // (1.3 ms of work: `every` does not grow.)
        let mut s = Slowdown::new(25).unwrap();
        let t0 = thread_cpu_ns().unwrap();
        let mut work = 0u64;
        for _ in 0..Slowdown::FIRST_EVERY {
            let w0 = thread_cpu_ns().unwrap();
            while thread_cpu_ns().unwrap() < w0 + 20_000 {
                std::hint::spin_loop();
            }
            work += thread_cpu_ns().unwrap() - w0;
            s.after_loop();
        }
        let total = thread_cpu_ns().unwrap() - t0;
        // The wait is at least a third of the work (the factor for 25 %).
        assert!(
            total as f64 >= work as f64 * (1.0 + 1.0 / 3.0),
            "{total} vs {work}"
        );
        assert!(Slowdown::new(0).unwrap().factor == 0.0);
    }
}
