//! One memcg's zswap LRU (its `list_lru` list; the crate has no NUMA nodes), with the
//! LRU-side state of the shrinker (`zswap_lruvec_state`).
//!
//! Invariants:
//! * Entries are `(handle, seq)`, oldest at the front. An element is live while the pool
//!   holds an entry at `handle` with the same `seq`; freeing an entry leaves its element
//!   behind (lazy deletion), so the free path takes no list position and never walks.
//!   `live` counts the live elements exactly (`list_lru_count_one`); dead ones are
//!   dropped by the walk and compacted away once they outnumber the live ones, so the
//!   list stays O(live) in size and every operation amortised O(1).
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

    /// A live element left the list (its entry was freed).
    pub(crate) fn del(&mut self, pool: &Pool) {
        self.live = self.live.saturating_sub(1);
        if self.items.len() as u64 > 2 * self.live + 64 {
            self.items.retain(|&(h, seq)| pool.seq_of(h) == Some(seq));
        }
        if self.idle.len() as u64 > 2 * self.live + 64 {
            self.idle.retain(|&(h, seq)| pool.seq_of(h) == Some(seq));
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
