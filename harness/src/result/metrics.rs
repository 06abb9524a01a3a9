//! What a cell measured: its samples, headline metrics, allocator counters and RCU domains.

use serde::{Deserialize, Serialize};

/// What one RCU domain did during a cell.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct DomainReport {
    pub domain: String,
    pub grace_periods: u64,
    pub gp_avg_ns: u64,
    pub gp_max_ns: u64,
    pub callbacks_invoked: u64,
    pub callbacks_pending: u64,
    #[serde(default)]
    pub gp_p50_ns: u64,
    #[serde(default)]
    pub gp_p99_ns: u64,
    /// Callback latency (call to invocation) over a sample of callbacks.
    #[serde(default)]
    pub cb_latency_samples: u64,
    #[serde(default)]
    pub cb_latency_p50_ns: u64,
    #[serde(default)]
    pub cb_latency_p99_ns: u64,
    #[serde(default)]
    pub cb_latency_max_ns: u64,
    #[serde(default)]
    pub urgent_requests: u64,
    /// The sampled callbacks' mean latency and where it went (see rcu::DomainStats): waiting
    /// for the grace period that completed them to start, that grace period, and from its end
    /// to the invocation.
    #[serde(default)]
    pub cb_latency_mean_ns: u64,
    #[serde(default)]
    pub cb_wait_gp_start_mean_ns: u64,
    #[serde(default)]
    pub cb_in_gp_mean_ns: u64,
    #[serde(default)]
    pub cb_wait_invoke_mean_ns: u64,
    /// Lazy-callback flushes by cause (threshold, timer, other); absent when none.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub lazy_flushes_full: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub lazy_flushes_timer: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub lazy_flushes_other: u64,
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

impl DomainReport {
    pub fn new(domain: &str, st: &rcu::DomainStats) -> DomainReport {
        DomainReport {
            domain: domain.to_string(),
            grace_periods: st.grace_periods,
            gp_avg_ns: st.gp_ns_total.checked_div(st.grace_periods).unwrap_or(0),
            gp_max_ns: st.gp_ns_max,
            callbacks_invoked: st.callbacks_invoked,
            callbacks_pending: st.callbacks_pending,
            gp_p50_ns: st.gp_p50_ns,
            gp_p99_ns: st.gp_p99_ns,
            cb_latency_samples: st.cb_latency_samples,
            cb_latency_p50_ns: st.cb_latency_p50_ns,
            cb_latency_p99_ns: st.cb_latency_p99_ns,
            cb_latency_max_ns: st.cb_latency_max_ns,
            urgent_requests: st.urgent_requests,
            cb_latency_mean_ns: st.cb_latency_mean_ns,
            cb_wait_gp_start_mean_ns: st.cb_wait_gp_start_mean_ns,
            cb_in_gp_mean_ns: st.cb_in_gp_mean_ns,
            cb_wait_invoke_mean_ns: st.cb_wait_invoke_mean_ns,
            lazy_flushes_full: st.lazy_flushes_full,
            lazy_flushes_timer: st.lazy_flushes_timer,
            lazy_flushes_other: st.lazy_flushes_other,
        }
    }
}

/// What the memory limit and the failure injection did in a cell (docs/memory-limit.md).
/// The status stays "ok" when the limit was hit: the cell measured what the kernel does
/// under a memcg limit (updates fail with ENOMEM, the benchmark goes on), and `compare` and
/// the dashboard treat every other status as a failure.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct MemLimitCell {
    /// The memcg limit the cell ran under; absent: none (`--mem-limit max`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit_bytes: Option<u64>,
    /// The memcg counter's highest value: the objects charged (and the threads' stocks).
    pub charged_peak_bytes: u64,
    /// Whether a charge was refused at the limit.
    pub hit_mem_limit: bool,
    /// Charges refused at the limit (`memory.failcnt`).
    pub refused: u64,
    /// Allocations `--fail-alloc` failed.
    pub injected: u64,
    /// htab-mem: updates that failed with ENOMEM over the measured seconds, in all and per
    /// second (mean and stddev of the per-second figures, as loops/s).
    #[serde(default)]
    pub failed_updates: u64,
    #[serde(default)]
    pub failed_updates_per_sec: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_updates_per_sec_stddev: Option<f64>,
}

/// One per-second sample.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sample {
    /// Time since the measured phase started.
    pub t_ns: u64,
    /// Loops completed in this interval, all producers together.
    pub loops: u64,
    /// Live heap bytes (`memory::live_bytes`), may dip below the baseline.
    pub mem_bytes: i64,
    pub rss_bytes: u64,
    /// The same heap as a memcg charges it (`memory::charged_bytes`); absent in older files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub charged_bytes: Option<i64>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct Metric {
    pub value: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stddev: Option<f64>,
    pub unit: String,
}

impl Metric {
    pub fn new(value: f64, stddev: Option<f64>, unit: &str) -> Self {
        Metric {
            value,
            stddev,
            unit: unit.to_string(),
        }
    }
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct Metrics {
    pub loops_per_sec: Metric,
    pub loops_per_sec_per_producer: Metric,
    /// Raw heap bytes (requested sizes), as every file has them.
    pub mem_avg: Metric,
    pub mem_peak: Metric,
    pub rss_peak: Metric,
    /// The heap as a memcg charges it (each allocation at its kmalloc size class): the
    /// figure the kernel's memory.current reports, and the one shown. Absent in files
    /// written before it existed; `mem_avg_shown`/`mem_peak_shown` fall back to raw.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mem_avg_charged: Option<Metric>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mem_peak_charged: Option<Metric>,
    /// lookup_verify only: lookups that returned a recycled or inconsistent element, per
    /// million lookups that found one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incorrect_lookups_per_million: Option<Metric>,
    /// htab-mem: loops per second of each producer's own CPU time (its thread CPU clock over
    /// the measured window), mean and stddev over the producers: what the wall-clock rate
    /// would be with a CPU to itself, so steal and other load barely move it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loops_per_cpu_sec_per_producer: Option<Metric>,
    /// htab-mem: the 95th percentile of the 100 Hz charged-memory samples of the measured
    /// window, beside the peak: one long grace period lifts the peak, not the p95.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mem_p95_charged: Option<Metric>,
}

impl Metrics {
    /// A run-to-completion cell's figures (map-perf-test, kfree-rcu): its rates in `unit`,
    /// the heap's average and peak as `(raw, charged)` bytes, and the process's peak RSS;
    /// none of htab-mem's extras.
    pub fn completed(
        total: Metric,
        per_producer: Metric,
        avg: (i64, i64),
        peak: (i64, i64),
        rss_peak: u64,
    ) -> Metrics {
        let bytes = |v: i64| Metric::new(v as f64, None, "bytes");
        Metrics {
            loops_per_sec: total,
            loops_per_sec_per_producer: per_producer,
            mem_avg: bytes(avg.0),
            mem_peak: bytes(peak.0),
            rss_peak: Metric::new(rss_peak as f64, None, "bytes"),
            mem_avg_charged: Some(bytes(avg.1)),
            mem_peak_charged: Some(bytes(peak.1)),
            incorrect_lookups_per_million: None,
            loops_per_cpu_sec_per_producer: None,
            mem_p95_charged: None,
        }
    }

    /// The average memory to report: charged, or raw for a file without it.
    pub fn mem_avg_shown(&self) -> &Metric {
        self.mem_avg_charged.as_ref().unwrap_or(&self.mem_avg)
    }

    /// The peak memory to report: charged, or raw for a file without it.
    pub fn mem_peak_shown(&self) -> &Metric {
        self.mem_peak_charged.as_ref().unwrap_or(&self.mem_peak)
    }
}

/// Object-allocator counters at the end of a cell.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AllocCounters {
    pub from_system: u64,
    pub to_system: u64,
    pub leaked: i64,
    // Defaulted so files written before these existed still load.
    #[serde(default)]
    pub cached: u64,
    #[serde(default)]
    pub waiting_gp: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::result::tests::sample_file;
    use crate::result::ResultFile;

    #[test]
    fn charged_memory_round_trips_and_old_files_show_raw() {
        let old = sample_file();
        let m = &old.results[0].metrics;
        // A file from before charging: the shown figures are the raw ones.
        assert_eq!(m.mem_avg_shown(), &m.mem_avg);
        assert_eq!(m.mem_peak_shown(), &m.mem_peak);
        let v = serde_json::to_value(&old).unwrap();
        assert!(v["results"][0]["metrics"].get("mem_avg_charged").is_none());
        assert!(v["results"][0]["samples"][0].get("charged_bytes").is_none());

        let mut new = sample_file();
        let c = &mut new.results[0];
        c.samples[0].charged_bytes = Some(33_568_412);
        c.metrics.mem_avg_charged = Some(Metric::new(33_568_412.0, Some(1.6e6), "bytes"));
        c.metrics.mem_peak_charged = Some(Metric::new(44_402_824.0, None, "bytes"));
        let v = serde_json::to_value(&new).unwrap();
        let cell = &v["results"][0];
        assert_eq!(cell["metrics"]["mem_peak_charged"]["value"], 44_402_824.0);
        assert_eq!(cell["samples"][0]["charged_bytes"], 33_568_412);
        let back: ResultFile = serde_json::from_value(v).unwrap();
        assert_eq!(back, new);
        let m = &back.results[0].metrics;
        assert_eq!(m.mem_avg_shown().value, 33_568_412.0);
        assert_eq!(m.mem_peak_shown().value, 44_402_824.0);
    }
}
