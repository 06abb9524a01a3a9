//! How each cell moved across result sets: per use case and producer count, loops/s per
//! producer and peak memory against the set, one line per flavor.

use std::collections::BTreeSet;

use plotters::prelude::*;

use super::sets::ResultSet;
use crate::plot::data::{file_part, measured};
use crate::plot::lines::{self, Panel, Series};
use crate::plot::style::{draw_legend, flavor_color, wants_log, FONT, MIB};
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
    let flavors: Vec<&String> = all_flavors
        .iter()
        .filter(|f| sets.iter().any(|s| cell(s, uc, f, p).is_some()))
        .collect();
    let series_of = |value: &dyn Fn(&CellResult) -> f64| -> Vec<Series> {
        flavors
            .iter()
            .map(|f| Series {
                name: f.to_string(),
                color: flavor_color(f, all_flavors),
                points: sets
                    .iter()
                    .enumerate()
                    .filter_map(|(i, s)| cell(s, uc, f, p).map(|c| (i as f64, value(c))))
                    .collect(),
            })
            .collect()
    };
    let loops = series_of(&|c| c.metrics.loops_per_sec_per_producer.value / 1e3);
    let mem = series_of(&|c| c.metrics.mem_peak.value / MIB);
    let log_mem = wants_log(mem.iter().flat_map(|s| s.points.iter().map(|p| p.1)));
    let n = sets.len();
    let x_fmt = |v: f64| {
        let i = v.round();
        match sets.get(i as usize) {
            Some(_) if (v - i).abs() < 1e-6 && i >= 0.0 => format!("#{}", i as usize + 1),
            _ => String::new(),
        }
    };
    let panel = |caption: &str, y_desc: &str, log_y: bool| Panel {
        caption: caption.into(),
        x_desc: "result set (oldest first, as in the table)".into(),
        y_desc: y_desc.into(),
        x_range: -0.3..n as f64 - 0.7,
        x_ticks: (0..n).map(|i| i as f64).collect(),
        x_fmt: &x_fmt,
        log_y,
        shade: None,
    };
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (1100, 420)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let body = root.titled(&title, (FONT, 20)).map_err(|e| e.to_string())?;
        let (legend, body) = body.split_vertically(30);
        let entries: Vec<_> = loops.iter().map(|s| (s.name.clone(), s.color)).collect();
        draw_legend(&legend, &entries)?;
        let panels = body.split_evenly((1, 2));
        lines::draw(
            &panels[0],
            &panel("loops/s per producer", "k loops/s per producer", false),
            &loops,
        )?;
        let desc = if log_mem {
            "peak memory (MiB, log scale)"
        } else {
            "peak memory (MiB)"
        };
        lines::draw(&panels[1], &panel("peak memory", desc, log_mem), &mem)?;
        root.present().map_err(|e| e.to_string())?;
    }
    Ok((title, svg))
}
