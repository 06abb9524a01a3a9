//! `htab-mem compare BASE NEW`: per-cell ratios of loops/s and memory (p95 or peak) with the evidence
//! (the two 95 % intervals where the cells have trials), exit status 1 on a regression: a
//! change beyond the threshold and outside the noise. The judgement is `crate::compare`'s (the dashboard shares it); this is
//! the command line, the checks of its options and the printout.

use std::path::PathBuf;

use crate::compare::{self, Options};
use crate::error::{Error, OrBadInput, Result};
use crate::matrix_file;

#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// Baseline result file.
    #[arg(value_name = "BASE")]
    pub base: PathBuf,

    /// New result file.
    #[arg(value_name = "NEW")]
    pub new: PathBuf,

    /// Normalise each cell by this flavor's cell of the same use case and producers
    /// instead of by the median ratio of the flavors of its group (same use case and
    /// producers).
    #[arg(
        long = "reference",
        value_name = "FLAVOR",
        conflicts_with = "no_normalize"
    )]
    pub reference: Option<String>,

    /// Compare raw values, not normalised ones.
    #[arg(long = "no-normalize")]
    pub no_normalize: bool,

    /// A regression when a cell's (normalised) loops/s ratio new/base falls below this, its
    /// trials' intervals are apart and its raw ratio is below 1 too. A cell alone must move
    /// more than its noise can (a cell's median of 3 trials moves by up to 21 % between two
    /// matrices of one commit on the 2-vCPU machine); smaller uniform shifts of a flavor are
    /// --max-flavor-slowdown's.
    #[arg(long = "max-slowdown", default_value_t = compare::DEFAULT_MAX_SLOWDOWN, value_name = "RATIO")]
    pub max_slowdown: f64,

    /// A regression when the (normalised) memory ratio new/base rises above this. Memory is
    /// the p95 of the charged samples when both cells have it, else the peak: the peak of the
    /// grace-period flavors is a maximum over samples that tracks the longest grace period,
    /// so it is noisier than loops/s (two runs of one commit on the 2-CPU machine differed by
    /// up to 1.41x, hence 1.5).
    #[arg(long = "max-mem-growth", default_value_t = compare::DEFAULT_MAX_MEM_GROWTH, value_name = "RATIO")]
    pub max_mem_growth: f64,

    /// Peak-memory growth smaller than this many MiB (raw, new - base) is never a
    /// regression: a few hundred KiB of cache on a 0.3 MiB cell is a large ratio but noise.
    #[arg(long = "mem-floor-mib", default_value_t = compare::DEFAULT_MEM_FLOOR_MIB, value_name = "MIB")]
    pub mem_floor_mib: f64,

    /// A regression when a flavor is slower across its cells: the median of its cells'
    /// normalised loops/s ratios below this and a sign test over them (how many got slower)
    /// at p < 0.01, over at least 8 cells. It sees a uniform shift of one flavor that no
    /// single cell shows beyond its noise.
    #[arg(long = "max-flavor-slowdown", default_value_t = crate::flavor_shift::DEFAULT_MAX_FLAVOR_SLOWDOWN, value_name = "RATIO")]
    pub max_flavor_slowdown: f64,

    /// A regression when a flavor holds more memory across its cells: the median of its
    /// cells' normalised memory ratios (p95, else peak) above this, a sign test at p < 0.01
    /// over at least 8 cells, and a median growth of at least --mem-floor-mib.
    #[arg(long = "max-flavor-mem-growth", default_value_t = crate::flavor_shift::DEFAULT_MAX_FLAVOR_MEM_GROWTH, value_name = "RATIO")]
    pub max_flavor_mem_growth: f64,

    /// Show only the rows that are regressions.
    #[arg(long = "only-regressions")]
    pub only_regressions: bool,
}

impl Args {
    fn options(&self) -> Options {
        Options {
            reference: self.reference.clone(),
            no_normalize: self.no_normalize,
            max_slowdown: self.max_slowdown,
            max_mem_growth: self.max_mem_growth,
            mem_floor_mib: self.mem_floor_mib,
            max_flavor_slowdown: self.max_flavor_slowdown,
            max_flavor_mem_growth: self.max_flavor_mem_growth,
        }
    }
}

pub fn run(a: Args) -> Result {
    if let Some(r) = &a.reference {
        if crate::rows::rank(r) == usize::MAX {
            return Err(Error::BadInput(format!(
                "--reference: unknown allocator flavor '{r}' (known: {})",
                crate::rows::known().collect::<Vec<_>>().join(", ")
            )));
        }
    }
    if !(a.max_flavor_slowdown > 0.0 && a.max_flavor_slowdown <= 1.0) {
        return Err(Error::BadInput(format!(
            "--max-flavor-slowdown {} must be in (0, 1]",
            a.max_flavor_slowdown
        )));
    }
    if !(a.max_slowdown > 0.0 && a.max_slowdown <= 1.0) {
        return Err(Error::BadInput(format!(
            "--max-slowdown {} must be in (0, 1]",
            a.max_slowdown
        )));
    }
    if !(a.max_flavor_mem_growth >= 1.0 && a.max_flavor_mem_growth.is_finite()) {
        return Err(Error::BadInput(format!(
            "--max-flavor-mem-growth {} must be at least 1",
            a.max_flavor_mem_growth
        )));
    }
    if !(a.max_mem_growth >= 1.0 && a.max_mem_growth.is_finite()) {
        return Err(Error::BadInput(format!(
            "--max-mem-growth {} must be at least 1",
            a.max_mem_growth
        )));
    }
    if !(a.mem_floor_mib >= 0.0 && a.mem_floor_mib.is_finite()) {
        return Err(Error::BadInput(format!(
            "--mem-floor-mib {} must be 0 or more",
            a.mem_floor_mib
        )));
    }
    let base = matrix_file::load(&a.base).or_bad_input()?;
    let new = matrix_file::load(&a.new).or_bad_input()?;
    let diff = matrix_file::config_differences(&base.config, &new.config);
    if !diff.is_empty() {
        eprintln!(
            "htab-mem: warning: the runs differ in config ({}); ratios mix that in",
            diff.join(", ")
        );
    }
    if base.host != new.host {
        eprintln!(
            "htab-mem: warning: the runs are from different hosts ({} vs {})",
            base.host.cpu_model, new.host.cpu_model
        );
    }
    let o = a.options();
    let c = compare::compare(&base.results, &new.results, &o);
    print!("{}", compare::table(&c.rows, a.only_regressions));
    for (side, ids) in [("base", &c.only_base), ("new", &c.only_new)] {
        if !ids.is_empty() {
            println!("\nonly in {side} ({}): {}", ids.len(), ids.join(", "));
        }
    }
    let (regressions, better, inconclusive) = c.verdict_counts();
    println!();
    for line in c.spread_lines() {
        println!("{line}");
    }
    if !c.flavors.is_empty() {
        println!(
            "\nper flavor (a regression when its median ratio is below {} for loops/s or above \
             {} for memory, with a sign test p < {}):",
            a.max_flavor_slowdown,
            a.max_flavor_mem_growth,
            crate::flavor_shift::MAX_P
        );
        for s in &c.flavors {
            println!("  {}", crate::flavor_shift::line(s));
        }
    }
    let flavor_regressions = c.flavor_regressions();
    println!(
        "compare: {} cells matched, {regressions} regressions and {flavor_regressions} flavor regressions across their cells, {better} faster or smaller, \
         {inconclusive} inconclusive (a change must pass the threshold -- loops/s ratio < {}, \
         memory (p95, else peak) ratio > {} and +{} MiB -- the raw ratio must point the same way, and, \
         where both sides have trials, their 95 % intervals must be apart, memory's by the threshold; {})",
        c.cells_matched(),
        a.max_slowdown,
        a.max_mem_growth,
        a.mem_floor_mib,
        o.normalisation()
    );
    // The verdict is the answer, already printed: a regression exits 1 without more.
    if regressions + flavor_regressions > 0 {
        Err(Error::Reported(1))
    } else {
        Ok(())
    }
}
