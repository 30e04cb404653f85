//! Hierarchical page counters (`mm/page_counter.c`) and the per-memcg statistics.
//!
//! A counter's `usage` is hierarchical: a charge adds to the memcg and every ancestor,
//! failing (and unwinding) if any level would pass its `max` (`page_counter_try_charge`,
//! strict `>`); the peak of each level rises as the charge walks up and is not rolled
//! back on failure, as in the kernel. Statistics are local to each memcg and summed over
//! the subtree when read (the rstat flush). Statistics and byte gauges are striped over
//! cache-line-padded stripes (the kernel's per-CPU counters), and a reader sums them with
//! wrapping arithmetic, so the total is exact whatever stripe each change hit. Event
//! statistics (`Stats`) take a locked add on the stripe the writer's hint picks (the
//! slot's cluster, which belongs to one CPU at a time). The zswap charge (`ZswapCharge`)
//! and the pool size (`Batched`) have one stripe per zswap pool shard, changed only under
//! that shard's lock: a load and a store, as a per-CPU counter's owner changes it.

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

/// Stripes of a striped counter.
pub(crate) const STRIPES: usize = 8;

/// A value alone on its cache lines (two, against the adjacent-line prefetcher): a
/// stripe, or a field that one thread writes while others use its neighbours.
#[repr(align(128))]
pub(crate) struct Line<T>(pub T);

impl<T> std::ops::Deref for Line<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

// SAFETY: a padded `Zero` value is zero bytes throughout (padding is never read).
unsafe impl<T: crate::sync::Zero> crate::sync::Zero for Line<T> {
    fn zero() -> Self {
        Line(T::zero())
    }
}

/// Add `n` (wrapping: a negated `n` subtracts) to a count that only holders of one lock
/// change, with the lock held: a load and a store, where a count shared by writers needs
/// a locked add. Readers without the lock see the old or the new value.
pub(crate) fn add_locked(a: &AtomicU64, n: u64) {
    a.store(a.load(Ordering::Relaxed).wrapping_add(n), Ordering::Release);
}

/// A memcg's zswap charge, one stripe per zswap pool shard: `memory.zswap.current` of
/// its subtree (`MEMCG_ZSWAP_B`, charged on every level), and its own entries' gauges
/// (`zswapped`, `zswap_incomp`, and entries and bytes per compression tier).
///
/// Every change is made under the pool lock of the shard of the entry it charges, the
/// stripe's own: a stripe has one writer at a time, so a change is a load and a store
/// (the kernel's per-CPU `mod_memcg_state`), not a locked add. A reader sums the stripes
/// without the locks: exact once the changes stop. A memcg is freed only after its last
/// entry is uncharged, so its gauges are 0 then and nothing is folded into its parent.
pub(crate) struct ZswapCharge(Box<[Line<[AtomicU64; CHARGE_FIELDS]>]>);

/// `ZswapCharge` fields: subtree bytes, then entries of tiers 1..=4, bytes of tiers
/// 1..=4, and incompressible bytes.
const CHARGE_FIELDS: usize = 10;
const SUBTREE_BYTES: usize = 0;
const INCOMP_BYTES: usize = 9;

/// The fields of compression tier `priority` (1..=4; others count on tier 1's, which
/// never happens: priorities are validated at the knob and the config).
fn tier_fields(priority: u8) -> (usize, usize) {
    let t = usize::from(priority.clamp(1, 4));
    (t, 4 + t)
}

impl ZswapCharge {
    pub(crate) fn new() -> Self {
        Self(crate::sync::zeroed(crate::zswap::pool::SHARDS))
    }

    /// Add `n` (wrapping: a negated `n` subtracts) to `field` of stripe `stripe`, whose
    /// shard lock the caller holds.
    fn add_locked(&self, field: usize, n: u64, stripe: usize) {
        add_locked(&self.0[stripe % self.0.len()].0[field], n);
    }

    fn get(&self, field: usize) -> u64 {
        self.0.iter().fold(0u64, |a, l| a.wrapping_add(l.0[field].load(Ordering::Acquire)))
    }

    /// `memory.zswap.current` of the subtree, bytes.
    pub(crate) fn bytes(&self) -> u64 {
        self.get(SUBTREE_BYTES)
    }

    /// This memcg's own stored entries (`zswapped` in pages).
    pub(crate) fn entries(&self) -> u64 {
        (1..=4).fold(0u64, |a, t| a.wrapping_add(self.get(tier_fields(t).0)))
    }

    /// This memcg's own entries and their compressed bytes in compression tier `priority`.
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
        self.add_locked(SUBTREE_BYTES, bytes, stripe);
    }

    /// One of this memcg's own entries, of `bytes` in tier `priority`, came (`n` = 1) or
    /// went (`n` = `u64::MAX`, that is -1).
    pub(crate) fn add_entry(&self, n: u64, bytes: u64, incomp: bool, priority: u8, stripe: usize) {
        let (e, b) = tier_fields(priority);
        self.add_locked(e, n, stripe);
        self.add_locked(b, bytes.wrapping_mul(n), stripe);
        if incomp {
            self.add_locked(INCOMP_BYTES, (crate::PAGE_SIZE as u64).wrapping_mul(n), stripe);
        }
    }
}

/// A byte count read mostly against thresholds (`struct percpu_counter` with
/// `__percpu_counter_compare`): each stripe keeps a delta, folded into `coarse` once it
/// reaches `batch`, so `coarse` is within `stripes * batch` of the exact total and a
/// caller compares with it alone while a threshold is farther than that; only near one
/// does it sum the stripes.
///
/// Each stripe belongs to one lock of the caller's (a zswap pool shard's), held for every
/// change to it, as a `percpu_counter`'s delta belongs to its CPU: a change is a load and
/// a store, not a locked add, and only a fold is a read-modify-write. Folding adds to
/// `coarse` before clearing the stripe, so a racing reader may count the amount being
/// folded twice or not at all (`sum` stops at 0 rather than wrap); it is exact once the
/// changes stop.
pub(crate) struct Batched {
    coarse: Line<AtomicU64>,
    stripes: Box<[Line<AtomicU64>]>,
    batch: u64,
}

impl Batched {
    /// `stripes` stripes (at least one), folding at `batch`.
    pub(crate) fn new(stripes: usize, batch: u64) -> Self {
        Self { coarse: Line(AtomicU64::new(0)), stripes: crate::sync::zeroed(stripes.max(1)), batch }
    }

    /// Add `n` (wrapping: a negated `n` subtracts) on stripe `stripe`. The caller holds the
    /// stripe's lock, so nothing else changes the stripe meanwhile.
    pub(crate) fn add_locked(&self, n: u64, stripe: usize) {
        let line = &self.stripes[stripe % self.stripes.len()].0;
        let v = line.load(Ordering::Relaxed).wrapping_add(n);
        if (v as i64).unsigned_abs() >= self.batch {
            self.coarse.0.fetch_add(v, Ordering::AcqRel);
            line.store(0, Ordering::Release);
        } else {
            line.store(v, Ordering::Release);
        }
    }

    /// The total (`percpu_counter_sum`). A decrement being folded can be counted twice,
    /// which may take the sum below 0 for a moment: 0 then, not a wrapped 2^64 - x.
    pub(crate) fn sum(&self) -> u64 {
        let stripes = self.stripes.iter().fold(0u64, |a, l| a.wrapping_add(l.0.load(Ordering::Acquire)));
        let s = self.coarse.0.load(Ordering::Acquire).wrapping_add(stripes);
        (s as i64).max(0) as u64
    }

    /// The total, summed only if it might lie within `stripes * batch` of a threshold in
    /// `near` (`__percpu_counter_compare`).
    pub(crate) fn read_near(&self, near: &[u64]) -> u64 {
        let approx = self.coarse.0.load(Ordering::Acquire) as i64;
        let slack = (self.stripes.len() as u64).saturating_mul(self.batch) as i64;
        let clear = near.iter().all(|&t| {
            let t = i64::try_from(t).unwrap_or(i64::MAX);
            approx.saturating_add(slack) < t || approx.saturating_sub(slack) > t
        });
        if clear { approx.max(0) as u64 } else { self.sum() }
    }
}

/// Statistics, indexed by `Stat`: one memcg's local ones, or the system's. Striped.
pub(crate) struct Stats(Box<[Line<[AtomicU64; NR_STATS]>]>);

impl Stats {
    pub(crate) fn new() -> Self {
        Self(crate::sync::zeroed(STRIPES))
    }
    pub(crate) fn add(&self, s: Stat, n: u64, stripe: usize) {
        self.0[stripe % STRIPES].0[s as usize].fetch_add(n, Ordering::Relaxed);
    }
    pub(crate) fn get(&self, s: Stat) -> u64 {
        self.0.iter().fold(0u64, |a, l| a.wrapping_add(l.0[s as usize].load(Ordering::Relaxed)))
    }
    /// Fold `other` into `self` (a dead memcg's statistics go to its parent).
    pub(crate) fn absorb(&self, other: &Stats) {
        for (i, v) in other.snapshot().into_iter().enumerate() {
            self.0[0].0[i].fetch_add(v, Ordering::Relaxed);
        }
    }
    pub(crate) fn snapshot(&self) -> [u64; NR_STATS] {
        std::array::from_fn(|i| self.0.iter().fold(0u64, |a, l| a.wrapping_add(l.0[i].load(Ordering::Relaxed))))
    }
}
