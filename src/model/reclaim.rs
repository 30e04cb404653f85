//! The model's reclaim layer, from docs/kernel.md §5.3 (the LRU callback), §5.5 (the
//! memcg-aware shrinker), §5.6 (the global worker and its cursor), §5.8 (proactive
//! writeback with per-memcg cursors) and §6.4 (`mem_cgroup_iter` order, offline
//! cleanup), with the 2024 series' proactive start and writeback pause (Appendix B1) and
//! the 2023 protection scheme (B3). The walk over an LRU and the operations that run it
//! (shrinker, worker, proactive writeback) are in `shrink`.
//!
//! Each memcg's LRU is a list of elements naming a slot and the entry that a store put
//! there (the `id` of its `Back::Zswap`), oldest first, with the referenced bit and the
//! store tick. An element whose entry was freed (loaded, written back, invalidated,
//! replaced) is dead and pruned; the list's length is then `list_lru_count_one`. Offline
//! splices a memcg's list to the front of its nearest online ancestor's. Cursors map a
//! walk's root to the memcg it visited last (the root's is the worker's).
//!
//! Invariants:
//! * every live zswap entry has exactly one live element, on the LRU of the memcg that
//!   entry is charged to (or, once that memcg is offline, of its nearest online ancestor);
//! * after each step only online memcgs hold LRU elements, and only live ones
//!   (`prune_lrus`), oldest store first;
//! * a cursor names a memcg of its walk root's subtree, or is absent (no walk yet, or a
//!   round trip ended); offlining the memcg it rests on moves it to the next online one.

use super::{Back, Model, PAGE, ROOT, Slot};
use crate::{Config, Error, LruPolicy, MemcgId, ShrinkStart, Tick, VSlot};
use std::collections::{BTreeMap, HashMap, VecDeque};

/// One LRU element.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Lent {
    pub(super) slot: u64,
    pub(super) id: u64,
    pub(super) referenced: bool,
    pub(super) stored: Tick,
}

/// Where a cursor step landed.
pub(super) enum Visit {
    Memcg(u16),
    /// The legacy worker met an offline memcg (its cursor is reset).
    Offline,
    /// A round trip ended (the cursor is reset).
    End,
}

/// The reclaim configuration and the state outside the memcgs.
#[derive(Debug, Clone, Default)]
pub(super) struct Reclaim {
    pub(super) protection: bool,
    /// `ShrinkStart::Proactive`: the worker starts above this many pool pages.
    pub(super) start: Option<u64>,
    pub(super) legacy: bool,
    pub(super) pause: Option<Tick>,
    pub(super) shrinker_enabled: bool,
    pub(super) ram_bytes: u64,
    /// `ZswapConfig::store_shrink_batch`: entries a store over `zswap.max` walks.
    pub(super) store_batch: u64,
    /// Walk root → the memcg its walk visited last.
    pub(super) cursors: BTreeMap<u16, u16>,
    pub(super) pending: bool,
    pub(super) pause_until: Tick,
    /// Entry ids handed out.
    pub(super) ids: u64,
    /// Memcgs created.
    pub(super) born: u64,
}

impl Reclaim {
    pub(super) fn new(cfg: &Config, max_pages: u64) -> Self {
        let z = &cfg.zswap;
        let start = max_pages.saturating_mul(u64::from(z.accept_threshold_percent) + 1) / 100;
        Self {
            protection: z.lru == LruPolicy::Protection,
            start: (z.shrink_start == ShrinkStart::Proactive).then_some(start.min(max_pages)),
            legacy: z.legacy_worker,
            pause: z.writeback_pause,
            shrinker_enabled: z.shrinker_enabled,
            ram_bytes: cfg.ram_pages.saturating_mul(PAGE),
            store_batch: u64::from(z.store_shrink_batch.max(1)),
            ..Self::default()
        }
    }

    /// Whether the pool has no hysteresis (`ShrinkStart::Proactive`).
    pub(super) fn proactive_start(&self) -> bool {
        self.start.is_some()
    }

    /// A new entry's id.
    pub(super) fn entry_id(&mut self) -> u64 {
        self.ids += 1;
        self.ids
    }

    /// A new memcg's place among its siblings.
    pub(super) fn born(&mut self) -> u64 {
        self.born += 1;
        self.born
    }
}

pub(super) fn alive(slots: &HashMap<u64, Slot>, e: &Lent) -> bool {
    slots.get(&e.slot).is_some_and(|s| matches!(s.back, Back::Zswap { id, .. } if id == e.id))
}

impl Model {
    /// The logical clock.
    pub fn tick(&self) -> Tick {
        self.tick
    }

    /// What `SwapSystem::zswap_lru` must return for `cg`.
    pub fn zswap_lru(&self, cg: MemcgId) -> Result<Vec<VSlot>, Error> {
        let c = self.online(cg)?;
        Ok(c.lru.iter().filter(|e| alive(&self.slots, e)).map(|e| VSlot::from_raw(e.slot)).collect())
    }

    /// What `SwapSystem::shrink_cursor` must return for `cg`.
    pub fn shrink_cursor(&self, cg: MemcgId) -> Result<Option<MemcgId>, Error> {
        self.online(cg)?;
        Ok(self.reclaim.cursors.get(&cg.raw()).map(|&id| MemcgId::from_raw(id)))
    }

    /// What `SwapSystem::shrink_worker_pending` must return.
    pub fn shrink_worker_pending(&self) -> bool {
        self.reclaim.pending
    }

    pub(super) fn online(&self, cg: MemcgId) -> Result<&super::Cg, Error> {
        match self.memcgs.get(&cg.raw()) {
            None => Err(Error::InvalidMemcg),
            Some(c) if !c.online => Err(Error::MemcgOffline),
            Some(c) => Ok(c),
        }
    }

    pub(super) fn is_online(&self, id: u16) -> bool {
        self.memcgs.get(&id).is_some_and(|c| c.online)
    }

    /// Drop the elements of freed entries from every list.
    pub(super) fn prune_lrus(&mut self) {
        let slots = &self.slots;
        for c in self.memcgs.values_mut() {
            c.lru.retain(|e| alive(slots, e));
            c.idle.retain(|e| alive(slots, e));
        }
    }

    /// `zswap_lru_add` of entries just stored for `m` (online), at the tail in page
    /// order; under the protection scheme each add also updates `nr_zswap_protected`:
    /// one more, halved once above a quarter of the list.
    pub(super) fn lru_add(&mut self, m: u16, stored: &[(u64, u64)]) {
        self.prune_lrus();
        let (tick, protection) = (self.tick, self.reclaim.protection);
        let c = self.memcgs.get_mut(&m).expect("the store's memcg exists");
        for &(slot, id) in stored {
            c.lru.push_back(Lent { slot, id, referenced: true, stored: tick });
            c.idle.push_back(Lent { slot, id, referenced: true, stored: tick });
            if protection {
                let n = c.protected + 1;
                c.protected = if n > c.lru.len() as u64 / 4 { n / 2 } else { n };
            }
        }
    }

    pub(super) fn pool_pages(&self) -> u64 {
        self.pool_bytes().div_ceil(PAGE)
    }

    fn above_start(&self) -> bool {
        self.reclaim.start.is_some_and(|s| self.pool_pages() > s)
    }

    /// After a store: the proactive start queues the worker above accept + 1 %.
    pub(super) fn stored_hook(&mut self) {
        if self.above_start() {
            self.reclaim.pending = true;
        }
    }

    /// A refused store (§5.2 step 7): queue the worker if the pool is full (or above the
    /// proactive start), and pause its writeback.
    pub(super) fn refused_hook(&mut self) {
        if self.reached_full || self.above_start() {
            self.reclaim.pending = true;
        }
        self.pause_worker();
    }

    pub(super) fn pause_worker(&mut self) {
        if let Some(p) = self.reclaim.pause {
            self.reclaim.pause_until = self.reclaim.pause_until.max(self.tick.saturating_add(p));
        }
    }

    /// `zswap_folio_swapin`: a fault read a device for a slot recorded to `recorded`; the
    /// memcg taking the folio counts it, and the worker pauses.
    pub(super) fn disk_swapin(&mut self, recorded: u16) {
        let to = self.nearest_online(recorded);
        let protection = self.reclaim.protection;
        if let Some(c) = self.memcgs.get_mut(&to) {
            if protection {
                c.protected += 1;
            } else {
                c.disk_swapins += 1;
            }
        }
        self.pause_worker();
    }

    // ---------------------------------------------------------------------------------
    // Cursors (§6.4)
    // ---------------------------------------------------------------------------------

    /// Children of `p` (offline ones included), oldest first.
    pub(super) fn children(&self, p: u16) -> Vec<u16> {
        let mut kids: Vec<(u64, u16)> =
            self.memcgs.iter().filter(|(id, c)| **id != ROOT && c.parent == p).map(|(&id, c)| (c.born, id)).collect();
        kids.sort_unstable();
        kids.into_iter().map(|(_, id)| id).collect()
    }

    /// `css_next_descendant_pre` within `root`'s subtree: `root` first, None after the last.
    fn next_pre(&self, root: u16, pos: Option<u16>) -> Option<u16> {
        let Some(mut at) = pos else { return Some(root) };
        if let Some(&first) = self.children(at).first() {
            return Some(first);
        }
        while at != root {
            let parent = self.memcgs.get(&at)?.parent;
            let siblings = self.children(parent);
            let i = siblings.iter().position(|&x| x == at)?;
            if let Some(&next) = siblings.get(i + 1) {
                return Some(next);
            }
            at = parent;
        }
        None
    }

    /// Move `root`'s cursor to the next online memcg of its subtree (the legacy worker
    /// takes one step and gives up on an offline one).
    pub(super) fn advance(&mut self, root: u16, legacy: bool) -> Visit {
        loop {
            let Some(id) = self.next_pre(root, self.reclaim.cursors.get(&root).copied()) else {
                self.reclaim.cursors.remove(&root);
                return Visit::End;
            };
            self.reclaim.cursors.insert(root, id);
            if self.is_online(id) {
                return Visit::Memcg(id);
            }
            if legacy {
                self.reclaim.cursors.remove(&root);
                return Visit::Offline;
            }
        }
    }

    /// `id` just went offline: its LRU goes, in order, to the front of its nearest online
    /// ancestor's (`memcg_reparent_list_lrus`); its own cursor goes, and every ancestor's
    /// cursor resting on it moves to the next online memcg of that ancestor's subtree
    /// (`zswap_memcg_offline_cleanup`, per-memcg form).
    pub(super) fn reclaim_offline(&mut self, id: u16) {
        let to = self.nearest_online(self.memcgs[&id].parent);
        let mut moved = std::mem::take(&mut self.memcgs.get_mut(&id).expect("offlined").lru);
        let target = self.memcgs.get_mut(&to).expect("an online ancestor");
        moved.append(&mut target.lru);
        target.lru = moved;
        // The idle indexes merge by store tick, the offlined memcg's first on a tie.
        let (mut a, mut b) = (std::mem::take(&mut self.memcgs.get_mut(&id).expect("offlined").idle), VecDeque::new());
        let target = self.memcgs.get_mut(&to).expect("an online ancestor");
        std::mem::swap(&mut b, &mut target.idle);
        while let (Some(x), Some(y)) = (a.front(), b.front()) {
            let next = if x.stored <= y.stored { a.pop_front() } else { b.pop_front() };
            target.idle.extend(next);
        }
        target.idle.extend(a.into_iter().chain(b));
        self.reclaim.cursors.remove(&id);
        for a in self.ancestry(id).into_iter().skip(1) {
            if self.reclaim.cursors.get(&a) != Some(&id) {
                continue;
            }
            let mut pos = id;
            loop {
                let Some(next) = self.next_pre(a, Some(pos)) else {
                    self.reclaim.cursors.remove(&a);
                    break;
                };
                self.reclaim.cursors.insert(a, next);
                if self.is_online(next) {
                    break;
                }
                pos = next;
            }
        }
    }
}
