//! A batch of objects handed through one `call_rcu` (bpf_reuse_batch in seed 001).

use std::ptr::NonNull;

use rcu::{RcuHead, ThreadHandle};

use crate::list::ObjList;

/// What runs after the grace period: `done(ctx, objects)`.
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
    rcu.call(NonNull::from(&mut b.head), run_batch);
}

unsafe fn run_batch(h: NonNull<RcuHead>) {
    // SAFETY: `head` is the first field of a leaked repr(C) GpBatch; this runs once.
    let b = Box::from_raw(h.as_ptr() as *mut GpBatch);
    let GpBatch {
        list, ctx, done, ..
    } = *b;
    done(ctx, list);
}
