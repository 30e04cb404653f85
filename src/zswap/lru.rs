//! One memcg's zswap LRU (its `list_lru` list; the crate has no NUMA nodes), with the
//! LRU-side state of the shrinker (`zswap_lruvec_state`).
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

use super::pool::Pool;
use crate::sync::{Mutex, MutexGuard, lock};
use std::collections::VecDeque;

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
    pub(crate) fn del(&mut self, handle: u32, seq: u64, pool: &Pool) {
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
    pub(crate) fn splice_to(&mut self, to: &mut LruList, to_id: u16, pool: &Pool) {
        let mut items = std::mem::take(&mut self.items);
        items.append(&mut to.items);
        to.items = items;
        if to.idle.is_empty() {
            // Nothing to interleave, so no pool lookups (dead elements still go lazily).
            to.idle = std::mem::take(&mut self.idle);
        } else if !self.idle.is_empty() {
            let stored = |&(h, seq): &(u32, u64)| pool.with(h, |e| (e.seq == seq).then_some(e.stored)).flatten();
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
    use crate::zswap::pool::Entry;

    fn pool() -> Pool {
        Pool::new(1 << 20, 100, 90, false)
    }

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

    /// Store one entry in `pool` and on `l`: its `(handle, seq)`.
    fn store(pool: &Pool, l: &mut LruList, slot: u64) -> (u32, u64) {
        let e = Entry { slot, data: None, length: 1000, memcg: 1, tier: 1, stored: slot, referenced: true, seq: 0 };
        let (h, seq) = pool.insert(e, slot as usize, |_| {}).expect("room");
        l.add(h, seq, false);
        (h, seq)
    }

    /// Free the entry `(h, seq)` as `Backends::free_entry` does.
    fn free(pool: &Pool, l: &mut LruList, (h, seq): (u32, u64)) {
        pool.take(h, |_, _| {}).expect("live");
        l.del(h, seq, pool);
    }

    #[test]
    fn compaction_keeps_exactly_the_live_elements_in_order_whatever_their_shards() {
        let pool = pool();
        let insert = |hint: usize, slot: u64| {
            let e = Entry { slot, data: None, length: 1000, memcg: 1, tier: 1, stored: 0, referenced: true, seq: 0 };
            pool.insert(e, hint, |_| {}).expect("room")
        };
        // Runs in one shard, then shards alternating element by element.
        let mut q: VecDeque<(u32, u64)> = (0..40).map(|i| insert(i / 8, i as u64)).collect();
        q.extend((40..80).map(|i| insert(i % 3, i as u64)));
        // Free every third; a freed handle reused takes a new seq, so its old element
        // must go while the new one (added at the back) stays.
        let all: Vec<_> = q.iter().copied().collect();
        for (i, &(h, _)) in all.iter().enumerate() {
            if i % 3 == 0 {
                pool.take(h, |_, _| {}).expect("live");
            }
        }
        for i in 0..10 {
            q.push_back(insert(i % 5, 100 + i as u64));
        }
        let want: Vec<_> = q.iter().copied().filter(|&(h, seq)| pool.seq_of(h) == Some(seq)).collect();
        assert!(want.len() < q.len() && want.len() > q.len() / 2, "{} of {}", want.len(), q.len());
        pool.retain_live(&mut q);
        assert_eq!(q.into_iter().collect::<Vec<_>>(), want);
    }

    #[test]
    fn writing_back_in_lru_order_leaves_no_dead_element() {
        let (pool, mut l) = (pool(), LruList::default());
        for s in 0..100 {
            store(&pool, &mut l, s);
        }
        // The worker's step: rotate the oldest to the tail, write it back (free it), while
        // stores keep arriving behind it.
        for s in 100..1100 {
            let x = l.items.pop_front().expect("an element");
            l.items.push_back(x);
            store(&pool, &mut l, s);
            free(&pool, &mut l, x);
            assert_eq!((l.items.len() as u64, l.idle.len() as u64), (l.live, l.live));
        }
        assert_eq!(l.live, 100);
    }

    #[test]
    fn freeing_in_store_order_leaves_no_dead_element() {
        let (pool, mut l) = (pool(), LruList::default());
        let mut ring: VecDeque<(u32, u64)> = (0..64).map(|s| store(&pool, &mut l, s)).collect();
        for s in 64..1000 {
            ring.push_back(store(&pool, &mut l, s));
            free(&pool, &mut l, ring.pop_front().expect("ring"));
            assert_eq!((l.items.len() as u64, l.idle.len() as u64), (l.live, l.live));
        }
        assert_eq!(l.items, ring);
        assert_eq!(l.idle, ring);
    }

    #[test]
    fn a_free_in_the_middle_stays_behind_until_compacted() {
        let (pool, mut l) = (pool(), LruList::default());
        let all: Vec<(u32, u64)> = (0..400).map(|s| store(&pool, &mut l, s)).collect();
        // Far from both ends: the element stays, dead, and the order of the rest holds.
        free(&pool, &mut l, all[200]);
        assert_eq!((l.live, l.items.len()), (399, 400));
        let live = |q: &VecDeque<(u32, u64)>| -> Vec<(u32, u64)> {
            q.iter().copied().filter(|&(h, seq)| pool.seq_of(h) == Some(seq)).collect()
        };
        let mut want = all.clone();
        want.remove(200);
        assert_eq!(live(&l.items), want);
        // Once the dead outnumber the live (+64), compaction drops them all.
        for &x in &all[20..380] {
            if x != all[200] {
                free(&pool, &mut l, x);
            }
        }
        assert_eq!(l.live, 40);
        assert!(l.items.len() as u64 <= 2 * l.live + 64, "{} elements for {} live", l.items.len(), l.live);
        assert!(l.idle.len() as u64 <= 2 * l.live + 64);
        let want: Vec<_> = all[..20].iter().chain(&all[380..]).copied().collect();
        assert_eq!(live(&l.items), want);
        assert_eq!(live(&l.idle), want);
    }
}
