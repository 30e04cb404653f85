//! The LRU walk and the three reclaim drivers that run it, from docs/kernel.md §5.3
//! (`shrink_memcg_cb`: second chance, the protected-region stop, writeback of the
//! entry), §5.5 (the memcg-aware shrinker: `zswap_shrinker_scan` / `_count`), §5.6 (the
//! global `shrink_worker` round trip from the root's cursor, `MAX_RECLAIM_RETRIES`, the
//! v6.8 legacy worker) and §5.8 (proactive writeback from a memcg's own cursor, within a
//! byte budget and a minimum age); the LRU state and cursors are in `reclaim`.
//!
//! Invariants:
//! * a walk visits at most `nr` elements of one online memcg's LRU, live ones only, and
//!   writes an entry back only where `memory.zswap.writeback` allows it, through the same
//!   checks as an explicit `Op::Writeback` (the system's device choice is verified, not
//!   predicted);
//! * the worker runs only when queued and stops at the pool's accept threshold, after
//!   `MAX_RECLAIM_RETRIES` failures, while paused (queued again), or for the legacy
//!   worker at a memcg with writeback disabled; a memcg's writeback size caps what one
//!   run writes from it;
//! * proactive writeback stops once its byte budget is written, at its scan cap (16 × the
//!   budget in pages), or after two round trips of its subtree without a write.

use super::reclaim::Visit;
use super::{Back, Ev, Model, PAGE, ROOT, Step, UNLIMITED};
use crate::op::Outcome;
use crate::{Backing, Error, MemcgId, ShrinkOutcome, ShrinkReport, ShrinkResult, ShrinkStop, SwapSystem, Tick, VSlot};
use std::collections::HashMap;

/// `MAX_RECLAIM_RETRIES`.
const MAX_RETRIES: u32 = 16;
/// Entries proactive writeback walks per visit (v1).
const PROACTIVE_BATCH: u64 = 128;

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

impl Model {
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
            .filter(|s| matches!(s.back, Back::Zswap { memcg, .. } if self.charged_zswap(memcg, id)))
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
                        self.walk(m, self.reclaim.walk, Walk::Worker { budget }, sys)?
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
