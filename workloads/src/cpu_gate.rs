//! Non-preemptible read-side sections for producers that share a CPU.
//!
//! A kernel whose BPF programs run with preemption disabled never switches a CPU from one
//! task to another inside a read-side section: a grace period waits for at most one section
//! per CPU. Threads pinned to one CPU here are switched by the scheduler wherever it likes;
//! a gate per CPU, held for the length of a section, keeps the others out of their sections
//! until the preempted one has finished its own. Waiters yield their CPU rather than sleep,
//! so the scheduler soon gets back to the preempted holder, and opening the gate is a plain
//! store (a sleeping lock would make every section's end a futex wake-up). The cost is one
//! atomic swap per section; producers alone on their CPU get no gate.

use std::ops::Deref;
use std::sync::atomic::{AtomicBool, Ordering};

use crossbeam_utils::CachePadded;
use rcu::{ReadGuard, ThreadHandle};

/// One CPU's gate, shared by the producers pinned there.
#[derive(Default)]
pub struct CpuGate(CachePadded<AtomicBool>);

impl CpuGate {
    fn enter(&self) -> GateGuard<'_> {
        while self.0.swap(true, Ordering::Acquire) {
            // Held by a producer of this CPU, most likely preempted inside its section:
            // give it the CPU.
            while self.0.load(Ordering::Relaxed) {
                std::thread::yield_now();
            }
        }
        GateGuard(self)
    }
}

struct GateGuard<'a>(&'a CpuGate);

impl Drop for GateGuard<'_> {
    fn drop(&mut self) {
        self.0 .0.store(false, Ordering::Release);
    }
}

/// A read-side section, holding its CPU's gate if it has one. The section ends before the
/// gate opens (fields drop in order).
pub struct Section<'a> {
    guard: ReadGuard<'a>,
    _gate: Option<GateGuard<'a>>,
}

/// Enters a read-side section of `rcu`, through `gate` if the producer has one.
#[inline]
pub fn section<'a>(gate: Option<&'a CpuGate>, rcu: &'a ThreadHandle) -> Section<'a> {
    let gate = gate.map(CpuGate::enter);
    Section {
        guard: rcu.read_lock(),
        _gate: gate,
    }
}

impl<'a> Deref for Section<'a> {
    type Target = ReadGuard<'a>;
    fn deref(&self) -> &ReadGuard<'a> {
        &self.guard
    }
}
