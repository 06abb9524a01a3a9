//! Result sets: the folders under `results/` (one per machine and date), each holding one or
//! more native result files, and in a `baseline/` folder the baseline commit's files when it
//! was measured in the same run. Other JSON in a folder (dashboard exports) is passed over.

use std::fs;
use std::path::{Path, PathBuf};

use crate::result::{read_result_file, Benchmark, CellResult, ResultFile};

pub struct ResultSet {
    /// The folder name, e.g. `kvm-2cpu-2026-11-23`.
    pub name: String,
    pub dir: PathBuf,
    /// The newest `timestamp` of its files: sets are ordered by it.
    pub timestamp: String,
    pub files: Vec<(PathBuf, ResultFile)>,
    /// The baseline commit measured in the same run, trial by trial beside this set
    /// (`matrix --baseline-exe`; the set's `baseline/` folder): what "what changed" judges
    /// this set against, when present, instead of the set before.
    pub same_run_baseline: Option<Box<ResultSet>>,
}

impl ResultSet {
    /// The rows the dashboard shows. Every part of the page (tables, plots, history, what
    /// changed) selects through here, so one filter here (e.g. only htab-mem rows, once rows
    /// name their benchmark) applies to the whole page.
    pub fn cells(&self) -> impl Iterator<Item = &CellResult> {
        self.files.iter().flat_map(|(_, f)| f.results.iter())
    }

    /// The file whose host and config describe the set: the first htab-mem file (the
    /// page's header shows htab-mem's settings), else the first file.
    pub fn head(&self) -> &ResultFile {
        self.file_of(Benchmark::HtabMem).unwrap_or(&self.files[0].1)
    }

    /// The first file (by name) of benchmark `b`.
    pub fn file_of(&self, b: Benchmark) -> Option<&ResultFile> {
        self.files
            .iter()
            .map(|(_, f)| f)
            .find(|f| f.config.benchmark == b)
    }
}

/// Whether `path` holds JSON that claims to be a result file (has `schema_version`); such a
/// file must then read cleanly, anything else is not ours and is skipped.
fn claims_result(path: &Path) -> Result<bool, String> {
    let text =
        fs::read_to_string(path).map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
    Ok(serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .is_some_and(|v| v.get("schema_version").is_some()))
}

/// Reads one folder's result files, sorted by name; `None` when it has none.
pub fn read_set(dir: &Path) -> Result<Option<ResultSet>, String> {
    let mut paths: Vec<PathBuf> = fs::read_dir(dir)
        .map_err(|e| format!("{}: cannot list: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "json"))
        .collect();
    paths.sort();
    let mut files = Vec::new();
    for p in paths {
        if claims_result(&p)? {
            let f = read_result_file(&p)?;
            files.push((p, f));
        }
    }
    if files.is_empty() {
        return Ok(None);
    }
    let timestamp = files
        .iter()
        .map(|(_, f)| f.timestamp.clone())
        .max()
        .unwrap_or_default();
    let name = dir
        .file_name()
        .map_or_else(|| dir.display().to_string(), |n| n.to_string_lossy().into());
    let baseline_dir = dir.join("baseline");
    let same_run_baseline = if baseline_dir.is_dir() {
        read_set(&baseline_dir)?.map(|mut b| {
            b.name = format!(
                "{name} baseline (commit {}, measured in the same run)",
                b.head().git_sha
            );
            Box::new(b)
        })
    } else {
        None
    };
    Ok(Some(ResultSet {
        name,
        dir: dir.to_path_buf(),
        timestamp,
        files,
        same_run_baseline,
    }))
}

/// Every set under `root`, oldest first; `skip` (the dashboard's own folder) and hidden
/// folders are left out.
pub fn discover(root: &Path, skip: &Path) -> Result<Vec<ResultSet>, String> {
    if !root.is_dir() {
        return Err(format!("{}: not a directory", root.display()));
    }
    let skip = fs::canonicalize(skip).ok();
    let mut dirs: Vec<PathBuf> = fs::read_dir(root)
        .map_err(|e| format!("{}: cannot list: {e}", root.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .filter(|p| {
            !p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        })
        .filter(|p| skip.is_none() || fs::canonicalize(p).ok() != skip)
        .collect();
    dirs.sort();
    let mut sets = Vec::new();
    for d in dirs {
        if let Some(s) = read_set(&d)? {
            sets.push(s);
        }
    }
    if sets.is_empty() {
        return Err(format!(
            "{}: no result sets (folders holding htab-mem result files)",
            root.display()
        ));
    }
    sets.sort_by(|a, b| (&a.timestamp, &a.name).cmp(&(&b.timestamp, &b.name)));
    Ok(sets)
}
