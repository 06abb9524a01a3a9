//! Per use case: total loops/s and peak memory against the producer count, one line per
//! flavor. Producer counts are evenly spaced (they usually double).

use super::data::Dataset;
use super::lines::{flavor_series, LoopsAndMemory};
use super::style::MIB;
use crate::result::CellResult;

pub const SIZE: (u32, u32) = (1100, 480);

pub fn render(ds: &Dataset, uc: &str) -> Result<(String, String), String> {
    let title = format!("{uc}: scaling with producers (loops/s and peak memory)");
    let producers = ds.producers(uc);
    let flavors = ds.flavors(uc);
    let cell = |f: &str, g: usize| ds.cell(uc, f, producers[g]);
    let series_of = |value: &dyn Fn(&CellResult) -> f64| {
        flavor_series(&flavors, &ds.flavors, producers.len(), &cell, value)
    };
    let loops = series_of(&|c| c.metrics.loops_per_sec.value / 1e3);
    let mem = series_of(&|c| c.metrics.mem_peak.value / MIB);
    let labels: Vec<String> = producers.iter().map(usize::to_string).collect();
    let svg = LoopsAndMemory {
        size: SIZE,
        title: &title,
        x_desc: "producers",
        x_labels: &labels,
        loops_caption: "loops/s, all producers",
        loops_desc: "k loops/s (total)",
        loops,
        mem_label: "peak memory",
        mem,
    }
    .render()?;
    Ok((title, svg))
}
