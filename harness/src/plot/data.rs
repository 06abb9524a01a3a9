//! The cells of one or more result files, indexed by use case, flavor and producer count.

use std::collections::BTreeSet;

use crate::result::CellResult;

pub struct Dataset {
    pub cells: Vec<CellResult>,
    /// Known use cases in the kernel's order, then unknown ones by name.
    pub use_cases: Vec<String>,
    /// Known flavors in `allocators::FLAVORS` order, then unknown ones by name.
    pub flavors: Vec<String>,
}

/// Orders `names` as `known` lists them, unknown names after, sorted.
fn ordered(names: BTreeSet<String>, known: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = names.into_iter().collect();
    v.sort_by_key(|n| {
        (
            known.iter().position(|k| k == n).unwrap_or(known.len()),
            n.clone(),
        )
    });
    v
}

/// Whether a cell has metrics worth plotting (an "error" cell measured nothing).
pub fn measured(c: &CellResult) -> bool {
    c.status != "error"
}

impl Dataset {
    /// Checks what the plots rely on: unique ids, names, finite metrics.
    pub fn new(cells: Vec<CellResult>) -> Result<Dataset, String> {
        let mut ids = BTreeSet::new();
        for c in &cells {
            if !ids.insert(c.id.as_str()) {
                return Err(format!("cell {} appears twice", c.id));
            }
            if c.use_case.is_empty() || c.flavor.is_empty() || c.producers == 0 {
                return Err(format!(
                    "cell {} lacks a use case, flavor or producer count",
                    c.id
                ));
            }
            let m = &c.metrics;
            let all = [
                &m.loops_per_sec,
                &m.loops_per_sec_per_producer,
                &m.mem_avg,
                &m.mem_peak,
                &m.rss_peak,
            ];
            if all
                .iter()
                .any(|x| !x.value.is_finite() || x.stddev.is_some_and(|s| !s.is_finite()))
            {
                return Err(format!("cell {} has a non-finite metric", c.id));
            }
        }
        if !cells.iter().any(measured) {
            return Err("no measured cell to plot (every cell has status \"error\")".into());
        }
        let use_cases = ordered(
            cells.iter().map(|c| c.use_case.clone()).collect(),
            workloads::USE_CASES,
        );
        let flavors = ordered(
            cells.iter().map(|c| c.flavor.clone()).collect(),
            allocators::FLAVORS,
        );
        Ok(Dataset {
            cells,
            use_cases,
            flavors,
        })
    }

    /// Producer counts measured for `uc`, ascending.
    pub fn producers(&self, uc: &str) -> Vec<usize> {
        let set: BTreeSet<usize> = self
            .measured(uc)
            .map(|c| c.producers)
            .collect::<BTreeSet<_>>();
        set.into_iter().collect()
    }

    /// Flavors measured for `uc`, in the dataset's order.
    pub fn flavors(&self, uc: &str) -> Vec<String> {
        self.flavors
            .iter()
            .filter(|f| self.measured(uc).any(|c| &c.flavor == *f))
            .cloned()
            .collect()
    }

    pub fn cell(&self, uc: &str, flavor: &str, producers: usize) -> Option<&CellResult> {
        self.cells.iter().find(|c| {
            c.use_case == uc && c.flavor == flavor && c.producers == producers && measured(c)
        })
    }

    fn measured<'a>(&'a self, uc: &'a str) -> impl Iterator<Item = &'a CellResult> + 'a {
        self.cells
            .iter()
            .filter(move |c| c.use_case == uc && measured(c))
    }
}

/// A use case or flavor name made safe for a file name.
pub fn file_part(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}
