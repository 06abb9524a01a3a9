//! Colours, fonts, units and number formats shared by every plot, so one flavor looks the
//! same in every SVG and on the dashboard.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::RGBColor;

pub const FONT: &str = "sans-serif";
pub use crate::units::MIB;

/// Tableau-10, and two more for the peer maps: distinguishable, and still tellable apart in
/// grey scale by position.
const PALETTE: [RGBColor; 12] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
    RGBColor(0, 0, 0),
    RGBColor(255, 187, 120),
];

/// A flavor's colour: fixed by its place in `rows::known` (flavors, then peer maps), so it never changes with
/// the set of flavors a file happens to hold; unknown names follow, in the order given.
pub fn flavor_color(flavor: &str, all: &[String]) -> RGBColor {
    let known = crate::rows::rank(flavor);
    let idx = if known != usize::MAX {
        known
    } else {
        let unknown = all.iter().filter(|f| crate::rows::rank(f) == usize::MAX);
        crate::rows::known().count() + unknown.take_while(|f| *f != flavor).count()
    };
    PALETTE[idx % PALETTE.len()]
}

/// `v` with at most three significant digits and no trailing zeros, for axis labels.
pub fn fmt_num(v: f64) -> String {
    let a = v.abs();
    let s = if a == 0.0 {
        return "0".into();
    } else if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else if a >= 0.01 {
        format!("{v:.3}")
    } else {
        return format!("{v:.1e}");
    };
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// Log scale when every value is positive and they span more than two decades: otherwise the
/// small flavors (immediate reuse: well under 1 MiB) sit flat on the axis.
pub fn wants_log(values: impl IntoIterator<Item = f64>) -> bool {
    let (mut lo, mut hi) = (f64::INFINITY, 0.0f64);
    for v in values {
        if v <= 0.0 {
            return false;
        }
        lo = lo.min(v);
        hi = hi.max(v);
    }
    hi > 0.0 && hi / lo > 100.0
}

/// Round tick step giving about `n` ticks over `span`.
pub fn nice_step(span: f64, n: usize) -> f64 {
    if span <= 0.0 || !span.is_finite() {
        return 1.0;
    }
    let raw = span / n.max(1) as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let norm = raw / mag;
    let nice = if norm <= 1.0 {
        1.0
    } else if norm <= 2.0 {
        2.0
    } else if norm <= 5.0 {
        5.0
    } else {
        10.0
    };
    nice * mag
}

/// An SVG of `size`: white, `title` on top, a legend row of `entries` under it, and what
/// `draw` puts in the rest. Every figure starts alike, so they line up on the dashboard.
pub fn figure(
    size: (u32, u32),
    title: &str,
    entries: &[(String, RGBColor)],
    draw: impl FnOnce(&DrawingArea<SVGBackend<'_>, Shift>) -> Result<(), String>,
) -> Result<String, String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let body = root.titled(title, (FONT, 20)).map_err(|e| e.to_string())?;
        let (legend, body) = body.split_vertically(30);
        draw_legend(&legend, entries)?;
        draw(&body)?;
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(svg)
}

/// Legend entries for `flavors`, coloured as `flavor_color` colours them among `all`.
pub fn flavor_entries(flavors: &[String], all: &[String]) -> Vec<(String, RGBColor)> {
    flavors
        .iter()
        .map(|f| (f.clone(), flavor_color(f, all)))
        .collect()
}

/// A row of coloured squares with names, centred in `area` (plotters' own legend would sit
/// inside a panel, over the data).
pub fn draw_legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    entries: &[(String, RGBColor)],
) -> Result<(), String> {
    const CHAR_W: i32 = 7; // about right for a 14 px sans-serif
    let widths: Vec<i32> = entries
        .iter()
        .map(|(n, _)| 20 + CHAR_W * n.len() as i32 + 22)
        .collect();
    let total: i32 = widths.iter().sum();
    let (w, _) = area.dim_in_pixel();
    let mut x = ((w as i32 - total) / 2).max(4);
    for ((name, color), width) in entries.iter().zip(widths) {
        area.draw(&Rectangle::new([(x, 7), (x + 14, 21)], color.filled()))
            .map_err(|e| e.to_string())?;
        area.draw(&Text::new(
            name.clone(),
            (x + 20, 7),
            (FONT, 14).into_font().color(&BLACK),
        ))
        .map_err(|e| e.to_string())?;
        x += width;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_flavors_keep_their_colour() {
        let some = vec!["call-rcu-free".to_string()];
        let all: Vec<String> = allocators::FLAVORS.iter().map(|s| s.to_string()).collect();
        assert_eq!(
            flavor_color("call-rcu-free", &some),
            flavor_color("call-rcu-free", &all)
        );
        let strange = vec!["x".to_string(), "y".to_string()];
        assert_ne!(flavor_color("x", &strange), flavor_color("y", &strange));
    }

    #[test]
    fn log_only_for_wide_positive_spreads() {
        assert!(wants_log([0.27, 467.9]));
        assert!(!wants_log([10.0, 200.0]));
        assert!(!wants_log([-1.0, 500.0]));
        assert!(!wants_log([]));
    }

    #[test]
    fn steps_are_round() {
        assert_eq!(nice_step(7.0, 7), 1.0);
        assert_eq!(nice_step(30.0, 8), 5.0);
        assert_eq!(nice_step(0.9, 8), 0.2);
        assert_eq!(fmt_num(467.93), "468");
        assert_eq!(fmt_num(0.27), "0.27");
        assert_eq!(fmt_num(10.0), "10");
        assert_eq!(fmt_num(0.5), "0.5");
        assert_eq!(fmt_num(-2.25), "-2.25");
    }
}
