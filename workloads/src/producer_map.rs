//! What a producer drives: a small map trait the use cases are written against, so the same
//! loops run on the RCU hash table of any allocator flavor (`MapCpu`) and on the peer maps
//! (`crate::peers`). One producer's handle: `&mut self` operations are that producer's.

use allocators::Allocator;

use crate::htab::{MapCpu, MapError, UpdateFlag};

/// One producer's handle on a map.
pub trait ProducerMap {
    /// What the producer keeps to open its loops' sections: the RCU registration (the hash
    /// table), the map whose guard it pins (papaya, flurry), or nothing (dashmap, scc).
    type Pin: Clone;
    /// One loop's section: an RCU read-side section, a pinned guard, or nothing.
    type Section<'a>;

    /// The pin source of this handle's producer.
    fn pin(&self) -> Self::Pin;

    /// Opens one loop's section.
    fn enter<'a>(pin: &'a Self::Pin) -> Self::Section<'a>;

    /// bpf_map_update_elem: `value` is copied in (missing words are zero).
    fn update(
        &mut self,
        s: &Self::Section<'_>,
        key: u32,
        value: &[u64],
        flag: UpdateFlag,
    ) -> Result<(), MapError>;

    /// bpf_map_delete_elem: ENOENT when the key is missing.
    fn delete(&mut self, s: &Self::Section<'_>, key: u32) -> Result<(), MapError>;

    /// A lookup that checks what it finds (`stamp_consistent`): None when the key is missing,
    /// else whether the element seen still carries `key` and one consistent value stamp.
    fn lookup_verify(&self, s: &Self::Section<'_>, key: u32) -> Option<bool>;

    /// Updates through this handle that failed with ENOMEM so far (a peer map allocates from
    /// the global allocator, which aborts rather than fail: always 0).
    fn failed_updates(&self) -> u64 {
        0
    }

    /// Back from one loop (the BPF program): a quiescent state where the map has RCU.
    fn quiescent(&self) {}

    /// Runs `v` on the RCU hash table behind this handle: None for a peer map, which has no
    /// allocator flavor (the LPM trie use case needs one).
    fn visit_htab<V: HtabVisitor>(&mut self, v: V) -> Option<V::Output> {
        let _ = v;
        None
    }
}

/// A computation on a flavor's hash table handle (`ProducerMap::visit_htab`).
pub trait HtabVisitor {
    type Output;
    fn visit<A: Allocator>(self, map: &mut MapCpu<'_, A>) -> Self::Output;
}

/// lookup_verify's rule, for every map: the element seen holds `key` (`held_key`), its first
/// word is `key << 32 | sequence`, and every other word equals the first.
#[inline]
pub fn stamp_consistent(key: u32, held_key: u32, mut words: impl Iterator<Item = u64>) -> bool {
    let Some(w0) = words.next() else {
        return held_key == key;
    };
    held_key == key && (w0 >> 32) as u32 == key && words.all(|w| w == w0)
}

impl<'m, A: Allocator> ProducerMap for MapCpu<'m, A> {
    type Pin = rcu::ThreadHandle;
    type Section<'a> = rcu::ReadGuard<'a>;

    #[inline]
    fn pin(&self) -> Self::Pin {
        self.rcu()
    }

    #[inline]
    fn enter<'a>(pin: &'a Self::Pin) -> Self::Section<'a> {
        pin.read_lock()
    }

    #[inline]
    fn update(
        &mut self,
        _s: &Self::Section<'_>,
        key: u32,
        value: &[u64],
        flag: UpdateFlag,
    ) -> Result<(), MapError> {
        MapCpu::update(self, key, value, flag)
    }

    #[inline]
    fn delete(&mut self, _s: &Self::Section<'_>, key: u32) -> Result<(), MapError> {
        MapCpu::delete(self, key)
    }

    #[inline]
    fn lookup_verify(&self, s: &Self::Section<'_>, key: u32) -> Option<bool> {
        let e = self.map().lookup(s, key)?;
        let words = e
            .value()
            .iter()
            .map(|w| w.load(std::sync::atomic::Ordering::Relaxed));
        Some(stamp_consistent(key, e.key(), words))
    }

    #[inline]
    fn failed_updates(&self) -> u64 {
        MapCpu::failed_updates(self)
    }

    #[inline]
    fn quiescent(&self) {
        // The handle's own registration: the producer's.
        self.rcu_handle().quiescent();
    }

    fn visit_htab<V: HtabVisitor>(&mut self, v: V) -> Option<V::Output> {
        Some(v.visit(self))
    }
}

#[cfg(test)]
mod tests {
    use super::stamp_consistent;

    #[test]
    fn a_stamp_is_consistent_only_for_its_own_key_and_equal_words() {
        let s = 7u64 << 32 | 3;
        assert!(stamp_consistent(7, 7, [s, s].into_iter()));
        assert!(!stamp_consistent(7, 8, [s, s].into_iter()));
        assert!(!stamp_consistent(8, 8, [s].into_iter()));
        assert!(!stamp_consistent(7, 7, [s, s + 1].into_iter()));
    }
}
