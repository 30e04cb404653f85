//! `memory.swap.tiers.max` (the swap-tier series' memcg patch): which swap tiers a
//! memcg's pages may take physical slots from.
//!
//! Invariants:
//! * A memcg's effective mask is the AND of its own mask and every ancestor's, so a child
//!   narrows its parent's set and never widens it. It is computed by the lock-free walk
//!   up the tree that `writeback_enabled` does, not cached per memcg as the kernel caches
//!   `tier_effective_mask`: the same value, without a subtree rewrite per write.
//! * Mask writes and tier removals are serialized by the caller (the swapon lock), so a
//!   removed tier's bit, re-allowed in every memcg, is never cleared again by a write that
//!   validated against the old table.
//! * `DEFAULT_TIER_BIT` is never cleared: devices without a tier serve every memcg.

use super::{Memcg, Memcgs};

/// `Memcg::writeback_tier` unset.
pub(crate) const NO_TIER: u8 = u8::MAX;
use crate::device::DEFAULT_TIER_BIT;
use crate::error::Error;
use crate::ids::MemcgId;
use crate::sync::Ordering;
use crossbeam_epoch::Guard;

impl Memcgs {
    /// `folio_tier_effective_mask`: the tiers `m`'s pages may use.
    pub(crate) fn swap_tier_mask(&self, m: &Memcg, g: &Guard) -> u32 {
        self.ancestry(m, g).fold(u32::MAX, |mask, a| mask & a.swap_tiers.load(Ordering::Acquire))
    }

    /// Write `memory.swap.tiers.max` for tier `idx` of the configured `live` bits: `max`
    /// (`enabled`) or `0`. A write that would leave `id` or one of its descendants with
    /// no configured tier allowed is refused (the crate's rule, see `Knob::SwapTierMax`).
    pub(crate) fn set_swap_tier(&self, id: MemcgId, idx: u8, enabled: bool, live: u32, g: &Guard) -> Result<(), Error> {
        let m = self.online(id, g)?;
        if m.parent == 0 {
            return Err(Error::Invalid("the root memcg has no memory.swap.tiers.max"));
        }
        let bit = 1u32.checked_shl(u32::from(idx)).filter(|b| b & live != 0 && *b != DEFAULT_TIER_BIT);
        let bit = bit.ok_or(Error::Invalid("no swap tier of this index"))?;
        if !enabled {
            // Every memcg of the subtree, with `bit` cleared at `m`: does it keep a tier?
            let starved = self
                .subtree(m.id)
                .into_iter()
                .filter_map(|d| self.get(d, g))
                .filter(|d| d.online.load(Ordering::Acquire))
                .any(|d| {
                    let mask = self.ancestry(d, g).fold(u32::MAX, |mask, a| {
                        let own = a.swap_tiers.load(Ordering::Acquire);
                        mask & if a.id == m.id { own & !bit } else { own }
                    });
                    mask & live == 0
                });
            if starved {
                return Err(Error::Invalid("memory.swap.tiers.max would allow no swap tier (use memory.swap.max 0)"));
            }
            m.swap_tiers.fetch_and(!bit, Ordering::AcqRel);
        } else {
            m.swap_tiers.fetch_or(bit, Ordering::AcqRel);
        }
        Ok(())
    }

    /// The tiers `bits` were removed: allow them again in every memcg, dead ones
    /// included, so a tier created later in the same slot starts allowed everywhere, and
    /// unset every `Knob::ZswapWritebackTier` naming one.
    pub(crate) fn allow_swap_tiers(&self, bits: u32, g: &Guard) {
        if bits == 0 {
            return;
        }
        for id in self.subtree(MemcgId::ROOT.raw()) {
            if let Some(m) = self.get(id, g) {
                m.swap_tiers.fetch_or(bits, Ordering::AcqRel);
                let t = m.writeback_tier.load(Ordering::Acquire);
                if t != NO_TIER && bits & 1 << t != 0 {
                    m.writeback_tier.store(NO_TIER, Ordering::Release);
                }
            }
        }
    }

    /// Write `Knob::ZswapWritebackTier`: `Some(idx)` of a configured (`live`) tier, or
    /// `None` to inherit.
    pub(crate) fn set_writeback_tier(&self, id: MemcgId, tier: Option<u8>, live: u32, g: &Guard) -> Result<(), Error> {
        let m = self.online(id, g)?;
        let t = match tier {
            None => NO_TIER,
            Some(t) if t < 31 && live & 1 << t != 0 => t,
            Some(_) => return Err(Error::Invalid("no swap tier of this index")),
        };
        m.writeback_tier.store(t, Ordering::Release);
        Ok(())
    }

    /// The effective `Knob::ZswapWritebackTier` of `m`: its own, else the nearest
    /// ancestor's, as a mask bit (0 when none is set).
    pub(crate) fn writeback_tier(&self, m: &Memcg, g: &Guard) -> u32 {
        let t = self.ancestry(m, g).map(|a| a.writeback_tier.load(Ordering::Acquire)).find(|&t| t != NO_TIER);
        t.map_or(0, |t| 1 << t)
    }
}
