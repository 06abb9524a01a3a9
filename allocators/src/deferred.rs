//! The kernel's deferred allocator work as a cost (`--deferred-work`).
//!
//! memalloc.c never refills or spills inside the allocation or the free: crossing a watermark
//! raises an irq_work (on x86 a self-IPI, in a KVM guest a VM exit unless the host virtualises
//! IPIs), and the RFC's reuse-after-gp hands its batch to a kworker on the same CPU. The work
//! then moves objects one llist operation (an atomic cmpxchg) at a time. Here that work is a
//! function call that splices whole lists under one lock, which makes it nearly free and
//! favours the flavors that do the most of it.
//!
//! `Signal` charges a real cost where the kernel defers: the thread sends itself a signal (a
//! trap into the kernel, a no-op handler, the return: the userspace analog of taking an
//! interrupt on its own CPU) before running the work, and does one atomic read-modify-write
//! per object the work moves between lists. A signal costs more than a self-IPI (4-6 us
//! against 1-2 us in this project's KVM guest), so `Spin` charges a given time instead.

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Once;
use std::time::{Duration, Instant};

/// How the allocators' deferred work (irq_work, kworker) is charged.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DeferredWork {
    /// A function call at the watermark crossing, lists spliced whole (no cost model).
    #[default]
    Inline,
    /// A self-signal per raise and an atomic RMW per object moved (see the module doc).
    Signal,
    /// A busy wait of this many nanoseconds per raise (a self-IPI's cost measured elsewhere,
    /// about 1-2 us in a KVM guest) and an atomic RMW per object moved.
    Spin { ns: u32 },
}

impl DeferredWork {
    /// Reads `inline`, `signal`, or a busy-wait time such as `1500ns` or `1.5us`.
    pub fn parse(s: &str) -> Result<DeferredWork, String> {
        match s {
            "inline" => return Ok(DeferredWork::Inline),
            "signal" => return Ok(DeferredWork::Signal),
            _ => {}
        }
        let (num, scale) = if let Some(n) = s.strip_suffix("ns") {
            (n, 1.0)
        } else if let Some(n) = s.strip_suffix("us") {
            (n, 1e3)
        } else {
            return Err(format!(
                "'{s}' is not a deferred-work model (inline, signal, or a cost like 1500ns, 1.5us)"
            ));
        };
        match num.parse::<f64>() {
            Ok(v) if v.is_finite() && v >= 0.0 && v * scale <= 1e6 => Ok(DeferredWork::Spin {
                ns: (v * scale).round() as u32,
            }),
            _ => Err(format!(
                "'{s}' is not a deferred-work cost between 0 and 1ms (like 1500ns, 1.5us)"
            )),
        }
    }

    /// The model as `parse` reads it back.
    pub fn label(self) -> String {
        match self {
            DeferredWork::Inline => "inline".into(),
            DeferredWork::Signal => "signal".into(),
            DeferredWork::Spin { ns } => format!("{ns}ns"),
        }
    }

    /// Where the kernel raises an irq_work or queues a kworker.
    #[inline]
    pub fn raise(self) {
        match self {
            DeferredWork::Inline => {}
            DeferredWork::Signal => raise_signal(),
            DeferredWork::Spin { ns } => spin(ns),
        }
    }

    /// Where the kernel's work moves `n` objects one llist operation at a time.
    #[inline]
    pub fn per_object(self, n: usize) {
        if self != DeferredWork::Inline && n > 0 {
            atomic_ops(n);
        }
    }

    /// The mean cost of one raise on this machine, in nanoseconds (`n` raises timed).
    pub fn measure_raise_ns(self, n: u32) -> f64 {
        self.raise(); // the first one installs the signal handler
        let t = Instant::now();
        for _ in 0..n {
            self.raise();
        }
        t.elapsed().as_nanos() as f64 / n.max(1) as f64
    }
}

#[cold]
fn spin(ns: u32) {
    let end = Instant::now() + Duration::from_nanos(u64::from(ns));
    while Instant::now() < end {
        std::hint::spin_loop();
    }
}

extern "C" fn on_signal(_: libc::c_int) {}

fn signal_number() -> libc::c_int {
    libc::SIGRTMIN()
}

#[cold]
fn raise_signal() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        // SAFETY: a zeroed sigaction is a valid value to fill in; the handler does nothing
        // (async-signal-safe); SA_RESTART keeps interrupted waits (futex, sleep) going.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as usize;
            sa.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut sa.sa_mask);
            let rc = libc::sigaction(signal_number(), &sa, std::ptr::null_mut());
            assert_eq!(rc, 0, "installing the deferred-work signal handler");
        }
    });
    // SAFETY: signalling the calling thread, whose handler for this signal is the no-op above;
    // the signal is delivered before pthread_kill returns to us.
    let rc = unsafe { libc::pthread_kill(libc::pthread_self(), signal_number()) };
    debug_assert_eq!(rc, 0);
}

#[cold]
fn atomic_ops(n: usize) {
    // One uncontended atomic RMW per object, as llist_add / llist_del_first on a list that
    // only this CPU touches at that moment.
    let a = AtomicU64::new(0);
    let a = black_box(&a);
    for _ in 0..n {
        a.fetch_add(1, Ordering::AcqRel);
    }
    black_box(a.load(Ordering::Relaxed));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn models_read_back() {
        for m in ["inline", "signal", "1500ns", "0ns"] {
            assert_eq!(DeferredWork::parse(m).unwrap().label(), m);
        }
        assert_eq!(
            DeferredWork::parse("1.5us"),
            Ok(DeferredWork::Spin { ns: 1500 })
        );
        for bad in ["irq", "1500", "-1ns", "2ms", "nanus", "2000us"] {
            assert!(DeferredWork::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_raise_reaches_the_handler_and_returns() {
        // Raised many times with the handler installed, the process keeps running (an
        // uninstalled real-time signal would kill it).
        assert!(DeferredWork::Signal.measure_raise_ns(100) > 0.0);
        // A busy wait lasts at least its time.
        assert!(DeferredWork::Spin { ns: 2000 }.measure_raise_ns(10) >= 2000.0);
    }
}
