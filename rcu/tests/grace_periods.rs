//! Behaviour of grace periods, callbacks and barrier across threads.

use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use rcu::{Domain, DomainConfig, RcuHead};

mod common;
use common::{eventually, hold_reader};

fn domain(fence_readers: bool) -> Domain {
    Domain::new(DomainConfig {
        fence_readers,
        ..Default::default()
    })
}

/// A reader holding its section blocks a later synchronize until it unlocks.
#[test]
fn synchronize_waits_for_pre_existing_reader() {
    let d = domain(false);
    let (release_tx, reader) = hold_reader(&d);
    let done = Arc::new(AtomicBool::new(false));
    let (ds, dn) = (d.clone(), done.clone());
    let syncer = thread::spawn(move || {
        ds.synchronize();
        dn.store(true, Ordering::SeqCst);
    });
    thread::sleep(Duration::from_millis(100));
    assert!(
        !done.load(Ordering::SeqCst),
        "synchronize returned while a reader held its section"
    );
    release_tx.send(()).unwrap();
    reader.join().unwrap();
    syncer.join().unwrap();
    assert!(done.load(Ordering::SeqCst));
}

/// A reader that enters after the grace period started does not hold it up.
#[test]
fn synchronize_ignores_later_readers() {
    let d = domain(false);
    let ctr0 = d.debug_reader_ctr();
    // Reader A (pre-existing) pins the grace period until told.
    let (a_release_tx, a) = hold_reader(&d);
    let ds = d.clone();
    let syncer = thread::spawn(move || ds.synchronize());
    // The grace period has started and advanced the reader counter.
    assert!(eventually(|| d.debug_reader_ctr() > ctr0));
    // Reader B enters now and never leaves while we wait.
    let (b_release_tx, b) = hold_reader(&d);
    a_release_tx.send(()).unwrap();
    a.join().unwrap();
    // Would hang (and time out) if synchronize waited for B.
    assert!(
        eventually(|| syncer.is_finished()),
        "synchronize waited for a later reader"
    );
    syncer.join().unwrap();
    b_release_tx.send(()).unwrap();
    b.join().unwrap();
}

#[test]
fn nested_sections_end_at_the_outermost_unlock() {
    let d = domain(false);
    let h = d.register();
    let outer = h.read_lock();
    {
        let _inner = h.read_lock();
    }
    assert!(h.in_read_section());
    // A second handle on the same thread shares the record.
    let h2 = d.register();
    assert!(h2.in_read_section());
    drop(outer);
    assert!(!h.in_read_section());
    d.synchronize();
}

#[test]
#[should_panic(expected = "inside its own read-side section")]
fn synchronize_inside_own_section_is_refused() {
    let d = domain(false);
    let h = d.register();
    let _g = h.read_lock();
    d.synchronize();
}

#[repr(C)]
struct Obj {
    head: RcuHead,
    ran: Arc<AtomicUsize>,
    cookie_done_at_run: Arc<AtomicBool>,
    domain: Domain,
}

/// # Safety
/// `h` is the head of a leaked `Box<Obj>`, and this is the one call with it.
unsafe fn obj_cb(h: NonNull<RcuHead>) {
    // SAFETY: `head` is the first field of the repr(C) `Obj`, so `h` is the leaked box's
    // pointer (our contract); this is the one call with it, so the box is dropped once.
    let o = unsafe { Box::from_raw(h.as_ptr() as *mut Obj) };
    let cookie = o.head.cookie();
    o.cookie_done_at_run
        .store(o.domain.poll_state(cookie), Ordering::SeqCst);
    o.ran.fetch_add(1, Ordering::SeqCst);
}

/// A callback does not run while a reader that predates it holds its section, and when it
/// runs the grace period its cookie names has completed.
#[test]
fn callback_runs_only_after_its_grace_period() {
    let d = domain(false);
    let (release_tx, reader) = hold_reader(&d);
    let ran = Arc::new(AtomicUsize::new(0));
    let cookie_ok = Arc::new(AtomicBool::new(false));
    let h = d.register();
    let o = Box::new(Obj {
        head: RcuHead::new(),
        ran: ran.clone(),
        cookie_done_at_run: cookie_ok.clone(),
        domain: d.clone(),
    });
    // SAFETY: the box is leaked to the queue and freed by obj_cb.
    unsafe { h.call(NonNull::from(Box::leak(o)).cast(), obj_cb) };
    thread::sleep(Duration::from_millis(100));
    assert_eq!(
        ran.load(Ordering::SeqCst),
        0,
        "callback ran inside a reader's section"
    );
    release_tx.send(()).unwrap();
    reader.join().unwrap();
    d.barrier();
    assert_eq!(ran.load(Ordering::SeqCst), 1);
    assert!(cookie_ok.load(Ordering::SeqCst));
}

#[test]
fn barrier_waits_for_every_thread_callbacks() {
    let d = domain(false);
    let count = Arc::new(AtomicU64::new(0));
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let (d, count) = (d.clone(), count.clone());
            thread::spawn(move || {
                let h = d.register();
                for _ in 0..5000 {
                    let c = count.clone();
                    h.call_boxed(move || {
                        c.fetch_add(1, Ordering::Relaxed);
                    });
                }
                // The handle drops here: queued callbacks must still run.
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    d.barrier();
    assert_eq!(count.load(Ordering::Relaxed), 20_000);
    assert_eq!(d.stats().callbacks_pending, 0);
    assert!(d.stats().callbacks_invoked >= 20_000);
}

#[test]
fn polled_cookie_completes_after_synchronize() {
    let d = domain(false);
    let c = d.get_state();
    assert!(!d.poll_state(c));
    d.synchronize();
    assert!(d.poll_state(c));
}

#[test]
fn implied_domain_waits_for_the_other_domain_readers() {
    let rcu = domain(false);
    let tt = Domain::new(DomainConfig {
        name: "rcu-tasks-trace".into(),
        implies: Some(rcu.clone()),
        ..Default::default()
    });
    let (release_tx, reader) = hold_reader(&rcu);
    let t2 = tt.clone();
    let syncer = thread::spawn(move || t2.synchronize());
    thread::sleep(Duration::from_millis(100));
    assert!(
        !syncer.is_finished(),
        "tasks-trace GP ended while an RCU reader held on"
    );
    release_tx.send(()).unwrap();
    reader.join().unwrap();
    syncer.join().unwrap();
}

#[test]
fn callback_panic_is_reported_with_the_domain_name() {
    let d = Domain::new(DomainConfig {
        name: "test-domain".into(),
        ..Default::default()
    });
    let h = d.register();
    h.call_boxed(|| panic!("boom"));
    let ok = Arc::new(AtomicBool::new(false));
    let o = ok.clone();
    h.call_boxed(move || o.store(true, Ordering::SeqCst));
    d.barrier();
    assert!(
        ok.load(Ordering::SeqCst),
        "the GP thread died with the panicking callback"
    );
    let f = d.failure().expect("panic recorded");
    assert!(f.contains("test-domain") && f.contains("boom"), "{f}");
}

const LIVE: u64 = 0x600D_600D_600D_600D;
const POISON: u64 = 0xDEAD_DEAD_DEAD_DEAD;

struct Node {
    magic: AtomicU64,
}

/// Readers never see an object that a writer retired and poisoned. The freed memory is not
/// returned to the system, so a violation reads the poison instead of faulting.
fn poison_stress(fence_readers: bool, use_callbacks: bool) {
    poison_stress_with(domain(fence_readers), use_callbacks, 3, false);
}

/// `nr_readers` readers; with `report`, each reports a quiescent state after every section,
/// so grace periods end on the readers' own reports.
fn poison_stress_with(d: Domain, use_callbacks: bool, nr_readers: usize, report: bool) {
    let shared = Arc::new(AtomicPtr::new(Box::into_raw(Box::new(Node {
        magic: AtomicU64::new(LIVE),
    }))));
    let stop = Arc::new(AtomicBool::new(false));
    let violations = Arc::new(AtomicU64::new(0));
    let total_reads = Arc::new(AtomicU64::new(0));
    let readers: Vec<_> = (0..nr_readers)
        .map(|_| {
            let (d, shared, stop, violations, total) = (
                d.clone(),
                shared.clone(),
                stop.clone(),
                violations.clone(),
                total_reads.clone(),
            );
            thread::spawn(move || {
                let h = d.register();
                let mut reads = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    {
                        let _g = h.read_lock();
                        let p = shared.load(Ordering::Acquire);
                        for _ in 0..16 {
                            // SAFETY: p was published and is retired only after a grace
                            // period.
                            if unsafe { (*p).magic.load(Ordering::Relaxed) } != LIVE {
                                violations.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    }
                    if report {
                        h.quiescent();
                    }
                    reads += 1;
                    total.fetch_add(1, Ordering::Relaxed);
                }
                reads
            })
        })
        .collect();
    let graveyard = Arc::new(std::sync::Mutex::new(Vec::<usize>::new()));
    let h = d.register();
    // Retire objects until readers have really raced with it.
    let mut i = 0;
    // With `report`, also until a grace period has ended on a reader's own report (the path
    // under test), bounded: a scan may always win the race on a quiet machine.
    let mut seen_report = !report;
    while i < 2000 || total_reads.load(Ordering::Relaxed) < 20_000 || (!seen_report && i < 1 << 20)
    {
        if !seen_report && i % 256 == 0 {
            seen_report = d.stats().qs_reported > 0;
        }
        i += 1;
        let new = Box::into_raw(Box::new(Node {
            magic: AtomicU64::new(LIVE),
        }));
        let old = shared.swap(new, Ordering::AcqRel) as usize;
        let gy = graveyard.clone();
        let retire = move || {
            // SAFETY: a grace period has passed since `old` was unpublished.
            unsafe { (*(old as *mut Node)).magic.store(POISON, Ordering::Relaxed) };
            gy.lock().unwrap().push(old);
        };
        if use_callbacks {
            h.call_boxed(retire);
        } else {
            d.synchronize();
            retire();
        }
    }
    d.barrier();
    stop.store(true, Ordering::Relaxed);
    let reads: u64 = readers.into_iter().map(|r| r.join().unwrap()).sum();
    assert!(reads > 0);
    assert_eq!(
        violations.load(Ordering::Relaxed),
        0,
        "readers saw poisoned objects"
    );
    for p in graveyard.lock().unwrap().drain(..) {
        // SAFETY: every reader has exited.
        drop(unsafe { Box::from_raw(p as *mut Node) });
    }
    // SAFETY: every reader has exited; the last published node is ours.
    drop(unsafe { Box::from_raw(shared.load(Ordering::Relaxed)) });
}

#[test]
fn readers_never_see_poison_reporting_readers() {
    poison_stress_with(domain(false), true, 3, true);
    poison_stress_with(domain(false), false, 3, true);
}

#[test]
fn readers_never_see_poison_oversubscribed_reporting_readers() {
    // More readers than this machine's CPUs: holdouts preempted inside their sections.
    let n = thread::available_parallelism().map_or(2, |n| n.get()) * 3;
    poison_stress_with(domain(false), true, n, true);
}

#[test]
fn readers_never_see_poison_synchronize_membarrier() {
    poison_stress(false, false);
}

#[test]
fn readers_never_see_poison_callbacks_membarrier() {
    poison_stress(false, true);
}

#[test]
fn readers_never_see_poison_fence_readers() {
    poison_stress(true, false);
    poison_stress(true, true);
}

#[test]
fn start_poll_completes_without_a_waiter() {
    let d = domain(false);
    let c = d.start_poll();
    assert!(
        eventually(|| d.poll_state(c)),
        "requested grace period never ran"
    );
    // A completed cookie makes cond_synchronize return at once; get_state starts nothing.
    d.cond_synchronize(c);
    let before = d.stats().grace_periods;
    let idle = d.get_state();
    thread::sleep(Duration::from_millis(50));
    assert_eq!(
        d.stats().grace_periods,
        before,
        "get_state started a grace period"
    );
    assert!(!d.poll_state(idle));
    d.cond_synchronize(idle);
    assert!(d.poll_state(idle));
}

/// With an hour of pacing, only expedited and urgent requests can finish in a test's lifetime.
fn slow_domain() -> Domain {
    Domain::new(DomainConfig {
        gp_delay: Duration::from_secs(3600),
        ..Default::default()
    })
}

#[test]
fn expedited_skips_pacing() {
    let d = slow_domain();
    let c = d.get_state();
    let d2 = d.clone();
    let t = thread::spawn(move || d2.synchronize_expedited());
    assert!(
        eventually(|| t.is_finished()),
        "expedited waited for pacing"
    );
    t.join().unwrap();
    assert!(d.poll_state(c));
}

#[test]
fn urgent_request_leaves_the_next_grace_periods_pacing_alone() {
    // rcu_request_urgent_qs_task hurries the grace period in flight and starts none: a
    // request between grace periods must not turn the pacing off (free-rcu requests one on
    // every free while its callback waits).
    let d = slow_domain();
    let h = d.register();
    let ran = Arc::new(AtomicBool::new(false));
    let r = ran.clone();
    h.call_boxed(move || r.store(true, Ordering::SeqCst));
    d.request_urgent();
    thread::sleep(Duration::from_millis(50));
    assert_eq!(d.gp_seq() & 1, 0, "a grace period started");
    assert!(!ran.load(Ordering::SeqCst), "the callback ran unpaced");
    assert_eq!(d.stats().urgent_requests, 0);
    // A barrier still hurries everything it waits for.
    d.barrier();
    assert!(ran.load(Ordering::SeqCst));
}

#[test]
fn urgent_request_hurries_the_grace_period_in_flight() {
    let d = domain(false);
    let (release_tx, reader) = hold_reader(&d);
    let d2 = d.clone();
    let t = thread::spawn(move || d2.synchronize());
    assert!(
        eventually(|| d.gp_seq() & 1 == 1),
        "no grace period started"
    );
    d.request_urgent();
    d.request_urgent(); // the second is covered by the first
    assert_eq!(d.stats().urgent_requests, 1);
    assert!(!t.is_finished(), "the grace period ended under a reader");
    release_tx.send(()).unwrap();
    reader.join().unwrap();
    t.join().unwrap();
}

#[test]
fn chained_callbacks_wait_for_the_other_domain_too() {
    let rcu = domain(false);
    let tt = Domain::new(DomainConfig {
        name: "rcu-tasks-trace".into(),
        chain: Some(rcu.clone()),
        ..Default::default()
    });
    let (release_tx, reader) = hold_reader(&rcu);
    let ran = Arc::new(AtomicBool::new(false));
    let r = ran.clone();
    tt.register()
        .call_boxed(move || r.store(true, Ordering::SeqCst));
    // The tasks-trace grace period has no reader to wait for; the RCU one does.
    tt.synchronize();
    thread::sleep(Duration::from_millis(100));
    assert!(
        !ran.load(Ordering::SeqCst),
        "a chained callback ran under an RCU reader"
    );
    release_tx.send(()).unwrap();
    reader.join().unwrap();
    tt.barrier();
    rcu.barrier();
    assert!(ran.load(Ordering::SeqCst));
}
