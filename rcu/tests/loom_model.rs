//! A loom model of the grace-period/reader protocol of `domain.rs` and `reader.rs`, in the
//! fence-readers variant (loom cannot model membarrier; the membarrier variant replaces the
//! reader's fence with the writer's membarrier, which orders at least as strongly):
//!
//! - reader: `slot = ctr` (relaxed), fence(SeqCst), read the published pointer, use it,
//!   `slot = 0` (release);
//! - writer: unpublish (store the new pointer), fence(SeqCst), `target = ctr += 2`, wait until
//!   the slot is 0 or at least `target` (acquire), then free.
//!
//! loom explores every interleaving and every outcome the C++ memory model allows, and checks
//! that a reader never uses an object after the writer freed it.
//!
//!     RUSTFLAGS="--cfg loom" cargo test -p rcu --test loom_model --release
#![cfg(loom)]

use loom::sync::atomic::{fence, AtomicBool, AtomicU64, AtomicUsize, Ordering};
use loom::sync::Arc;
use loom::thread;

struct Shared {
    ctr: AtomicU64,
    slot: AtomicU64,
    ptr: AtomicUsize,
    freed: [AtomicBool; 3],
}

fn shared() -> Arc<Shared> {
    Arc::new(Shared {
        ctr: AtomicU64::new(2),
        slot: AtomicU64::new(0),
        ptr: AtomicUsize::new(0),
        freed: [
            AtomicBool::new(false),
            AtomicBool::new(false),
            AtomicBool::new(false),
        ],
    })
}

/// One read-side section: the object it reaches must not be freed while it holds it.
fn read_section(s: &Shared) {
    s.slot
        .store(s.ctr.load(Ordering::Relaxed), Ordering::Relaxed);
    fence(Ordering::SeqCst);
    let p = s.ptr.load(Ordering::Acquire);
    assert!(
        !s.freed[p].load(Ordering::Relaxed),
        "reader reached freed object {p}"
    );
    s.slot.store(0, Ordering::Release);
}

/// Replace object `old` by `new` and free `old` after a grace period.
fn replace_and_free(s: &Shared, old: usize, new: usize) {
    s.ptr.store(new, Ordering::Release);
    fence(Ordering::SeqCst);
    let target = s.ctr.fetch_add(2, Ordering::SeqCst) + 2;
    loop {
        let v = s.slot.load(Ordering::Acquire);
        if v == 0 || v >= target {
            break;
        }
        thread::yield_now();
    }
    s.freed[old].store(true, Ordering::Relaxed);
}

#[test]
fn a_reader_never_reaches_a_freed_object() {
    loom::model(|| {
        let s = shared();
        let r = {
            let s = s.clone();
            thread::spawn(move || read_section(&s))
        };
        replace_and_free(&s, 0, 1);
        r.join().unwrap();
    });
}

/// Two sections in a row and two grace periods: a slot left holding an older counter value
/// (a reader preempted between its load and its store) must still be waited for, and a
/// reader that loaded the new value must not be.
#[test]
fn consecutive_grace_periods_and_sections() {
    loom::model(|| {
        let s = shared();
        let r = {
            let s = s.clone();
            thread::spawn(move || {
                read_section(&s);
                read_section(&s);
            })
        };
        replace_and_free(&s, 0, 1);
        replace_and_free(&s, 1, 2);
        r.join().unwrap();
    });
}
