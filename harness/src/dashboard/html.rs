//! The static page: the answer first (rate against memory, what changed), then the latest
//! set's tables and plots, then the history across sets; a section per group (a benchmark's
//! use case), each in its benchmark's rate unit. Inline CSS, plots as <img> of SVG
//! files beside the page, nothing fetched from the network.

use std::fmt::Write;

use super::changes::Changes;
use super::history;
use super::sets::ResultSet;
use super::tradeoff::{self, Figure};
use crate::plot::style::MIB;
use crate::plot::{Dataset, Group, Kind, Plot};
use crate::result::{CellResult, Metric, ResultFile, Status};

/// Marks pages this tool wrote, so a re-render may tidy the folder's old SVGs.
pub const GENERATOR: &str = "htab-mem dashboard";

const CSS: &str = "
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:0;color:#1d2329;background:#f6f7f9}
header{background:#1d2a3a;color:#fff;padding:18px 28px}
header h1{margin:0 0 6px;font-size:24px}
header p{margin:2px 0;color:#c9d3de;font-size:14px}
main{padding:8px 28px 40px;max-width:1200px}
h2{margin-top:34px;border-bottom:2px solid #d5dae0;padding-bottom:4px}
h3{margin:24px 0 8px}
nav a{margin-right:14px}
table{border-collapse:collapse;background:#fff;margin:8px 0 14px;font-size:14px}
th,td{border:1px solid #d5dae0;padding:4px 10px}
th{background:#eef1f4;text-align:left}
td.num{text-align:right;font-variant-numeric:tabular-nums;font-family:ui-monospace,Menlo,Consolas,monospace}
td.bad{color:#b00020;font-weight:600}
figure{margin:10px 0 22px;background:#fff;border:1px solid #d5dae0;padding:6px;display:inline-block;max-width:100%;box-sizing:border-box}
figure img{max-width:100%;height:auto;display:block}
.note{color:#56606b;font-size:14px;max-width:900px}
.warn{color:#8a5300}
figure.tradeoff{display:block;width:fit-content}
details{margin:8px 0 14px}
summary{cursor:pointer;color:#1d4f91}
";

pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// "Intel Xeon, 2 CPUs, Linux 6.18, 24.0 GiB".
pub fn machine(f: &ResultFile) -> String {
    let h = &f.host;
    let mut s = format!(
        "{}, {} CPU{}, kernel {}",
        h.cpu_model,
        h.nr_cpus,
        if h.nr_cpus == 1 { "" } else { "s" },
        h.kernel
    );
    if h.mem_total_bytes > 0 {
        let _ = write!(
            s,
            ", {:.1} GiB RAM",
            h.mem_total_bytes as f64 / MIB / 1024.0
        );
    }
    s
}

/// A number cell: the shown text and, for checking, the exact value from the file.
fn num(metric: &str, m: &Metric, scale: f64, with_sd: bool) -> String {
    num_ci(metric, m, scale, with_sd, None)
}

/// A number cell: the value, then its 95 % interval across trials when the cell has one
/// ("[lo, hi]"), else (`with_sd`) ± the within-run standard deviation.
fn num_ci(metric: &str, m: &Metric, scale: f64, with_sd: bool, ci: Option<[f64; 2]>) -> String {
    let mut text = crate::report::with_interval(m.value / scale, ci, scale);
    if let (None, Some(sd), true) = (ci, m.stddev, with_sd) {
        let _ = write!(text, " ± {:.2}", sd / scale);
    }
    format!(
        "<td class=\"num\" data-metric=\"{metric}\" data-value=\"{}\">{text}</td>",
        m.value
    )
}

fn figure(p: &Plot) -> String {
    format!(
        "<figure><img src=\"{f}\" alt=\"{t}\" data-plot=\"{f}\"></figure>\n",
        f = escape(&p.file),
        t = escape(&p.title)
    )
}

/// ` data-benchmark="map-perf-test"` on a group's elements; none for htab-mem (as in a
/// result file, no benchmark means htab-mem), so htab-mem's markup stays as it was.
pub fn benchmark_attr(g: &Group) -> String {
    if g.is_htab_mem() {
        String::new()
    } else {
        format!(" data-benchmark=\"{}\"", escape(g.benchmark.name()))
    }
}

/// The anchor of a group's section: `uc-overwrite`, `uc-map-perf-test-hash_kmalloc`.
pub fn anchor(g: &Group) -> String {
    format!("uc-{}", escape(&g.file_part()))
}

/// Whether any group is not htab-mem's: the page then explains the other units.
fn mixed(order: &[Group]) -> bool {
    order.iter().any(|g| !g.is_htab_mem())
}

fn cell_row(c: &CellResult) -> String {
    let m = &c.metrics;
    let mut row = format!(
        "<tr data-id=\"{}\"><td>{}</td>",
        escape(&c.id),
        escape(&c.flavor)
    );
    if c.status == Status::Error {
        let _ = write!(
            row,
            "<td colspan=\"8\" class=\"bad\">{}</td><td class=\"bad\">error</td></tr>",
            escape(c.error.as_deref().unwrap_or("failed"))
        );
        return row;
    }
    let ci = c.trials.ci95.as_ref();
    row.push_str(&num_ci(
        "loops_per_sec_per_producer",
        &m.loops_per_sec_per_producer,
        1e3,
        true,
        ci.map(|i| i.loops_per_sec_per_producer),
    ));
    row.push_str(&num_ci(
        "loops_per_sec",
        &m.loops_per_sec,
        1e3,
        false,
        ci.map(|i| i.loops_per_sec),
    ));
    // Memory as the CLI's table and the trade-off figure show it: charged (kmalloc size
    // classes, as memory.current) when the cell has it, the requested bytes otherwise.
    row.push_str(&num_ci(
        "mem_avg",
        m.mem_avg_shown(),
        MIB,
        false,
        ci.map(|i| i.mem_avg),
    ));
    row.push_str(&num("mem_peak", m.mem_peak_shown(), MIB, false));
    row.push_str(&num("rss_peak", &m.rss_peak, MIB, false));
    let leaked = c.allocator.leaked;
    let _ = write!(
        row,
        "<td class=\"num{}\" data-metric=\"leaked\" data-value=\"{leaked}\">{leaked}</td>",
        if leaked != 0 { " bad" } else { "" }
    );
    match &c.mem_limit {
        Some(l) => {
            let f = l.failed_updates_per_sec;
            let _ = write!(
                row,
                "<td class=\"num{}\" data-metric=\"failed_updates_per_sec\" \
data-value=\"{f}\">{f:.2}</td>",
                if f > 0.0 { " bad" } else { "" }
            );
        }
        None => row.push_str("<td class=\"num\">-</td>"),
    }
    let _ = write!(
        row,
        "<td class=\"note\">{}</td>",
        escape(&c.notes().join(", "))
    );
    let _ = write!(
        row,
        "<td{}>{}</td></tr>",
        if c.status == Status::Ok {
            ""
        } else {
            " class=\"bad\""
        },
        escape(c.status.as_str())
    );
    row
}

const HEAD_ROW: &str = "<tr><th>flavor</th><th>loop (k/s) per producer</th>\
<th>loops/s, all producers (k/s)</th><th>average memory (MiB)</th><th>peak memory (MiB)</th>\
<th>peak RSS (MiB)</th><th>leaked</th><th>failed updates/s</th><th>notes</th><th>status</th></tr>";

/// A group's table header: htab-mem's as it always was, another benchmark's in its unit.
fn head_row(g: &Group) -> String {
    if g.is_htab_mem() {
        return HEAD_ROW.to_string();
    }
    let (rate, worker) = (g.rate(), g.worker());
    format!(
        "<tr><th>{flavor}</th><th>k {rate} per {worker}</th><th>k {rate}, all {worker}s</th>\
<th>average memory (MiB)</th><th>peak memory (MiB)</th><th>peak RSS (MiB)</th>\
<th>leaked</th><th>failed updates/s</th><th>notes</th><th>status</th></tr>",
        flavor = g.flavor_word()
    )
}

pub struct Page<'a> {
    pub sets: &'a [ResultSet],
    pub latest: &'a Dataset,
    /// Groups in page order (htab-mem's, no_op last among them, then the others).
    pub order: &'a [Group],
    pub tradeoff: &'a [Figure],
    /// The newest set against the one before; `None` with one set.
    pub changes: Option<&'a Changes>,
    pub plots: &'a [Plot],
    /// (group, producers, file, title) of the history plots.
    pub history: &'a [(Group, usize, String, String)],
}

impl Page<'_> {
    pub fn render(&self) -> String {
        let set = self.sets.last().expect("at least one set");
        let head = set.head();
        let c = &head.config;
        let mut h = String::new();
        let _ = write!(
            h,
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"generator\" content=\"{GENERATOR}\">\
<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
<title>htab-mem dashboard: {name}</title><style>{CSS}</style></head><body>\n\
<header><h1>htab-mem: allocator flavors compared</h1>\
<p>Latest result set <b id=\"latest-set\">{name}</b>, {ts}, commit {sha}</p>\
<p id=\"machine\">{machine}</p>\
<p>{warm} s warm-up, {dur} s measured, value size {vs} B, max entries {me}, \
RCU GP pacing {rgp} µs, tasks-trace GP pacing {tgp} µs, producers pinned to {aff}</p></header>\n<main>\n",
            name = escape(&set.name),
            ts = escape(&set.timestamp),
            sha = escape(&head.git_sha),
            machine = escape(&machine(head)),
            warm = c.warmup_s,
            dur = c.duration_s,
            vs = c.value_size,
            me = c.max_entries,
            rgp = c.rcu_gp_delay_us,
            tgp = c.ttrace_gp_delay_us,
            aff = escape(&c.affinity),
        );
        let _ = write!(
            h,
            "<nav><a href=\"#tradeoff\">{}</a><a href=\"#changes\">what changed</a>",
            tradeoff::heading(self.tradeoff).to_lowercase()
        );
        for g in self.order {
            let _ = write!(h, "<a href=\"#{}\">{}</a>", anchor(g), escape(&g.label()));
        }
        h.push_str("<a href=\"#history\">history</a></nav>\n");
        tradeoff::section(&mut h, &set.name, self.tradeoff);
        match self.changes {
            Some(c) => c.section(&mut h, self.order),
            None => h.push_str(
                "<section id=\"changes\"><h2>What changed</h2><p class=\"note\">Only one \
result set: nothing to compare with.</p></section>\n",
            ),
        }
        h.push_str("<h2 id=\"tables\">The latest set in detail</h2>\n");
        h.push_str(
            "<p class=\"note\">A loop is one BPF program run of 64 map operations; \"loop (k/s) \
per producer\" is the kernel's per-prod-op. A cell measured in several trials shows the \
median across trials and its 95 % interval [low, high]; a cell of one trial shows ± one \
standard deviation of its per-second figures. Memory is the live heap as a memcg charges it \
(the analog of the cgroup's memory.current): average of the per-second samples and peak of \
100 Hz samples. Failed updates are those refused with ENOMEM (memory limit or injected \
failures). Notes: <i>busy</i>, the machine was busy during the cell (steal, other processes, \
load); <i>transient</i>, its figures drifted over the measured window; with trials, how many \
trials each hit; <i>mem limit</i>, a charge was refused at the memory limit.</p>\n",
        );
        if mixed(self.order) {
            h.push_str(
                "<p class=\"note\">map-perf-test's sections (after htab-mem's) count events/s \
per worker, one row per map flavor of a map_perf_test test; kfree-rcu's count objects/s per \
thread, one row per kfree mode. They run to completion, so they have no per-second samples \
and no memory-over-time plot.</p>\n",
            );
        }
        for g in self.order {
            self.group(&mut h, g);
        }
        self.history(&mut h);
        let _ = writeln!(
            h,
            "</main><footer class=\"note\" style=\"padding:0 28px 20px\">Generated by {} \
from {} result set{}.</footer></body></html>",
            escape(crate::result::TOOL),
            self.sets.len(),
            if self.sets.len() == 1 { "" } else { "s" }
        );
        h
    }

    fn group(&self, h: &mut String, g: &Group) {
        let ds = self.latest;
        let b = benchmark_attr(g);
        let _ = writeln!(
            h,
            "<section id=\"{}\"{b}><h2>{}</h2>",
            anchor(g),
            escape(&g.label())
        );
        let mut ps: Vec<usize> = ds
            .cells
            .iter()
            .filter(|c| g.holds(c))
            .map(|c| c.producers)
            .collect();
        ps.sort_unstable();
        ps.dedup();
        for p in ps {
            let _ = write!(
                h,
                "<h3>{} with {}</h3>\n<table class=\"results\" data-use-case=\"{}\"{b} \
data-producers=\"{p}\">{}\n",
                escape(&g.label()),
                g.workers(p),
                escape(&g.use_case),
                head_row(g)
            );
            for f in &ds.flavors {
                if let Some(c) = ds
                    .cells
                    .iter()
                    .find(|c| g.holds(c) && &c.flavor == f && c.producers == p)
                {
                    h.push_str(&cell_row(c));
                    h.push('\n');
                }
            }
            h.push_str("</table>\n");
        }
        for kind in [Kind::Bars, Kind::Scaling, Kind::Memory] {
            for p in self
                .plots
                .iter()
                .filter(|p| p.group == *g && p.kind == kind)
            {
                h.push_str(&figure(p));
            }
        }
        h.push_str("</section>\n");
    }

    fn history(&self, h: &mut String) {
        h.push_str("<section id=\"history\"><h2>History across result sets</h2>\n");
        h.push_str(
            "<table class=\"sets\"><tr><th>#</th><th>result set</th><th>time</th>\
<th>commit</th><th>machine</th><th>cells</th></tr>\n",
        );
        for (i, s) in self.sets.iter().enumerate() {
            let _ = writeln!(
                h,
                "<tr><td class=\"num\">#{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
<td class=\"num\">{}</td></tr>",
                i + 1,
                escape(&s.name),
                escape(&s.timestamp),
                escape(&s.head().git_sha),
                escape(&machine(s.head())),
                s.cells().count()
            );
        }
        h.push_str(
            "</table>\n<p class=\"note\">Each entry: loop (k/s) per producer / peak \
memory (MiB). Compare sets from the same machine only.</p>\n",
        );
        if mixed(self.order) {
            h.push_str(
                "<p class=\"note\">In map-perf-test's and kfree-rcu's tables the first figure \
is k events/s per worker or k objects/s per thread.</p>\n",
            );
        }
        for (g, p, file, title) in self.history {
            let b = benchmark_attr(g);
            let _ = write!(
                h,
                "<h3>{} with {}</h3>\n<table class=\"history\" data-use-case=\"{}\"{b} \
data-producers=\"{p}\"><tr><th>flavor</th>",
                escape(&g.label()),
                g.workers(*p),
                escape(&g.use_case)
            );
            for i in 0..self.sets.len() {
                let _ = write!(h, "<th>#{}</th>", i + 1);
            }
            h.push_str("</tr>\n");
            for f in &self.latest_and_past_flavors() {
                if !self
                    .sets
                    .iter()
                    .any(|s| history::cell(s, g, f, *p).is_some())
                {
                    continue;
                }
                let _ = write!(h, "<tr><td>{}</td>", escape(f));
                for s in self.sets {
                    match history::cell(s, g, f, *p) {
                        Some(c) => {
                            let _ = write!(
                                h,
                                "<td class=\"num\">{:.2} / {:.2}</td>",
                                c.metrics.loops_per_sec_per_producer.value / 1e3,
                                c.metrics.mem_peak.value / MIB
                            );
                        }
                        None => h.push_str("<td class=\"num\">–</td>"),
                    }
                }
                h.push_str("</tr>\n");
            }
            h.push_str("</table>\n");
            let _ = writeln!(
                h,
                "<figure><img src=\"{f}\" alt=\"{t}\" data-plot=\"{f}\"></figure>",
                f = escape(file),
                t = escape(title)
            );
        }
        h.push_str("</section>\n");
    }

    fn latest_and_past_flavors(&self) -> Vec<String> {
        let mut v = self.latest.flavors.clone();
        for s in self.sets {
            for c in s.cells() {
                if !v.contains(&c.flavor) {
                    v.push(c.flavor.clone());
                }
            }
        }
        v
    }
}
