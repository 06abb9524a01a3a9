//! `kvfree_rcu`: pointers freed after a grace period, batched per thread into page-sized blocks
//! (kernel/rcu/tree.c's `kfree_rcu_cpu`, seeds 002, 003 and 004).
//!
//! * Each registered thread fills 4 KiB blocks of pointers; every block carries the
//!   grace-period cookie (`get_state`) of its newest pointer. The thread keeps a cache of
//!   pre-allocated blocks (the kernel's `rcu_min_cached_objs`, 5) so that freeing does not
//!   need memory; when no block can be had it falls back to a list threaded through the
//!   objects (`kvfree_rcu_headed`) or, for headless objects, an inline `synchronize()`.
//! * A monitor thread wakes every drain period (`KFREE_DRAIN_JIFFIES`, 20 ms) or one jiffy
//!   after a block fills, and detaches each thread's blocks into a batch for the reclaim
//!   worker; at most `KFREE_N_BATCHES` batches per thread are in flight, the rest waits in the
//!   thread's list.
//! * [`ReclaimMode::Batched`] is the kernel before seed 002: a detached batch waits for a full
//!   grace period from its detach time, then all of it is freed.
//!   [`ReclaimMode::Polled`] is seed 002: the monitor first reclaims, from the oldest end, every
//!   block whose own cookie has completed (`poll_state`), and the worker does the same with a
//!   detached batch before asking for one more grace period only for what remains.
//! * Blocks whose grace period has passed go back to the thread that queued them, which frees
//!   one per `kvfree_rcu` call: the kernel's reclaim work runs on the queueing CPU, so the
//!   slab's per-CPU caches take the objects back (with glibc, frees from another thread cost
//!   the allocating thread its tcache hits). The monitor frees them for an idle or exited
//!   thread, and `drain` frees them all.

use std::alloc::{self, Layout};
use std::marker::PhantomData;
use std::mem::MaybeUninit;
use std::ptr::{self, NonNull};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use crate::domain::Domain;

/// Frees one object queued with `kvfree_rcu`; receives the pointer that was queued.
pub type FreeFn = unsafe fn(*mut u8);

/// Bytes of one block, header included (the kernel's page).
pub const BLOCK_BYTES: usize = 4096;
/// Pointers per block: a page minus the header, as `KVFREE_BULK_MAX_ENTR`.
pub const BLOCK_SLOTS: usize = (BLOCK_BYTES - 4 * 8) / 8;
/// Batches one thread may have in flight to the reclaim worker (`KFREE_N_BATCHES`).
pub const KFREE_N_BATCHES: usize = 2;
/// Pre-allocated blocks per thread by default (`rcu_min_cached_objs`).
pub const DEFAULT_CACHED_BLOCKS: usize = 5;
/// How long after a block fills the monitor runs: one jiffy at HZ=1000 (the kernel schedules
/// the monitor with a 1-jiffy delay when a page is full).
pub const FULL_BLOCK_DELAY: Duration = Duration::from_millis(1);
/// Monitor period by default (`KFREE_DRAIN_JIFFIES` = HZ/50).
pub const DEFAULT_DRAIN_PERIOD: Duration = Duration::from_millis(20);

/// One block of pointers (`kvfree_rcu_bulk_data`). All pointers of a block share one free
/// function, as the kernel's channels share kfree or vfree.
#[repr(C)]
struct Block {
    /// Towards older blocks.
    next: *mut Block,
    /// `get_state` at the newest pointer: once done, every pointer here may be freed.
    cookie: u64,
    count: usize,
    free: FreeFn,
    slots: [MaybeUninit<*mut u8>; BLOCK_SLOTS],
}

const _: () = assert!(std::mem::size_of::<Block>() == BLOCK_BYTES);

/// What a block charges the memcg: its page.
const BLOCK_CHARGE: usize = memcg::kmalloc_size(BLOCK_BYTES);

/// The link a headed object embeds (the kernel's `rcu_head` as `kvfree_rcu(ptr, rh)` uses
/// it): when no block can be had, the object waits on a list threaded through these.
#[repr(C)]
#[derive(Debug)]
pub struct KfreeHead {
    next: *mut KfreeHead,
    obj: *mut u8,
    free: Option<FreeFn>,
}

impl KfreeHead {
    pub const fn new() -> Self {
        KfreeHead {
            next: ptr::null_mut(),
            obj: ptr::null_mut(),
            free: None,
        }
    }
}

impl Default for KfreeHead {
    fn default() -> Self {
        Self::new()
    }
}

/// How detached batches are reclaimed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReclaimMode {
    /// A detached batch waits for a full grace period from its detach time, then is freed
    /// whole (the kernel before seed 002: `queue_rcu_work`).
    Batched,
    /// Blocks whose own cookie has completed are freed at once, oldest first; one more grace
    /// period is requested only for the rest (seed 002).
    Polled,
}

/// How a [`KfreeRcu`] behaves. `Default` is the kernel's: polled, 20 ms, 5 cached blocks.
#[derive(Clone, Debug)]
pub struct KfreeConfig {
    pub mode: ReclaimMode,
    /// The monitor's period; it also runs whenever a block fills.
    pub drain_period: Duration,
    /// Blocks each thread pre-allocates and keeps for later use.
    pub cached_blocks: usize,
    /// Fault injection (`--fail-alloc`): some allocations of a new block fail, as the
    /// kernel's `__get_free_page(GFP_NOWAIT | __GFP_NOWARN)` does under memory pressure, so
    /// the fallbacks run. The pre-allocation at `register` is never failed by it.
    pub fail_alloc: Option<memcg::FailAlloc>,
}

impl Default for KfreeConfig {
    fn default() -> Self {
        KfreeConfig {
            mode: ReclaimMode::Polled,
            drain_period: DEFAULT_DRAIN_PERIOD,
            cached_blocks: DEFAULT_CACHED_BLOCKS,
            fail_alloc: None,
        }
    }
}

/// Counters of one [`KfreeRcu`] (all threads, past and present).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KfreeStats {
    /// Blocks taken from and given back to the system allocator.
    pub blocks_allocated: u64,
    pub blocks_freed: u64,
    /// Blocks sitting in the threads' caches now.
    pub blocks_cached: u64,
    /// Pointers that went into blocks.
    pub pointers_batched: u64,
    /// No block could be had: objects put on the headed list, and headless objects freed
    /// after an inline `synchronize()`.
    pub fallback_list: u64,
    pub fallback_sync: u64,
    /// Objects freed from blocks and lists (inline-synchronize ones not included).
    pub objects_freed: u64,
    /// Blocks freed by the monitor because their own grace period had already passed.
    pub blocks_reclaimed_early: u64,
    /// Batches handed to the reclaim worker.
    pub batches: u64,
    /// Grace periods the domain completed since this `KfreeRcu` was made (all users').
    pub grace_periods: u64,
    /// Objects queued and not yet freed.
    pub pending: u64,
}

/// Counters shared by the threads' records and the workers.
#[derive(Default)]
struct Counters {
    blocks_allocated: AtomicU64,
    blocks_freed: AtomicU64,
    objects_freed: AtomicU64,
    blocks_reclaimed_early: AtomicU64,
    batches: AtomicU64,
    /// Per-thread counters of records already retired.
    retired_batched: AtomicU64,
    retired_list: AtomicU64,
    retired_sync: AtomicU64,
}

impl Counters {
    /// A new block, charged to the process's memcg (a page): null when the charge is refused
    /// at the limit, as the kernel's page allocation for a block fails under memory pressure
    /// (it asks with `__GFP_NORETRY | __GFP_NOWARN`, so it fails rather than reclaim).
    fn alloc_block(&self) -> *mut Block {
        if !memcg::try_charge(BLOCK_CHARGE) {
            return ptr::null_mut();
        }
        // SAFETY: Block has a non-zero size.
        let b = unsafe { alloc::alloc(Layout::new::<Block>()) } as *mut Block;
        if b.is_null() {
            memcg::uncharge(BLOCK_CHARGE);
        } else {
            self.blocks_allocated.fetch_add(1, Ordering::Relaxed);
        }
        b
    }

    /// # Safety
    /// `b` is a non-null block that came from `alloc_block` and is not used again.
    unsafe fn free_block(&self, b: *mut Block) {
        // SAFETY: `alloc_block` got `b` from the global allocator with this same layout,
        // `Layout::new::<Block>()`, it is non-null, and nothing uses it after this call.
        unsafe { alloc::dealloc(b as *mut u8, Layout::new::<Block>()) };
        memcg::uncharge(BLOCK_CHARGE);
        self.blocks_freed.fetch_add(1, Ordering::Relaxed);
    }
}

/// One thread's state (`kfree_rcu_cpu`), shared with the monitor and the worker.
struct Krc {
    inner: Mutex<KrcInner>,
    /// Batches of this thread at the worker.
    in_flight: AtomicUsize,
    dead: AtomicBool,
    counters: Arc<Counters>,
}

struct KrcInner {
    /// Blocks, newest (the one being filled) first; cookies never grow towards the tail.
    bulk: *mut Block,
    /// The fallback list of headed objects and the cookie of its newest entry.
    head: *mut KfreeHead,
    head_cookie: u64,
    /// Blocks past their grace period, left for the owner to free: the kernel's reclaim work
    /// runs on the CPU that queued the pointers (per-CPU workqueues), where the slab's
    /// per-CPU caches take the objects back. The owner frees one per `kvfree_rcu` call; the
    /// monitor frees them for an owner that has gone idle or exited.
    ready: *mut Block,
    /// `batched` at the monitor's last pass: unchanged means the owner was idle since.
    seen_batched: u64,
    /// Pre-allocated empty blocks, linked through `next`.
    cache: *mut Block,
    nr_cached: usize,
    max_cached: usize,
    batched: u64,
    fallback_list: u64,
    fallback_sync: u64,
    /// The failure injector's stream for this thread, and its block allocations so far.
    stream: u64,
    block_attempts: u64,
}

// SAFETY: the raw pointers are owned blocks and queued objects, handed between threads only
// under the mutex or whole inside a batch.
unsafe impl Send for KrcInner {}

impl KrcInner {
    fn take_cached(&mut self) -> *mut Block {
        let b = self.cache;
        if !b.is_null() {
            // SAFETY: cached blocks are valid and owned by this list.
            self.cache = unsafe { (*b).next };
            self.nr_cached -= 1;
        }
        b
    }

    /// Unlinks the oldest blocks whose cookie `done` accepts and returns them (oldest last).
    fn cut_ready(&mut self, done: impl Fn(u64) -> bool) -> *mut Block {
        cut_ready(&mut self.bulk, done)
    }
}

/// Splits off the ready tail of a newest-first block list: since cookies never grow towards
/// the tail, the first ready block from the head starts it.
fn cut_ready(list: &mut *mut Block, done: impl Fn(u64) -> bool) -> *mut Block {
    let mut link: *mut *mut Block = list;
    // SAFETY: every block on the list is valid and owned by it; `link` points at the list head
    // or at a `next` field of one of its blocks.
    unsafe {
        while !(*link).is_null() {
            if done((**link).cookie) {
                let ready = *link;
                *link = ptr::null_mut();
                return ready;
            }
            link = ptr::addr_of_mut!((**link).next);
        }
    }
    ptr::null_mut()
}

impl Krc {
    /// Frees the objects of a block list, then puts the blocks back in the cache (up to its
    /// limit) or gives them back to the system.
    ///
    /// # Safety
    /// `b` is null or the first block of a list of this `Krc`'s blocks (from `alloc_block`,
    /// filled by `enqueue_locked`, linked through `next`) that is detached: reachable from no
    /// list, batch or cache, so the caller hands it over whole. Every object on it is past its
    /// grace period.
    unsafe fn reclaim_blocks(&self, mut b: *mut Block) -> u64 {
        let mut objects = 0;
        let mut emptied: *mut Block = ptr::null_mut();
        while !b.is_null() {
            // SAFETY: `b` is a non-null block of the detached list we were handed: valid, and
            // read or written by no one else.
            let next = unsafe { (*b).next };
            // SAFETY: as above.
            let free = unsafe { (*b).free };
            // SAFETY: as above; this shared borrow ends with the loop below, before `b` is
            // written.
            let blk = unsafe { &*b };
            for s in &blk.slots[..blk.count] {
                // SAFETY: `enqueue_locked` writes a slot before raising `count` past it, so the
                // first `count` are initialised. Each holds a pointer queued once with this
                // block's `free` (a block only takes pointers of its own `free`), for which
                // `kvfree_rcu_raw`'s contract makes `free(ptr)` sound from any thread once no
                // new reader can reach it; its grace period has passed (our contract), so no
                // reader holds it either.
                unsafe { free(s.assume_init()) };
            }
            // SAFETY: `b` is valid and ours, as above, and `blk` is no longer used.
            unsafe {
                objects += (*b).count as u64;
                (*b).next = emptied;
            }
            emptied = b;
            b = next;
        }
        self.counters
            .objects_freed
            .fetch_add(objects, Ordering::Relaxed);
        if !emptied.is_null() {
            let mut g = self.inner.lock().unwrap();
            while !emptied.is_null() {
                // SAFETY: `emptied` is a non-null block of the list just built from the
                // detached blocks we were handed: valid, and reachable by no one else.
                let next = unsafe { (*emptied).next };
                if g.nr_cached < g.max_cached {
                    // SAFETY: as above; from here the block is the cache's, under `g`'s lock.
                    unsafe { (*emptied).next = g.cache };
                    g.cache = emptied;
                    g.nr_cached += 1;
                } else {
                    // SAFETY: a non-null block from `alloc_block` (the only source of blocks),
                    // dropped from our list here and not used again.
                    unsafe { self.counters.free_block(emptied) };
                }
                emptied = next;
            }
        }
        objects
    }

    /// # Safety
    /// `h` is null or the newest head of a detached list (reachable from no `KrcInner` or
    /// batch, so the caller hands it over whole) of heads queued by `kvfree_rcu_headed`, each
    /// valid until its object's `free` runs, and every object on it is past its grace period.
    unsafe fn reclaim_list(&self, mut h: *mut KfreeHead) {
        let mut n = 0;
        while !h.is_null() {
            // SAFETY: `h` is a non-null head of the detached list we were handed; its object's
            // `free` has not run yet, so it is valid (`kvfree_rcu_headed`'s contract). `next`
            // is read now because that `free` may free the memory holding `h`.
            let next = unsafe { (*h).next };
            // SAFETY: as above.
            if let Some(f) = unsafe { (*h).free } {
                // SAFETY: `h` is still valid (as above). `obj` was queued once with `f`, for
                // which `kvfree_rcu_headed`'s contract makes `f(obj)` sound from any thread
                // once no new reader can reach it; its grace period has passed (our contract),
                // so no reader holds it either. `h` is not touched after this call.
                unsafe { f((*h).obj) };
            }
            n += 1;
            h = next;
        }
        self.counters.objects_freed.fetch_add(n, Ordering::Relaxed);
    }

    fn queued(&self) -> (u64, u64, u64) {
        let g = self.inner.lock().unwrap();
        (g.batched, g.fallback_list, g.fallback_sync)
    }

    fn is_idle(&self) -> bool {
        let g = self.inner.lock().unwrap();
        g.bulk.is_null()
            && g.head.is_null()
            && g.ready.is_null()
            && self.in_flight.load(Ordering::Acquire) == 0
    }

    /// Hands blocks past their grace period to the owner to free, or frees them here if the
    /// owner has exited.
    ///
    /// # Safety
    /// As for `reclaim_blocks`.
    unsafe fn hand_back(&self, b: *mut Block) {
        if b.is_null() {
            return;
        }
        if self.dead.load(Ordering::Acquire) {
            // SAFETY: our contract is `reclaim_blocks`'s, and `b` is handed on whole.
            unsafe { self.reclaim_blocks(b) };
            return;
        }
        let mut tail = b;
        // SAFETY: `tail` starts at the non-null `b` and follows the `next` links of the
        // detached list we were handed, whose blocks are valid and ours; it stops at the last.
        unsafe {
            while !(*tail).next.is_null() {
                tail = (*tail).next;
            }
        }
        let mut g = self.inner.lock().unwrap();
        // SAFETY: `tail` is the valid last block of our list; under the lock, the list then
        // joins `ready`, whose blocks the owner (or the monitor) reclaims.
        unsafe { (*tail).next = g.ready };
        g.ready = b;
    }
}

impl Drop for Krc {
    fn drop(&mut self) {
        let g = self.inner.get_mut().unwrap();
        debug_assert!(g.bulk.is_null() && g.head.is_null() && g.ready.is_null());
        while !g.cache.is_null() {
            let b = g.take_cached();
            // SAFETY: a cached block is owned by the cache and now by no one else.
            unsafe { self.counters.free_block(b) };
        }
    }
}

/// A detached batch on its way to the worker (`kfree_rcu_cpu_work`).
struct Batch {
    krc: Arc<Krc>,
    blocks: *mut Block,
    head: *mut KfreeHead,
    head_cookie: u64,
    /// Batched mode: `get_state` at detach. Polled: the newest block's cookie.
    cookie: u64,
}

// SAFETY: a batch owns its blocks and objects outright; only the worker touches them.
unsafe impl Send for Batch {}

struct Inner {
    domain: Domain,
    cfg: KfreeConfig,
    gp_base: u64,
    registry: Mutex<Vec<Arc<Krc>>>,
    counters: Arc<Counters>,
    fail_alloc: AtomicBool,
    /// Threads registered so far: each one's injector stream.
    registered: AtomicU64,
    /// Serialises monitor passes (the monitor's and `drain`'s).
    pass_lock: Mutex<()>,
    to_worker: Mutex<Option<Sender<Batch>>>,
    /// (kicked, shut down)
    monitor: Mutex<(bool, bool)>,
    monitor_cv: Condvar,
    /// Signalled whenever the worker finishes a batch.
    done: Mutex<()>,
    done_cv: Condvar,
}

/// One `kvfree_rcu` instance over a domain: its monitor and reclaim threads stop when the last
/// clone and the last [`KfreeHandle`] are gone, after freeing everything queued.
#[derive(Clone)]
pub struct KfreeRcu {
    outer: Arc<Outer>,
}

struct Outer {
    inner: Arc<Inner>,
    threads: Vec<JoinHandle<()>>,
}

impl KfreeRcu {
    pub fn new(domain: &Domain, cfg: KfreeConfig) -> KfreeRcu {
        let (tx, rx) = mpsc::channel();
        let inner = Arc::new(Inner {
            domain: domain.clone(),
            gp_base: domain.stats().grace_periods,
            cfg,
            registry: Mutex::new(Vec::new()),
            counters: Arc::new(Counters::default()),
            fail_alloc: AtomicBool::new(false),
            registered: AtomicU64::new(0),
            pass_lock: Mutex::new(()),
            to_worker: Mutex::new(Some(tx)),
            monitor: Mutex::new((false, false)),
            monitor_cv: Condvar::new(),
            done: Mutex::new(()),
            done_cv: Condvar::new(),
        });
        let m = inner.clone();
        let w = inner.clone();
        let threads = vec![
            thread::Builder::new()
                .name(format!("{}-kfree-mon", domain.name()))
                .spawn(move || m.monitor_thread())
                .expect("spawning the kfree_rcu monitor"),
            thread::Builder::new()
                .name(format!("{}-kfree-work", domain.name()))
                .spawn(move || w.worker_thread(rx))
                .expect("spawning the kfree_rcu worker"),
        ];
        KfreeRcu {
            outer: Arc::new(Outer { inner, threads }),
        }
    }

    fn inner(&self) -> &Inner {
        &self.outer.inner
    }

    pub fn domain(&self) -> &Domain {
        &self.inner().domain
    }

    pub fn config(&self) -> &KfreeConfig {
        &self.inner().cfg
    }

    /// A new per-thread queue with its pre-allocated blocks (as many as the system gives).
    pub fn register(&self) -> KfreeHandle {
        let inner = self.inner();
        let mut k = KrcInner {
            bulk: ptr::null_mut(),
            head: ptr::null_mut(),
            head_cookie: 0,
            ready: ptr::null_mut(),
            seen_batched: 0,
            cache: ptr::null_mut(),
            nr_cached: 0,
            max_cached: inner.cfg.cached_blocks,
            batched: 0,
            fallback_list: 0,
            fallback_sync: 0,
            stream: inner.registered.fetch_add(1, Ordering::Relaxed),
            block_attempts: 0,
        };
        for _ in 0..inner.cfg.cached_blocks {
            let b = inner.counters.alloc_block();
            if b.is_null() {
                break;
            }
            // SAFETY: a fresh block; only `next` is used while cached.
            unsafe { (*b).next = k.cache };
            k.cache = b;
            k.nr_cached += 1;
        }
        let krc = Arc::new(Krc {
            inner: Mutex::new(k),
            in_flight: AtomicUsize::new(0),
            dead: AtomicBool::new(false),
            counters: inner.counters.clone(),
        });
        inner.registry.lock().unwrap().push(krc.clone());
        KfreeHandle {
            rcu: self.clone(),
            krc,
            _not_send: PhantomData,
        }
    }

    /// Fault injection: while set, no new block is allocated (the pre-allocated cache is
    /// still used), so that the fallback paths run.
    pub fn set_block_alloc_fail(&self, fail: bool) {
        self.inner().fail_alloc.store(fail, Ordering::SeqCst);
    }

    /// Waits until everything queued before the call has been freed (`kvfree_rcu_barrier`).
    /// Must not be called inside a read-side section of the domain.
    pub fn drain(&self) {
        Self::drain_inner(&self.outer.inner);
    }

    /// Runs one monitor pass now, as the monitor does every drain period: frees what is
    /// ready (polled mode) and hands the rest to the worker where a batch slot is free.
    pub fn run_monitor(&self) {
        self.inner().pass();
    }

    pub fn stats(&self) -> KfreeStats {
        self.inner().stats()
    }
}

impl Drop for Outer {
    fn drop(&mut self) {
        let inner = &self.inner;
        KfreeRcu::drain_inner(inner);
        inner.monitor.lock().unwrap().1 = true;
        inner.monitor_cv.notify_all();
        inner.to_worker.lock().unwrap().take();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        inner.registry.lock().unwrap().clear();
    }
}

impl KfreeRcu {
    fn drain_inner(inner: &Arc<Inner>) {
        loop {
            inner.pass_with(true);
            if inner.pending() == 0 && inner.idle_workers() {
                // Threads that exited meanwhile have nothing queued now.
                inner.retire_dead();
                return;
            }
            let g = inner.done.lock().unwrap();
            // Short timeout: the monitor may hold what we wait for rather than the worker.
            let _ = inner
                .done_cv
                .wait_timeout(g, Duration::from_micros(500))
                .unwrap();
        }
    }
}

impl Inner {
    fn stats(&self) -> KfreeStats {
        let c = &self.counters;
        // Under the registry lock: retire_dead moves a record's counts into the retired
        // counters under it, so reading those outside it could miss a record in between.
        let reg = self.registry.lock().unwrap();
        let mut s = KfreeStats {
            pointers_batched: c.retired_batched.load(Ordering::Relaxed),
            fallback_list: c.retired_list.load(Ordering::Relaxed),
            fallback_sync: c.retired_sync.load(Ordering::Relaxed),
            ..Default::default()
        };
        for k in reg.iter() {
            let (b, l, sy) = k.queued();
            s.pointers_batched += b;
            s.fallback_list += l;
            s.fallback_sync += sy;
            s.blocks_cached += k.inner.lock().unwrap().nr_cached as u64;
        }
        drop(reg);
        s.blocks_allocated = c.blocks_allocated.load(Ordering::Relaxed);
        s.blocks_freed = c.blocks_freed.load(Ordering::Relaxed);
        s.objects_freed = c.objects_freed.load(Ordering::Relaxed);
        s.blocks_reclaimed_early = c.blocks_reclaimed_early.load(Ordering::Relaxed);
        s.batches = c.batches.load(Ordering::Relaxed);
        s.grace_periods = self.domain.stats().grace_periods - self.gp_base;
        s.pending = (s.pointers_batched + s.fallback_list).saturating_sub(s.objects_freed);
        s
    }

    fn pending(&self) -> u64 {
        self.stats().pending
    }

    /// No batch is at the worker (it may still be finishing one whose objects are freed).
    fn idle_workers(&self) -> bool {
        self.registry
            .lock()
            .unwrap()
            .iter()
            .all(|k| k.in_flight.load(Ordering::Acquire) == 0)
    }

    fn kick(&self) {
        let mut g = self.monitor.lock().unwrap();
        if !g.0 {
            g.0 = true;
            self.monitor_cv.notify_one();
        }
    }

    fn monitor_thread(self: Arc<Self>) {
        let mut g = self.monitor.lock().unwrap();
        loop {
            if g.1 {
                return;
            }
            if !g.0 {
                g = self
                    .monitor_cv
                    .wait_timeout(g, self.cfg.drain_period)
                    .unwrap()
                    .0;
                if g.1 {
                    return;
                }
            }
            if g.0 {
                // Kicked by a full block: the kernel's monitor then runs one jiffy later, not
                // at once; kicks meanwhile are absorbed (g.0 stays set).
                drop(g);
                thread::sleep(FULL_BLOCK_DELAY);
                g = self.monitor.lock().unwrap();
                if g.1 {
                    return;
                }
            }
            g.0 = false;
            drop(g);
            self.pass();
            g = self.monitor.lock().unwrap();
        }
    }

    /// One monitor pass over every thread (`kfree_rcu_monitor`): in polled mode free the
    /// blocks already past their grace period (`kvfree_rcu_drain_ready`), then detach the rest
    /// into a batch if the thread has a batch slot free (`kvfree_rcu_queue_batch`).
    fn pass(&self) {
        self.pass_with(false);
    }

    /// A pass; `force` also frees the blocks left for owners that are still active (drain).
    fn pass_with(&self, force: bool) {
        let _p = self.pass_lock.lock().unwrap();
        let krcs: Vec<Arc<Krc>> = self.registry.lock().unwrap().clone();
        let polled = self.cfg.mode == ReclaimMode::Polled;
        for krc in &krcs {
            let mut ready = ptr::null_mut();
            let mut ready_head = ptr::null_mut();
            let mut batch = None;
            let mut orphaned = ptr::null_mut();
            {
                let mut g = krc.inner.lock().unwrap();
                let idle = g.batched == g.seen_batched;
                g.seen_batched = g.batched;
                if force || idle || krc.dead.load(Ordering::Acquire) {
                    orphaned = std::mem::replace(&mut g.ready, ptr::null_mut());
                }
                if polled {
                    ready = g.cut_ready(|c| self.domain.poll_state(c));
                    if !g.head.is_null() && self.domain.poll_state(g.head_cookie) {
                        ready_head = std::mem::replace(&mut g.head, ptr::null_mut());
                    }
                }
                let busy = krc.in_flight.load(Ordering::Acquire) >= KFREE_N_BATCHES;
                if !busy && (!g.bulk.is_null() || !g.head.is_null()) {
                    let cookie = if polled {
                        // SAFETY: the head block is valid while on the list.
                        let newest = unsafe { g.bulk.as_ref() }.map_or(0, |b| b.cookie);
                        newest.max(g.head_cookie)
                    } else {
                        self.domain.get_state()
                    };
                    krc.in_flight.fetch_add(1, Ordering::AcqRel);
                    batch = Some(Batch {
                        krc: krc.clone(),
                        blocks: std::mem::replace(&mut g.bulk, ptr::null_mut()),
                        head: std::mem::replace(&mut g.head, ptr::null_mut()),
                        head_cookie: g.head_cookie,
                        cookie,
                    });
                }
            }
            if !ready.is_null() {
                let mut n = 0;
                let mut b = ready;
                while !b.is_null() {
                    n += 1;
                    // SAFETY: detached blocks are ours until reclaimed.
                    b = unsafe { (*b).next };
                }
                self.counters
                    .blocks_reclaimed_early
                    .fetch_add(n, Ordering::Relaxed);
                // SAFETY: detached above, and every block's cookie has completed.
                unsafe { krc.hand_back(ready) };
            }
            if !orphaned.is_null() {
                // SAFETY: blocks left for the owner are detached and past their grace period.
                unsafe { krc.reclaim_blocks(orphaned) };
            }
            if !ready_head.is_null() {
                // SAFETY: detached above; the list's newest cookie has completed.
                unsafe { krc.reclaim_list(ready_head) };
            }
            if let Some(b) = batch {
                self.counters.batches.fetch_add(1, Ordering::Relaxed);
                self.domain.start_poll();
                let tx = self.to_worker.lock().unwrap();
                match tx.as_ref().map(|t| t.send(b)) {
                    Some(Ok(())) => {}
                    // Shutting down (never with anything pending: drop drains first).
                    Some(Err(mpsc::SendError(b))) => self.reclaim_batch(b),
                    None => {}
                }
            }
        }
        drop(krcs);
        self.retire_dead();
    }

    /// Forgets exited threads with nothing queued, keeping their counts.
    fn retire_dead(&self) {
        let mut reg = self.registry.lock().unwrap();
        reg.retain(|k| {
            if k.dead.load(Ordering::Acquire) && k.is_idle() {
                let (b, l, s) = k.queued();
                let c = &self.counters;
                c.retired_batched.fetch_add(b, Ordering::Relaxed);
                c.retired_list.fetch_add(l, Ordering::Relaxed);
                c.retired_sync.fetch_add(s, Ordering::Relaxed);
                false
            } else {
                true
            }
        });
    }

    fn worker_thread(self: Arc<Self>, rx: Receiver<Batch>) {
        for b in rx {
            self.reclaim_batch(b);
        }
    }

    /// Frees one batch once its grace periods have passed (`kfree_rcu_work`).
    fn reclaim_batch(&self, mut b: Batch) {
        let d = &self.domain;
        if self.cfg.mode == ReclaimMode::Polled {
            // From the tail: the oldest blocks are the likeliest to be done already.
            let ready = cut_ready(&mut b.blocks, |c| d.poll_state(c));
            // SAFETY: the batch owns these blocks; their cookies have completed.
            unsafe { b.krc.hand_back(ready) };
            if !b.blocks.is_null() {
                // One more grace period, only for what remains.
                d.cond_synchronize(b.cookie);
            }
        } else {
            d.cond_synchronize(b.cookie);
        }
        // SAFETY: the batch owns these blocks; the cookie covering all of them has completed.
        unsafe { b.krc.hand_back(b.blocks) };
        if !b.head.is_null() {
            let c = if self.cfg.mode == ReclaimMode::Polled {
                b.head_cookie
            } else {
                b.cookie
            };
            d.cond_synchronize(c);
            // SAFETY: the list is owned by the batch and past its grace period.
            unsafe { b.krc.reclaim_list(b.head) };
        }
        b.krc.in_flight.fetch_sub(1, Ordering::AcqRel);
        drop(b);
        let _g = self.done.lock().unwrap();
        self.done_cv.notify_all();
    }
}

/// A thread's `kvfree_rcu` queue. Not `Send`: it plays one CPU's `kfree_rcu_cpu`.
pub struct KfreeHandle {
    rcu: KfreeRcu,
    krc: Arc<Krc>,
    _not_send: PhantomData<*const ()>,
}

/// What `enqueue` did with a pointer.
enum Queued {
    InBlock { full: bool },
    NoBlock,
}

impl KfreeHandle {
    pub fn kfree_rcu(&self) -> &KfreeRcu {
        &self.rcu
    }

    /// Puts `ptr` in the thread's current block, starting a new one (from the cache, else the
    /// system unless refused) when there is none, it is full, or it frees another way.
    fn enqueue(&self, p: *mut u8, free: FreeFn) -> Queued {
        let mut g = self.krc.inner.lock().unwrap();
        let reclaim = g.ready;
        if !reclaim.is_null() {
            // SAFETY: blocks left for the owner are valid and owned by the list.
            unsafe {
                g.ready = (*reclaim).next;
                (*reclaim).next = ptr::null_mut();
            }
        }
        let q = self.enqueue_locked(&mut g, p, free);
        drop(g);
        if !reclaim.is_null() {
            // SAFETY: detached above; it was left here past its grace period.
            unsafe { self.krc.reclaim_blocks(reclaim) };
        }
        q
    }

    fn enqueue_locked(&self, g: &mut KrcInner, p: *mut u8, free: FreeFn) -> Queued {
        let inner = self.rcu.inner();
        // SAFETY: blocks on the list are valid; the head is only filled by this thread.
        let cur = unsafe { g.bulk.as_mut() };
        let fits =
            matches!(cur, Some(b) if b.count < BLOCK_SLOTS && b.free as usize == free as usize);
        if !fits {
            let mut b = g.take_cached();
            if b.is_null() && !inner.fail_alloc.load(Ordering::Relaxed) {
                let n = g.block_attempts;
                g.block_attempts += 1;
                let injected = inner.cfg.fail_alloc.is_some_and(|f| f.fails(g.stream, n));
                if !injected {
                    b = inner.counters.alloc_block();
                }
            }
            if b.is_null() {
                return Queued::NoBlock;
            }
            // SAFETY: `b` is an empty block owned by us; link it as the newest.
            unsafe {
                (*b).next = g.bulk;
                (*b).count = 0;
                (*b).free = free;
            }
            g.bulk = b;
        }
        let b = g.bulk;
        // SAFETY: `b` is the valid head block with a free slot. The cookie is taken after the
        // caller unpublished `p` (get_state orders the caller's prior updates).
        let full = unsafe {
            let n = (*b).count;
            (*b).slots[n] = MaybeUninit::new(p);
            (*b).count = n + 1;
            (*b).cookie = inner.domain.get_state();
            n + 1 == BLOCK_SLOTS
        };
        g.batched += 1;
        Queued::InBlock { full }
    }

    fn after_enqueue(&self, full: bool) {
        if full {
            // A full block: drain soon (FULL_BLOCK_DELAY) rather than at the period.
            self.rcu.inner().kick();
        }
    }

    /// Frees `ptr` with `free(ptr)` after a grace period (headless `kvfree_rcu(ptr)`).
    /// If no block can be had it waits for a grace period inline (`synchronize`), so it must
    /// not be called inside a read-side section of the domain then.
    ///
    /// # Safety
    /// `ptr` is unreachable for new readers, is queued once, and `free(ptr)` is sound from
    /// any thread.
    pub unsafe fn kvfree_rcu_raw(&self, ptr: NonNull<u8>, free: FreeFn) {
        match self.enqueue(ptr.as_ptr(), free) {
            Queued::InBlock { full } => self.after_enqueue(full),
            Queued::NoBlock => {
                self.krc.inner.lock().unwrap().fallback_sync += 1;
                self.rcu.domain().synchronize();
                // SAFETY: no block took `ptr`, so it is queued nowhere and freed only here.
                // New readers cannot reach it (our contract) and the grace period just waited
                // for has ended every section that could have, so `free(ptr)` is sound (our
                // contract: from any thread).
                unsafe { free(ptr.as_ptr()) };
            }
        }
    }

    /// Drops the box after a grace period. As for `kvfree_rcu_raw`, no block means an inline
    /// `synchronize`.
    pub fn kvfree_rcu<T: Send + 'static>(&self, b: Box<T>) {
        /// # Safety
        /// `p` came from `Box::<T>::into_raw` and is not used again.
        unsafe fn drop_box<T>(p: *mut u8) {
            // SAFETY: `p` came from `Box::<T>::into_raw` (below, the only use of `drop_box`),
            // so it is a live `Box<T>`; nothing uses it again, so it is dropped once.
            drop(unsafe { Box::from_raw(p as *mut T) });
        }
        let p = NonNull::new(Box::into_raw(b) as *mut u8).unwrap();
        // SAFETY: the box is ours to give; `drop_box::<T>` frees it and T is Send.
        unsafe { self.kvfree_rcu_raw(p, drop_box::<T>) }
    }

    /// Frees `ptr` with `free(ptr)` after a grace period; when no block can be had the object
    /// waits on a list threaded through `head`, which lies inside it (`kvfree_rcu(ptr, rh)`).
    /// Never blocks.
    ///
    /// # Safety
    /// As for `kvfree_rcu_raw`, and `head` is valid, and used for no other queued object,
    /// until `free(ptr)` runs.
    pub unsafe fn kvfree_rcu_headed(
        &self,
        ptr: NonNull<u8>,
        head: NonNull<KfreeHead>,
        free: FreeFn,
    ) {
        match self.enqueue(ptr.as_ptr(), free) {
            Queued::InBlock { full } => self.after_enqueue(full),
            Queued::NoBlock => {
                let mut g = self.krc.inner.lock().unwrap();
                let h = head.as_ptr();
                // SAFETY: `head` is valid and used for no other queued object until `free(ptr)`
                // runs (our contract), and that cannot happen before this list is reclaimed,
                // so nothing else reads or writes it; from here it is the list's, under `g`.
                unsafe {
                    (*h).obj = ptr.as_ptr();
                    (*h).free = Some(free);
                    (*h).next = g.head;
                }
                g.head = h;
                g.head_cookie = self.rcu.domain().get_state();
                g.fallback_list += 1;
            }
        }
    }
}

impl Drop for KfreeHandle {
    fn drop(&mut self) {
        // What is queued still gets freed: the monitor retires the record once it is empty.
        self.krc.dead.store(true, Ordering::Release);
        self.rcu.inner().kick();
    }
}
