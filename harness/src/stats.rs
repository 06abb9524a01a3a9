//! Mean and sample standard deviation, computed as the kernel bench's
//! `htab_mem_report_final` does; a percentile and a trend for the robust figures
//! (`crate::steady`).

/// Arithmetic mean; 0.0 for an empty slice (the kernel never reports one,
/// and 0.0 serialises where NaN would not).
pub fn mean(xs: &[f64]) -> f64 {
    if xs.is_empty() {
        return 0.0;
    }
    xs.iter().sum::<f64>() / xs.len() as f64
}

/// Sample standard deviation (divides by n - 1); 0.0 when n <= 1.
pub fn stddev(xs: &[f64]) -> f64 {
    if xs.len() <= 1 {
        return 0.0;
    }
    let m = mean(xs);
    let n1 = (xs.len() - 1) as f64;
    xs.iter()
        .map(|x| (x - m) * (x - m) / n1)
        .sum::<f64>()
        .sqrt()
}

/// The `q`-th percentile (0 < q <= 100) by nearest rank: the smallest sample with at least
/// q % of the samples at or below it, so always one of the samples; 0.0 for an empty slice.
pub fn percentile(xs: &[f64], q: f64) -> f64 {
    if xs.is_empty() {
        return 0.0;
    }
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    let rank = (q / 100.0 * v.len() as f64).ceil() as usize;
    v[rank.clamp(1, v.len()) - 1]
}

/// The least-squares slope of `ys` against its index (one sample per unit of time), as a
/// percentage of the mean per unit: +10.0 means the series rises by a tenth of its mean each
/// step. 0.0 for fewer than two samples or a mean of zero.
pub fn trend_pct(ys: &[f64]) -> f64 {
    let n = ys.len();
    let m = mean(ys);
    if n < 2 || m == 0.0 {
        return 0.0;
    }
    let t_mean = (n - 1) as f64 / 2.0;
    let (mut sxy, mut sxx) = (0.0, 0.0);
    for (i, y) in ys.iter().enumerate() {
        let dt = i as f64 - t_mean;
        sxy += dt * (y - m);
        sxx += dt * dt;
    }
    sxy / sxx / m.abs() * 100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_is_nearest_rank() {
        assert_eq!(percentile(&[], 95.0), 0.0);
        assert_eq!(percentile(&[7.0], 95.0), 7.0);
        // 1..=100: the 95th is 95; order does not matter.
        let mut xs: Vec<f64> = (1..=100).map(f64::from).collect();
        xs.reverse();
        assert_eq!(percentile(&xs, 95.0), 95.0);
        assert_eq!(percentile(&xs, 100.0), 100.0);
        // 20 samples: rank ceil(19) = 19, the second highest.
        let xs: Vec<f64> = (1..=20).map(f64::from).collect();
        assert_eq!(percentile(&xs, 95.0), 19.0);
    }

    #[test]
    fn one_spike_lifts_the_peak_but_not_the_p95() {
        // 100 Hz for 5 s at 80 MiB, one long grace period holding 200 MiB for 30 ms.
        let mut xs = vec![80.0; 500];
        xs[250..253].fill(200.0);
        assert_eq!(percentile(&xs, 95.0), 80.0);
        assert_eq!(xs.iter().cloned().fold(0.0, f64::max), 200.0);
    }

    #[test]
    fn trend_of_fixed_series() {
        assert_eq!(trend_pct(&[]), 0.0);
        assert_eq!(trend_pct(&[5.0]), 0.0);
        assert_eq!(trend_pct(&[0.0, 0.0, 0.0]), 0.0);
        assert!(close(trend_pct(&[10.0, 10.0, 10.0, 10.0]), 0.0));
        // 8, 9, 10, 11, 12: slope 1 per step, mean 10: +10 % per step.
        assert!(close(trend_pct(&[8.0, 9.0, 10.0, 11.0, 12.0]), 10.0));
        assert!(close(trend_pct(&[12.0, 11.0, 10.0, 9.0, 8.0]), -10.0));
        // Noise symmetric about the middle has no trend.
        assert!(close(trend_pct(&[10.0, 12.0, 8.0, 12.0, 10.0]), 0.0));
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-9 * b.abs().max(1.0)
    }

    #[test]
    fn mean_values() {
        assert_eq!(mean(&[]), 0.0);
        assert_eq!(mean(&[5.0]), 5.0);
        assert_eq!(mean(&[1.0, 2.0, 3.0, 4.0]), 2.5);
        assert_eq!(mean(&[-1.0, 1.0]), 0.0);
    }

    #[test]
    fn stddev_is_sample_stddev() {
        assert_eq!(stddev(&[]), 0.0);
        assert_eq!(stddev(&[42.0]), 0.0);
        assert_eq!(stddev(&[3.0, 3.0, 3.0]), 0.0);
        // Sum of squared deviations 32 over n-1 = 7 (population would give 2.0).
        let xs = [2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0];
        assert!(close(stddev(&xs), (32.0f64 / 7.0).sqrt()));
        assert!(close(stddev(&[1.0, 2.0]), std::f64::consts::FRAC_1_SQRT_2));
    }

    #[test]
    fn large_values_keep_precision() {
        let xs = [25_176_309.0, 25_176_311.0];
        assert!(close(mean(&xs), 25_176_310.0));
        assert!(close(stddev(&xs), std::f64::consts::SQRT_2));
    }
}
