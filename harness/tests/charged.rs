//! The counting allocator charges each flavor's objects at the kernel's size class: a bpf_ma
//! unit (72 bytes for the default map) at kmalloc-96, the bare 64-byte element of the "no
//! bpf ma" and preallocated maps at kmalloc-64. Its own binary, so that nothing else
//! allocates while it measures.

use std::ptr::NonNull;
use std::sync::Arc;

use allocators::{
    AllocConfig, Allocator, Cache, Env, FreeAfterGp, ImmediateReuse, MallocCallRcu, ReuseAfterGp,
};
use harness::memory::{kmalloc_size, live, CountingAlloc};
use workloads::htab::elem_size;

#[global_allocator]
static A: CountingAlloc = CountingAlloc;

/// Allocates `n` map elements of the default map (value size 8) as the runner would, and
/// returns (raw, charged) bytes they added, and the flavor's unit size.
fn charge_of<F: Allocator>(n: usize) -> (i64, i64, usize) {
    let env = Env::default();
    let a = Arc::new(F::new(&AllocConfig::new(elem_size(8), 1, env.clone())));
    let mut c = a.cache(0);
    let mut objs: Vec<NonNull<u8>> = Vec::with_capacity(n);
    let before = live();
    for _ in 0..n {
        objs.push(c.alloc().expect("allocation"));
    }
    let after = live();
    for o in objs {
        // SAFETY: allocated above from this cache, not freed yet.
        unsafe { c.free(o) };
    }
    drop(c);
    let unit = a.unit_size();
    a.drain();
    (after.raw - before.raw, after.charged - before.charged, unit)
}

fn check<F: Allocator>(unit: usize, class: usize) {
    let (raw, charged, got_unit) = charge_of::<F>(100_000);
    assert_eq!(got_unit, unit, "{}", F::NAME);
    assert_eq!(kmalloc_size(unit), class);
    // The caches' refill batches are the same units; the RCU threads' own small
    // allocations are the slack.
    let ratio = charged as f64 / raw as f64;
    let want = class as f64 / unit as f64;
    assert!(
        (ratio - want).abs() < 0.01,
        "{}: charged {charged} / raw {raw} = {ratio:.4}, want {want:.4}",
        F::NAME
    );
}

#[test]
fn each_flavor_is_charged_at_its_kernel_size_class() {
    check::<ImmediateReuse>(72, 96);
    check::<ReuseAfterGp>(72, 96);
    check::<FreeAfterGp>(72, 96);
    check::<MallocCallRcu>(64, 64);
}
