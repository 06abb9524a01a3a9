//! "What changed": the newest result set judged against the one before it by
//! `htab-mem compare`'s own logic and default thresholds, so the page and the command agree.
//! Regressions first, then every judged row by how far it moved.

use std::fmt::Write;

use super::html::escape;
use super::sets::ResultSet;
use crate::compare::{self, Comparison, Options, Row};
use crate::flavor_shift;
use crate::matrix_file;
use crate::plot::Group;
use crate::result::{Benchmark, CellResult};

pub struct Changes {
    pub base: String,
    pub new: String,
    pub options: Options,
    pub comparison: Comparison,
    /// What makes the ratios mix in more than the build: config or host differences.
    pub warnings: Vec<String>,
    /// The newest set's cells, to place each row's use case.
    cells: Vec<CellResult>,
}

/// The newest set judged against the baseline measured in the same run when it has one
/// (what the perf pipeline's gate judged), else against the set before; `None` when there
/// is neither.
pub fn between(sets: &[ResultSet]) -> Option<Changes> {
    let new = sets.last()?;
    let base: &ResultSet = match &new.same_run_baseline {
        Some(b) => b,
        None => sets.len().checked_sub(2).map(|i| &sets[i])?,
    };
    let b: Vec<CellResult> = base.cells().cloned().collect();
    let n: Vec<CellResult> = new.cells().cloned().collect();
    let options = Options::default();
    let comparison = compare::compare(&b, &n, &options);
    let mut warnings = Vec::new();
    // Configs compare benchmark by benchmark: a set's files of different benchmarks differ
    // by nature.
    for bench in Benchmark::ALL {
        let (Some(bf), Some(nf)) = (base.file_of(bench), new.file_of(bench)) else {
            continue;
        };
        let diff = matrix_file::config_differences(&bf.config, &nf.config);
        if diff.is_empty() {
            continue;
        }
        let which = match bench {
            Benchmark::HtabMem => "sets".to_string(),
            _ => format!("sets' {bench} files"),
        };
        warnings.push(format!(
            "the {which} differ in config ({}): the ratios mix that in",
            diff.join(", ")
        ));
    }
    if base.head().host != new.head().host {
        warnings.push(format!(
            "the sets are from different hosts ({} vs {})",
            base.head().host.cpu_model,
            new.head().host.cpu_model
        ));
    }
    Some(Changes {
        base: base.name.clone(),
        new: new.name.clone(),
        options,
        comparison,
        warnings,
        cells: n,
    })
}

/// How far a row moved: |ln ratio|, infinite for a row without one (an error, a leak).
fn distance(r: &Row) -> f64 {
    r.ratio.map_or(f64::INFINITY, |x| x.ln().abs())
}

impl Changes {
    /// The place of a row's group (benchmark and use case, found by the row's id, which
    /// names the benchmark) in the page's order; unknown ones last.
    fn rank(&self, r: &Row, order: &[Group]) -> usize {
        self.cells
            .iter()
            .find(|c| c.id == r.id)
            .and_then(|c| order.iter().position(|g| g.holds(c)))
            .unwrap_or(order.len())
    }

    /// Rows sorted by group (page order), then the furthest moved first.
    fn sorted<'a>(&self, rows: impl Iterator<Item = &'a Row>, order: &[Group]) -> Vec<&'a Row> {
        let mut v: Vec<&Row> = rows.collect();
        v.sort_by(|a, b| {
            self.rank(a, order)
                .cmp(&self.rank(b, order))
                .then(distance(b).total_cmp(&distance(a)))
        });
        v
    }

    pub fn section(&self, h: &mut String, order: &[Group]) {
        let c = &self.comparison;
        let o = &self.options;
        let cells = c.regressions();
        let flavors = c.flavor_regressions();
        let n = cells + flavors;
        let _ = write!(
            h,
            "<section id=\"changes\" data-regressions=\"{n}\"><h2>What changed since {base}</h2>\n\
<p class=\"note\">{new} against {base}, judged as <code>htab-mem compare</code> judges: {} \
cells matched, <b>{cells} cell regression{}</b> (loops/s ratio below {}, or memory ratio above \
{} and {} MiB more, intervals apart; {}) and <b>{flavors} flavor regression{} across \
its cells</b> (loops/s or memory).</p>\n",
            c.cells_matched(),
            if cells == 1 { "" } else { "s" },
            o.max_slowdown,
            o.max_mem_growth,
            o.mem_floor_mib,
            o.normalisation(),
            if flavors == 1 { "" } else { "s" },
            base = escape(&self.base),
            new = escape(&self.new),
        );
        for w in &self.warnings {
            let _ = writeln!(h, "<p class=\"note warn\">Note: {}.</p>", escape(w));
        }
        self.flavor_table(h);
        let regressions = self.sorted(c.rows.iter().filter(|r| r.regression), order);
        if regressions.is_empty() {
            h.push_str("<p>No cell regressions.</p>\n");
        } else {
            table(h, "regressions", &regressions);
        }
        let judged = self.sorted(
            c.rows
                .iter()
                .filter(|r| !r.regression && r.verdict != "reference"),
            order,
        );
        let _ = writeln!(
            h,
            "<details><summary>The other {} judged rows, per use case, furthest moved \
first</summary>",
            judged.len()
        );
        table(h, "judged", &judged);
        h.push_str("</details>\n");
        for (side, ids) in [("base", &c.only_base), ("new", &c.only_new)] {
            if !ids.is_empty() {
                let _ = writeln!(
                    h,
                    "<p class=\"note\">Only in the {side} set ({}): {}</p>",
                    ids.len(),
                    escape(&ids.join(", "))
                );
            }
        }
        let _ = writeln!(
            h,
            "<p class=\"note\">{}</p>\n</section>",
            escape(&c.spread_lines().join("; "))
        );
    }

    /// Each flavor across its cells: a uniform shift that no single cell shows beyond its
    /// noise (`flavor_shift`).
    fn flavor_table(&self, h: &mut String) {
        let shifts = &self.comparison.flavors;
        if shifts.is_empty() {
            return;
        }
        let _ = writeln!(
            h,
            "<table class=\"changes flavors\"><caption>Per flavor across its cells: a \
regression when the median normalised ratio is below {} for loops/s or above {} for memory \
and a sign test gives p &lt; {}</caption><tr><th>flavor</th><th>measure</th><th>cells</th>\
<th>worse</th><th>better</th><th>median ratio</th><th>sign test p</th><th>verdict</th></tr>",
            self.options.max_flavor_slowdown,
            self.options.max_flavor_mem_growth,
            flavor_shift::MAX_P
        );
        for s in shifts {
            let name = s.name();
            let _ = writeln!(
                h,
                "<tr data-flavor=\"{name}\" data-measure=\"{m}\"><td>{name}</td><td>{m}</td>\
<td class=\"num\">{}</td>\
<td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{:.3}</td>\
<td class=\"num\">{:.4}</td><td{}>{}</td></tr>",
                s.cells,
                s.worse,
                s.better,
                s.median_ratio,
                s.p_value,
                if s.regression { " class=\"bad\"" } else { "" },
                s.verdict,
                name = escape(&name),
                m = s.measure.label(),
            );
        }
        h.push_str("</table>\n");
    }
}

fn table(h: &mut String, class: &str, rows: &[&Row]) {
    let _ = writeln!(
        h,
        "<table class=\"changes {class}\"><tr><th>cell</th><th>metric</th><th>base</th>\
<th>new</th><th>raw ratio</th><th>ratio</th><th>verdict</th></tr>"
    );
    for r in rows {
        let _ = writeln!(
            h,
            "<tr data-id=\"{id}\" data-metric=\"{m}\"><td>{id}</td><td>{m}</td>\
<td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
<td class=\"num\">{}</td><td{}>{}</td></tr>",
            compare::fmt_value(r.metric, r.base),
            compare::fmt_value(r.metric, r.new),
            compare::fmt_ratio(r.raw_ratio),
            compare::fmt_ratio(r.ratio),
            if r.regression { " class=\"bad\"" } else { "" },
            escape(&r.verdict),
            id = escape(&r.id),
            m = r.metric,
        );
    }
    h.push_str("</table>\n");
}
