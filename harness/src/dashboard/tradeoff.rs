//! The page's first section, the answer the dashboard is for: per use case (no_op last),
//! loops/s against average and peak memory of the newest set, one point per flavor and
//! producer count.

use std::fmt::Write;

use super::html::escape;
use crate::plot::{tradeoff, Dataset};

/// One use case's trade-off figure, and what it holds (the page states it for tests).
pub struct Figure {
    pub use_case: String,
    pub file: String,
    pub title: String,
    pub svg: String,
    pub flavors: Vec<String>,
    pub producers: Vec<usize>,
    /// Points per panel: one per measured (flavor, producers) cell.
    pub points: usize,
}

/// A figure per use case of `order` that has measured cells.
pub fn render_all(ds: &Dataset, order: &[String]) -> Result<Vec<Figure>, String> {
    let mut out = Vec::new();
    for uc in order {
        let points = tradeoff::points(ds, uc);
        if points.is_empty() {
            continue;
        }
        let (title, svg) = tradeoff::render(ds, uc)?;
        out.push(Figure {
            use_case: uc.clone(),
            file: format!("tradeoff-{}.svg", crate::plot::data::file_part(uc)),
            title,
            svg,
            flavors: ds.flavors(uc),
            producers: ds.producers(uc),
            points: points.len(),
        });
    }
    Ok(out)
}

pub fn section(h: &mut String, set_name: &str, figures: &[Figure]) {
    let _ = write!(
        h,
        "<section id=\"tradeoff\"><h2>Loops/s against memory</h2>\n<p class=\"note\">Result \
set {}. Higher is faster, further left uses less memory: per use case, each flavor's \
loops/s per producer (± one standard deviation) against its average memory (left) and \
peak memory (right), as a memcg charges it. The number beside a point is its producer \
count; a thin line joins one flavor's points. An axis goes logarithmic when its values span \
more than a decade. no_op comes last: it measures only the harness.</p>\n",
        escape(set_name)
    );
    for f in figures {
        let producers: Vec<String> = f.producers.iter().map(usize::to_string).collect();
        let _ = writeln!(
            h,
            "<figure class=\"tradeoff\" data-use-case=\"{uc}\" data-points=\"{n}\" \
data-flavors=\"{fl}\" data-producers=\"{ps}\"><img src=\"{file}\" alt=\"{t}\" \
data-plot=\"{file}\"></figure>",
            uc = escape(&f.use_case),
            n = f.points,
            fl = escape(&f.flavors.join(",")),
            ps = producers.join(","),
            file = escape(&f.file),
            t = escape(&f.title),
        );
    }
    h.push_str("</section>\n");
}
