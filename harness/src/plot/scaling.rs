//! Per use case: total loops/s and peak memory against the producer count, one line per
//! flavor. Producer counts are evenly spaced (they usually double).

use super::data::Dataset;
use super::lines::{LoopsAndMemory, Series};
use super::style::{flavor_color, MIB};
use crate::result::CellResult;

pub const SIZE: (u32, u32) = (1100, 480);

pub fn render(ds: &Dataset, uc: &str) -> Result<(String, String), String> {
    let title = format!("{uc}: scaling with producers (loops/s and peak memory)");
    let producers = ds.producers(uc);
    let flavors = ds.flavors(uc);
    let series_of = |value: &dyn Fn(&CellResult) -> f64| -> Vec<Series> {
        flavors
            .iter()
            .map(|f| Series {
                name: f.clone(),
                color: flavor_color(f, &ds.flavors),
                points: producers
                    .iter()
                    .enumerate()
                    .filter_map(|(g, &p)| ds.cell(uc, f, p).map(|c| (g as f64, value(c))))
                    .collect(),
            })
            .collect()
    };
    let loops = series_of(&|c| c.metrics.loops_per_sec.value / 1e3);
    let mem = series_of(&|c| c.metrics.mem_peak.value / MIB);
    let x_fmt = |v: f64| {
        let g = v.round();
        match producers.get(g as usize) {
            Some(p) if (v - g).abs() < 1e-6 && g >= 0.0 => p.to_string(),
            _ => String::new(),
        }
    };
    let svg = LoopsAndMemory {
        size: SIZE,
        title: &title,
        x_desc: "producers",
        n: producers.len(),
        x_fmt: &x_fmt,
        loops_caption: "loops/s, all producers",
        loops_desc: "k loops/s (total)",
        loops,
        mem,
    }
    .render()?;
    Ok((title, svg))
}
