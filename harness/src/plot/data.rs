//! The cells of one or more result files, indexed by group (benchmark and use case), flavor
//! and producer count; the cells of a sweep (which carry a pacing) by their pacing too, apart
//! from the rest.

use std::collections::BTreeSet;

use crate::result::{Benchmark, CellResult, Pacing};

pub struct Dataset {
    pub cells: Vec<CellResult>,
    /// Benchmarks in `Benchmark::ALL` order; within one, its use cases in
    /// `bench::use_cases` order (the kernel's), then unknown ones by name.
    pub groups: Vec<Group>,
    /// Known flavors in `allocators::FLAVORS` order, then unknown ones by the first
    /// benchmark that has them, then name (so a map-perf-test or kfree-rcu flavor never
    /// shifts the colours of htab-mem's peer maps).
    pub flavors: Vec<String>,
}

/// What plots and tables are per: one benchmark's use case. Two benchmarks may share a
/// use case name, so the name alone is not enough.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Group {
    pub benchmark: Benchmark,
    pub use_case: String,
}

impl Group {
    pub fn of(c: &CellResult) -> Group {
        Group {
            benchmark: c.benchmark,
            use_case: c.use_case.clone(),
        }
    }

    /// An htab-mem use case.
    pub fn htab_mem(use_case: &str) -> Group {
        Group {
            benchmark: Benchmark::HtabMem,
            use_case: use_case.to_string(),
        }
    }

    pub fn holds(&self, c: &CellResult) -> bool {
        c.benchmark == self.benchmark && c.use_case == self.use_case
    }

    pub fn is_htab_mem(&self) -> bool {
        self.benchmark == Benchmark::HtabMem
    }

    /// How titles and headings name it: htab-mem's use case alone (as always), another
    /// benchmark's after the benchmark's name: `map-perf-test hash_kmalloc`.
    pub fn label(&self) -> String {
        if self.is_htab_mem() {
            self.use_case.clone()
        } else {
            format!("{} {}", self.benchmark.name(), self.use_case)
        }
    }

    /// For file names and anchors: `overwrite`, `map-perf-test-hash_kmalloc`; no two
    /// groups share one (no htab-mem use case starts with another benchmark's name).
    pub fn file_part(&self) -> String {
        if self.is_htab_mem() {
            file_part(&self.use_case)
        } else {
            format!("{}-{}", self.benchmark.name(), file_part(&self.use_case))
        }
    }

    /// The unit of the cells' rates: loops/s, events/s, objects/s.
    pub fn rate(&self) -> &'static str {
        self.benchmark.rate_unit()
    }

    /// What a cell's `producers` counts: htab-mem's producers, map_perf_test's workers,
    /// rcuscale's threads.
    pub fn worker(&self) -> &'static str {
        match self.benchmark {
            Benchmark::HtabMem => "producer",
            Benchmark::MapPerfTest => "worker",
            Benchmark::KfreeRcu => "thread",
        }
    }

    /// What a cell's `flavor` names: an allocator or map flavor; kfree-rcu's mode.
    pub fn flavor_word(&self) -> &'static str {
        match self.benchmark {
            Benchmark::KfreeRcu => "mode",
            _ => "flavor",
        }
    }

    /// `2 producers`, `1 worker`.
    pub fn workers(&self, n: usize) -> String {
        format!("{n} {}{}", self.worker(), if n == 1 { "" } else { "s" })
    }

    /// `loops/s per producer`.
    pub fn per_worker(&self) -> String {
        format!("{} per {}", self.rate(), self.worker())
    }

    /// Where the group stands: its benchmark's place, then its use case's.
    fn rank(&self) -> (usize, usize, String) {
        let known = crate::bench::use_cases(self.benchmark);
        let u = known.iter().position(|k| *k == self.use_case);
        (
            benchmark_rank(self.benchmark),
            u.unwrap_or(known.len()),
            self.use_case.clone(),
        )
    }
}

/// The place of `b` in `Benchmark::ALL`.
fn benchmark_rank(b: Benchmark) -> usize {
    Benchmark::ALL
        .iter()
        .position(|x| *x == b)
        .unwrap_or(Benchmark::ALL.len())
}

/// Flavors and peer maps in `rows::known` order, unknown ones after, by the first benchmark (in
/// `Benchmark::ALL` order) whose cells have them, then by name.
fn ordered_flavors(cells: &[CellResult]) -> Vec<String> {
    let names: BTreeSet<&str> = cells.iter().map(|c| c.flavor.as_str()).collect();
    let mut v: Vec<(usize, usize, &str)> = names
        .into_iter()
        .map(|n| {
            let first = cells
                .iter()
                .filter(|c| c.flavor == n)
                .map(|c| benchmark_rank(c.benchmark))
                .min()
                .unwrap_or(0);
            let k = crate::rows::rank(n);
            (k, first, n)
        })
        .collect();
    v.sort();
    v.into_iter().map(|(_, _, n)| n.to_string()).collect()
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
        let mut groups: Vec<Group> = Vec::new();
        for c in &cells {
            if !groups.iter().any(|g| g.holds(c)) {
                groups.push(Group::of(c));
            }
        }
        groups.sort_by_cached_key(Group::rank);
        let flavors = ordered_flavors(&cells);
        Ok(Dataset {
            cells,
            groups,
            flavors,
        })
    }

    /// Whether a measured cell of `g` outside sweeps has per-second samples (map-perf-test's
    /// and kfree-rcu's have none: no memory-over-time plot for them).
    pub fn has_samples(&self, g: &Group) -> bool {
        self.measured(g, false).any(|c| !c.samples.is_empty())
    }

    /// Producer counts measured for `g` outside sweeps, ascending.
    pub fn producers(&self, g: &Group) -> Vec<usize> {
        let set: BTreeSet<usize> = self.measured(g, false).map(|c| c.producers).collect();
        set.into_iter().collect()
    }

    /// Flavors measured for `g` outside sweeps, in the dataset's order.
    pub fn flavors(&self, g: &Group) -> Vec<String> {
        self.flavors_of(self.measured(g, false))
    }

    /// The cell of `g`, `flavor` and `producers` outside sweeps.
    pub fn cell(&self, g: &Group, flavor: &str, producers: usize) -> Option<&CellResult> {
        self.measured(g, false)
            .find(|c| c.flavor == flavor && c.producers == producers)
    }

    /// Producer counts of the sweeps of `g`, ascending.
    pub fn swept_producers(&self, g: &Group) -> Vec<usize> {
        let set: BTreeSet<usize> = self.measured(g, true).map(|c| c.producers).collect();
        set.into_iter().collect()
    }

    /// The pacings swept for `g` with `producers`, ascending.
    pub fn pacings(&self, g: &Group, producers: usize) -> Vec<Pacing> {
        let set: BTreeSet<Pacing> = self.swept(g, producers).filter_map(|c| c.pacing).collect();
        set.into_iter().collect()
    }

    /// Flavors swept for `g` with `producers`, in the dataset's order.
    pub fn sweep_flavors(&self, g: &Group, producers: usize) -> Vec<String> {
        self.flavors_of(self.swept(g, producers))
    }

    pub fn paced_cell(
        &self,
        g: &Group,
        flavor: &str,
        producers: usize,
        pacing: &Pacing,
    ) -> Option<&CellResult> {
        self.swept(g, producers)
            .find(|c| c.flavor == flavor && c.pacing.as_ref() == Some(pacing))
    }

    fn flavors_of<'a>(&self, cells: impl Iterator<Item = &'a CellResult> + Clone) -> Vec<String> {
        self.flavors
            .iter()
            .filter(|f| cells.clone().any(|c| &c.flavor == *f))
            .cloned()
            .collect()
    }

    /// The measured cells of `g`, of sweeps (`paced`) or not.
    fn measured<'a: 'b, 'b>(
        &'a self,
        g: &'b Group,
        paced: bool,
    ) -> impl Iterator<Item = &'a CellResult> + Clone + 'b {
        self.cells
            .iter()
            .filter(move |c| g.holds(c) && c.pacing.is_some() == paced && measured(c))
    }

    fn swept<'a: 'b, 'b>(
        &'a self,
        g: &'b Group,
        producers: usize,
    ) -> impl Iterator<Item = &'a CellResult> + Clone + 'b {
        self.measured(g, true)
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
