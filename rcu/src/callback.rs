//! Callback heads and the per-thread callback queues.

use std::collections::VecDeque;
use std::ptr::{self, NonNull};
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, Ordering};
use std::sync::Mutex;

/// The function a callback runs once its grace period has elapsed. It receives the head it was
/// queued with and usually recovers the enclosing object from it (container_of).
pub type CallbackFn = unsafe fn(NonNull<RcuHead>);

/// The kernel's `struct rcu_head`, plus the grace-period cookie the callback waits for.
///
/// Embed it in the object to be reclaimed: queueing a callback then allocates nothing.
#[repr(C)]
#[derive(Debug)]
pub struct RcuHead {
    pub(crate) next: *mut RcuHead,
    pub(crate) func: Option<CallbackFn>,
    pub(crate) cookie: u64,
}

impl RcuHead {
    pub const fn new() -> Self {
        RcuHead {
            next: ptr::null_mut(),
            func: None,
            cookie: 0,
        }
    }

    /// The grace-period cookie recorded when this head was last queued.
    pub fn cookie(&self) -> u64 {
        self.cookie
    }
}

impl Default for RcuHead {
    fn default() -> Self {
        Self::new()
    }
}

/// A list of callbacks linked through `next`, owned by whoever holds it.
#[derive(Clone, Copy)]
pub(crate) struct List(pub(crate) *mut RcuHead);

// SAFETY: a list is handed between threads whole; only its holder touches the nodes.
unsafe impl Send for List {}

/// One thread's callback queue.
///
/// `call` pushes on a Treiber stack that the domain's thread takes whole (no ABA: nothing
/// pops single entries); the taken list waits for its grace period and then goes to `ready`,
/// from which the owner invokes a few per `call` -- as the kernel invokes callbacks in softirq
/// on the CPU that queued them, which makes a CPU that floods call_rcu pay for its callbacks.
/// No step walks a list except the invoking one, so the domain's thread does O(threads) work
/// per grace period however many callbacks are queued.
#[derive(Default)]
pub(crate) struct CallbackQueue {
    head: AtomicPtr<RcuHead>,
    /// Lists whose grace period has completed, oldest first.
    ready: Mutex<VecDeque<List>>,
    has_ready: AtomicBool,
    /// Callbacks ever queued (written by the owner only) and invoked;
    /// `barrier` waits until every thread's `invoked` reaches the `enqueued` it saw.
    pub(crate) enqueued: AtomicU64,
    pub(crate) invoked: AtomicU64,
    /// The domain thread's view of the owner's activity: `enqueued` when last seen changing
    /// and the round it changed in. An owner that stops queueing stops invoking, so after two
    /// quiet rounds the domain's thread invokes its ready lists itself.
    pub(crate) seen_enqueued: AtomicU64,
    pub(crate) seen_round: AtomicU64,
    /// The callback whose latency is being sampled (null: none in flight) and when it was
    /// queued, on the domain's clock.
    pub(crate) sample_head: AtomicPtr<RcuHead>,
    pub(crate) sample_ns: AtomicU64,
    /// The sampled callback's cookie (the head itself may be gone once it ran).
    pub(crate) sample_cookie: AtomicU64,
    /// Lazy callbacks (`call_lazy`), the kernel's CONFIG_RCU_LAZY bypass list: no grace
    /// period is started for them until the domain's thread flushes the stack into a batch
    /// (too many, too old, a hurried callback on this thread, a barrier, the thread's exit).
    lazy_head: AtomicPtr<RcuHead>,
    /// Callbacks on the lazy stack: incremented by the owner, reset by the flusher (a count
    /// for the flush threshold, not an exact one).
    pub(crate) lazy_len: AtomicU64,
    /// When the lazy stack went from empty to non-empty, on the domain's clock (0: not yet
    /// recorded; the flusher then counts from when it first sees the stack).
    pub(crate) lazy_since: AtomicU64,
    /// The owner found the stack at the flush threshold (the kernel's qhimark).
    pub(crate) lazy_full: AtomicBool,
}

impl CallbackQueue {
    /// Pushes `head`; returns true when the queue was empty (the GP thread may need a wake-up).
    ///
    /// # Safety
    /// `head` is valid, not queued anywhere, and stays valid until its callback runs.
    pub(crate) unsafe fn push(&self, head: *mut RcuHead) -> bool {
        // SAFETY: forwarded from the caller.
        unsafe { self.push_on(&self.head, head) }
    }

    /// Pushes `head` on the lazy stack; returns true when that stack was empty.
    ///
    /// # Safety
    /// As for [`push`](Self::push).
    pub(crate) unsafe fn push_lazy(&self, head: *mut RcuHead) -> bool {
        // SAFETY: forwarded from the caller.
        unsafe { self.push_on(&self.lazy_head, head) }
    }

    /// Called by the owner only (it alone writes `enqueued`).
    ///
    /// # Safety
    /// As for [`push`](Self::push).
    unsafe fn push_on(&self, stack: &AtomicPtr<RcuHead>, head: *mut RcuHead) -> bool {
        let mut cur = stack.load(Ordering::Relaxed);
        loop {
            (*head).next = cur;
            // SeqCst: pairs with the GP thread's idle flag (Dekker) so no wake-up is lost.
            match stack.compare_exchange_weak(cur, head, Ordering::SeqCst, Ordering::Relaxed) {
                Ok(_) => break,
                Err(c) => cur = c,
            }
        }
        let n = self.enqueued.load(Ordering::Relaxed);
        self.enqueued.store(n + 1, Ordering::Release);
        cur.is_null()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.head.load(Ordering::SeqCst).is_null()
    }

    /// Takes every queued callback (newest first) and the cookie of the newest, which is the
    /// largest: cookies only grow along one thread's queue.
    pub(crate) fn take_all(&self) -> (List, u64) {
        take_stack(&self.head)
    }

    pub(crate) fn lazy_is_empty(&self) -> bool {
        self.lazy_head.load(Ordering::SeqCst).is_null()
    }

    /// Takes the lazy stack whole (as `take_all`) and resets the flush state. The start time
    /// is cleared only if the owner has not restarted the stack since `since` was read.
    pub(crate) fn take_lazy(&self, since: u64) -> (List, u64) {
        let taken = take_stack(&self.lazy_head);
        self.lazy_len.store(0, Ordering::Relaxed);
        self.lazy_full.store(false, Ordering::Relaxed);
        let _ = self
            .lazy_since
            .compare_exchange(since, 0, Ordering::AcqRel, Ordering::Relaxed);
        taken
    }

    /// Moves the lazy stack onto the main queue (owner only, before it queues a hurried
    /// callback: the kernel flushes the bypass list ahead of a non-lazy callback). Returns
    /// whether there was anything to move. Walks the lazy list once to find its tail.
    ///
    /// Every lazy callback still on the stack is newer than everything on the main queue
    /// (each hurried call moved the older ones), so the main queue's newest-first cookie
    /// order holds.
    pub(crate) fn splice_lazy(&self) -> bool {
        let since = self.lazy_since.load(Ordering::Acquire);
        let (List(first), _) = self.take_lazy(since);
        if first.is_null() {
            return false;
        }
        let mut tail = first;
        // SAFETY: queued nodes stay valid until they run, and this list is ours until the
        // CAS below publishes it.
        unsafe {
            while !(*tail).next.is_null() {
                tail = (*tail).next;
            }
        }
        let mut cur = self.head.load(Ordering::Relaxed);
        loop {
            // SAFETY: as above.
            unsafe { (*tail).next = cur };
            match self
                .head
                .compare_exchange_weak(cur, first, Ordering::SeqCst, Ordering::Relaxed)
            {
                Ok(_) => return true,
                Err(c) => cur = c,
            }
        }
    }

    /// Queues a list whose grace period has completed for invocation.
    pub(crate) fn publish_ready(&self, l: List) {
        let mut r = self.ready.lock().unwrap();
        r.push_back(l);
        self.has_ready.store(true, Ordering::Release);
    }

    /// Puts back what an invoker did not get to; it goes first next time.
    pub(crate) fn return_ready(&self, l: List) {
        let mut r = self.ready.lock().unwrap();
        r.push_front(l);
        self.has_ready.store(true, Ordering::Release);
    }

    /// The oldest ready list, if any. The check before the lock keeps `call` cheap.
    #[inline]
    pub(crate) fn take_ready(&self) -> Option<List> {
        if !self.has_ready.load(Ordering::Relaxed) {
            return None;
        }
        let mut r = self.ready.lock().unwrap();
        let l = r.pop_front();
        if r.is_empty() {
            self.has_ready.store(false, Ordering::Relaxed);
        }
        l
    }

    pub(crate) fn has_ready(&self) -> bool {
        self.has_ready.load(Ordering::Acquire)
    }
}

fn take_stack(stack: &AtomicPtr<RcuHead>) -> (List, u64) {
    let p = stack.swap(ptr::null_mut(), Ordering::SeqCst);
    // SAFETY: a node stays valid until it runs (push's contract), and this one cannot
    // run before we publish it.
    let cookie = if p.is_null() {
        0
    } else {
        unsafe { (*p).cookie }
    };
    (List(p), cookie)
}

/// A heap-allocated callback for closures (`Domain::call_boxed`).
#[repr(C)]
pub(crate) struct BoxedCallback<F> {
    head: RcuHead,
    f: F,
}

impl<F: FnOnce() + Send + 'static> BoxedCallback<F> {
    pub(crate) fn into_head(f: F) -> NonNull<RcuHead> {
        let b = Box::new(BoxedCallback {
            head: RcuHead::new(),
            f,
        });
        // `head` is the first field of a repr(C) struct, so the pointers coincide.
        NonNull::from(Box::leak(b)).cast()
    }

    pub(crate) unsafe fn run(head: NonNull<RcuHead>) {
        // SAFETY: `head` came from `into_head::<F>` and is invoked exactly once.
        let b = Box::from_raw(head.as_ptr() as *mut BoxedCallback<F>);
        (b.f)();
    }
}
