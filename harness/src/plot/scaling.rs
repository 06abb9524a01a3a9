//! Per group: the total rate (in the benchmark's unit) and peak memory against the producer
//! count, one line per flavor. Producer counts are evenly spaced (they usually double).

use super::data::{Dataset, Group};
use super::lines::{flavor_series, LoopsAndMemory};
use super::style::MIB;
use crate::result::CellResult;

pub const SIZE: (u32, u32) = (1100, 480);

pub fn render(ds: &Dataset, g: &Group) -> Result<(String, String), String> {
    let (rate, worker) = (g.rate(), g.worker());
    let title = format!(
        "{}: scaling with {worker}s ({rate} and peak memory)",
        g.label()
    );
    let producers = ds.producers(g);
    let flavors = ds.flavors(g);
    let cell = |f: &str, i: usize| ds.cell(g, f, producers[i]);
    let series_of = |value: &dyn Fn(&CellResult) -> f64| {
        flavor_series(&flavors, &ds.flavors, producers.len(), &cell, value)
    };
    let loops = series_of(&|c| c.metrics.loops_per_sec.value / 1e3);
    let mem = series_of(&|c| c.metrics.mem_peak.value / MIB);
    let labels: Vec<String> = producers.iter().map(usize::to_string).collect();
    let svg = LoopsAndMemory {
        size: SIZE,
        title: &title,
        x_desc: &format!("{worker}s"),
        x_labels: &labels,
        loops_caption: &format!("{rate}, all {worker}s"),
        loops_desc: &format!("k {rate} (total)"),
        loops,
        mem_label: "peak memory",
        mem,
    }
    .render()?;
    Ok((title, svg))
}
