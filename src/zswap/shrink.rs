//! zswap reclaim (docs/kernel.md §5.3–§5.8, §6.4): the LRU walk (`shrink_memcg` with
//! `shrink_memcg_cb`), the memcg-aware shrinker's count, the global `shrink_worker` with
//! its persistent cursor, the writeback pause, and proactive writeback
//! (`memory.reclaim` `"N source=zswap"`) with per-memcg cursors.
//!
//! Invariants:
//! * A cursor holds only a memcg that was online when it was stored under the cursor
//!   lock; the offline hook (`zswap_memcg_offline_cleanup`) takes the same lock and moves
//!   every ancestor's cursor off the dying memcg, so no cursor is ever left on an offline
//!   memcg. The root's cursor is the worker's (`zswap_next_shrink`); a non-root memcg's is
//!   its proactive writeback's (the v1 per-memcg `zswap_wb_iter`). One lock serves all of
//!   them, as the kernel concluded.
//! * Lock order: the cursor lock, then the memcg tree lock; an LRU lock, then a pool shard
//!   lock. No LRU lock is held while an entry is written back: the entry is rotated first,
//!   so a failed writeback leaves it rotated, as the kernel's callback does.
//! * Nothing here runs by itself: a store marks the worker pending and the caller runs it.

use super::{SwapLayer, Zswap};
use crate::config::LruPolicy;
use crate::error::Error;
use crate::ids::{MemcgId, Tick, VSlot};
use crate::memcg::{Memcg, Stat, UNLIMITED};
use crate::percpu::CachePadded;
use crate::stat::{ShrinkOutcome, ShrinkReport, ShrinkResult, ShrinkStop};
use crate::sync::{AtomicBool, AtomicU64, Mutex, Ordering, lock};
use crossbeam_epoch::Guard;

/// `MAX_RECLAIM_RETRIES`.
pub(crate) const MAX_RECLAIM_RETRIES: u32 = 16;
/// `NR_ZSWAP_WB_BATCH`: entries the worker walks per memcg visit.
pub(crate) const WB_BATCH: u64 = 64;
/// Entries proactive writeback walks per memcg visit (v1).
pub(crate) const PROACTIVE_BATCH: u64 = 128;

/// The shrinker's shared state.
pub(crate) struct Shrink {
    /// Walk root → the memcg its walk visited last.
    cursors: Mutex<Cursors>,
    /// The worker's work item is queued (set by every store over the start threshold).
    pending: CachePadded<AtomicBool>,
    /// `writeback_pause`: no writing before this tick.
    pause_until: AtomicU64,
}

/// The cursors, a map from a walk root's id to the id its walk visited last, as a table
/// indexed by the root's id (0 for no cursor: id 0 is never a memcg). Ids are 16-bit and
/// handed out lowest first, so the table stays as long as the largest id used as a root;
/// a lookup is one load where a hash map hashed every key (the worker advances its
/// cursor at every memcg visit).
#[derive(Default)]
struct Cursors(Vec<u16>);

impl Cursors {
    fn get(&self, root: u16) -> Option<u16> {
        self.0.get(usize::from(root)).copied().filter(|&id| id != 0)
    }

    /// `id` is a memcg id, never 0.
    fn insert(&mut self, root: u16, id: u16) {
        debug_assert_ne!(id, 0);
        let i = usize::from(root);
        if i >= self.0.len() {
            self.0.resize(i + 1, 0);
        }
        self.0[i] = id;
    }

    fn remove(&mut self, root: u16) {
        if let Some(c) = self.0.get_mut(usize::from(root)) {
            *c = 0;
        }
    }
}

impl Shrink {
    pub(crate) fn new() -> Self {
        Self {
            cursors: Mutex::new(Cursors::default()),
            pending: CachePadded::new(AtomicBool::new(false)),
            pause_until: AtomicU64::new(0),
        }
    }

    /// `queue_work(shrink_wq, &zswap_shrink_work)`. A plain store, not read-first: the
    /// worker's `swap` that takes the flag then reads every pool change made before it
    /// (release/acquire on the flag), which a read that found `true` would not give.
    pub(crate) fn queue(&self) {
        self.pending.store(true, Ordering::Release);
    }

    /// A rejected store or a device swap-in at `now`: pause the worker until
    /// `now + pause` (a later event extends it).
    pub(crate) fn pause(&self, now: Tick, pause: Option<Tick>) {
        if let Some(p) = pause {
            let until = now.saturating_add(p);
            // The value only grows: one already at `until` or later needs no write.
            if self.pause_until.load(Ordering::Relaxed) < until {
                self.pause_until.fetch_max(until, Ordering::AcqRel);
            }
        }
    }
}

/// Who walks an LRU.
#[derive(Clone, Copy, PartialEq)]
enum Walk {
    /// The shrinker's `scan_objects` (the public `shrink_memcg`).
    Shrinker,
    /// The global worker (stopping once `budget` compressed bytes are written: the
    /// memcg's `Knob::ZswapWritebackSize` left for this run) or a store over `zswap.max`.
    Worker { budget: u64 },
    /// Proactive writeback: ignores the referenced bit, rotates entries younger than
    /// `min_age`, stops once `budget` compressed bytes are written.
    Proactive { min_age: Tick, budget: u64 },
}

/// One step of a cursor.
enum Step<'g> {
    Memcg(&'g Memcg),
    /// The legacy worker met an offline memcg (and reset the cursor).
    Offline,
    /// A full round trip ended.
    End,
}

impl<W: SwapLayer> Zswap<'_, W> {
    /// Walk at most `nr` entries of `m`'s LRU, and never more than its current length
    /// (`shrink_memcg` over `shrink_memcg_cb`).
    fn walk(&self, m: &Memcg, nr: u64, kind: Walk, g: &Guard) -> ShrinkOutcome {
        let mut o = ShrinkOutcome { result: ShrinkResult::NotCandidate, ..ShrinkOutcome::default() };
        if !m.online.load(Ordering::Acquire) || !self.memcgs.writeback_enabled(m, g) {
            return o;
        }
        let protection = self.cfg.zswap.lru == LruPolicy::Protection;
        let cap = {
            let l = m.lru.lock();
            if l.moved_to != 0 {
                return o;
            }
            if kind == Walk::Shrinker && protection && l.protected >= l.live.wrapping_sub(nr) {
                o.result = ShrinkResult::Again;
                o.protected_stop = true;
                return o;
            }
            nr.min(l.live)
        };
        let second_chance = !protection && !matches!(kind, Walk::Proactive { .. });
        let now = self.now();
        while o.scanned < cap {
            // One LRU lock hold rotates every entry that gets a second chance (or is too
            // young for proactive writeback) up to the next one to write, as
            // `list_lru_walk_one` runs `shrink_memcg_cb` under the list lock and drops it
            // only to write an entry back.
            let seen = {
                let mut l = m.lru.lock();
                if l.moved_to != 0 {
                    break;
                }
                let mut seen = None;
                while o.scanned < cap {
                    let Some((h, seq)) = l.items.pop_front() else { break };
                    let info = self.pool.with(h, |e| {
                        (e.seq == seq).then(|| {
                            let referenced = e.referenced;
                            if second_chance {
                                e.referenced = false;
                            }
                            (referenced, e.slot, e.length, e.stored)
                        })
                    });
                    // A dead element (its entry freed or reused) is dropped unscanned.
                    let Some(Some((referenced, slot, length, stored))) = info else { continue };
                    // Rotate before writing (`LRU_ROTATE` / move to the tail first).
                    l.items.push_back((h, seq));
                    o.scanned += 1;
                    if second_chance && referenced {
                        o.second_chances += 1;
                        continue;
                    }
                    if let Walk::Proactive { min_age, .. } = kind {
                        if now.saturating_sub(stored) < min_age {
                            continue;
                        }
                    }
                    seen = Some((h, slot, length));
                    break;
                }
                seen
            };
            let Some((h, slot, length)) = seen else { break };
            match self.wb.writeback(slot, h, matches!(kind, Walk::Proactive { .. }), g) {
                Ok(()) => {
                    o.written += 1;
                    o.written_bytes += u64::from(length);
                }
                Err(e) => {
                    // Every failure counts, -EEXIST too (`shrink_memcg_cb` counts before
                    // it checks for the swap cache); a page in the swap cache ends the
                    // shrinker's walk (`LRU_STOP`: the warm region), while the worker's
                    // and proactive walks pass no flag and go on (`LRU_RETRY`).
                    self.stats.add(Stat::RejectReclaimFail, 1, 0);
                    if e == Error::InSwapCache && kind == Walk::Shrinker {
                        o.swap_cache_hit = true;
                        break;
                    }
                }
            }
            if let Walk::Proactive { budget, .. } | Walk::Worker { budget } = kind {
                if o.written_bytes >= budget {
                    break;
                }
            }
        }
        o.result = match (o.written, o.scanned) {
            (0, 0) => ShrinkResult::NotCandidate,
            (0, _) => ShrinkResult::Again,
            _ => ShrinkResult::Written,
        };
        o
    }

    /// Advance `root`'s cursor to the next online memcg of its subtree (pre-order,
    /// `mem_cgroup_iter` until `mem_cgroup_tryget_online`). The legacy worker takes one
    /// step only and resets the cursor on an offline memcg.
    fn advance<'g>(&self, root: u16, legacy: bool, g: &'g Guard) -> Step<'g> {
        let memcgs = &self.memcgs;
        let mut cur = lock(&self.shrink.cursors);
        loop {
            let Some(id) = memcgs.next_pre(root, cur.get(root), g) else {
                cur.remove(root);
                return Step::End;
            };
            cur.insert(root, id);
            match memcgs.get(id, g) {
                Some(m) if m.online.load(Ordering::Acquire) => return Step::Memcg(m),
                _ if legacy => {
                    cur.remove(root);
                    return Step::Offline;
                }
                _ => {}
            }
        }
    }

    /// `zswap_memcg_offline_cleanup`, per-memcg form: move every ancestor's cursor that
    /// rests on `m` (now offline) to the next online memcg of that ancestor's subtree, and
    /// drop `m`'s own cursor.
    pub(crate) fn offline_cursors(&self, m: &Memcg, g: &Guard) {
        let memcgs = &self.memcgs;
        let mut cur = lock(&self.shrink.cursors);
        cur.remove(m.id);
        for a in memcgs.ancestry(m, g).skip(1) {
            if cur.get(a.id) != Some(m.id) {
                continue;
            }
            let mut pos = m.id;
            loop {
                match memcgs.next_pre(a.id, Some(pos), g) {
                    None => {
                        cur.remove(a.id);
                        break;
                    }
                    Some(id) => {
                        cur.insert(a.id, id);
                        if memcgs.get(id, g).is_some_and(|x| x.online.load(Ordering::Acquire)) {
                            break;
                        }
                        pos = id;
                    }
                }
            }
        }
    }

    /// The memcg-aware shrinker's scan (`zswap_shrinker_scan` → `shrink_memcg`): walk at
    /// most `nr` entries of `cg`'s LRU (and at most its current length). Referenced
    /// entries get a second chance; an unreferenced one is rotated and written back; a
    /// page found in the swap cache ends the walk. Under `LruPolicy::Protection` the bit is
    /// ignored and a walk that would reach into the protected region stops at once.
    /// `shrinker_enabled` gates only `shrinker_count`, the number reclaim consults.
    pub(crate) fn shrink_memcg(&self, cg: MemcgId, nr: u64, g: &Guard) -> Result<ShrinkOutcome, Error> {
        let m = self.memcgs.online(cg, g)?;
        if nr == 0 {
            return Err(Error::Invalid("nr must be at least 1"));
        }
        Ok(self.walk(m, nr, Walk::Shrinker, g))
    }

    /// `zswap_shrinker_count`: (LRU length − disk swap-ins not yet consumed) × compressed
    /// pages / stored pages; consumes the swap-ins it subtracts. Under
    /// `LruPolicy::Protection`, the length less `nr_zswap_protected`, nothing consumed.
    /// 0 when the shrinker is disabled, writeback is off for `cg`, or `cg` is unknown or
    /// offline.
    pub(crate) fn shrinker_count(&self, cg: MemcgId, g: &Guard) -> u64 {
        let memcgs = &self.memcgs;
        let Ok(m) = memcgs.online(cg, g) else { return 0 };
        if !self.cfg.zswap.shrinker_enabled || !memcgs.writeback_enabled(m, g) {
            return 0;
        }
        let freeable = {
            let mut l = m.lru.lock();
            if self.cfg.zswap.lru == LruPolicy::Protection {
                l.live.saturating_sub(l.protected)
            } else {
                let consumed = l.disk_swapins.min(l.live);
                l.disk_swapins -= consumed;
                l.live - consumed
            }
        };
        if freeable == 0 {
            return 0;
        }
        let backing = m.zswap.bytes() / crate::PAGE_SIZE as u64;
        let stored: u64 = memcgs
            .subtree(m.id)
            .into_iter()
            .filter_map(|id| memcgs.get(id, g))
            .map(|d| d.zswap.entries())
            .fold(0u64, u64::wrapping_add);
        if stored == 0 { 0 } else { (u128::from(freeable) * u128::from(backing) / u128::from(stored)) as u64 }
    }

    /// Whether a store queued the global shrink worker.
    pub(crate) fn shrink_worker_pending(&self) -> bool {
        self.shrink.pending.load(Ordering::Acquire)
    }

    /// Run the global `shrink_worker` to completion if a store queued it: shrink memcgs
    /// round-robin from the persistent cursor, in pre-order from the root (which is
    /// visited too: with no hierarchy, its LRU is the only one), until the pool is at or
    /// below the accept threshold (checked after each step, as the kernel's do-while).
    /// Offline memcgs and non-candidates (`-ENOENT`) are skipped without counting; a
    /// round trip without a candidate or a step that wrote nothing is a failure; 16 end
    /// the run. A memcg whose `Knob::ZswapWritebackSize` this run has reached is skipped
    /// like a non-candidate. With `legacy_worker`, the v6.8 worker instead (see
    /// `ZswapConfig`).
    pub(crate) fn run_shrink_worker(&self, pin: impl FnOnce() -> Guard) -> ShrinkReport {
        let mut r = ShrinkReport::default();
        let shrink = &self.shrink;
        if !shrink.pending.swap(false, Ordering::AcqRel) {
            return r;
        }
        let g = pin();
        let legacy = self.cfg.zswap.legacy_worker;
        let root = MemcgId::ROOT.raw();
        let mut attempts = 0u64;
        // Compressed bytes written per capped memcg in this run.
        let mut spent: Vec<(u16, u64)> = Vec::new();
        let fail = |r: &mut ShrinkReport| {
            r.failures += 1;
            r.failures >= MAX_RECLAIM_RETRIES
        };
        r.stop = loop {
            let until = shrink.pause_until.load(Ordering::Acquire);
            if self.cfg.zswap.writeback_pause.is_some() && self.now() < until {
                shrink.queue();
                break ShrinkStop::Paused { until };
            }
            match self.advance(root, legacy, &g) {
                Step::End | Step::Offline => {
                    // Legacy: every miss is a failure. Today: only a round without a
                    // candidate.
                    if (legacy || attempts == 0) && fail(&mut r) {
                        break ShrinkStop::Failures;
                    }
                    attempts = 0;
                }
                Step::Memcg(m) => {
                    if legacy && !self.memcgs.writeback_enabled(m, &g) {
                        break ShrinkStop::WritebackDisabled;
                    }
                    // `Knob::ZswapWritebackSize`: what this run may still write from `m`.
                    let cap = m.writeback_size.load(Ordering::Acquire);
                    let used = spent.iter().find(|(id, _)| *id == m.id).map_or(0, |&(_, b)| b);
                    let budget = cap.saturating_sub(used);
                    let o = if budget == 0 {
                        ShrinkOutcome { result: ShrinkResult::NotCandidate, ..ShrinkOutcome::default() }
                    } else {
                        self.walk(m, if legacy { 1 } else { WB_BATCH }, Walk::Worker { budget }, &g)
                    };
                    if cap != UNLIMITED && o.written_bytes > 0 {
                        match spent.iter_mut().find(|(id, _)| *id == m.id) {
                            Some((_, b)) => *b += o.written_bytes,
                            None => spent.push((m.id, o.written_bytes)),
                        }
                    }
                    r.visits += 1;
                    if o.written > 0 {
                        r.written += o.written;
                        r.written_bytes += o.written_bytes;
                        let id = MemcgId::from_raw(m.id);
                        match r.by_memcg.iter_mut().find(|(x, _)| *x == id) {
                            Some((_, n)) => *n += o.written,
                            None => r.by_memcg.push((id, o.written)),
                        }
                    }
                    if o.result == ShrinkResult::NotCandidate && !legacy {
                        // Skipped: neither an attempt nor a failure.
                    } else {
                        attempts += 1;
                        if o.result != ShrinkResult::Written && fail(&mut r) {
                            break ShrinkStop::Failures;
                        }
                    }
                }
            }
            if !self.pool.above_accept() {
                break ShrinkStop::BelowAccept;
            }
        };
        r
    }

    /// `proactive_writeback` of entries stored at least `min_age` ticks ago only (the v1
    /// `age` argument); younger ones are rotated. `min_age` above the current tick
    /// (a threshold before time 0) is `Invalid`.
    pub(crate) fn proactive_writeback_aged(
        &self,
        cg: MemcgId,
        bytes: u64,
        min_age: Tick,
        g: &Guard,
    ) -> Result<u64, Error> {
        let memcgs = &self.memcgs;
        let top = memcgs.online(cg, g)?;
        if bytes == 0 {
            return Err(Error::Invalid("proactive writeback needs a budget above 0"));
        }
        if bytes > self.cfg.ram_pages.saturating_mul(crate::PAGE_SIZE as u64) {
            return Err(Error::Invalid("proactive writeback budget larger than RAM"));
        }
        if min_age > self.now() {
            return Err(Error::Invalid("age threshold before time 0"));
        }
        if !memcgs.writeback_enabled(top, g) {
            return Err(Error::Invalid("memory.zswap.writeback is 0 for the memcg"));
        }
        let cap = 16 * bytes.div_ceil(crate::PAGE_SIZE as u64);
        let (mut written, mut scanned, mut idle_ends) = (0u64, 0u64, 0);
        while written < bytes && scanned < cap && idle_ends < 2 {
            match self.advance(cg.raw(), false, g) {
                Step::End | Step::Offline => idle_ends += 1,
                Step::Memcg(m) => {
                    let budget = bytes - written;
                    let o = self.walk(m, PROACTIVE_BATCH, Walk::Proactive { min_age, budget }, g);
                    written += o.written_bytes;
                    scanned += o.scanned;
                    if o.written > 0 {
                        idle_ends = 0;
                    }
                }
            }
        }
        if written >= bytes { Ok(written) } else { Err(Error::Again { written }) }
    }

    /// The live entries of `cg`'s zswap LRU, oldest (next to be walked) first, as the
    /// virtual slots they back.
    pub(crate) fn zswap_lru(&self, cg: MemcgId, g: &Guard) -> Result<Vec<VSlot>, Error> {
        let m = self.memcgs.online(cg, g)?;
        let l = m.lru.lock();
        let pool = &self.pool;
        Ok(l.items
            .iter()
            .filter_map(|&(h, seq)| pool.with(h, |e| (e.seq == seq).then_some(VSlot::from_raw(e.slot))).flatten())
            .collect())
    }

    /// Where `cg`'s walk will resume: the memcg it visited last (None: at the start). The
    /// root's cursor is the global worker's.
    pub(crate) fn shrink_cursor(&self, cg: MemcgId, g: &Guard) -> Result<Option<MemcgId>, Error> {
        self.memcgs.online(cg, g)?;
        Ok(lock(&self.shrink.cursors).get(cg.raw()).map(MemcgId::from_raw))
    }
}

impl<W: SwapLayer> Zswap<'_, W> {
    /// `zswap_store` over `zswap.max`: `shrink_memcg(memcg)` for
    /// `ZswapConfig::store_shrink_batch` entries (1 up to 7.2, `SWAP_CLUSTER_MAX` in 7.3);
    /// the pages written.
    pub(crate) fn shrink_for_store(&self, m: &Memcg, g: &Guard) -> u64 {
        let batch = u64::from(self.cfg.zswap.store_shrink_batch.max(1));
        self.walk(m, batch, Walk::Worker { budget: u64::MAX }, g).written
    }

    /// `zswap_folio_swapin`: a swap-in read a device. The memcg that takes the folio (the
    /// recorded one or its nearest online ancestor) counts it against its LRU
    /// (`nr_disk_swapins`, or `nr_zswap_protected` under `LruPolicy::Protection`), and the
    /// worker pauses.
    pub(crate) fn disk_swapin(&self, recorded: u16, g: &Guard) {
        if let Some(m) = self.memcgs.nearest_online(recorded, g) {
            let mut l = m.lru.lock();
            if self.cfg.zswap.lru == LruPolicy::Protection {
                l.protected += 1;
            } else {
                l.disk_swapins += 1;
            }
        }
        self.shrink.pause(self.now(), self.cfg.zswap.writeback_pause);
    }
}
