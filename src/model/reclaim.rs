//! The model's reclaim layer, from kernel-notes §5.3 (the LRU callback), §5.5 (the
//! memcg-aware shrinker), §5.6 (the global worker and its cursor), §5.8 (proactive
//! writeback with per-memcg cursors) and §6.4 (`mem_cgroup_iter` order, offline
//! cleanup), with the 2024 series' proactive start and writeback pause (Appendix B1) and
//! the 2023 protection scheme (B3).
//!
//! Each memcg's LRU is a list of elements naming a slot and the entry that a store put
//! there (the `id` of its `Back::Zswap`), oldest first, with the referenced bit and the
//! store tick. An element whose entry was freed (loaded, written back, invalidated,
//! replaced) is dead and pruned; the list's length is then `list_lru_count_one`. Offline
//! splices a memcg's list to the front of its nearest online ancestor's. Cursors map a
//! walk's root to the memcg it visited last (the root's is the worker's).

use super::{Back, Ev, Model, PAGE, ROOT, Slot, Step, UNLIMITED};
use crate::op::Outcome;
use crate::{
    Backing, Config, Error, LruPolicy, MemcgId, ShrinkOutcome, ShrinkReport, ShrinkResult, ShrinkStart, ShrinkStop,
    SwapSystem, Tick, VSlot,
};
use std::collections::{BTreeMap, HashMap, VecDeque};

/// `MAX_RECLAIM_RETRIES`.
const MAX_RETRIES: u32 = 16;
/// `NR_ZSWAP_WB_BATCH`: entries the worker walks per visit.
const WORKER_BATCH: u64 = 64;
/// Entries proactive writeback walks per visit (v1).
const PROACTIVE_BATCH: u64 = 128;

/// One LRU element.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Lent {
    pub(super) slot: u64,
    pub(super) id: u64,
    referenced: bool,
    pub(super) stored: Tick,
}

/// Who walks an LRU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Walk {
    /// The shrinker's scan: second chance, or the protected-region stop.
    Shrinker,
    /// The worker (ending once `budget` compressed bytes are written: what the memcg's
    /// `Knob::ZswapWritebackSize` leaves for this run), or a store over `zswap.max`.
    Worker { budget: u64 },
    /// Proactive writeback: no second chance, entries younger than `min_age` rotate,
    /// the walk ends once `budget` compressed bytes are written.
    Proactive { min_age: Tick, budget: u64 },
}

/// Where a cursor step landed.
enum Visit {
    Memcg(u16),
    /// The legacy worker met an offline memcg (its cursor is reset).
    Offline,
    /// A round trip ended (the cursor is reset).
    End,
}

/// The reclaim configuration and the state outside the memcgs.
#[derive(Debug, Clone, Default)]
pub(super) struct Reclaim {
    protection: bool,
    /// `ShrinkStart::Proactive`: the worker starts above this many pool pages.
    start: Option<u64>,
    legacy: bool,
    pause: Option<Tick>,
    shrinker_enabled: bool,
    ram_bytes: u64,
    /// Walk root → the memcg its walk visited last.
    cursors: BTreeMap<u16, u16>,
    pending: bool,
    pause_until: Tick,
    /// Entry ids handed out.
    ids: u64,
    /// Memcgs created.
    born: u64,
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

    fn is_online(&self, id: u16) -> bool {
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

    fn pool_pages(&self) -> u64 {
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

    fn pause_worker(&mut self) {
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
    fn advance(&mut self, root: u16, legacy: bool) -> Visit {
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

    // ---------------------------------------------------------------------------------
    // The LRU walk (§5.3 `shrink_memcg_cb`, §5.6 `shrink_memcg`)
    // ---------------------------------------------------------------------------------

    /// Write back the entry at `slot` from a walk: the system's backing after the step
    /// tells whether it reached a device, which the explicit writeback then checks.
    fn walk_writeback(&mut self, slot: u64, proactive: bool, sys: Option<&SwapSystem>) -> Step {
        let s = self.slots[&slot];
        let Back::Zswap { len, memcg, .. } = s.back else { unreachable!("a live element names a zswap entry") };
        let real = if s.folio.is_some() {
            Err(Error::InSwapCache)
        } else {
            let sys = sys.ok_or("the model needs the system to follow an LRU walk (Model::apply_in)")?;
            match sys.backing(VSlot::from_raw(slot)) {
                Ok(Backing::Device(_)) => Ok(Outcome::Done),
                _ => Err(Error::DeviceFull),
            }
        };
        let out = self.writeback(VSlot::from_raw(slot), &real, sys)?;
        if out.is_ok() && proactive {
            self.event(memcg, Ev::ZswpwbProactive, u64::from(len));
        }
        // The slot now belongs to an online memcg: an offline one it was the last
        // reference of leaves the tree at once, so the rest of the walk's round trip
        // (the worker's, proactive writeback's) no longer passes it.
        self.collect();
        Ok(out)
    }

    /// Walk at most `nr` entries of `m`'s LRU, and never more than it holds now.
    pub(super) fn walk(
        &mut self,
        m: u16,
        nr: u64,
        kind: Walk,
        sys: Option<&SwapSystem>,
    ) -> Result<ShrinkOutcome, String> {
        let mut o = ShrinkOutcome { result: ShrinkResult::NotCandidate, ..ShrinkOutcome::default() };
        if !self.is_online(m) || !self.writeback_enabled(m) {
            return Ok(o);
        }
        self.prune_lrus();
        let protection = self.reclaim.protection;
        let (len, protected) = (self.memcgs[&m].lru.len() as u64, self.memcgs[&m].protected);
        // The 2023 scheme's shrinker stops short of the protected region (`SHRINK_STOP`);
        // the subtraction wraps as the kernel's unsigned one does.
        if kind == Walk::Shrinker && protection && protected >= len.wrapping_sub(nr) {
            o.result = ShrinkResult::Again;
            o.protected_stop = true;
            return Ok(o);
        }
        let second_chance = !protection && !matches!(kind, Walk::Proactive { .. });
        while o.scanned < nr.min(len) {
            let lru = &mut self.memcgs.get_mut(&m).expect("online").lru;
            let Some(mut e) = lru.pop_front() else { break };
            let referenced = e.referenced;
            e.referenced &= !second_chance;
            // Rotated first: a failed writeback leaves it at the tail.
            lru.push_back(e);
            o.scanned += 1;
            if second_chance && referenced {
                o.second_chances += 1;
                continue;
            }
            let budget = match kind {
                Walk::Proactive { min_age, .. } if self.tick.saturating_sub(e.stored) < min_age => continue,
                Walk::Proactive { budget, .. } | Walk::Worker { budget } => Some(budget),
                Walk::Shrinker => None,
            };
            let len = match self.slots[&e.slot].back {
                Back::Zswap { len, .. } => u64::from(len),
                _ => 0,
            };
            match self.walk_writeback(e.slot, matches!(kind, Walk::Proactive { .. }), sys)? {
                Ok(_) => {
                    o.written += 1;
                    o.written_bytes += len;
                }
                Err(err) => {
                    // Every failure counts, -EEXIST included; a page in the swap cache
                    // ends only the shrinker's walk (the warm region: `LRU_STOP`), the
                    // others pass no flag to the callback and go on.
                    self.global.reject_reclaim_fail += 1;
                    if err == Error::InSwapCache && kind == Walk::Shrinker {
                        o.swap_cache_hit = true;
                        break;
                    }
                }
            }
            if budget.is_some_and(|b| o.written_bytes >= b) {
                break;
            }
        }
        o.result = if o.written > 0 {
            ShrinkResult::Written
        } else if o.scanned > 0 {
            ShrinkResult::Again
        } else {
            ShrinkResult::NotCandidate
        };
        Ok(o)
    }

    // ---------------------------------------------------------------------------------
    // The operations
    // ---------------------------------------------------------------------------------

    /// `shrink_memcg` (the shrinker's scan).
    pub(super) fn shrink_memcg(&mut self, cg: MemcgId, nr: u64, sys: Option<&SwapSystem>) -> Step {
        if let Err(e) = self.online(cg) {
            return Ok(Err(e));
        }
        if nr == 0 {
            return Ok(Err(Error::Invalid("nr must be at least 1")));
        }
        Ok(Ok(Outcome::Shrink(self.walk(cg.raw(), nr, Walk::Shrinker, sys)?)))
    }

    /// `zswap_shrinker_count` (§5.5): the list's length less the disk swap-ins not yet
    /// consumed (consuming them), or less `nr_zswap_protected`; scaled by compressed over
    /// stored pages of the subtree.
    pub(super) fn shrinker_count(&mut self, cg: MemcgId) -> u64 {
        let id = cg.raw();
        if self.online(cg).is_err() || !self.reclaim.shrinker_enabled || !self.writeback_enabled(id) {
            return 0;
        }
        self.prune_lrus();
        let protection = self.reclaim.protection;
        let c = self.memcgs.get_mut(&id).expect("online");
        let len = c.lru.len() as u64;
        let freeable = if protection {
            len.saturating_sub(c.protected)
        } else {
            let consumed = c.disk_swapins.min(len);
            c.disk_swapins -= consumed;
            len - consumed
        };
        let stored = self
            .slots
            .values()
            .filter(|s| matches!(s.back, Back::Zswap { memcg, .. } if self.ancestry(memcg).contains(&id)))
            .count() as u64;
        if freeable == 0 || stored == 0 {
            return 0;
        }
        let backing = self.zswap_bytes(id) / PAGE;
        (u128::from(freeable) * u128::from(backing) / u128::from(stored)) as u64
    }

    /// The global `shrink_worker` (§5.6), or the v6.8 one with `legacy_worker`.
    pub(super) fn run_shrink_worker(&mut self, sys: Option<&SwapSystem>) -> Result<ShrinkReport, String> {
        let mut r = ShrinkReport::default();
        if !std::mem::take(&mut self.reclaim.pending) {
            return Ok(r);
        }
        let legacy = self.reclaim.legacy;
        // Candidates visited in this round trip.
        let mut attempts = 0;
        // Bytes written from each memcg with a writeback size, this run.
        let mut spent: HashMap<u16, u64> = HashMap::new();
        r.stop = loop {
            if self.reclaim.pause.is_some() && self.tick < self.reclaim.pause_until {
                self.reclaim.pending = true;
                break ShrinkStop::Paused { until: self.reclaim.pause_until };
            }
            let failed = match self.advance(ROOT, legacy) {
                Visit::End | Visit::Offline => {
                    let failed = legacy || attempts == 0;
                    attempts = 0;
                    failed
                }
                Visit::Memcg(m) => {
                    if legacy && !self.writeback_enabled(m) {
                        break ShrinkStop::WritebackDisabled;
                    }
                    let cap = self.memcgs[&m].writeback_size;
                    let budget = cap.saturating_sub(spent.get(&m).copied().unwrap_or(0));
                    let o = if budget == 0 {
                        ShrinkOutcome { result: ShrinkResult::NotCandidate, ..ShrinkOutcome::default() }
                    } else {
                        self.walk(m, if legacy { 1 } else { WORKER_BATCH }, Walk::Worker { budget }, sys)?
                    };
                    if cap != UNLIMITED {
                        *spent.entry(m).or_default() += o.written_bytes;
                    }
                    r.visits += 1;
                    if o.written > 0 {
                        r.written += o.written;
                        r.written_bytes += o.written_bytes;
                        let id = MemcgId::from_raw(m);
                        match r.by_memcg.iter().position(|(x, _)| *x == id) {
                            Some(i) => r.by_memcg[i].1 += o.written,
                            None => r.by_memcg.push((id, o.written)),
                        }
                    }
                    // Today's worker skips a non-candidate without counting it.
                    let counted = legacy || o.result != ShrinkResult::NotCandidate;
                    attempts += u64::from(counted);
                    counted && o.result != ShrinkResult::Written
                }
            };
            if failed {
                r.failures += 1;
                if r.failures == MAX_RETRIES {
                    break ShrinkStop::Failures;
                }
            }
            if self.pool_pages() <= self.accept_pages {
                break ShrinkStop::BelowAccept;
            }
        };
        Ok(r)
    }

    /// Proactive writeback (§5.8): round-robin over `cg`'s online subtree from its own
    /// cursor, until `bytes` compressed bytes are written, the scan cap (16 × the budget
    /// in pages) is reached, or two round trips end without a write.
    pub(super) fn proactive_writeback(
        &mut self,
        cg: MemcgId,
        bytes: u64,
        min_age: Tick,
        sys: Option<&SwapSystem>,
    ) -> Step {
        if let Err(e) = self.online(cg) {
            return Ok(Err(e));
        }
        if bytes == 0 || bytes > self.reclaim.ram_bytes || min_age > self.tick || !self.writeback_enabled(cg.raw()) {
            return Ok(Err(Error::Invalid("proactive writeback")));
        }
        let cap = 16 * bytes.div_ceil(PAGE);
        let (mut written, mut scanned, mut idle) = (0, 0, 0);
        while written < bytes && scanned < cap && idle < 2 {
            let Visit::Memcg(m) = self.advance(cg.raw(), false) else {
                idle += 1;
                continue;
            };
            let o = self.walk(m, PROACTIVE_BATCH, Walk::Proactive { min_age, budget: bytes - written }, sys)?;
            written += o.written_bytes;
            scanned += o.scanned;
            if o.written > 0 {
                idle = 0;
            }
        }
        Ok(if written >= bytes { Ok(Outcome::WrittenBack(written)) } else { Err(Error::Again { written }) })
    }
}
