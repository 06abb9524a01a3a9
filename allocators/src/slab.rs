//! The "slab": fixed-size objects from the global allocator, counted.

use std::alloc::{self, Layout};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, Ordering};

use crossbeam_utils::CachePadded;
use rcu::RcuHead;

use crate::hold_time::{take_stamp, HoldTimes};

/// What the allocator keeps in front of every object.
///
/// 40 bytes: with the map's 16-byte element head, a 4-byte key and an 8-byte value an element
/// takes 64 bytes, the kernel's htab element for the same map (48-byte htab_elem, key and
/// value rounded to 8), which holds its rcu_head inside (v6.0's "no bpf ma" map kmallocs
/// exactly that). The bpf_ma flavors put `LLIST_NODE_SZ` more in front (`Unit::BpfMa`): 72
/// bytes, the kernel's bpf_ma unit, which a memcg charges at kmalloc-96.
#[repr(C)]
pub(crate) struct ObjHeader {
    /// Free-list link while the object sits on a list.
    pub(crate) link: *mut ObjHeader,
    /// Where a per-object callback delivers the object (the freeing cache, or the slab);
    /// otherwise null or a hold-time stamp (`hold_time`) -- never anything else while the
    /// object sits on a list or goes back to the slab.
    pub(crate) aux: *const (),
    /// For flavors that queue one RCU callback per object.
    pub(crate) rcu: RcuHead,
}

pub const HEADER_SIZE: usize = std::mem::size_of::<ObjHeader>();

/// The word bpf_mem_alloc adds in front of every element (its llist_node). Here it holds the
/// cache that allocated the object (bpf_ma's hint), for spilling surplus back to it.
pub const LLIST_NODE_SZ: usize = 8;

/// How the kernel allocates the element a flavor stands for, which sets its size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Unit {
    /// kmalloc of the bare element (v6.0 htab; the preallocated map's one big area).
    Kmalloc,
    /// A bpf_mem_alloc unit: the element plus `LLIST_NODE_SZ` in front.
    BpfMa,
}

/// The allocating cache's hint, in the prefix word of a `Unit::BpfMa` object.
///
/// # Safety
/// `h` came from `alloc` of a `Unit::BpfMa` slab.
#[inline]
pub(crate) unsafe fn hint(h: NonNull<ObjHeader>) -> *mut *const () {
    // SAFETY: a `Unit::BpfMa` allocation starts `LLIST_NODE_SZ` bytes before its header
    // (`Slab::alloc`'s prefix), so the result stays inside it.
    unsafe { (h.as_ptr() as *mut u8).sub(LLIST_NODE_SZ) as *mut *const () }
}

/// The payload that follows the header.
#[inline]
pub(crate) fn payload(h: NonNull<ObjHeader>) -> NonNull<u8> {
    // SAFETY: every header is followed by obj_size payload bytes in the same allocation.
    unsafe { NonNull::new_unchecked((h.as_ptr() as *mut u8).add(HEADER_SIZE)) }
}

/// The header in front of a payload pointer handed out by `payload`.
///
/// # Safety
/// `p` came from `payload`.
#[inline]
pub(crate) unsafe fn header(p: NonNull<u8>) -> NonNull<ObjHeader> {
    // SAFETY: `payload` put `p` HEADER_SIZE bytes after a header in the same allocation, so
    // the result is that header: in bounds and non-null.
    unsafe { NonNull::new_unchecked(p.as_ptr().sub(HEADER_SIZE) as *mut ObjHeader) }
}

/// Recovers the header from its embedded `RcuHead` (container_of).
///
/// # Safety
/// `h` is the `rcu` field of an `ObjHeader`.
#[inline]
pub(crate) unsafe fn header_of_rcu(h: NonNull<RcuHead>) -> NonNull<ObjHeader> {
    let off = std::mem::offset_of!(ObjHeader, rcu);
    // SAFETY: `h` is the field at `off` of an ObjHeader, so the result is that header: in
    // bounds and non-null.
    unsafe { NonNull::new_unchecked((h.as_ptr() as *mut u8).sub(off) as *mut ObjHeader) }
}

#[derive(Default)]
struct Shard {
    taken: AtomicU64,
    returned: AtomicU64,
    /// Allocation attempts, the index of the failure injector's stream of this shard.
    attempts: AtomicU64,
}

/// kmalloc for one object size. Counters are sharded by CPU so that counting costs an
/// uncontended add; the last shard is for the grace-period threads.
///
/// Every object is charged to the process's memcg (`memcg::try_charge`, at its kmalloc size
/// class) before it is taken and uncharged when it goes back: past the limit, or when the
/// failure injector says so, `alloc` returns None and the flavor takes its failure path.
pub(crate) struct Slab {
    layout: Layout,
    /// Bytes in front of the header: 0, or `LLIST_NODE_SZ` for bpf_ma units.
    prefix: usize,
    /// What the memcg charges per object: the layout's kmalloc size class.
    charge: usize,
    /// Fails some allocations on purpose (`--fail-alloc`); one stream per shard.
    fail: Option<memcg::FailAlloc>,
    shards: Box<[CachePadded<Shard>]>,
    /// Hold times of the objects deferred on their way here or back to reuse, sharded alike.
    pub(crate) hold: HoldTimes,
}

/// An object's bytes: `prefix`, the header, the payload in 8-byte words.
fn object_size(prefix: usize, obj_size: usize) -> usize {
    prefix + HEADER_SIZE + obj_size.div_ceil(8) * 8
}

/// What the memcg charges for one object of a kmalloc-unit slab of `obj_size` payload bytes.
pub(crate) fn kmalloc_charge(obj_size: usize) -> usize {
    memcg::kmalloc_size(object_size(0, obj_size))
}

impl Slab {
    pub(crate) fn new(
        unit: Unit,
        obj_size: usize,
        nr_caches: usize,
        fail: Option<memcg::FailAlloc>,
    ) -> Slab {
        let prefix = match unit {
            Unit::Kmalloc => 0,
            Unit::BpfMa => LLIST_NODE_SZ,
        };
        let size = object_size(prefix, obj_size);
        Slab {
            layout: Layout::from_size_align(size, 8).expect("object size"),
            prefix,
            charge: memcg::kmalloc_size(size),
            fail,
            shards: (0..=nr_caches).map(|_| CachePadded::default()).collect(),
            hold: HoldTimes::new(nr_caches + 1),
        }
    }

    /// The shard callbacks (not running on a producer) count in.
    pub(crate) fn gp_shard(&self) -> usize {
        self.shards.len() - 1
    }

    pub(crate) fn unit_size(&self) -> usize {
        self.layout.size()
    }

    /// An object, or None: the failure injector failed this attempt, or the memcg refused
    /// the charge at its limit, or the system allocator had nothing.
    pub(crate) fn alloc(&self, shard: usize) -> Option<NonNull<ObjHeader>> {
        if let Some(f) = &self.fail {
            let n = self.shards[shard].attempts.fetch_add(1, Ordering::Relaxed);
            if f.fails(shard as u64, n) {
                return None;
            }
        }
        if !memcg::try_charge(self.charge) {
            return None;
        }
        self.take(shard)
    }

    /// An object charged whatever the limit and never failed by injection: the preallocated
    /// map's area, made once when the map is created (the kernel would fail the map's
    /// creation instead; here the run goes on, over the limit by that area).
    pub(crate) fn alloc_nofail(&self, shard: usize) -> Option<NonNull<ObjHeader>> {
        memcg::charge_nofail(self.charge);
        self.take(shard)
    }

    /// The object itself, charged already.
    fn take(&self, shard: usize) -> Option<NonNull<ObjHeader>> {
        // SAFETY: the layout has non-zero size.
        let Some(base) = NonNull::new(unsafe { alloc::alloc(self.layout) }) else {
            memcg::uncharge(self.charge);
            return None;
        };
        // SAFETY: the allocation holds the prefix, the header and the payload, 8-aligned.
        let p = unsafe {
            let p = base.as_ptr().add(self.prefix) as *mut ObjHeader;
            if self.prefix != 0 {
                (base.as_ptr() as *mut *const ()).write(std::ptr::null());
            }
            p.write(ObjHeader {
                link: std::ptr::null_mut(),
                aux: std::ptr::null(),
                rcu: RcuHead::new(),
            });
            NonNull::new_unchecked(p)
        };
        self.shards[shard].taken.fetch_add(1, Ordering::Relaxed);
        Some(p)
    }

    /// # Safety
    /// `h` came from `alloc` of this slab and nothing references it any more; its `aux` holds
    /// a stamp or null.
    pub(crate) unsafe fn free(&self, h: NonNull<ObjHeader>, shard: usize) {
        // SAFETY: nothing else references `h`, and its `aux` holds a stamp or null.
        if let Some(stamp) = unsafe { take_stamp(h) } {
            self.hold.record_slab(shard, stamp);
        }
        // SAFETY: `h` came from this slab's `alloc`, which returned the block `prefix` bytes
        // before it from `alloc::alloc(self.layout)`; nothing references it any more.
        unsafe { alloc::dealloc((h.as_ptr() as *mut u8).sub(self.prefix), self.layout) };
        memcg::uncharge(self.charge);
        self.shards[shard].returned.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn taken(&self) -> u64 {
        self.shards
            .iter()
            .map(|s| s.taken.load(Ordering::Relaxed))
            .sum()
    }

    pub(crate) fn returned(&self) -> u64 {
        self.shards
            .iter()
            .map(|s| s.returned.load(Ordering::Relaxed))
            .sum()
    }
}
