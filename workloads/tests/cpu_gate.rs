//! Non-preemptible sections: producers sharing a gate are never inside sections together.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::thread;

use rcu::{Domain, DomainConfig};
use workloads::cpu_gate::{section, CpuGate};

#[test]
fn producers_sharing_a_gate_never_overlap_in_sections() {
    let d = Domain::new(DomainConfig::default());
    let gate = CpuGate::default();
    let inside = AtomicU32::new(0);
    let overlaps = AtomicU64::new(0);
    // More threads than this machine's CPUs, so the scheduler preempts them mid-section.
    let n = thread::available_parallelism().map_or(2, |n| n.get()) * 3;
    thread::scope(|s| {
        for _ in 0..n {
            s.spawn(|| {
                let h = d.register();
                for _ in 0..20_000 {
                    let _g = section(Some(&gate), &h);
                    if inside.fetch_add(1, Ordering::SeqCst) != 0 {
                        overlaps.fetch_add(1, Ordering::Relaxed);
                    }
                    std::hint::black_box(&h);
                    inside.fetch_sub(1, Ordering::SeqCst);
                }
            });
        }
    });
    assert_eq!(overlaps.load(Ordering::Relaxed), 0);
}

#[test]
fn a_section_without_a_gate_is_a_plain_read_section() {
    let d = Domain::new(DomainConfig::default());
    let h = d.register();
    {
        let g = section(None, &h);
        assert!(g.handle().in_read_section());
    }
    assert!(!h.in_read_section());
}
