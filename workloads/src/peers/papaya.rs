//! papaya 0.2 (default features off): a lock-free table whose every insert allocates a new
//! entry and retires the one it replaces; retired entries are reclaimed by seize (batched,
//! reference-counted reclamation once every guard that could see them is gone). Each loop
//! holds one pinned guard (`guard()`), as its docs advise for a batch of operations.

use ::papaya::{HashMap, LocalGuard};

use super::Words;
use crate::htab::{MapError, UpdateFlag};

super::peer_map!(PapayaPeer, PapayaCpu, "peer:papaya", HashMap<u32, Words>);

super::guarded_cpu!(
    PapayaCpu,
    LocalGuard,
    HashMap<u32, Words>,
    |m: &HashMap<u32, Words>, key, w: Words, g| m.update(key, |_| w.clone(), g).map(|_| ())
);
