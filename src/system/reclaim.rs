//! The zswap reclaim files on the facade (docs/api.md "zswap reclaim"): the shrinker's
//! scan and count, the global shrink worker, proactive writeback and their inspection.
//! Each pins the epoch once and calls zswap's own code (`crate::zswap::shrink`).
//!
//! Invariant: nothing here decides anything; every check and every walk is zswap's.

use super::SwapSystem;
use crate::error::Error;
use crate::ids::{MemcgId, Tick, VSlot};
use crate::stat::{ShrinkOutcome, ShrinkReport};

impl SwapSystem {
    /// The memcg-aware shrinker's scan (`zswap_shrinker_scan` → `shrink_memcg`): walk at
    /// most `nr` entries of `cg`'s LRU (and at most its current length). Referenced
    /// entries get a second chance; an unreferenced one is rotated and written back; a
    /// page found in the swap cache ends the walk. Under `LruPolicy::Protection` the bit is
    /// ignored and a walk that would reach into the protected region stops at once.
    /// `shrinker_enabled` gates only `shrinker_count`, the number reclaim consults.
    pub fn shrink_memcg(&self, cg: MemcgId, nr: u64) -> Result<ShrinkOutcome, Error> {
        self.zswap().shrink_memcg(cg, nr, &self.vspace.reclaim.pin())
    }

    /// `zswap_shrinker_count`: (LRU length − disk swap-ins not yet consumed) × compressed
    /// pages / stored pages; consumes the swap-ins it subtracts. Under
    /// `LruPolicy::Protection`, the length less `nr_zswap_protected`, nothing consumed.
    /// 0 when the shrinker is disabled, writeback is off for `cg`, or `cg` is unknown or
    /// offline.
    pub fn shrinker_count(&self, cg: MemcgId) -> u64 {
        self.zswap().shrinker_count(cg, &self.vspace.reclaim.pin())
    }

    /// Whether a store queued the global shrink worker.
    pub fn shrink_worker_pending(&self) -> bool {
        self.zswap().shrink_worker_pending()
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
    pub fn run_shrink_worker(&self) -> ShrinkReport {
        self.zswap().run_shrink_worker(|| self.vspace.reclaim.pin())
    }

    /// `memory.reclaim` with `"N source=zswap"`: write back at least `bytes` compressed
    /// bytes from `cg` and its online descendants, round-robin from `cg`'s own cursor
    /// (the root's is the worker's), at most `PROACTIVE_BATCH` entries per visit and
    /// 16 × the budget in pages in all. `Ok(written)` once the budget is met;
    /// `Err(Again { written })` when a full round trip wrote nothing more or the scan cap
    /// was reached. Counts `zswpwb` and `zswpwb_proactive_bytes`.
    pub fn proactive_writeback(&self, cg: MemcgId, bytes: u64) -> Result<u64, Error> {
        self.proactive_writeback_aged(cg, bytes, 0)
    }

    /// `proactive_writeback` of entries stored at least `min_age` ticks ago only (the v1
    /// `age` argument); younger ones are rotated. `min_age` above the current tick
    /// (a threshold before time 0) is `Invalid`.
    pub fn proactive_writeback_aged(&self, cg: MemcgId, bytes: u64, min_age: Tick) -> Result<u64, Error> {
        self.zswap().proactive_writeback_aged(cg, bytes, min_age, &self.vspace.reclaim.pin())
    }

    /// The live entries of `cg`'s zswap LRU, oldest (next to be walked) first, as the
    /// virtual slots they back.
    pub fn zswap_lru(&self, cg: MemcgId) -> Result<Vec<VSlot>, Error> {
        self.zswap().zswap_lru(cg, &self.vspace.reclaim.pin())
    }

    /// Where `cg`'s walk will resume: the memcg it visited last (None: at the start). The
    /// root's cursor is the global worker's.
    pub fn shrink_cursor(&self, cg: MemcgId) -> Result<Option<MemcgId>, Error> {
        self.zswap().shrink_cursor(cg, &self.vspace.reclaim.pin())
    }
}
