//! Per group, the trade-off the flavors make: the rate per producer against average
//! memory (left) and peak memory (right), one point per flavor and producer count. A flavor
//! keeps its colour everywhere; the number beside a point is its producer count, and a thin
//! line joins one flavor's points in producer order so its path can be followed.
//! Memory is the charged figure (`mem_*_shown`), as a memcg would count it.

use std::ops::Range;

use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, Ranged};
use plotters::coord::Shift;
use plotters::prelude::*;

use super::data::{Dataset, Group};
use super::style::{figure, flavor_color, flavor_entries, fmt_num, nice_step, FONT, MIB};

pub const SIZE: (u32, u32) = (1100, 520);
/// Markers are the only circles of this radius in the SVG, so a test can count them.
pub const MARKER_RADIUS: u32 = 5;

/// One cell of the picture: k (rate unit) per producer and MiB, with standard deviations.
#[derive(Clone, Debug, PartialEq)]
pub struct Point {
    pub flavor: String,
    pub producers: usize,
    pub loops: f64,
    pub loops_sd: Option<f64>,
    pub mem_avg: f64,
    pub mem_avg_sd: Option<f64>,
    pub mem_peak: f64,
}

/// Every measured cell of `g` outside sweeps, flavor by flavor (dataset order), producers
/// ascending. Any flavor name in the data becomes points: a peer map needs no code here.
pub fn points(ds: &Dataset, g: &Group) -> Vec<Point> {
    let mut out = Vec::new();
    for f in ds.flavors(g) {
        for p in ds.producers(g) {
            if let Some(c) = ds.cell(g, &f, p) {
                let m = &c.metrics;
                out.push(Point {
                    flavor: f.clone(),
                    producers: p,
                    loops: m.loops_per_sec_per_producer.value / 1e3,
                    loops_sd: m.loops_per_sec_per_producer.stddev.map(|s| s / 1e3),
                    mem_avg: m.mem_avg_shown().value / MIB,
                    mem_avg_sd: m.mem_avg_shown().stddev.map(|s| s / MIB),
                    mem_peak: m.mem_peak_shown().value / MIB,
                });
            }
        }
    }
    out
}

pub fn render(ds: &Dataset, g: &Group) -> Result<(String, String), String> {
    let title = format!(
        "{}: {} against memory (number: {}s)",
        g.label(),
        g.per_worker(),
        g.worker()
    );
    let pts = points(ds, g);
    let flavors = ds.flavors(g);
    let entries = flavor_entries(&flavors, &ds.flavors);
    let svg = figure(SIZE, &title, &entries, |body| {
        let panels = body.split_evenly((1, 2));
        let color = |f: &str| flavor_color(f, &ds.flavors);
        let avg: Vec<Mark> = pts
            .iter()
            .map(|p| Mark::new(p, p.mem_avg, p.mem_avg_sd, color(&p.flavor)))
            .collect();
        let peak: Vec<Mark> = pts
            .iter()
            .map(|p| Mark::new(p, p.mem_peak, None, color(&p.flavor)))
            .collect();
        panel(&panels[0], g, "average memory", &avg)?;
        panel(&panels[1], g, "peak memory", &peak)
    })?;
    Ok((title, svg))
}

/// A point as drawn: x (memory) and y (loops) with their deviations.
struct Mark<'a> {
    p: &'a Point,
    x: f64,
    x_sd: f64,
    color: RGBColor,
}

impl<'a> Mark<'a> {
    fn new(p: &'a Point, x: f64, x_sd: Option<f64>, color: RGBColor) -> Self {
        Mark {
            p,
            x,
            x_sd: x_sd.unwrap_or(0.0),
            color,
        }
    }
    fn y(&self) -> f64 {
        self.p.loops
    }
    fn y_sd(&self) -> f64 {
        self.p.loops_sd.unwrap_or(0.0)
    }
}

/// A linear or logarithmic f64 axis in one type, so one chart type serves all four
/// combinations.
struct Axis {
    range: Range<f64>,
    log: bool,
}

impl Axis {
    /// Fits `values` (the points) and `tops` (points plus a deviation). Log when every
    /// value is positive and they span more than a decade: a trade-off reads in ratios, and
    /// on a linear axis the cheap flavors' points pile up against it.
    fn fit(values: &[f64], tops: &[f64]) -> Axis {
        let hi = tops.iter().chain(values).copied().fold(0.0f64, f64::max);
        let hi = if hi > 0.0 { hi } else { 1.0 };
        let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
        if lo > 0.0 && lo.is_finite() && hi / lo > 10.0 {
            Axis {
                range: lo / 1.6..hi * 1.6,
                log: true,
            }
        } else {
            Axis {
                range: 0.0..hi * 1.1,
                log: false,
            }
        }
    }

    /// `v` moved inside the axis (a whisker below a log axis' start, say).
    fn clamp(&self, v: f64) -> f64 {
        v.clamp(self.range.start, self.range.end)
    }

    fn desc(&self, what: &str) -> String {
        if self.log {
            format!("{what}, log scale")
        } else {
            what.to_string()
        }
    }
}

impl Ranged for Axis {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, v: &f64, limit: (i32, i32)) -> i32 {
        let (a, b, v) = if self.log {
            (
                self.range.start.ln(),
                self.range.end.ln(),
                v.max(1e-300).ln(),
            )
        } else {
            (self.range.start, self.range.end, *v)
        };
        let frac = if b > a { (v - a) / (b - a) } else { 0.5 };
        limit.0 + (frac * f64::from(limit.1 - limit.0)).round() as i32
    }

    fn key_points<H: KeyPointHint>(&self, _hint: H) -> Vec<f64> {
        let Range { start, end } = self.range;
        if !self.log {
            let step = nice_step(end - start, 6);
            let first = (start / step).ceil() as i64;
            let last = (end / step).floor() as i64;
            return (first..=last).map(|i| i as f64 * step).collect();
        }
        // Decades; with 1, 2 and 5 of each when the range touches four decades or fewer.
        let decades = (start.log10().floor() as i32)..=(end.log10().ceil() as i32);
        let few = decades.clone().count() <= 4;
        let mults: &[f64] = if few { &[1.0, 2.0, 5.0] } else { &[1.0] };
        decades
            .flat_map(|d| mults.iter().map(move |m| m * 10f64.powi(d)))
            .filter(|v| (start..=end).contains(v))
            .collect()
    }

    fn range(&self) -> Range<f64> {
        self.range.clone()
    }
}

fn panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    g: &Group,
    what: &str,
    marks: &[Mark],
) -> Result<(), String> {
    let e = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    let xs: Vec<f64> = marks.iter().map(|m| m.x).collect();
    let ys: Vec<f64> = marks.iter().map(|m| m.y()).collect();
    let x_tops: Vec<f64> = marks.iter().map(|m| m.x + m.x_sd).collect();
    let y_tops: Vec<f64> = marks.iter().map(|m| m.y() + m.y_sd()).collect();
    let (x, y) = (Axis::fit(&xs, &x_tops), Axis::fit(&ys, &y_tops));
    let x_desc = x.desc(&format!("{what} (MiB)"));
    let y_desc = y.desc(&format!("k {}", g.per_worker()));
    let (cx, cy) = (|v: f64| x.clamp(v), |v: f64| y.clamp(v));
    let (cx, cy) = (&cx, &cy);
    let mut chart = ChartBuilder::on(area)
        .caption(format!("{} against {what}", g.rate()), (FONT, 16))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(64)
        .build_cartesian_2d(
            Axis {
                range: x.range.clone(),
                log: x.log,
            },
            Axis {
                range: y.range.clone(),
                log: y.log,
            },
        )
        .map_err(e)?;
    let fmt = |v: &f64| fmt_num(*v);
    chart
        .configure_mesh()
        .x_desc(x_desc)
        .y_desc(y_desc)
        .x_label_formatter(&fmt)
        .y_label_formatter(&fmt)
        .label_style((FONT, 13))
        .axis_desc_style((FONT, 14))
        .light_line_style(TRANSPARENT)
        .bold_line_style(RGBColor(0, 0, 0).mix(0.08))
        .draw()
        .map_err(e)?;
    // A flavor's path through its producer counts, under the markers.
    let mut i = 0;
    while i < marks.len() {
        let run = marks[i..]
            .iter()
            .take_while(|m| m.p.flavor == marks[i].p.flavor)
            .count();
        let path: Vec<(f64, f64)> = marks[i..i + run]
            .iter()
            .map(|m| (cx(m.x), cy(m.y())))
            .collect();
        let style = marks[i].color.mix(0.45).stroke_width(1);
        chart
            .draw_series(std::iter::once(PathElement::new(path, style)))
            .map_err(e)?;
        i += run;
    }
    for m in marks {
        let (px, py) = (cx(m.x), cy(m.y()));
        let mut whiskers = Vec::new();
        if m.x_sd > 0.0 {
            whiskers.push(vec![(cx(m.x - m.x_sd), py), (cx(m.x + m.x_sd), py)]);
        }
        if m.y_sd() > 0.0 {
            whiskers.push(vec![(px, cy(m.y() - m.y_sd())), (px, cy(m.y() + m.y_sd()))]);
        }
        chart
            .draw_series(
                whiskers
                    .into_iter()
                    .map(|w| PathElement::new(w, m.color.stroke_width(1))),
            )
            .map_err(e)?;
        let label = EmptyElement::at((px, py))
            + Circle::new((0, 0), MARKER_RADIUS, m.color.filled())
            + Text::new(
                m.p.producers.to_string(),
                (7, -15),
                (FONT, 11).into_font().color(&RGBColor(60, 60, 60)),
            );
        chart.draw_series(std::iter::once(label)).map_err(e)?;
    }
    Ok(())
}
