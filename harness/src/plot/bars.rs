//! Per group: the rate per producer (in the benchmark's unit) and peak memory, one bar per
//! flavor, grouped by producer count. Whiskers are one standard deviation of the
//! per-second rates.

use plotters::coord::ranged1d::{Ranged, ValueFormatter};
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;

use super::data::{Dataset, Group};
use super::lines::TickedAxis;
use super::style::{figure, flavor_color, flavor_entries, fmt_num, wants_log, FONT, MIB};
use crate::result::CellResult;

pub const SIZE: (u32, u32) = (1100, 480);

pub fn render(ds: &Dataset, g: &Group) -> Result<(String, String), String> {
    let per_worker = g.per_worker();
    let title = format!(
        "{}: {per_worker} and peak memory, per {}",
        g.label(),
        g.flavor_word()
    );
    let producers = ds.producers(g);
    let flavors = ds.flavors(g);
    let entries = flavor_entries(&flavors, &ds.flavors);
    let svg = figure(SIZE, &title, &entries, |body| {
        let panels = body.split_evenly((1, 2));
        let groups = Groups {
            ds,
            g,
            producers: &producers,
            flavors: &flavors,
        };
        groups.panel(
            &panels[0],
            &per_worker,
            &format!("k {per_worker}"),
            false,
            |c| {
                let m = &c.metrics.loops_per_sec_per_producer;
                (m.value / 1e3, m.stddev.map(|s| s / 1e3))
            },
        )?;
        groups.panel(&panels[1], "peak memory", "peak memory (MiB)", true, |c| {
            (c.metrics.mem_peak.value / MIB, None)
        })
    })?;
    Ok((title, svg))
}

struct Groups<'a> {
    ds: &'a Dataset,
    g: &'a Group,
    producers: &'a [usize],
    flavors: &'a [String],
}

impl Groups<'_> {
    fn panel<DB: DrawingBackend>(
        &self,
        area: &DrawingArea<DB, Shift>,
        caption: &str,
        y_desc: &str,
        log_if_wide: bool,
        value: impl Fn(&CellResult) -> (f64, Option<f64>),
    ) -> Result<(), String> {
        // (group, flavor index, value, stddev)
        let mut bars = Vec::new();
        for (g, &p) in self.producers.iter().enumerate() {
            for (i, f) in self.flavors.iter().enumerate() {
                if let Some(c) = self.ds.cell(self.g, f, p) {
                    let (v, sd) = value(c);
                    bars.push((g, i, v, sd));
                }
            }
        }
        let hi = bars
            .iter()
            .map(|b| b.2 + b.3.unwrap_or(0.0))
            .fold(0.0f64, f64::max);
        if log_if_wide && wants_log(bars.iter().map(|b| b.2)) {
            let lo = bars.iter().map(|b| b.2).fold(f64::INFINITY, f64::min);
            let y = LogCoord::from((lo / 2.0..hi * 1.5).log_scale());
            let desc = format!("{y_desc}, log scale");
            self.draw_with(area, caption, &desc, &bars, y)
        } else {
            let lo = bars.iter().map(|b| b.2).fold(0.0f64, f64::min);
            let hi = if hi > lo { hi } else { lo + 1.0 };
            let y = RangedCoordf64::from(lo * 1.1..hi * 1.1);
            self.draw_with(area, caption, y_desc, &bars, y)
        }
    }

    fn draw_with<DB: DrawingBackend, Y>(
        &self,
        area: &DrawingArea<DB, Shift>,
        caption: &str,
        y_desc: &str,
        bars: &[(usize, usize, f64, Option<f64>)],
        y: Y,
    ) -> Result<(), String>
    where
        Y: Ranged<ValueType = f64> + ValueFormatter<f64>,
    {
        let e = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
        let n = self.producers.len();
        let x = TickedAxis {
            range: -0.5..n as f64 - 0.5,
            ticks: (0..n).map(|g| g as f64).collect(),
        };
        let mut chart = ChartBuilder::on(area)
            .caption(caption, (FONT, 16))
            .margin(10)
            .x_label_area_size(40)
            .y_label_area_size(64)
            .build_cartesian_2d(x, y)
            .map_err(e)?;
        // Bars start at the axis: 0, or the bottom of a log axis.
        let base = chart.y_range().start.max(0.0);
        let (producers, group) = (self.producers, self.g);
        let x_fmt = |v: &f64| {
            let g = v.round();
            match producers.get(g as usize) {
                Some(p) if (v - g).abs() < 1e-6 && g >= 0.0 => group.workers(*p),
                _ => String::new(),
            }
        };
        let y_fmt = |v: &f64| fmt_num(*v);
        chart
            .configure_mesh()
            .disable_x_mesh()
            .y_desc(y_desc)
            .x_label_formatter(&x_fmt)
            .y_label_formatter(&y_fmt)
            .label_style((FONT, 13))
            .axis_desc_style((FONT, 14))
            .light_line_style(TRANSPARENT)
            .draw()
            .map_err(e)?;
        let slot = 0.8 / self.flavors.len().max(1) as f64;
        for &(g, i, v, sd) in bars {
            let color = flavor_color(&self.flavors[i], &self.ds.flavors);
            let x0 = g as f64 - 0.4 + slot * i as f64;
            let x1 = x0 + slot * 0.85;
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(x0, base), (x1, v)],
                    color.filled(),
                )))
                .map_err(e)?;
            if let Some(sd) = sd.filter(|s| *s > 0.0) {
                let xm = (x0 + x1) / 2.0;
                let w = slot * 0.2;
                let (a, b) = ((v - sd).max(base), v + sd);
                let whisker = [
                    vec![(xm, a), (xm, b)],
                    vec![(xm - w, a), (xm + w, a)],
                    vec![(xm - w, b), (xm + w, b)],
                ];
                chart
                    .draw_series(whisker.into_iter().map(|l| PathElement::new(l, BLACK)))
                    .map_err(e)?;
            }
        }
        Ok(())
    }
}
