//! One memcg's zswap LRU (its `list_lru` list, `mm/list_lru.c`; the crate has no NUMA
//! nodes), with the LRU-side state of the shrinker (`zswap_lruvec_state`, which the kernel
//! keeps in the memcg's `lruvec`). It lives with the memcg, which owns and reparents it;
//! it names entries by `(handle, seq)` only and asks the pool about them through
//! [`EntryIndex`], so memcg code never depends on zswap's.
//!
//! Invariants:
//! * Entries are `(handle, seq)`, oldest at the front. An element is live while the pool
//!   holds an entry at `handle` with the same `seq`. Freeing an entry takes its element
//!   out only if it lies near either end (a written-back entry was rotated to the tail
//!   just before; entries freed in store order lead `idle`); elsewhere the element stays
//!   behind, dead (lazy deletion), so the free path never walks. `live` counts the live
//!   elements exactly (`list_lru_count_one`); dead ones are dropped by the walk and
//!   compacted away once they outnumber the live ones, so the list stays O(live) in size
//!   and every operation amortised O(1).
//! * A live entry is on exactly one list: the one of the memcg it was charged to, or,
//!   after that memcg went offline, the one `moved_to` leads to (reparenting splices the
//!   whole list to the front of the parent's, in order, as `memcg_reparent_list_lrus`).
//! * `idle` is the idle-age index: the same `(handle, seq)` elements in store order,
//!   never rotated, so its front holds the entries stored longest ago (zswap entries are
//!   never accessed in place: a load takes them out). Recompression pops what it
//!   examines from the front and stops at the first entry too young, so it never scans
//!   young entries. It is compacted with `items` and merged in store order at offline.
//! * Lock order: an LRU lock, then a pool shard lock. Nothing takes an LRU lock while
//!   holding a shard lock.

use crate::Tick;
use crate::sync::{Mutex, MutexGuard, lock};
use std::collections::VecDeque;

/// What the LRU asks of the index that holds the entries (the zswap pool, which
/// implements it): the LRU knows entries only as `(handle, seq)`.
pub(crate) trait EntryIndex {
    /// Keep the elements of `q` whose entry is live with that `seq`, in order.
    fn retain_live(&self, q: &mut VecDeque<(u32, u64)>);
    /// When the live entry `(handle, seq)` was stored; None if it is not live.
    fn stored_at(&self, handle: u32, seq: u64) -> Option<Tick>;
}

/// How far from each end of a list `del` looks for the freed element. Without it, a
/// steady store-and-write-back stream leaves one dead element per written entry, and the
/// compaction that clears them (a pool lookup per element, under the list lock) stalls
/// every store into the memcg for the length of the list.
const NEAR_END: usize = 8;

/// Remove `x` from `q` if it is among the `NEAR_END` elements at either end. The windows
/// are searched as plain slices of the deque's buffer, by `seq` first (the cheap reject).
fn take_near_end(q: &mut VecDeque<(u32, u64)>, x: (u32, u64)) {
    let (a, b) = q.as_slices();
    let hit = |w: &[(u32, u64)]| w.iter().position(|e| e.1 == x.1 && e.0 == x.0);
    let back_b = b.len().saturating_sub(NEAR_END);
    let back_a = a.len().saturating_sub(NEAR_END - (b.len() - back_b));
    let front_a = a.len().min(NEAR_END);
    let front_b = b.len().min(NEAR_END - front_a);
    let found = hit(&b[back_b..])
        .map(|i| a.len() + back_b + i)
        .or_else(|| hit(&a[back_a..]).map(|i| back_a + i))
        .or_else(|| hit(&a[..front_a]))
        .or_else(|| hit(&b[..front_b]).map(|i| a.len() + i));
    match found {
        Some(0) => drop(q.pop_front()),
        Some(i) if i + 1 == q.len() => drop(q.pop_back()),
        Some(i) => drop(q.remove(i)),
        None => {}
    }
}

/// The list and its counters, under the list lock.
#[derive(Default)]
pub(crate) struct LruList {
    /// `(handle, seq)`, oldest first.
    pub items: VecDeque<(u32, u64)>,
    /// The idle-age index: `(handle, seq)` in store order, not yet examined by
    /// recompression.
    pub idle: VecDeque<(u32, u64)>,
    /// Live elements.
    pub live: u64,
    /// Set when the memcg went offline: the memcg id whose list took these entries.
    pub moved_to: u16,
    /// `nr_disk_swapins` (second chance): swap-ins that had to read a device, consumed by
    /// `count_objects`.
    pub disk_swapins: u64,
    /// `nr_zswap_protected` (`LruPolicy::Protection`).
    pub protected: u64,
}

/// A memcg's zswap LRU.
pub(crate) struct Lru(Mutex<LruList>);

impl Lru {
    pub(crate) fn new() -> Self {
        Self(Mutex::new(LruList::default()))
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, LruList> {
        lock(&self.0)
    }
}

impl LruList {
    /// `list_lru_add` (at the tail). With `protection`, also the 2023 scheme's update of
    /// `nr_zswap_protected`: one more, halved once above a quarter of the list.
    pub(crate) fn add(&mut self, handle: u32, seq: u64, protection: bool) {
        self.items.push_back((handle, seq));
        self.idle.push_back((handle, seq));
        self.live += 1;
        if protection {
            let old = self.protected + 1;
            self.protected = if old > self.live / 4 { old / 2 } else { old };
        }
    }

    /// The live element `(handle, seq)` left the list (its entry was freed). Its element
    /// is taken out at once when it lies within `NEAR_END` of either end of a list, as it
    /// does for an entry written back (rotated to the tail just before) or one freed in
    /// store order (the head of `idle`); elsewhere it stays behind, dead. Either way the
    /// lists say the same: dead elements are invisible.
    pub(crate) fn del(&mut self, handle: u32, seq: u64, pool: &impl EntryIndex) {
        self.live = self.live.saturating_sub(1);
        take_near_end(&mut self.items, (handle, seq));
        take_near_end(&mut self.idle, (handle, seq));
        if self.items.len() as u64 > 2 * self.live + 64 {
            pool.retain_live(&mut self.items);
        }
        if self.idle.len() as u64 > 2 * self.live + 64 {
            pool.retain_live(&mut self.idle);
        }
    }

    /// Splice every element to the front of `to`, in order (`list_splice_init`), and
    /// merge the idle indexes by store time (dead elements dropped).
    pub(crate) fn splice_to(&mut self, to: &mut LruList, to_id: u16, pool: &impl EntryIndex) {
        let mut items = std::mem::take(&mut self.items);
        items.append(&mut to.items);
        to.items = items;
        if to.idle.is_empty() {
            // Nothing to interleave, so no pool lookups (dead elements still go lazily).
            to.idle = std::mem::take(&mut self.idle);
        } else if !self.idle.is_empty() {
            let stored = |&(h, seq): &(u32, u64)| pool.stored_at(h, seq);
            let mut a = std::mem::take(&mut self.idle).into_iter().filter_map(|x| Some((stored(&x)?, x))).peekable();
            let mut b = std::mem::take(&mut to.idle).into_iter().filter_map(|x| Some((stored(&x)?, x))).peekable();
            while let (Some(x), Some(y)) = (a.peek(), b.peek()) {
                let next = if x.0 <= y.0 { a.next() } else { b.next() };
                to.idle.extend(next.map(|(_, e)| e));
            }
            to.idle.extend(a.chain(b).map(|(_, e)| e));
        }
        to.live += self.live;
        self.live = 0;
        self.moved_to = to_id;
    }

    /// Heap bytes of the list.
    pub(crate) fn bytes(&self) -> usize {
        (self.items.capacity() + self.idle.capacity()) * std::mem::size_of::<(u32, u64)>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn take_near_end_removes_exactly_the_elements_within_reach_of_either_end_wherever_the_buffer_wraps() {
        // Under Miri, a few lengths past two windows and a few rotations (natively, all).
        let size = if cfg!(miri) { 20 } else { 40 };
        let step = if cfg!(miri) { 5 } else { 1 };
        let mut wrapped = 0;
        for n in (0..size as u64).rev().step_by(step) {
            // Rotating the deque's start through its buffer makes every split of the
            // windows across the two slices happen.
            for start in (0..size).step_by(step) {
                for i in 0..n {
                    let mut q: VecDeque<(u32, u64)> = VecDeque::with_capacity(size);
                    for _ in 0..start {
                        q.push_back((0, u64::MAX));
                        q.pop_front();
                    }
                    q.extend((0..n).map(|k| (k as u32 % 3, k)));
                    let x = q[i as usize];
                    wrapped += usize::from(!q.as_slices().1.is_empty());
                    take_near_end(&mut q, x);
                    let near = i < NEAR_END as u64 || i + (NEAR_END as u64) >= n;
                    let want: Vec<u64> = (0..n).filter(|&k| !(near && k == i)).collect();
                    assert_eq!(q.iter().map(|e| e.1).collect::<Vec<_>>(), want, "n {n} start {start} i {i}");
                }
            }
        }
        assert!(wrapped > size * size / (step * step), "the buffer wrapped in {wrapped} cases only");
        // An element that matches only in `seq` or only in the handle is not taken.
        let mut q: VecDeque<(u32, u64)> = [(1, 5), (2, 6)].into_iter().collect();
        take_near_end(&mut q, (2, 5));
        take_near_end(&mut q, (1, 6));
        assert_eq!(q, [(1, 5), (2, 6)]);
    }
}
