//! How each cell moved across result sets: per group and producer count, the rate per
//! producer and peak memory against the set, one line per flavor.

use std::collections::BTreeSet;

use super::sets::ResultSet;
use crate::plot::data::{measured, Group};
use crate::plot::lines::{flavor_series, LoopsAndMemory};
use crate::plot::style::MIB;
use crate::result::CellResult;

/// (group, producers) pairs measured in any set, in the latest set's plot order.
pub fn groups(sets: &[ResultSet], order: &[Group]) -> Vec<(Group, usize)> {
    let mut out = Vec::new();
    for g in order {
        let ps: BTreeSet<usize> = sets
            .iter()
            .flat_map(|s| s.cells())
            .filter(|c| g.holds(c) && measured(c))
            .map(|c| c.producers)
            .collect();
        out.extend(ps.into_iter().map(|p| (g.clone(), p)));
    }
    out
}

/// The cell of `set` for (g, flavor, p), if measured.
pub fn cell<'a>(set: &'a ResultSet, g: &Group, flavor: &str, p: usize) -> Option<&'a CellResult> {
    set.cells()
        .find(|c| g.holds(c) && c.flavor == flavor && c.producers == p && measured(c))
}

/// `history-overwrite-p4.svg`, `history-kfree-rcu-kfree-p2.svg`.
pub fn file_name(g: &Group, p: usize) -> String {
    format!("history-{}-p{p}.svg", g.file_part())
}

pub fn render(
    sets: &[ResultSet],
    all_flavors: &[String],
    g: &Group,
    p: usize,
) -> Result<(String, String), String> {
    let title = format!("{}, {p} {}s: across result sets", g.label(), g.worker());
    let flavors: Vec<String> = all_flavors
        .iter()
        .filter(|f| sets.iter().any(|s| cell(s, g, f, p).is_some()))
        .cloned()
        .collect();
    let at = |f: &str, i: usize| cell(&sets[i], g, f, p);
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
        loops_caption: &g.per_worker(),
        loops_desc: &format!("k {}", g.per_worker()),
        loops,
        mem_label: "peak memory",
        mem,
    }
    .render()?;
    Ok((title, svg))
}
