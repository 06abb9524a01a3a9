//! Lazy callbacks (`call_lazy`, the kernel's CONFIG_RCU_LAZY): held back from grace periods
//! until a flush cause, then invoked like any callback.
//!
//! Every "not yet" assertion is a lower bound that load cannot break (a flush timer never
//! fires early, and nothing else flushes in those tests); every "eventually" is bounded
//! generously so that a broken flush fails instead of hanging.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

use rcu::{Domain, DomainConfig};

mod common;
use common::{eventually, hold_reader};

fn lazy_domain(lazy_flush: Duration, lazy_qhimark: u64) -> Domain {
    Domain::new(DomainConfig {
        lazy_flush,
        lazy_qhimark,
        ..Default::default()
    })
}

const HOUR: Duration = Duration::from_secs(3600);

fn counter() -> Arc<AtomicUsize> {
    Arc::new(AtomicUsize::new(0))
}

fn bump(c: &Arc<AtomicUsize>) -> impl FnOnce() + Send + 'static {
    let c = c.clone();
    move || {
        c.fetch_add(1, Ordering::SeqCst);
    }
}

/// A lone lazy callback waits for the flush timer, even while grace periods run for other
/// reasons, and then runs.
#[test]
fn lazy_callback_waits_for_its_flush_timer() {
    let flush = Duration::from_millis(300);
    let d = lazy_domain(flush, 1_000_000);
    let h = d.register();
    let ran = counter();
    let t0 = Instant::now();
    h.call_lazy_boxed(bump(&ran));
    for _ in 0..5 {
        d.synchronize();
    }
    thread::sleep(Duration::from_millis(50));
    if t0.elapsed() < flush {
        assert_eq!(ran.load(Ordering::SeqCst), 0, "ran before its flush");
    }
    assert!(eventually(|| {
        h.run_ready();
        ran.load(Ordering::SeqCst) == 1
    }));
    assert!(t0.elapsed() >= flush);
    let s = d.stats();
    assert_eq!(s.lazy_flushes_timer, 1, "{s:?}");
    assert_eq!(s.lazy_flushes_full, 0, "{s:?}");
}

/// Reaching the threshold flushes at once; one short of it does not.
#[test]
fn reaching_qhimark_flushes() {
    let d = lazy_domain(HOUR, 64);
    let h = d.register();
    let ran = counter();
    for _ in 0..63 {
        h.call_lazy_boxed(bump(&ran));
    }
    thread::sleep(Duration::from_millis(100));
    assert_eq!(ran.load(Ordering::SeqCst), 0, "flushed below the threshold");
    assert_eq!(d.stats().callbacks_pending, 63);
    h.call_lazy_boxed(bump(&ran));
    assert!(eventually(|| {
        h.run_ready();
        ran.load(Ordering::SeqCst) == 64
    }));
    let s = d.stats();
    assert_eq!(s.lazy_flushes_full, 1, "{s:?}");
    assert_eq!(s.lazy_flushes_timer, 0, "{s:?}");
}

/// barrier() waits for lazy callbacks too, so it must flush them (rcu_barrier flushes the
/// bypass lists), here those of a thread that is alive and idle.
#[test]
fn barrier_flushes_lazy_callbacks() {
    let d = lazy_domain(HOUR, 1_000_000);
    let ran = counter();
    let (queued_tx, queued_rx) = mpsc::channel();
    let (end_tx, end_rx) = mpsc::channel::<()>();
    let (dq, rq) = (d.clone(), ran.clone());
    let owner = thread::spawn(move || {
        let h = dq.register();
        for _ in 0..10 {
            h.call_lazy_boxed(bump(&rq));
        }
        queued_tx.send(()).unwrap();
        end_rx.recv().unwrap();
    });
    queued_rx.recv().unwrap();
    let (done_tx, done_rx) = mpsc::channel();
    let db = d.clone();
    thread::spawn(move || {
        db.barrier();
        done_tx.send(()).unwrap();
    });
    done_rx
        .recv_timeout(Duration::from_secs(30))
        .expect("barrier did not return: lazy callbacks not flushed");
    assert_eq!(ran.load(Ordering::SeqCst), 10);
    assert!(d.stats().lazy_flushes_other >= 1);
    end_tx.send(()).unwrap();
    owner.join().unwrap();
}

/// A non-lazy callback takes the lazy ones queued before it on the same thread into its
/// grace period (the kernel flushes the bypass list ahead of a hurried callback): they run
/// without waiting for their hour-long timer.
#[test]
fn hurried_callback_takes_earlier_lazy_ones_along() {
    let d = lazy_domain(HOUR, 1_000_000);
    let h = d.register();
    let ran = counter();
    for _ in 0..5 {
        h.call_lazy_boxed(bump(&ran));
    }
    h.call_boxed(bump(&ran));
    let s = d.stats();
    assert_eq!(s.lazy_flushes_other, 1, "{s:?}");
    assert!(eventually(|| {
        h.run_ready();
        ran.load(Ordering::SeqCst) == 6
    }));
    let s = d.stats();
    assert_eq!((s.lazy_flushes_timer, s.lazy_flushes_full), (0, 0), "{s:?}");
}

/// A thread that exits leaves its lazy callbacks to the domain, which runs them. The thread
/// lingers first, so the domain's thread has looked at its lazy stack (not due for an hour)
/// and gone to sleep: the exit itself must wake it.
#[test]
fn exiting_thread_lazy_callbacks_run() {
    let d = lazy_domain(HOUR, 1_000_000);
    let ran = counter();
    let (dq, rq) = (d.clone(), ran.clone());
    thread::spawn(move || {
        let h = dq.register();
        for _ in 0..10 {
            h.call_lazy_boxed(bump(&rq));
        }
        thread::sleep(Duration::from_millis(50));
    })
    .join()
    .unwrap();
    assert!(eventually(|| ran.load(Ordering::SeqCst) == 10));
    assert_eq!(d.stats().lazy_flushes_other, 1);
}

/// Lazy callbacks still wait for a full grace period: one queued while a reader holds its
/// section does not run, even when flushed at once, until the reader leaves.
#[test]
fn lazy_callback_waits_for_a_pre_existing_reader() {
    let d = lazy_domain(Duration::ZERO, 1);
    let (release_tx, reader) = hold_reader(&d);
    let h = d.register();
    let ran = counter();
    h.call_lazy_boxed(bump(&ran));
    thread::sleep(Duration::from_millis(100));
    h.run_ready();
    assert_eq!(
        ran.load(Ordering::SeqCst),
        0,
        "ran inside a reader's section"
    );
    release_tx.send(()).unwrap();
    reader.join().unwrap();
    assert!(eventually(|| {
        h.run_ready();
        ran.load(Ordering::SeqCst) == 1
    }));
}
