//! Grace-period domains: the writer side (grace periods, callbacks, barrier).

use std::sync::atomic::{fence, AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crossbeam_utils::CachePadded;
use hdrhistogram::Histogram;

use crate::callback::List;
use crate::membarrier;
use crate::reader::{current_record, ThreadHandle, ThreadRecord};
use crate::seq::{seq_done, seq_snap};

/// How a domain behaves. `Default` is a plain RCU domain with no pacing.
#[derive(Clone, Debug)]
pub struct DomainConfig {
    /// Shown in thread names and error messages ("rcu", "rcu-tasks-trace").
    pub name: String,
    /// Pacing of normal grace periods: how long a grace-period request waits before the grace
    /// period starts, letting more callbacks and waiters share it (the kernel's GP kthread
    /// delays; RCU-tasks-trace is much slower than RCU). Zero: no pacing.
    pub gp_delay: Duration,
    /// A domain whose grace period every grace period of this one includes, as the kernel's
    /// `rcu_trace_implies_rcu_gp()`: each grace period here ends with one of `implies`.
    pub implies: Option<Domain>,
    /// A domain every callback of this one is handed to after this domain's grace period,
    /// so it runs after a grace period of both (memalloc.c chaining call_rcu_tasks_trace
    /// into call_rcu when `rcu_trace_implies_rcu_gp()` is false).
    pub chain: Option<Domain>,
    /// Readers fence themselves instead of relying on membarrier (urcu-mb); forced when the
    /// kernel lacks `MEMBARRIER_CMD_PRIVATE_EXPEDITED`.
    pub fence_readers: bool,
    /// Lazy callbacks (`call_lazy`) of a thread are flushed into a grace period at the latest
    /// this long after the first of them was queued (the kernel's LAZY_FLUSH_JIFFIES, 10 s).
    pub lazy_flush: Duration,
    /// ... or as soon as a thread has this many (the kernel's qhimark, 10000).
    pub lazy_qhimark: u64,
}

/// The kernel's LAZY_FLUSH_JIFFIES (10 * HZ).
pub const DEFAULT_LAZY_FLUSH: Duration = Duration::from_secs(10);
/// The kernel's qhimark.
pub const DEFAULT_LAZY_QHIMARK: u64 = 10_000;

impl Default for DomainConfig {
    fn default() -> Self {
        DomainConfig {
            name: "rcu".into(),
            gp_delay: Duration::ZERO,
            implies: None,
            chain: None,
            fence_readers: false,
            lazy_flush: DEFAULT_LAZY_FLUSH,
            lazy_qhimark: DEFAULT_LAZY_QHIMARK,
        }
    }
}

/// Counters of one domain.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DomainStats {
    pub grace_periods: u64,
    pub callbacks_invoked: u64,
    pub callbacks_pending: u64,
    /// Total and longest grace-period duration (from its start to its end), nanoseconds.
    pub gp_ns_total: u64,
    pub gp_ns_max: u64,
    /// Urgent quiescent-state requests that found no request pending.
    pub urgent_requests: u64,
    /// Grace-period duration percentiles, nanoseconds.
    pub gp_p50_ns: u64,
    pub gp_p99_ns: u64,
    /// Callback latency, from `call` to invocation, of a sample of callbacks (one in flight
    /// per thread, at most one in 64 calls), nanoseconds.
    pub cb_latency_samples: u64,
    pub cb_latency_p50_ns: u64,
    pub cb_latency_p99_ns: u64,
    pub cb_latency_max_ns: u64,
    /// The sampled callbacks' mean latency and its parts: from `call` to the start of the
    /// grace period that completed its cookie (pacing and waiting for earlier grace periods),
    /// that grace period itself, and from its end to the invocation (hand-back to the owner,
    /// the owner's next `call`). The parts are means over the samples whose grace period was
    /// still in the record (the last 256), so they add up to about the mean, not exactly.
    pub cb_latency_mean_ns: u64,
    pub cb_wait_gp_start_mean_ns: u64,
    pub cb_in_gp_mean_ns: u64,
    pub cb_wait_invoke_mean_ns: u64,
    /// Lazy-callback flushes by cause: a thread reached `lazy_qhimark`; the oldest waited
    /// `lazy_flush`; anything else (a non-lazy callback on the thread, a barrier, its exit).
    pub lazy_flushes_full: u64,
    pub lazy_flushes_timer: u64,
    pub lazy_flushes_other: u64,
}

/// One grace-period domain. Cheap to clone; the background thread stops when the last clone
/// (and the last [`ThreadHandle`]) is gone, after invoking every queued callback.
#[derive(Clone)]
pub struct Domain {
    outer: Arc<Outer>,
}

struct Outer {
    inner: Arc<Inner>,
    gp_thread: Option<JoinHandle<()>>,
}

pub(crate) struct Inner {
    pub(crate) id: u64,
    name: String,
    /// What readers store in their slot: grows by 2 at every grace period, never 0.
    pub(crate) reader_ctr: CachePadded<AtomicU64>,
    /// The grace-period sequence number (see `seq`).
    gp_seq: CachePadded<AtomicU64>,
    pub(crate) fence_readers: bool,
    gp_delay: Duration,
    implies: Option<Domain>,
    chain: Option<Domain>,
    /// Serialises grace periods; holds a scratch snapshot of the registry.
    gp_lock: Mutex<Vec<Arc<ThreadRecord>>>,
    pub(crate) registry: Mutex<Vec<Arc<ThreadRecord>>>,
    /// The largest cookie `start_poll` asked for: the GP thread runs grace periods until it
    /// is done even with no callbacks queued.
    requested: AtomicU64,
    /// Set by `request_urgent`: the grace period in flight skips pacing and polls readers
    /// without sleeping (the kernel's urgent quiescent-state request). Cleared at its end.
    urgent: AtomicBool,
    lazy_flush_ns: u64,
    pub(crate) lazy_qhimark: u64,
    /// Barriers in progress: while non-zero every lazy callback is flushed.
    barriers: AtomicUsize,
    lazy_flushes: [AtomicU64; 3],
    work: Mutex<bool>, // true = shut down
    work_cv: Condvar,
    idle: AtomicBool,
    done: Mutex<()>,
    done_cv: Condvar,
    grace_periods: AtomicU64,
    urgent_requests: AtomicU64,
    gp_ns_total: AtomicU64,
    gp_ns_max: AtomicU64,
    invoked: AtomicU64,
    failure: Mutex<Option<String>>,
    /// Time base of the latency samples.
    pub(crate) epoch: Instant,
    gp_hist: Mutex<Histogram<u64>>,
    cb_hist: Mutex<Histogram<u64>>,
    /// The last grace periods' (gp_seq at their end, start, end) on the domain's clock, by
    /// `(end_seq / 2) % GP_RECORD`: where a sampled callback's latency went.
    gp_times: Mutex<[(u64, u64, u64); GP_RECORD]>,
    cb_parts: Mutex<LatencyParts>,
}

/// How many recent grace periods `gp_times` keeps.
const GP_RECORD: usize = 256;

/// Sums of the sampled callbacks' latency parts (see `DomainStats`).
#[derive(Default)]
struct LatencyParts {
    total_ns: u64,
    samples: u64,
    wait_start_ns: u64,
    in_gp_ns: u64,
    wait_invoke_ns: u64,
    split: u64,
}

/// How long the domain's thread, otherwise idle, leaves ready lists to their owners before it
/// looks again (after two quiet rounds it invokes them itself).
const READY_TAKEBACK_PAUSE: Duration = Duration::from_millis(1);

/// Indices of `Inner::lazy_flushes`.
const LAZY_FULL: usize = 0;
const LAZY_TIMER: usize = 1;
const LAZY_OTHER: usize = 2;

/// 1 ns to 1 hour at 3 significant digits.
fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000_000, 3).expect("static histogram bounds")
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

impl Domain {
    pub fn new(cfg: DomainConfig) -> Domain {
        let fence_readers = cfg.fence_readers || !membarrier::available();
        let inner = Arc::new(Inner {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            name: cfg.name.clone(),
            reader_ctr: CachePadded::new(AtomicU64::new(2)),
            gp_seq: CachePadded::new(AtomicU64::new(0)),
            fence_readers,
            gp_delay: cfg.gp_delay,
            implies: cfg.implies,
            chain: cfg.chain,
            gp_lock: Mutex::new(Vec::new()),
            registry: Mutex::new(Vec::new()),
            requested: AtomicU64::new(0),
            urgent: AtomicBool::new(false),
            lazy_flush_ns: cfg.lazy_flush.as_nanos().min(u64::MAX as u128) as u64,
            lazy_qhimark: cfg.lazy_qhimark.max(1),
            barriers: AtomicUsize::new(0),
            lazy_flushes: Default::default(),
            work: Mutex::new(false),
            work_cv: Condvar::new(),
            idle: AtomicBool::new(false),
            done: Mutex::new(()),
            done_cv: Condvar::new(),
            grace_periods: AtomicU64::new(0),
            urgent_requests: AtomicU64::new(0),
            gp_ns_total: AtomicU64::new(0),
            gp_ns_max: AtomicU64::new(0),
            invoked: AtomicU64::new(0),
            failure: Mutex::new(None),
            epoch: Instant::now(),
            gp_hist: Mutex::new(histogram()),
            cb_hist: Mutex::new(histogram()),
            gp_times: Mutex::new([(0, 0, 0); GP_RECORD]),
            cb_parts: Mutex::new(LatencyParts::default()),
        });
        let worker = inner.clone();
        let gp_thread = thread::Builder::new()
            .name(format!("{}-gp", cfg.name))
            .spawn(move || worker.gp_thread())
            .expect("spawning the grace-period thread");
        Domain {
            outer: Arc::new(Outer {
                inner,
                gp_thread: Some(gp_thread),
            }),
        }
    }

    #[inline]
    pub(crate) fn inner(&self) -> &Inner {
        &self.outer.inner
    }

    pub fn name(&self) -> &str {
        &self.inner().name
    }

    /// Registers the calling thread (or returns a handle to its existing registration).
    pub fn register(&self) -> ThreadHandle {
        ThreadHandle::register(self)
    }

    /// Whether the writer side uses membarrier (false: readers fence, urcu-mb).
    pub fn uses_membarrier(&self) -> bool {
        !self.inner().fence_readers
    }

    /// Waits for a full grace period: every read-side section that began before the call has
    /// ended when it returns. Concurrent callers share grace periods. Must not be called from
    /// inside a read-side section of this domain (it would wait for itself).
    pub fn synchronize(&self) {
        let inner = self.inner();
        inner.assert_not_reading("synchronize");
        let cookie = inner.get_state();
        inner.pace_caller(cookie);
        inner.wait_for_cookie(cookie);
    }

    /// Like `synchronize`, but starts at once: no pacing delay, and readers are polled without
    /// sleeping (`synchronize_rcu_expedited`).
    pub fn synchronize_expedited(&self) {
        let inner = self.inner();
        inner.assert_not_reading("synchronize_expedited");
        let cookie = inner.get_state();
        inner.request_urgent();
        inner.wait_for_cookie(cookie);
    }

    /// A cookie like `get_state`'s, and a grace period is requested so that it completes
    /// without anyone waiting (`start_poll_synchronize_rcu`).
    pub fn start_poll(&self) -> u64 {
        let inner = self.inner();
        let cookie = inner.get_state();
        inner.requested.fetch_max(cookie, Ordering::SeqCst);
        inner.wake_gp_thread();
        cookie
    }

    /// Waits only if the grace period named by `cookie` has not completed yet
    /// (`cond_synchronize_rcu`).
    pub fn cond_synchronize(&self, cookie: u64) {
        let inner = self.inner();
        inner.assert_not_reading("cond_synchronize");
        if inner.poll(cookie) {
            return;
        }
        inner.pace_caller(cookie);
        inner.wait_for_cookie(cookie);
    }

    /// Asks the grace period in flight (or the next) to finish as soon as readers allow:
    /// no pacing, no sleeping between reader polls. memalloc.c does this when a callback is
    /// already pending, to keep memory from piling up.
    pub fn request_urgent(&self) {
        self.inner().request_urgent();
    }

    /// Waits until every callback queued (by any thread) before the call has been invoked.
    pub fn barrier(&self) {
        self.inner().barrier();
    }

    /// A cookie for the grace period that must elapse from now (`get_state_synchronize_rcu`).
    pub fn get_state(&self) -> u64 {
        self.inner().get_state()
    }

    /// Whether the grace period named by `cookie` has completed. Lock-free.
    pub fn poll_state(&self, cookie: u64) -> bool {
        seq_done(self.inner().gp_seq.load(Ordering::Acquire), cookie)
    }

    /// The raw grace-period sequence number (even: idle, odd: a grace period is running).
    pub fn gp_seq(&self) -> u64 {
        self.inner().gp_seq.load(Ordering::Acquire)
    }

    pub fn stats(&self) -> DomainStats {
        let inner = self.inner();
        let pending = inner
            .registry
            .lock()
            .unwrap()
            .iter()
            .map(|r| {
                let e = r.queue.enqueued.load(Ordering::Acquire);
                e.saturating_sub(r.queue.invoked.load(Ordering::Acquire))
            })
            .sum();
        DomainStats {
            grace_periods: inner.grace_periods.load(Ordering::Relaxed),
            callbacks_invoked: inner.invoked.load(Ordering::Relaxed),
            callbacks_pending: pending,
            gp_ns_total: inner.gp_ns_total.load(Ordering::Relaxed),
            gp_ns_max: inner.gp_ns_max.load(Ordering::Relaxed),
            urgent_requests: inner.urgent_requests.load(Ordering::Relaxed),
            lazy_flushes_full: inner.lazy_flushes[LAZY_FULL].load(Ordering::Relaxed),
            lazy_flushes_timer: inner.lazy_flushes[LAZY_TIMER].load(Ordering::Relaxed),
            lazy_flushes_other: inner.lazy_flushes[LAZY_OTHER].load(Ordering::Relaxed),
            ..inner.percentiles()
        }
    }

    /// The reader counter readers store; grows by 2 as each grace period starts (for tests).
    #[doc(hidden)]
    pub fn debug_reader_ctr(&self) -> u64 {
        self.inner().reader_ctr.load(Ordering::SeqCst)
    }

    /// The first callback panic seen on this domain's thread, if any.
    pub fn failure(&self) -> Option<String> {
        self.inner().failure.lock().unwrap().clone()
    }
}

impl std::fmt::Debug for Domain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Domain")
            .field("name", &self.name())
            .field("gp_seq", &self.gp_seq())
            .finish()
    }
}

impl Drop for Outer {
    fn drop(&mut self) {
        *self.inner.work.lock().unwrap() = true;
        self.inner.work_cv.notify_all();
        if let Some(t) = self.gp_thread.take() {
            // A callback may hold the last clone; the thread cannot join itself.
            if t.thread().id() != thread::current().id() {
                let _ = t.join();
            }
        }
    }
}

impl Inner {
    fn percentiles(&self) -> DomainStats {
        let g = self.gp_hist.lock().unwrap();
        let c = self.cb_hist.lock().unwrap();
        let p = self.cb_parts.lock().unwrap();
        let per = |sum: u64, n: u64| sum.checked_div(n).unwrap_or(0);
        DomainStats {
            cb_latency_mean_ns: per(p.total_ns, p.samples),
            cb_wait_gp_start_mean_ns: per(p.wait_start_ns, p.split),
            cb_in_gp_mean_ns: per(p.in_gp_ns, p.split),
            cb_wait_invoke_mean_ns: per(p.wait_invoke_ns, p.split),
            gp_p50_ns: g.value_at_quantile(0.5),
            gp_p99_ns: g.value_at_quantile(0.99),
            cb_latency_samples: c.len(),
            cb_latency_p50_ns: c.value_at_quantile(0.5),
            cb_latency_p99_ns: c.value_at_quantile(0.99),
            cb_latency_max_ns: c.max(),
            ..Default::default()
        }
    }

    /// Nanoseconds since the domain was made.
    #[inline]
    pub(crate) fn now_ns(&self) -> u64 {
        self.epoch.elapsed().as_nanos() as u64
    }

    fn assert_not_reading(&self, what: &str) {
        if let Some(rec) = current_record(self.id) {
            assert!(
                rec.nesting() == 0,
                "{what}() on domain '{}' inside its own read-side section would deadlock",
                self.name
            );
        }
    }

    /// The pacing a normal grace-period request for `cookie` waits; cut short by an urgent
    /// request or by someone else's grace period completing the cookie.
    fn pace_caller(&self, cookie: u64) {
        if self.gp_delay.is_zero() {
            return;
        }
        let end = Instant::now() + self.gp_delay;
        while !self.urgent.load(Ordering::Relaxed) && !self.poll(cookie) {
            let now = Instant::now();
            if now >= end {
                break;
            }
            thread::sleep((end - now).min(Duration::from_micros(500)));
        }
    }

    fn request_urgent(&self) {
        // Cheap when one is pending: free paths call this on every refill.
        if self.urgent.load(Ordering::Relaxed) || self.urgent.swap(true, Ordering::SeqCst) {
            return;
        }
        self.urgent_requests.fetch_add(1, Ordering::Relaxed);
        let _g = self.work.lock().unwrap();
        self.work_cv.notify_all();
    }

    /// Wakes the grace-period thread whether or not it looks idle.
    pub(crate) fn wake_gp_thread(&self) {
        let _g = self.work.lock().unwrap();
        self.work_cv.notify_all();
    }

    pub(crate) fn get_state(&self) -> u64 {
        // Order the caller's prior updates before the read of gp_seq: a grace period that
        // this load does not see as started begins after those updates (rcu_seq_snap's mb).
        fence(Ordering::SeqCst);
        seq_snap(self.gp_seq.load(Ordering::Relaxed))
    }

    fn poll(&self, cookie: u64) -> bool {
        seq_done(self.gp_seq.load(Ordering::Acquire), cookie)
    }

    /// Runs grace periods until `cookie` is done; waiters pile on `gp_lock` and share them.
    fn wait_for_cookie(&self, cookie: u64) {
        while !self.poll(cookie) {
            let mut scratch = self.gp_lock.lock().unwrap();
            if self.poll(cookie) {
                break;
            }
            // One grace period suffices: gp_seq is idle under the lock, and seq_snap never
            // names more than the one after the next start.
            self.run_gp(&mut scratch);
        }
    }

    /// One grace period. Caller holds `gp_lock`.
    fn run_gp(&self, scratch: &mut Vec<Arc<ThreadRecord>>) {
        let started = Instant::now();
        let start_ns = self.now_ns();
        let s = self.gp_seq.load(Ordering::Relaxed);
        debug_assert!(s & 1 == 0);
        self.gp_seq.store(s + 1, Ordering::Relaxed);
        fence(Ordering::SeqCst);
        // M1: every reader either has its slot store visible to the scan below, or has not
        // yet executed it, in which case its section's loads come after this point and see
        // every update made before the grace period.
        if self.fence_readers {
            fence(Ordering::SeqCst);
        } else {
            membarrier::heavy();
        }
        // Readers that load the new value began after M1 and need no waiting; only slots
        // holding an older value are waited for. 64 bits never wrap, so one phase suffices.
        let target = self.reader_ctr.fetch_add(2, Ordering::SeqCst) + 2;
        scratch.extend(self.registry.lock().unwrap().iter().cloned());
        for rec in scratch.iter() {
            let mut tries = 0u32;
            loop {
                let v = rec.slot.load(Ordering::Acquire);
                if v == 0 || v >= target {
                    break;
                }
                backoff(&mut tries, self.urgent.load(Ordering::Relaxed));
            }
        }
        scratch.clear();
        if let Some(d) = &self.implies {
            d.inner().wait_for_cookie(d.inner().get_state());
        }
        fence(Ordering::SeqCst);
        self.gp_seq.store(s + 2, Ordering::Release);
        self.urgent.store(false, Ordering::Relaxed);
        self.grace_periods.fetch_add(1, Ordering::Relaxed);
        let ns = started.elapsed().as_nanos() as u64;
        self.gp_ns_total.fetch_add(ns, Ordering::Relaxed);
        self.gp_ns_max.fetch_max(ns, Ordering::Relaxed);
        // Uncontended: grace periods are serialised by gp_lock.
        let _ = self.gp_hist.lock().unwrap().record(ns.max(1));
        self.record_gp_times(s + 2, start_ns, start_ns + ns);
    }

    /// Wakes the grace-period thread if it sleeps (called when a queue becomes non-empty).
    pub(crate) fn kick_gp_thread(&self) {
        if self.idle.load(Ordering::SeqCst) {
            let _g = self.work.lock().unwrap();
            self.work_cv.notify_one();
        }
    }

    fn any_queued(&self) -> bool {
        self.registry
            .lock()
            .unwrap()
            .iter()
            .any(|r| !r.queue.is_empty())
    }

    fn barrier(&self) {
        // Lazy callbacks are flushed while any barrier runs (rcu_barrier flushes the bypass).
        self.barriers.fetch_add(1, Ordering::SeqCst);
        self.wake_gp_thread();
        self.barrier_wait();
        self.barriers.fetch_sub(1, Ordering::SeqCst);
    }

    fn barrier_wait(&self) {
        if let Some(rec) = current_record(self.id) {
            while let Some(list) = rec.queue.take_ready() {
                self.invoke_list(&rec, list);
            }
        }
        let snapshot: Vec<(Arc<ThreadRecord>, u64)> = self
            .registry
            .lock()
            .unwrap()
            .iter()
            .map(|r| (r.clone(), r.queue.enqueued.load(Ordering::Acquire)))
            .collect();
        let all_done = || {
            snapshot
                .iter()
                .all(|(r, e)| r.queue.invoked.load(Ordering::Acquire) >= *e)
        };
        let mut g = self.done.lock().unwrap();
        while !all_done() {
            // A barrier is teardown: hurry the grace periods it waits for, and wake the
            // domain's thread even when an urgent request is already pending (it may be
            // sleeping before taking back ready lists whose owner is this waiting thread).
            self.request_urgent();
            self.wake_gp_thread();
            // The timeout only guards against a wake-up raced between the check and the wait.
            g = self
                .done_cv
                .wait_timeout(g, Duration::from_millis(5))
                .unwrap()
                .0;
        }
    }

    fn gp_thread(self: Arc<Self>) {
        let mut batches: Vec<(Arc<ThreadRecord>, List, u64)> = Vec::new();
        let mut stale: Vec<(Arc<ThreadRecord>, List)> = Vec::new();
        let mut round = 0u64;
        loop {
            round += 1;
            let mut waiting_ready = false;
            {
                let mut reg = self.registry.lock().unwrap();
                let now = self.now_ns();
                let flush_all = self.barriers.load(Ordering::SeqCst) > 0;
                for rec in reg.iter() {
                    // An owner that queued nothing for two rounds invokes nothing either:
                    // its ready lists run here.
                    let q = &rec.queue;
                    let e = q.enqueued.load(Ordering::Acquire);
                    if e != q.seen_enqueued.load(Ordering::Relaxed) {
                        q.seen_enqueued.store(e, Ordering::Relaxed);
                        q.seen_round.store(round, Ordering::Relaxed);
                    } else if rec.dead.load(Ordering::Acquire)
                        || q.seen_round.load(Ordering::Relaxed) + 2 <= round
                    {
                        while let Some(r) = q.take_ready() {
                            stale.push((rec.clone(), r));
                        }
                    }
                    if let Some(b) = self.flush_lazy(rec, now, flush_all) {
                        batches.push(b);
                    }
                    if !rec.queue.is_empty() {
                        let (list, cookie) = rec.queue.take_all();
                        batches.push((rec.clone(), list, cookie));
                    }
                }
                // Forget exited threads once everything they queued has run.
                reg.retain(|r| {
                    !(r.dead.load(Ordering::Acquire)
                        && r.queue.is_empty()
                        && r.queue.lazy_is_empty()
                        && !r.queue.has_ready()
                        && r.queue.invoked.load(Ordering::Acquire)
                            == r.queue.enqueued.load(Ordering::Acquire))
                });
            }
            for (rec, list) in stale.drain(..) {
                self.invoke_list(&rec, list);
            }
            let requested = self.requested.load(Ordering::SeqCst);
            if batches.is_empty() && self.poll(requested) {
                let w = self.work.lock().unwrap();
                if *w {
                    return;
                }
                self.idle.store(true, Ordering::SeqCst);
                let lazy = self.lazy_deadline();
                if self.any_queued()
                    || !self.poll(self.requested.load(Ordering::SeqCst))
                    || lazy == Some(0)
                {
                    self.idle.store(false, Ordering::Relaxed);
                    continue;
                }
                if self.any_ready() {
                    // Give owners a round to take their ready lists, then take them back.
                    self.idle.store(false, Ordering::Relaxed);
                    waiting_ready = true;
                }
                // Sleep until woken, or until ready lists are to be taken back, or until the
                // first lazy flush is due.
                let mut pause = lazy.map(Duration::from_nanos);
                if waiting_ready {
                    // Not the pacing delay: with long pacing, ready callbacks of an owner
                    // that stopped calling would wait that long.
                    let p = READY_TAKEBACK_PAUSE;
                    pause = Some(pause.map_or(p, |l| l.min(p)));
                }
                match pause {
                    Some(p) => drop(self.work_cv.wait_timeout(w, p).unwrap()),
                    None => drop(self.work_cv.wait(w).unwrap()),
                }
                self.idle.store(false, Ordering::Relaxed);
                continue;
            }
            self.pace();
            let cookie = batches.iter().map(|b| b.2).max().unwrap_or(0);
            self.wait_for_cookie(cookie.max(requested));
            for (rec, list, _) in batches.drain(..) {
                if rec.dead.load(Ordering::Acquire) {
                    self.invoke_list(&rec, list);
                } else {
                    rec.queue.publish_ready(list);
                }
            }
        }
    }

    /// When `rec`'s lazy callbacks are due, if it holds any: (0, cause) when now, else
    /// (nanoseconds left, LAZY_TIMER); and the start time read. Causes: too many, too old, a
    /// barrier running, or the thread gone (a hurried callback takes them along itself). A
    /// stack whose start time is not recorded yet counts from now.
    fn lazy_due(&self, rec: &ThreadRecord, now: u64, flush_all: bool) -> Option<(u64, usize, u64)> {
        let q = &rec.queue;
        if q.lazy_is_empty() {
            return None;
        }
        let since = q.lazy_since.load(Ordering::Acquire);
        // SeqCst: pairs with the owner's store of `lazy_full` before it reads `idle` in
        // kick_gp_thread (Dekker), as the idle path's store of `idle` precedes this load.
        if q.lazy_full.load(Ordering::SeqCst) {
            return Some((0, LAZY_FULL, since));
        }
        let left = if since == 0 && self.lazy_flush_ns > 0 {
            self.lazy_flush_ns
        } else {
            since.saturating_add(self.lazy_flush_ns).saturating_sub(now)
        };
        if left == 0 {
            Some((0, LAZY_TIMER, since))
        } else if flush_all || rec.dead.load(Ordering::Acquire) {
            Some((0, LAZY_OTHER, since))
        } else {
            Some((left, LAZY_TIMER, since))
        }
    }

    /// Takes `rec`'s lazy callbacks as a batch if they are due.
    fn flush_lazy(
        &self,
        rec: &Arc<ThreadRecord>,
        now: u64,
        flush_all: bool,
    ) -> Option<(Arc<ThreadRecord>, List, u64)> {
        let (0, why, since) = self.lazy_due(rec, now, flush_all)? else {
            return None;
        };
        let (list, cookie) = rec.queue.take_lazy(since);
        if list.0.is_null() {
            return None;
        }
        self.lazy_flushes[why].fetch_add(1, Ordering::Relaxed);
        Some((rec.clone(), list, cookie))
    }

    pub(crate) fn count_lazy_flush_other(&self) {
        self.lazy_flushes[LAZY_OTHER].fetch_add(1, Ordering::Relaxed);
    }

    /// Nanoseconds until the first lazy flush is due (0: one is due now), or None when no
    /// thread holds lazy callbacks.
    fn lazy_deadline(&self) -> Option<u64> {
        let now = self.now_ns();
        let flush_all = self.barriers.load(Ordering::SeqCst) > 0;
        let reg = self.registry.lock().unwrap();
        reg.iter()
            .filter_map(|r| self.lazy_due(r, now, flush_all))
            .map(|(left, _, _)| left)
            .min()
    }

    fn any_ready(&self) -> bool {
        self.registry
            .lock()
            .unwrap()
            .iter()
            .any(|r| r.queue.has_ready())
    }

    /// Invokes a ready list of `rec`'s callbacks and accounts for them.
    pub(crate) fn invoke_list(&self, rec: &ThreadRecord, list: List) {
        self.invoke_some(rec, list, u64::MAX);
    }

    /// Invokes up to `budget` callbacks of a ready list taken from `rec`; the rest goes back
    /// to the front of `rec`'s ready lists.
    pub(crate) fn invoke_some(&self, rec: &ThreadRecord, list: List, budget: u64) {
        let sample = rec.queue.sample_head.load(Ordering::Acquire);
        let (n, rest, hit) = self.invoke(list.0, budget, sample);
        if hit {
            let now = self.now_ns();
            let queued = rec.queue.sample_ns.load(Ordering::Relaxed);
            let cookie = rec.queue.sample_cookie.load(Ordering::Relaxed);
            rec.queue
                .sample_head
                .store(std::ptr::null_mut(), Ordering::Release);
            self.record_latency(queued, cookie, now);
        }
        if !rest.is_null() {
            rec.queue.return_ready(List(rest));
        }
        rec.queue.invoked.fetch_add(n, Ordering::Release);
        self.invoked.fetch_add(n, Ordering::Relaxed);
        if rest.is_null() {
            let _g = self.done.lock().unwrap();
            self.done_cv.notify_all();
        }
    }

    /// Accounts one sampled callback, queued at `queued` for `cookie` and invoked at `now`.
    fn record_latency(&self, queued: u64, cookie: u64, now: u64) {
        let lat = now.saturating_sub(queued);
        let _ = self.cb_hist.lock().unwrap().record(lat.max(1));
        let gp = self.gp_times.lock().unwrap()[(cookie / 2) as usize % GP_RECORD];
        let mut p = self.cb_parts.lock().unwrap();
        p.total_ns += lat;
        p.samples += 1;
        let (end_seq, start, end) = gp;
        if end_seq == cookie && start >= queued && end <= now {
            p.wait_start_ns += start - queued;
            p.in_gp_ns += end - start;
            p.wait_invoke_ns += now - end;
            p.split += 1;
        }
    }

    /// Remembers when the grace period that ended at `end_seq` ran.
    fn record_gp_times(&self, end_seq: u64, start: u64, end: u64) {
        self.gp_times.lock().unwrap()[(end_seq / 2) as usize % GP_RECORD] = (end_seq, start, end);
    }

    /// Waits out the pacing delay, unless the domain is shutting down.
    fn pace(&self) {
        if self.gp_delay.is_zero() {
            return;
        }
        let deadline = Instant::now() + self.gp_delay;
        let mut w = self.work.lock().unwrap();
        while !*w && !self.urgent.load(Ordering::Relaxed) {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            w = self.work_cv.wait_timeout(w, deadline - now).unwrap().0;
        }
    }

    /// Runs up to `budget` callbacks from `p`; returns how many, the rest of the list, and
    /// whether `sample` was among them.
    fn invoke(
        &self,
        mut p: *mut crate::RcuHead,
        budget: u64,
        sample: *mut crate::RcuHead,
    ) -> (u64, *mut crate::RcuHead, bool) {
        let mut n = 0;
        let mut hit = false;
        while !p.is_null() && n < budget {
            n += 1;
            hit |= p == sample;
            // SAFETY: `p` was queued through `ThreadHandle::call`, whose contract keeps it valid
            // until its function runs; `next` is read before the function may free it.
            let (next, func) = unsafe { ((*p).next, (*p).func) };
            if let (Some(f), Some(chain)) = (func, &self.chain) {
                let head = std::ptr::NonNull::new(p).unwrap();
                // SAFETY: the head stays valid until `f` runs (call's contract), now after
                // the chained domain's grace period too.
                unsafe { chain.register().call(head, f) };
            } else if let Some(f) = func {
                let head = std::ptr::NonNull::new(p).unwrap();
                // SAFETY: `call`'s contract makes `f(head)` sound on this thread, once.
                let r = std::panic::catch_unwind(|| unsafe { f(head) });
                if let Err(e) = r {
                    let msg = e
                        .downcast_ref::<&str>()
                        .map(|s| s.to_string())
                        .or_else(|| e.downcast_ref::<String>().cloned())
                        .unwrap_or_else(|| "non-string panic".into());
                    let mut f = self.failure.lock().unwrap();
                    f.get_or_insert(format!(
                        "a callback panicked on RCU domain '{}': {msg}",
                        self.name
                    ));
                }
            }
            p = next;
        }
        (n, p, hit)
    }
}

/// Spin briefly, then yield (a preempted reader needs our CPU), then sleep with growing pauses
/// (never when urgent).
fn backoff(tries: &mut u32, urgent: bool) {
    if *tries < 64 {
        std::hint::spin_loop();
    } else if urgent || *tries < 64 + 32 {
        thread::yield_now();
    } else {
        let exp = (*tries - 96).min(7);
        thread::sleep(Duration::from_micros(10u64 << exp));
    }
    *tries += 1;
}
