//! dashmap 6: a sharded `RwLock<HashMap>` (one lock per shard, hashbrown inside). An update
//! write-locks its key's shard and overwrites the value in place; a lookup read-locks it and
//! returns a guard. Nothing is deferred: a removed entry is dropped at once under the lock.

use ::dashmap::mapref::entry::Entry;
use ::dashmap::DashMap;

use super::Words;
use crate::htab::{MapError, UpdateFlag};

super::peer_map!(DashMapPeer, DashMapCpu, "peer:dashmap", DashMap<u32, Words>);

super::in_place_cpu!(DashMapCpu, entry, insert, remove, |m: &DashMap<u32, Words>, key| {
    m.get(&key).map(|v| v.consistent(key))
});
