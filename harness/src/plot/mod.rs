//! SVG plots of result files: per use case, bars (loops/s per producer and peak memory per
//! flavor) and scaling lines against producers; per use case and producer count, memory
//! over time from the samples, and for the cells of a sweep, loops/s and average memory
//! against the grace-period pacing; and for the dashboard, loops/s against memory
//! (`tradeoff`). Everything is rendered in memory first, so a failure writes nothing.

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

pub use data::Dataset;

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
    /// File name, e.g. `overwrite-bars.svg`.
    pub file: String,
    pub title: String,
    pub kind: Kind,
    pub use_case: String,
    /// Set for memory-over-time plots.
    pub producers: Option<usize>,
    pub svg: String,
}

/// Every plot of `ds`, use case by use case: bars, scaling, then memory over time per
/// producer count, then a pacing figure per producer count swept. `warmup_s` shades the
/// warm-up in the memory plots.
pub fn render_all(ds: &Dataset, warmup_s: Option<u64>) -> Result<Vec<Plot>, String> {
    let mut out = Vec::new();
    for uc in &ds.use_cases {
        let name = data::file_part(uc);
        for p in ds.swept_producers(uc) {
            let (title, svg) = sweep::render(ds, uc, p)?;
            out.push(Plot {
                file: format!("{name}-p{p}-sweep.svg"),
                title,
                kind: Kind::Sweep,
                use_case: uc.clone(),
                producers: Some(p),
                svg,
            });
        }
        let producers = ds.producers(uc);
        if producers.is_empty() {
            continue;
        }
        let (title, svg) = bars::render(ds, uc)?;
        out.push(Plot {
            file: format!("{name}-bars.svg"),
            title,
            kind: Kind::Bars,
            use_case: uc.clone(),
            producers: None,
            svg,
        });
        let (title, svg) = scaling::render(ds, uc)?;
        out.push(Plot {
            file: format!("{name}-scaling.svg"),
            title,
            kind: Kind::Scaling,
            use_case: uc.clone(),
            producers: None,
            svg,
        });
        for p in producers {
            let (title, svg) = timeline::render(ds, uc, p, warmup_s)?;
            out.push(Plot {
                file: format!("{name}-p{p}-memory.svg"),
                title,
                kind: Kind::Memory,
                use_case: uc.clone(),
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
