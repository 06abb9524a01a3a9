//! The htab-mem run's options after validation (`Config`), and the validation itself.

use allocators::{Allocator, MemallocGen};
use serde::{Deserialize, Serialize};
use workloads::{LoopShape, UseCase};

use crate::cli::{Readers, RunArgs};

/// Options after validation, as the runner uses them. It is also the plan a child process
/// gets for one htab-mem cell (as JSON, with one flavor): the child runs exactly what the
/// parent validated, with no command line rebuilt in between.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Config {
    pub producers: usize,
    /// The CPU each producer is pinned to, if pinning.
    pub cpus: Option<Vec<usize>>,
    pub affinity_desc: String,
    pub warmup: u64,
    pub duration: u64,
    pub use_case: String,
    pub value_size: usize,
    pub max_entries: u32,
    /// Which keys a loop walks; `Rfc` also makes the headline loops/s the total.
    #[serde(with = "as_text::shape")]
    pub shape: LoopShape,
    pub flavors: Vec<String>,
    pub rcu_gp_delay_us: u64,
    pub ttrace_gp_delay_us: u64,
    pub fault_batch_alloc: bool,
    pub ttrace_implies_rcu: bool,
    pub rcu_readers: Readers,
    #[serde(with = "as_text::deferred")]
    pub deferred_work: allocators::DeferredWork,
    #[serde(with = "as_text::memalloc")]
    pub memalloc: MemallocGen,
    pub quiet: bool,
    /// Test only (`--inject-slowdown`): how much slower `inject_flavors` are made, %; 0
    /// (the default, and what plans written before it existed mean) is off.
    #[serde(default)]
    pub inject_slowdown_pct: u32,
    #[serde(default)]
    pub inject_flavors: Vec<String>,
    /// `--mem-limit`, `--fail-alloc`, `--fail-seed` (plans written before them: no limit, no
    /// injection).
    #[serde(default)]
    pub mem: MemLimit,
}

/// A cell's memory limit and failure injection, as the child installs them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemLimit {
    /// The memcg limit in bytes (`--mem-limit`, or the default); None: no limit.
    pub limit_bytes: Option<u64>,
    /// Whether `--mem-limit` gave it (a result file records only a given limit, so that the
    /// default, a share of this machine's memory, does not make configs differ by machine).
    pub given: bool,
    /// `--fail-alloc`'s spec (`0.01`, `every:100`), and its seed.
    pub fail_alloc: Option<String>,
    pub fail_seed: u64,
}

impl MemLimit {
    /// The injector of `--fail-alloc`, if on.
    pub fn fail(&self) -> Option<memcg::FailAlloc> {
        let spec = self.fail_alloc.as_deref()?;
        memcg::FailAlloc::parse(spec, self.fail_seed).ok()
    }

    /// Sets this process's memcg limit (a child's, whose cell is the only one it runs).
    pub fn install(&self) {
        memcg::set_limit(self.limit_bytes);
    }

    /// What a result file's config records: absent when nothing was given.
    pub fn record(&self) -> Option<crate::result::MemLimitConfig> {
        (self.given || self.fail_alloc.is_some()).then(|| crate::result::MemLimitConfig {
            limit_bytes: self.limit_bytes.filter(|_| self.given),
            fail_alloc: self.fail_alloc.clone(),
            fail_seed: self.fail_alloc.as_ref().map(|_| self.fail_seed),
        })
    }

    /// For the run's header line: `64MiB`, `12GiB (default: half of MemTotal)`, `none`.
    pub fn describe(&self) -> String {
        let mut s = match (self.limit_bytes, self.given) {
            (Some(b), true) => memcg::format_size(b),
            (Some(b), false) => format!("{} (default: half of MemTotal)", memcg::format_size(b)),
            (None, _) => "none".into(),
        };
        if let Some(f) = &self.fail_alloc {
            s += &format!(", failing allocations {f} (seed {})", self.fail_seed);
        }
        s
    }
}

impl Config {
    /// The config a result file records for this run.
    pub fn run_config(&self) -> crate::result::RunConfig {
        crate::result::RunConfig {
            benchmark: crate::result::Benchmark::HtabMem,
            warmup_s: self.warmup,
            duration_s: self.duration,
            affinity: self.affinity_desc.clone(),
            max_entries: u64::from(self.max_entries),
            value_size: self.value_size as u64,
            use_case: Some(self.use_case.clone()),
            producers: Some(self.producers),
            rcu_gp_delay_us: self.rcu_gp_delay_us,
            ttrace_gp_delay_us: self.ttrace_gp_delay_us,
            ttrace_implies_rcu: self.ttrace_implies_rcu,
            rcu_readers: self.rcu_readers.name().into(),
            deferred_work: self.deferred_work.label(),
            memalloc: self.memalloc.name().into(),
            map_perf_test: None,
            kfree_rcu: None,
            inject: (self.inject_slowdown_pct > 0).then(|| crate::result::Inject {
                loop_ns: None,
                slowdown_pct: Some(self.inject_slowdown_pct),
                flavors: self.inject_flavors.clone(),
            }),
            mem_limit: self.mem.record(),
        }
    }

    /// The slowdown to inject into `flavor`, %, if any.
    pub fn injected(&self, flavor: &str) -> Option<u32> {
        (self.inject_slowdown_pct > 0 && self.inject_flavors.iter().any(|f| f == flavor))
            .then_some(self.inject_slowdown_pct)
    }
}

impl RunArgs {
    /// Checks every option; the error is one line for stderr.
    pub fn validate(&self, online: &[usize]) -> Result<Config, String> {
        if self.producers == 0 {
            return Err("-p/--producers must be at least 1".into());
        }
        if self.producers > 4096 {
            return Err(format!(
                "-p/--producers {} is above the limit of 4096",
                self.producers
            ));
        }
        if self.warmup == 0 {
            return Err("-w/--warmup must be greater than 0".into());
        }
        if self.duration == 0 {
            return Err("-d/--duration must be greater than 0".into());
        }
        if self.value_size == 0 || self.value_size > 4096 {
            return Err(format!(
                "--value-size {} is out of range (1..=4096)",
                self.value_size
            ));
        }
        if !workloads::USE_CASES.contains(&self.use_case.as_str()) {
            return Err(format!(
                "unknown use case '{}' (known: {})",
                self.use_case,
                workloads::USE_CASES.join(", ")
            ));
        }
        crate::bench::htab_mem::check_use_case(&self.use_case, self.producers)?;
        let flavors: Vec<String> = if self.preallocated {
            if ![crate::rows::DEFAULT, "all", allocators::Prealloc::NAME]
                .contains(&self.allocator.as_str())
            {
                return Err(format!(
                    "--preallocated selects the prealloc flavor; it cannot be combined with -A {}",
                    self.allocator
                ));
            }
            vec![allocators::Prealloc::NAME.to_string()]
        } else {
            crate::rows::parse("-A/--allocator", &self.allocator)?
        };
        let (max_entries, shape) = self.loop_shape()?;
        let inject_flavors = self.inject.flavors()?;
        let mem = self.mem.settings()?;
        let (cpus, affinity_desc) = if self.no_affinity {
            (None, "none".to_string())
        } else if let Some(set) = &self.prod_affinity {
            let cpus = crate::cpuset::parse_cpuset(set, online)?;
            if cpus.len() < self.producers {
                return Err(format!(
                    "--prod-affinity {set} names {} CPUs for {} producers",
                    cpus.len(),
                    self.producers
                ));
            }
            let cpus: Vec<usize> = cpus[..self.producers].to_vec();
            let desc = crate::cpuset::format_cpuset(&cpus);
            (Some(cpus), desc)
        } else {
            let cpus: Vec<usize> = (0..self.producers)
                .map(|i| online[i % online.len()])
                .collect();
            (Some(cpus), crate::cpuset::format_cpuset(online))
        };
        Ok(Config {
            producers: self.producers,
            cpus,
            affinity_desc,
            warmup: self.warmup,
            duration: self.duration,
            use_case: self.use_case.clone(),
            value_size: self.value_size,
            max_entries,
            shape,
            flavors,
            rcu_gp_delay_us: self.rcu_gp.rcu_gp_delay_us,
            ttrace_gp_delay_us: self.ttrace_gp.ttrace_gp_delay_us,
            fault_batch_alloc: self.fault_batch_alloc,
            ttrace_implies_rcu: !self.ttrace_chain,
            rcu_readers: self.readers.rcu_readers,
            deferred_work: self.readers.deferred_work,
            memalloc: self.memalloc.memalloc,
            quiet: self.quiet,
            inject_slowdown_pct: self.inject.inject_slowdown,
            inject_flavors,
            mem,
        })
    }
}

impl RunArgs {
    /// The map capacity and the loop shape (`--max-entries`, `--rfc`, `--full`,
    /// `--loop-keys`).
    fn loop_shape(&self) -> Result<(u32, LoopShape), String> {
        if self.max_entries == Some(0) {
            return Err("--max-entries must be at least 1".into());
        }
        let p = self.producers as u64;
        if !self.rfc {
            if self.full.is_some() || self.loop_keys.is_some() {
                return Err("--full and --loop-keys size the RFC's loop: add --rfc".into());
            }
            let max = self.max_entries.unwrap_or((64 * p as u32).max(8192));
            return Ok((max, LoopShape::Merged));
        }
        if self.use_case == workloads::use_cases::LookupVerify::NAME {
            return Err(
                "--rfc: lookup_verify is this project's own use case, with no RFC shape".into(),
            );
        }
        let (max, live) = match (self.full, self.loop_keys) {
            (_, Some(0)) => return Err("--loop-keys must be at least 1".into()),
            (_, Some(k)) => {
                let live = k as u64 * p;
                let max = self.max_entries.map_or((2 * live).max(16384), u64::from);
                (max, live)
            }
            (full, None) => {
                let full = full.unwrap_or(RFC_FULL);
                if !(1..=100).contains(&full) {
                    return Err(format!("--full {full} is out of range (1..=100)"));
                }
                let max = self.max_entries.unwrap_or(RFC_MAX_ENTRIES) as u64;
                (max, max * full as u64 / 100)
            }
        };
        if live > max {
            return Err(format!(
                "--loop-keys: {live} live keys ({} per producer x {p}) do not fit in \
                 --max-entries {max}",
                live / p
            ));
        }
        if max > u32::MAX as u64 {
            return Err(format!("--max-entries {max} is above {}", u32::MAX));
        }
        if live < p {
            return Err(format!(
                "--rfc: {live} live keys for {p} producers leave some producers no key; \
                 raise --full or --max-entries"
            ));
        }
        Ok((max as u32, LoopShape::Rfc { live: live as u32 }))
    }
}

/// The RFC benchmark's defaults (`--max-entries 16384 --full 50`).
const RFC_MAX_ENTRIES: u32 = 16384;
const RFC_FULL: u32 = 50;

/// The kernel-model types as the words the CLI and result files use for them, so a plan
/// reads like the command line that made it.
mod as_text {
    use serde::{de::Error, Deserialize, Deserializer, Serializer};

    pub mod deferred {
        use super::*;
        use allocators::DeferredWork;
        pub fn serialize<S: Serializer>(v: &DeferredWork, s: S) -> Result<S::Ok, S::Error> {
            s.serialize_str(&v.label())
        }
        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DeferredWork, D::Error> {
            DeferredWork::parse(&String::deserialize(d)?).map_err(D::Error::custom)
        }
    }

    pub mod memalloc {
        use super::*;
        use allocators::MemallocGen;
        pub fn serialize<S: Serializer>(v: &MemallocGen, s: S) -> Result<S::Ok, S::Error> {
            s.serialize_str(v.name())
        }
        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<MemallocGen, D::Error> {
            let name = String::deserialize(d)?;
            MemallocGen::from_name(&name)
                .ok_or_else(|| D::Error::custom(format!("unknown memalloc '{name}'")))
        }
    }

    /// `null` for the merged loop, the live keys for the RFC's.
    pub mod shape {
        use super::*;
        use workloads::LoopShape;
        pub fn serialize<S: Serializer>(v: &LoopShape, s: S) -> Result<S::Ok, S::Error> {
            match v {
                LoopShape::Merged => s.serialize_none(),
                LoopShape::Rfc { live } => s.serialize_some(live),
            }
        }
        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<LoopShape, D::Error> {
            Ok(match Option::<u32>::deserialize(d)? {
                None => LoopShape::Merged,
                Some(live) => LoopShape::Rfc { live },
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    fn config(args: &[&str]) -> super::Config {
        let mut argv = vec!["htab-mem"];
        argv.extend_from_slice(args);
        crate::cli::Cli::try_parse_from(argv)
            .unwrap()
            .run
            .validate(&[0, 1])
            .unwrap()
    }

    #[test]
    fn the_slowdown_is_off_by_default_and_recorded_when_on() {
        let off = config(&[]);
        assert_eq!(off.inject_slowdown_pct, 0);
        assert_eq!(off.injected("prealloc"), None);
        let v = serde_json::to_value(off.run_config()).unwrap();
        assert!(v.get("inject").is_none(), "{v}");

        let all = config(&["--inject-slowdown", "15"]);
        assert_eq!(all.inject_flavors.len(), allocators::FLAVORS.len());
        assert_eq!(all.injected("prealloc"), Some(15));
        let one = config(&["--inject-slowdown", "15", "--inject-flavors", "free-rcu"]);
        assert_eq!(one.injected("prealloc"), None);
        assert!(one.injected("free-rcu").is_some());
        let v = serde_json::to_value(one.run_config()).unwrap();
        assert_eq!(
            v["inject"],
            serde_json::json!({"slowdown_pct": 15, "flavors": ["free-rcu"]})
        );
        // A plan from before the knob existed reads as off.
        let mut plan = serde_json::to_value(&one).unwrap();
        let o = plan.as_object_mut().unwrap();
        o.remove("inject_slowdown_pct");
        o.remove("inject_flavors");
        let old: super::Config = serde_json::from_value(plan).unwrap();
        assert_eq!(old.injected("free-rcu"), None);
    }
}
