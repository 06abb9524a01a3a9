//! Micro-benchmarks of the rcu crate: `cargo bench -p rcu`.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use rcu::{Domain, DomainConfig};

fn read_side(c: &mut Criterion) {
    let d = Domain::new(DomainConfig::default());
    let h = d.register();
    c.bench_function("read_lock+unlock", |b| {
        b.iter(|| {
            let g = h.read_lock();
            black_box(&g);
        })
    });
    let outer = h.read_lock();
    c.bench_function("read_lock+unlock (nested)", |b| {
        b.iter(|| {
            let g = h.read_lock();
            black_box(&g);
        })
    });
    drop(outer);
    let mb = Domain::new(DomainConfig {
        fence_readers: true,
        ..Default::default()
    });
    let hm = mb.register();
    c.bench_function("read_lock+unlock (fence readers)", |b| {
        b.iter(|| {
            let g = hm.read_lock();
            black_box(&g);
        })
    });
}

fn writer_side(c: &mut Criterion) {
    let d = Domain::new(DomainConfig::default());
    let h = d.register();
    c.bench_function("synchronize (idle readers)", |b| b.iter(|| d.synchronize()));
    c.bench_function("call_boxed enqueue", |b| b.iter(|| h.call_boxed(|| {})));
    // Lazy at the kernel's defaults: a grace period every 10000 callbacks of this thread.
    c.bench_function("call_lazy_boxed enqueue", |b| {
        b.iter(|| h.call_lazy_boxed(|| {}))
    });
    d.barrier();
}

criterion_group!(benches, read_side, writer_side);
criterion_main!(benches);
