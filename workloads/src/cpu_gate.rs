//! Non-preemptible read-side sections for producers that share a CPU.
//!
//! A non-preemptible kernel (CONFIG_PREEMPT_NONE/VOLUNTARY) never switches a CPU from one
//! task to another inside a read-side section: a grace period waits for at most one section
//! per CPU, and tasks take turns between programs, a scheduler time slice each. Threads
//! pinned to one CPU here are switched by the scheduler wherever it likes, so the producers of
//! a CPU share a gate: the holder runs its loops, the others sleep until their turn, and the
//! holder hands the gate on (first come, first served) only between two loops, once its
//! quantum (`quantum`: the scheduler's time slice) is used up and someone waits. A preempted holder is soon resumed, since every
//! other producer of its CPU is asleep. The cost is a relaxed load per section and a hand-over
//! (a futex wake-up) per quantum; producers alone on their CPU get no gate.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use crate::producer_map::ProducerMap;

/// How long a producer keeps its CPU's gate while others wait: the Linux scheduler's time
/// slice, EEVDF's base slice of 0.75 ms scaled by 1 + log2(CPUs, at most 8) (its default
/// SCHED_TUNABLESCALING_LOG): 1.5 ms on 2 CPUs, 3 ms on 8 or more. Longer turns hold the
/// callbacks of the producers that wait (they run at their owner's next loop) for longer.
pub fn quantum(nr_cpus: usize) -> Duration {
    let factor = 1 + nr_cpus.clamp(1, 8).ilog2();
    Duration::from_micros(750) * factor
}

/// One CPU's gate, shared by the producers pinned there.
#[derive(Default)]
pub struct CpuGate {
    /// Ticket lock: the next ticket to hand out and the one being served.
    state: Mutex<(u64, u64)>,
    turn: Condvar,
    /// The producer (index + 1) holding the gate, 0 when none: the holder's fast path.
    holder: AtomicUsize,
    /// Tickets handed out and not yet served, for the holder's "does anyone wait" check.
    waiting: AtomicU64,
}

/// A producer's place at its CPU's gate.
#[derive(Clone, Copy)]
pub struct Seat<'a> {
    gate: &'a CpuGate,
    me: usize,
}

impl<'a> Seat<'a> {
    pub fn new(gate: &'a CpuGate, producer: usize) -> Self {
        Seat {
            gate,
            me: producer + 1,
        }
    }

    fn holds(&self) -> bool {
        self.gate.holder.load(Ordering::Relaxed) == self.me
    }

    /// Waits for this producer's turn, unless it holds the gate already.
    fn enter(&self) {
        if self.holds() {
            return;
        }
        let g = self.gate;
        let mut s = g.state.lock();
        let ticket = s.0;
        s.0 += 1;
        g.waiting.fetch_add(1, Ordering::Relaxed);
        while s.1 != ticket {
            g.turn.wait(&mut s);
        }
        g.waiting.fetch_sub(1, Ordering::Relaxed);
        g.holder.store(self.me, Ordering::Relaxed);
    }

    /// Hands the gate to the next in line, if this producer holds it.
    pub fn leave(&self) {
        if !self.holds() {
            return;
        }
        let g = self.gate;
        let mut s = g.state.lock();
        g.holder.store(0, Ordering::Relaxed);
        s.1 += 1;
        drop(s);
        g.turn.notify_all();
    }
}

/// What a producer's loop keeps about its turn at the gate.
pub struct Turn<'a> {
    seat: Option<Seat<'a>>,
    quantum: Duration,
    since: Option<Instant>,
    /// Loops since the clock was last read.
    loops: u32,
}

/// The clock is read every this many loops: a clock read costs about 25 ns, ten times an
/// empty loop (`no_op`), and a turn lasts a millisecond or more.
const CLOCK_EVERY: u32 = 64;

impl<'a> Turn<'a> {
    pub fn new(seat: Option<Seat<'a>>, quantum: Duration) -> Self {
        Turn {
            seat,
            quantum,
            since: None,
            loops: 0,
        }
    }

    /// Between two loops (outside every section): hands the gate on once the quantum is used
    /// up and another producer waits for it.
    #[inline]
    pub fn between_loops(&mut self) {
        let Some(seat) = self.seat else {
            return;
        };
        if !seat.holds() {
            self.since = None;
            return;
        }
        self.loops += 1;
        if self.since.is_some() && self.loops < CLOCK_EVERY {
            return;
        }
        self.loops = 0;
        let now = Instant::now();
        let since = *self.since.get_or_insert(now);
        if now - since >= self.quantum && seat.gate.waiting.load(Ordering::Relaxed) > 0 {
            seat.leave();
            self.since = None;
        }
    }

    /// Before blocking (or exiting): the gate must not be held by a thread that waits for
    /// another producer.
    pub fn leave(&mut self) {
        if let Some(seat) = self.seat {
            seat.leave();
        }
        self.since = None;
    }
}

/// Opens one loop's section of a producer's map (an RCU read-side section, a pinned guard);
/// with a seat, only in this producer's turn at its CPU's gate (which it keeps after the
/// section: turns change between loops).
#[inline]
pub fn section<'a, M: ProducerMap>(seat: Option<Seat<'a>>, pin: &'a M::Pin) -> M::Section<'a> {
    if let Some(s) = seat {
        s.enter();
    }
    M::enter(pin)
}
