//! Per group and producer count: live heap memory at each per-second sample, one line per
//! flavor, with the warm-up shaded.

use super::data::{Dataset, Group};
use super::lines::{self, Panel, Series};
use super::style::{figure, flavor_color, fmt_num, nice_step, wants_log, MIB};

pub const SIZE: (u32, u32) = (900, 480);

pub fn render(
    ds: &Dataset,
    g: &Group,
    producers: usize,
    warmup_s: Option<u64>,
) -> Result<(String, String), String> {
    let title = format!(
        "{}, {producers} {}s: memory over time",
        g.label(),
        g.worker()
    );
    let series: Vec<Series> = ds
        .flavors(g)
        .iter()
        .filter_map(|f| ds.cell(g, f, producers))
        .map(|c| Series {
            name: c.flavor.clone(),
            color: flavor_color(&c.flavor, &ds.flavors),
            points: c
                .samples
                .iter()
                .map(|s| (s.t_ns as f64 / 1e9, s.mem_bytes as f64 / MIB))
                .collect(),
        })
        .collect();
    let t_max = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.0))
        .fold(1.0f64, f64::max);
    let step = nice_step(t_max, 10);
    let ticks: Vec<f64> = (0..=(t_max / step).ceil() as usize)
        .map(|i| i as f64 * step)
        .collect();
    let log_y = wants_log(series.iter().flat_map(|s| s.points.iter().map(|p| p.1)));
    let x_fmt = |v: f64| fmt_num(v);
    let panel = Panel {
        caption: String::new(),
        x_desc: "seconds since start".into(),
        y_desc: if log_y {
            "live heap memory (MiB, log scale)".into()
        } else {
            "live heap memory (MiB)".into()
        },
        x_range: 0.0..t_max * 1.02,
        x_ticks: ticks,
        x_fmt: &x_fmt,
        log_y,
        shade: warmup_s
            .filter(|w| *w > 0)
            .map(|w| (0.0, w as f64, " warm-up".to_string())),
    };
    let entries: Vec<_> = series.iter().map(|s| (s.name.clone(), s.color)).collect();
    let svg = figure(SIZE, &title, &entries, |body| {
        lines::draw(body, &panel, &series)
    })?;
    Ok((title, svg))
}
