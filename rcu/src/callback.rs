//! Callback heads and the per-thread callback queues.

use std::ptr::{self, NonNull};
use std::sync::atomic::{AtomicPtr, AtomicU64, Ordering};

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

/// One thread's callback queue: the owner pushes, the domain's grace-period thread takes all.
///
/// A Treiber stack with a take-all consumer has no ABA problem: nothing ever pops one entry.
#[derive(Default)]
pub(crate) struct CallbackQueue {
    head: AtomicPtr<RcuHead>,
    /// Callbacks whose grace period has completed, published by the GP thread for the owner
    /// to invoke at its next `call` (as the kernel invokes callbacks in softirq on the CPU
    /// that queued them, which throttles a CPU that floods call_rcu). Whoever swaps it out
    /// invokes it; the GP thread takes back lists the owner left for a whole round.
    pub(crate) ready: AtomicPtr<RcuHead>,
    /// The GP thread's round in which `ready` was last published.
    pub(crate) ready_round: AtomicU64,
    /// Callbacks ever queued (written by the owner only) and invoked;
    /// `barrier` waits until every thread's `invoked` reaches the `enqueued` it saw.
    pub(crate) enqueued: AtomicU64,
    pub(crate) invoked: AtomicU64,
}

impl CallbackQueue {
    /// Pushes `head`; returns true when the queue was empty (the GP thread may need a wake-up).
    ///
    /// # Safety
    /// `head` is valid, not queued anywhere, and stays valid until its callback runs.
    pub(crate) unsafe fn push(&self, head: *mut RcuHead) -> bool {
        let mut cur = self.head.load(Ordering::Relaxed);
        loop {
            (*head).next = cur;
            // SeqCst: pairs with the GP thread's idle flag (Dekker) so no wake-up is lost.
            match self
                .head
                .compare_exchange_weak(cur, head, Ordering::SeqCst, Ordering::Relaxed)
            {
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

    /// Takes the list of callbacks ready to run, if any.
    #[inline]
    pub(crate) fn take_ready(&self) -> *mut RcuHead {
        if self.ready.load(Ordering::Relaxed).is_null() {
            return ptr::null_mut();
        }
        self.ready.swap(ptr::null_mut(), Ordering::Acquire)
    }

    pub(crate) fn has_ready(&self) -> bool {
        !self.ready.load(Ordering::Relaxed).is_null()
    }

    /// Takes every queued callback, oldest first.
    pub(crate) fn take_all(&self) -> Batch {
        let mut p = self.head.swap(ptr::null_mut(), Ordering::SeqCst);
        let mut batch = Batch::default();
        // The stack is newest-first; reverse it so callbacks run in queueing order.
        let mut fifo: *mut RcuHead = ptr::null_mut();
        batch.tail = p;
        while !p.is_null() {
            // SAFETY: every node was pushed by `push`, whose contract keeps it valid until it runs.
            unsafe {
                let next = (*p).next;
                (*p).next = fifo;
                batch.max_cookie = batch.max_cookie.max((*p).cookie);
                fifo = p;
                p = next;
            }
            batch.len += 1;
        }
        batch.head = fifo;
        batch
    }
}

/// A FIFO list of callbacks taken from one queue.
pub(crate) struct Batch {
    pub(crate) head: *mut RcuHead,
    pub(crate) tail: *mut RcuHead,
    pub(crate) len: u64,
    pub(crate) max_cookie: u64,
}

impl Default for Batch {
    fn default() -> Self {
        Batch {
            head: ptr::null_mut(),
            tail: ptr::null_mut(),
            len: 0,
            max_cookie: 0,
        }
    }
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
