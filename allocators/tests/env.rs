//! The two-domain environment: its barrier and how flavors queue tasks-trace work.

use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use allocators::{AllocConfig, Allocator, Cache, Env, FreeRcu};
use rcu::RcuHead;

#[repr(C)]
struct Hop {
    head: RcuHead,
    /// Tasks-trace hops left before the flag is set.
    left: u32,
    tt: rcu::Domain,
    done: Arc<AtomicBool>,
}

/// Each run queues the next hop on tasks-trace until none is left.
unsafe fn hop(h: NonNull<RcuHead>) {
    // SAFETY: `head` is the first field of a leaked repr(C) Hop; each runs once.
    let mut b = unsafe { Box::from_raw(h.as_ptr() as *mut Hop) };
    if b.left == 0 {
        b.done.store(true, Ordering::SeqCst);
        return;
    }
    b.left -= 1;
    let tt = b.tt.clone();
    let b = Box::leak(b);
    // SAFETY: the head is ours again (this callback owns the box) and not queued.
    unsafe { tt.call_any(NonNull::from(&mut b.head), hop) };
}

/// With --ttrace-chain, a tasks-trace callback counts as done once handed on to RCU; a drain
/// must still find every callback of both domains run, including ones queued by callbacks.
#[test]
fn barrier_drains_chained_callbacks_that_queue_more() {
    // Paced RCU: a callback handed on to it is surely still waiting when a barrier that
    // stopped at the hand-off returns.
    let env = Env::with_implies(Duration::from_millis(30), Duration::ZERO, false);
    let done = Arc::new(AtomicBool::new(false));
    let b = Box::leak(Box::new(Hop {
        head: RcuHead::new(),
        left: 2,
        tt: env.tasks_trace.clone(),
        done: done.clone(),
    }));
    // SAFETY: a fresh leaked Hop, freed by its last run.
    unsafe { env.tasks_trace.call_any(NonNull::from(&mut b.head), hop) };
    env.barrier();
    assert!(
        done.load(Ordering::SeqCst),
        "Env::barrier returned with a chained callback in flight"
    );
}

/// free-rcu's RCU callback queues tasks-trace work from whatever thread runs it; when that
/// is the RCU domain's own thread it must not register a thread per callback.
#[test]
fn free_rcu_callbacks_register_no_thread_with_tasks_trace() {
    let env = Env::default();
    let a = Arc::new(FreeRcu::new(&AllocConfig::new(24, 1, env.clone())));
    std::thread::scope(|s| {
        s.spawn(|| {
            let mut c = a.cache(0);
            for _ in 0..200_000 {
                let o = c.alloc().unwrap();
                // SAFETY: allocated from this allocator above and freed exactly once.
                unsafe { c.free(o) };
            }
        });
    });
    assert_eq!(a.drain().leaked, 0);
    let regs = env.tasks_trace.stats().registrations;
    // The producer's own cache registered once; nothing else may.
    assert_eq!(regs, 1, "tasks-trace registrations: {regs}");
}
