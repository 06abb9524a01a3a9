//! The htab-mem use cases. One loop is one run of the kernel's BPF program: a batch of map
//! operations inside one RCU read-side section (`section`, which is non-preemptible when the
//! producer has a CPU gate); which keys a batch walks is the producer's `LoopShape` (64 by
//! default, as merged). Adding a use case = one file here and one line in the registry below.

mod shape;

// Add a use case: one file here (its module) + one line below (`mod file::Type`), in the order
// tables list the use cases. docs/adding-a-flavor.md shows the steps.
allocators::registry! {
    /// The use cases by CLI name, in the order tables list them.
    pub const USE_CASES;
    /// Runs `v` with the use case called `name`; None if there is no such use case.
    pub fn with_use_case<V: UseCaseVisitor>;
    UseCase {
        mod no_op::NoOp,
        mod overwrite::Overwrite,
        mod batch_add_batch_del::BatchAddBatchDel,
        mod add_del_on_diff_cpu::AddDelOnDiffCpu,
        mod lookup_verify::LookupVerify,
        mod lpm_update_delete::LpmUpdateDelete,
    }
}

use std::iter::StepBy;
use std::ops::Range;

pub use shape::LoopShape;

use crate::cpu_gate::{CpuGate, Seat};
use crate::producer_map::ProducerMap;

pub(crate) use crate::cpu_gate::section;

/// OP_BATCH in progs/htab_mem_bench.c.
pub const OP_BATCH: u32 = 64;

/// One producer thread: it plays CPU `idx` of `nr`, through its handle on a flavor's hash
/// table or a peer map.
pub struct Producer<'m, M: ProducerMap> {
    pub idx: usize,
    pub nr: usize,
    pub map: M,
    /// What its loops' sections are opened from (`section`).
    pub pin: M::Pin,
    /// Its seat at its CPU's gate when producers share the CPU (non-preemptible readers).
    pub gate: Option<Seat<'m>>,
    /// The value every update writes (zeroes, as the kernel's).
    pub value: Vec<u64>,
    /// Which keys a loop walks.
    pub shape: LoopShape,
}

impl<'m, M: ProducerMap> Producer<'m, M> {
    pub fn new(idx: usize, nr: usize, map: M, value_size: usize) -> Self {
        let pin = map.pin();
        Producer {
            idx,
            nr,
            map,
            pin,
            gate: None,
            value: vec![0; value_size.div_ceil(8)],
            shape: LoopShape::Merged,
        }
    }

    pub fn with_shape(mut self, shape: LoopShape) -> Self {
        self.shape = shape;
        self
    }

    /// Makes this producer's sections non-preemptible by the others sharing `gate`'s CPU.
    pub fn with_gate(mut self, gate: Option<&'m CpuGate>) -> Self {
        self.gate = gate.map(|g| Seat::new(g, self.idx));
        self
    }

    /// Before waiting for another producer: hands its CPU's gate on, if it holds it.
    pub fn leave_cpu(&self) {
        if let Some(s) = self.gate {
            s.leave();
        }
    }

    /// The keys one loop of this producer walks: `idx, idx + nr, ...`.
    #[inline]
    pub fn own_keys(&self) -> StepBy<Range<u32>> {
        self.shape.own_keys(self.idx, self.nr)
    }

    /// The keys this producer's add_del_on_diff_cpu pair adds and deletes in one loop.
    #[inline]
    pub fn pair_keys(&self) -> StepBy<Range<u32>> {
        self.shape.pair_keys(self.idx, self.nr)
    }
}

/// A workload: validates its parameters, holds its shared state, runs loops.
pub trait UseCase: Send + Sync + Sized + 'static {
    const NAME: &'static str;

    /// Checks the producer count and builds the shared state of one run.
    fn new(producers: usize) -> Result<Self, String>;

    /// One loop; returns what it counts towards loops/s.
    fn run_loop<M: ProducerMap>(&self, p: &mut Producer<'_, M>) -> u64;

    /// Whether a peer map can run it (a hash map's operations; not the LPM trie's).
    const PEERS: bool = true;

    /// Releases producers blocked inside `run_loop` when the run ends.
    fn stop(&self) {}

    /// For a use case that checks what lookups return: (lookups that found an element,
    /// those that found an inconsistent one).
    fn verify(&self) -> Option<(u64, u64)> {
        None
    }
}

/// Monomorphises a computation over the use case named at run time.
pub trait UseCaseVisitor {
    type Output;
    fn visit<U: UseCase>(self) -> Self::Output;
}
