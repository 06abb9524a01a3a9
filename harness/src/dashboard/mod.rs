//! The static HTML dashboard. It leads with the answer: the newest set's rate against
//! memory per group (a benchmark's use case), then what changed since the set before; then
//! the newest set's tables and plots, and every cell's rate and peak memory across the result
//! sets under `results/`. htab-mem's groups come first, no_op last among them (it measures
//! only the harness), then map-perf-test's, then kfree-rcu's.

pub mod changes;
pub mod history;
pub mod html;
pub mod sets;
pub mod tradeoff;

use std::fs;
use std::path::Path;

use crate::plot::{self, Dataset, Group};
use sets::ResultSet;

/// The files of the dashboard: (name, contents), `index.html` last.
pub fn render(sets: &[ResultSet]) -> Result<Vec<(String, Vec<u8>)>, String> {
    let latest = sets.last().ok_or("no result sets")?;
    let ds = Dataset::new(latest.cells().cloned().collect())
        .map_err(|e| format!("{}: {e}", latest.dir.display()))?;
    let order = page_order(&ds.groups);
    let plots = plot::render_all(&ds, Some(latest.head().config.warmup_s))?;
    let figures = tradeoff::render_all(&ds, &order)?;
    let changes = changes::between(sets);
    let mut all_flavors = ds.flavors.clone();
    for c in sets.iter().flat_map(|s| s.cells()) {
        if !all_flavors.contains(&c.flavor) {
            all_flavors.push(c.flavor.clone());
        }
    }
    let mut hist = Vec::new();
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    for (g, p) in history::groups(sets, &order) {
        let (title, svg) = history::render(sets, &all_flavors, &g, p)?;
        let file = history::file_name(&g, p);
        files.push((file.clone(), svg.into_bytes()));
        hist.push((g, p, file, title));
    }
    let page = html::Page {
        sets,
        latest: &ds,
        order: &order,
        tradeoff: &figures,
        changes: changes.as_ref(),
        plots: &plots,
        history: &hist,
    }
    .render();
    files.extend(figures.into_iter().map(|f| (f.file, f.svg.into_bytes())));
    files.extend(plots.into_iter().map(|p| (p.file, p.svg.into_bytes())));
    files.push(("index.html".into(), page.into_bytes()));
    Ok(files)
}

/// The page's group order: the dataset's (htab-mem's use cases in the kernel's order, then
/// map-perf-test's tests, then kfree-rcu) with htab-mem's no_op moved last among htab-mem's,
/// since it measures only the harness and nothing differs there; it would otherwise lead the
/// page.
pub fn page_order(groups: &[Group]) -> Vec<Group> {
    let mut v = groups.to_vec();
    v.sort_by_key(|g| (!g.is_htab_mem(), g.is_htab_mem() && g.use_case == "no_op"));
    v
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
