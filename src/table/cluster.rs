//! One cluster: `1 << shift` slots with their swap table words, memcg ids, allocation
//! bitmap, optional extension (large count) and backend tables, and a meta word.
//!
//! The meta word packs `count` (allocated slots, the kernel's `ci->count`), the list
//! `flag` and the served `order` so the transitions that matter for lifetime are one CAS:
//!
//! * `NONE` — isolated: owned by one allocator (a per-CPU cache or a thread between
//!   lists). Only the owner allocates from the cluster; an owned cluster never dies.
//! * `FREE` (fixed spaces only), `NONFULL`, `FRAG`, `FULL` — as in the kernel. The list
//!   vectors in `allocator` are hints; the flag is the truth, and isolation is a CAS
//!   from the expected flag to `NONE`.
//! * `DEAD` — a dynamic cluster whose count reached 0 while not owned: it is being
//!   unlinked from the directory and retired through the epoch (`kfree_rcu`).
//!
//! Invariants: `count` equals the number of non-Free table words; `count == 0` for a
//! `DEAD` or `FREE` cluster, and then every word is Free and no extension table exists.

use super::bitmap::ClusterBitmap;
use crate::entry::BackendEntry;
use crate::sync::{AtomicU16, AtomicU32, AtomicU64, Mutex, Ordering};
use crossbeam_epoch::{Atomic, Guard, Owned, Shared};

pub(crate) const NONE: u64 = 0;
pub(crate) const FREE: u64 = 1;
pub(crate) const NONFULL: u64 = 2;
pub(crate) const FRAG: u64 = 3;
pub(crate) const FULL: u64 = 4;
pub(crate) const DEAD: u64 = 5;

/// Decoded meta word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Meta {
    pub count: u64,
    pub flag: u64,
    pub order: u64,
}

impl Meta {
    pub(crate) const fn unpack(m: u64) -> Self {
        Self { count: m & 0xffff, flag: (m >> 16) & 0xf, order: (m >> 20) & 0xf }
    }
    pub(crate) const fn pack(self) -> u64 {
        self.count | (self.flag << 16) | (self.order << 20)
    }
}

/// What a free did to the cluster's list state; the space acts on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AfterFree {
    /// Nothing for the lists to do.
    Stay,
    /// Became NONFULL: push it on `nonfull[order]`.
    ToNonfull(u64),
    /// Disowned partly used: push it on `frag[order]`.
    ToFrag(u64),
    /// Became empty in a fixed space: push it on the free list.
    ToFree,
    /// Became DEAD: unlink and retire it.
    Retire,
}

/// Counts at or past the inline maximum, one `u32` per slot (`ci->extend_table`).
pub(crate) struct ExtTable {
    pub counts: Box<[AtomicU32]>,
    /// Slots with a non-zero entry; changed only under the cluster lock.
    pub used: AtomicU32,
}

/// Backend words for the slots of a cluster (the Swap Table Edition's `virtual_table`,
/// in the crate's compact 32-bit form), allocated when a slot first gets a backend.
pub(crate) struct BackendTable {
    pub words: Box<[AtomicU32]>,
}

impl BackendTable {
    pub(crate) fn bytes(nr: usize) -> usize {
        std::mem::size_of::<Self>() + nr * 4
    }
}

pub(crate) struct Cluster {
    pub meta: AtomicU64,
    pub bitmap: ClusterBitmap,
    pub table: Box<[AtomicU64]>,
    pub memcg: Box<[AtomicU16]>,
    pub ext: Atomic<ExtTable>,
    pub backend: Atomic<BackendTable>,
    /// `ci->lock`: serialises the extension-table paths of the swap count.
    pub lock: Mutex<()>,
    pub index: u64,
    pub shift: u32,
}

impl Cluster {
    /// A new cluster with list flag `flag`. `memcg`: whether it has a memcg table (a
    /// physical cluster backing only virtual slots has none, as in the Swap Table Edition).
    pub(crate) fn new(index: u64, shift: u32, flag: u64, memcg: bool) -> Self {
        let nr = 1usize << shift;
        let memcg_nr = if memcg { nr } else { 0 };
        Self {
            meta: AtomicU64::new(Meta { count: 0, flag, order: 0 }.pack()),
            bitmap: ClusterBitmap::new(shift),
            table: crate::sync::zeroed(nr),
            memcg: crate::sync::zeroed(memcg_nr),
            ext: Atomic::null(),
            backend: Atomic::null(),
            lock: Mutex::new(()),
            index,
            shift,
        }
    }

    /// Heap bytes of a cluster of this size without its optional tables.
    pub(crate) fn base_bytes(shift: u32, memcg: bool) -> usize {
        let nr = 1usize << shift;
        std::mem::size_of::<Cluster>() + nr * 8 + if memcg { nr * 2 } else { 0 } + nr.div_ceil(64) * 8
    }

    /// Mark slot `off` Bad at swapon (header, hole or past the end): counted, never freed.
    pub(crate) fn mark_bad(&self, off: usize) {
        self.bitmap.set(off);
        self.table[off].store(crate::entry::TableEntry::BAD_WORD, Ordering::Release);
        let mut m = self.meta.load(Ordering::Acquire);
        loop {
            let mut d = Meta::unpack(m);
            d.count += 1;
            d.flag = if d.count == self.nr() as u64 { FULL } else { NONFULL };
            match self.meta.compare_exchange_weak(m, d.pack(), Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return,
                Err(now) => m = now,
            }
        }
    }

    pub(crate) fn nr(&self) -> usize {
        1 << self.shift
    }

    pub(crate) fn meta(&self) -> Meta {
        Meta::unpack(self.meta.load(Ordering::Acquire))
    }

    /// Claim `1 << order` slots in a cluster this thread owns and count them.
    pub(crate) fn alloc_in(&self, order: u32) -> Option<usize> {
        let off = self.bitmap.claim(order)?;
        let mut m = self.meta.load(Ordering::Relaxed);
        loop {
            let mut d = Meta::unpack(m);
            debug_assert_eq!(d.flag, NONE, "allocation from a cluster not owned");
            if d.count == 0 {
                d.order = order as u64;
            }
            d.count += 1 << order;
            match self.meta.compare_exchange_weak(m, d.pack(), Ordering::AcqRel, Ordering::Relaxed) {
                Ok(_) => return Some(off),
                Err(now) => m = now,
            }
        }
    }

    /// Try to take ownership: CAS the flag from `from` to `NONE`. `order` restricts the
    /// served order (None: any, for order-0 stealing).
    pub(crate) fn isolate(&self, from: u64, order: Option<u64>) -> bool {
        let mut m = self.meta.load(Ordering::Acquire);
        loop {
            let d = Meta::unpack(m);
            if d.flag != from || order.is_some_and(|o| o != d.order && d.count != 0) {
                return false;
            }
            let new = Meta { flag: NONE, ..d }.pack();
            match self.meta.compare_exchange_weak(m, new, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return true,
                Err(now) => m = now,
            }
        }
    }

    /// Give up ownership (`relocate_cluster`): the new flag follows the count.
    pub(crate) fn disown(&self, dynamic: bool) -> AfterFree {
        let mut m = self.meta.load(Ordering::Acquire);
        loop {
            let d = Meta::unpack(m);
            debug_assert_eq!(d.flag, NONE);
            let (flag, after) = match d.count {
                0 if dynamic => (DEAD, AfterFree::Retire),
                0 => (FREE, AfterFree::ToFree),
                c if c == self.nr() as u64 => (FULL, AfterFree::Stay),
                _ => (FRAG, AfterFree::ToFrag(d.order)),
            };
            match self.meta.compare_exchange_weak(m, Meta { flag, ..d }.pack(), Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return after,
                Err(now) => m = now,
            }
        }
    }

    /// Uncount `nr` slots whose words the caller has just set Free and whose memcg ids
    /// and backend words it has taken (`take_slot`), release their bits, and report the
    /// list transition (`partial_free_cluster` / `free_cluster`).
    pub(crate) fn free_slots(&self, off: usize, order: u32, dynamic: bool) -> AfterFree {
        let nr = 1usize << order;
        self.bitmap.release(off, order);
        let mut m = self.meta.load(Ordering::Acquire);
        loop {
            let d = Meta::unpack(m);
            debug_assert!(d.count >= nr as u64 && d.flag != DEAD && d.flag != FREE);
            let count = d.count - nr as u64;
            let (flag, after) = match d.flag {
                NONE => (NONE, AfterFree::Stay),
                _ if count == 0 && dynamic => (DEAD, AfterFree::Retire),
                _ if count == 0 => (FREE, AfterFree::ToFree),
                NONFULL => (NONFULL, AfterFree::Stay),
                _ => (NONFULL, AfterFree::ToNonfull(d.order)),
            };
            let new = Meta { count, flag, order: if count == 0 { 0 } else { d.order } };
            match self.meta.compare_exchange_weak(m, new.pack(), Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return after,
                Err(now) => m = now,
            }
        }
    }

    /// The memcg id and backend word of a slot being freed, both cleared (`swap_range_free`
    /// hands them to zswap invalidation and the uncharge).
    pub(crate) fn take_slot(&self, off: usize, guard: &Guard) -> (u16, u32) {
        let memcg = self.memcg.get(off).map_or(0, |m| m.swap(0, Ordering::AcqRel));
        let backend = self.backends(guard).map_or(0, |bt| bt.words[off].swap(0, Ordering::AcqRel));
        (memcg, backend)
    }

    /// The backend table, if one was allocated.
    pub(crate) fn backends<'g>(&self, guard: &'g Guard) -> Option<&'g BackendTable> {
        // SAFETY: the backend table is installed once and lives as long as the cluster,
        // which `guard` keeps alive.
        unsafe { self.backend.load(Ordering::Acquire, guard).as_ref() }
    }

    /// The backend table, allocated on first use (returns its bytes to account when this
    /// call installed it).
    pub(crate) fn backends_or_alloc<'g>(&self, guard: &'g Guard) -> (&'g BackendTable, usize) {
        if let Some(bt) = self.backends(guard) {
            return (bt, 0);
        }
        let t = Owned::new(BackendTable { words: crate::sync::zeroed(self.nr()) });
        match self.backend.compare_exchange(Shared::null(), t, Ordering::AcqRel, Ordering::Acquire, guard) {
            // SAFETY: just installed; never removed before the cluster drops.
            Ok(p) => (unsafe { p.deref() }, BackendTable::bytes(self.nr())),
            // SAFETY: another thread installed it; as above.
            Err(e) => (unsafe { e.current.deref() }, 0),
        }
    }

    /// The raw backend word of slot `off` (0 when the cluster has no backend table).
    pub(crate) fn backend_word(&self, off: usize, guard: &Guard) -> u32 {
        self.backends(guard).map_or(0, |bt| bt.words[off].load(Ordering::Acquire))
    }

    /// The backend of slot `off` (None when the cluster has no backend table).
    pub(crate) fn backend_of(&self, off: usize, guard: &Guard) -> BackendEntry {
        BackendEntry::decode_compact(self.backend_word(off, guard))
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // SAFETY: `drop` has the cluster exclusively; nothing else can load these tables.
        unsafe {
            let g = crossbeam_epoch::unprotected();
            let p = self.ext.swap(Shared::null(), Ordering::Relaxed, g);
            if !p.is_null() {
                drop(p.into_owned());
            }
            let p = self.backend.swap(Shared::null(), Ordering::Relaxed, g);
            if !p.is_null() {
                drop(p.into_owned());
            }
        }
    }
}
