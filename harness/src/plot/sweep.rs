//! Per group and producer count of a sweep: the rate per producer and average memory
//! against the grace-period pacing, one line per flavor. Pacings are evenly spaced
//! categories in ascending order: 0 (no pacing) is one of them, so a log axis cannot hold
//! them.

use super::data::{Dataset, Group};
use super::lines::{flavor_series, LoopsAndMemory};
use super::style::MIB;
use crate::result::CellResult;

pub const SIZE: (u32, u32) = (1100, 480);

/// The sweep figure of htab-mem's use case `uc` (sweeps are htab-mem's).
pub fn render(ds: &Dataset, uc: &str, producers: usize) -> Result<(String, String), String> {
    render_group(ds, &Group::htab_mem(uc), producers)
}

pub fn render_group(ds: &Dataset, g: &Group, producers: usize) -> Result<(String, String), String> {
    let rate = g.rate();
    let title = format!(
        "{}, {}: {rate} and average memory against grace-period pacing",
        g.label(),
        g.workers(producers)
    );
    let pacings = ds.pacings(g, producers);
    let flavors = ds.sweep_flavors(g, producers);
    let cell = |f: &str, i: usize| ds.paced_cell(g, f, producers, &pacings[i]);
    let series_of = |value: &dyn Fn(&CellResult) -> f64| {
        flavor_series(&flavors, &ds.flavors, pacings.len(), &cell, value)
    };
    let loops = series_of(&|c| c.metrics.loops_per_sec_per_producer.value / 1e3);
    let mem = series_of(&|c| c.metrics.mem_avg_shown().value / MIB);
    let labels: Vec<String> = pacings.iter().map(|p| p.label()).collect();
    let svg = LoopsAndMemory {
        size: SIZE,
        title: &title,
        x_desc: "grace-period pacing (RCU / tasks-trace delay)",
        x_labels: &labels,
        loops_caption: &g.per_worker(),
        loops_desc: &format!("k {}", g.per_worker()),
        loops,
        mem_label: "average memory",
        mem,
    }
    .render()?;
    Ok((title, svg))
}
