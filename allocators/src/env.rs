//! The two grace-period domains every allocator works with.

use std::time::Duration;

use rcu::{Domain, DomainConfig};

/// RCU and RCU-tasks-trace. A tasks-trace grace period implies an RCU one, as
/// `rcu_trace_implies_rcu_gp()` says of current kernels, so objects that wait for tasks-trace
/// may be freed while RCU readers of the map could still hold them only after both.
#[derive(Clone, Debug)]
pub struct Env {
    pub rcu: Domain,
    pub tasks_trace: Domain,
}

impl Env {
    pub fn new(rcu_gp_delay: Duration, ttrace_gp_delay: Duration) -> Env {
        let rcu = Domain::new(DomainConfig {
            name: "rcu".into(),
            gp_delay: rcu_gp_delay,
            ..Default::default()
        });
        let tasks_trace = Domain::new(DomainConfig {
            name: "rcu-tasks-trace".into(),
            gp_delay: ttrace_gp_delay,
            implies: Some(rcu.clone()),
            ..Default::default()
        });
        Env { rcu, tasks_trace }
    }

    /// Waits for every queued callback of both domains, tasks-trace first since its
    /// callbacks' work can end in RCU callbacks.
    pub fn barrier(&self) {
        self.tasks_trace.barrier();
        self.rcu.barrier();
        self.tasks_trace.barrier();
    }
}

impl Default for Env {
    /// Zero pacing: grace periods as fast as readers allow (tests).
    fn default() -> Self {
        Env::new(Duration::ZERO, Duration::ZERO)
    }
}
