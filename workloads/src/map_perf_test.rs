//! samples/bpf map_perf_test: the tests' maps and event bodies.
//!
//! In the sample every test is a BPF program attached to a syscall, and the user side makes
//! that syscall in a loop; one "event" is one program run. Here one event is the program's
//! body, run directly inside one RCU read-side section (a BPF program runs under
//! rcu_read_lock), with no syscall around it:
//!
//! | bit | test | one event |
//! |---|---|---|
//! | 0, 2 | HASH_PREALLOC, HASH_KMALLOC | 10 x {update(key = pid, 1, ANY); lookup; delete if found} |
//! | 1, 3 | PERCPU_HASH_PREALLOC, PERCPU_HASH_KMALLOC | the same on a per-CPU hash |
//! | 4, 5 | LRU_HASH_PREALLOC, NOCOMMON_LRU_HASH_PREALLOC | update(random u32 key, 1, ANY) on a 10000-entry LRU map |
//! | 6 | LPM_KMALLOC | 32 lookups of 192.168.0.1/32 in an LPM trie of 512 random prefixes + 192.168.0.1/32 |
//! | 7 | HASH_LOOKUP | 64 lookups of key 1 in test 0's map |
//! | 8 | ARRAY_LOOKUP | 64 lookups of key 1 in a 1000-entry array |
//! | 9 | INNER_LRU_HASH_PREALLOC | outer array lookup of the worker's inner LRU map, then update(random u32 key, 1, ANY) in it |
//! | 10 | LRU_HASH_LOOKUP | 32 lookups of consecutive keys in a filled LRU map |
//!
//! Modelling choices:
//! * "pid" is the worker's own key, `PID_BASE + worker` (the kernel's is the process's pid),
//!   so workers never share a key, as processes never share a pid.
//! * The per-CPU hash (PERCPU_HASH) keeps one value per CPU in the element: its value is
//!   `8 * nr_workers` bytes and an insert writes every CPU's slot (its own = 1, the others 0),
//!   as pcpu_init_value does. The kernel allocates that per-CPU area separately (pcpu_ma); here
//!   it is one allocation.
//! * Preallocated hash maps (tests 0, 1, 7) take their elements from [`PreallocFlavor`];
//!   the non-preallocated ones (2, 3) and the LPM trie (6) from the flavor the run is generic
//!   over (`-A`). LRU maps recycle their own preallocated elements; the array allocates
//!   nothing.
//! * The LPM trie is filled as the sample's fill_lpm_trie: 512 prefixes from glibc's `rand()`
//!   unseeded (seed 1, reproduced by [`GlibcRand`]), so the trie is the sample's own, then
//!   192.168.0.1/32 -> 128.
//! * The array of maps (test 9) holds one inner LRU map per worker (the sample's worker 0
//!   uses the statically defined inner map, the others create theirs; all have the inner
//!   map's max_entries, 1000, or MAX_ENTRIES if given, and a common LRU over all CPUs). An
//!   event looks up the worker's slot in the outer array, then updates through the worker's
//!   handle on the inner map it found.
//! * HASH_LOOKUP looks up key 1 in the map test 0 uses, as the sample does: nobody inserts
//!   key 1, so the lookups miss (the sample measures exactly that).

use std::hint::black_box;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::{Duration, Instant};

use allocators::{AllocConfig, AllocStats, Allocator, Env};
use rcu::ThreadHandle;

use crate::htab::{elem_size, HTab, MapCpu, UpdateFlag};
use crate::lpm_trie::{node_size, LpmKey, LpmTrie};
use crate::lru::{LruCpu, LruHTab};

/// The flavor the preallocated hash maps (tests 0, 1, 7) use.
///
/// The kernel's preallocated maps never use bpf_mem_alloc: they pop and push per-CPU free
/// lists of max_entries + nr_cpus elements allocated up front, which the `prealloc` flavor
/// models (capacity = the map's max_entries). This is the one place that names it.
pub type PreallocFlavor = allocators::Prealloc;

/// The flavor name a preallocated map implies (refused for tests 2 and 3).
pub const PREALLOC_NAME: &str = <PreallocFlavor as Allocator>::NAME;

/// MAX_ENTRIES of map_perf_test.bpf.c: the hash, per-CPU hash, array and lookup-LRU maps.
pub const MAX_ENTRIES: u32 = 1000;
/// max_entries of the two LRU maps of tests 4 and 5.
pub const LRU_MAX_ENTRIES: u32 = 10000;
/// lru_hash_lookup_test_entries: keys test 10 fills in and walks over (at least).
pub const LRU_LOOKUP_TEST_ENTRIES: u32 = 32;
/// max_cnt: events per process per test (10000 since the bpf_mem_alloc series; 1000000
/// before).
pub const DEFAULT_ITERATIONS: u32 = 10_000;
/// The first worker's "pid".
pub const PID_BASE: u32 = 1000;
/// Map operations per event of the hash tests (the programs' loop count).
pub const HASH_ROUNDS: u32 = 10;
/// Lookups per event of HASH_LOOKUP and ARRAY_LOOKUP.
pub const LOOKUPS_PER_EVENT: u32 = 64;
/// Lookups per event of LRU_HASH_LOOKUP.
pub const LRU_LOOKUPS_PER_EVENT: u32 = 32;
/// max_entries of lpm_trie_map_alloc.
pub const LPM_MAX_ENTRIES: u32 = 10000;
/// Random prefixes fill_lpm_trie stores before 192.168.0.1/32.
pub const LPM_FILL_PREFIXES: u32 = 512;
/// Trie lookups per event of LPM_KMALLOC (stress_lpm_trie_map_alloc's loop).
pub const LPM_LOOKUPS_PER_EVENT: u32 = 32;
/// The address every LPM_KMALLOC lookup asks for: 192.168.0.1 (/32).
pub const LPM_LOOKUP_ADDR: u32 = 0xc0a8_0001;
/// The value fill_lpm_trie stores for 192.168.0.1/32.
pub const LPM_LOOKUP_VALUE: u64 = 128;

/// NR_TESTS.
pub const NR_TESTS: u32 = 11;

/// enum test_type: the bit is the discriminant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Test {
    HashPrealloc = 0,
    PercpuHashPrealloc = 1,
    HashKmalloc = 2,
    PercpuHashKmalloc = 3,
    LruHashPrealloc = 4,
    NocommonLruHashPrealloc = 5,
    LpmKmalloc = 6,
    HashLookup = 7,
    ArrayLookup = 8,
    InnerLruHashPrealloc = 9,
    LruHashLookup = 10,
}

impl Test {
    /// In the order the sample runs them.
    pub const ALL: [Test; NR_TESTS as usize] = [
        Test::HashPrealloc,
        Test::PercpuHashPrealloc,
        Test::HashKmalloc,
        Test::PercpuHashKmalloc,
        Test::LruHashPrealloc,
        Test::NocommonLruHashPrealloc,
        Test::LpmKmalloc,
        Test::HashLookup,
        Test::ArrayLookup,
        Test::InnerLruHashPrealloc,
        Test::LruHashLookup,
    ];

    pub fn bit(self) -> u32 {
        self as u32
    }

    /// The sample's enum name.
    pub fn name(self) -> &'static str {
        match self {
            Test::HashPrealloc => "HASH_PREALLOC",
            Test::PercpuHashPrealloc => "PERCPU_HASH_PREALLOC",
            Test::HashKmalloc => "HASH_KMALLOC",
            Test::PercpuHashKmalloc => "PERCPU_HASH_KMALLOC",
            Test::LruHashPrealloc => "LRU_HASH_PREALLOC",
            Test::NocommonLruHashPrealloc => "NOCOMMON_LRU_HASH_PREALLOC",
            Test::LpmKmalloc => "LPM_KMALLOC",
            Test::HashLookup => "HASH_LOOKUP",
            Test::ArrayLookup => "ARRAY_LOOKUP",
            Test::InnerLruHashPrealloc => "INNER_LRU_HASH_PREALLOC",
            Test::LruHashLookup => "LRU_HASH_LOOKUP",
        }
    }

    /// Every test of the sample is (kept so that a test can be marked missing again).
    pub fn implemented(self) -> bool {
        true
    }

    /// Whether the test's map allocates from bpf_mem_alloc (BPF_F_NO_PREALLOC): only these
    /// use the flavor of `-A`.
    pub fn uses_mem_alloc(self) -> bool {
        matches!(
            self,
            Test::HashKmalloc | Test::PercpuHashKmalloc | Test::LpmKmalloc
        )
    }

    /// What the sample's line counts per event: lookups for HASH_LOOKUP and ARRAY_LOOKUP
    /// (`max_cnt * 1000000000ll * 64 / ns`), events otherwise.
    pub fn per_event(self) -> u64 {
        match self {
            Test::HashLookup | Test::ArrayLookup => LOOKUPS_PER_EVENT as u64,
            _ => 1,
        }
    }
}

/// The enabled tests of a flags bitmask, in order: 0 means every implemented test. An unknown
/// bit or a test this reproduction lacks is an error naming it.
pub fn tests_from_flags(flags: u32) -> Result<Vec<Test>, String> {
    if flags == 0 {
        return Ok(Test::ALL.into_iter().filter(|t| t.implemented()).collect());
    }
    if flags >> NR_TESTS != 0 {
        let bit = 31 - (flags >> NR_TESTS << NR_TESTS).leading_zeros();
        return Err(format!(
            "unknown test bit {bit} in flags {flags} (tests are bits 0..={})",
            NR_TESTS - 1
        ));
    }
    let tests: Vec<Test> = Test::ALL
        .into_iter()
        .filter(|t| flags & (1 << t.bit()) != 0)
        .collect();
    if let Some(t) = tests.iter().find(|t| !t.implemented()) {
        return Err(format!(
            "test {} ({}) is not implemented",
            t.bit(),
            t.name()
        ));
    }
    Ok(tests)
}

/// Checks an allocator flavor named with `-A` against the enabled tests. The kernel's
/// preallocated and LRU maps never use bpf_mem_alloc, so the flavor only reaches tests 2, 3
/// and 6: `prealloc` cannot serve them (they are BPF_F_NO_PREALLOC maps), and any other
/// flavor with none of them enabled would change nothing.
pub fn check_flavor(tests: &[Test], flavor: &str) -> Result<(), String> {
    let kmalloc: Vec<String> = tests
        .iter()
        .filter(|t| t.uses_mem_alloc())
        .map(|t| format!("{} ({})", t.bit(), t.name()))
        .collect();
    if flavor == PREALLOC_NAME {
        if let Some(t) = kmalloc.first() {
            return Err(format!(
                "flavor {PREALLOC_NAME} cannot serve test {t}: it is a BPF_F_NO_PREALLOC map, \
                 which allocates from bpf_mem_alloc"
            ));
        }
    } else if kmalloc.is_empty() {
        return Err(format!(
            "flavor {flavor} would not be used: only tests 2 (HASH_KMALLOC), 3 \
             (PERCPU_HASH_KMALLOC) and 6 (LPM_KMALLOC) allocate from bpf_mem_alloc, and none \
             is enabled"
        ));
    }
    Ok(())
}

/// One run's parameters, as the sample's positional arguments give them.
#[derive(Clone, Debug)]
pub struct Config {
    /// Enabled tests, in order.
    pub tests: Vec<Test>,
    /// Worker threads ("processes"); each plays CPU `i` of the maps.
    pub nr_workers: usize,
    /// max_entries for the enabled tests' maps; 0 keeps each map's own.
    pub num_map_entries: u32,
    /// Events per worker per test.
    pub iterations: u32,
}

impl Config {
    fn enabled(&self, t: Test) -> bool {
        self.tests.contains(&t)
    }

    /// fixup_map: the override applies to the maps of enabled tests only.
    fn entries(&self, default: u32, tests: &[Test]) -> u32 {
        if self.num_map_entries > 0 && tests.iter().any(|&t| self.enabled(t)) {
            self.num_map_entries
        } else {
            default
        }
    }
}

/// BPF_MAP_TYPE_ARRAY of longs: a lookup is a bounds check and an index.
pub struct ArrayMap {
    values: Box<[AtomicU64]>,
}

impl ArrayMap {
    pub fn new(max_entries: u32) -> Self {
        ArrayMap {
            values: (0..max_entries).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    #[inline]
    pub fn lookup(&self, key: u32) -> Option<&AtomicU64> {
        self.values.get(key as usize)
    }
}

/// The maps of one run: only those of enabled tests exist. `A` is the flavor of the
/// non-preallocated hash maps.
pub struct Maps<A: Allocator> {
    env: Env,
    nr_workers: usize,
    hash_map: Option<HTab<PreallocFlavor>>,
    percpu_hash_map: Option<HTab<PreallocFlavor>>,
    hash_map_alloc: Option<HTab<A>>,
    percpu_hash_map_alloc: Option<HTab<A>>,
    lru_hash_map: Option<LruHTab>,
    nocommon_lru_hash_map: Option<LruHTab>,
    array_map: Option<ArrayMap>,
    lru_hash_lookup_map: Option<LruHTab>,
    lru_lookup_entries: u32,
    lpm_trie_map_alloc: Option<LpmTrie<A>>,
    /// array_of_lru_hashs: slot i holds worker i's inner LRU map.
    array_of_lru_hashs: Option<Box<[LruHTab]>>,
}

/// glibc's `rand()` (the TYPE_3 additive feedback generator, r[i] = r[i-3] + r[i-31]) from
/// `srand(seed)`: what fill_lpm_trie draws, unseeded (seed 1).
pub struct GlibcRand {
    r: [u32; 34],
    i: usize,
}

impl GlibcRand {
    pub fn new(seed: u32) -> Self {
        let mut r = [0u32; 344];
        r[0] = if seed == 0 { 1 } else { seed };
        for i in 1..31 {
            let v = (16807 * r[i - 1] as i32 as i64) % 2_147_483_647;
            r[i] = if v < 0 { v + 2_147_483_647 } else { v } as u32;
        }
        for i in 31..34 {
            r[i] = r[i - 31];
        }
        for i in 34..344 {
            r[i] = r[i - 31].wrapping_add(r[i - 3]);
        }
        let mut ring = [0u32; 34];
        ring.copy_from_slice(&r[310..344]);
        GlibcRand { r: ring, i: 0 }
    }

    /// The next `rand()`, in 0..=RAND_MAX.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> u32 {
        // The ring holds the last 34 outputs: r[i-31] is 3 after the oldest, r[i-3] 31 after.
        let v = self.r[(self.i + 3) % 34].wrapping_add(self.r[(self.i + 31) % 34]);
        self.r[self.i] = v;
        self.i = (self.i + 1) % 34;
        v >> 1
    }
}

/// fill_lpm_trie's keys and values, in order: 512 random prefixes (value 0), then
/// 192.168.0.1/32 -> 128.
pub fn lpm_fill() -> Vec<(LpmKey, u64)> {
    let mut rng = GlibcRand::new(1);
    let mut out: Vec<(LpmKey, u64)> = (0..LPM_FILL_PREFIXES)
        .map(|_| {
            let pl = rng.next() % 33;
            let data = [0; 4].map(|_: u8| (rng.next() & 0xff) as u8);
            (LpmKey::new(pl, data).expect("prefixlen <= 32"), 0)
        })
        .collect();
    out.push((LpmKey::host(LPM_LOOKUP_ADDR), LPM_LOOKUP_VALUE));
    out
}

fn new_htab<B: Allocator>(env: &Env, max_entries: u32, value_size: usize, cpus: usize) -> HTab<B> {
    let cfg = AllocConfig::new(elem_size(value_size), cpus, env.clone())
        .with_capacity(max_entries as usize);
    HTab::new(
        Arc::new(B::new(&cfg)),
        env.rcu.clone(),
        max_entries,
        value_size,
        cpus,
    )
}

impl<A: Allocator> Maps<A> {
    /// Creates the enabled tests' maps and runs the sample's pre_test (filling test 10's
    /// map), on this thread.
    pub fn new(cfg: &Config, env: Env) -> Result<Self, String> {
        if let Some(t) = cfg.tests.iter().find(|t| !t.implemented()) {
            return Err(format!(
                "test {} ({}) is not implemented",
                t.bit(),
                t.name()
            ));
        }
        let w = cfg.nr_workers.max(1);
        // Hash maps: one allocator cache per worker plus one for teardown on this thread.
        // LRU maps: the workers' CPUs only (a per-CPU LRU gives every CPU a share).
        let cpus = w + 1;
        let on = |t: Test| cfg.enabled(t);
        let pcpu_value = 8 * w;
        let hash_entries = cfg.entries(MAX_ENTRIES, &[Test::HashPrealloc, Test::HashLookup]);
        let lookup_entries = cfg.entries(MAX_ENTRIES, &[Test::LruHashLookup]);
        let mut maps = Maps {
            hash_map: (on(Test::HashPrealloc) || on(Test::HashLookup))
                .then(|| new_htab(&env, hash_entries, 8, cpus)),
            percpu_hash_map: on(Test::PercpuHashPrealloc).then(|| {
                new_htab(
                    &env,
                    cfg.entries(MAX_ENTRIES, &[Test::PercpuHashPrealloc]),
                    pcpu_value,
                    cpus,
                )
            }),
            hash_map_alloc: on(Test::HashKmalloc).then(|| {
                new_htab(
                    &env,
                    cfg.entries(MAX_ENTRIES, &[Test::HashKmalloc]),
                    8,
                    cpus,
                )
            }),
            percpu_hash_map_alloc: on(Test::PercpuHashKmalloc).then(|| {
                new_htab(
                    &env,
                    cfg.entries(MAX_ENTRIES, &[Test::PercpuHashKmalloc]),
                    pcpu_value,
                    cpus,
                )
            }),
            lru_hash_map: on(Test::LruHashPrealloc).then(|| {
                let n = cfg.entries(LRU_MAX_ENTRIES, &[Test::LruHashPrealloc]);
                LruHTab::new(env.rcu.clone(), n, 8, w, false)
            }),
            nocommon_lru_hash_map: on(Test::NocommonLruHashPrealloc).then(|| {
                let n = cfg.entries(LRU_MAX_ENTRIES, &[Test::NocommonLruHashPrealloc]);
                LruHTab::new(env.rcu.clone(), n, 8, w, true)
            }),
            array_map: on(Test::ArrayLookup)
                .then(|| ArrayMap::new(cfg.entries(MAX_ENTRIES, &[Test::ArrayLookup]))),
            lru_hash_lookup_map: on(Test::LruHashLookup)
                .then(|| LruHTab::new(env.rcu.clone(), lookup_entries, 8, w, false)),
            lru_lookup_entries: LRU_LOOKUP_TEST_ENTRIES.max(cfg.num_map_entries),
            lpm_trie_map_alloc: on(Test::LpmKmalloc).then(|| {
                let n = cfg.entries(LPM_MAX_ENTRIES, &[Test::LpmKmalloc]);
                let acfg =
                    AllocConfig::new(node_size(8), cpus, env.clone()).with_capacity(n as usize);
                LpmTrie::new(Arc::new(A::new(&acfg)), env.rcu.clone(), n, 8)
            }),
            // fixup_map: MAX_ENTRIES, if given, sizes the inner maps whichever tests run.
            array_of_lru_hashs: on(Test::InnerLruHashPrealloc).then(|| {
                let n = if cfg.num_map_entries > 0 {
                    cfg.num_map_entries
                } else {
                    MAX_ENTRIES
                };
                (0..w)
                    .map(|_| LruHTab::new(env.rcu.clone(), n, 8, w, false))
                    .collect()
            }),
            env,
            nr_workers: w,
        };
        maps.pre_test()?;
        Ok(maps)
    }

    /// pre_test_lru_hash_lookup: keys 0..entries with NOEXIST, as CPU 0 before the workers
    /// start.
    fn pre_test(&mut self) -> Result<(), String> {
        if let Some(t) = &self.lpm_trie_map_alloc {
            // fill_lpm_trie, before the workers start, on the setup CPU.
            let mut c = t.cpu(self.nr_workers);
            for (key, value) in lpm_fill() {
                c.update(&key, &[value], UpdateFlag::Any)
                    .map_err(|e| format!("filling the LPM trie, {key:?}: {e:?}"))?;
            }
        }
        if let Some(m) = &self.lru_hash_lookup_map {
            let mut c = m.cpu(0);
            for key in 0..self.lru_lookup_entries {
                c.update(key, &[1], UpdateFlag::NoExist)
                    .map_err(|e| format!("filling the LRU lookup map, key {key}: {e:?}"))?;
            }
        }
        Ok(())
    }

    pub fn nr_workers(&self) -> usize {
        self.nr_workers
    }

    pub fn env(&self) -> &Env {
        &self.env
    }

    pub fn hash_map(&self) -> Option<&HTab<PreallocFlavor>> {
        self.hash_map.as_ref()
    }
    pub fn percpu_hash_map(&self) -> Option<&HTab<PreallocFlavor>> {
        self.percpu_hash_map.as_ref()
    }
    pub fn hash_map_alloc(&self) -> Option<&HTab<A>> {
        self.hash_map_alloc.as_ref()
    }
    pub fn percpu_hash_map_alloc(&self) -> Option<&HTab<A>> {
        self.percpu_hash_map_alloc.as_ref()
    }
    pub fn lru_hash_map(&self) -> Option<&LruHTab> {
        self.lru_hash_map.as_ref()
    }
    pub fn nocommon_lru_hash_map(&self) -> Option<&LruHTab> {
        self.nocommon_lru_hash_map.as_ref()
    }
    pub fn lru_hash_lookup_map(&self) -> Option<&LruHTab> {
        self.lru_hash_lookup_map.as_ref()
    }
    pub fn lpm_trie_map_alloc(&self) -> Option<&LpmTrie<A>> {
        self.lpm_trie_map_alloc.as_ref()
    }
    /// bpf_map_lookup_elem on array_of_lru_hashs: worker `cpu`'s inner map.
    pub fn array_of_lru_hashs(&self, cpu: usize) -> Option<&LruHTab> {
        self.array_of_lru_hashs.as_ref()?.get(cpu)
    }

    /// Worker `idx`'s handles on every map. Call on the worker's own thread.
    pub fn worker(&self, idx: usize) -> Worker<'_, A> {
        assert!(idx < self.nr_workers, "worker {idx} of {}", self.nr_workers);
        let mut percpu_value = vec![0; self.nr_workers];
        percpu_value[idx] = 1;
        Worker {
            pid: PID_BASE + idx as u32,
            rcu: self.env.rcu.register(),
            hash_map: self.hash_map.as_ref().map(|m| m.cpu(idx)),
            percpu_hash_map: self.percpu_hash_map.as_ref().map(|m| m.cpu(idx)),
            hash_map_alloc: self.hash_map_alloc.as_ref().map(|m| m.cpu(idx)),
            percpu_hash_map_alloc: self.percpu_hash_map_alloc.as_ref().map(|m| m.cpu(idx)),
            lru_hash_map: self.lru_hash_map.as_ref().map(|m| m.cpu(idx)),
            nocommon_lru_hash_map: self.nocommon_lru_hash_map.as_ref().map(|m| m.cpu(idx)),
            array_map: self.array_map.as_ref(),
            lru_hash_lookup_map: self.lru_hash_lookup_map.as_ref().map(|m| m.cpu(idx)),
            lru_lookup_entries: self.lru_lookup_entries,
            lpm_trie_map_alloc: self.lpm_trie_map_alloc.as_ref(),
            array_of_lru_hashs: self.array_of_lru_hashs.as_deref(),
            inner_lru: self.array_of_lru_hashs.as_ref().map(|a| a[idx].cpu(idx)),
            lookup_key: 0,
            percpu_value,
            rng: splitmix(idx as u64 + 1),
        }
    }

    /// Frees every hash map's elements, waits for the RCU callbacks and drains the
    /// allocators; `Err` names the allocator that leaked. Call after every worker is gone.
    pub fn teardown(self) -> Result<(), String> {
        let cpu = self.nr_workers;
        let mut drained: Vec<(&'static str, AllocStats)> = Vec::new();
        fn finish<B: Allocator>(
            m: Option<HTab<B>>,
            cpu: usize,
            out: &mut Vec<(&'static str, AllocStats)>,
        ) {
            if let Some(m) = m {
                m.cpu(cpu).clear();
                let alloc = m.allocator().clone();
                drop(m);
                out.push((B::NAME, alloc.drain()));
            }
        }
        finish(self.hash_map, cpu, &mut drained);
        finish(self.percpu_hash_map, cpu, &mut drained);
        finish(self.hash_map_alloc, cpu, &mut drained);
        finish(self.percpu_hash_map_alloc, cpu, &mut drained);
        if let Some(t) = self.lpm_trie_map_alloc {
            t.cpu(cpu).clear();
            let alloc = t.allocator().clone();
            drop(t);
            drained.push((A::NAME, alloc.drain()));
        }
        if let Some(f) = self
            .env
            .rcu
            .failure()
            .or_else(|| self.env.tasks_trace.failure())
        {
            return Err(f);
        }
        match drained.iter().find(|(_, s)| s.leaked != 0) {
            Some((name, s)) => Err(format!(
                "{name}: {} objects were never returned to the slab",
                s.leaked
            )),
            None => Ok(()),
        }
    }
}

/// One worker's ("process's") handles on the maps and its per-test state.
pub struct Worker<'m, A: Allocator> {
    pid: u32,
    rcu: ThreadHandle,
    hash_map: Option<MapCpu<'m, PreallocFlavor>>,
    percpu_hash_map: Option<MapCpu<'m, PreallocFlavor>>,
    hash_map_alloc: Option<MapCpu<'m, A>>,
    percpu_hash_map_alloc: Option<MapCpu<'m, A>>,
    lru_hash_map: Option<LruCpu<'m>>,
    nocommon_lru_hash_map: Option<LruCpu<'m>>,
    array_map: Option<&'m ArrayMap>,
    lru_hash_lookup_map: Option<LruCpu<'m>>,
    lru_lookup_entries: u32,
    lpm_trie_map_alloc: Option<&'m LpmTrie<A>>,
    array_of_lru_hashs: Option<&'m [LruHTab]>,
    /// This worker's handle on its inner LRU map (test 9).
    inner_lru: Option<LruCpu<'m>>,
    /// in6.sin6_addr.s6_addr32[3] of the sample: test 10's first key.
    lookup_key: u32,
    /// This worker's slot = 1, the other CPUs' = 0.
    percpu_value: Vec<u64>,
    /// bpf_get_prandom_u32's per-CPU state.
    rng: u64,
}

fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn missing(t: Test) -> ! {
    panic!("the map of test {} ({}) was not created", t.bit(), t.name())
}

/// stress_hmap and friends: 10 x {update(pid, ANY); lookup; delete if found}.
#[inline]
fn hash_events<B: Allocator>(
    m: &mut MapCpu<'_, B>,
    rcu: &ThreadHandle,
    pid: u32,
    value: &[u64],
    n: u32,
) {
    for _ in 0..n {
        {
            let g = rcu.read_lock();
            for _ in 0..HASH_ROUNDS {
                // Errors are ignored, as the BPF program ignores them.
                let _ = m.update(pid, value, UpdateFlag::Any);
                let found = m.map().lookup(&g, pid).is_some();
                if black_box(found) {
                    let _ = m.delete(pid);
                }
            }
        }
        // Back from the program (the syscall that triggered it returns): a quiescent state.
        rcu.quiescent();
    }
}

/// bpf_get_prandom_u32's role: xorshift64*, upper half.
#[inline]
fn prandom_u32(rng: &mut u64) -> u32 {
    *rng ^= *rng >> 12;
    *rng ^= *rng << 25;
    *rng ^= *rng >> 27;
    (rng.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 32) as u32
}

/// stress_lru_hmap_alloc, test cases 0 and 1: one update of a random key.
#[inline]
fn lru_events(m: &mut LruCpu<'_>, rcu: &ThreadHandle, rng: &mut u64, n: u32) {
    for _ in 0..n {
        {
            let _g = rcu.read_lock();
            let key = prandom_u32(rng);
            let _ = m.update(key, &[1], UpdateFlag::Any);
        }
        rcu.quiescent();
    }
}

impl<'m, A: Allocator> Worker<'m, A> {
    /// The key the hash tests use (the sample's pid).
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Runs `iterations` events of `t` and returns how long they took.
    pub fn run(&mut self, t: Test, iterations: u32) -> Duration {
        let rcu = &self.rcu;
        let pid = self.pid;
        let t0 = Instant::now();
        match t {
            Test::HashPrealloc => {
                let m = self.hash_map.as_mut().unwrap_or_else(|| missing(t));
                hash_events(m, rcu, pid, &[1], iterations);
            }
            Test::PercpuHashPrealloc => {
                let m = self.percpu_hash_map.as_mut().unwrap_or_else(|| missing(t));
                hash_events(m, rcu, pid, &self.percpu_value, iterations);
            }
            Test::HashKmalloc => {
                let m = self.hash_map_alloc.as_mut().unwrap_or_else(|| missing(t));
                hash_events(m, rcu, pid, &[1], iterations);
            }
            Test::PercpuHashKmalloc => {
                let m = self
                    .percpu_hash_map_alloc
                    .as_mut()
                    .unwrap_or_else(|| missing(t));
                hash_events(m, rcu, pid, &self.percpu_value, iterations);
            }
            Test::LruHashPrealloc => {
                let m = self.lru_hash_map.as_mut().unwrap_or_else(|| missing(t));
                lru_events(m, rcu, &mut self.rng, iterations);
            }
            Test::NocommonLruHashPrealloc => {
                let m = self
                    .nocommon_lru_hash_map
                    .as_mut()
                    .unwrap_or_else(|| missing(t));
                lru_events(m, rcu, &mut self.rng, iterations);
            }
            Test::HashLookup => {
                let m = self.hash_map.as_ref().unwrap_or_else(|| missing(t)).map();
                for _ in 0..iterations {
                    let g = rcu.read_lock();
                    for _ in 0..LOOKUPS_PER_EVENT {
                        black_box(m.lookup(&g, black_box(1)).is_some());
                    }
                }
            }
            Test::ArrayLookup => {
                let m = self.array_map.unwrap_or_else(|| missing(t));
                for _ in 0..iterations {
                    let _g = rcu.read_lock();
                    for _ in 0..LOOKUPS_PER_EVENT {
                        black_box(m.lookup(black_box(1)));
                    }
                }
            }
            Test::LruHashLookup => {
                let m = self
                    .lru_hash_lookup_map
                    .as_ref()
                    .unwrap_or_else(|| missing(t))
                    .map();
                let entries = self.lru_lookup_entries;
                for _ in 0..iterations {
                    let g = rcu.read_lock();
                    let key = self.lookup_key;
                    for j in 0..LRU_LOOKUPS_PER_EVENT {
                        black_box(m.lookup(&g, key.wrapping_add(j)).is_some());
                    }
                    drop(g);
                    // The sample's user side walks the keys 32 at a time, then wraps.
                    self.lookup_key = if key < entries - LRU_LOOKUPS_PER_EVENT {
                        key + LRU_LOOKUPS_PER_EVENT
                    } else {
                        0
                    };
                }
            }
            Test::LpmKmalloc => {
                let m = self.lpm_trie_map_alloc.unwrap_or_else(|| missing(t));
                let key = LpmKey::host(LPM_LOOKUP_ADDR);
                for _ in 0..iterations {
                    let g = rcu.read_lock();
                    for _ in 0..LPM_LOOKUPS_PER_EVENT {
                        black_box(m.lookup(&g, black_box(&key)).is_some());
                    }
                }
            }
            Test::InnerLruHashPrealloc => {
                let outer = self.array_of_lru_hashs.unwrap_or_else(|| missing(t));
                let m = self.inner_lru.as_mut().unwrap_or_else(|| missing(t));
                let cpu = (self.pid - PID_BASE) as usize;
                for _ in 0..iterations {
                    {
                        let _g = rcu.read_lock();
                        let key = prandom_u32(&mut self.rng);
                        // stress_lru_hmap_alloc, test case 2: the map at the CPU's slot.
                        match outer.get(black_box(cpu)) {
                            Some(inner) if std::ptr::eq(inner, m.map()) => {
                                let _ = m.update(key, &[1], UpdateFlag::Any);
                            }
                            _ => {} // -ENOENT, as the program's
                        }
                    }
                    rcu.quiescent();
                }
            }
        }
        t0.elapsed()
    }

    /// One event of `t`.
    pub fn event(&mut self, t: Test) {
        self.run(t, 1);
    }
}

/// The sample's figure: `iterations * 1e9 / ns` events per second (x64 for the lookup tests'
/// lookups per second), in integer arithmetic as the sample's `long long`.
pub fn per_sec(t: Test, iterations: u32, elapsed: Duration) -> u64 {
    let ns = elapsed.as_nanos().max(1);
    (iterations as u128 * 1_000_000_000 * t.per_event() as u128 / ns) as u64
}
