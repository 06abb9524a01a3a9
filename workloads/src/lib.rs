//! What the producers run: the RCU hash table of kernel/bpf/hashtab.c and the htab-mem use
//! cases of tools/testing/selftests/bpf (benchs/bench_htab_mem.c, progs/htab_mem_bench.c).

pub mod cpu_gate;
mod hash;
pub mod htab;
pub mod kfree_scale;
pub mod lpm_trie;
pub mod lru;
pub mod map_perf_test;
pub mod peers;
mod percpu_counter;
pub mod producer_map;
pub mod use_cases;

pub use cpu_gate::CpuGate;
pub use htab::{ElemRef, HTab, MapCpu, MapError, UpdateFlag};
pub use peers::{with_peer, Peer, PeerVisitor, PEERS};
pub use percpu_counter::PercpuCounter;
pub use producer_map::ProducerMap;
pub use use_cases::{
    with_use_case, LoopShape, Producer, UseCase, UseCaseVisitor, OP_BATCH, USE_CASES,
};
