//! flurry 0.5: a port of Java's ConcurrentHashMap: lock-free reads, per-bin locks for
//! writers, and a new node allocated for every insert (the replaced value is retired); retired
//! nodes and values are reclaimed by seize. Each loop holds one pinned guard (`guard()`), as
//! its docs advise for a batch of operations.

use ::flurry::{Guard, HashMap};

use super::Words;
use crate::htab::{MapError, UpdateFlag};

super::peer_map!(FlurryPeer, FlurryCpu, "peer:flurry", HashMap<u32, Words>);

super::guarded_cpu!(
    FlurryCpu,
    Guard,
    HashMap<u32, Words>,
    |m: &HashMap<u32, Words>, key, w: Words, g| {
        m.compute_if_present(&key, |_, _| Some(w.clone()), g).map(|_| ())
    }
);
