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
    }

    /// Splice every element to the front of `to`, in order (`list_splice_init`).
    pub(crate) fn splice_to(&mut self, to: &mut LruList, to_id: u16) {
        let mut items = std::mem::take(&mut self.items);
        items.append(&mut to.items);
        to.items = items;
        to.live += self.live;
        self.live = 0;
        self.moved_to = to_id;
    }

    /// Heap bytes of the list.
    pub(crate) fn bytes(&self) -> usize {
        self.items.capacity() * std::mem::size_of::<(u32, u64)>()
    }
}
