//! Reader registration and the read-side fast path (liburcu's memb algorithm).

use std::cell::RefCell;
use std::marker::PhantomData;
use std::ptr::NonNull;
use std::sync::atomic::{compiler_fence, fence, AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Weak};

use crossbeam_utils::CachePadded;

use crate::callback::{BoxedCallback, CallbackFn, CallbackQueue, RcuHead};
use crate::domain::{Domain, Inner};

/// What one thread shares with a domain: its reader slot and its callback queue.
pub(crate) struct ThreadRecord {
    /// 0 while outside a read-side section, else the domain's reader counter as read at the
    /// outermost `read_lock`. Written by the owner only; read by grace periods.
    pub(crate) slot: CachePadded<AtomicU64>,
    /// Nesting depth and live handle count: owner-only, atomics only so the record is `Sync`.
    nest: AtomicU32,
    handles: AtomicU32,
    pub(crate) dead: AtomicBool,
    /// Set by a grace period that found this thread inside a section begun before it (a
    /// holdout); cleared by whoever reports the thread's quiescent state: the thread itself
    /// at `quiescent`, or the grace period's own scan of `slot`. The one that clears it counts
    /// the report, so each holdout is counted once.
    pub(crate) qs_pending: AtomicBool,
    pub(crate) queue: CachePadded<CallbackQueue>,
}

impl ThreadRecord {
    pub(crate) fn new() -> Self {
        ThreadRecord {
            slot: CachePadded::new(AtomicU64::new(0)),
            nest: AtomicU32::new(0),
            handles: AtomicU32::new(0),
            dead: AtomicBool::new(false),
            qs_pending: AtomicBool::new(false),
            queue: CachePadded::new(CallbackQueue::default()),
        }
    }

    pub(crate) fn nesting(&self) -> u32 {
        self.nest.load(Ordering::Relaxed)
    }
}

/// Callbacks a `call` invokes at most, each consuming capacity well above the one it queues.
const READY_BUDGET: u64 = 32;

thread_local! {
    /// This thread's records, one per domain it registered with (by domain id).
    static RECORDS: RefCell<Vec<(u64, Weak<ThreadRecord>)>> = const { RefCell::new(Vec::new()) };
}

/// The calling thread's record for `dom`, if it has registered.
pub(crate) fn current_record(dom_id: u64) -> Option<Arc<ThreadRecord>> {
    RECORDS
        .try_with(|r| {
            r.borrow()
                .iter()
                .find(|(id, _)| *id == dom_id)
                .and_then(|(_, w)| w.upgrade())
        })
        .ok()
        .flatten()
}

/// A thread's registration with one domain. Not `Send`: it *is* the thread's reader slot.
///
/// Registering twice on one thread returns handles sharing one record, so independent
/// components (a map, an allocator cache) can each hold one without doubling the slots that
/// grace periods scan.
pub struct ThreadHandle {
    rec: Arc<ThreadRecord>,
    domain: Domain,
    _not_send: PhantomData<*const ()>,
}

impl ThreadHandle {
    pub(crate) fn register(domain: &Domain) -> ThreadHandle {
        let inner = domain.inner();
        let rec = match current_record(inner.id) {
            Some(rec) => rec,
            None => {
                let rec = Arc::new(ThreadRecord::new());
                inner.registry.lock().unwrap().push(rec.clone());
                inner.registrations.fetch_add(1, Ordering::Relaxed);
                RECORDS.with(|r| {
                    let mut r = r.borrow_mut();
                    r.retain(|(_, w)| w.strong_count() > 0);
                    r.push((inner.id, Arc::downgrade(&rec)));
                });
                rec
            }
        };
        rec.handles
            .store(rec.handles.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
        ThreadHandle {
            rec,
            domain: domain.clone(),
            _not_send: PhantomData,
        }
    }

    pub fn domain(&self) -> &Domain {
        &self.domain
    }

    #[inline]
    fn inner(&self) -> &Inner {
        self.domain.inner()
    }

    /// Enters a read-side section; sections nest. Objects reached inside it stay valid until
    /// the guard drops: reclamation waits for a grace period, which waits for this section.
    #[inline]
    pub fn read_lock(&self) -> ReadGuard<'_> {
        let rec = &*self.rec;
        let n = rec.nest.load(Ordering::Relaxed);
        if n == 0 {
            let inner = self.inner();
            rec.slot
                .store(inner.reader_ctr.load(Ordering::Relaxed), Ordering::Relaxed);
            // memb: the writer's membarrier orders this store against the section's loads;
            // without membarrier the reader pays for the fence itself (urcu-mb).
            if inner.fence_readers {
                fence(Ordering::SeqCst);
            } else {
                compiler_fence(Ordering::SeqCst);
            }
        }
        rec.nest.store(n + 1, Ordering::Relaxed);
        ReadGuard { handle: self }
    }

    #[inline]
    fn read_unlock(&self) {
        let rec = &*self.rec;
        let n = rec.nest.load(Ordering::Relaxed) - 1;
        rec.nest.store(n, Ordering::Relaxed);
        if n == 0 {
            // Release keeps the section's loads before the store that ends it; the grace
            // period reads the slot with Acquire before anything is reclaimed.
            rec.slot.store(0, Ordering::Release);
        }
    }

    /// Whether this thread is inside a read-side section of this domain.
    pub fn in_read_section(&self) -> bool {
        self.rec.nesting() > 0
    }

    /// Queues `func(head)` to run after a full grace period (the kernel's `call_rcu`).
    /// Never blocks; allocates nothing.
    ///
    /// Callbacks run either on the domain's thread or, like the kernel's softirq on the CPU
    /// that queued them, inside a later `call` on this thread — possibly within a read-side
    /// section. So a callback must not take a lock that a caller of `call` may hold.
    ///
    /// # Safety
    /// `head` must be valid and not already queued, and stay valid until `func` runs; `func`
    /// must be sound to call from any thread with that head.
    pub unsafe fn call(&self, head: NonNull<RcuHead>, func: CallbackFn) {
        // SAFETY: `head` is valid and not queued (our contract), as `prepare` requires.
        let h = unsafe { self.prepare(head, func) };
        let q = &self.rec.queue;
        if !q.lazy_is_empty() && q.splice_lazy() {
            // This thread's lazy callbacks go along with the hurried one.
            self.inner().count_lazy_flush_other();
        }
        // SAFETY: `h` is `head`: valid, not queued anywhere, and valid until its callback runs
        // (our contract), as `push` requires; `q` is this thread's own queue (the handle is
        // not `Send`), so we are its owner.
        if unsafe { q.push(h) } {
            self.inner().kick_gp_thread();
        }
        self.run_ready();
    }

    /// Like [`call`](Self::call), but lazy (the kernel's `call_rcu` under CONFIG_RCU_LAZY;
    /// `call` is its `call_rcu_hurry`): no grace period is started for the callback until
    /// this thread has `lazy_qhimark` lazy callbacks, the oldest has waited `lazy_flush`,
    /// this thread queues a non-lazy one (they join its grace period), a `barrier` runs, or
    /// the thread exits. Batches
    /// callbacks into fewer grace periods at the price of latency and memory.
    ///
    /// # Safety
    /// As for [`call`](Self::call).
    pub unsafe fn call_lazy(&self, head: NonNull<RcuHead>, func: CallbackFn) {
        let inner = self.inner();
        // SAFETY: `head` is valid and not queued (our contract), as `prepare` requires.
        let h = unsafe { self.prepare(head, func) };
        let q = &self.rec.queue;
        // SAFETY: `h` is `head`: valid, not queued anywhere, and valid until its callback runs
        // (our contract), as `push_lazy` requires; `q` is this thread's own queue.
        if unsafe { q.push_lazy(h) } {
            q.lazy_since.store(inner.now_ns().max(1), Ordering::Release);
            // The domain's thread arms its flush timer.
            inner.kick_gp_thread();
        }
        let n = q.lazy_len.fetch_add(1, Ordering::Relaxed) + 1;
        if n >= inner.lazy_qhimark && !q.lazy_full.load(Ordering::Relaxed) {
            q.lazy_full.store(true, Ordering::SeqCst);
            inner.kick_gp_thread();
        }
        self.run_ready();
    }

    /// Fills in a head about to be queued and picks it as the latency sample if none is in
    /// flight. Sampled before the push: once pushed, the callback may run (and free it).
    ///
    /// # Safety
    /// `head` is valid and not queued (`call`'s contract), so it is ours to write.
    unsafe fn prepare(&self, head: NonNull<RcuHead>, func: CallbackFn) -> *mut RcuHead {
        let inner = self.inner();
        let h = head.as_ptr();
        // SAFETY: `head` is valid and not queued (our contract): no other thread can reach it
        // until it is pushed, so it is ours to write.
        unsafe {
            (*h).func = Some(func);
            (*h).cookie = inner.get_state();
        }
        let q = &self.rec.queue;
        if q.enqueued.load(Ordering::Relaxed).is_multiple_of(64)
            && q.sample_head.load(Ordering::Relaxed).is_null()
        {
            q.sample_ns.store(inner.now_ns(), Ordering::Relaxed);
            // SAFETY: as above; still not pushed, so valid and ours.
            q.sample_cookie
                .store(unsafe { (*h).cookie }, Ordering::Relaxed);
            q.sample_head.store(h, Ordering::Release);
        }
        h
    }

    /// Invokes up to `READY_BUDGET` of this thread's callbacks whose grace period has
    /// completed. The budget (the kernel's blimit) keeps a read-side section that queues a
    /// callback from growing long, which would stretch the next grace period.
    #[inline]
    pub fn run_ready(&self) {
        let inner = self.inner();
        if self.rec.queue.front_done(inner.gp_seq_now()) {
            inner.invoke_ready(&self.rec, READY_BUDGET);
        }
    }

    /// Reports a quiescent state: the thread is outside every read-side section of this
    /// domain, as a CPU returning from a BPF program is (the kernel's `rcu_qs`). A grace period
    /// waiting for this thread ends without waiting for its own scan to notice, and the last
    /// thread to report ends it. Then, as softirq does on that CPU, runs this thread's
    /// callbacks whose grace period has completed.
    ///
    /// Cheap when no grace period runs (one load); calling it inside a section does nothing.
    #[inline]
    pub fn quiescent(&self) {
        if self.rec.nesting() != 0 {
            return;
        }
        let inner = self.inner();
        if inner.gp_seq_now() & 1 == 1 {
            inner.note_quiescent(&self.rec);
        }
        self.run_ready();
    }

    /// Like [`call`](Self::call) for a closure, at the price of one heap allocation.
    pub fn call_boxed<F: FnOnce() + Send + 'static>(&self, f: F) {
        let head = BoxedCallback::into_head(f);
        // SAFETY: the head is a fresh box owned by the queue until `run` frees it.
        unsafe { self.call(head, BoxedCallback::<F>::run) }
    }

    /// Like [`call_lazy`](Self::call_lazy) for a closure, at the price of one heap allocation.
    pub fn call_lazy_boxed<F: FnOnce() + Send + 'static>(&self, f: F) {
        let head = BoxedCallback::into_head(f);
        // SAFETY: the head is a fresh box owned by the queue until `run` frees it.
        unsafe { self.call_lazy(head, BoxedCallback::<F>::run) }
    }
}

impl Clone for ThreadHandle {
    fn clone(&self) -> Self {
        let h = &self.rec.handles;
        h.store(h.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
        ThreadHandle {
            rec: self.rec.clone(),
            domain: self.domain.clone(),
            _not_send: PhantomData,
        }
    }
}

impl Drop for ThreadHandle {
    fn drop(&mut self) {
        let h = &self.rec.handles;
        let n = h.load(Ordering::Relaxed) - 1;
        h.store(n, Ordering::Relaxed);
        if n == 0 {
            // Queued callbacks still run: the GP thread drops the record once they have.
            self.rec.dead.store(true, Ordering::Release);
            if !self.rec.queue.lazy_is_empty() {
                // Lazy ones are flushed at exit; the domain's thread may be asleep until
                // their timer. (It holds its work lock from its last look at `dead` until it
                // sleeps, so this wake-up cannot fall between the two.)
                self.inner().wake_gp_thread();
            }
            let id = self.inner().id;
            let _ = RECORDS.try_with(|r| r.borrow_mut().retain(|(i, _)| *i != id));
        }
    }
}

/// A read-side critical section; ends on drop.
pub struct ReadGuard<'a> {
    handle: &'a ThreadHandle,
}

impl ReadGuard<'_> {
    pub fn handle(&self) -> &ThreadHandle {
        self.handle
    }

    /// The domain whose read-side section this is.
    #[inline]
    pub fn domain(&self) -> &Domain {
        &self.handle.domain
    }
}

impl Drop for ReadGuard<'_> {
    #[inline]
    fn drop(&mut self) {
        self.handle.read_unlock();
    }
}
