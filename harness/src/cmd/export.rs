//! `htab-mem export`: a native result file in dashboard formats.
//!
//! Names, measure keys and units are an interface (dashboards key their history on them):
//! never change them. Cells with status "error" have no meaningful numbers and are left
//! out of bmf, gab-bigger and gab-smaller; csv and markdown show them.

use std::io::Write;
use std::path::PathBuf;

use serde_json::{json, Map, Value};

use crate::error::{Error, OrBadInput, OrFailed, Result};
use crate::matrix_file;
use crate::result::{write_bytes_atomic, CellResult, ResultFile, Status};
use crate::text_table;

use crate::units::MIB;

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Bencher Metric Format: {"<cell id>": {"loops_per_sec": {...}, "mem_peak": ..., "mem_avg": ...}}.
    Bmf,
    /// github-action-benchmark customBiggerIsBetter: loops/s per cell.
    GabBigger,
    /// github-action-benchmark customSmallerIsBetter: peak and average memory per cell.
    GabSmaller,
    /// One row per cell, with a header.
    Csv,
    /// Per use case and producer count, a table with one row per flavor.
    Markdown,
}

#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// Native result file.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,

    #[arg(long = "format", value_enum, value_name = "FORMAT")]
    pub format: Format,

    /// Write here (atomically) instead of stdout.
    #[arg(long = "out", value_name = "FILE")]
    pub out: Option<PathBuf>,
}

pub fn run(a: Args) -> Result {
    if let Some(out) = &a.out {
        let dir = match out.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => std::path::Path::new("."),
        };
        if !dir.is_dir() {
            return Err(Error::BadInput(format!(
                "--out {}: directory {} does not exist",
                out.display(),
                dir.display()
            )));
        }
    }
    let file = matrix_file::load(&a.file).or_bad_input()?;
    let text = render(&file, a.format);
    let written = match &a.out {
        Some(out) => write_bytes_atomic(out, text.as_bytes(), ""),
        None => std::io::stdout()
            .lock()
            .write_all(text.as_bytes())
            .map_err(|e| format!("stdout: {e}")),
    };
    written.or_failed()
}

/// The export as text, newline-terminated.
pub fn render(f: &ResultFile, format: Format) -> String {
    match format {
        Format::Bmf => json_text(&bmf(f)),
        Format::GabBigger => json_text(&gab_bigger(f)),
        Format::GabSmaller => json_text(&gab_smaller(f)),
        Format::Csv => csv(f),
        Format::Markdown => markdown(f),
    }
}

fn json_text(v: &Value) -> String {
    let mut s = serde_json::to_string_pretty(v).expect("serialising JSON");
    s.push('\n');
    s
}

fn measured(f: &ResultFile) -> impl Iterator<Item = &CellResult> {
    f.results.iter().filter(|c| c.status.measured())
}

/// Bencher: value with lower/upper = mean -/+ stddev where the metric has a stddev.
fn bmf(f: &ResultFile) -> Value {
    let mut top = Map::new();
    for c in measured(f) {
        let m = &c.metrics;
        let with_range = |v: f64, s: Option<f64>| match s {
            Some(s) => json!({"value": v, "lower_value": v - s, "upper_value": v + s}),
            None => json!({"value": v}),
        };
        top.insert(
            c.id.clone(),
            json!({
                "loops_per_sec": with_range(m.loops_per_sec.value, m.loops_per_sec.stddev),
                "mem_peak": with_range(m.mem_peak.value, m.mem_peak.stddev),
                "mem_avg": with_range(m.mem_avg.value, m.mem_avg.stddev),
            }),
        );
    }
    Value::Object(top)
}

/// Two decimals, without trailing zeros: a stable, readable range string.
fn short(x: f64) -> String {
    let r = (x * 100.0).round() / 100.0;
    format!("{r}")
}

fn gab_entry(name: String, value: f64, stddev: Option<f64>, unit: &str) -> Value {
    let mut e = json!({"name": name, "unit": unit, "value": value});
    if let Some(s) = stddev {
        e["range"] = Value::String(format!("\u{00B1} {}", short(s)));
    }
    e
}

fn gab_bigger(f: &ResultFile) -> Value {
    Value::Array(
        measured(f)
            .map(|c| {
                let m = &c.metrics.loops_per_sec;
                gab_entry(
                    format!("{} loops_per_sec", c.id),
                    m.value,
                    m.stddev,
                    "loops/s",
                )
            })
            .collect(),
    )
}

fn gab_smaller(f: &ResultFile) -> Value {
    let mut v = Vec::new();
    for c in measured(f) {
        let m = &c.metrics;
        v.push(gab_entry(
            format!("{} mem_peak", c.id),
            m.mem_peak.value,
            m.mem_peak.stddev,
            "bytes",
        ));
        v.push(gab_entry(
            format!("{} mem_avg", c.id),
            m.mem_avg.value,
            m.mem_avg.stddev,
            "bytes",
        ));
    }
    Value::Array(v)
}

pub const CSV_HEADER: &str = "id,use_case,flavor,producers,status,loops_per_sec,\
loops_per_sec_stddev,loops_per_sec_per_producer,loops_per_sec_per_producer_stddev,\
mem_avg_bytes,mem_avg_stddev_bytes,mem_peak_bytes,rss_peak_bytes,leaked";

/// RFC 4180 quoting where needed (names are plain today; this keeps any future one safe).
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn csv(f: &ResultFile) -> String {
    let mut out = String::from(CSV_HEADER);
    out.push('\n');
    for c in &f.results {
        let m = &c.metrics;
        let opt = |x: Option<f64>| x.map_or(String::new(), |v| v.to_string());
        let (nums, leaked): (Vec<String>, String) = if !c.status.measured() {
            (vec![String::new(); 8], String::new())
        } else {
            (
                vec![
                    m.loops_per_sec.value.to_string(),
                    opt(m.loops_per_sec.stddev),
                    m.loops_per_sec_per_producer.value.to_string(),
                    opt(m.loops_per_sec_per_producer.stddev),
                    m.mem_avg.value.to_string(),
                    opt(m.mem_avg.stddev),
                    m.mem_peak.value.to_string(),
                    m.rss_peak.value.to_string(),
                ],
                c.allocator.leaked.to_string(),
            )
        };
        let mut row = vec![
            csv_field(&c.id),
            csv_field(&c.use_case),
            csv_field(&c.flavor),
            c.producers.to_string(),
            csv_field(c.status.as_str()),
        ];
        row.extend(nums);
        row.push(leaked);
        out.push_str(&row.join(","));
        out.push('\n');
    }
    out
}

pub const MARKDOWN_HEADER: [&str; 4] = [
    "name",
    "loop (k/s)",
    "average memory (MiB)",
    "peak memory (MiB)",
];

/// Tables in the shape of the mailing-list ones (seed 001): loop is per producer, as the
/// kernel's per-prod-op. One table per (use case, producer count, and pacing for the cells
/// of a sweep), rows in flavor order.
fn markdown(f: &ResultFile) -> String {
    let mut cells: Vec<CellResult> = f.results.clone();
    matrix_file::sort_cells(&mut cells);
    let mut out = String::new();
    let mut i = 0;
    while i < cells.len() {
        let (uc, p, pacing) = (
            cells[i].use_case.clone(),
            cells[i].producers,
            cells[i].pacing,
        );
        let mut rows = Vec::new();
        while i < cells.len()
            && cells[i].use_case == uc
            && cells[i].producers == p
            && cells[i].pacing == pacing
        {
            let c = &cells[i];
            let m = &c.metrics;
            rows.push(if !c.status.measured() {
                vec![
                    format!("{} ({})", c.flavor, c.status),
                    "-".into(),
                    "-".into(),
                    "-".into(),
                ]
            } else {
                let name = if c.status == Status::Ok {
                    c.flavor.clone()
                } else {
                    format!("{} ({})", c.flavor, c.status)
                };
                vec![
                    name,
                    format!("{:.2}", m.loops_per_sec_per_producer.value / 1000.0),
                    format!("{:.2}", m.mem_avg.value / MIB),
                    format!("{:.2}", m.mem_peak.value / MIB),
                ]
            });
            i += 1;
        }
        if !out.is_empty() {
            out.push('\n');
        }
        let plural = if p == 1 { "" } else { "s" };
        let paced = pacing.map_or(String::new(), |g| format!(", pacing {}", g.label()));
        out.push_str(&format!(
            "{uc}, {p} producer{plural}{paced} ({}s warm-up, {}s measured):\n",
            f.config.warmup_s, f.config.duration_s
        ));
        out.push_str(&text_table::render(&MARKDOWN_HEADER, &rows));
    }
    out
}
