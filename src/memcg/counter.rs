//! Hierarchical page counters (`mm/page_counter.c`) and the per-memcg statistics, on
//! the striped counters of [`crate::percpu`].
//!
//! Invariants:
//! * A counter's `usage` is hierarchical: a charge adds to the memcg and every ancestor,
//!   failing (and unwinding) if any level would pass its `max` (`page_counter_try_charge`,
//!   strict `>`); the peak of each level rises as the charge walks up and is not rolled
//!   back on failure, as in the kernel.
//! * Statistics are local to each memcg and summed over the subtree when read (the rstat
//!   flush). Event statistics (`Stats`) take a locked add on the stripe the writer's hint
//!   picks (the slot's cluster, which belongs to one CPU at a time).
//! * The zswap charge (`ZswapCharge`) has one stripe per zswap pool shard, changed only
//!   under that shard's lock: a load and a store, as a per-CPU counter's owner changes it.

use crate::percpu::Striped;
use crate::sync::{AtomicU64, Ordering};

/// `PAGE_COUNTER_MAX`: no limit.
pub(crate) const UNLIMITED: u64 = u64::MAX;

/// One level of a hierarchical counter (`struct page_counter`).
pub(crate) struct Counter {
    pub usage: AtomicU64,
    pub max: AtomicU64,
    pub high: AtomicU64,
    pub peak: AtomicU64,
}

impl Counter {
    pub(crate) fn new() -> Self {
        Self {
            usage: AtomicU64::new(0),
            max: AtomicU64::new(UNLIMITED),
            high: AtomicU64::new(UNLIMITED),
            peak: AtomicU64::new(0),
        }
    }

    /// Add `n` at this level; Err if the result would pass `max` (nothing changed then).
    pub(crate) fn try_add(&self, n: u64) -> Result<u64, ()> {
        let new = self.usage.fetch_add(n, Ordering::AcqRel) + n;
        if new > self.max.load(Ordering::Acquire) {
            self.usage.fetch_sub(n, Ordering::AcqRel);
            return Err(());
        }
        self.raise_peak(new);
        Ok(new)
    }

    /// The watermark: written only when it rises, so a steady counter's line stays shared.
    fn raise_peak(&self, new: u64) {
        if new > self.peak.load(Ordering::Relaxed) {
            self.peak.fetch_max(new, Ordering::AcqRel);
        }
    }

    /// `page_counter_cancel`.
    pub(crate) fn sub(&self, n: u64) {
        let old = self.usage.fetch_sub(n, Ordering::AcqRel);
        debug_assert!(old >= n, "page counter underflow");
    }

    pub(crate) fn get(&self) -> u64 {
        self.usage.load(Ordering::Acquire)
    }
}

/// What a statistic counts: a memcg's `memory.stat` keys and events, and (system-wide
/// only) zswap's debugfs counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(usize)]
pub(crate) enum Stat {
    Zswpin,
    Zswpout,
    Zswpwb,
    ZswpwbProactiveBytes,
    Pswpin,
    Pswpout,
    SwpinZero,
    SwpoutZero,
    EventsHigh,
    EventsMax,
    EventsFail,
    // zswap's debugfs counters, kept system-wide only.
    PoolLimitHit,
    WrittenBackPages,
    RejectReclaimFail,
    RejectAllocFail,
    RejectCompressFail,
    RejectCompressPoor,
    DecompressFail,
}

pub(crate) const NR_STATS: usize = Stat::DecompressFail as usize + 1;

/// Stripes of the statistics (`Stats`).
pub(crate) const STRIPES: usize = 8;

/// Stripes of a memcg's zswap charge (`ZswapCharge`): one per zswap pool shard, whose
/// lock guards it (the pool checks that its shard count agrees).
pub(crate) const ZSWAP_CHARGE_STRIPES: usize = 16;

/// A memcg's zswap charge, one stripe per zswap pool shard: `memory.zswap.current` of
/// its subtree (`MEMCG_ZSWAP_B`, charged on every level), and its own entries' gauges
/// (`zswapped`, `zswap_incomp`, and entries and bytes per compression priority).
///
/// Every change is made under the pool lock of the shard of the entry it charges, the
/// stripe's own: a stripe has one writer at a time, so a change is a load and a store
/// (the kernel's per-CPU `mod_memcg_state`), not a locked add. A reader sums the stripes
/// without the locks: exact once the changes stop. A memcg is freed only after its last
/// entry is uncharged, so its gauges are 0 then and nothing is folded into its parent.
pub(crate) struct ZswapCharge(Striped<CHARGE_FIELDS>);

/// `ZswapCharge` fields: subtree bytes, then entries of tiers 1..=4, bytes of tiers
/// 1..=4, and incompressible bytes.
const CHARGE_FIELDS: usize = 10;
const SUBTREE_BYTES: usize = 0;
const INCOMP_BYTES: usize = 9;

/// The fields of compression priority `priority` (1..=4; others count on tier 1's, which
/// never happens: priorities are validated at the knob and the config).
fn tier_fields(priority: u8) -> (usize, usize) {
    let t = usize::from(priority.clamp(1, 4));
    (t, 4 + t)
}

impl ZswapCharge {
    pub(crate) fn new() -> Self {
        Self(Striped::new(ZSWAP_CHARGE_STRIPES))
    }

    /// Add `n` (wrapping: a negated `n` subtracts) to `field` of stripe `stripe`, whose
    /// shard lock the caller holds.
    fn add_single_writer(&self, field: usize, n: u64, stripe: usize) {
        self.0.add_single_writer(field, n, stripe);
    }

    fn get(&self, field: usize) -> u64 {
        self.0.sum(field, Ordering::Acquire)
    }

    /// `memory.zswap.current` of the subtree, bytes.
    pub(crate) fn bytes(&self) -> u64 {
        self.get(SUBTREE_BYTES)
    }

    /// This memcg's own stored entries (`zswapped` in pages).
    pub(crate) fn entries(&self) -> u64 {
        (1..=4).fold(0u64, |a, t| a.wrapping_add(self.get(tier_fields(t).0)))
    }

    /// This memcg's own entries and their compressed bytes in compression priority `priority`.
    pub(crate) fn tier(&self, priority: u8) -> (u64, u64) {
        let (e, b) = tier_fields(priority);
        (self.get(e), self.get(b))
    }

    /// This memcg's own incompressible bytes (`zswap_incomp`).
    pub(crate) fn incomp(&self) -> u64 {
        self.get(INCOMP_BYTES)
    }

    /// Add `bytes` (wrapping: a negated value subtracts) to the subtree's bytes.
    pub(crate) fn add_subtree(&self, bytes: u64, stripe: usize) {
        self.add_single_writer(SUBTREE_BYTES, bytes, stripe);
    }

    /// One of this memcg's own entries, of `bytes` in tier `priority`, came (`n` = 1) or
    /// went (`n` = `u64::MAX`, that is -1).
    pub(crate) fn add_entry(&self, n: u64, bytes: u64, incomp: bool, priority: u8, stripe: usize) {
        let (e, b) = tier_fields(priority);
        self.add_single_writer(e, n, stripe);
        self.add_single_writer(b, bytes.wrapping_mul(n), stripe);
        if incomp {
            self.add_single_writer(INCOMP_BYTES, (crate::PAGE_SIZE as u64).wrapping_mul(n), stripe);
        }
    }
}

/// Statistics, indexed by `Stat`: one memcg's local ones, or the system's. Striped.
pub(crate) struct Stats(Striped<NR_STATS>);

impl Stats {
    pub(crate) fn new() -> Self {
        Self(Striped::new(STRIPES))
    }
    pub(crate) fn add(&self, s: Stat, n: u64, stripe: usize) {
        self.0.add(s as usize, n, stripe);
    }
    pub(crate) fn get(&self, s: Stat) -> u64 {
        self.0.sum(s as usize, Ordering::Relaxed)
    }
    /// Fold `other` into `self` (a dead memcg's statistics go to its parent).
    pub(crate) fn absorb(&self, other: &Stats) {
        self.0.absorb(&other.0);
    }
    pub(crate) fn snapshot(&self) -> [u64; NR_STATS] {
        self.0.snapshot()
    }
}
