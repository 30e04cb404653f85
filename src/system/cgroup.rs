//! The memcg files on the facade: `mkdir`, `rmdir`, the writable limits and
//! `memory.stat` (docs/api.md "Memory cgroups").
//!
//! Invariants: the swap-tier knobs are written under the swapon lock, so the tier table
//! they are checked against cannot change before the value is stored; an offline memcg's
//! walk cursors move on inside `memcg_offline` (`zswap_memcg_offline_cleanup`), before
//! its online reference is dropped.

use super::SwapSystem;
use crate::device::SwapTier;
use crate::error::Error;
use crate::ids::{Knob, MemcgId};
use crate::stat::MemcgStat;
use crate::sync::{Ordering, lock};

impl SwapSystem {
    /// `mkdir` under `parent` (online): a new online memcg, its id the lowest free one.
    pub fn memcg_create(&self, parent: MemcgId) -> Result<MemcgId, Error> {
        self.back.memcgs.create(parent, &self.vspace.reclaim.pin())
    }

    /// Write `memory.swap.max`, `memory.swap.high`, `memory.zswap.max`,
    /// `memory.zswap.writeback`, the memcg's compression priority (`Knob::ZswapCompressionPriority`)
    /// or one swap tier of `memory.swap.tiers.max` (`Knob::SwapTierMax`). Lowering a limit below the usage forces nothing out;
    /// changing the compression priority leaves entries already stored as they are.
    pub fn memcg_set(&self, cg: MemcgId, knob: Knob) -> Result<(), Error> {
        let g = self.vspace.reclaim.pin();
        let memcgs = &self.back.memcgs;
        // The tier knobs under the swapon lock: the tier table cannot change until the
        // value is written.
        let live = || (lock(&self.swapon), lock(&self.back.devices.tiers).live_bits());
        match knob {
            Knob::SwapTierMax { tier, enabled } => {
                let (_l, live) = live();
                memcgs.set_swap_tier(cg, tier, enabled, live, &g)
            }
            Knob::ZswapWritebackTier(t) => {
                let (_l, live) = live();
                memcgs.set_writeback_tier(cg, t, live, &g)
            }
            _ => memcgs.set(cg, knob, |p| self.back.priorities.registered(p), &g),
        }
    }

    /// The swap tier `cg`'s zswap writeback tries first (`Knob::ZswapWritebackTier`, its
    /// own or the nearest ancestor's), if one is set.
    pub fn memcg_writeback_tier(&self, cg: MemcgId) -> Result<Option<SwapTier>, Error> {
        let g = self.vspace.reclaim.pin();
        let bit = self.back.memcgs.writeback_tier(self.back.memcgs.online(cg, &g)?, &g);
        Ok(self.swap_tiers().into_iter().find(|t| bit == 1 << t.idx))
    }

    /// `memory.swap.tiers.max` as read: each configured swap tier, highest first, and
    /// whether `cg`'s own setting allows it (`max`) or not (`0`). Ancestors may forbid a
    /// tier `cg` allows; [`SwapSystem::memcg_swap_tiers_effective`] says what applies.
    pub fn memcg_swap_tiers(&self, cg: MemcgId) -> Result<Vec<(SwapTier, bool)>, Error> {
        let g = self.vspace.reclaim.pin();
        let m = self.back.memcgs.online(cg, &g)?;
        if m.parent == 0 {
            return Err(Error::Invalid("the root memcg has no memory.swap.tiers.max"));
        }
        let own = m.swap_tiers.load(Ordering::Acquire);
        Ok(self.swap_tiers().into_iter().map(|t| (t.clone(), own & 1 << t.idx != 0)).collect())
    }

    /// The swap tiers `cg`'s pages may take slots from: those `cg` and every ancestor
    /// allow (the kernel's `tier_effective_mask`, which it does not expose), highest
    /// first. Every tier for the root.
    pub fn memcg_swap_tiers_effective(&self, cg: MemcgId) -> Result<Vec<SwapTier>, Error> {
        let g = self.vspace.reclaim.pin();
        let mask = self.back.memcgs.swap_tier_mask(self.back.memcgs.online(cg, &g)?, &g);
        Ok(self.swap_tiers().into_iter().filter(|t| mask & 1 << t.idx != 0).collect())
    }

    /// The compression priority `cg`'s new zswap stores use: its own
    /// `Knob::ZswapCompressionPriority`, else the nearest ancestor's, else 1.
    pub fn memcg_compression_priority(&self, cg: MemcgId) -> Result<u8, Error> {
        let g = self.vspace.reclaim.pin();
        let m = self.back.memcgs.online(cg, &g)?;
        Ok(self.back.memcgs.compression_priority(m, &g))
    }

    /// Deprecated name of [`SwapSystem::memcg_compression_priority`].
    #[deprecated(since = "0.2.0", note = "renamed to `memcg_compression_priority`")]
    pub fn memcg_compressor(&self, cg: MemcgId) -> Result<u8, Error> {
        self.memcg_compression_priority(cg)
    }

    /// `rmdir`: take `cg` offline. Its charges stay counted in its ancestors and new ones
    /// for its pages go to the nearest online ancestor; its id is reused only once no slot
    /// or zswap entry refers to it. Its zswap LRU moves, in order, to the front of the
    /// nearest online ancestor's, and every walk cursor resting on it moves on
    /// (`zswap_memcg_offline_cleanup`). The root cannot go offline (`Invalid`).
    pub fn memcg_offline(&self, cg: MemcgId) -> Result<(), Error> {
        let g = self.vspace.reclaim.pin();
        self.back.memcgs.offline(cg, &self.back.pool, &g, |m| self.zswap().offline_cursors(m, &g))
    }

    /// The hierarchical statistics of an online memcg (`memory.stat`, `memory.swap.*`,
    /// `memory.zswap.*`).
    pub fn memcg_stat(&self, cg: MemcgId) -> Result<MemcgStat, Error> {
        let g = self.vspace.reclaim.pin();
        let mut stat = self.back.memcgs.stat(cg, &g)?;
        let devs = &self.back.devices;
        let table = lock(&devs.tiers);
        let tiers = table.list();
        if tiers.is_empty() {
            return Ok(stat);
        }
        let (ids, tier_of): (Vec<u8>, Vec<Option<u8>>) = (0..crate::device::MAX_DEVICES as u8)
            .filter_map(|i| devs.get(i, &g).map(|d| (i, table.containing(d.priority))))
            .unzip();
        let by_device = self.back.memcgs.swap_by_device(cg, &ids, &g)?;
        stat.swap_tiers = (tiers.into_iter())
            .map(|tier| {
                let on = tier_of.iter().zip(&by_device).filter(|&(&t, _)| t == Some(tier.idx));
                // Relaxed counters of several memcgs, read while pages move between them,
                // can sum below 0 for a moment: 0 then, never a wrapped count or an
                // overflow panic.
                let entries = on.fold(0u64, |a, (_, &n)| a.saturating_add((n as i64).max(0) as u64));
                let bytes = entries.saturating_mul(crate::PAGE_SIZE as u64);
                crate::stat::SwapTierStat { tier, entries, bytes }
            })
            .collect();
        Ok(stat)
    }

    /// `memcg_stat(cg)?.zswap_current` alone, without summing the subtree's statistics
    /// (a simulator reads it for every memcg every tick). Same errors as `memcg_stat`.
    pub fn memcg_zswap_current(&self, cg: MemcgId) -> Result<u64, Error> {
        Ok(self.back.memcgs.online(cg, &self.vspace.reclaim.pin())?.zswap.bytes())
    }

    /// `stat().pool_total_size` alone, without the table gauges' walk over every live
    /// cluster (debugfs `zswap/pool_total_size`).
    pub fn pool_total_size(&self) -> u64 {
        self.back.pool.total_bytes()
    }
}
