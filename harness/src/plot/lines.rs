//! One panel of lines with points: the shape shared by the scaling, memory-over-time and
//! history plots. The y axis is linear or logarithmic; the x axis has explicit ticks.

use std::ops::Range;

use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, Ranged, ValueFormatter};
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;

use super::style::{flavor_color, fmt_num, FONT};
use crate::result::CellResult;

/// A linear f64 axis with the ticks given (plotters' `with_key_points` wrapper loses the
/// label formatting of f64 axes).
pub struct TickedAxis {
    pub range: Range<f64>,
    pub ticks: Vec<f64>,
}

impl Ranged for TickedAxis {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, v: &f64, limit: (i32, i32)) -> i32 {
        let span = self.range.end - self.range.start;
        let frac = if span > 0.0 {
            (v - self.range.start) / span
        } else {
            0.5
        };
        limit.0 + (frac * f64::from(limit.1 - limit.0)).round() as i32
    }

    fn key_points<H: KeyPointHint>(&self, _hint: H) -> Vec<f64> {
        self.ticks.clone()
    }

    fn range(&self) -> Range<f64> {
        self.range.clone()
    }
}

pub struct Series {
    pub name: String,
    pub color: RGBColor,
    pub points: Vec<(f64, f64)>,
}

/// One series per flavor over `groups` evenly spaced x groups: the point of group g is
/// `value` of `cell(flavor, g)`, left out where there is no cell. Colours come from
/// `all`, the dataset's flavors.
pub fn flavor_series<'c>(
    flavors: &[String],
    all: &[String],
    groups: usize,
    cell: &dyn Fn(&str, usize) -> Option<&'c CellResult>,
    value: &dyn Fn(&CellResult) -> f64,
) -> Vec<Series> {
    flavors
        .iter()
        .map(|f| Series {
            name: f.clone(),
            color: flavor_color(f, all),
            points: (0..groups)
                .filter_map(|g| cell(f, g).map(|c| (g as f64, value(c))))
                .collect(),
        })
        .collect()
}

/// The label of group `v` on an evenly spaced axis; blank between groups.
pub fn group_label(labels: &[String], v: f64) -> String {
    let g = v.round();
    match labels.get(g as usize) {
        Some(l) if (v - g).abs() < 1e-6 && g >= 0.0 => l.clone(),
        _ => String::new(),
    }
}

pub struct Panel<'a> {
    pub caption: String,
    pub x_desc: String,
    pub y_desc: String,
    pub x_range: Range<f64>,
    pub x_ticks: Vec<f64>,
    pub x_fmt: &'a dyn Fn(f64) -> String,
    pub log_y: bool,
    /// An x interval to shade, with its label (the warm-up).
    pub shade: Option<(f64, f64, String)>,
}

pub fn draw<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    p: &Panel,
    series: &[Series],
) -> Result<(), String> {
    let ys = series.iter().flat_map(|s| s.points.iter().map(|pt| pt.1));
    let (lo, hi) = ys.fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), y| {
        (l.min(y), h.max(y))
    });
    let (lo, hi) = if lo.is_finite() { (lo, hi) } else { (0.0, 1.0) };
    if p.log_y {
        let range = (lo / 1.5)..(hi * 1.5);
        draw_with(area, p, series, LogCoord::from(range.log_scale()))
    } else {
        let lo = lo.min(0.0);
        let hi = if hi > lo { hi } else { lo + 1.0 };
        let pad = (hi - lo) * 0.08;
        draw_with(
            area,
            p,
            series,
            RangedCoordf64::from(lo - if lo < 0.0 { pad } else { 0.0 }..hi + pad),
        )
    }
}

fn draw_with<DB: DrawingBackend, Y>(
    area: &DrawingArea<DB, Shift>,
    p: &Panel,
    series: &[Series],
    y: Y,
) -> Result<(), String>
where
    Y: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    let e = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    let x = TickedAxis {
        range: p.x_range.clone(),
        ticks: p.x_ticks.clone(),
    };
    let mut builder = ChartBuilder::on(area);
    builder
        .margin(10)
        .x_label_area_size(40)
        .y_label_area_size(64);
    if !p.caption.is_empty() {
        builder.caption(&p.caption, (FONT, 16));
    }
    let mut chart = builder.build_cartesian_2d(x, y).map_err(e)?;
    let (y_lo, y_hi) = {
        let r = chart.y_range();
        (r.start, r.end)
    };
    if let Some((a, b, label)) = &p.shade {
        let grey = RGBColor(0, 0, 0).mix(0.07);
        chart
            .draw_series(std::iter::once(Rectangle::new(
                [(*a, y_lo), (*b, y_hi)],
                grey.filled(),
            )))
            .map_err(e)?;
        let text = EmptyElement::at((*a, y_hi))
            + Text::new(
                label.clone(),
                (4, 4),
                (FONT, 12).into_font().color(&RGBColor(90, 90, 90)),
            );
        chart.draw_series(std::iter::once(text)).map_err(e)?;
    }
    let x_fmt = |v: &f64| (p.x_fmt)(*v);
    let y_fmt = |v: &f64| fmt_num(*v);
    chart
        .configure_mesh()
        .x_desc(p.x_desc.as_str())
        .y_desc(p.y_desc.as_str())
        .x_label_formatter(&x_fmt)
        .y_label_formatter(&y_fmt)
        .y_labels(8)
        .label_style((FONT, 13))
        .axis_desc_style((FONT, 14))
        .light_line_style(TRANSPARENT)
        .draw()
        .map_err(e)?;
    for s in series {
        let style = s.color.stroke_width(2);
        chart
            .draw_series(LineSeries::new(s.points.iter().copied(), style))
            .map_err(e)?;
        chart
            .draw_series(
                s.points
                    .iter()
                    .map(|&pt| Circle::new(pt, 3, s.color.filled())),
            )
            .map_err(e)?;
    }
    Ok(())
}

/// A figure of two line panels under one title and one legend: throughput on the left,
/// memory (`mem_label`: peak or average) on the right (log scale when it spans orders of
/// magnitude). The x axis is evenly spaced groups, one per label. Shared by the
/// scaling, sweep and history plots.
pub struct LoopsAndMemory<'a> {
    pub size: (u32, u32),
    pub title: &'a str,
    pub x_desc: &'a str,
    pub x_labels: &'a [String],
    pub loops_caption: &'a str,
    pub loops_desc: &'a str,
    pub loops: Vec<Series>,
    /// "peak memory" or "average memory": the right panel's caption.
    pub mem_label: &'a str,
    pub mem: Vec<Series>,
}

impl LoopsAndMemory<'_> {
    pub fn render(&self) -> Result<String, String> {
        let log_mem =
            super::style::wants_log(self.mem.iter().flat_map(|s| s.points.iter().map(|p| p.1)));
        let n = self.x_labels.len();
        let x_fmt = |v: f64| group_label(self.x_labels, v);
        let panel = |caption: &str, y_desc: &str, log_y: bool| Panel {
            caption: caption.into(),
            x_desc: self.x_desc.into(),
            y_desc: y_desc.into(),
            x_range: -0.3..n as f64 - 0.7,
            x_ticks: (0..n).map(|g| g as f64).collect(),
            x_fmt: &x_fmt,
            log_y,
            shade: None,
        };
        let entries: Vec<_> = self
            .loops
            .iter()
            .map(|s| (s.name.clone(), s.color))
            .collect();
        super::style::figure(self.size, self.title, &entries, |body| {
            let panels = body.split_evenly((1, 2));
            draw(
                &panels[0],
                &panel(self.loops_caption, self.loops_desc, false),
                &self.loops,
            )?;
            let mem_desc = format!(
                "{} (MiB{})",
                self.mem_label,
                if log_mem { ", log scale" } else { "" }
            );
            draw(
                &panels[1],
                &panel(self.mem_label, &mem_desc, log_mem),
                &self.mem,
            )
        })
    }
}
