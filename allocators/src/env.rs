//! The two grace-period domains every allocator works with, and how its deferred work is charged.

use std::time::Duration;

use rcu::{Domain, DomainConfig};

use crate::DeferredWork;

/// RCU and RCU-tasks-trace. Objects that wait for tasks-trace are freed only after an RCU
/// grace period too, since the map's readers are RCU readers: either a tasks-trace grace
/// period implies an RCU one (`rcu_trace_implies_rcu_gp()`, true on current kernels, the
/// default) or every tasks-trace callback is chained into `call_rcu`.
#[derive(Clone, Debug)]
pub struct Env {
    pub rcu: Domain,
    pub tasks_trace: Domain,
    /// How the allocators' irq_work / kworker steps are charged (`--deferred-work`).
    pub deferred: DeferredWork,
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
        Env {
            rcu,
            tasks_trace,
            deferred: DeferredWork::Inline,
        }
    }

    pub fn with_deferred(mut self, deferred: DeferredWork) -> Env {
        self.deferred = deferred;
        self
    }

    /// Waits until both domains are empty. A callback of either may queue one on the other
    /// (free-rcu's RCU callback queues a tasks-trace one; with `--ttrace-chain` every
    /// tasks-trace callback is handed on to RCU, and counts as done in tasks-trace once
    /// handed), so the pair of barriers repeats until a round leaves nothing queued.
    pub fn barrier(&self) {
        loop {
            self.tasks_trace.barrier();
            self.rcu.barrier();
            if self.tasks_trace.pending_callbacks() == 0 && self.rcu.pending_callbacks() == 0 {
                return;
            }
        }
    }
}

impl Default for Env {
    /// Zero pacing: grace periods as fast as readers allow (tests).
    fn default() -> Self {
        Env::new(Duration::ZERO, Duration::ZERO)
    }
}
