//! Text output in the kernel bench's exact printf formats. Scripts scrape
//! these lines, so the formats are an interface: change nothing cosmetic.

use crate::result::Status;
use crate::units::MIB;

/// C's `%W.Plf`. Rust's `{:W.P}` matches it for finite values (right
/// aligned, '-' sign, exact rounding); NaN and infinities are spelled the
/// glibc way.
fn cf(x: f64, width: usize, prec: usize) -> String {
    if x.is_finite() {
        return format!("{x:width$.prec$}");
    }
    let s = match (x.is_nan(), x.is_sign_negative()) {
        (true, false) => "nan",
        (true, true) => "-nan",
        (false, false) => "inf",
        (false, true) => "-inf",
    };
    format!("{s:>width$}")
}

/// One per-second line, as `htab_mem_report_progress` prints it:
/// `Iter %3d (%7.3lfus): per-prod-op %7.2lfk/s, memory usage %7.2lfMiB`.
/// The parenthesised value is the timer drift `(delta_ns - 1e9) / 1000` us.
pub fn progress_line(iter: usize, delta_ns: u64, per_prod_op_k: f64, mem_mib: f64) -> String {
    rate_progress_line(PER_PROD_OP, iter, delta_ns, per_prod_op_k, mem_mib)
}

/// The merged benchmark's rate label (loops per producer).
pub const PER_PROD_OP: &str = "per-prod-op";
/// The RFC's rate label (loops of all producers together), printed with `--rfc`.
pub const RFC_LOOP: &str = "loop";

/// [`progress_line`] with the rate labelled `label` (the RFC printed `loop %7.2lfk/s`).
pub fn rate_progress_line(
    label: &str,
    iter: usize,
    delta_ns: u64,
    rate_k: f64,
    mem_mib: f64,
) -> String {
    // Integer subtraction first, as C does with `long`, so no precision is lost.
    let drift_us = (i128::from(delta_ns) - 1_000_000_000) as f64 / 1000.0;
    format!(
        "Iter {iter:3} ({}us): {label} {}k/s, memory usage {}MiB",
        cf(drift_us, 7, 3),
        cf(rate_k, 7, 2),
        cf(mem_mib, 7, 2)
    )
}

/// The final line, as `htab_mem_report_final` prints it.
pub fn summary_line(
    op_mean_k: f64,
    op_std_k: f64,
    mem_mean_mib: f64,
    mem_std_mib: f64,
    peak_mib: f64,
) -> String {
    rate_summary_line(
        PER_PROD_OP,
        op_mean_k,
        op_std_k,
        mem_mean_mib,
        mem_std_mib,
        peak_mib,
    )
}

/// [`summary_line`] with the rate labelled `label`.
pub fn rate_summary_line(
    label: &str,
    op_mean_k: f64,
    op_std_k: f64,
    mem_mean_mib: f64,
    mem_std_mib: f64,
    peak_mib: f64,
) -> String {
    format!(
        "Summary: {label} {} \u{00B1} {}k/s, memory usage {} \u{00B1} {}MiB, \
         peak memory usage {}MiB",
        cf(op_mean_k, 7, 2),
        cf(op_std_k, 7, 2),
        cf(mem_mean_mib, 7, 2),
        cf(mem_std_mib, 7, 2),
        cf(peak_mib, 7, 2)
    )
}

/// The line after a Summary when the memory limit or the failure injection failed
/// allocations: updates failed with ENOMEM per second, and what the memcg refused. None when
/// nothing failed.
pub fn mem_limit_line(m: &crate::result::MemLimitCell) -> Option<String> {
    if m.failed_updates == 0 && m.refused == 0 && m.injected == 0 {
        return None;
    }
    let limit = m.limit_bytes.map_or("none".into(), memcg::format_size);
    Some(format!(
        "failed updates: {:.2}/s (ENOMEM, {} in the measured seconds); memory limit {limit}{}, \
         {} charges refused, {} allocations failed by injection, charged peak {:.2}MiB",
        m.failed_updates_per_sec,
        m.failed_updates,
        if m.hit_mem_limit { " hit" } else { " not hit" },
        m.refused,
        m.injected,
        m.charged_peak_bytes as f64 / MIB
    ))
}

/// What `--rcu-stats` prints for one domain after a Summary.
pub fn rcu_stats_line(d: &crate::result::DomainReport) -> String {
    let ms = |ns: u64| ns as f64 / 1e6;
    let mut s = format!(
        "{}: {} grace periods (avg {:.3} ms, p50 {:.3}, p99 {:.3}, max {:.3}), {} callbacks \
         invoked, {} pending at the end, latency p50 {:.3} ms p99 {:.3} max {:.3} ({} sampled), \
         {} urgent requests",
        d.domain,
        d.grace_periods,
        ms(d.gp_avg_ns),
        ms(d.gp_p50_ns),
        ms(d.gp_p99_ns),
        ms(d.gp_max_ns),
        d.callbacks_invoked,
        d.callbacks_pending,
        ms(d.cb_latency_p50_ns),
        ms(d.cb_latency_p99_ns),
        ms(d.cb_latency_max_ns),
        d.cb_latency_samples,
        d.urgent_requests
    );
    let lazy = [
        d.lazy_flushes_full,
        d.lazy_flushes_timer,
        d.lazy_flushes_other,
    ];
    if lazy.iter().any(|&n| n > 0) {
        s += &format!(
            ", lazy flushes {} full / {} timer / {} other",
            lazy[0], lazy[1], lazy[2]
        );
    }
    s
}

/// What `--explain-memory` prints after the table: per cell, the prediction (free rate x
/// mean time held x unit size, plus the standing in-use elements, caches and other heap)
/// beside the measured average, and the stages the time held splits into.
pub fn memory_model_table(cells: &[crate::result::CellResult]) -> String {
    const HEADER: [&str; 15] = [
        "flavor",
        "frees/s",
        "mean held (ms)",
        "deferred pred / meas (MiB)",
        "standing (MiB)",
        "predicted (MiB)",
        "measured avg ± se (MiB)",
        "ratio",
        "10 ms avg (MiB)",
        "ratio (10 ms)",
        "batch fill (ms)",
        "pacing wait (ms)",
        "GP (ms)",
        "cb wait (ms)",
        "tasks-trace (ms)",
    ];
    let mib = |b: f64| format!("{:.2}", b / MIB);
    let ms = |ns: f64| format!("{:.3}", ns / 1e6);
    let rows: Vec<Vec<String>> = cells
        .iter()
        .map(|c| {
            let Some(m) = &c.memory_model else {
                let mut v = vec![c.flavor.clone()];
                v.resize(HEADER.len(), "-".into());
                return v;
            };
            let st = &m.stages;
            vec![
                c.flavor.clone(),
                si(m.frees_per_s),
                ms(m.mean_held_ns),
                format!(
                    "{} / {}",
                    mib(m.deferred_bytes),
                    mib(m.deferred_measured_bytes)
                ),
                mib(m.in_use_bytes + m.cached_bytes + m.other_heap_bytes),
                mib(m.predicted_bytes),
                format!(
                    "{} ± {}",
                    mib(m.measured_avg_bytes),
                    mib(m.measured_avg_stderr_bytes)
                ),
                format!("{:.2}", m.ratio()),
                mib(m.measured_10ms_avg_bytes),
                format!("{:.2}", m.ratio_10ms()),
                ms(st.batch_fill_ns),
                ms(st.pacing_ns),
                ms(st.gp_ns),
                ms(st.cb_wait_ns),
                ms(st.tasks_trace_ns),
            ]
        })
        .collect();
    crate::text_table::render(&HEADER, &rows)
}

/// 1234567 -> "1.23M".
fn si(x: f64) -> String {
    match x.abs() {
        v if v >= 1e9 => format!("{:.2}G", x / 1e9),
        v if v >= 1e6 => format!("{:.2}M", x / 1e6),
        v if v >= 1e3 => format!("{:.2}k", x / 1e3),
        _ => format!("{x:.0}"),
    }
}

/// `12.34`, or with trials (an interval, scaled by `scale` like `v`) `12.34 [11.00, 13.00]`: the median and its 95 % interval.
pub fn with_interval(v: f64, ci: Option<[f64; 2]>, scale: f64) -> String {
    match ci {
        Some([lo, hi]) => format!("{v:.2} [{:.2}, {:.2}]", lo / scale, hi / scale),
        None => format!("{v:.2}"),
    }
}

/// One flavor's row of the comparison table.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TableRow {
    pub flavor: String,
    /// Loops, k/s: per producer, or with `--rfc` the total over producers.
    pub loops_k: f64,
    pub loops_k_std: f64,
    /// With trials: the 95 % interval of the median (`loops_k` is then the median), shown
    /// instead of the within-run standard deviation.
    pub loops_k_ci: Option<(f64, f64)>,
    /// Charged (kmalloc size classes), as the kernel's memory.current.
    pub mem_avg_mib: f64,
    /// With trials: the 95 % interval of the median average memory.
    pub mem_avg_ci: Option<(f64, f64)>,
    pub mem_peak_mib: f64,
    /// The average in requested bytes, beside it.
    pub raw_avg_mib: f64,
    pub rss_peak_mib: f64,
    pub leaked: i64,
    pub status: Status,
    /// lookup_verify: incorrect lookups per million; a column appears when any row has it.
    pub incorrect_per_m: Option<f64>,
    /// With `--rfc`, where `loops_k` is the total over producers: the per-producer figure,
    /// in a column after it that appears when any row has it.
    pub per_producer_k: Option<f64>,
    /// Updates failed with ENOMEM per second (memory limit or injected failures); a column
    /// appears when any row has some.
    pub failed_per_s: Option<f64>,
    /// Flags on the measurement (`CellResult::notes`: busy machine, transient, memory
    /// limit); a column appears when any row has some.
    pub notes: Vec<String>,
}

const HEADER: [&str; 7] = [
    "flavor",
    "loop (k/s)",
    "average memory (MiB)",
    "peak memory (MiB)",
    "raw avg (MiB)",
    "peak RSS (MiB)",
    "leaked",
];

/// A markdown table shaped like the ones on the BPF mailing list, one row
/// per flavor, columns padded so it also reads well as plain text. A
/// non-"ok" status is appended to the flavor name; an "error" row has no
/// numbers ("-") because its measurements are meaningless.
pub fn comparison_table(rows: &[TableRow]) -> String {
    let oracle = rows.iter().any(|r| r.incorrect_per_m.is_some());
    let per_producer = rows.iter().any(|r| r.per_producer_k.is_some());
    let failed = rows.iter().any(|r| r.failed_per_s.is_some_and(|f| f > 0.0));
    let notes = rows.iter().any(|r| !r.notes.is_empty());
    let mut header: Vec<String> = HEADER.iter().map(|h| h.to_string()).collect();
    if per_producer {
        header.insert(2, "per producer (k/s)".into());
    }
    if failed {
        header.push("failed updates/s".into());
    }
    if oracle {
        header.push("incorrect lookups (per M)".into());
    }
    if notes {
        header.push("notes".into());
    }
    let ncols = header.len();
    let mut cells: Vec<Vec<String>> = vec![header];
    for r in rows {
        let flavor = if r.status == Status::Ok {
            r.flavor.clone()
        } else {
            format!("{} ({})", r.flavor, r.status)
        };
        let row = if !r.status.measured() && r.incorrect_per_m.is_none() {
            let mut v = vec![flavor];
            let none = if r.status == Status::NotApplicable {
                "n/a"
            } else {
                "-"
            };
            v.resize(ncols, none.to_string());
            v
        } else {
            let mut v = vec![
                flavor,
                match r.loops_k_ci {
                    Some((lo, hi)) => with_interval(r.loops_k, Some([lo, hi]), 1.0),
                    None => format!("{:.2} \u{00B1} {:.2}", r.loops_k, r.loops_k_std),
                },
                with_interval(r.mem_avg_mib, r.mem_avg_ci.map(|(lo, hi)| [lo, hi]), 1.0),
                format!("{:.2}", r.mem_peak_mib),
                format!("{:.2}", r.raw_avg_mib),
                format!("{:.2}", r.rss_peak_mib),
                r.leaked.to_string(),
            ];
            if per_producer {
                v.insert(
                    2,
                    r.per_producer_k.map_or("-".into(), |x| format!("{x:.2}")),
                );
            }
            if failed {
                v.push(r.failed_per_s.map_or("-".into(), |x| format!("{x:.2}")));
            }
            if oracle {
                v.push(r.incorrect_per_m.map_or("-".into(), |x| format!("{x:.2}")));
            }
            if notes {
                v.push(r.notes.join(", "));
            }
            v
        };
        cells.push(row);
    }
    // Widths in chars: '±' is one column but two bytes.
    let widths: Vec<usize> = (0..ncols)
        .map(|c| {
            cells
                .iter()
                .map(|r| r[c].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |row: &[String]| -> String {
        let padded: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(s, &w)| format!("{s:<w$}"))
            .collect();
        format!("| {} |\n", padded.join(" | "))
    };
    let mut out = line(&cells[0]);
    let sep: Vec<String> = widths.iter().map(|_| "--".to_string()).collect();
    out.push_str(&line(&sep));
    for row in &cells[1..] {
        out.push_str(&line(row));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cell_of_trials_shows_its_interval() {
        assert_eq!(with_interval(12.345, None, 1e3), "12.35");
        assert_eq!(
            with_interval(12.0, Some([11_000.0, 13_500.0]), 1e3),
            "12.00 [11.00, 13.50]"
        );
    }

    #[test]
    fn progress_line_exact() {
        // Drift is in microseconds: 123 ns late prints 0.123us.
        assert_eq!(
            progress_line(1, 1_000_000_123, 27.123, 2.5),
            "Iter   1 (  0.123us): per-prod-op   27.12k/s, memory usage    2.50MiB"
        );
        assert_eq!(
            progress_line(1, 1_000_123_000, 27.123, 2.5),
            "Iter   1 (123.000us): per-prod-op   27.12k/s, memory usage    2.50MiB"
        );
    }

    #[test]
    fn progress_line_negative_drift_and_wide_values() {
        assert_eq!(
            progress_line(12, 999_999_876, 1234.567, 0.0),
            "Iter  12 ( -0.124us): per-prod-op 1234.57k/s, memory usage    0.00MiB"
        );
        assert_eq!(
            progress_line(3, 999_876_500, 1.0, 0.0),
            "Iter   3 (-123.500us): per-prod-op    1.00k/s, memory usage    0.00MiB"
        );
        // Fields widen instead of truncating, as printf does.
        assert_eq!(
            progress_line(1234, 1_012_345_678, 123456.789, 98765.4321),
            "Iter 1234 (12345.678us): per-prod-op 123456.79k/s, memory usage 98765.43MiB"
        );
        assert_eq!(
            progress_line(0, 0, 0.0, -1.5),
            "Iter   0 (-1000000.000us): per-prod-op    0.00k/s, memory usage   -1.50MiB"
        );
    }

    #[test]
    fn c_float_format_matches_printf() {
        // Expected strings are what glibc printf("%7.3lf") / ("%7.2lf") print.
        assert_eq!(cf(-0.0004, 7, 3), " -0.000");
        assert_eq!(cf(-12.3456, 7, 3), "-12.346");
        assert_eq!(cf(0.125, 7, 2), "   0.12"); // exact binary tie: round-half-even
        assert_eq!(cf(0.375, 7, 2), "   0.38");
        assert_eq!(cf(2.675, 7, 2), "   2.67"); // 2.67499999... in binary
        assert_eq!(cf(f64::NAN, 7, 2), "    nan");
        assert_eq!(cf(-f64::NAN, 7, 2), "   -nan");
        assert_eq!(cf(f64::INFINITY, 7, 2), "    inf");
        assert_eq!(cf(f64::NEG_INFINITY, 7, 2), "   -inf");
    }

    #[test]
    fn summary_line_exact() {
        assert_eq!(
            summary_line(27.123, 0.314, 2.5, 0.0, 3.999),
            "Summary: per-prod-op   27.12 \u{00B1}    0.31k/s, memory usage    2.50 \u{00B1}    0.00MiB, peak memory usage    4.00MiB"
        );
    }

    #[test]
    fn table_exact() {
        let rows = [
            TableRow {
                flavor: "reuse-after-gp".into(),
                loops_k: 27.123,
                loops_k_std: 0.314,
                mem_avg_mib: 1.15,
                mem_peak_mib: 1.5,
                raw_avg_mib: 0.9,
                rss_peak_mib: 12.0,
                leaked: 0,
                status: Status::Ok,
                incorrect_per_m: None,
                per_producer_k: None,
                ..TableRow::default()
            },
            TableRow {
                flavor: "free-after-gp".into(),
                loops_k: 1023.1,
                loops_k_std: 16.9,
                mem_avg_mib: 123.456,
                mem_peak_mib: 200.0,
                raw_avg_mib: 92.5,
                rss_peak_mib: 250.25,
                leaked: 42,
                status: Status::Leak,
                incorrect_per_m: None,
                per_producer_k: None,
                ..TableRow::default()
            },
            TableRow {
                flavor: "broken".into(),
                status: Status::Error,
                ..TableRow::default()
            },
        ];
        let want = "\
| flavor               | loop (k/s)      | average memory (MiB) | peak memory (MiB) | raw avg (MiB) | peak RSS (MiB) | leaked |
| --                   | --              | --                   | --                | --            | --             | --     |
| reuse-after-gp       | 27.12 \u{00B1} 0.31    | 1.15                 | 1.50              | 0.90          | 12.00          | 0      |
| free-after-gp (leak) | 1023.10 \u{00B1} 16.90 | 123.46               | 200.00            | 92.50         | 250.25         | 42     |
| broken (error)       | -               | -                    | -                 | -             | -              | -      |
";
        assert_eq!(comparison_table(&rows), want);
    }

    #[test]
    fn rfc_rows_put_the_per_producer_figure_after_the_total() {
        let rows = [TableRow {
            flavor: "immediate-reuse".into(),
            loops_k: 27.12,
            per_producer_k: Some(3.39),
            status: Status::Ok,
            ..TableRow::default()
        }];
        let t = comparison_table(&rows);
        let header = t.lines().next().unwrap();
        assert!(
            header.starts_with("| flavor          | loop (k/s)   | per producer (k/s) |"),
            "{t}"
        );
        assert!(t.contains("| 27.12 \u{00B1} 0.00 | 3.39 "), "{t}");
        assert_eq!(
            rate_summary_line(RFC_LOOP, 27.123, 0.314, 2.5, 0.0, 3.999),
            summary_line(27.123, 0.314, 2.5, 0.0, 3.999).replace("per-prod-op", "loop")
        );
    }

    #[test]
    fn table_columns_align_in_chars() {
        let rows = [TableRow {
            flavor: "x".into(),
            loops_k: 1.0,
            status: Status::Ok,
            ..TableRow::default()
        }];
        let t = comparison_table(&rows);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 3);
        let w = lines[0].chars().count();
        assert!(lines.iter().all(|l| l.chars().count() == w), "{t}");
        // Pipes sit in the same columns on every line.
        let pipes = |l: &str| -> Vec<usize> {
            l.chars()
                .enumerate()
                .filter(|&(_, c)| c == '|')
                .map(|(i, _)| i)
                .collect()
        };
        assert!(lines.iter().all(|l| pipes(l) == pipes(lines[0])), "{t}");
    }

    #[test]
    fn failed_updates_get_a_column_only_when_some_failed() {
        let row = |f: Option<f64>| TableRow {
            flavor: "free-rcu".into(),
            status: Status::Ok,
            failed_per_s: f,
            ..TableRow::default()
        };
        let none = comparison_table(&[row(Some(0.0)), row(None)]);
        assert!(!none.contains("failed updates/s"), "{none}");
        let some = comparison_table(&[row(Some(1234.5)), row(None)]);
        assert!(
            some.lines()
                .next()
                .unwrap()
                .contains("| failed updates/s |"),
            "{some}"
        );
        assert!(some.contains("| 1234.50 "), "{some}");
    }

    #[test]
    fn notes_get_a_column_only_when_some_row_has_one() {
        let row = |n: &[&str]| TableRow {
            flavor: "reuse-after-gp".into(),
            notes: n.iter().map(|s| s.to_string()).collect(),
            ..TableRow::default()
        };
        assert!(!comparison_table(&[row(&[]), row(&[])]).contains("notes"));
        let t = comparison_table(&[row(&["busy 1/3", "transient 2/3"]), row(&[])]);
        assert!(
            t.lines()
                .next()
                .unwrap()
                .ends_with("| notes                   |"),
            "{t}"
        );
        assert!(t.contains("| busy 1/3, transient 2/3 |"), "{t}");
    }

    #[test]
    fn empty_table_has_header_only() {
        assert_eq!(
            comparison_table(&[]),
            "| flavor | loop (k/s) | average memory (MiB) | peak memory (MiB) | raw avg (MiB) | peak RSS (MiB) | leaked |\n\
             | --     | --         | --                   | --                | --            | --             | --     |\n"
        );
    }
}
