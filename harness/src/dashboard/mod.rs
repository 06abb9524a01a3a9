//! The static HTML dashboard: the latest result set's tables and plots, and every cell's
//! loops/s and peak memory across the result sets under `results/`.

pub mod history;
pub mod html;
pub mod sets;

use std::fs;
use std::path::Path;

use crate::plot::{self, Dataset};
use sets::ResultSet;

/// The files of the dashboard: (name, contents), `index.html` last.
pub fn render(sets: &[ResultSet]) -> Result<Vec<(String, Vec<u8>)>, String> {
    let latest = sets.last().ok_or("no result sets")?;
    let ds = Dataset::new(latest.cells().cloned().collect())
        .map_err(|e| format!("{}: {e}", latest.dir.display()))?;
    let plots = plot::render_all(&ds, Some(latest.head().config.warmup_s))?;
    let mut all_flavors = ds.flavors.clone();
    for c in sets.iter().flat_map(|s| s.cells()) {
        if !all_flavors.contains(&c.flavor) {
            all_flavors.push(c.flavor.clone());
        }
    }
    let mut hist = Vec::new();
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    for (uc, p) in history::groups(sets, &ds.use_cases) {
        let (title, svg) = history::render(sets, &all_flavors, &uc, p)?;
        let file = history::file_name(&uc, p);
        files.push((file.clone(), svg.into_bytes()));
        hist.push((uc, p, file, title));
    }
    let page = html::Page {
        sets,
        latest: &ds,
        plots: &plots,
        history: &hist,
    }
    .render();
    files.extend(plots.into_iter().map(|p| (p.file, p.svg.into_bytes())));
    files.push(("index.html".into(), page.into_bytes()));
    Ok(files)
}

/// Writes the files into `out`, the page last so it never names a missing plot; then, if
/// the folder held a page of ours before, removes SVGs this render no longer names.
pub fn write(out: &Path, files: &[(String, Vec<u8>)]) -> Result<(), String> {
    plot::ensure_dir(out)?;
    let ours = fs::read_to_string(out.join("index.html"))
        .is_ok_and(|s| s.contains(&format!("content=\"{}\"", html::GENERATOR)));
    plot::write_files(out, files.iter().map(|(n, b)| (n.as_str(), b.as_slice())))?;
    if ours {
        if let Ok(rd) = fs::read_dir(out) {
            for e in rd.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if name.ends_with(".svg") && !files.iter().any(|(n, _)| *n == name) {
                    let _ = fs::remove_file(e.path());
                }
            }
        }
    }
    Ok(())
}
