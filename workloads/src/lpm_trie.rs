//! The LPM trie of kernel/bpf/lpm_trie.c (BPF_MAP_TYPE_LPM_TRIE, BPF_F_NO_PREALLOC), for
//! 4-byte keys (IPv4): a binary trie of `{prefixlen, data}` nodes with intermediate nodes,
//! longest-prefix-match lookups without locks inside an RCU read-side section, and updates and
//! deletes under one map lock, as the kernel's `trie_lookup_elem`, `trie_update_elem` and
//! `trie_delete_elem` of today (the version with `trie_check_add_elem` and the node allocator
//! of bpf_mem_alloc, v6.13 on).
//!
//! Nodes come from an [`Allocator`] flavor, intermediate and leaf nodes from the same one (as
//! `trie_alloc`'s single `bpf_mem_alloc_init`). A node an update replaces or a delete unlinks
//! is freed after the lock is dropped, through the flavor's `Cache::free`: the kernel calls
//! `bpf_mem_cache_free_rcu` there, which the `free-rcu` flavor is; other flavors show what the
//! trie would do with their free path (with `immediate-reuse` a lookup can return a node that
//! was freed and refilled for another prefix meanwhile, which [`LpmRef::still_matches`]
//! detects). A new node an update fails to link is freed at once (`bpf_mem_cache_free`).
//!
//! Layout: the kernel's node is `child[2]`, `u32 prefixlen`, `u32 flags`, `data[4]`, then the
//! value (28 bytes before the value). Here prefixlen and flags share one word, so the head
//! with its 4 data bytes is 24 bytes and the value starts 8-aligned right after it
//! ([`node_size`]). Data is kept as a big-endian `u32` (data[0] the most significant byte), so
//! `longest_prefix_match` is one xor and a leading-zero count, as the kernel's 4-byte step.

use std::borrow::BorrowMut;
use std::ptr::{self, NonNull};
use std::sync::atomic::{AtomicPtr, AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;

use allocators::{Allocator, Cache};
use parking_lot::Mutex;
use rcu::{Domain, ReadGuard};

use crate::htab::{MapCpu, MapError, UpdateFlag};

/// max_prefixlen of a trie with 4 data bytes.
pub const MAX_PREFIXLEN: u32 = 32;

/// LPM_TREE_NODE_FLAG_IM, kept above the prefix length in the node's `meta` word.
const FLAG_IM: u32 = 1 << 8;
const PREFIX_MASK: u32 = 0xff;

/// Bytes of a node's head: two child pointers, the prefix length and flags, 4 data bytes.
pub const NODE_HEAD: usize = std::mem::size_of::<Node>();

/// Bytes of a node whose value is `value_size` bytes (rounded up to 8).
pub fn node_size(value_size: usize) -> usize {
    NODE_HEAD + value_size.div_ceil(8) * 8
}

/// `struct bpf_lpm_trie_key_u8` with 4 data bytes. The prefix length is at most 32 (a longer
/// one is refused when the key is made, where the kernel answers -EINVAL per call).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LpmKey {
    prefixlen: u32,
    data: [u8; 4],
}

impl LpmKey {
    /// None if `prefixlen` > 32.
    pub fn new(prefixlen: u32, data: [u8; 4]) -> Option<Self> {
        (prefixlen <= MAX_PREFIXLEN).then_some(LpmKey { prefixlen, data })
    }

    /// A /32 key of `addr` (host order: 192.168.0.1 is 0xc0a8_0001).
    pub fn host(addr: u32) -> Self {
        LpmKey {
            prefixlen: MAX_PREFIXLEN,
            data: addr.to_be_bytes(),
        }
    }

    pub fn prefixlen(&self) -> u32 {
        self.prefixlen
    }

    pub fn data(&self) -> [u8; 4] {
        self.data
    }

    /// The data as a number, data[0] the most significant byte.
    pub fn addr(&self) -> u32 {
        u32::from_be_bytes(self.data)
    }

    /// Whether the first `prefixlen` bits of `addr` are this key's.
    pub fn contains(&self, addr: u32) -> bool {
        common_bits(self.addr(), addr) >= self.prefixlen
    }

    /// The key with the bits past its prefix cleared: two keys that match the same addresses
    /// compare equal after this (the trie keeps the data as given, as the kernel does).
    pub fn canonical(&self) -> Self {
        LpmKey {
            prefixlen: self.prefixlen,
            data: (self.addr() & mask(self.prefixlen)).to_be_bytes(),
        }
    }
}

fn mask(prefixlen: u32) -> u32 {
    u32::MAX.checked_shl(32 - prefixlen).unwrap_or(0)
}

/// Leading bits two data words share.
#[inline]
fn common_bits(a: u32, b: u32) -> u32 {
    (a ^ b).leading_zeros()
}

/// longest_prefix_match for 4 data bytes.
#[inline]
fn longest_prefix_match(node_pl: u32, node_data: u32, key: &LpmKey) -> u32 {
    common_bits(node_data, key.addr()).min(node_pl.min(key.prefixlen))
}

/// extract_bit: bit `index` (0 = most significant) of `data`; `index` < 32.
#[inline]
fn extract_bit(data: u32, index: u32) -> usize {
    ((data >> (31 - index)) & 1) as usize
}

/// `struct lpm_trie_node` without its data array's tail: the value follows as 8-byte words.
/// Fields are atomics because a node may be freed and refilled (with immediate reuse) while
/// lock-free readers read it.
#[repr(C)]
struct Node {
    child: [AtomicPtr<Node>; 2],
    /// prefixlen | flags (FLAG_IM).
    meta: AtomicU32,
    /// data[0..4], big-endian.
    data: AtomicU32,
}

impl Node {
    fn prefixlen(&self) -> u32 {
        self.meta.load(Ordering::Relaxed) & PREFIX_MASK
    }

    fn is_im(&self) -> bool {
        self.meta.load(Ordering::Relaxed) & FLAG_IM != 0
    }

    fn data(&self) -> u32 {
        self.data.load(Ordering::Relaxed)
    }
}

fn value_words<'a>(n: NonNull<Node>, words: usize) -> &'a [AtomicU64] {
    // SAFETY: every node is an allocator object of node_size(value_size) bytes, 8-aligned: the
    // head then `words` 8-byte words; the caller holds it live (lock or read-side section).
    unsafe {
        std::slice::from_raw_parts(
            (n.as_ptr() as *const u8).add(NODE_HEAD) as *const AtomicU64,
            words,
        )
    }
}

/// The map. Updates and deletes go through a [`TrieCpu`] (the allocator cache of one CPU).
pub struct LpmTrie<A: Allocator> {
    root: AtomicPtr<Node>,
    /// trie->lock, guarding n_entries and every change to the links.
    lock: Mutex<u32>,
    max_entries: u32,
    value_words: usize,
    alloc: Arc<A>,
    rcu: Domain,
}

impl<A: Allocator> LpmTrie<A> {
    /// trie_alloc: a trie of at most `max_entries` (> 0) prefixes whose values are
    /// `value_size` bytes, its nodes from `alloc`, whose objects must be at least
    /// `node_size(value_size)` bytes; lookups are protected by `rcu`.
    pub fn new(alloc: Arc<A>, rcu: Domain, max_entries: u32, value_size: usize) -> Self {
        assert!(max_entries > 0, "an LPM trie needs max_entries > 0");
        // The unit is the object plus the flavor's headers: a first check of the contract.
        assert!(
            alloc.unit_size() >= node_size(value_size),
            "{}: units of {} bytes cannot hold LPM trie nodes of {}",
            A::NAME,
            alloc.unit_size(),
            node_size(value_size)
        );
        LpmTrie {
            root: AtomicPtr::new(ptr::null_mut()),
            lock: Mutex::new(0),
            max_entries,
            value_words: value_size.div_ceil(8),
            alloc,
            rcu,
        }
    }

    pub fn allocator(&self) -> &Arc<A> {
        &self.alloc
    }

    pub fn max_entries(&self) -> u32 {
        self.max_entries
    }

    /// n_entries: the prefixes stored (intermediate nodes not counted).
    pub fn len(&self) -> usize {
        *self.lock.lock() as usize
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// CPU `cpu`'s handle, with a cache of the trie's allocator of its own.
    pub fn cpu(&self, cpu: usize) -> TrieCpu<'_, A> {
        TrieCpu {
            trie: self,
            cache: self.alloc.cache(cpu),
        }
    }

    /// A handle that allocates and frees through a hash map's cache, when the trie and the
    /// map share one allocator (None otherwise).
    pub fn with_map_cache<'c>(
        &self,
        m: &'c mut MapCpu<'_, A>,
    ) -> Option<TrieCpu<'_, A, &'c mut A::Cache>> {
        if !Arc::ptr_eq(m.map().allocator(), &self.alloc) {
            return None;
        }
        Some(TrieCpu {
            trie: self,
            cache: m.cache_mut(),
        })
    }

    /// trie_lookup_elem: the longest stored prefix that contains `key`'s first `prefixlen`
    /// bits, found without locks inside the caller's read-side section.
    #[inline]
    pub fn lookup<'g>(&self, guard: &'g ReadGuard<'_>, key: &LpmKey) -> Option<LpmRef<'g>> {
        // A section of another domain would not hold back this trie's reclamation.
        assert!(
            guard.domain().same_as(&self.rcu),
            "lookup under a read guard of RCU domain '{}', not this trie's",
            guard.domain().name()
        );
        let mut node = self.root.load(Ordering::Acquire);
        let mut found: Option<(NonNull<Node>, u32, u32)> = None;
        // Prefix lengths grow strictly down a path, so a walk visits at most 33 nodes; the
        // bound only matters to a reader carried onto reused nodes (immediate reuse).
        for _ in 0..=MAX_PREFIXLEN {
            let Some(p) = NonNull::new(node) else { break };
            // SAFETY: a node reachable from the root inside a read-side section is not
            // returned to the system before the section ends (every flavor gives memory back
            // only after a grace period), though it may be reused.
            let n = unsafe { p.as_ref() };
            let meta = n.meta.load(Ordering::Relaxed);
            let (pl, data) = (meta & PREFIX_MASK, n.data());
            let matchlen = longest_prefix_match(pl, data, key);
            if matchlen == MAX_PREFIXLEN {
                found = Some((p, pl, data));
                break;
            }
            if matchlen < pl {
                break;
            }
            if meta & FLAG_IM == 0 {
                found = Some((p, pl, data));
            }
            // matchlen < 32 here and pl <= matchlen.
            node = n.child[extract_bit(key.addr(), pl)].load(Ordering::Acquire);
        }
        found.map(|(node, prefixlen, data)| LpmRef {
            node,
            matched: LpmKey {
                prefixlen,
                data: data.to_be_bytes(),
            },
            words: self.value_words,
            _guard: std::marker::PhantomData,
        })
    }

    /// trie_update_elem through `cache`.
    ///
    /// # Safety
    /// `cache` is a cache of this trie's allocator.
    unsafe fn update_in(
        &self,
        cache: &mut A::Cache,
        key: &LpmKey,
        value: &[u64],
        flag: UpdateFlag,
    ) -> Result<(), MapError> {
        // Allocate and fill a new node (before the lock, as the kernel since v6.13).
        let new = cache.alloc().ok_or(MapError::Enomem)?.cast::<Node>();
        // SAFETY: a fresh object of node_size bytes that only we reference (readers holding
        // it from a previous life aside, hence atomic stores).
        let nn = unsafe { new.as_ref() };
        nn.child[0].store(ptr::null_mut(), Ordering::Relaxed);
        nn.child[1].store(ptr::null_mut(), Ordering::Relaxed);
        nn.meta.store(key.prefixlen, Ordering::Relaxed);
        nn.data.store(key.addr(), Ordering::Relaxed);
        for (i, w) in value_words(new, self.value_words).iter().enumerate() {
            w.store(value.get(i).copied().unwrap_or(0), Ordering::Relaxed);
        }
        let mut free_node = None;
        let ret = {
            let mut n_entries = self.lock.lock();
            // trie_check_add_elem.
            let mut check_add = || {
                if flag == UpdateFlag::Exist {
                    Err(MapError::Enoent)
                } else if *n_entries == self.max_entries {
                    Err(MapError::E2big)
                } else {
                    *n_entries += 1;
                    Ok(())
                }
            };
            // Find a slot to attach the new node.
            let mut slot = &self.root;
            let mut matchlen = 0;
            let mut node = slot.load(Ordering::Relaxed);
            while let Some(p) = NonNull::new(node) {
                // SAFETY: under the lock, linked nodes are live.
                let n = unsafe { p.as_ref() };
                matchlen = longest_prefix_match(n.prefixlen(), n.data(), key);
                if n.prefixlen() != matchlen || n.prefixlen() == key.prefixlen {
                    break;
                }
                slot = &n.child[extract_bit(key.addr(), n.prefixlen())];
                node = slot.load(Ordering::Relaxed);
            }
            match NonNull::new(node) {
                // An empty slot: link the new node there.
                None => check_add().map(|()| slot.store(new.as_ptr(), Ordering::Release)),
                Some(p) => {
                    // SAFETY: as above.
                    let n = unsafe { p.as_ref() };
                    if n.prefixlen() == matchlen {
                        // The same prefix: replace the node.
                        let r = if !n.is_im() {
                            match flag {
                                UpdateFlag::NoExist => Err(MapError::Eexist),
                                _ => Ok(()),
                            }
                        } else {
                            check_add()
                        };
                        r.map(|()| {
                            for i in 0..2 {
                                let c = n.child[i].load(Ordering::Relaxed);
                                nn.child[i].store(c, Ordering::Relaxed);
                            }
                            slot.store(new.as_ptr(), Ordering::Release);
                            free_node = Some(p);
                        })
                    } else {
                        check_add().and_then(|()| {
                            if matchlen == key.prefixlen {
                                // The new node is an ancestor of `node`.
                                let bit = extract_bit(n.data(), matchlen);
                                nn.child[bit].store(p.as_ptr(), Ordering::Relaxed);
                                slot.store(new.as_ptr(), Ordering::Release);
                                Ok(())
                            } else {
                                self.link_im(cache, slot, p, new, key, matchlen)
                                    .inspect_err(|_| *n_entries -= 1)
                            }
                        })
                    }
                }
            }
        };
        if ret.is_err() {
            // Never published: bpf_mem_cache_free.
            // SAFETY: `new` came from this allocator (the caller's contract) and is unused.
            unsafe { cache.free(new.cast()) };
        }
        if let Some(old) = free_node {
            // SAFETY: `old` is unlinked and came from this allocator; readers may still see
            // it, which the flavor's free accounts for.
            unsafe { cache.free(old.cast()) };
        }
        ret
    }

    /// An intermediate node above `node` and `new` at `slot` (under the lock).
    fn link_im(
        &self,
        cache: &mut A::Cache,
        slot: &AtomicPtr<Node>,
        node: NonNull<Node>,
        new: NonNull<Node>,
        key: &LpmKey,
        matchlen: u32,
    ) -> Result<(), MapError> {
        let im = cache.alloc().ok_or(MapError::Enomem)?.cast::<Node>();
        // SAFETY: a fresh object, as in update_in; `node` is linked and we hold the lock.
        let (imn, n) = unsafe { (im.as_ref(), node.as_ref()) };
        imn.meta.store(matchlen | FLAG_IM, Ordering::Relaxed);
        imn.data.store(n.data(), Ordering::Relaxed);
        let (c0, c1) = if extract_bit(key.addr(), matchlen) == 1 {
            (node, new)
        } else {
            (new, node)
        };
        imn.child[0].store(c0.as_ptr(), Ordering::Relaxed);
        imn.child[1].store(c1.as_ptr(), Ordering::Relaxed);
        slot.store(im.as_ptr(), Ordering::Release);
        Ok(())
    }

    /// trie_delete_elem through `cache`.
    ///
    /// # Safety
    /// `cache` is a cache of this trie's allocator.
    unsafe fn delete_in(&self, cache: &mut A::Cache, key: &LpmKey) -> Result<(), MapError> {
        let (mut free_node, mut free_parent) = (None, None);
        let ret = {
            let mut n_entries = self.lock.lock();
            let mut trim = &self.root;
            let mut trim2 = trim;
            let mut parent: Option<&Node> = None;
            let mut matchlen = 0;
            let mut node = trim.load(Ordering::Relaxed);
            while let Some(p) = NonNull::new(node) {
                // SAFETY: under the lock, linked nodes are live.
                let n = unsafe { p.as_ref() };
                matchlen = longest_prefix_match(n.prefixlen(), n.data(), key);
                if n.prefixlen() != matchlen || n.prefixlen() == key.prefixlen {
                    break;
                }
                parent = Some(n);
                trim2 = trim;
                trim = &n.child[extract_bit(key.addr(), n.prefixlen())];
                node = trim.load(Ordering::Relaxed);
            }
            // The node of exactly this prefix, if it is not an intermediate one.
            let exact = NonNull::new(node).filter(|p| {
                // SAFETY: under the lock, linked nodes are live.
                let n = unsafe { p.as_ref() };
                n.prefixlen() == key.prefixlen && n.prefixlen() == matchlen && !n.is_im()
            });
            match exact {
                Some(p) => {
                    *n_entries -= 1;
                    // SAFETY: as above.
                    let n = unsafe { p.as_ref() };
                    let c0 = n.child[0].load(Ordering::Relaxed);
                    let c1 = n.child[1].load(Ordering::Relaxed);
                    if !c0.is_null() && !c1.is_null() {
                        // Two children: it becomes an intermediate node.
                        n.meta.fetch_or(FLAG_IM, Ordering::Relaxed);
                    } else if let Some(par) =
                        parent.filter(|q| q.is_im() && c0.is_null() && c1.is_null())
                    {
                        // A leaf under an intermediate node: both go, the sibling moves up.
                        let sib = if par.child[0].load(Ordering::Relaxed) == p.as_ptr() {
                            par.child[1].load(Ordering::Relaxed)
                        } else {
                            par.child[0].load(Ordering::Relaxed)
                        };
                        trim2.store(sib, Ordering::Release);
                        free_parent = Some(NonNull::from(par));
                        free_node = Some(p);
                    } else {
                        let up = if !c0.is_null() { c0 } else { c1 };
                        trim.store(up, Ordering::Release);
                        free_node = Some(p);
                    }
                    Ok(())
                }
                _ => Err(MapError::Enoent),
            }
        };
        for n in [free_parent, free_node].into_iter().flatten() {
            // SAFETY: unlinked under the lock, from this allocator (the caller's contract);
            // readers may still see it, which the flavor's free accounts for.
            unsafe { cache.free(n.cast()) };
        }
        ret
    }

    /// trie_free's walk, as deletes: unlinks every node and frees it through `cache`.
    ///
    /// # Safety
    /// `cache` is a cache of this trie's allocator.
    unsafe fn clear_in(&self, cache: &mut A::Cache) -> usize {
        let root = {
            let mut n_entries = self.lock.lock();
            *n_entries = 0;
            self.root.swap(ptr::null_mut(), Ordering::AcqRel)
        };
        let mut stack: Vec<*mut Node> = vec![root];
        let mut n = 0;
        while let Some(p) = stack.pop() {
            let Some(p) = NonNull::new(p) else { continue };
            // SAFETY: the subtree was unlinked whole; its nodes are ours.
            let node = unsafe { p.as_ref() };
            stack.push(node.child[0].load(Ordering::Relaxed));
            stack.push(node.child[1].load(Ordering::Relaxed));
            // SAFETY: unlinked, from this allocator (the caller's contract).
            unsafe { cache.free(p.cast()) };
            n += 1;
        }
        n
    }

    /// Checks the trie's invariants (call with no writer running): prefix lengths grow down
    /// every path, each child extends its parent's prefix on the right bit, intermediate
    /// nodes have two children, and n_entries counts the non-intermediate nodes. Returns the
    /// stored prefixes, canonical.
    pub fn check(&self) -> Result<Vec<LpmKey>, String> {
        let n_entries = self.lock.lock();
        let mut out = Vec::new();
        let mut stack = vec![(self.root.load(Ordering::Relaxed), None::<(u32, u32, usize)>)];
        while let Some((p, up)) = stack.pop() {
            let Some(p) = NonNull::new(p) else { continue };
            // SAFETY: under the lock, linked nodes are live.
            let n = unsafe { p.as_ref() };
            let (pl, data) = (n.prefixlen(), n.data());
            if let Some((ppl, pdata, bit)) = up {
                if pl <= ppl || common_bits(pdata, data) < ppl || extract_bit(data, ppl) != bit {
                    return Err(format!(
                        "node {:?} does not extend its parent /{ppl} on bit {bit}",
                        (pl, data)
                    ));
                }
            }
            let kids = [0, 1].map(|i| n.child[i].load(Ordering::Relaxed));
            if n.is_im() {
                if kids.iter().any(|k| k.is_null()) {
                    return Err(format!("intermediate node /{pl} without two children"));
                }
            } else {
                out.push(
                    LpmKey {
                        prefixlen: pl,
                        data: data.to_be_bytes(),
                    }
                    .canonical(),
                );
            }
            for (bit, k) in kids.into_iter().enumerate() {
                stack.push((k, Some((pl, data, bit))));
            }
        }
        if out.len() != *n_entries as usize {
            return Err(format!(
                "n_entries {} but {} prefixes linked",
                *n_entries,
                out.len()
            ));
        }
        Ok(out)
    }
}

/// One CPU's access to the trie: updates and deletes allocate and free through its cache
/// (its own, or a hash map's over the same allocator).
pub struct TrieCpu<'t, A: Allocator, C: BorrowMut<A::Cache> = <A as Allocator>::Cache> {
    trie: &'t LpmTrie<A>,
    cache: C,
}

impl<'t, A: Allocator, C: BorrowMut<A::Cache>> TrieCpu<'t, A, C> {
    pub fn trie(&self) -> &'t LpmTrie<A> {
        self.trie
    }

    /// bpf_map_update_elem.
    pub fn update(
        &mut self,
        key: &LpmKey,
        value: &[u64],
        flag: UpdateFlag,
    ) -> Result<(), MapError> {
        // SAFETY: a TrieCpu's cache is of its trie's allocator (`cpu`, `with_map_cache`).
        unsafe {
            self.trie
                .update_in(self.cache.borrow_mut(), key, value, flag)
        }
    }

    /// bpf_map_delete_elem.
    pub fn delete(&mut self, key: &LpmKey) -> Result<(), MapError> {
        // SAFETY: as in update.
        unsafe { self.trie.delete_in(self.cache.borrow_mut(), key) }
    }

    /// Unlinks and frees every node (trie_free's walk, each node freed as a delete frees it,
    /// so it is safe with readers about); returns how many nodes went.
    pub fn clear(&mut self) -> usize {
        // SAFETY: as in update.
        unsafe { self.trie.clear_in(self.cache.borrow_mut()) }
    }
}

/// What a lookup found: the node and the prefix it carried when the walk matched it; valid
/// for the read-side section.
pub struct LpmRef<'g> {
    node: NonNull<Node>,
    matched: LpmKey,
    words: usize,
    _guard: std::marker::PhantomData<&'g ()>,
}

impl LpmRef<'_> {
    /// The prefix the walk matched (data as stored).
    pub fn matched(&self) -> LpmKey {
        self.matched
    }

    /// The prefix the node carries now (another one if it was freed and reused meanwhile).
    pub fn current(&self) -> LpmKey {
        // SAFETY: the node stays valid memory for the read-side section (see lookup).
        let n = unsafe { self.node.as_ref() };
        LpmKey {
            prefixlen: n.prefixlen(),
            data: n.data().to_be_bytes(),
        }
    }

    /// Whether the node still carries the prefix the walk matched.
    pub fn still_matches(&self) -> bool {
        self.current() == self.matched
    }

    pub fn value(&self) -> &[AtomicU64] {
        value_words(self.node, self.words)
    }
}
