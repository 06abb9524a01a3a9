//! The liburcu FFI really reaches liburcu: readers hold back grace periods, callbacks wait
//! for readers and have all run when `rcu_barrier` returns.
#![cfg(feature = "liburcu")]
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::Duration;

use rcu_peers::urcu::{self, UrcuHead};

#[test]
fn head_layout_matches_the_c_header() {
    assert_eq!(std::mem::size_of::<UrcuHead>(), urcu::c_head_size());
}

/// A reader inside its section sees `synchronize` still pending, however long it stays;
/// once it leaves, `synchronize` returns.
#[test]
fn reader_blocks_synchronize() {
    let returned = Arc::new(AtomicBool::new(false));
    let (in_section, wait_in) = mpsc::channel();
    let (release, wait_release) = mpsc::channel::<()>();
    let r = returned.clone();
    let reader = thread::spawn(move || {
        let th = urcu::register();
        let g = th.read_lock();
        in_section.send(()).unwrap();
        wait_release.recv().unwrap();
        // The updater started synchronize before we were released; it cannot have returned.
        let seen = r.load(Ordering::SeqCst);
        drop(g);
        seen
    });
    wait_in.recv().unwrap();
    let r = returned.clone();
    let (started, wait_started) = mpsc::channel();
    let updater = thread::spawn(move || {
        started.send(()).unwrap();
        urcu::synchronize();
        r.store(true, Ordering::SeqCst);
    });
    wait_started.recv().unwrap();
    thread::sleep(Duration::from_millis(50));
    release.send(()).unwrap();
    let seen_during_section = reader.join().unwrap();
    updater.join().unwrap();
    assert!(
        !seen_during_section,
        "synchronize_rcu returned inside a reader's section"
    );
    assert!(returned.load(Ordering::SeqCst));
}

static RAN: AtomicU64 = AtomicU64::new(0);

#[repr(C)]
struct Counted {
    head: UrcuHead,
    _payload: u64,
}

/// # Safety
/// `head` is the head of a leaked `Box<Counted>`, and this is the one call with it.
unsafe extern "C" fn count_and_free(head: *mut UrcuHead) {
    // SAFETY: `head` is the first field of the repr(C) `Counted`, so it is the leaked box's
    // pointer (our contract); this is the one call with it, so the box is dropped once.
    drop(unsafe { Box::from_raw(head as *mut Counted) });
    RAN.fetch_add(1, Ordering::SeqCst);
}

/// call_rcu callbacks wait for a reader that was in its section when they were queued, and
/// have all run when rcu_barrier returns.
#[test]
fn call_rcu_waits_for_readers_and_barrier_waits_for_callbacks() {
    const N: u64 = 1000;
    let (in_section, wait_in) = mpsc::channel();
    let (release, wait_release) = mpsc::channel::<()>();
    let reader = thread::spawn(move || {
        let th = urcu::register();
        let g = th.read_lock();
        in_section.send(()).unwrap();
        wait_release.recv().unwrap();
        let ran_during_section = RAN.load(Ordering::SeqCst);
        drop(g);
        ran_during_section
    });
    wait_in.recv().unwrap();

    let th = urcu::register();
    for _ in 0..N {
        let obj = Box::into_raw(Box::new(Counted {
            head: UrcuHead::new(),
            _payload: 0,
        }));
        // SAFETY: a fresh box, freed only by its callback; the callback is thread-safe.
        unsafe { th.call(obj.cast(), count_and_free) };
    }
    // Give the call_rcu worker every chance to run something too early.
    thread::sleep(Duration::from_millis(50));
    release.send(()).unwrap();
    assert_eq!(
        reader.join().unwrap(),
        0,
        "a callback ran inside a reader's section"
    );
    urcu::barrier();
    assert_eq!(RAN.load(Ordering::SeqCst), N);
}

/// Sections nest: synchronize waits for the outermost one.
#[test]
fn nested_sections_hold_the_grace_period_until_the_outer_one_ends() {
    let th = urcu::register();
    let outer = th.read_lock();
    let inner = th.read_lock();
    drop(inner);
    let (tx, rx) = mpsc::channel();
    let updater = thread::spawn(move || {
        urcu::synchronize();
        tx.send(()).unwrap();
    });
    assert!(
        rx.recv_timeout(Duration::from_millis(50)).is_err(),
        "synchronize_rcu returned while the outer section was open"
    );
    drop(outer);
    rx.recv().unwrap();
    updater.join().unwrap();
}

#[test]
#[should_panic(expected = "would deadlock")]
fn synchronize_inside_a_section_is_refused() {
    let th = urcu::register();
    let _g = th.read_lock();
    urcu::synchronize();
}
