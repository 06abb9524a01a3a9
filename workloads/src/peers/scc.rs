//! scc 3 `HashMap`: buckets of entries under fine-grained per-bucket locks, resized
//! incrementally; the bucket arrays retired by a resize are reclaimed by sdd's epoch-based
//! reclamation. An update locks its key's bucket and overwrites the value in place (the
//! `entry_sync` API); a lookup (`read_sync`) reads it under the bucket's shared lock.

use ::scc::hash_map::Entry;
use ::scc::HashMap;

use super::Words;
use crate::htab::{MapError, UpdateFlag};

super::peer_map!(SccPeer, SccCpu, "peer:scc", HashMap<u32, Words>);

super::in_place_cpu!(SccCpu, entry_sync, insert_entry, remove_sync, |m: &HashMap<u32, Words>, key| {
    m.read_sync(&key, |_, v: &Words| v.consistent(key))
});
