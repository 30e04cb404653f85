//! A swap space: the directory of clusters, the cluster lists and the per-CPU caches.
//!
//! The same code serves the **virtual space** (dynamic: clusters are created on first use
//! and retired when they empty, as the Swap Table Edition's xarray-backed vswap device)
//! and **physical devices** (fixed: every cluster exists from swapon, empty ones wait on
//! the free list).
//!
//! Invariants:
//! * The directory is a three-level radix of epoch-protected pointers. Lookups pin the
//!   epoch and read a missing node as "no cluster", so a slot there reads as Free.
//! * Only the lists' lock (`si->lock`) creates, links, unlinks or reuses clusters and
//!   directory nodes; readers never lock. Cluster index 0 of the virtual space is never
//!   used, so slot 0 is never live.
//! * A cluster reachable from a per-CPU cache is owned (flag `NONE`) and so never retired:
//!   the per-CPU pointer needs no epoch.

use super::cluster::{AfterFree, Cluster, DEAD, FREE};
use crate::epoch::Reclaim;
use crate::ledger::SharedBytes;
use crate::sync::{AtomicPtr, Mutex, Ordering, lock};
use crossbeam_epoch::{Atomic, Guard, Owned, Shared};
use std::collections::{BTreeSet, VecDeque};

/// Bits of slot index per directory level: 8 (fan-out 256), 2 under loom so a model's
/// directory stays a few nodes deep.
pub(crate) const FAN_BITS: u32 = if crate::sync::LOOM { 2 } else { 8 };
const FAN: usize = 1 << FAN_BITS;
/// Clusters a space can address: three radix levels.
pub(crate) const MAX_CLUSTERS: u64 = 1 << (3 * FAN_BITS);

struct Leaf {
    slots: [Atomic<Cluster>; FAN],
}
struct Mid {
    leaves: [Atomic<Leaf>; FAN],
}

/// A directory node's pointer array, inline so each level is one dependent load.
fn nodes<T>() -> [Atomic<T>; FAN] {
    crate::sync::nulls()
}

fn split(idx: u64) -> (usize, usize, usize) {
    let m = FAN as u64 - 1;
    ((idx >> (2 * FAN_BITS)) as usize, ((idx >> FAN_BITS) & m) as usize, (idx & m) as usize)
}

/// The cluster lists and the index allocator, under one lock (`si->lock`).
pub(crate) struct Lists {
    pub free: VecDeque<u64>,
    pub nonfull: Vec<VecDeque<u64>>,
    pub frag: Vec<VecDeque<u64>>,
    free_idx: BTreeSet<u64>,
    next_idx: u64,
    leaf_live: Vec<u32>,
    mid_live: Vec<u32>,
    pub live: u64,
}

/// What the owner of a space does for each slot it frees (`swap_range_free`): release
/// the backend (`zswap_invalidate`, the physical slot) and uncharge the memcg.
pub(crate) trait OnFree: Send + Sync {
    /// Slot `slot` was freed; `memcg` and `backend` are the words taken from it.
    fn freed(&self, slot: u64, memcg: u16, backend: u32, g: &Guard);
}

pub(crate) struct Space {
    pub shift: u32,
    pub dynamic: bool,
    /// Whether clusters carry a memcg table (the virtual space does; devices do not).
    pub memcg: bool,
    pub on_free: Option<Box<dyn OnFree>>,
    top: [Atomic<Mid>; FAN],
    pub lists: Mutex<Lists>,
    pub percpu: Box<[AtomicPtr<Cluster>]>,
    pub reclaim: Reclaim,
    pub bytes: SharedBytes,
}

impl Space {
    /// The virtual space: dynamic clusters of `1 << shift` slots.
    #[cfg(test)]
    pub(crate) fn dynamic(shift: u32, cpus: usize, bytes: SharedBytes) -> Self {
        Self::with(shift, cpus, true, 0, bytes)
    }

    /// The virtual space with a hook run for every freed slot.
    pub(crate) fn dynamic_with(shift: u32, cpus: usize, bytes: SharedBytes, on_free: Box<dyn OnFree>) -> Self {
        let mut s = Self::with(shift, cpus, true, 0, bytes);
        s.on_free = Some(on_free);
        s
    }

    /// A physical device of `slots` slots: all clusters created now, on the free list;
    /// slot 0 (the swap header) is marked Bad and counted, as at swapon. Its clusters have
    /// no memcg table: charges follow the virtual slot a physical slot backs.
    pub(crate) fn fixed(shift: u32, cpus: usize, slots: u64, bytes: SharedBytes) -> Self {
        let n = slots.div_ceil(1 << shift).min(MAX_CLUSTERS);
        let s = Self::with(shift, cpus, false, n, bytes);
        let g = s.reclaim.pin();
        {
            let mut l = lock(&s.lists);
            for idx in 0..n {
                s.link(&mut l, idx, Cluster::new(idx, shift, FREE, false), &g);
                l.free.push_back(idx);
            }
        }
        // Slots past the end and slot 0 are Bad.
        let end = slots;
        for raw in (0..1).chain(end..n << shift) {
            let c = s.get(raw >> shift, &g).expect("linked above");
            c.mark_bad((raw & ((1 << shift) - 1)) as usize);
        }
        let mut l = lock(&s.lists);
        l.free.retain(|&i| s.get(i, &g).is_some_and(|c| c.meta().flag == FREE));
        for idx in 0..n {
            let c = s.get(idx, &g).expect("linked above");
            if c.meta().flag == super::cluster::NONFULL {
                l.nonfull[0].push_back(idx);
            }
        }
        drop(l);
        s
    }

    fn with(shift: u32, cpus: usize, dynamic: bool, fixed_clusters: u64, bytes: SharedBytes) -> Self {
        let orders = shift as usize + 1;
        let lists = Lists {
            free: VecDeque::new(),
            nonfull: (0..orders).map(|_| VecDeque::new()).collect(),
            frag: (0..orders).map(|_| VecDeque::new()).collect(),
            free_idx: BTreeSet::new(),
            next_idx: if dynamic { 1 } else { fixed_clusters },
            leaf_live: Vec::new(),
            mid_live: Vec::new(),
            live: 0,
        };
        // The top level is inline in the space (counted with the system's own size).
        bytes.add(cpus * orders * 8 + orders * 2 * 32);
        Self {
            shift,
            dynamic,
            memcg: dynamic,
            on_free: None,
            top: nodes(),
            lists: Mutex::new(lists),
            percpu: (0..cpus * orders).map(|_| AtomicPtr::new(std::ptr::null_mut())).collect(),
            reclaim: Reclaim::new(),
            bytes,
        }
    }

    pub(crate) fn orders(&self) -> u32 {
        self.shift + 1
    }

    /// The cluster at `idx`, if it exists now.
    pub(crate) fn get<'g>(&self, idx: u64, g: &'g Guard) -> Option<&'g Cluster> {
        if idx >= MAX_CLUSTERS {
            return None;
        }
        let (a, b, c) = split(idx);
        // SAFETY: every node is reached through an epoch-protected pointer loaded under
        // `g`; nodes are retired through the same collector, so they outlive the guard.
        unsafe {
            let mid = self.top[a].load(Ordering::Acquire, g).as_ref()?;
            let leaf = mid.leaves[b].load(Ordering::Acquire, g).as_ref()?;
            leaf.slots[c].load(Ordering::Acquire, g).as_ref()
        }
    }

    /// Link a new cluster at `idx`, creating directory nodes on the way (lists lock held).
    fn link<'g>(&self, l: &mut Lists, idx: u64, cluster: Cluster, g: &'g Guard) -> &'g Cluster {
        let (a, b, c) = split(idx);
        let mut mid = self.top[a].load(Ordering::Acquire, g);
        if mid.is_null() {
            mid = Owned::new(Mid { leaves: nodes() }).into_shared(g);
            self.top[a].store(mid, Ordering::Release);
            self.bytes.add(std::mem::size_of::<Mid>());
        }
        // SAFETY: non-null, linked, and only unlinked under the lists lock we hold.
        let mid = unsafe { mid.deref() };
        let mut leaf = mid.leaves[b].load(Ordering::Acquire, g);
        if leaf.is_null() {
            leaf = Owned::new(Leaf { slots: nodes() }).into_shared(g);
            mid.leaves[b].store(leaf, Ordering::Release);
            self.bytes.add(std::mem::size_of::<Leaf>());
            if l.mid_live.len() <= a {
                l.mid_live.resize(a + 1, 0);
            }
            l.mid_live[a] += 1;
        }
        // SAFETY: as above.
        let leaf = unsafe { leaf.deref() };
        self.bytes.add(Cluster::base_bytes(self.shift, self.memcg));
        let p = Owned::new(cluster).into_shared(g);
        leaf.slots[c].store(p, Ordering::Release);
        let li = (idx >> FAN_BITS) as usize;
        if l.leaf_live.len() <= li {
            l.leaf_live.resize(li + 1, 0);
        }
        l.leaf_live[li] += 1;
        l.live += 1;
        // SAFETY: just linked; it dies only after being unlinked under the lists lock.
        unsafe { p.deref() }
    }

    /// Create a cluster at the lowest free index of the virtual space, owned by the caller.
    pub(crate) fn create<'g>(&self, g: &'g Guard) -> Option<&'g Cluster> {
        let mut l = lock(&self.lists);
        let idx = match l.free_idx.pop_first() {
            Some(i) => i,
            None if l.next_idx < MAX_CLUSTERS => {
                l.next_idx += 1;
                l.next_idx - 1
            }
            None => return None,
        };
        Some(self.link(&mut l, idx, Cluster::new(idx, self.shift, super::cluster::NONE, self.memcg), g))
    }

    /// Act on what a free (or a disown) did to the cluster's list state.
    pub(crate) fn after_free(&self, c: &Cluster, after: AfterFree, g: &Guard) {
        match after {
            AfterFree::Stay => {}
            AfterFree::ToNonfull(order) => lock(&self.lists).nonfull[order as usize].push_back(c.index),
            AfterFree::ToFrag(order) => lock(&self.lists).frag[order as usize].push_back(c.index),
            AfterFree::ToFree => lock(&self.lists).free.push_back(c.index),
            AfterFree::Retire => self.retire(c, g),
        }
    }

    /// Unlink a DEAD cluster and free it after a grace period; free its index, and its
    /// leaf if that leaf is now empty (`xa_erase` + `kfree_rcu`).
    fn retire(&self, c: &Cluster, g: &Guard) {
        debug_assert_eq!(c.meta().flag, DEAD);
        let idx = c.index;
        let (a, b, s) = split(idx);
        let mut l = lock(&self.lists);
        // SAFETY: the path exists (the cluster is linked) and only this lock unlinks it.
        let mid = unsafe { self.top[a].load(Ordering::Acquire, g).deref() };
        let leaf_p = mid.leaves[b].load(Ordering::Acquire, g);
        // SAFETY: as above.
        let leaf = unsafe { leaf_p.deref() };
        let p = leaf.slots[s].swap(Shared::null(), Ordering::AcqRel, g);
        debug_assert_eq!(p.as_raw(), c as *const Cluster);
        l.free_idx.insert(idx);
        l.live -= 1;
        let li = (idx >> FAN_BITS) as usize;
        l.leaf_live[li] -= 1;
        let size = Cluster::base_bytes(self.shift, self.memcg)
            + c.backends(g).map_or(0, |_| super::cluster::BackendTable::bytes(c.nr()));
        let bytes = self.bytes.clone();
        // SAFETY: unlinked above; no new reader can reach it, old ones are pinned.
        let owned = unsafe { p.into_owned() }.into_box();
        self.reclaim.retire(g, owned, move || bytes.sub(size));
        if l.leaf_live[li] == 0 {
            let leaf_p = mid.leaves[b].swap(Shared::null(), Ordering::AcqRel, g);
            let bytes = self.bytes.clone();
            // SAFETY: unlinked under the lock; readers that loaded it are pinned.
            let owned = unsafe { leaf_p.into_owned() }.into_box();
            self.reclaim.retire(g, owned, move || bytes.sub(std::mem::size_of::<Leaf>()));
            l.mid_live[a] -= 1;
            if l.mid_live[a] == 0 {
                let mid_p = self.top[a].swap(Shared::null(), Ordering::AcqRel, g);
                let bytes = self.bytes.clone();
                // SAFETY: its last leaf is unlinked, so is it now, under the lock.
                let owned = unsafe { mid_p.into_owned() }.into_box();
                self.reclaim.retire(g, owned, move || bytes.sub(std::mem::size_of::<Mid>()));
            }
            // Trim the tail of the index allocator so an emptied space costs nothing.
            loop {
                let last = l.next_idx - 1;
                if last == 0 || !l.free_idx.remove(&last) {
                    break;
                }
                l.next_idx = last;
            }
        }
    }

    /// Visit every live cluster (a snapshot, for statistics). Like `drop`, it walks only
    /// the indices handed out so far (below `next_idx`, read under the lists lock): a
    /// cluster linked before the call is visited, one linked during it may or may not be,
    /// as with any walk of the directory. On a small space this is a handful of loads
    /// instead of the directory's 3 × 256 (each one costly under Miri and loom).
    pub(crate) fn for_each(&self, g: &Guard, mut f: impl FnMut(&Cluster)) {
        let end = lock(&self.lists).next_idx;
        for (a, mid) in self.top.iter().enumerate() {
            let base_a = (a as u64) << (2 * FAN_BITS);
            if base_a >= end {
                break;
            }
            // SAFETY: epoch-protected loads under `g`, as in `get`.
            let Some(mid) = (unsafe { mid.load(Ordering::Acquire, g).as_ref() }) else { continue };
            for (b, leaf) in mid.leaves.iter().enumerate() {
                let base_b = base_a | ((b as u64) << FAN_BITS);
                if base_b >= end {
                    break;
                }
                // SAFETY: as above.
                let Some(leaf) = (unsafe { leaf.load(Ordering::Acquire, g).as_ref() }) else { continue };
                let n = (end - base_b).min(FAN as u64) as usize;
                for slot in &leaf.slots[..n] {
                    // SAFETY: as above.
                    if let Some(c) = unsafe { slot.load(Ordering::Acquire, g).as_ref() } {
                        f(c);
                    }
                }
            }
        }
    }

    /// Push this thread's retired memory to the collector and advance the epoch until
    /// it is freed or `rounds` attempts pass (best effort while other threads are pinned).
    pub(crate) fn rcu_barrier(&self, rounds: usize) {
        for _ in 0..rounds {
            self.reclaim.pin().flush();
        }
    }

    /// Number of linked clusters.
    pub(crate) fn live(&self) -> u64 {
        lock(&self.lists).live
    }

    /// Drop every per-CPU cache (`drain`): owned clusters go back to the lists, empty
    /// dynamic ones are retired.
    pub(crate) fn drain_percpu(&self) {
        let g = self.reclaim.pin();
        for p in self.percpu.iter() {
            let c = p.swap(std::ptr::null_mut(), Ordering::AcqRel);
            if !c.is_null() {
                // SAFETY: a per-CPU pointer is an owned cluster, which is never retired.
                let c = unsafe { &*c };
                let after = c.disown(self.dynamic);
                self.after_free(c, after, &g);
            }
        }
    }
}

impl Drop for Space {
    /// Visits only the part of the directory indices were ever handed out from (each
    /// atomic load is costly under Miri and loom).
    fn drop(&mut self) {
        let end = lock(&self.lists).next_idx;
        // SAFETY: `&mut self`: no reader is left; every node is exclusively ours.
        unsafe {
            let g = crossbeam_epoch::unprotected();
            for (a, mid) in self.top.iter().enumerate() {
                let base_a = (a as u64) << (2 * FAN_BITS);
                if base_a >= end {
                    break;
                }
                let mid = mid.load(Ordering::Relaxed, g);
                if mid.is_null() {
                    continue;
                }
                let mid = mid.into_owned();
                for (b, leaf) in mid.leaves.iter().enumerate() {
                    let base_b = base_a | ((b as u64) << FAN_BITS);
                    if base_b >= end {
                        break;
                    }
                    let leaf = leaf.load(Ordering::Relaxed, g);
                    if leaf.is_null() {
                        continue;
                    }
                    let leaf = leaf.into_owned();
                    for (c, slot) in leaf.slots.iter().enumerate() {
                        if base_b | c as u64 >= end {
                            break;
                        }
                        let c = slot.load(Ordering::Relaxed, g);
                        if !c.is_null() {
                            drop(c.into_owned());
                        }
                    }
                }
            }
        }
    }
}
