//! A loom model of the grace-period/reader protocol of `domain.rs` and `reader.rs`, in the
//! fence-readers variant (loom cannot model membarrier; the membarrier variant replaces the
//! reader's fence with the writer's membarrier, which orders at least as strongly):
//!
//! - reader: `slot = ctr` (relaxed), fence(SeqCst), read the published pointer, use it,
//!   `slot = 0` (release);
//! - writer: unpublish (store the new pointer), fence(SeqCst), `target = ctr += 2`, wait until
//!   the slot is 0 or at least `target` (acquire), then free.
//!
//! - quiescent-state reports (`wait_for_holdouts`, `note_quiescent`): the writer flags a
//!   holdout (`qs_pending`, counted in `remaining`), fence(SeqCst), and waits until the count
//!   is 0; the holdout, after its section, does fence(SeqCst) and, if flagged, clears the flag
//!   (swap) and decrements the count; the writer's own scan may clear it instead, once the
//!   slot shows the section over. Exactly one of them counts it.
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
    qs_pending: AtomicBool,
    remaining: AtomicUsize,
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
        qs_pending: AtomicBool::new(false),
        remaining: AtomicUsize::new(0),
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

/// Unpublishes the old object for `new` and starts a grace period; its reader counter.
fn unpublish_and_start(s: &Shared, new: usize) -> u64 {
    s.ptr.store(new, Ordering::Release);
    fence(Ordering::SeqCst);
    s.ctr.fetch_add(2, Ordering::SeqCst) + 2
}

/// Replace object `old` by `new` and free `old` after a grace period.
fn replace_and_free(s: &Shared, old: usize, new: usize) {
    let target = unpublish_and_start(s, new);
    while holds_out(s, target) {
        thread::yield_now();
    }
    s.freed[old].store(true, Ordering::Relaxed);
}

/// Every interleaving of `reader` on one thread against `writer` on another.
fn check(reader: fn(&Shared), writer: fn(&Shared)) {
    loom::model(move || {
        let s = shared();
        let r = {
            let s = s.clone();
            thread::spawn(move || reader(&s))
        };
        writer(&s);
        r.join().unwrap();
    });
}

#[test]
fn a_reader_never_reaches_a_freed_object() {
    check(read_section, |s| replace_and_free(s, 0, 1));
}

/// Two sections in a row and two grace periods: a slot left holding an older counter value
/// (a reader preempted between its load and its store) must still be waited for, and a
/// reader that loaded the new value must not be.
#[test]
fn consecutive_grace_periods_and_sections() {
    check(
        |s| {
            read_section(s);
            read_section(s);
        },
        |s| {
            replace_and_free(s, 0, 1);
            replace_and_free(s, 1, 2);
        },
    );
}

fn holds_out(s: &Shared, target: u64) -> bool {
    let v = s.slot.load(Ordering::Acquire);
    v != 0 && v < target
}

/// `report_qs`: whoever clears the flag counts the report.
fn report(s: &Shared) {
    if s.qs_pending.swap(false, Ordering::AcqRel) {
        s.remaining.fetch_sub(1, Ordering::AcqRel);
    }
}

/// `ThreadHandle::quiescent` after a section.
fn quiescent(s: &Shared) {
    fence(Ordering::SeqCst);
    if s.qs_pending.load(Ordering::Relaxed) {
        report(s);
    }
}

/// `run_gp` with `wait_for_holdouts`: the grace period may end on the reader's report.
fn replace_and_free_reported(s: &Shared, old: usize, new: usize) {
    let target = unpublish_and_start(s, new);
    if holds_out(s, target) {
        s.remaining.store(1, Ordering::SeqCst);
        s.qs_pending.store(true, Ordering::SeqCst);
        fence(Ordering::SeqCst);
        loop {
            if s.qs_pending.load(Ordering::Relaxed) && !holds_out(s, target) {
                report(s);
            }
            if s.remaining.load(Ordering::Acquire) == 0 {
                break;
            }
            thread::yield_now();
        }
    }
    s.freed[old].store(true, Ordering::Relaxed);
}

/// A grace period that ends on the holdout's own report frees nothing the reader still
/// holds, and a report raced with the writer's scan is counted once (else `remaining`
/// would wrap and the loop never end, or end early).
#[test]
fn a_grace_period_ended_by_the_reader_report_is_safe() {
    check(
        |s| {
            read_section(s);
            quiescent(s);
            read_section(s);
        },
        |s| replace_and_free_reported(s, 0, 1),
    );
}
