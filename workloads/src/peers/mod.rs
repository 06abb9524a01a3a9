//! The peer maps: concurrent hash maps people already use, driven by the same use cases as the
//! allocator flavors' RCU hash table, so a table can answer "compared with what?". Each is
//! a `Peer` (the shared map, pre-sized to max_entries) handing each producer a
//! `ProducerMap`. Adding a peer = one file here and one line in the registry below.
//!
//! Values are the configured value size in u64 words (`Words`), inline at one word (the
//! default 8 bytes) so that a peer allocates what its design allocates and no more.

allocators::registry! {
    /// The peer maps by CLI name (`peer:NAME`), in the order tables list them.
    pub const PEERS;
    /// Runs `v` with the peer called `name`; None if there is no such peer.
    pub fn with_peer<V: PeerVisitor>;
    Peer {
        mod dashmap::DashMapPeer,
        mod papaya::PapayaPeer,
        mod scc::SccPeer,
        mod flurry::FlurryPeer,
    }
}

use crate::producer_map::ProducerMap;

/// What names a peer map where a flavor's name goes: `peer:dashmap`.
pub const PREFIX: &str = "peer:";

/// Whether `name` (a flavor column's value) is a peer map's.
pub fn is_peer(name: &str) -> bool {
    name.starts_with(PREFIX)
}

/// One peer map shared by a run's producers.
pub trait Peer: Send + Sync + Sized + 'static {
    /// `peer:NAME`.
    const NAME: &'static str;
    /// A producer's handle.
    type Cpu<'m>: ProducerMap
    where
        Self: 'm;

    /// The map, pre-sized for `max_entries` keys, as its docs advise for throughput.
    fn with_capacity(max_entries: usize) -> Self;

    /// The handle one producer operates through.
    fn cpu(&self) -> Self::Cpu<'_>;

    /// Keys in the map.
    fn len(&self) -> usize;

    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A peer's two types: the shared map (`$peer`, a `Peer` named `$name`) and a producer's
/// handle on it (`$cpu`, a reference to the map: these maps keep no per-thread state).
macro_rules! peer_map {
    ($peer:ident, $cpu:ident, $name:literal, $map:ty) => {
        pub struct $peer($map);

        /// A producer's handle: the shared map.
        pub struct $cpu<'m>(&'m $map);

        impl $crate::peers::Peer for $peer {
            const NAME: &'static str = $name;
            type Cpu<'m> = $cpu<'m>;

            fn with_capacity(max_entries: usize) -> Self {
                $peer(<$map>::with_capacity(max_entries))
            }

            fn cpu(&self) -> $cpu<'_> {
                $cpu(&self.0)
            }

            fn len(&self) -> usize {
                self.0.len()
            }
        }
    };
}
use peer_map;

/// The `ProducerMap` of a map that writes values in place under a lock and keeps no guard
/// (dashmap, scc): update through its entry API (`$entry`, whose vacant entry inserts with
/// `$insert`), delete with `$remove`, and `$lookup(map, key)` for lookup_verify.
macro_rules! in_place_cpu {
    ($cpu:ident, $entry:ident, $insert:ident, $remove:ident, $lookup:expr) => {
        impl $crate::producer_map::ProducerMap for $cpu<'_> {
            type Pin = ();
            type Section<'a> = ();

            fn pin(&self) {}

            #[inline]
            fn enter(_: &()) {}

            #[inline]
            fn update(
                &mut self,
                _: &(),
                key: u32,
                value: &[u64],
                flag: UpdateFlag,
            ) -> Result<(), MapError> {
                let e = self.0.$entry(key);
                flag.check(matches!(e, Entry::Occupied(_)))?;
                match e {
                    Entry::Occupied(mut o) => o.get_mut().set(value),
                    Entry::Vacant(v) => {
                        v.$insert(Words::new(value));
                    }
                }
                Ok(())
            }

            #[inline]
            fn delete(&mut self, _: &(), key: u32) -> Result<(), MapError> {
                self.0.$remove(&key).map(|_| ()).ok_or(MapError::Enoent)
            }

            #[inline]
            fn lookup_verify(&self, _: &(), key: u32) -> Option<bool> {
                $lookup(self.0, key)
            }
        }
    };
}
use in_place_cpu;

/// The `ProducerMap` of a map whose operations take a pinned guard of its own (papaya,
/// flurry): each loop pins one (`guard()`, of type `$guard`); ANY is `insert` (a new entry,
/// the old one retired), NOEXIST `try_insert`, EXIST `$replace(map, key, words, guard)`.
macro_rules! guarded_cpu {
    ($cpu:ident, $guard:ident, $map:ty, $replace:expr) => {
        impl<'m> $crate::producer_map::ProducerMap for $cpu<'m> {
            type Pin = &'m $map;
            type Section<'a> = $guard<'a>;

            fn pin(&self) -> Self::Pin {
                self.0
            }

            #[inline]
            fn enter<'a>(pin: &'a Self::Pin) -> $guard<'a> {
                pin.guard()
            }

            #[inline]
            fn update(
                &mut self,
                g: &$guard<'_>,
                key: u32,
                value: &[u64],
                flag: UpdateFlag,
            ) -> Result<(), MapError> {
                let w = Words::new(value);
                match flag {
                    UpdateFlag::Any => {
                        self.0.insert(key, w, g);
                        Ok(())
                    }
                    UpdateFlag::NoExist => self
                        .0
                        .try_insert(key, w, g)
                        .map(|_| ())
                        .map_err(|_| MapError::Eexist),
                    UpdateFlag::Exist => $replace(self.0, key, w, g).ok_or(MapError::Enoent),
                }
            }

            #[inline]
            fn delete(&mut self, g: &$guard<'_>, key: u32) -> Result<(), MapError> {
                self.0.remove(&key, g).map(|_| ()).ok_or(MapError::Enoent)
            }

            #[inline]
            fn lookup_verify(&self, g: &$guard<'_>, key: u32) -> Option<bool> {
                self.0.get(&key, g).map(|v| v.consistent(key))
            }
        }
    };
}
use guarded_cpu;

/// Monomorphises a computation over the peer named at run time.
pub trait PeerVisitor {
    type Output;
    fn visit<P: Peer>(self) -> Self::Output;
}

/// A peer's value: the configured value size in u64 words, inline when it is one word.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Words {
    One(u64),
    Many(Box<[u64]>),
}

impl Words {
    pub fn new(v: &[u64]) -> Words {
        match v {
            [w] => Words::One(*w),
            _ => Words::Many(v.into()),
        }
    }

    pub fn as_slice(&self) -> &[u64] {
        match self {
            Words::One(w) => std::slice::from_ref(w),
            Words::Many(b) => b,
        }
    }

    /// Overwrites in place (an update of a map that writes values in place).
    pub fn set(&mut self, v: &[u64]) {
        match self {
            Words::One(w) => *w = v[0],
            Words::Many(b) => b.copy_from_slice(v),
        }
    }

    /// lookup_verify's check of a value a peer returned for `key`.
    pub fn consistent(&self, key: u32) -> bool {
        crate::producer_map::stamp_consistent(key, key, self.as_slice().iter().copied())
    }
}

#[cfg(test)]
mod tests;
