//! Grace-period domains: the writer side (grace periods, callbacks, barrier).

use std::sync::atomic::{fence, AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crossbeam_utils::CachePadded;
use hdrhistogram::Histogram;

use std::ptr::NonNull;

use crate::callback::{CallbackFn, List, RcuHead};
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
    /// Holdouts (threads a grace period found inside an older section) that reported their
    /// quiescent state themselves, and those the grace period's own scan found done.
    pub qs_reported: u64,
    pub qs_scanned: u64,
    /// Thread records ever created by `register` (one per thread that registered while not
    /// registered already).
    pub registrations: u64,
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
    /// Serialises grace periods; holds a scratch list of the running one's holdouts.
    gp_lock: Mutex<Vec<Arc<ThreadRecord>>>,
    pub(crate) registry: Mutex<Vec<Arc<ThreadRecord>>>,
    /// Callbacks queued by threads with no registration (callbacks chaining into this domain
    /// from another domain's thread): one record for all of them, never an owner's.
    shared: Arc<ThreadRecord>,
    /// The largest cookie `start_poll` asked for: the GP thread runs grace periods until it
    /// is done even with no callbacks queued.
    requested: AtomicU64,
    /// The largest cookie an urgent request (`request_urgent`, `synchronize_expedited`,
    /// `barrier`) asked for: until it is done, grace periods skip pacing and their waiters
    /// poll readers without sleeping (the kernel's urgent quiescent-state request). A cookie
    /// rather than a flag, so a request arriving during a grace period also hurries the next
    /// one it needs.
    urgent_until: AtomicU64,
    /// Holdouts of the grace period in flight that have not reported a quiescent state yet.
    qs_remaining: CachePadded<AtomicUsize>,
    /// The last report wakes the grace period's waiter here.
    qs_lock: Mutex<()>,
    qs_cv: Condvar,
    qs_reported: AtomicU64,
    qs_scanned: AtomicU64,
    pub(crate) registrations: AtomicU64,
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
        let shared = Arc::new(ThreadRecord::new());
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
            registry: Mutex::new(vec![shared.clone()]),
            shared,
            requested: AtomicU64::new(0),
            urgent_until: AtomicU64::new(0),
            qs_remaining: CachePadded::new(AtomicUsize::new(0)),
            qs_lock: Mutex::new(()),
            qs_cv: Condvar::new(),
            qs_reported: AtomicU64::new(0),
            qs_scanned: AtomicU64::new(0),
            registrations: AtomicU64::new(0),
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

    /// Whether `other` is this same domain (a clone of it), not merely one configured alike.
    #[inline]
    pub fn same_as(&self, other: &Domain) -> bool {
        Arc::ptr_eq(&self.outer.inner, &other.outer.inner)
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
        inner.request_urgent_for(cookie);
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

    /// Asks the grace period in flight to finish as soon as readers allow (its waiter polls
    /// them without sleeping); between grace periods it does nothing, as the kernel's
    /// `rcu_request_urgent_qs_task`, which memalloc.c calls when a callback is already
    /// pending, to keep memory from piling up.
    pub fn request_urgent(&self) {
        self.inner().request_urgent();
    }

    /// Waits until every callback queued (by any thread) before the call has been invoked.
    pub fn barrier(&self) {
        self.inner().barrier();
    }

    /// Queues `func(head)` like [`ThreadHandle::call`], from any thread: on the calling
    /// thread's own queue if it is registered, else on the domain's shared queue. For work
    /// that runs where no registration is at hand, such as a callback of another domain,
    /// without registering (and dropping) a thread per call.
    ///
    /// # Safety
    /// As for [`ThreadHandle::call`].
    pub unsafe fn call_any(&self, head: NonNull<RcuHead>, func: CallbackFn) {
        let inner = self.inner();
        // SAFETY: forwarded from the caller; a record found is this thread's own.
        unsafe { inner.call_unsampled(current_record(inner.id).as_deref(), head, func) }
    }

    /// Callbacks queued and not yet invoked, over every thread.
    pub fn pending_callbacks(&self) -> u64 {
        self.inner().pending_callbacks()
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
        let pending = inner.pending_callbacks();
        DomainStats {
            grace_periods: inner.grace_periods.load(Ordering::Relaxed),
            callbacks_invoked: inner.invoked.load(Ordering::Relaxed),
            callbacks_pending: pending,
            gp_ns_total: inner.gp_ns_total.load(Ordering::Relaxed),
            gp_ns_max: inner.gp_ns_max.load(Ordering::Relaxed),
            urgent_requests: inner.urgent_requests.load(Ordering::Relaxed),
            qs_reported: inner.qs_reported.load(Ordering::Relaxed),
            qs_scanned: inner.qs_scanned.load(Ordering::Relaxed),
            registrations: inner.registrations.load(Ordering::Relaxed),
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

    /// `gp_seq` as invokers read it (acquire: a completed grace period's end is visible).
    #[inline]
    pub(crate) fn gp_seq_now(&self) -> u64 {
        self.gp_seq.load(Ordering::Acquire)
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

    fn pending_callbacks(&self) -> u64 {
        self.registry
            .lock()
            .unwrap()
            .iter()
            .map(|r| {
                let e = r.queue.enqueued.load(Ordering::Acquire);
                e.saturating_sub(r.queue.invoked.load(Ordering::Acquire))
            })
            .sum()
    }

    /// `call` without a handle (see `Domain::call_any`): on `own`, the calling thread's
    /// record, or on the shared record when the thread is not registered.
    ///
    /// # Safety
    /// As `ThreadHandle::call`; `own` is the calling thread's record of this domain.
    unsafe fn call_unsampled(
        &self,
        own: Option<&ThreadRecord>,
        head: NonNull<RcuHead>,
        f: CallbackFn,
    ) {
        let h = head.as_ptr();
        // SAFETY: the head is valid and not queued (the caller's contract); only the owner
        // pushes on its own record, anyone on the shared one.
        unsafe {
            (*h).func = Some(f);
            (*h).cookie = self.get_state();
            let was_empty = match own {
                Some(rec) => rec.queue.push(h),
                None => self.shared.queue.push_shared(h),
            };
            if was_empty {
                self.kick_gp_thread();
            }
        }
    }

    /// Whether an urgent request still applies to the grace period in flight or the next.
    #[inline]
    fn is_urgent(&self) -> bool {
        !self.poll(self.urgent_until.load(Ordering::Acquire))
    }

    /// The pacing a normal grace-period request for `cookie` waits; cut short by an urgent
    /// request or by someone else's grace period completing the cookie.
    fn pace_caller(&self, cookie: u64) {
        if self.gp_delay.is_zero() {
            return;
        }
        let end = Instant::now() + self.gp_delay;
        while !self.is_urgent() && !self.poll(cookie) {
            let now = Instant::now();
            if now >= end {
                break;
            }
            thread::sleep((end - now).min(Duration::from_micros(500)));
        }
    }

    /// Hurries the grace period in flight, if any (rcu_request_urgent_qs_task: it asks the
    /// holdouts of the current grace period for a quiescent state and starts nothing). A
    /// request made between grace periods changes nothing: the next one keeps its pacing, the
    /// model of the kernel's grace-period kthread. Hurrying the next one too made every free
    /// of free-rcu start grace periods back to back (8-11 thousand a second, each a
    /// membarrier), which no kernel does.
    fn request_urgent(&self) {
        // Cheap when a request already covers it: free paths call this on every refill.
        let s = self.gp_seq.load(Ordering::Acquire);
        if s & 1 == 0 {
            return;
        }
        let end = s + 1;
        if self.urgent_until.load(Ordering::Relaxed) >= end {
            return;
        }
        self.request_urgent_for(end);
    }

    /// Makes every grace period up to the one completing `cookie` urgent.
    fn request_urgent_for(&self, cookie: u64) {
        let prev = self.urgent_until.fetch_max(cookie, Ordering::SeqCst);
        if prev >= cookie {
            return;
        }
        if self.poll(prev) {
            self.urgent_requests.fetch_add(1, Ordering::Relaxed);
        }
        {
            let _g = self.work.lock().unwrap();
            self.work_cv.notify_all();
        }
        // A grace period's waiter sleeping between scans polls without sleeping from now on.
        let _g = self.qs_lock.lock().unwrap();
        self.qs_cv.notify_all();
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
            let mut holdouts = self.gp_lock.lock().unwrap();
            if self.poll(cookie) {
                break;
            }
            // One grace period suffices: gp_seq is idle under the lock, and seq_snap never
            // names more than the one after the next start.
            self.run_gp(&mut holdouts);
        }
    }

    /// One grace period. Caller holds `gp_lock`.
    ///
    /// Why readers stay safe: after M1 every reader either has its slot store visible here or
    /// has not executed it yet, in which case its section loads the new reader counter and
    /// sees every update made before the grace period, so only slots holding an older value
    /// (the holdouts) are waited for. A holdout is released only when its section is seen to
    /// have ended: by this scan (acquire load of its slot, after its release store of 0), or
    /// by the thread itself reporting from outside every section (`note_quiescent`), whose
    /// release RMWs on `qs_pending` and `qs_remaining` chain to this thread's acquire load of
    /// `qs_remaining`. Either way the section's loads happen before the end of the grace
    /// period, and so before anything it protected is reclaimed.
    fn run_gp(&self, holdouts: &mut Vec<Arc<ThreadRecord>>) {
        let started = Instant::now();
        let start_ns = self.now_ns();
        let s = self.gp_seq.load(Ordering::Relaxed);
        debug_assert!(s & 1 == 0);
        self.gp_seq.store(s + 1, Ordering::Relaxed);
        fence(Ordering::SeqCst);
        // M1 (see above).
        if self.fence_readers {
            fence(Ordering::SeqCst);
        } else {
            membarrier::heavy();
        }
        // 64 bits never wrap, so one phase suffices.
        let target = self.reader_ctr.fetch_add(2, Ordering::SeqCst) + 2;
        holdouts.extend(
            self.registry
                .lock()
                .unwrap()
                .iter()
                .filter(|r| holds_out(r, target))
                .cloned(),
        );
        self.wait_for_holdouts(holdouts, target);
        holdouts.clear();
        if let Some(d) = &self.implies {
            d.inner().wait_for_cookie(d.inner().get_state());
        }
        fence(Ordering::SeqCst);
        self.gp_seq.store(s + 2, Ordering::Release);
        self.grace_periods.fetch_add(1, Ordering::Relaxed);
        let ns = started.elapsed().as_nanos() as u64;
        self.gp_ns_total.fetch_add(ns, Ordering::Relaxed);
        self.gp_ns_max.fetch_max(ns, Ordering::Relaxed);
        // Uncontended: grace periods are serialised by gp_lock.
        let _ = self.gp_hist.lock().unwrap().record(ns.max(1));
        self.record_gp_times(s + 2, start_ns, start_ns + ns);
    }

    /// Waits until every holdout has reported a quiescent state or been seen out of its
    /// section. Holdouts report themselves, and the last report wakes this waiter; the scan
    /// between waits catches threads that never report (they are not obliged to).
    fn wait_for_holdouts(&self, holdouts: &[Arc<ThreadRecord>], target: u64) {
        if holdouts.is_empty() {
            return;
        }
        self.qs_remaining.store(holdouts.len(), Ordering::SeqCst);
        for r in holdouts {
            r.qs_pending.store(true, Ordering::SeqCst);
        }
        // Pairs with note_quiescent's fence (Dekker): a holdout that has left its section
        // either sees its qs_pending and reports, or this scan sees its slot and reports it.
        fence(Ordering::SeqCst);
        let mut tries = 0u32;
        loop {
            for r in holdouts {
                if r.qs_pending.load(Ordering::Relaxed)
                    && !holds_out(r, target)
                    && self.report_qs(r)
                {
                    self.qs_scanned.fetch_add(1, Ordering::Relaxed);
                }
            }
            if self.qs_remaining.load(Ordering::Acquire) == 0 {
                return;
            }
            self.wait_for_reports(&mut tries);
        }
    }

    /// Between two scans: spin briefly, then sleep until the last holdout reports, or for a
    /// time that grows from 10 us to 640 us (10 us while urgent): the scan's pace for threads
    /// that do not report. Never a yield loop: on a machine with no idle CPU a waiter that
    /// stays runnable takes turns with the very readers it waits for.
    fn wait_for_reports(&self, tries: &mut u32) {
        *tries += 1;
        if *tries <= 64 {
            std::hint::spin_loop();
            return;
        }
        let exp = if self.is_urgent() {
            0
        } else {
            ((*tries - 65) / 4).min(6)
        };
        let g = self.qs_lock.lock().unwrap();
        if self.qs_remaining.load(Ordering::Acquire) != 0 {
            let pause = Duration::from_micros(10u64 << exp);
            drop(self.qs_cv.wait_timeout(g, pause).unwrap());
        }
    }

    /// Counts `rec`'s quiescent state if nobody has yet; wakes the waiter at the last one.
    fn report_qs(&self, rec: &ThreadRecord) -> bool {
        if !rec.qs_pending.swap(false, Ordering::AcqRel) {
            return false;
        }
        if self.qs_remaining.fetch_sub(1, Ordering::AcqRel) == 1 {
            let _g = self.qs_lock.lock().unwrap();
            self.qs_cv.notify_all();
        }
        true
    }

    /// A registered thread outside every section of this domain, while a grace period runs.
    pub(crate) fn note_quiescent(&self, rec: &ThreadRecord) {
        // Pairs with wait_for_holdouts' fence; orders this thread's last section (ended by
        // its release store of 0) before the report below.
        fence(Ordering::SeqCst);
        if rec.qs_pending.load(Ordering::Relaxed) && self.report_qs(rec) {
            self.qs_reported.fetch_add(1, Ordering::Relaxed);
        }
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

    /// Waits until every thread's `invoked` reaches the `enqueued` it had at the call. Exact
    /// because each thread's callbacks run in the order it queued them (see CallbackQueue).
    fn barrier_wait(&self) {
        let me = current_record(self.id);
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
        loop {
            // This thread's own callbacks: nobody else invokes them while it is active.
            if let Some(rec) = &me {
                self.invoke_ready(rec, u64::MAX);
            }
            if all_done() {
                return;
            }
            // A barrier is teardown: hurry the grace periods it waits for, and wake the
            // domain's thread (it may be sleeping before taking back idle owners' lists).
            self.request_urgent_for(self.get_state());
            self.wake_gp_thread();
            let g = self.done.lock().unwrap();
            if !all_done() {
                // The timeout guards against a wake-up raced between the check and the wait.
                drop(
                    self.done_cv
                        .wait_timeout(g, Duration::from_millis(1))
                        .unwrap(),
                );
            }
        }
    }

    fn gp_thread(self: Arc<Self>) {
        let mut stale: Vec<Arc<ThreadRecord>> = Vec::new();
        let mut round = 0u64;
        loop {
            round += 1;
            // Shutting down: every list is flushed and invoked here, then the thread ends.
            let shutdown = *self.work.lock().unwrap();
            let mut need = 0u64;
            let mut left = false;
            {
                let mut reg = self.registry.lock().unwrap();
                let now = self.now_ns();
                let flush_all = shutdown || self.barriers.load(Ordering::SeqCst) > 0;
                for rec in reg.iter() {
                    // An owner that queued nothing for two rounds invokes nothing either: its
                    // lists are invoked here (as are the shared record's and exited threads').
                    let q = &rec.queue;
                    let e = q.enqueued.load(Ordering::Acquire);
                    if e != q.seen_enqueued.load(Ordering::Relaxed) {
                        q.seen_enqueued.store(e, Ordering::Relaxed);
                        q.seen_round.store(round, Ordering::Relaxed);
                    }
                    if shutdown
                        || Arc::ptr_eq(rec, &self.shared)
                        || rec.dead.load(Ordering::Acquire)
                        || q.seen_round.load(Ordering::Relaxed) + 2 <= round
                    {
                        stale.push(rec.clone());
                    }
                    // The main stack before the lazy one: every lazy callback is newer than
                    // every callback on the main stack (a hurried `call` moves older ones).
                    // Lists taken in earlier rounds need nothing more: a round ends only once
                    // its `need` is done, so only this round's cookies count.
                    let (list, cookie) = q.take_all();
                    need = need.max(cookie);
                    q.add_pending(list, cookie);
                    if let Some((list, cookie)) = self.flush_lazy(rec, now, flush_all) {
                        need = need.max(cookie);
                        q.add_pending(list, cookie);
                    }
                    left |= q.has_pending() || !q.lazy_is_empty();
                }
                // Forget exited threads once everything they queued has run.
                reg.retain(|r| {
                    !(r.dead.load(Ordering::Acquire)
                        && r.queue.is_empty()
                        && r.queue.lazy_is_empty()
                        && !r.queue.has_pending()
                        && r.queue.invoked.load(Ordering::Acquire)
                            == r.queue.enqueued.load(Ordering::Acquire))
                });
            }
            for rec in stale.drain(..) {
                self.invoke_ready(&rec, u64::MAX);
            }
            let need = need.max(self.requested.load(Ordering::SeqCst));
            if !self.poll(need) {
                if !shutdown {
                    self.pace();
                }
                self.wait_for_cookie(need);
                continue;
            }
            if shutdown {
                if !left {
                    return;
                }
                continue;
            }
            let w = self.work.lock().unwrap();
            if *w {
                continue;
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
            // Sleep until woken, or until the first lazy flush is due, or, when lists whose
            // grace period has completed wait for their owners, until it is time to take
            // them back -- not after the pacing delay: with long pacing, ready callbacks of
            // an owner that stopped calling would wait that long.
            let mut pause = lazy.map(Duration::from_nanos);
            if self.any_pending() {
                let p = READY_TAKEBACK_PAUSE;
                pause = Some(pause.map_or(p, |l| l.min(p)));
            }
            match pause {
                Some(p) => drop(self.work_cv.wait_timeout(w, p).unwrap()),
                None => drop(self.work_cv.wait(w).unwrap()),
            }
            self.idle.store(false, Ordering::Relaxed);
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
    fn flush_lazy(&self, rec: &ThreadRecord, now: u64, flush_all: bool) -> Option<(List, u64)> {
        let (0, why, since) = self.lazy_due(rec, now, flush_all)? else {
            return None;
        };
        let (list, cookie) = rec.queue.take_lazy(since);
        if list.0.is_null() {
            return None;
        }
        self.lazy_flushes[why].fetch_add(1, Ordering::Relaxed);
        Some((list, cookie))
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

    /// Whether any thread holds taken lists (waiting for a grace period or an invoker).
    fn any_pending(&self) -> bool {
        self.registry
            .lock()
            .unwrap()
            .iter()
            .any(|r| r.queue.has_pending())
    }

    /// Invokes up to `budget` of `rec`'s callbacks whose grace period has completed, oldest
    /// first, unless another thread is invoking them; returns how many ran.
    pub(crate) fn invoke_ready(&self, rec: &ThreadRecord, budget: u64) -> u64 {
        let q = &rec.queue;
        if !q.try_begin_invoke() {
            return 0;
        }
        let seq = self.gp_seq_now();
        let mut ran = 0;
        while ran < budget {
            let Some((list, cookie)) = q.pop_done(seq) else {
                break;
            };
            let sample = q.sample_head.load(Ordering::Acquire);
            let (n, rest, hit) = self.invoke(list.0, budget - ran, sample);
            if hit {
                let now = self.now_ns();
                let queued = q.sample_ns.load(Ordering::Relaxed);
                let sampled = q.sample_cookie.load(Ordering::Relaxed);
                q.sample_head.store(std::ptr::null_mut(), Ordering::Release);
                self.record_latency(queued, sampled, now);
            }
            ran += n;
            q.invoked.fetch_add(n, Ordering::Release);
            self.invoked.fetch_add(n, Ordering::Relaxed);
            if !rest.is_null() {
                q.return_done(List(rest), cookie);
                break;
            }
        }
        q.end_invoke();
        if ran > 0 && self.barriers.load(Ordering::Relaxed) > 0 {
            let _g = self.done.lock().unwrap();
            self.done_cv.notify_all();
        }
        ran
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
        while !*w && !self.is_urgent() {
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
                unsafe { chain.call_any(head, f) };
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

/// Whether `rec` is inside a read-side section that began before the grace period whose
/// reader counter is `target`.
fn holds_out(rec: &ThreadRecord, target: u64) -> bool {
    let v = rec.slot.load(Ordering::Acquire);
    v != 0 && v < target
}
