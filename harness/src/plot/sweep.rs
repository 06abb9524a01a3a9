//! Per use case and producer count of a sweep: loops/s per producer and average memory
//! against the grace-period pacing, one line per flavor. Pacings are evenly spaced
//! categories in ascending order: 0 (no pacing) is one of them, so a log axis cannot hold
//! them.

use super::data::Dataset;
use super::lines::{flavor_series, LoopsAndMemory};
use super::style::MIB;
use crate::result::CellResult;

pub const SIZE: (u32, u32) = (1100, 480);

pub fn render(ds: &Dataset, uc: &str, producers: usize) -> Result<(String, String), String> {
    let plural = if producers == 1 { "" } else { "s" };
    let title = format!(
        "{uc}, {producers} producer{plural}: loops/s and average memory against grace-period pacing"
    );
    let pacings = ds.pacings(uc, producers);
    let flavors = ds.sweep_flavors(uc, producers);
    let cell = |f: &str, g: usize| ds.paced_cell(uc, f, producers, &pacings[g]);
    let series_of = |value: &dyn Fn(&CellResult) -> f64| {
        flavor_series(&flavors, &ds.flavors, pacings.len(), &cell, value)
    };
    let loops = series_of(&|c| c.metrics.loops_per_sec_per_producer.value / 1e3);
    let mem = series_of(&|c| c.metrics.mem_avg.value / MIB);
    let labels: Vec<String> = pacings.iter().map(|p| p.label()).collect();
    let svg = LoopsAndMemory {
        size: SIZE,
        title: &title,
        x_desc: "grace-period pacing (RCU / tasks-trace delay)",
        x_labels: &labels,
        loops_caption: "loops/s per producer",
        loops_desc: "k loops/s per producer",
        loops,
        mem_label: "average memory",
        mem,
    }
    .render()?;
    Ok((title, svg))
}
