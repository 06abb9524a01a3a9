//! The cells of one or more result files, indexed by use case, flavor and producer count;
//! the cells of a sweep (which carry a pacing) by their pacing too, apart from the rest.

use std::collections::BTreeSet;

use crate::result::{CellResult, Pacing};

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
    c.status.measured()
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

    /// Producer counts measured for `uc` outside sweeps, ascending.
    pub fn producers(&self, uc: &str) -> Vec<usize> {
        let set: BTreeSet<usize> = self.measured(uc, false).map(|c| c.producers).collect();
        set.into_iter().collect()
    }

    /// Flavors measured for `uc` outside sweeps, in the dataset's order.
    pub fn flavors(&self, uc: &str) -> Vec<String> {
        self.flavors_of(self.measured(uc, false))
    }

    /// The cell of `uc`, `flavor` and `producers` outside sweeps.
    pub fn cell(&self, uc: &str, flavor: &str, producers: usize) -> Option<&CellResult> {
        self.measured(uc, false)
            .find(|c| c.flavor == flavor && c.producers == producers)
    }

    /// Producer counts of the sweeps of `uc`, ascending.
    pub fn swept_producers(&self, uc: &str) -> Vec<usize> {
        let set: BTreeSet<usize> = self.measured(uc, true).map(|c| c.producers).collect();
        set.into_iter().collect()
    }

    /// The pacings swept for `uc` with `producers`, ascending.
    pub fn pacings(&self, uc: &str, producers: usize) -> Vec<Pacing> {
        let set: BTreeSet<Pacing> = self.swept(uc, producers).filter_map(|c| c.pacing).collect();
        set.into_iter().collect()
    }

    /// Flavors swept for `uc` with `producers`, in the dataset's order.
    pub fn sweep_flavors(&self, uc: &str, producers: usize) -> Vec<String> {
        self.flavors_of(self.swept(uc, producers))
    }

    pub fn paced_cell(
        &self,
        uc: &str,
        flavor: &str,
        producers: usize,
        pacing: &Pacing,
    ) -> Option<&CellResult> {
        self.swept(uc, producers)
            .find(|c| c.flavor == flavor && c.pacing.as_ref() == Some(pacing))
    }

    fn flavors_of<'a>(&self, cells: impl Iterator<Item = &'a CellResult> + Clone) -> Vec<String> {
        self.flavors
            .iter()
            .filter(|f| cells.clone().any(|c| &c.flavor == *f))
            .cloned()
            .collect()
    }

    /// The measured cells of `uc`, of sweeps (`paced`) or not.
    fn measured<'a: 'b, 'b>(
        &'a self,
        uc: &'b str,
        paced: bool,
    ) -> impl Iterator<Item = &'a CellResult> + Clone + 'b {
        self.cells
            .iter()
            .filter(move |c| c.use_case == uc && c.pacing.is_some() == paced && measured(c))
    }

    fn swept<'a: 'b, 'b>(
        &'a self,
        uc: &'b str,
        producers: usize,
    ) -> impl Iterator<Item = &'a CellResult> + Clone + 'b {
        self.measured(uc, true)
            .filter(move |c| c.producers == producers)
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
