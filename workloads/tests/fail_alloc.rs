//! Allocation-failure injection at the slab (`AllocConfig::fail_alloc`): every flavor x use
//! case runs its failure paths (a refill that gets nothing, an alloc that returns None, an
//! update that fails with ENOMEM) with no leak, no incorrect lookup under a flavor that
//! reuses only after a grace period, and the failed updates counted.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use allocators::{with_flavor, AllocConfig, Allocator, Env, FlavorVisitor, Prealloc, FLAVORS};
use workloads::htab::elem_size;
use workloads::use_cases::NoOp;
use workloads::ProducerMap;
use workloads::{with_use_case, HTab, Producer, UseCase, UseCaseVisitor, USE_CASES};

struct Injected<'a> {
    use_case: &'a str,
    fail: memcg::FailAlloc,
}

/// (failed updates, lookups verified, incorrect lookups, leaked)
type Outcome = (u64, u64, u64, i64);

impl FlavorVisitor for Injected<'_> {
    type Output = Outcome;
    fn visit<A: Allocator>(self) -> Outcome {
        struct Inner<A: Allocator> {
            fail: memcg::FailAlloc,
            _a: std::marker::PhantomData<A>,
        }
        impl<A: Allocator> UseCaseVisitor for Inner<A> {
            type Output = Outcome;
            fn visit<U: UseCase>(self) -> Outcome {
                const P: usize = 4;
                let env = Env::default();
                let mut cfg =
                    AllocConfig::new(elem_size(8), P + 1, env.clone()).with_capacity(8192);
                cfg.fail_alloc = Some(self.fail);
                let alloc = Arc::new(A::new(&cfg));
                let map = HTab::new(alloc, env.rcu.clone(), 8192, 8, P + 1);
                let uc = U::new(P).unwrap();
                let stop = AtomicBool::new(false);
                let failed = AtomicU64::new(0);
                thread::scope(|s| {
                    for i in 0..P {
                        let (map, uc, stop, failed) = (&map, &uc, &stop, &failed);
                        s.spawn(move || {
                            let mut p = Producer::new(i, P, map.cpu(i), 8);
                            while !stop.load(Ordering::Relaxed) {
                                uc.run_loop(&mut p);
                                p.map.quiescent();
                            }
                            failed.fetch_add(p.map.failed_updates(), Ordering::Relaxed);
                        });
                    }
                    thread::sleep(Duration::from_millis(100));
                    stop.store(true, Ordering::Relaxed);
                    uc.stop();
                });
                map.cpu(P).clear();
                let leaked = map.allocator().drain().leaked;
                let (found, bad) = uc.verify().unwrap_or((0, 0));
                (failed.into_inner(), found, bad, leaked)
            }
        }
        with_use_case(
            self.use_case,
            Inner::<A> {
                fail: self.fail,
                _a: std::marker::PhantomData,
            },
        )
        .unwrap()
    }
}

fn reuses_after_gp(flavor: &str) -> bool {
    struct R;
    impl FlavorVisitor for R {
        type Output = bool;
        fn visit<A: Allocator>(self) -> bool {
            A::REUSE_AFTER_GP
        }
    }
    with_flavor(flavor, R).unwrap()
}

/// At 5 % and every 7th, a flavor that recycles its objects (immediate-reuse's free list)
/// may never need the slab again once warm, so not every cell sees an update fail; at 50 %
/// the first refills find nothing often enough that every cell that updates does.
#[test]
fn every_flavor_and_use_case_survives_injected_allocation_failures() {
    for (spec, must_fail) in [("0.5", true), ("0.05", false), ("every:7", false)] {
        let fail = memcg::FailAlloc::parse(spec, 7).unwrap();
        for uc in USE_CASES {
            for f in FLAVORS {
                let (failed, found, bad, leaked) =
                    with_flavor(f, Injected { use_case: uc, fail }).unwrap();
                let what = format!("{uc}/{f} with --fail-alloc {spec}");
                assert_eq!(leaked, 0, "{what}: leaked");
                if reuses_after_gp(f) {
                    assert_eq!(bad, 0, "{what}: {bad} of {found} lookups incorrect");
                }
                // no_op updates nothing; the preallocated map never allocates after its
                // creation (its area is made whole up front and never failed).
                if *uc == NoOp::NAME || *f == Prealloc::NAME {
                    assert_eq!(failed, 0, "{what}");
                } else if must_fail {
                    assert!(failed > 0, "{what}: no update failed");
                }
            }
        }
    }
}
