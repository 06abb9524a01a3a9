//! The native result file, one schema for every benchmark (htab-mem, map-perf-test,
//! kfree-rcu). Field names and shape are an interface: they key the dashboard history, so
//! change them only with a `SCHEMA_VERSION` bump. Version 1 files (htab-mem only, before
//! `benchmark` existed) are still read: their cells and config default to htab-mem.

use std::fs::{self, File};
use std::io::Write;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::host::HostInfo;
use crate::memory_model::MemoryModel;

/// 2: `benchmark` in the config and in every cell, and map-perf-test's and kfree-rcu's
/// cells and parameters.
pub const SCHEMA_VERSION: u32 = 2;

/// Which benchmark a file or cell holds; the first segment of a cell id.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[serde(rename_all = "kebab-case")]
pub enum Benchmark {
    /// bench htab-mem: use case x allocator flavor x producers, timed.
    #[default]
    HtabMem,
    /// samples/bpf map_perf_test: one cell per test (the use case) x flavor x workers.
    MapPerfTest,
    /// rcuscale's kfree test: one cell per mode (the flavor) x threads.
    KfreeRcu,
}

impl Benchmark {
    pub const ALL: [Benchmark; 3] = [
        Benchmark::HtabMem,
        Benchmark::MapPerfTest,
        Benchmark::KfreeRcu,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Benchmark::HtabMem => "htab-mem",
            Benchmark::MapPerfTest => "map-perf-test",
            Benchmark::KfreeRcu => "kfree-rcu",
        }
    }

    pub fn from_name(s: &str) -> Option<Benchmark> {
        Self::ALL.into_iter().find(|b| b.name() == s)
    }

    /// The unit of `loops_per_sec` in this benchmark's cells.
    pub fn rate_unit(self) -> &'static str {
        match self {
            Benchmark::HtabMem => "loops/s",
            Benchmark::MapPerfTest => "events/s",
            Benchmark::KfreeRcu => "objects/s",
        }
    }
}

impl std::fmt::Display for Benchmark {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Value of the `tool` field.
pub const TOOL: &str = concat!("htab-mem ", env!("CARGO_PKG_VERSION"));

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct ResultFile {
    pub schema_version: u32,
    pub tool: String,
    pub git_sha: String,
    pub timestamp: String,
    pub host: HostInfo,
    pub config: RunConfig,
    pub results: Vec<CellResult>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
pub struct RunConfig {
    /// Absent in version 1 files: htab-mem.
    #[serde(default)]
    pub benchmark: Benchmark,
    /// htab-mem's; 0 for the benchmarks that run to completion.
    pub warmup_s: u64,
    pub duration_s: u64,
    /// CPU list as given (`0-1`), or "none" when producers are not pinned.
    pub affinity: String,
    pub max_entries: u64,
    pub value_size: u64,
    /// Set by a single run; absent in a matrix file, whose cells vary in both.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub use_case: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub producers: Option<usize>,
    pub rcu_gp_delay_us: u64,
    pub ttrace_gp_delay_us: u64,
    /// false: tasks-trace callbacks were chained into RCU grace periods (--ttrace-chain).
    #[serde(default = "yes")]
    pub ttrace_implies_rcu: bool,
    /// `--rcu-readers`: "non-preemptible" or "preemptible" (files before it existed: "preemptible",
    /// the only model then).
    #[serde(default = "preemptible")]
    pub rcu_readers: String,
    /// `--deferred-work`: "inline" (files before it existed: the only model then), "signal",
    /// or the busy-wait time charged per raise ("1500ns").
    #[serde(default = "inline")]
    pub deferred_work: String,
    /// `--memalloc`: "current" or "v6.3" (files before it existed: "current", the only one
    /// then).
    #[serde(default = "current")]
    pub memalloc: String,
    /// map-perf-test's parameters; absent for the other benchmarks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub map_perf_test: Option<MapPerfParams>,
    /// kfree-rcu's parameters; absent for the other benchmarks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kfree_rcu: Option<KfreeParams>,
}

/// map_perf_test's positional arguments as the run used them (`max_entries` is in the
/// config: 0 = each map's own).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
pub struct MapPerfParams {
    /// Events per worker per test.
    pub iterations: u32,
}

/// rcuscale's kfree module parameters and the kvfree_rcu model's knobs.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
pub struct KfreeParams {
    pub alloc_num: usize,
    pub loops: usize,
    pub mult: usize,
    pub object_bytes: usize,
    pub drain_ms: u64,
    pub cached_blocks: usize,
    pub lazy_flush_us: u64,
    pub qhimark: u64,
}

fn yes() -> bool {
    true
}

fn preemptible() -> String {
    "preemptible".into()
}

fn inline() -> String {
    "inline".into()
}

fn current() -> String {
    "current".into()
}

/// How a cell ended; serialised as "ok", "leak" or "error".
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    #[default]
    Ok,
    /// Measured, but objects were never returned to the system.
    Leak,
    /// Nothing measured (the cell failed); its metrics are meaningless.
    Error,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Leak => "leak",
            Status::Error => "error",
        }
    }

    /// Whether the cell's metrics mean anything.
    pub fn measured(self) -> bool {
        self != Status::Error
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One (use case, allocator flavor, producer count) measurement.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct CellResult {
    pub id: String,
    /// Absent in version 1 files: htab-mem.
    #[serde(default)]
    pub benchmark: Benchmark,
    /// htab-mem's use case, map-perf-test's test (`hash_kmalloc`), kfree-rcu's `kfree`.
    pub use_case: String,
    /// The allocator flavor; kfree-rcu's mode (how objects are freed).
    pub flavor: String,
    pub producers: usize,
    /// Set only in cells of a sweep: the grace-period delays this cell ran with, instead of
    /// the file config's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pacing: Option<Pacing>,
    pub status: Status,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub samples: Vec<Sample>,
    pub metrics: Metrics,
    pub allocator: AllocCounters,
    /// Grace-period statistics of the RCU domains during the cell.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rcu: Vec<DomainReport>,
    /// Why the cell holds what it holds: Little's law for the deferred objects beside the
    /// measured average (absent in files written before it existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_model: Option<MemoryModel>,
    /// Set only in cells run with `--rfc` (the RFC-era loop of seed 001's tables); absent:
    /// the merged benchmark's loop of 64 operations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loop_shape: Option<LoopShapeInfo>,
    /// kfree-rcu's cells: rcuscale's own figures and kvfree_rcu's counters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kfree_rcu: Option<crate::bench::kfree_rcu::KfreeCell>,
}

/// A cell's loop when it is not the merged benchmark's. Its `loops_per_sec` is then the
/// headline figure (the RFC printed the total over producers); `loops_per_sec_per_producer`
/// is that divided by the producers, as always.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct LoopShapeInfo {
    /// "rfc".
    pub mode: String,
    /// Keys live in the map, split round robin over the producers.
    pub live_keys: u32,
    /// Keys one producer's loop walks (the remainder of live / producers walk one fewer).
    pub keys_per_loop: u32,
}

impl LoopShapeInfo {
    /// None for the merged shape, which files before this field existed all have.
    pub fn of(shape: workloads::LoopShape, producers: usize) -> Option<LoopShapeInfo> {
        match shape {
            workloads::LoopShape::Merged => None,
            workloads::LoopShape::Rfc { live } => Some(LoopShapeInfo {
                mode: "rfc".into(),
                live_keys: live,
                keys_per_loop: shape.keys_per_loop(producers),
            }),
        }
    }

    /// `rfc-live8192`: the cell id segment, so RFC cells never pair with merged ones.
    pub fn id_part(&self) -> String {
        format!("{}-live{}", self.mode, self.live_keys)
    }
}

/// The grace-period pacing of one sweep cell, in microseconds (as `--rcu-gp-delay` and
/// `--ttrace-gp-delay`).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Pacing {
    pub rcu_gp_delay_us: u64,
    pub ttrace_gp_delay_us: u64,
}

impl Pacing {
    /// `rcu100us-tt1ms`: the cell id segment.
    pub fn id_part(&self) -> String {
        format!(
            "rcu{}-tt{}",
            crate::cli::format_delay_us(self.rcu_gp_delay_us),
            crate::cli::format_delay_us(self.ttrace_gp_delay_us)
        )
    }

    /// `100us/1ms`: RCU / tasks-trace, for tables and axes.
    pub fn label(&self) -> String {
        format!(
            "{}/{}",
            crate::cli::format_delay_us(self.rcu_gp_delay_us),
            crate::cli::format_delay_us(self.ttrace_gp_delay_us)
        )
    }
}

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

impl CellResult {
    /// A cell that produced no measurement, with the reason.
    pub fn error(
        benchmark: Benchmark,
        use_case: &str,
        flavor: &str,
        producers: usize,
        msg: String,
    ) -> CellResult {
        CellResult {
            id: paced_cell_id(benchmark, use_case, flavor, producers, None),
            benchmark,
            use_case: use_case.to_string(),
            flavor: flavor.to_string(),
            producers,
            pacing: None,
            status: Status::Error,
            error: Some(msg),
            samples: Vec::new(),
            metrics: Default::default(),
            allocator: Default::default(),
            rcu: Vec::new(),
            memory_model: None,
            loop_shape: None,
            kfree_rcu: None,
        }
    }
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
}

impl Metrics {
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

/// Checks, before anything runs, that an output file can be written where `flag` says: its
/// directory exists and it is not a directory itself.
pub fn check_output_path(flag: &str, path: &Path) -> Result<(), String> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    if !dir.is_dir() {
        return Err(format!(
            "{flag} {}: directory {} does not exist",
            path.display(),
            dir.display()
        ));
    }
    if path.is_dir() {
        return Err(format!("{flag} {}: is a directory", path.display()));
    }
    Ok(())
}

/// `htab-mem/{use_case}/{flavor}/p{producers}`: an htab-mem cell's id.
pub fn cell_id(use_case: &str, flavor: &str, producers: usize) -> String {
    paced_cell_id(Benchmark::HtabMem, use_case, flavor, producers, None)
}

/// `{benchmark}/{use_case}/{flavor}/p{producers}`, with `/{pacing}` appended for a cell of a
/// sweep.
pub fn paced_cell_id(
    benchmark: Benchmark,
    use_case: &str,
    flavor: &str,
    producers: usize,
    pacing: Option<&Pacing>,
) -> String {
    let id = format!("{benchmark}/{use_case}/{flavor}/p{producers}");
    match pacing {
        Some(p) => format!("{id}/{}", p.id_part()),
        None => id,
    }
}

impl CellResult {
    /// The id this cell's fields call for.
    pub fn expected_id(&self) -> String {
        self.id_for(&self.flavor)
    }

    /// The id of the cell with these fields but `flavor`'s.
    pub fn id_for(&self, flavor: &str) -> String {
        let id = paced_cell_id(
            self.benchmark,
            &self.use_case,
            flavor,
            self.producers,
            self.pacing.as_ref(),
        );
        match &self.loop_shape {
            Some(s) => format!("{id}/{}", s.id_part()),
            None => id,
        }
    }
}

/// Writes `file` as pretty JSON with [`write_bytes_atomic`].
pub fn write_atomic(path: &Path, file: &ResultFile) -> Result<(), String> {
    let mut json = serde_json::to_vec_pretty(file)
        .map_err(|e| format!("{}: cannot serialise results: {e}", path.display()))?;
    json.push(b'\n');
    write_bytes_atomic(path, &json, "results")
}

/// Writes `bytes` via a temp file in the same directory, fsynced and renamed over `path`, so
/// readers see the old file or the new one, never a half-written one. Errors name the file
/// and, when given, `what` was being written ("cannot write results: ...").
pub fn write_bytes_atomic(path: &Path, bytes: &[u8], what: &str) -> Result<(), String> {
    let name = path
        .file_name()
        .ok_or_else(|| format!("{}: not a file path", path.display()))?
        .to_string_lossy();
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let tmp = dir.join(format!(".{name}.tmp.{}", std::process::id()));
    let write = || -> std::io::Result<()> {
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    };
    if let Err(e) = write() {
        let _ = fs::remove_file(&tmp);
        let what = if what.is_empty() {
            String::new()
        } else {
            format!(" {what}")
        };
        return Err(format!("{}: cannot write{what}: {e}", path.display()));
    }
    // Persist the rename itself; best effort, not every filesystem allows it.
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Reads and validates a result file; every error names the file.
pub fn read_result_file(path: &Path) -> Result<ResultFile, String> {
    let p = path.display();
    let text = fs::read_to_string(path).map_err(|e| format!("{p}: cannot read: {e}"))?;
    if text.trim().is_empty() {
        return Err(format!("{p}: file is empty"));
    }
    let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
        if e.is_eof() {
            format!("{p}: truncated JSON (ends at line {}): {e}", e.line())
        } else {
            format!("{p}: not JSON: {e}")
        }
    })?;
    // Check the version before the shape, so a newer file gets the useful message.
    let version = value
        .get("schema_version")
        .and_then(serde_json::Value::as_u64)
        .ok_or_else(|| {
            format!("{p}: not an htab-mem result file (no numeric \"schema_version\")")
        })?;
    // Version 1 differs only by lacking `benchmark`, which defaults to htab-mem.
    if version > u64::from(SCHEMA_VERSION) {
        return Err(format!(
            "{p}: schema_version {version} is newer than this tool supports ({SCHEMA_VERSION}); \
             use a newer htab-mem"
        ));
    }
    if version == 0 {
        return Err(format!("{p}: invalid schema_version 0"));
    }
    serde_json::from_value(value)
        .map_err(|e| format!("{p}: not an htab-mem result file (schema {version}): {e}"))
}

/// Current UTC time as RFC 3339 `YYYY-MM-DDTHH:MM:SSZ`.
pub fn utc_timestamp() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    format_utc(secs)
}

/// Formats seconds since the Unix epoch as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn format_utc(secs: u64) -> String {
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Howard Hinnant's days-to-civil (proleptic Gregorian), for days >= 0.
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468; // shift epoch to 0000-03-01
    let era = z / 146_097;
    let doe = z - era * 146_097; // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365], from March 1
    let mp = (5 * doy + 2) / 153; // [0, 11], March = 0
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d)
}

/// Commit being measured: `$GITHUB_SHA` (first 12 chars) if set, else
/// `git rev-parse --short=12 HEAD` in the current directory, else "unknown".
pub fn git_sha() -> String {
    git_sha_from(std::env::var("GITHUB_SHA").ok())
}

fn git_sha_from(env_sha: Option<String>) -> String {
    if let Some(s) = env_sha.map(|s| s.trim().to_string()) {
        if !s.is_empty() {
            return s.chars().take(12).collect();
        }
    }
    std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .stderr(std::process::Stdio::null())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_file() -> ResultFile {
        ResultFile {
            schema_version: SCHEMA_VERSION,
            tool: TOOL.to_string(),
            git_sha: "0123456789ab".into(),
            timestamp: format_utc(1_700_000_000),
            host: HostInfo {
                cpu_model: "Test CPU".into(),
                nr_cpus: 2,
                kernel: "6.8.0".into(),
                mem_total_bytes: 0,
            },
            config: RunConfig {
                benchmark: Benchmark::HtabMem,
                warmup_s: 1,
                duration_s: 5,
                affinity: "0-1".into(),
                max_entries: 8192,
                value_size: 8,
                use_case: Some("overwrite".into()),
                producers: Some(16),
                rcu_gp_delay_us: 1000,
                ttrace_gp_delay_us: 10000,
                ttrace_implies_rcu: true,
                rcu_readers: "non-preemptible".into(),
                deferred_work: "inline".into(),
                memalloc: "current".into(),
                map_perf_test: None,
                kfree_rcu: None,
            },
            results: vec![CellResult {
                id: cell_id("overwrite", "reuse-after-gp", 16),
                benchmark: Benchmark::HtabMem,
                use_case: "overwrite".into(),
                flavor: "reuse-after-gp".into(),
                producers: 16,
                pacing: None,
                status: Status::Ok,
                error: None,
                samples: vec![Sample {
                    t_ns: 1_000_000_000,
                    loops: 16370,
                    mem_bytes: 25_176_309,
                    rss_bytes: 30_000_000,
                    charged_bytes: None,
                }],
                metrics: Metrics {
                    loops_per_sec: Metric::new(16370.0, Some(270.0), "loops/s"),
                    loops_per_sec_per_producer: Metric::new(1023.1, Some(16.9), "loops/s"),
                    mem_avg: Metric::new(25_176_309.0, Some(1_200_000.0), "bytes"),
                    mem_peak: Metric::new(33_302_118.0, None, "bytes"),
                    rss_peak: Metric::new(40_000_000.0, None, "bytes"),
                    mem_avg_charged: None,
                    mem_peak_charged: None,
                    incorrect_lookups_per_million: None,
                },
                allocator: AllocCounters::default(),
                rcu: Vec::new(),
                memory_model: None,
                loop_shape: None,
                kfree_rcu: None,
            }],
        }
    }

    #[test]
    fn rfc_cells_record_their_loop_and_get_their_own_ids() {
        let mut c = sample_file().results.remove(0);
        let merged = serde_json::to_value(&c).unwrap();
        assert!(
            merged.get("loop_shape").is_none(),
            "merged cells keep the old shape"
        );
        c.loop_shape = LoopShapeInfo::of(workloads::LoopShape::Rfc { live: 8192 }, 16);
        assert_eq!(
            c.expected_id(),
            "htab-mem/overwrite/reuse-after-gp/p16/rfc-live8192"
        );
        assert_eq!(
            c.id_for("prealloc"),
            "htab-mem/overwrite/prealloc/p16/rfc-live8192"
        );
        let v = serde_json::to_value(&c).unwrap();
        assert_eq!(v["loop_shape"]["mode"], "rfc");
        assert_eq!(v["loop_shape"]["live_keys"], 8192);
        assert_eq!(v["loop_shape"]["keys_per_loop"], 512);
        let back: CellResult = serde_json::from_value(v).unwrap();
        assert_eq!(back, c);
        // A file written before the field existed still loads, as a merged-shape cell.
        let old: CellResult = serde_json::from_value(merged).unwrap();
        assert_eq!(old.loop_shape, None);
    }

    #[test]
    fn cell_id_format() {
        assert_eq!(
            cell_id("overwrite", "reuse-after-gp", 16),
            "htab-mem/overwrite/reuse-after-gp/p16"
        );
    }

    #[test]
    fn paced_ids_extend_plain_ones() {
        let p = Pacing {
            rcu_gp_delay_us: 100,
            ttrace_gp_delay_us: 1000,
        };
        assert_eq!(
            paced_cell_id(Benchmark::HtabMem, "overwrite", "prealloc", 2, Some(&p)),
            "htab-mem/overwrite/prealloc/p2/rcu100us-tt1ms"
        );
        assert_eq!(
            paced_cell_id(Benchmark::HtabMem, "overwrite", "prealloc", 2, None),
            cell_id("overwrite", "prealloc", 2)
        );
        assert_eq!(p.label(), "100us/1ms");
    }

    #[test]
    fn json_shape_is_fixed() {
        let v = serde_json::to_value(sample_file()).unwrap();
        let keys = |v: &serde_json::Value| -> Vec<String> {
            v.as_object().unwrap().keys().cloned().collect()
        };
        let mut top = keys(&v);
        top.sort();
        assert_eq!(
            top,
            [
                "config",
                "git_sha",
                "host",
                "results",
                "schema_version",
                "timestamp",
                "tool"
            ]
        );
        assert_eq!(v["schema_version"], 2);
        assert_eq!(v["config"]["benchmark"], "htab-mem");
        assert_eq!(v["results"][0]["benchmark"], "htab-mem");
        assert_eq!(v["tool"], "htab-mem 0.1.0");
        assert_eq!(v["timestamp"], "2023-11-14T22:13:20Z");
        assert_eq!(v["config"]["affinity"], "0-1");
        assert_eq!(v["config"]["ttrace_gp_delay_us"], 10000);
        let cell = &v["results"][0];
        assert_eq!(cell["id"], "htab-mem/overwrite/reuse-after-gp/p16");
        // `error: None` and `stddev: None` are omitted, not null.
        assert!(cell.get("error").is_none());
        assert!(cell["metrics"]["mem_peak"].get("stddev").is_none());
        assert_eq!(cell["metrics"]["loops_per_sec"]["stddev"], 270.0);
        assert_eq!(cell["metrics"]["loops_per_sec"]["unit"], "loops/s");
        assert_eq!(cell["samples"][0]["mem_bytes"], 25_176_309);
        assert_eq!(
            cell["allocator"],
            serde_json::json!({"from_system": 0, "to_system": 0, "leaked": 0,
                               "cached": 0, "waiting_gp": 0})
        );
    }

    #[test]
    fn error_field_serialised_when_present() {
        let mut f = sample_file();
        f.results[0].status = Status::Error;
        f.results[0].error = Some("boom".into());
        let v = serde_json::to_value(&f).unwrap();
        assert_eq!(v["results"][0]["error"], "boom");
    }

    #[test]
    fn reads_the_documented_example() {
        // The example from the schema docs: integer metric values, no cached/waiting_gp.
        let text = r#"{"schema_version": 1, "tool": "htab-mem 0.1.0", "git_sha": "...", "timestamp": "2026-11-23T12:00:00Z",
 "host": {"cpu_model": "...", "nr_cpus": 2, "kernel": "...", "mem_total_bytes": 0},
 "config": {"warmup_s": 1, "duration_s": 5, "affinity": "0-1", "max_entries": 8192, "value_size": 8, "use_case": "overwrite", "producers": 16, "rcu_gp_delay_us": 1000, "ttrace_gp_delay_us": 10000},
 "results": [{"id": "htab-mem/overwrite/reuse-after-gp/p16", "use_case": "overwrite",
   "flavor": "reuse-after-gp", "producers": 16, "status": "ok",
   "samples": [{"t_ns": 1000000000, "loops": 16370, "mem_bytes": 25176309, "rss_bytes": 30000000}],
   "metrics": {"loops_per_sec": {"value": 16370.0, "stddev": 270.0, "unit": "loops/s"},
     "loops_per_sec_per_producer": {"value": 1023.1, "stddev": 16.9, "unit": "loops/s"},
     "mem_avg": {"value": 25176309, "stddev": 1200000, "unit": "bytes"},
     "mem_peak": {"value": 33302118, "unit": "bytes"}, "rss_peak": {"value": 40000000, "unit": "bytes"}},
   "allocator": {"from_system": 0, "to_system": 0, "leaked": 0}}]}"#;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("example.json");
        fs::write(&path, text).unwrap();
        // A version 1 file: htab-mem's, though it does not say so.
        let mut want = sample_file();
        want.schema_version = 1;
        want.git_sha = "...".into();
        want.timestamp = "2026-11-23T12:00:00Z".into();
        want.host.cpu_model = "...".into();
        want.host.kernel = "...".into();
        // Written before --rcu-readers: the only model then.
        want.config.rcu_readers = "preemptible".into();
        // And before --memalloc: today's generation, the only one then.
        assert_eq!(want.config.memalloc, "current");
        assert_eq!(read_result_file(&path).unwrap(), want);
    }

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

    #[test]
    fn atomic_write_round_trips_and_leaves_no_tmp() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.json");
        fs::write(&path, "old contents").unwrap();
        let f = sample_file();
        write_atomic(&path, &f).unwrap();
        assert_eq!(read_result_file(&path).unwrap(), f);
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names, ["out.json"]);
        let text = fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("{\n  \"schema_version\": 2,"), "{text}");
        assert!(text.ends_with("}\n"));
    }

    #[test]
    fn atomic_write_failure_is_reported_and_cleaned_up() {
        let dir = tempfile::tempdir().unwrap();
        // Renaming a file over a non-empty directory fails.
        let target = dir.path().join("taken");
        fs::create_dir(&target).unwrap();
        fs::write(target.join("x"), "").unwrap();
        let e = write_atomic(&target, &sample_file()).unwrap_err();
        assert!(e.contains("taken") && e.contains("cannot write"), "{e}");
        let mut names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["taken"]);

        let e = write_atomic(&dir.path().join("no/such/dir/out.json"), &sample_file()).unwrap_err();
        assert!(e.contains("out.json"), "{e}");
    }

    fn read_err(tag: &str, contents: &str) -> (String, String) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(format!("{tag}.json"));
        fs::write(&path, contents).unwrap();
        (
            read_result_file(&path).unwrap_err(),
            path.display().to_string(),
        )
    }

    #[test]
    fn read_missing_file() {
        let e = read_result_file(Path::new("/nonexistent/htab-mem.json")).unwrap_err();
        assert!(
            e.starts_with("/nonexistent/htab-mem.json: cannot read:"),
            "{e}"
        );
    }

    #[test]
    fn read_empty_file() {
        for (tag, s) in [("empty", ""), ("blank", " \n\t\n")] {
            let (e, p) = read_err(tag, s);
            assert_eq!(e, format!("{p}: file is empty"));
        }
    }

    #[test]
    fn read_truncated_file() {
        let full = serde_json::to_string_pretty(&sample_file()).unwrap();
        let (e, p) = read_err("truncated", &full[..full.len() / 2]);
        assert!(e.starts_with(&format!("{p}: truncated JSON")), "{e}");
    }

    #[test]
    fn read_not_json() {
        let (e, p) = read_err("notjson", "Iter   1 (  0.123us): per-prod-op");
        assert!(e.starts_with(&format!("{p}: not JSON:")), "{e}");
    }

    #[test]
    fn read_not_our_schema() {
        for (tag, s) in [
            ("array", "[1, 2]"),
            ("other", r#"{"benchmarks": []}"#),
            ("strver", r#"{"schema_version": "1"}"#),
        ] {
            let (e, p) = read_err(tag, s);
            assert_eq!(
                e,
                format!("{p}: not an htab-mem result file (no numeric \"schema_version\")")
            );
        }
        // Right version, wrong shape.
        let (e, p) = read_err("shape", r#"{"schema_version": 1, "tool": "x"}"#);
        assert!(
            e.starts_with(&format!("{p}: not an htab-mem result file (schema 1):")),
            "{e}"
        );
        let (e, p) = read_err("zero", r#"{"schema_version": 0}"#);
        assert_eq!(e, format!("{p}: invalid schema_version 0"));
    }

    #[test]
    fn read_newer_schema() {
        let (e, p) = read_err("newer", r#"{"schema_version": 3, "whatever": true}"#);
        assert_eq!(
            e,
            format!(
                "{p}: schema_version 3 is newer than this tool supports (2); use a newer htab-mem"
            )
        );
    }

    #[test]
    fn utc_formatting() {
        assert_eq!(format_utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_utc(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(format_utc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(format_utc(951_868_799), "2000-02-29T23:59:59Z");
        assert_eq!(format_utc(4_107_542_400), "2100-03-01T00:00:00Z");
        assert_eq!(format_utc(1_735_689_599), "2024-12-31T23:59:59Z");
    }

    #[test]
    fn utc_timestamp_shape() {
        let t = utc_timestamp();
        assert_eq!(t.len(), 20, "{t}");
        assert!(t.ends_with('Z') && &t[10..11] == "T", "{t}");
        assert!(t.as_str() >= "2024-01-01T00:00:00Z", "{t}");
    }

    #[test]
    fn git_sha_sources() {
        assert_eq!(
            git_sha_from(Some("0123456789abcdef0123456789abcdef01234567".into())),
            "0123456789ab"
        );
        // Empty env falls through to git, which gives a short hash or "unknown".
        let s = git_sha_from(Some("  ".into()));
        assert!(
            s == "unknown" || (s.len() >= 12 && s.bytes().all(|b| b.is_ascii_hexdigit())),
            "{s}"
        );
    }
}
