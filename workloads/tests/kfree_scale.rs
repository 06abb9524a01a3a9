//! `KfreeScale::new` refuses a configuration whose objects would be empty.

use std::time::Duration;

use rcu::{Domain, DomainConfig};
use workloads::kfree_scale::{KfreeMode, KfreeScale, ScaleConfig};

fn config(mult: usize, mode: KfreeMode) -> ScaleConfig {
    ScaleConfig {
        nthreads: 1,
        alloc_num: 4,
        loops: 1,
        mult,
        mode,
        drain_period: Duration::from_millis(1),
        cached_blocks: 0,
        fail_alloc: None,
    }
}

#[test]
#[should_panic(expected = "mult must be at least 1")]
fn mult_zero_panics() {
    let domain = Domain::new(DomainConfig::default());
    let _ = KfreeScale::new(&config(0, KfreeMode::CallRcu), &domain);
}

#[test]
#[should_panic(expected = "mult must be at least 1")]
fn mult_zero_panics_before_kvfree_rcu_starts() {
    let domain = Domain::new(DomainConfig::default());
    let _ = KfreeScale::new(&config(0, KfreeMode::BatchedPolled), &domain);
}

#[test]
fn mult_one_runs() {
    let domain = Domain::new(DomainConfig::default());
    let test = KfreeScale::new(&config(1, KfreeMode::CallRcu), &domain);
    test.thread(0, &|| {});
    let r = test.finish();
    assert_eq!(r.objects, 4);
}
