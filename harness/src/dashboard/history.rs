//! How each cell moved across result sets: per use case and producer count, loops/s per
//! producer and peak memory against the set, one line per flavor.

use std::collections::BTreeSet;

use super::sets::ResultSet;
use crate::plot::data::{file_part, measured};
use crate::plot::lines::{flavor_series, LoopsAndMemory};
use crate::plot::style::MIB;
use crate::result::CellResult;

/// (use case, producers) pairs measured in any set, in the latest set's plot order.
pub fn groups(sets: &[ResultSet], use_cases: &[String]) -> Vec<(String, usize)> {
    let mut out = Vec::new();
    for uc in use_cases {
        let ps: BTreeSet<usize> = sets
            .iter()
            .flat_map(|s| s.cells())
            .filter(|c| &c.use_case == uc && measured(c))
            .map(|c| c.producers)
            .collect();
        out.extend(ps.into_iter().map(|p| (uc.clone(), p)));
    }
    out
}

/// The cell of `set` for (uc, flavor, p), if measured.
pub fn cell<'a>(set: &'a ResultSet, uc: &str, flavor: &str, p: usize) -> Option<&'a CellResult> {
    set.cells()
        .find(|c| c.use_case == uc && c.flavor == flavor && c.producers == p && measured(c))
}

pub fn file_name(uc: &str, p: usize) -> String {
    format!("history-{}-p{p}.svg", file_part(uc))
}

pub fn render(
    sets: &[ResultSet],
    all_flavors: &[String],
    uc: &str,
    p: usize,
) -> Result<(String, String), String> {
    let title = format!("{uc}, {p} producers: across result sets");
    let flavors: Vec<String> = all_flavors
        .iter()
        .filter(|f| sets.iter().any(|s| cell(s, uc, f, p).is_some()))
        .cloned()
        .collect();
    let at = |f: &str, i: usize| cell(&sets[i], uc, f, p);
    let series_of = |value: &dyn Fn(&CellResult) -> f64| {
        flavor_series(&flavors, all_flavors, sets.len(), &at, value)
    };
    let loops = series_of(&|c| c.metrics.loops_per_sec_per_producer.value / 1e3);
    let mem = series_of(&|c| c.metrics.mem_peak.value / MIB);
    let labels: Vec<String> = (1..=sets.len()).map(|i| format!("#{i}")).collect();
    let svg = LoopsAndMemory {
        size: (1100, 420),
        title: &title,
        x_desc: "result set (oldest first, as in the table)",
        x_labels: &labels,
        loops_caption: "loops/s per producer",
        loops_desc: "k loops/s per producer",
        loops,
        mem_label: "peak memory",
        mem,
    }
    .render()?;
    Ok((title, svg))
}
