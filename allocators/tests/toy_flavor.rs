//! A flavor defined outside the crate and registered with one line: the registry that
//! generates `FLAVORS` and `with_flavor` also builds one holding this toy and a real flavor.
//! docs/adding-a-flavor.md walks through the same code.

use std::alloc::{alloc, dealloc, Layout};
use std::collections::HashSet;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use allocators::{
    with_flavor, AllocConfig, AllocStats, Allocator, Cache, Env, FlavorVisitor, HoldStats,
    ImmediateReuse, FLAVORS,
};

/// `toy-freelist`: each CPU keeps a LIFO list of freed objects and takes new ones from the
/// system allocator. Like immediate-reuse, a freed object may be handed out again at once,
/// but its memory stays valid until `drain`, so an RCU reader never touches freed memory.
pub struct Toy {
    layout: Layout,
    /// Lists of dropped caches, for drain.
    parked: Mutex<Vec<Objs>>,
    from_slab: AtomicU64,
    to_slab: AtomicU64,
    in_use: AtomicI64,
    cached: AtomicI64,
}

/// Objects owned by whoever holds this value.
struct Objs(Vec<NonNull<u8>>);

// SAFETY: the pointers are to system-allocator blocks that only the holder of `Objs` uses;
// nothing ties them to a thread.
unsafe impl Send for Objs {}

pub struct ToyCache {
    toy: Arc<Toy>,
    free: Objs,
}

impl Allocator for Toy {
    type Cache = ToyCache;
    const NAME: &'static str = "toy-freelist";
    const REUSE_AFTER_GP: bool = false;

    fn new(cfg: &AllocConfig) -> Self {
        Toy {
            layout: Layout::from_size_align(cfg.obj_size.max(1), 8).unwrap(),
            parked: Mutex::new(Vec::new()),
            from_slab: AtomicU64::new(0),
            to_slab: AtomicU64::new(0),
            in_use: AtomicI64::new(0),
            cached: AtomicI64::new(0),
        }
    }

    fn cache(self: &Arc<Self>, _cpu: usize) -> ToyCache {
        ToyCache {
            toy: self.clone(),
            free: Objs(Vec::new()),
        }
    }

    fn stats(&self) -> AllocStats {
        AllocStats {
            from_slab: self.from_slab.load(Ordering::Relaxed),
            to_slab: self.to_slab.load(Ordering::Relaxed),
            in_use: self.in_use.load(Ordering::Relaxed),
            cached: self.cached.load(Ordering::Relaxed),
            ..AllocStats::default()
        }
    }

    fn hold_stats(&self) -> HoldStats {
        HoldStats::default()
    }

    fn unit_size(&self) -> usize {
        self.layout.size()
    }

    fn drain(&self) -> AllocStats {
        for objs in std::mem::take(&mut *self.parked.lock().unwrap()) {
            for p in objs.0 {
                // SAFETY: `p` came from `alloc` with this layout; its cache was dropped, so
                // the parked list owned it and nobody else does.
                unsafe { dealloc(p.as_ptr(), self.layout) };
                self.to_slab.fetch_add(1, Ordering::Relaxed);
                self.cached.fetch_sub(1, Ordering::Relaxed);
            }
        }
        let mut s = self.stats();
        s.leaked = (s.from_slab - s.to_slab) as i64;
        s
    }
}

impl Cache for ToyCache {
    fn alloc(&mut self) -> Option<NonNull<u8>> {
        let p = match self.free.0.pop() {
            Some(p) => {
                self.toy.cached.fetch_sub(1, Ordering::Relaxed);
                p
            }
            None => {
                // SAFETY: the layout's size is at least 1.
                let p = NonNull::new(unsafe { alloc(self.toy.layout) })?;
                self.toy.from_slab.fetch_add(1, Ordering::Relaxed);
                p
            }
        };
        self.toy.in_use.fetch_add(1, Ordering::Relaxed);
        Some(p)
    }

    unsafe fn free(&mut self, obj: NonNull<u8>) {
        self.toy.in_use.fetch_sub(1, Ordering::Relaxed);
        self.toy.cached.fetch_add(1, Ordering::Relaxed);
        self.free.0.push(obj);
    }
}

impl Drop for ToyCache {
    fn drop(&mut self) {
        let objs = std::mem::replace(&mut self.free, Objs(Vec::new()));
        self.toy.parked.lock().unwrap().push(objs);
    }
}

// The registration: the toy is the one line `Toy,`.
allocators::registry! {
    const TOY_FLAVORS;
    fn with_toy_flavor<V: FlavorVisitor>;
    Allocator {
        Toy,
        ImmediateReuse,
    }
}

/// Which type the dispatch chose.
struct NameOf;

impl FlavorVisitor for NameOf {
    type Output = &'static str;
    fn visit<A: Allocator>(self) -> &'static str {
        A::NAME
    }
}

/// Allocates `n` objects, checks they are distinct, aligned and hold what was written, frees
/// them, checks the next allocation reuses the last one freed when `A` reuses at once, and
/// returns the stats of `drain`.
struct RoundTrip {
    n: usize,
}

impl FlavorVisitor for RoundTrip {
    type Output = AllocStats;
    fn visit<A: Allocator>(self) -> AllocStats {
        let a = Arc::new(A::new(&AllocConfig::new(24, 1, Env::default())));
        {
            let mut c = a.cache(0);
            let objs: Vec<NonNull<u8>> = (0..self.n).map(|_| c.alloc().unwrap()).collect();
            let distinct: HashSet<usize> = objs.iter().map(|p| p.as_ptr() as usize).collect();
            assert_eq!(
                distinct.len(),
                self.n,
                "{}: an object handed out twice",
                A::NAME
            );
            for (i, p) in objs.iter().enumerate() {
                assert_eq!(p.as_ptr() as usize % 8, 0, "{}", A::NAME);
                // SAFETY: a live 24-byte, 8-aligned object of ours.
                unsafe { p.cast::<[u64; 3]>().write([i as u64; 3]) };
            }
            assert_eq!(a.stats().in_use, self.n as i64, "{}", A::NAME);
            for (i, p) in objs.iter().enumerate() {
                // SAFETY: written above and not freed yet.
                assert_eq!(unsafe { p.cast::<[u64; 3]>().read() }, [i as u64; 3]);
                // SAFETY: allocated by this cache and freed once.
                unsafe { c.free(*p) };
            }
            assert_eq!(a.stats().in_use, 0, "{}", A::NAME);
            if !A::REUSE_AFTER_GP {
                let p = c.alloc().unwrap();
                assert_eq!(p, *objs.last().unwrap(), "{}: not reused at once", A::NAME);
                // SAFETY: allocated just above, freed once.
                unsafe { c.free(p) };
            }
        }
        a.drain()
    }
}

#[test]
fn the_registry_lists_its_entries_in_order() {
    assert_eq!(TOY_FLAVORS, ["toy-freelist", "immediate-reuse"]);
    // The crate's own registry keeps the order tables list the flavors in.
    assert_eq!(
        FLAVORS,
        [
            "malloc-call-rcu",
            "immediate-reuse",
            "reuse-after-gp",
            "free-after-gp",
            "call-rcu-free",
            "free-rcu",
            "prealloc",
        ]
    );
}

#[test]
fn dispatch_by_name_finds_each_entry_and_nothing_else() {
    for &name in TOY_FLAVORS {
        assert_eq!(with_toy_flavor(name, NameOf), Some(name));
    }
    for &name in FLAVORS {
        assert_eq!(with_flavor(name, NameOf), Some(name));
    }
    assert_eq!(with_toy_flavor("no-such-flavor", NameOf), None);
    // Each registry knows only its own entries.
    assert_eq!(with_flavor(Toy::NAME, NameOf), None);
    assert_eq!(with_toy_flavor("free-rcu", NameOf), None);
}

#[test]
fn the_toy_allocates_and_frees_correctly() {
    let s = with_toy_flavor(Toy::NAME, RoundTrip { n: 100 }).unwrap();
    assert_eq!(s.from_slab, 100);
    assert_eq!(s.to_slab, 100);
    assert_eq!((s.in_use, s.cached, s.leaked), (0, 0, 0));
}

#[test]
fn the_real_flavor_runs_through_the_same_registry() {
    let s = with_toy_flavor(ImmediateReuse::NAME, RoundTrip { n: 100 }).unwrap();
    assert_eq!((s.in_use, s.leaked), (0, 0), "{s:?}");
    assert_eq!(s.from_slab, s.to_slab);
}
