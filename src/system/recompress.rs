//! Recompression of idle zswap entries (zram's `recompress`, done per memcg subtree):
//! entries stored at least `min_age` ticks ago and larger than a threshold are compressed
//! again with a higher-priority (denser) compression priority, and the new copy replaces the
//! old one only when it is smaller.
//!
//! Invariants:
//! * Candidates come off each memcg's idle-age index (`LruList::idle`), oldest first; the
//!   walk stops at the first live entry younger than `min_age`, so it never scans young
//!   entries: the cost is O(entries examined). Every entry examined leaves the index,
//!   whatever the outcome (zram marks the slots it tried, `ZRAM_RECOMP`, and skips them).
//! * The new copy is made outside every lock from a copy taken under the entry's shard
//!   lock; it replaces the entry under that lock only if the entry is still the same one
//!   (same `seq`, tier and length). A load, a writeback or a free that got there first
//!   wins and the copy is dropped; one that comes after sees the new bytes and tier
//!   together, since loads decompress under the shard lock.
//! * The charges follow the new size under the same shard lock (`zswap.current`, the
//!   per-tier statistics, `pool_total_size`, the incompressible counts), before a free can
//!   uncharge the entry, so no counter ever runs below zero.

use super::SwapSystem;
use crate::PAGE_SIZE;
use crate::error::Error;
use crate::ids::{MemcgId, Tick};
use crate::memcg::Memcg;
use crate::stat::RecompressReport;
use crate::sync::Ordering;
use crate::zswap::pool::Pool;
use crossbeam_epoch::Guard;

/// Candidates gathered per LRU lock hold.
const BATCH: usize = 32;

/// What `recompress` does (zram's `recompress` arguments).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct RecompressSpec {
    /// Only entries stored at least this many ticks ago (zram's `type=idle`).
    pub min_age: Tick,
    /// Only entries of more than this many compressed bytes (`threshold=`); below a page.
    pub threshold: u32,
    /// At most this many entries are compressed again (`max_pages=`); at least 1.
    pub max_pages: u64,
    /// The compression priority to use (`priority=`): registered, and only entries of a
    /// lower-priority tier are candidates.
    pub priority: u8,
}

/// One candidate: its handle and what the copy was taken from.
struct Candidate {
    handle: u32,
    seq: u64,
    tier: u8,
    length: u32,
    /// The stored bytes (None for a synthetic entry).
    data: Option<Box<[u8]>>,
}

impl SwapSystem {
    /// `recompress`: compress the idle entries of `cg` and its online descendants again
    /// with the tier at `spec.priority`, oldest first, keeping each new copy only when it
    /// is smaller (and below a page). Synthetic entries are resized by the ratio of the
    /// two tiers' `synthetic_permille` (rounded up). Errors, nothing changed: an unknown
    /// or offline memcg; `Invalid` for `max_pages` 0, a threshold of a page or more, a
    /// priority with no compressor registered, or `min_age` above the current tick.
    pub fn recompress(&self, cg: MemcgId, spec: RecompressSpec) -> Result<RecompressReport, Error> {
        let g = self.vspace.reclaim.pin();
        let memcgs = &self.back.memcgs;
        memcgs.online(cg, &g)?;
        if spec.max_pages == 0 {
            return Err(Error::Invalid("recompress needs max_pages above 0"));
        }
        if spec.threshold as usize >= PAGE_SIZE {
            return Err(Error::Invalid("recompress threshold must be below a page"));
        }
        if !self.back.priorities.registered(spec.priority) {
            return Err(Error::Invalid("no compressor registered at this priority"));
        }
        if spec.min_age > self.tick() {
            return Err(Error::Invalid("age threshold before time 0"));
        }
        let mut r = RecompressReport::default();
        for id in memcgs.subtree(cg.raw()) {
            let Some(m) = memcgs.get(id, &g).filter(|m| m.online.load(Ordering::Acquire)) else { continue };
            loop {
                let budget = spec.max_pages - r.attempted;
                let (batch, more) = self.idle_candidates(m, &spec, budget.min(BATCH as u64) as usize, &mut r);
                for c in batch {
                    r.attempted += 1;
                    self.recompress_one(c, spec.priority, &mut r, &g);
                }
                if !more || r.attempted == spec.max_pages {
                    break;
                }
            }
            if r.attempted == spec.max_pages {
                break;
            }
        }
        let s = &self.back.recompress;
        s.attempted.fetch_add(r.attempted, Ordering::Relaxed);
        s.kept.fetch_add(r.recompressed, Ordering::Relaxed);
        s.saved.fetch_add(r.saved_bytes, Ordering::Relaxed);
        Ok(r)
    }

    /// Pop up to `n` candidates off `m`'s idle index (counting every entry examined);
    /// whether the index may hold more idle entries.
    fn idle_candidates(
        &self,
        m: &Memcg,
        spec: &RecompressSpec,
        n: usize,
        r: &mut RecompressReport,
    ) -> (Vec<Candidate>, bool) {
        let now = self.tick();
        let mut out = Vec::new();
        let mut l = m.lru.lock();
        if l.moved_to != 0 {
            return (out, false);
        }
        while out.len() < n {
            let Some(&(handle, seq)) = l.idle.front() else { return (out, false) };
            let seen = self.back.pool.with(handle, |e| {
                (e.seq == seq).then(|| {
                    let young = now.saturating_sub(e.stored) < spec.min_age;
                    let wanted = e.tier < spec.priority && e.length > spec.threshold;
                    let c = || Candidate { handle, seq, tier: e.tier, length: e.length, data: e.data.clone() };
                    (young, wanted.then(c))
                })
            });
            match seen.flatten() {
                // Stored after the threshold: so is everything behind it.
                Some((true, _)) => return (out, false),
                Some((false, c)) => {
                    r.examined += 1;
                    out.extend(c);
                }
                None => {}
            }
            l.idle.pop_front();
        }
        (out, true)
    }

    /// Compress `c` again with the tier at `priority` and swap the copy in if it is
    /// smaller and the entry is unchanged.
    fn recompress_one(&self, c: Candidate, priority: u8, r: &mut RecompressReport, g: &Guard) {
        let back = &self.back;
        let tiers = &back.priorities;
        let new = match &c.data {
            Some(d) => {
                let mut page = [0u8; PAGE_SIZE];
                let raw = if c.length as usize == PAGE_SIZE {
                    Ok(PAGE_SIZE)
                } else {
                    tiers.decompress(c.tier, d, &mut page).map_err(|_| ())
                };
                let src: &[u8] = if c.length as usize == PAGE_SIZE { d } else { &page };
                let mut dst = [0u8; crate::zswap::DST_LEN];
                match (raw, tiers.compress(priority, src, &mut dst)) {
                    (Ok(PAGE_SIZE), Ok(n)) if n != 0 && n < c.length as usize => {
                        Some((n as u32, Some(Box::from(&dst[..n]))))
                    }
                    _ => None,
                }
            }
            None => {
                let permille = |p| tiers.get(p).map_or(1000, |t| u64::from(t.synthetic_permille));
                let n = (u64::from(c.length) * permille(priority)).div_ceil(permille(c.tier));
                (c.length as usize != PAGE_SIZE && n != 0 && n < u64::from(c.length)).then_some((n as u32, None))
            }
        };
        let Some((length, data)) = new else { return };
        let stripe = Pool::stripe(c.handle);
        let swapped = back.pool.with(c.handle, |e| {
            if e.seq != c.seq || e.tier != c.tier || e.length != c.length {
                return false;
            }
            e.data = data;
            e.length = length;
            e.tier = priority;
            // Under the shard lock: a free after this uncharges the new size.
            back.memcgs.recharge_zswap(e.memcg, (c.length, c.tier), (length, priority), g, stripe);
            back.pool.resize(u64::from(c.length), u64::from(length), stripe);
            true
        });
        if swapped == Some(true) {
            r.recompressed += 1;
            r.saved_bytes += u64::from(c.length - length);
        }
    }
}
