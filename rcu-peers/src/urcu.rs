//! liburcu's memb flavor (`-lurcu-memb`, Debian liburcu-dev 0.13) through `urcu_shim.c`.
//!
//! Only what the side-by-side benchmark needs: thread registration, read-side sections,
//! `synchronize_rcu`, `call_rcu` and `rcu_barrier`. liburcu has no expedited grace period.

use std::cell::Cell;
use std::marker::PhantomData;
use std::sync::atomic::AtomicI32;

/// liburcu's `struct rcu_head`: a wait-free-queue link and the callback. Embed it first in a
/// `#[repr(C)]` object to recover the object in the callback.
#[repr(C)]
#[derive(Debug)]
pub struct UrcuHead {
    next: *mut UrcuHead,
    func: Option<UrcuCallback>,
}

impl UrcuHead {
    pub const fn new() -> Self {
        UrcuHead {
            next: std::ptr::null_mut(),
            func: None,
        }
    }
}

impl Default for UrcuHead {
    fn default() -> Self {
        Self::new()
    }
}

/// What `call_rcu` runs on liburcu's call_rcu worker thread after a grace period.
pub type UrcuCallback = unsafe extern "C" fn(*mut UrcuHead);

mod ffi {
    use super::{UrcuCallback, UrcuHead};

    extern "C" {
        pub fn peers_urcu_register_thread();
        pub fn peers_urcu_unregister_thread();
        pub fn peers_urcu_read_lock();
        pub fn peers_urcu_read_unlock();
        pub fn peers_urcu_read_ongoing() -> i32;
        pub fn peers_urcu_synchronize();
        pub fn peers_urcu_call(head: *mut UrcuHead, func: UrcuCallback);
        pub fn peers_urcu_barrier();
        pub fn peers_urcu_has_sys_membarrier() -> i32;
        pub fn peers_urcu_head_size() -> usize;
        pub fn peers_urcu_read_loop(n: u64);
        pub fn peers_urcu_spin_reader(stop: *const i32) -> u64;
    }
}

thread_local! {
    /// liburcu forbids registering a thread twice.
    static REGISTERED: Cell<bool> = const { Cell::new(false) };
}

/// The calling thread's liburcu registration; unregisters on drop. Not `Send`: liburcu's
/// reader state is thread-local.
pub struct UrcuThread {
    _not_send: PhantomData<*const ()>,
}

/// Registers the calling thread as a liburcu reader (`rcu_register_thread`).
///
/// Panics if this thread already holds a registration.
pub fn register() -> UrcuThread {
    REGISTERED.with(|r| {
        assert!(!r.get(), "liburcu: thread registered twice");
        r.set(true);
    });
    // SAFETY: the thread is not registered yet (checked above); liburcu allocates its state.
    unsafe { ffi::peers_urcu_register_thread() };
    UrcuThread {
        _not_send: PhantomData,
    }
}

impl UrcuThread {
    /// Enters a read-side section (inline `rcu_read_lock` behind one FFI call); sections nest.
    #[inline]
    pub fn read_lock(&self) -> UrcuGuard<'_> {
        // SAFETY: this thread is registered for as long as `self` lives, which outlives the guard.
        unsafe { ffi::peers_urcu_read_lock() };
        UrcuGuard { _thread: self }
    }

    /// Runs `n` lock/unlock pairs inside C with the inline fast path: the read-side cost a
    /// C program pays, without an FFI call per pair.
    pub fn read_loop(&self, n: u64) {
        // SAFETY: registered thread; the loop leaves no section open.
        unsafe { ffi::peers_urcu_read_loop(n) }
    }

    /// Enters and leaves read-side sections until `stop` is non-zero; returns how many.
    pub fn spin_reader(&self, stop: &AtomicI32) -> u64 {
        // SAFETY: registered thread; `stop` outlives the call and C reads it atomically.
        unsafe { ffi::peers_urcu_spin_reader(stop.as_ptr()) }
    }

    /// Queues `func(head)` for after a grace period (`call_rcu`); it runs on liburcu's
    /// call_rcu worker thread. liburcu requires the caller to be a registered thread.
    ///
    /// # Safety
    /// `head` must be valid, not queued already, and stay valid until `func` runs; `func` must
    /// be sound to call on another thread with that head.
    pub unsafe fn call(&self, head: *mut UrcuHead, func: UrcuCallback) {
        // SAFETY: `self` is this thread's registration (not `Send`), as liburcu's `call_rcu`
        // requires; `head` is valid, not queued already and valid until `func` runs, and
        // `func(head)` is sound on liburcu's worker thread (our contract), which is what
        // `call_rcu` needs of its arguments.
        unsafe { ffi::peers_urcu_call(head, func) };
    }
}

impl Drop for UrcuThread {
    fn drop(&mut self) {
        // SAFETY: registered by `register`; no guard can outlive `self`, so no section is open.
        unsafe { ffi::peers_urcu_unregister_thread() };
        REGISTERED.with(|r| r.set(false));
    }
}

/// A liburcu read-side section; ends on drop.
pub struct UrcuGuard<'a> {
    _thread: &'a UrcuThread,
}

impl Drop for UrcuGuard<'_> {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: pairs with the `read_lock` that made this guard, on the same thread.
        unsafe { ffi::peers_urcu_read_unlock() };
    }
}

fn assert_not_reading(what: &str) {
    // SAFETY: reads this thread's reader state, zero when unregistered.
    let reading = unsafe { ffi::peers_urcu_read_ongoing() } != 0;
    assert!(
        !reading,
        "liburcu: {what} inside a read-side section would deadlock"
    );
}

/// Waits for a grace period (`synchronize_rcu`). Any thread may call it, outside sections.
pub fn synchronize() {
    assert_not_reading("synchronize_rcu");
    // SAFETY: not inside a read-side section of this thread (checked above).
    unsafe { ffi::peers_urcu_synchronize() }
}

/// Waits until every callback queued before the call has run (`rcu_barrier`). Must not be
/// called from a callback.
pub fn barrier() {
    assert_not_reading("rcu_barrier");
    // SAFETY: outside a read-side section; callbacks here never call `barrier`.
    unsafe { ffi::peers_urcu_barrier() }
}

/// Whether liburcu found `membarrier` (readers then use compiler barriers only).
pub fn has_sys_membarrier() -> bool {
    // SAFETY: reads an int liburcu sets in its constructor.
    unsafe { ffi::peers_urcu_has_sys_membarrier() != 0 }
}

/// `sizeof(struct rcu_head)` as compiled against the installed headers.
pub fn c_head_size() -> usize {
    // SAFETY: pure function.
    unsafe { ffi::peers_urcu_head_size() }
}
