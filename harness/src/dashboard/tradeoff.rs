//! The page's first section, the answer the dashboard is for: per group (page order), the
//! rate against average and peak memory of the newest set, one point per flavor and
//! producer count.

use std::fmt::Write;

use super::html::{benchmark_attr, escape};
use crate::plot::{tradeoff, Dataset, Group};

/// One group's trade-off figure, and what it holds (the page states it for tests).
pub struct Figure {
    pub group: Group,
    pub file: String,
    pub title: String,
    pub svg: String,
    pub flavors: Vec<String>,
    pub producers: Vec<usize>,
    /// Points per panel: one per measured (flavor, producers) cell.
    pub points: usize,
}

/// A figure per group of `order` that has measured cells.
pub fn render_all(ds: &Dataset, order: &[Group]) -> Result<Vec<Figure>, String> {
    let mut out = Vec::new();
    for g in order {
        let points = tradeoff::points(ds, g);
        if points.is_empty() {
            continue;
        }
        let (title, svg) = tradeoff::render(ds, g)?;
        out.push(Figure {
            group: g.clone(),
            file: format!("tradeoff-{}.svg", g.file_part()),
            title,
            svg,
            flavors: ds.flavors(g),
            producers: ds.producers(g),
            points: points.len(),
        });
    }
    Ok(out)
}

/// The section's heading: htab-mem's wording when its groups are all there is.
pub fn heading(figures: &[Figure]) -> &'static str {
    if figures.iter().all(|f| f.group.is_htab_mem()) {
        "Loops/s against memory"
    } else {
        "Throughput against memory"
    }
}

pub fn section(h: &mut String, set_name: &str, figures: &[Figure]) {
    let _ = write!(
        h,
        "<section id=\"tradeoff\"><h2>{}</h2>\n<p class=\"note\">Result \
set {}. Higher is faster, further left uses less memory: per use case, each flavor's \
loops/s per producer (± one standard deviation) against its average memory (left) and \
peak memory (right), as a memcg charges it. The number beside a point is its producer \
count; a thin line joins one flavor's points. An axis goes logarithmic when its values span \
more than a decade. no_op comes last: it measures only the harness.</p>\n",
        heading(figures),
        escape(set_name)
    );
    if heading(figures) != "Loops/s against memory" {
        h.push_str(
            "<p class=\"note\">map-perf-test's and kfree-rcu's figures follow htab-mem's, in \
their own units: events/s per worker (map_perf_test's tests), objects/s per thread \
(rcuscale's kfree modes as the flavors).</p>\n",
        );
    }
    for f in figures {
        let producers: Vec<String> = f.producers.iter().map(usize::to_string).collect();
        let _ = writeln!(
            h,
            "<figure class=\"tradeoff\" data-use-case=\"{uc}\"{b} data-points=\"{n}\" \
data-flavors=\"{fl}\" data-producers=\"{ps}\"><img src=\"{file}\" alt=\"{t}\" \
data-plot=\"{file}\"></figure>",
            uc = escape(&f.group.use_case),
            b = benchmark_attr(&f.group),
            n = f.points,
            fl = escape(&f.flavors.join(",")),
            ps = producers.join(","),
            file = escape(&f.file),
            t = escape(&f.title),
        );
    }
    h.push_str("</section>\n");
}
