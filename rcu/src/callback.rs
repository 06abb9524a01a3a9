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
/// pops single entries) and appends, tagged with the grace-period cookie it waits for, to
/// `pending` -- the kernel's segmented callback list. Whoever invokes (the owner inside a
/// later `call` or at a quiescent state, as the kernel invokes callbacks in softirq on the CPU
/// that queued them; the domain's thread for an idle or exited owner) takes lists from the
/// front once their grace period has completed, one invoker at a time and oldest callback
/// first, so a thread's callbacks run in the order it queued them (`barrier` counts on it).
/// The domain's thread does O(threads) work per grace period however many are queued.
#[derive(Default)]
pub(crate) struct CallbackQueue {
    head: AtomicPtr<RcuHead>,
    /// Taken lists waiting for their grace period or for an invoker, oldest first.
    pending: Mutex<VecDeque<Pending>>,
    /// The cookie of `pending`'s front list (0 when empty; cookies are never 0): the
    /// invokers' lock-free check of whether anything is due.
    front_cookie: AtomicU64,
    /// Held by the one thread invoking this queue's callbacks.
    invoking: AtomicBool,
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

    /// Pushes `head` from any thread (the domain's shared record): `enqueued` is counted
    /// before the push, so a barrier never counts a callback it will not see run.
    ///
    /// # Safety
    /// As for [`push`](Self::push).
    pub(crate) unsafe fn push_shared(&self, head: *mut RcuHead) -> bool {
        self.enqueued.fetch_add(1, Ordering::AcqRel);
        // SAFETY: forwarded from the caller.
        unsafe { self.cas_push(&self.head, head) }
    }

    /// Called by the owner only (it alone writes `enqueued`).
    ///
    /// # Safety
    /// As for [`push`](Self::push).
    unsafe fn push_on(&self, stack: &AtomicPtr<RcuHead>, head: *mut RcuHead) -> bool {
        // SAFETY: forwarded from the caller.
        let was_empty = unsafe { self.cas_push(stack, head) };
        let n = self.enqueued.load(Ordering::Relaxed);
        self.enqueued.store(n + 1, Ordering::Release);
        was_empty
    }

    /// The Treiber push; true when the stack was empty.
    ///
    /// # Safety
    /// As for [`push`](Self::push).
    unsafe fn cas_push(&self, stack: &AtomicPtr<RcuHead>, head: *mut RcuHead) -> bool {
        let mut cur = stack.load(Ordering::Relaxed);
        loop {
            // SAFETY: `head` is valid and not yet published (the caller's contract).
            unsafe { (*head).next = cur };
            // SeqCst: pairs with the GP thread's idle flag (Dekker) so no wake-up is lost.
            match stack.compare_exchange_weak(cur, head, Ordering::SeqCst, Ordering::Relaxed) {
                Ok(_) => return cur.is_null(),
                Err(c) => cur = c,
            }
        }
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

    /// Appends a taken list (newest first, as taken) that waits for `cookie`.
    pub(crate) fn add_pending(&self, l: List, cookie: u64) {
        if !l.0.is_null() {
            self.put(Pending {
                list: l,
                cookie,
                oldest_first: false,
            });
        }
    }

    /// Adds `e` at the back of `pending`, or at the front if its list was already begun.
    fn put(&self, e: Pending) {
        let mut p = self.pending.lock().unwrap();
        if e.oldest_first {
            p.push_front(e);
        } else {
            p.push_back(e);
        }
        self.set_front(&p);
    }

    fn set_front(&self, p: &VecDeque<Pending>) {
        let c = p.front().map_or(0, |f| f.cookie);
        self.front_cookie.store(c, Ordering::Release);
    }

    /// Whether the front list's grace period has completed (`gp_seq` is the domain's).
    #[inline]
    pub(crate) fn front_done(&self, gp_seq: u64) -> bool {
        let c = self.front_cookie.load(Ordering::Acquire);
        c != 0 && crate::seq::seq_done(gp_seq, c)
    }

    pub(crate) fn has_pending(&self) -> bool {
        self.front_cookie.load(Ordering::Acquire) != 0
    }

    /// Becomes this queue's one invoker, if no one else is.
    #[inline]
    pub(crate) fn try_begin_invoke(&self) -> bool {
        !self.invoking.load(Ordering::Relaxed) && !self.invoking.swap(true, Ordering::Acquire)
    }

    pub(crate) fn end_invoke(&self) {
        self.invoking.store(false, Ordering::Release);
    }

    /// The front list, oldest callback first, if its grace period has completed. Invoker only.
    pub(crate) fn pop_done(&self, gp_seq: u64) -> Option<(List, u64)> {
        let mut p = self.pending.lock().unwrap();
        let f = p.front()?;
        if !crate::seq::seq_done(gp_seq, f.cookie) {
            return None;
        }
        let e = p.pop_front().expect("front exists");
        self.set_front(&p);
        drop(p);
        let list = if e.oldest_first {
            e.list
        } else {
            reverse(e.list)
        };
        Some((list, e.cookie))
    }

    /// Puts back, oldest first, what an invoker did not get to; it goes first next time.
    pub(crate) fn return_done(&self, l: List, cookie: u64) {
        self.put(Pending {
            list: l,
            cookie,
            oldest_first: true,
        });
    }
}

/// A list waiting in `CallbackQueue::pending`.
struct Pending {
    list: List,
    cookie: u64,
    /// Taken stacks are newest first; an invoker reverses a list once, before its first
    /// callback runs, and puts any rest back oldest first.
    oldest_first: bool,
}

// SAFETY: the list's nodes belong to whoever holds the entry (see `List`).
unsafe impl Send for Pending {}

/// Reverses a list in place (one walk).
fn reverse(l: List) -> List {
    let (mut prev, mut p) = (ptr::null_mut::<RcuHead>(), l.0);
    while !p.is_null() {
        // SAFETY: queued nodes stay valid until they run, and this list is the caller's.
        unsafe {
            let next = (*p).next;
            (*p).next = prev;
            prev = p;
            p = next;
        }
    }
    List(prev)
}

fn take_stack(stack: &AtomicPtr<RcuHead>) -> (List, u64) {
    let p = stack.swap(ptr::null_mut(), Ordering::SeqCst);
    let cookie = if p.is_null() {
        0
    } else {
        // SAFETY: a node stays valid until it runs (push's contract), and this one cannot
        // run before we publish it.
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

    /// The [`CallbackFn`] of a head made by [`into_head`](Self::into_head): runs the closure
    /// and frees the box.
    ///
    /// # Safety
    /// `head` came from `into_head::<F>` with this same `F`, and this is the one call made
    /// with it (nothing uses the head afterwards).
    pub(crate) unsafe fn run(head: NonNull<RcuHead>) {
        // SAFETY: `head` came from `into_head::<F>`, which leaked a `Box<BoxedCallback<F>>`
        // whose first field (repr(C)) is the head, so the cast gives back that box's pointer;
        // this is the one call with it, so the box is rebuilt and dropped exactly once.
        let b = unsafe { Box::from_raw(head.as_ptr() as *mut BoxedCallback<F>) };
        (b.f)();
    }
}
