//! Per use case: total loops/s and peak memory against the producer count, one line per
//! flavor. Producer counts are evenly spaced (they usually double).

use plotters::prelude::*;

use super::data::Dataset;
use super::lines::{self, Panel, Series};
use super::style::{draw_legend, flavor_color, wants_log, FONT, MIB};
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
    let log_mem = wants_log(mem.iter().flat_map(|s| s.points.iter().map(|p| p.1)));
    let n = producers.len();
    let x_fmt = |v: f64| {
        let g = v.round();
        match producers.get(g as usize) {
            Some(p) if (v - g).abs() < 1e-6 && g >= 0.0 => p.to_string(),
            _ => String::new(),
        }
    };
    let panel = |caption: &str, y_desc: &str, log_y: bool| Panel {
        caption: caption.into(),
        x_desc: "producers".into(),
        y_desc: y_desc.into(),
        x_range: -0.3..n as f64 - 0.7,
        x_ticks: (0..n).map(|g| g as f64).collect(),
        x_fmt: &x_fmt,
        log_y,
        shade: None,
    };

    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let body = root.titled(&title, (FONT, 20)).map_err(|e| e.to_string())?;
        let (legend, body) = body.split_vertically(30);
        let entries: Vec<_> = loops.iter().map(|s| (s.name.clone(), s.color)).collect();
        draw_legend(&legend, &entries)?;
        let panels = body.split_evenly((1, 2));
        lines::draw(
            &panels[0],
            &panel("loops/s, all producers", "k loops/s (total)", false),
            &loops,
        )?;
        let mem_desc = if log_mem {
            "peak memory (MiB, log scale)"
        } else {
            "peak memory (MiB)"
        };
        lines::draw(&panels[1], &panel("peak memory", mem_desc, log_mem), &mem)?;
        root.present().map_err(|e| e.to_string())?;
    }
    Ok((title, svg))
}
