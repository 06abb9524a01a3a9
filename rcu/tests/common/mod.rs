//! Helpers shared by the rcu integration tests.

use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use rcu::Domain;

/// A thread inside a read-side section of `d` until `release` is sent.
pub fn hold_reader(d: &Domain) -> (mpsc::Sender<()>, thread::JoinHandle<()>) {
    let (locked_tx, locked_rx) = mpsc::channel();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let d = d.clone();
    let reader = thread::spawn(move || {
        let h = d.register();
        let _g = h.read_lock();
        locked_tx.send(()).unwrap();
        release_rx.recv().unwrap();
    });
    locked_rx.recv().unwrap();
    (release_tx, reader)
}

/// Waits (bounded, generously: a broken flush or grace period fails instead of hanging)
/// for `cond`; returns whether it became true.
#[allow(dead_code)] // not every test file waits
pub fn eventually(cond: impl Fn() -> bool) -> bool {
    let end = Instant::now() + Duration::from_secs(30);
    while Instant::now() < end {
        if cond() {
            return true;
        }
        thread::sleep(Duration::from_millis(1));
    }
    false
}
