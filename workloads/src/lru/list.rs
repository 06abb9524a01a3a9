//! The LRU lists of kernel/bpf/bpf_lru_list.c, over a fixed array of nodes.
//!
//! Nodes are named by index; list heads are extra nodes after the elements, so a list is the
//! kernel's circular `list_head` ring. Links are atomics only so that the structure is `Sync`:
//! every link is read and written under the lock of the list the node sits on, as in the
//! kernel. The ref bit is the one field written without a lock (by lookups).
//!
//! Two layouts, chosen at map creation:
//! * common LRU: one global list (active, inactive, free) plus per-CPU local lists (free,
//!   pending). A CPU pops from its local free list, refills it from the global list in
//!   batches of `target_free` (rotating and shrinking the global list), and steals from other
//!   CPUs' local lists when the global list has nothing.
//! * per-CPU LRU (`BPF_F_NO_COMMON_LRU`): each CPU owns a full list of its share of the nodes
//!   and evicts only its own, a few at a time.

use std::sync::atomic::{AtomicU32, AtomicU8, AtomicUsize, Ordering::Relaxed};

use crossbeam_utils::CachePadded;
use parking_lot::Mutex;

/// LOCAL_FREE_TARGET: the most nodes a local free list is refilled with at once.
pub const LOCAL_FREE_TARGET: u32 = 128;
/// LOCAL_NR_SCANS: how far the common list's rotation and shrink look.
const LOCAL_NR_SCANS: u32 = LOCAL_FREE_TARGET;
/// PERCPU_FREE_TARGET: nodes a per-CPU list frees when it runs out.
pub const PERCPU_FREE_TARGET: u32 = 4;
/// PERCPU_NR_SCANS.
const PERCPU_NR_SCANS: u32 = PERCPU_FREE_TARGET;

// enum bpf_lru_list_type.
const T_ACTIVE: u8 = 0;
const T_INACTIVE: u8 = 1;
const T_FREE: u8 = 2;
const T_LOCAL_FREE: u8 = 3;
const T_LOCAL_PENDING: u8 = 4;
/// NR_BPF_LRU_LIST_COUNT: only active and inactive are counted.
const NR_COUNTED: u8 = 2;

fn is_local(t: u8) -> bool {
    t >= T_LOCAL_FREE
}

/// Where evicted or freed nodes go: a free ring and the type they take there.
#[derive(Clone, Copy)]
struct Dest {
    head: u32,
    ty: u8,
}

/// struct bpf_lru_node.
struct Node {
    prev: AtomicU32,
    next: AtomicU32,
    /// The CPU whose local list (common) or list (per-CPU) the node belongs to.
    cpu: AtomicU32,
    ty: AtomicU8,
    referenced: AtomicU8,
}

impl Node {
    fn new() -> Self {
        Node {
            prev: AtomicU32::new(0),
            next: AtomicU32::new(0),
            cpu: AtomicU32::new(0),
            ty: AtomicU8::new(T_FREE),
            referenced: AtomicU8::new(0),
        }
    }
}

/// What a `bpf_lru_list` keeps under its lock besides the links.
struct ListState {
    /// Active and inactive counts.
    counts: [u32; NR_COUNTED as usize],
    /// next_inactive_rotation: a node of the inactive list, or its head.
    next_inactive_rotation: u32,
}

/// struct bpf_lru_list: three rings (active, inactive, free) and their lock.
struct LruList {
    /// Head node of each ring, indexed by T_ACTIVE / T_INACTIVE / T_FREE.
    heads: [u32; 3],
    state: Mutex<ListState>,
}

/// struct bpf_lru_locallist: a CPU's free and pending rings.
struct LocalList {
    free: u32,
    pending: u32,
    lock: Mutex<()>,
    /// The CPU to steal from next; only its owner CPU touches it.
    next_steal: AtomicUsize,
}

enum Layout {
    Common {
        global: CachePadded<LruList>,
        local: Box<[CachePadded<LocalList>]>,
    },
    PerCpu(Box<[CachePadded<LruList>]>),
}

/// The map's side of eviction: `del_from_htab` and the hash the kernel stores in the element.
pub trait LruOwner {
    /// htab_lru_map_delete_node: unlinks element `idx` from its bucket if it is linked there
    /// (it may be in flight: popped but not yet linked, or already deleted). `cpu` is the
    /// calling CPU.
    fn del_from_htab(&self, cpu: usize, idx: u32) -> bool;
    /// Records the hash of an element being handed out, under the LRU lock, so that a
    /// concurrent eviction of it looks in the right bucket.
    fn set_hash(&self, idx: u32, hash: u32);
}

/// struct bpf_lru over `nr_elems` element nodes.
pub struct Lru {
    nodes: Box<[Node]>,
    nr_elems: u32,
    nr_cpus: usize,
    nr_scans: u32,
    /// target_free: the local free lists' refill size.
    target_free: u32,
    layout: Layout,
}

/// Counts of one walk over every list, for consistency checks.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct LruCounts {
    pub active: u32,
    pub inactive: u32,
    pub free: u32,
    pub local_free: u32,
    pub pending: u32,
}

impl Lru {
    /// bpf_lru_init + bpf_lru_populate: every element starts on a free list. The per-CPU
    /// layout needs `nr_elems` to be a multiple of `nr_cpus` (the map rounds max_entries).
    pub fn new(nr_elems: u32, nr_cpus: usize, percpu: bool) -> Lru {
        let nr_cpus = nr_cpus.max(1);
        assert!(nr_elems >= 1, "an LRU needs at least one element");
        assert!(
            !percpu || (nr_elems as usize).is_multiple_of(nr_cpus),
            "per-CPU LRU: {nr_elems} elements do not divide over {nr_cpus} CPUs"
        );
        let mut next_head = nr_elems;
        let mut head = || {
            let h = next_head;
            next_head += 1;
            h
        };
        let mut new_list = || LruList {
            heads: [head(), head(), head()],
            state: Mutex::new(ListState {
                counts: [0; NR_COUNTED as usize],
                next_inactive_rotation: 0,
            }),
        };
        let layout = if percpu {
            Layout::PerCpu((0..nr_cpus).map(|_| CachePadded::new(new_list())).collect())
        } else {
            let global = CachePadded::new(new_list());
            let local = (0..nr_cpus)
                .map(|cpu| {
                    CachePadded::new(LocalList {
                        free: head(),
                        pending: head(),
                        lock: Mutex::new(()),
                        next_steal: AtomicUsize::new(cpu),
                    })
                })
                .collect();
            Layout::Common { global, local }
        };
        let nodes: Box<[Node]> = (0..next_head).map(|_| Node::new()).collect();
        let mut lru = Lru {
            nodes,
            nr_elems,
            nr_cpus,
            nr_scans: if percpu {
                PERCPU_NR_SCANS
            } else {
                LOCAL_NR_SCANS
            },
            target_free: (nr_elems / nr_cpus as u32 / 2).clamp(1, LOCAL_FREE_TARGET),
            layout,
        };
        lru.populate();
        lru
    }

    fn populate(&mut self) {
        // Every head starts as an empty ring.
        for h in self.nr_elems..self.nodes.len() as u32 {
            self.set_next(h, h);
            self.set_prev(h, h);
        }
        match &self.layout {
            Layout::Common { global, .. } => {
                let mut st = global.state.lock();
                st.next_inactive_rotation = global.heads[T_INACTIVE as usize];
                for i in 0..self.nr_elems {
                    self.node(i).ty.store(T_FREE, Relaxed);
                    self.list_add(i, global.heads[T_FREE as usize]);
                }
            }
            Layout::PerCpu(lists) => {
                let per_cpu = self.nr_elems / self.nr_cpus as u32;
                for (cpu, l) in lists.iter().enumerate() {
                    l.state.lock().next_inactive_rotation = l.heads[T_INACTIVE as usize];
                    for i in cpu as u32 * per_cpu..(cpu as u32 + 1) * per_cpu {
                        let n = self.node(i);
                        n.cpu.store(cpu as u32, Relaxed);
                        n.ty.store(T_FREE, Relaxed);
                        self.list_add(i, l.heads[T_FREE as usize]);
                    }
                }
            }
        }
    }

    pub fn nr_elems(&self) -> u32 {
        self.nr_elems
    }

    pub fn is_percpu(&self) -> bool {
        matches!(self.layout, Layout::PerCpu(_))
    }

    /// bpf_lru_node_set_ref: lookups mark the element recently used (lock-free).
    #[inline]
    pub fn set_ref(&self, idx: u32) {
        let r = &self.node(idx).referenced;
        if r.load(Relaxed) == 0 {
            r.store(1, Relaxed);
        }
    }

    pub fn is_ref(&self, idx: u32) -> bool {
        self.node(idx).referenced.load(Relaxed) != 0
    }

    /// bpf_lru_pop_free: a free element for CPU `cpu`, evicting if need be; None when every
    /// element is in flight elsewhere.
    pub fn pop_free(&self, cpu: usize, hash: u32, owner: &impl LruOwner) -> Option<u32> {
        match &self.layout {
            Layout::Common { global, local } => {
                self.common_pop_free(global, local, cpu, hash, owner)
            }
            Layout::PerCpu(lists) => self.percpu_pop_free(&lists[cpu], cpu, hash, owner),
        }
    }

    /// bpf_lru_push_free: gives back an element no longer linked in the hash table.
    pub fn push_free(&self, idx: u32) {
        match &self.layout {
            Layout::Common { global, local } => self.common_push_free(global, local, idx),
            Layout::PerCpu(lists) => {
                let l = &lists[self.node(idx).cpu.load(Relaxed) as usize];
                let mut st = l.state.lock();
                self.node_move(l, &mut st, idx, T_FREE);
            }
        }
    }

    // ---- ring primitives; the caller holds the lock of the ring(s) involved ----

    #[inline]
    fn node(&self, i: u32) -> &Node {
        &self.nodes[i as usize]
    }
    #[inline]
    fn next(&self, i: u32) -> u32 {
        self.node(i).next.load(Relaxed)
    }
    #[inline]
    fn prev(&self, i: u32) -> u32 {
        self.node(i).prev.load(Relaxed)
    }
    #[inline]
    fn set_next(&self, i: u32, v: u32) {
        self.node(i).next.store(v, Relaxed)
    }
    #[inline]
    fn set_prev(&self, i: u32, v: u32) {
        self.node(i).prev.store(v, Relaxed)
    }

    /// list_add: insert `i` right after `head` (at the front).
    fn list_add(&self, i: u32, head: u32) {
        let first = self.next(head);
        self.set_next(i, first);
        self.set_prev(i, head);
        self.set_prev(first, i);
        self.set_next(head, i);
    }

    /// list_del.
    fn list_del(&self, i: u32) {
        let (p, n) = (self.prev(i), self.next(i));
        self.set_next(p, n);
        self.set_prev(n, p);
    }

    fn list_move(&self, i: u32, head: u32) {
        self.list_del(i);
        self.list_add(i, head);
    }

    fn first(&self, head: u32) -> Option<u32> {
        Some(self.next(head)).filter(|&f| f != head)
    }

    fn is_empty(&self, head: u32) -> bool {
        self.next(head) == head
    }

    // ---- bpf_lru_list.c, function by function ----

    fn count_inc(st: &mut ListState, t: u8) {
        if t < NR_COUNTED {
            st.counts[t as usize] += 1;
        }
    }

    fn count_dec(st: &mut ListState, t: u8) {
        if t < NR_COUNTED {
            st.counts[t as usize] -= 1;
        }
    }

    /// __bpf_lru_node_move_to_free.
    fn move_to_free(&self, st: &mut ListState, i: u32, to: Dest) {
        let n = self.node(i);
        debug_assert!(!is_local(n.ty.load(Relaxed)));
        if st.next_inactive_rotation == i {
            st.next_inactive_rotation = self.prev(i);
        }
        Self::count_dec(st, n.ty.load(Relaxed));
        n.ty.store(to.ty, Relaxed);
        self.list_move(i, to.head);
    }

    /// __bpf_lru_node_move_in: from a local list onto the global list.
    fn move_in(&self, l: &LruList, st: &mut ListState, i: u32, tgt: u8) {
        let n = self.node(i);
        debug_assert!(is_local(n.ty.load(Relaxed)) && !is_local(tgt));
        Self::count_inc(st, tgt);
        n.ty.store(tgt, Relaxed);
        n.referenced.store(0, Relaxed);
        self.list_move(i, l.heads[tgt as usize]);
    }

    /// __bpf_lru_node_move: between or within active, inactive and free.
    fn node_move(&self, l: &LruList, st: &mut ListState, i: u32, tgt: u8) {
        let n = self.node(i);
        let ty = n.ty.load(Relaxed);
        debug_assert!(!is_local(ty) && !is_local(tgt));
        if ty != tgt {
            Self::count_dec(st, ty);
            Self::count_inc(st, tgt);
            n.ty.store(tgt, Relaxed);
        }
        n.referenced.store(0, Relaxed);
        if st.next_inactive_rotation == i {
            st.next_inactive_rotation = self.prev(i);
        }
        self.list_move(i, l.heads[tgt as usize]);
    }

    /// __bpf_lru_list_rotate_active: from the tail, referenced nodes go back to the head of
    /// active (one more chance), the others to inactive; at most nr_scans nodes.
    fn rotate_active(&self, l: &LruList, st: &mut ListState) {
        let active = l.heads[T_ACTIVE as usize];
        let Some(first) = self.first(active) else {
            return;
        };
        let mut cur = self.prev(active);
        let mut i = 0;
        while cur != active {
            let prev = self.prev(cur);
            let tgt = if self.is_ref(cur) {
                T_ACTIVE
            } else {
                T_INACTIVE
            };
            self.node_move(l, st, cur, tgt);
            i += 1;
            if i == self.nr_scans || cur == first {
                break;
            }
            cur = prev;
        }
    }

    /// __bpf_lru_list_rotate_inactive: from next_inactive_rotation backwards, referenced
    /// nodes move to active, the others stay for the next shrink; at most nr_scans nodes.
    fn rotate_inactive(&self, l: &LruList, st: &mut ListState) {
        let inactive = l.heads[T_INACTIVE as usize];
        if self.is_empty(inactive) {
            return;
        }
        let mut last = self.next(st.next_inactive_rotation);
        if last == inactive {
            last = self.next(last);
        }
        let mut cur = st.next_inactive_rotation;
        let mut next = cur;
        let mut i = 0;
        while i < self.nr_scans {
            if cur == inactive {
                cur = self.prev(cur);
                continue;
            }
            next = self.prev(cur);
            if self.is_ref(cur) {
                self.node_move(l, st, cur, T_ACTIVE);
            }
            if cur == last {
                break;
            }
            cur = next;
            i += 1;
        }
        st.next_inactive_rotation = next;
    }

    /// __bpf_lru_list_shrink_inactive: from the tail of inactive, evict unreferenced nodes
    /// to `to` (referenced ones go to active).
    fn shrink_inactive(
        &self,
        l: &LruList,
        st: &mut ListState,
        cpu: usize,
        tgt_nshrink: u32,
        to: Dest,
        owner: &impl LruOwner,
    ) -> u32 {
        let inactive = l.heads[T_INACTIVE as usize];
        let mut cur = self.prev(inactive);
        let (mut nshrinked, mut i) = (0, 0);
        while cur != inactive {
            let prev = self.prev(cur);
            if self.is_ref(cur) {
                self.node_move(l, st, cur, T_ACTIVE);
            } else if owner.del_from_htab(cpu, cur) {
                self.move_to_free(st, cur, to);
                nshrinked += 1;
                if nshrinked == tgt_nshrink {
                    break;
                }
            }
            i += 1;
            if i == self.nr_scans {
                break;
            }
            cur = prev;
        }
        nshrinked
    }

    /// __bpf_lru_list_shrink: shrink inactive; failing that, evict one node ignoring the
    /// ref bit, from inactive if it has any, else from active.
    fn shrink(
        &self,
        l: &LruList,
        st: &mut ListState,
        cpu: usize,
        tgt_nshrink: u32,
        to: Dest,
        owner: &impl LruOwner,
    ) -> u32 {
        let n = self.shrink_inactive(l, st, cpu, tgt_nshrink, to, owner);
        if n > 0 {
            return n;
        }
        let inactive = l.heads[T_INACTIVE as usize];
        let force = if self.is_empty(inactive) {
            l.heads[T_ACTIVE as usize]
        } else {
            inactive
        };
        let mut cur = self.prev(force);
        while cur != force {
            let prev = self.prev(cur);
            if owner.del_from_htab(cpu, cur) {
                self.move_to_free(st, cur, to);
                return 1;
            }
            cur = prev;
        }
        0
    }

    /// __bpf_lru_list_rotate.
    fn rotate(&self, l: &LruList, st: &mut ListState) {
        if st.counts[T_INACTIVE as usize] < st.counts[T_ACTIVE as usize] {
            self.rotate_active(l, st);
        }
        self.rotate_inactive(l, st);
    }

    /// __local_list_flush: the local pending nodes join the global list.
    fn local_flush(&self, l: &LruList, st: &mut ListState, loc: &LocalList) {
        let mut cur = self.prev(loc.pending);
        while cur != loc.pending {
            let prev = self.prev(cur);
            let tgt = if self.is_ref(cur) {
                T_ACTIVE
            } else {
                T_INACTIVE
            };
            self.move_in(l, st, cur, tgt);
            cur = prev;
        }
    }

    /// bpf_lru_list_pop_free_to_local: under the global lock, flush this CPU's pending
    /// nodes, rotate, and move up to target_free free (or evicted) nodes to its local list.
    fn pop_free_to_local(
        &self,
        global: &LruList,
        loc: &LocalList,
        cpu: usize,
        owner: &impl LruOwner,
    ) {
        let mut st = global.state.lock();
        self.local_flush(global, &mut st, loc);
        self.rotate(global, &mut st);
        let free = global.heads[T_FREE as usize];
        let to = Dest {
            head: loc.free,
            ty: T_LOCAL_FREE,
        };
        let mut nfree = 0;
        while let Some(i) = self.first(free) {
            self.move_to_free(&mut st, i, to);
            nfree += 1;
            if nfree == self.target_free {
                break;
            }
        }
        if nfree < self.target_free {
            self.shrink(global, &mut st, cpu, self.target_free - nfree, to, owner);
        }
    }

    /// __local_list_add_pending.
    fn local_add_pending(
        &self,
        loc: &LocalList,
        cpu: usize,
        i: u32,
        hash: u32,
        owner: &impl LruOwner,
    ) {
        owner.set_hash(i, hash);
        let n = self.node(i);
        n.cpu.store(cpu as u32, Relaxed);
        n.ty.store(T_LOCAL_PENDING, Relaxed);
        n.referenced.store(0, Relaxed);
        self.list_add(i, loc.pending);
    }

    /// __local_list_pop_free.
    fn local_pop_free(&self, loc: &LocalList) -> Option<u32> {
        let i = self.first(loc.free)?;
        self.list_del(i);
        Some(i)
    }

    /// __local_list_pop_pending: the oldest pending node that can be evicted, unreferenced
    /// ones first.
    fn local_pop_pending(&self, loc: &LocalList, cpu: usize, owner: &impl LruOwner) -> Option<u32> {
        for force in [false, true] {
            let mut cur = self.prev(loc.pending);
            while cur != loc.pending {
                if (force || !self.is_ref(cur)) && owner.del_from_htab(cpu, cur) {
                    self.list_del(cur);
                    return Some(cur);
                }
                cur = self.prev(cur);
            }
        }
        None
    }

    /// bpf_common_lru_pop_free.
    fn common_pop_free(
        &self,
        global: &LruList,
        local: &[CachePadded<LocalList>],
        cpu: usize,
        hash: u32,
        owner: &impl LruOwner,
    ) -> Option<u32> {
        let loc = &local[cpu];
        {
            let _g = loc.lock.lock();
            let mut got = self.local_pop_free(loc);
            if got.is_none() {
                self.pop_free_to_local(global, loc, cpu, owner);
                got = self.local_pop_free(loc);
            }
            if let Some(i) = got {
                self.local_add_pending(loc, cpu, i, hash, owner);
                return Some(i);
            }
        }
        // Nothing local or global: steal from the CPUs' local lists, round robin.
        let first_steal = loc.next_steal.load(Relaxed);
        let mut steal = first_steal;
        let mut got;
        loop {
            let sl = &local[steal];
            {
                let _g = sl.lock.lock();
                got = self
                    .local_pop_free(sl)
                    .or_else(|| self.local_pop_pending(sl, cpu, owner));
            }
            steal = (steal + 1) % self.nr_cpus;
            if got.is_some() || steal == first_steal {
                break;
            }
        }
        loc.next_steal.store(steal, Relaxed);
        let i = got?;
        let _g = loc.lock.lock();
        self.local_add_pending(loc, cpu, i, hash, owner);
        Some(i)
    }

    /// bpf_common_lru_push_free.
    fn common_push_free(&self, global: &LruList, local: &[CachePadded<LocalList>], i: u32) {
        let n = self.node(i);
        let ty = n.ty.load(Relaxed);
        debug_assert!(
            ty != T_FREE && ty != T_LOCAL_FREE,
            "double free of LRU node {i}"
        );
        if ty == T_LOCAL_PENDING {
            let loc = &local[n.cpu.load(Relaxed) as usize];
            let g = loc.lock.lock();
            // A flush may have moved it to the global list meanwhile.
            if n.ty.load(Relaxed) == T_LOCAL_PENDING {
                n.ty.store(T_LOCAL_FREE, Relaxed);
                n.referenced.store(0, Relaxed);
                self.list_move(i, loc.free);
                return;
            }
            drop(g);
        }
        let mut st = global.state.lock();
        self.node_move(global, &mut st, i, T_FREE);
    }

    /// bpf_percpu_lru_pop_free.
    fn percpu_pop_free(
        &self,
        l: &LruList,
        cpu: usize,
        hash: u32,
        owner: &impl LruOwner,
    ) -> Option<u32> {
        let mut st = l.state.lock();
        self.rotate(l, &mut st);
        let free = l.heads[T_FREE as usize];
        if self.is_empty(free) {
            let to = Dest {
                head: free,
                ty: T_FREE,
            };
            self.shrink(l, &mut st, cpu, PERCPU_FREE_TARGET, to, owner);
        }
        let i = self.first(free)?;
        owner.set_hash(i, hash);
        self.node(i).referenced.store(0, Relaxed);
        self.node_move(l, &mut st, i, T_INACTIVE);
        Some(i)
    }

    /// Walks every ring under its lock and checks the links, the node types and the counts;
    /// returns how many nodes each kind of list holds. Call with no concurrent updates.
    pub fn check(&self) -> Result<LruCounts, String> {
        let mut seen = vec![false; self.nr_elems as usize];
        let mut c = LruCounts::default();
        let lists: Vec<&LruList> = match &self.layout {
            Layout::Common { global, .. } => vec![&**global],
            Layout::PerCpu(l) => l.iter().map(|x| &**x).collect(),
        };
        for (li, l) in lists.iter().enumerate() {
            let st = l.state.lock();
            let mut counts = [0u32; 3];
            for t in [T_ACTIVE, T_INACTIVE, T_FREE] {
                counts[t as usize] = self.walk(
                    l.heads[t as usize],
                    t,
                    &mut seen,
                    self.is_percpu().then_some(li),
                )?;
            }
            if counts[..2] != st.counts {
                return Err(format!(
                    "list {li}: counted active/inactive {:?}, recorded {:?}",
                    &counts[..2],
                    st.counts
                ));
            }
            let nir = st.next_inactive_rotation;
            if nir != l.heads[T_INACTIVE as usize]
                && (nir >= self.nr_elems || self.node(nir).ty.load(Relaxed) != T_INACTIVE)
            {
                return Err(format!(
                    "list {li}: next_inactive_rotation {nir} is not inactive"
                ));
            }
            c.active += counts[0];
            c.inactive += counts[1];
            c.free += counts[2];
            drop(st);
        }
        if let Layout::Common { local, .. } = &self.layout {
            for (cpu, loc) in local.iter().enumerate() {
                let _g = loc.lock.lock();
                c.local_free += self.walk(loc.free, T_LOCAL_FREE, &mut seen, None)?;
                c.pending += self.walk(loc.pending, T_LOCAL_PENDING, &mut seen, Some(cpu))?;
            }
        }
        if let Some(lost) = seen.iter().position(|s| !s) {
            return Err(format!("node {lost} is on no list"));
        }
        Ok(c)
    }

    fn walk(
        &self,
        head: u32,
        ty: u8,
        seen: &mut [bool],
        cpu: Option<usize>,
    ) -> Result<u32, String> {
        let mut n = 0;
        let mut prev = head;
        let mut cur = self.next(head);
        while cur != head {
            if cur >= self.nr_elems {
                return Err(format!("ring {head} reaches foreign head {cur}"));
            }
            if self.prev(cur) != prev {
                return Err(format!("node {cur}: prev {} != {prev}", self.prev(cur)));
            }
            if std::mem::replace(&mut seen[cur as usize], true) {
                return Err(format!("node {cur} is on two lists"));
            }
            let t = self.node(cur).ty.load(Relaxed);
            if t != ty {
                return Err(format!("node {cur} has type {t} on a list of type {ty}"));
            }
            if let Some(cpu) = cpu {
                if self.node(cur).cpu.load(Relaxed) as usize != cpu {
                    return Err(format!("node {cur} on CPU {cpu}'s list names another CPU"));
                }
            }
            n += 1;
            prev = cur;
            cur = self.next(cur);
        }
        if self.prev(head) != prev {
            return Err(format!("ring {head}: tail link broken"));
        }
        Ok(n)
    }

    /// Whether element `idx` is on an active, inactive or pending list (i.e. in use).
    pub fn in_use(&self, idx: u32) -> bool {
        matches!(
            self.node(idx).ty.load(Relaxed),
            T_ACTIVE | T_INACTIVE | T_LOCAL_PENDING
        )
    }
}
