//! SVG plots of result files: per group (a benchmark's use case), bars (rate per producer and
//! peak memory per flavor) and scaling lines against producers; per group and producer
//! count, memory over time from the samples (htab-mem's cells have them; map-perf-test's and
//! kfree-rcu's do not), and for the cells of a sweep, rate and average memory against the
//! grace-period pacing; and for the dashboard, rate against memory (`tradeoff`). Rates are
//! labelled in the benchmark's unit (loops/s, events/s, objects/s). Everything is rendered in
//! memory first, so a failure writes nothing.

pub mod bars;
pub mod data;
pub mod lines;
pub mod scaling;
pub mod style;
pub mod sweep;
pub mod timeline;
pub mod tradeoff;

use std::fs;
use std::path::Path;

pub use data::{Dataset, Group};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Bars,
    Scaling,
    Memory,
    Sweep,
}

/// One rendered SVG.
#[derive(Clone, Debug)]
pub struct Plot {
    /// File name, e.g. `overwrite-bars.svg`, `map-perf-test-hash_kmalloc-bars.svg`.
    pub file: String,
    pub title: String,
    pub kind: Kind,
    pub group: Group,
    /// Set for memory-over-time plots.
    pub producers: Option<usize>,
    pub svg: String,
}

/// Every plot of `ds`, group by group: a pacing figure per producer count swept, bars,
/// scaling, then memory over time per producer count where the cells have samples.
/// `warmup_s` shades the warm-up in the memory plots.
pub fn render_all(ds: &Dataset, warmup_s: Option<u64>) -> Result<Vec<Plot>, String> {
    let mut out = Vec::new();
    for g in &ds.groups {
        let name = g.file_part();
        for p in ds.swept_producers(g) {
            let (title, svg) = sweep::render_group(ds, g, p)?;
            out.push(Plot {
                file: format!("{name}-p{p}-sweep.svg"),
                title,
                kind: Kind::Sweep,
                group: g.clone(),
                producers: Some(p),
                svg,
            });
        }
        let producers = ds.producers(g);
        if producers.is_empty() {
            continue;
        }
        let (title, svg) = bars::render(ds, g)?;
        out.push(Plot {
            file: format!("{name}-bars.svg"),
            title,
            kind: Kind::Bars,
            group: g.clone(),
            producers: None,
            svg,
        });
        let (title, svg) = scaling::render(ds, g)?;
        out.push(Plot {
            file: format!("{name}-scaling.svg"),
            title,
            kind: Kind::Scaling,
            group: g.clone(),
            producers: None,
            svg,
        });
        if !ds.has_samples(g) {
            continue;
        }
        for p in producers {
            let (title, svg) = timeline::render(ds, g, p, warmup_s)?;
            out.push(Plot {
                file: format!("{name}-p{p}-memory.svg"),
                title,
                kind: Kind::Memory,
                group: g.clone(),
                producers: Some(p),
                svg,
            });
        }
    }
    Ok(out)
}

/// Creates `dir` (and its parents) unless it is there; refuses a path that is not a directory.
pub fn ensure_dir(dir: &Path) -> Result<(), String> {
    if dir.exists() && !dir.is_dir() {
        return Err(format!("{}: exists and is not a directory", dir.display()));
    }
    fs::create_dir_all(dir).map_err(|e| format!("{}: cannot create: {e}", dir.display()))
}

/// Writes each (name, contents) into `dir` through a temp file and a rename, so a reader
/// never sees a half-written file.
pub fn write_files<'a>(
    dir: &Path,
    files: impl IntoIterator<Item = (&'a str, &'a [u8])>,
) -> Result<(), String> {
    for (name, bytes) in files {
        crate::result::write_bytes_atomic(&dir.join(name), bytes, "")?;
    }
    Ok(())
}
