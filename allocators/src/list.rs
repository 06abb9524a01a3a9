//! An intrusive FIFO of free objects, linked through their headers.

use std::ptr::{self, NonNull};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::slab::{ObjHeader, Slab};

/// Owns the objects on it.
pub(crate) struct ObjList {
    head: *mut ObjHeader,
    tail: *mut ObjHeader,
    len: usize,
}

// SAFETY: the list owns its objects exclusively; moving it moves that ownership.
unsafe impl Send for ObjList {}

impl Default for ObjList {
    fn default() -> Self {
        ObjList {
            head: ptr::null_mut(),
            tail: ptr::null_mut(),
            len: 0,
        }
    }
}

impl ObjList {
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    #[inline]
    pub(crate) fn front(&self) -> Option<NonNull<ObjHeader>> {
        NonNull::new(self.head)
    }

    /// The objects, front first.
    pub(crate) fn iter(&self) -> impl Iterator<Item = NonNull<ObjHeader>> + '_ {
        std::iter::successors(NonNull::new(self.head), |h| {
            // SAFETY: h is on this list, which we borrow, so its link is valid.
            NonNull::new(unsafe { (*h.as_ptr()).link })
        })
    }

    /// LIFO push at the head: the object freed last is handed out first (llist_add).
    #[inline]
    pub(crate) fn push(&mut self, h: NonNull<ObjHeader>) {
        let h = h.as_ptr();
        // SAFETY: the caller gives up the object; its header is ours to link.
        unsafe { (*h).link = self.head };
        if self.head.is_null() {
            self.tail = h;
        }
        self.head = h;
        self.len += 1;
    }

    #[inline]
    pub(crate) fn pop(&mut self) -> Option<NonNull<ObjHeader>> {
        let h = NonNull::new(self.head)?;
        // SAFETY: h is on this list, so its link is valid.
        self.head = unsafe { (*h.as_ptr()).link };
        if self.head.is_null() {
            self.tail = ptr::null_mut();
        }
        self.len -= 1;
        Some(h)
    }

    /// Moves every object of `other` to the front of this list.
    pub(crate) fn prepend(&mut self, other: &mut ObjList) {
        if other.is_empty() {
            return;
        }
        // SAFETY: other.tail is the last object of a non-empty list.
        unsafe { (*other.tail).link = self.head };
        if self.head.is_null() {
            self.tail = other.tail;
        }
        self.head = other.head;
        self.len += other.len;
        other.head = ptr::null_mut();
        other.tail = ptr::null_mut();
        other.len = 0;
    }

    /// Up to `n` objects from the front.
    pub(crate) fn take(&mut self, n: usize) -> ObjList {
        if n >= self.len {
            return std::mem::take(self);
        }
        let mut out = ObjList::default();
        for _ in 0..n {
            let h = self.pop().expect("len counted");
            out.push(h);
        }
        out
    }

    /// As `free_all`, for a callback taking the objects out of the grace-period pipeline:
    /// adds them to `done` as it goes (every 64), so that `stats` read during a long list
    /// never sees the objects both returned to the slab and still waiting.
    pub(crate) fn free_all_done(mut self, slab: &Slab, shard: usize, done: &AtomicU64) -> usize {
        const CHUNK: u64 = 64;
        let n = self.len;
        let mut pending = 0;
        while let Some(h) = self.pop() {
            // SAFETY: objects on a free list are referenced by nobody else.
            unsafe { slab.free(h, shard) };
            pending += 1;
            if pending == CHUNK {
                done.fetch_add(std::mem::take(&mut pending), Ordering::Relaxed);
            }
        }
        done.fetch_add(pending, Ordering::Relaxed);
        n
    }

    /// Returns every object to the slab; the count returned.
    pub(crate) fn free_all(mut self, slab: &Slab, shard: usize) -> usize {
        let n = self.len;
        while let Some(h) = self.pop() {
            // SAFETY: objects on a free list are referenced by nobody else.
            unsafe { slab.free(h, shard) };
        }
        n
    }
}

impl Drop for ObjList {
    fn drop(&mut self) {
        // Dropping a non-empty list would leak its objects silently; the leak check would
        // then report them, but catch the bug where it happens in debug builds.
        debug_assert!(
            self.is_empty(),
            "ObjList dropped holding {} objects",
            self.len
        );
    }
}
