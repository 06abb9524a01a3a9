//! Matrix result files: the ordered cell plan, shards, loading with consistency checks,
//! and the rules for when cells from two files may live in one.

use std::collections::HashSet;
use std::path::Path;

use crate::result::{self, Benchmark, CellResult, Pacing, ResultFile, RunConfig};

/// One (use case, flavor, producers) cell of a matrix; a sweep's cells carry their pacing
/// too (a plain matrix cell runs with the matrix's delays).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Cell {
    pub benchmark: Benchmark,
    pub use_case: String,
    pub flavor: String,
    pub producers: usize,
    pub pacing: Option<Pacing>,
}

impl AsRef<Cell> for Cell {
    fn as_ref(&self) -> &Cell {
        self
    }
}

impl Cell {
    pub fn id(&self) -> String {
        result::paced_cell_id(
            self.benchmark,
            &self.use_case,
            &self.flavor,
            self.producers,
            self.pacing.as_ref(),
        )
    }

    /// The child runs a plain cell with the pacing as its delays; its result becomes this
    /// cell's by taking the pacing and the id that goes with it.
    pub fn claim(&self, mut r: CellResult) -> CellResult {
        r.pacing = self.pacing;
        r.id = self.id();
        r
    }
}

/// The cells of use cases x producer counts x pacings x flavors, in that nesting order
/// (flavors interleaved, so every flavor of a group runs under the same machine
/// conditions), split into those that can run and those the use case refuses
/// (add_del_on_diff_cpu with an odd producer count), with the reason. A plain matrix has
/// the one pacing `None`.
pub fn plan(
    use_cases: &[String],
    flavors: &[String],
    producers: &[usize],
    pacings: &[Option<Pacing>],
) -> (Vec<Cell>, Vec<(Cell, String)>) {
    let mut run = Vec::new();
    let mut skipped = Vec::new();
    for uc in use_cases {
        for &p in producers {
            let refused = crate::bench::htab_mem::check_use_case(uc, p).err();
            for &pacing in pacings {
                for f in flavors {
                    let refused = refused
                        .clone()
                        .or_else(|| crate::bench::htab_mem::not_applicable(uc, f));
                    let cell = Cell {
                        benchmark: Benchmark::HtabMem,
                        use_case: uc.clone(),
                        flavor: f.clone(),
                        producers: p,
                        pacing,
                    };
                    match &refused {
                        None => run.push(cell),
                        Some(why) => skipped.push((cell, why.clone())),
                    }
                }
            }
        }
    }
    (run, skipped)
}

/// Producer counts of the default sweep: powers of two up to 16 plus the CPU count.
pub fn default_producers(nr_cpus: usize) -> Vec<usize> {
    let mut v = vec![1, 2, 4, 8, 16, nr_cpus.max(1)];
    v.sort_unstable();
    v.dedup();
    v
}

/// `--shard I/N`: 1-based slice I of N.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl std::str::FromStr for Shard {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("invalid shard '{s}': expected I/N with 1 <= I <= N (e.g. 2/3)");
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
        if !digits(i) || !digits(n) {
            return Err(bad());
        }
        let index: usize = i.parse().map_err(|_| bad())?;
        let count: usize = n.parse().map_err(|_| bad())?;
        if index == 0 || count == 0 || index > count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// The cells of shard `s`: the (use case, producer count) groups of the ordered plan are
/// dealt round-robin, group g to shard `g mod N + 1`. Shards are disjoint and together are
/// the whole plan; a group stays whole so that every flavor of one use case and producer
/// count runs back to back, in one job, under the same machine conditions.
pub fn shard<T: AsRef<Cell> + Clone>(cells: &[T], s: Shard) -> Vec<T> {
    let mut groups: Vec<(&str, usize)> = Vec::new();
    cells
        .iter()
        .filter(|item| {
            let c: &Cell = (*item).as_ref();
            let key = (c.use_case.as_str(), c.producers);
            let g = match groups.iter().position(|k| *k == key) {
                Some(g) => g,
                None => {
                    groups.push(key);
                    groups.len() - 1
                }
            };
            g % s.count == s.index - 1
        })
        .cloned()
        .collect()
}

/// Canonical cell order: benchmarks, then use cases and flavors in their registry order (unknown names
/// after, by name), producers ascending, then pacings ascending (plain cells first).
/// Merged shards read like one unsharded run.
pub fn sort_cells(cells: &mut [CellResult]) {
    let orders: Vec<Vec<String>> = Benchmark::ALL
        .iter()
        .map(|b| crate::bench::use_cases(*b))
        .collect();
    let uc_rank = |c: &CellResult| {
        let b = Benchmark::ALL
            .iter()
            .position(|b| *b == c.benchmark)
            .unwrap_or(0);
        let r = orders[b].iter().position(|u| *u == c.use_case);
        (b, r.unwrap_or(usize::MAX))
    };
    cells.sort_by(|a, b| {
        let key = |c: &CellResult| {
            (
                uc_rank(c),
                c.use_case.clone(),
                c.producers,
                c.pacing,
                crate::rows::rank(&c.flavor),
                c.flavor.clone(),
            )
        };
        key(a).cmp(&key(b))
    });
}

/// Reads a result file and checks what the schema cannot: cell ids are unique and match
/// their fields. Every error names the file.
pub fn load(path: &Path) -> Result<ResultFile, String> {
    let f = result::read_result_file(path)?;
    let mut seen = HashSet::new();
    for c in &f.results {
        let want = c.expected_id();
        if c.id != want {
            return Err(format!(
                "{}: cell id '{}' does not match its fields (expected '{want}')",
                path.display(),
                c.id
            ));
        }
        if !seen.insert(c.id.as_str()) {
            return Err(format!("{}: cell '{}' appears twice", path.display(), c.id));
        }
    }
    Ok(f)
}

/// The config with the per-run fields (use case, producers) left out: what every cell of
/// one matrix shares.
pub fn shared_config(c: &RunConfig) -> RunConfig {
    RunConfig {
        use_case: None,
        producers: None,
        ..c.clone()
    }
}

/// How two configs differ in what every cell must share, one "field a vs b" per field.
/// Compared field by field through JSON, so a field added to `RunConfig` later is compared
/// too without anyone remembering to list it here.
pub fn config_differences(a: &RunConfig, b: &RunConfig) -> Vec<String> {
    let as_map = |c: &RunConfig| match serde_json::to_value(shared_config(c)) {
        Ok(serde_json::Value::Object(m)) => m,
        _ => serde_json::Map::new(),
    };
    let (ma, mb) = (as_map(a), as_map(b));
    let mut keys: Vec<&String> = ma.keys().chain(mb.keys()).collect();
    keys.sort();
    keys.dedup();
    let show = |v: Option<&serde_json::Value>| match v {
        None => "(absent)".to_string(),
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(v) => v.to_string(),
    };
    keys.into_iter()
        .filter(|k| ma.get(*k) != mb.get(*k))
        .map(|k| format!("{k} {} vs {}", show(ma.get(k)), show(mb.get(k))))
        .collect()
}

/// A duration for progress lines: `42s`, `3m05s`.
pub fn fmt_duration(secs: f64) -> String {
    let s = secs.max(0.0).round() as u64;
    if s >= 60 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{s}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn shard_parsing() {
        assert_eq!("2/3".parse::<Shard>(), Ok(Shard { index: 2, count: 3 }));
        for bad in ["0/3", "4/3", "1/0", "1", "a/b", "+1/2", "1/2/3", "", "/"] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
    }

    #[test]
    fn plan_order_and_skips() {
        let (run, skipped) = plan(
            &names(&["overwrite", "add_del_on_diff_cpu"]),
            &names(&["immediate-reuse", "free-after-gp"]),
            &[1, 2],
            &[None],
        );
        let ids: Vec<String> = run.iter().map(Cell::id).collect();
        assert_eq!(
            ids,
            [
                "htab-mem/overwrite/immediate-reuse/p1",
                "htab-mem/overwrite/free-after-gp/p1",
                "htab-mem/overwrite/immediate-reuse/p2",
                "htab-mem/overwrite/free-after-gp/p2",
                "htab-mem/add_del_on_diff_cpu/immediate-reuse/p2",
                "htab-mem/add_del_on_diff_cpu/free-after-gp/p2",
            ]
        );
        assert_eq!(skipped.len(), 2);
        assert!(skipped.iter().all(|(c, _)| c.producers == 1));
    }

    #[test]
    fn shards_partition_the_plan_by_group() {
        let (cells, _) = plan(
            &names(&["no_op", "overwrite"]),
            &names(&["immediate-reuse", "free-after-gp", "prealloc"]),
            &[1, 2, 4],
            &[None],
        );
        let mut all = Vec::new();
        for i in 1..=4 {
            let part = shard(&cells, Shard { index: i, count: 4 });
            // Whole groups only: 3 flavors per (use case, producers).
            assert_eq!(part.len() % 3, 0, "{part:?}");
            all.extend(part);
        }
        assert_eq!(all.len(), cells.len());
        let ids = |v: &[Cell]| {
            let mut v: Vec<String> = v.iter().map(Cell::id).collect();
            v.sort();
            v
        };
        assert_eq!(ids(&all), ids(&cells));
        // 6 groups over 4 shards: 2, 2, 1, 1.
        let first = shard(&cells, Shard { index: 1, count: 4 });
        assert_eq!(first.len(), 6);
        assert_eq!(first[0].id(), "htab-mem/no_op/immediate-reuse/p1");
        assert_eq!(first[3].id(), "htab-mem/overwrite/immediate-reuse/p2");
    }

    #[test]
    fn paced_plan_interleaves_flavors_within_a_pacing() {
        let pace = |us| {
            Some(Pacing {
                rcu_gp_delay_us: us,
                ttrace_gp_delay_us: 10 * us,
            })
        };
        let (run, _) = plan(
            &names(&["overwrite"]),
            &names(&["immediate-reuse", "prealloc"]),
            &[2],
            &[pace(0), pace(1000)],
        );
        let ids: Vec<String> = run.iter().map(Cell::id).collect();
        assert_eq!(
            ids,
            [
                "htab-mem/overwrite/immediate-reuse/p2/rcu0-tt0",
                "htab-mem/overwrite/prealloc/p2/rcu0-tt0",
                "htab-mem/overwrite/immediate-reuse/p2/rcu1ms-tt10ms",
                "htab-mem/overwrite/prealloc/p2/rcu1ms-tt10ms",
            ]
        );
    }

    #[test]
    fn default_sweep() {
        assert_eq!(default_producers(2), [1, 2, 4, 8, 16]);
        assert_eq!(default_producers(12), [1, 2, 4, 8, 12, 16]);
        assert_eq!(default_producers(64), [1, 2, 4, 8, 16, 64]);
    }
}
