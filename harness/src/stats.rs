//! Mean and sample standard deviation, computed as the kernel bench's
//! `htab_mem_report_final` does.

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

#[cfg(test)]
mod tests {
    use super::*;

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
