//! A batch of objects handed through one `call_rcu` (bpf_reuse_batch in seed 001).

use std::ptr::NonNull;

use rcu::{RcuHead, ThreadHandle};

use crate::list::ObjList;

/// What runs after the grace period: `done(ctx, objects)`, once per batch, on any thread,
/// with the `ctx` and objects given to `send_after_gp` (its safety contract).
pub(crate) type BatchDone = unsafe fn(*const (), ObjList);

#[repr(C)]
struct GpBatch {
    head: RcuHead,
    list: ObjList,
    ctx: *const (),
    done: BatchDone,
}

/// Queues `list` for `done(ctx, list)` after an RCU grace period. The descriptor is allocated
/// per batch, as the kernel kmallocs one.
///
/// # Safety
/// `ctx` stays valid until the callback has run (the owner waits with a barrier).
pub(crate) unsafe fn send_after_gp(
    rcu: &ThreadHandle,
    list: ObjList,
    ctx: *const (),
    done: BatchDone,
) {
    let b = Box::leak(Box::new(GpBatch {
        head: RcuHead::new(),
        list,
        ctx,
        done,
    }));
    // SAFETY: the head lives in a fresh leaked descriptor, queued only here, which only
    // run_batch frees; run_batch needs nothing of the thread it runs on.
    unsafe { rcu.call(NonNull::from(&mut b.head), run_batch) };
}

/// # Safety
/// `h` is the head of a descriptor `send_after_gp` leaked and queued; called once.
unsafe fn run_batch(h: NonNull<RcuHead>) {
    // SAFETY: `head` is the first field of a leaked repr(C) GpBatch; this runs once.
    let b = unsafe { Box::from_raw(h.as_ptr() as *mut GpBatch) };
    let GpBatch {
        list, ctx, done, ..
    } = *b;
    // SAFETY: `ctx` and `list` are what send_after_gp was given, once, and `ctx` is still
    // valid (send_after_gp's contract): what a `BatchDone` requires.
    unsafe { done(ctx, list) };
}
