//! How grace periods make progress and how callbacks come out of them: quiescent-state
//! reports, urgent requests that arrive mid-grace-period, per-thread callback order (what
//! `barrier` relies on), callbacks queued from unregistered threads, and shutdown.

use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use rcu::{Domain, DomainConfig, RcuHead};

mod common;
use common::{eventually, hold_reader};

/// With an hour of pacing, only expedited and urgent requests can finish in a test's lifetime.
fn slow_domain() -> Domain {
    Domain::new(DomainConfig {
        gp_delay: Duration::from_secs(3600),
        ..Default::default()
    })
}

/// Waits until `d` has a grace period in flight.
fn wait_gp_in_flight(d: &Domain) {
    assert!(
        eventually(|| d.gp_seq() & 1 == 1),
        "no grace period started"
    );
}

#[test]
fn holdout_reporting_quiescent_state_ends_the_grace_period() {
    let d = Domain::new(DomainConfig::default());
    let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
    let (locked_tx, locked_rx) = std::sync::mpsc::channel::<()>();
    let d2 = d.clone();
    let reader = thread::spawn(move || {
        let h = d2.register();
        {
            let _g = h.read_lock();
            locked_tx.send(()).unwrap();
            go_rx.recv().unwrap();
        }
        h.quiescent();
        // Stay registered, outside any section, without reporting again.
        thread::sleep(Duration::from_millis(200));
    });
    locked_rx.recv().unwrap();
    let d3 = d.clone();
    let sync = thread::spawn(move || d3.synchronize());
    wait_gp_in_flight(&d);
    go_tx.send(()).unwrap();
    sync.join().unwrap();
    reader.join().unwrap();
    let st = d.stats();
    assert_eq!(
        st.qs_reported + st.qs_scanned,
        1,
        "the one holdout was counted once: {st:?}"
    );
}

#[test]
fn expedited_request_during_a_normal_grace_period_hurries_the_next_one() {
    let d = slow_domain();
    let (release, reader) = hold_reader(&d);
    // A grace period in flight, held up by the reader.
    let d1 = d.clone();
    let first = thread::spawn(move || d1.synchronize_expedited());
    wait_gp_in_flight(&d);
    // This one needs the grace period after the one in flight; an urgency that ended with
    // the first would leave it to an hour of pacing.
    let d2 = d.clone();
    let second = thread::spawn(move || {
        let h = d2.register();
        let ran = Arc::new(AtomicBool::new(false));
        let r = ran.clone();
        h.call_boxed(move || r.store(true, Ordering::SeqCst));
        d2.synchronize_expedited();
        ran
    });
    thread::sleep(Duration::from_millis(20));
    release.send(()).unwrap();
    reader.join().unwrap();
    assert!(
        eventually(|| first.is_finished() && second.is_finished()),
        "an expedited request made during a grace period waited for pacing"
    );
    first.join().unwrap();
    let ran = second.join().unwrap();
    // The callback queued before the second request waits for the same grace period.
    assert!(
        eventually(|| ran.load(Ordering::SeqCst)),
        "a callback covered by an expedited request waited for pacing"
    );
}

/// A callback that appends its number to a shared log.
#[repr(C)]
struct Logged {
    head: RcuHead,
    n: u64,
    log: Arc<Mutex<Vec<u64>>>,
}

/// # Safety
/// `h` is the head of a leaked `Box<Logged>`, and this is the one call with it.
unsafe fn log_it(h: NonNull<RcuHead>) {
    // SAFETY: `head` is the first field of a leaked repr(C) Logged; this runs once.
    let b = unsafe { Box::from_raw(h.as_ptr() as *mut Logged) };
    if b.n == 1 {
        // Give a barrier that wrongly counted a later callback as this one time to return.
        thread::sleep(Duration::from_millis(50));
    }
    b.log.lock().unwrap().push(b.n);
}

fn logged(n: u64, log: &Arc<Mutex<Vec<u64>>>) -> NonNull<RcuHead> {
    let b = Box::leak(Box::new(Logged {
        head: RcuHead::new(),
        n,
        log: log.clone(),
    }));
    NonNull::from(&mut b.head)
}

#[test]
fn one_thread_callbacks_run_in_queue_order_and_barrier_waits_for_the_older_ones() {
    let d = Domain::new(DomainConfig::default());
    let log = Arc::new(Mutex::new(Vec::new()));
    let h = d.register();
    // Keep the domain's thread inside a grace period so that what follows piles up on one
    // stack, taken whole later.
    let (release, reader) = hold_reader(&d);
    // SAFETY: each head is a fresh leaked Logged, freed by log_it.
    unsafe { h.call(logged(0, &log), log_it) };
    wait_gp_in_flight(&d);
    // SAFETY: as above.
    unsafe { h.call(logged(1, &log), log_it) };
    // A barrier from another thread must wait for callbacks 0 and 1, queued before it.
    let (d2, log2) = (d.clone(), log.clone());
    let barrier = thread::spawn(move || {
        d2.barrier();
        log2.lock().unwrap().clone()
    });
    thread::sleep(Duration::from_millis(20));
    for n in 2..6 {
        // SAFETY: as above.
        unsafe { h.call(logged(n, &log), log_it) };
    }
    release.send(()).unwrap();
    reader.join().unwrap();
    // Run this thread's callbacks here, as its later calls would.
    while !barrier.is_finished() {
        h.run_ready();
        thread::sleep(Duration::from_millis(1));
    }
    let seen = barrier.join().unwrap();
    assert!(
        seen.contains(&0) && seen.contains(&1),
        "barrier returned before callbacks queued ahead of it ran: {seen:?}"
    );
    d.barrier();
    assert_eq!(*log.lock().unwrap(), vec![0, 1, 2, 3, 4, 5]);
}

#[test]
fn lazy_and_hurried_callbacks_of_one_thread_run_in_queue_order() {
    let d = Domain::new(DomainConfig {
        lazy_flush: Duration::from_secs(3600),
        ..Default::default()
    });
    let log = Arc::new(Mutex::new(Vec::new()));
    let h = d.register();
    let (release, reader) = hold_reader(&d);
    // SAFETY: fresh leaked heads, freed by log_it.
    unsafe {
        h.call(logged(0, &log), log_it);
        wait_gp_in_flight(&d);
        h.call(logged(2, &log), log_it);
        h.call_lazy(logged(3, &log), log_it);
    }
    release.send(()).unwrap();
    reader.join().unwrap();
    d.barrier();
    assert_eq!(*log.lock().unwrap(), vec![0, 2, 3]);
}

#[test]
fn callbacks_chained_from_another_domain_register_no_thread() {
    let rcu = Domain::new(DomainConfig::default());
    let tt = Domain::new(DomainConfig {
        name: "rcu-tasks-trace".into(),
        chain: Some(rcu.clone()),
        ..Default::default()
    });
    let ran = Arc::new(AtomicU64::new(0));
    // Queued from a thread that then goes away: the tasks-trace domain's own thread invokes
    // them and hands each on to RCU.
    let (tt2, ran2) = (tt.clone(), ran.clone());
    thread::spawn(move || {
        let h = tt2.register();
        for _ in 0..200 {
            let r = ran2.clone();
            h.call_boxed(move || {
                r.fetch_add(1, Ordering::Relaxed);
            });
        }
    })
    .join()
    .unwrap();
    tt.barrier();
    rcu.barrier();
    assert_eq!(ran.load(Ordering::Relaxed), 200);
    assert_eq!(
        rcu.stats().registrations,
        0,
        "handing callbacks on registered a thread with the chained domain"
    );
}

#[test]
fn call_any_from_an_unregistered_thread_runs_after_a_grace_period() {
    let d = Domain::new(DomainConfig::default());
    let (release, reader) = hold_reader(&d);
    let log = Arc::new(Mutex::new(Vec::new()));
    let d2 = d.clone();
    let log2 = log.clone();
    // SAFETY: a fresh leaked head, freed by log_it.
    thread::spawn(move || unsafe { d2.call_any(logged(7, &log2), log_it) })
        .join()
        .unwrap();
    thread::sleep(Duration::from_millis(50));
    assert!(log.lock().unwrap().is_empty(), "ran under a reader");
    release.send(()).unwrap();
    reader.join().unwrap();
    d.barrier();
    assert_eq!(*log.lock().unwrap(), vec![7]);
    assert_eq!(d.stats().registrations, 1, "only the reader registered");
}

#[test]
fn dropping_the_domain_runs_every_callback() {
    let ran = Arc::new(AtomicU64::new(0));
    for lazy in [false, true] {
        let d = Domain::new(DomainConfig::default());
        let (d2, r2) = (d.clone(), ran.clone());
        // An owner that queues and leaves at once: its lists are never invoked by it.
        thread::spawn(move || {
            let h = d2.register();
            for _ in 0..1000 {
                let r = r2.clone();
                let f = move || {
                    r.fetch_add(1, Ordering::Relaxed);
                };
                if lazy {
                    h.call_lazy_boxed(f);
                } else {
                    h.call_boxed(f);
                }
            }
        })
        .join()
        .unwrap();
        drop(d);
    }
    assert_eq!(ran.load(Ordering::Relaxed), 2000);
}
