//! Non-preemptible sections: producers sharing a gate are never inside sections together.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::thread;

use rcu::{Domain, DomainConfig};
use workloads::cpu_gate::{section, CpuGate, Seat, Turn};

/// A flavor's hash table handle: its sections are RCU read-side sections.
type Htab = workloads::MapCpu<'static, allocators::ImmediateReuse>;

#[test]
fn producers_sharing_a_gate_never_overlap_in_sections() {
    let d = Domain::new(DomainConfig::default());
    let gate = CpuGate::default();
    let inside = AtomicU32::new(0);
    let overlaps = AtomicU64::new(0);
    // More threads than this machine's CPUs, so the scheduler preempts them mid-section.
    let n = thread::available_parallelism().map_or(2, |n| n.get()) * 3;
    let loops: Vec<AtomicU64> = (0..n).map(|_| AtomicU64::new(0)).collect();
    thread::scope(|s| {
        for i in 0..n {
            let (d, gate, inside, overlaps, loops) = (&d, &gate, &inside, &overlaps, &loops);
            s.spawn(move || {
                let h = d.register();
                let seat = Some(Seat::new(gate, i));
                let mut turn = Turn::new(seat, std::time::Duration::from_micros(100));
                for _ in 0..20_000 {
                    {
                        let _g = section::<Htab>(seat, &h);
                        if inside.fetch_add(1, Ordering::SeqCst) != 0 {
                            overlaps.fetch_add(1, Ordering::Relaxed);
                        }
                        std::hint::black_box(&h);
                        inside.fetch_sub(1, Ordering::SeqCst);
                    }
                    loops[i].fetch_add(1, Ordering::Relaxed);
                    turn.between_loops();
                }
                turn.leave();
            });
        }
    });
    assert_eq!(overlaps.load(Ordering::Relaxed), 0);
    // Every producer got its turns: all finished their loops (none starved forever).
    assert!(loops.iter().all(|l| l.load(Ordering::Relaxed) == 20_000));
}

#[test]
fn the_quantum_is_the_schedulers_base_slice() {
    use std::time::Duration;
    use workloads::cpu_gate::quantum;
    assert_eq!(quantum(1), Duration::from_micros(750));
    assert_eq!(quantum(2), Duration::from_micros(1500));
    assert_eq!(quantum(8), Duration::from_micros(3000));
    assert_eq!(quantum(64), Duration::from_micros(3000));
}

#[test]
fn a_section_without_a_gate_is_a_plain_read_section() {
    let d = Domain::new(DomainConfig::default());
    let h = d.register();
    {
        let g = section::<Htab>(None, &h);
        assert!(g.handle().in_read_section());
    }
    assert!(!h.in_read_section());
}
