//! The two grace-period domains every allocator works with.

use std::time::Duration;

use rcu::{Domain, DomainConfig};

/// RCU and RCU-tasks-trace. Objects that wait for tasks-trace are freed only after an RCU
/// grace period too, since the map's readers are RCU readers: either a tasks-trace grace
/// period implies an RCU one (`rcu_trace_implies_rcu_gp()`, true on current kernels, the
/// default) or every tasks-trace callback is chained into `call_rcu`.
#[derive(Clone, Debug)]
pub struct Env {
    pub rcu: Domain,
    pub tasks_trace: Domain,
}

impl Env {
    pub fn new(rcu_gp_delay: Duration, ttrace_gp_delay: Duration) -> Env {
        Env::with_implies(rcu_gp_delay, ttrace_gp_delay, true)
    }

    /// `ttrace_implies_rcu` false: tasks-trace callbacks chain into an RCU grace period.
    pub fn with_implies(
        rcu_gp_delay: Duration,
        ttrace_gp_delay: Duration,
        ttrace_implies_rcu: bool,
    ) -> Env {
        let rcu = Domain::new(DomainConfig {
            name: "rcu".into(),
            gp_delay: rcu_gp_delay,
            ..Default::default()
        });
        let (implies, chain) = if ttrace_implies_rcu {
            (Some(rcu.clone()), None)
        } else {
            (None, Some(rcu.clone()))
        };
        let tasks_trace = Domain::new(DomainConfig {
            name: "rcu-tasks-trace".into(),
            gp_delay: ttrace_gp_delay,
            implies,
            chain,
            ..Default::default()
        });
        Env { rcu, tasks_trace }
    }

    /// Waits for every queued callback of both domains, tasks-trace first since its
    /// callbacks' work can end in RCU callbacks, and RCU last: when tasks-trace callbacks are
    /// chained (`with_implies(.., false)`), the last tasks-trace barrier only hands the
    /// callbacks that RCU callbacks queued on to RCU.
    pub fn barrier(&self) {
        self.tasks_trace.barrier();
        self.rcu.barrier();
        self.tasks_trace.barrier();
        self.rcu.barrier();
    }
}

impl Default for Env {
    /// Zero pacing: grace periods as fast as readers allow (tests).
    fn default() -> Self {
        Env::new(Duration::ZERO, Duration::ZERO)
    }
}
