//! Helpers shared by the allocator tests.

use std::sync::mpsc;
use std::thread;

use rcu::Domain;

/// A reader inside a read-side section of `domain` from before this returns until
/// `release` is called: no grace period of `domain` ends meanwhile.
pub struct HeldReader {
    release: mpsc::Sender<()>,
    thread: thread::JoinHandle<()>,
}

impl HeldReader {
    pub fn new(domain: &Domain) -> HeldReader {
        let (locked_tx, locked_rx) = mpsc::channel();
        let (release, release_rx) = mpsc::channel::<()>();
        let d = domain.clone();
        let thread = thread::spawn(move || {
            let h = d.register();
            let _g = h.read_lock();
            locked_tx.send(()).unwrap();
            let _ = release_rx.recv();
        });
        locked_rx.recv().unwrap();
        HeldReader { release, thread }
    }

    /// Ends the section and waits for the reader thread.
    pub fn release(self) {
        drop(self.release);
        self.thread.join().unwrap();
    }
}
