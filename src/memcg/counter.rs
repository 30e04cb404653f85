//! Hierarchical page counters (`mm/page_counter.c`) and the per-memcg statistics.
//!
//! A counter's `usage` is hierarchical: a charge adds to the memcg and every ancestor,
//! failing (and unwinding) if any level would pass its `max` (`page_counter_try_charge`,
//! strict `>`); the peak of each level rises as the charge walks up and is not rolled
//! back on failure, as in the kernel. Statistics are local to each memcg and summed over
//! the subtree when read (the rstat flush). Statistics and byte gauges are striped over
//! cache-line-padded stripes (the kernel's per-CPU counters): a writer adds to the stripe
//! its hint picks (the slot's cluster, which belongs to one CPU at a time), a reader sums
//! them with wrapping arithmetic, so the total is exact whatever stripe each change hit.

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
    // `zswapped` is not kept: it is `PAGE_SIZE` times the tiers' entries
    // (`Stats::entries`), which saves a locked add on every store and every free.
    /// `zswap_incomp`, bytes (gauge).
    ZswapIncomp,
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
    StoredPages,
    StoredIncompressible,
    // Per compression tier (priority 1..=4): entries, and their compressed bytes (gauges).
    Tier1Entries,
    Tier2Entries,
    Tier3Entries,
    Tier4Entries,
    Tier1Bytes,
    Tier2Bytes,
    Tier3Bytes,
    Tier4Bytes,
}

pub(crate) const NR_STATS: usize = Stat::Tier4Bytes as usize + 1;

impl Stat {
    /// The entry count of compression tier `priority` (1..=4; others count on tier 1's,
    /// which never happens: priorities are validated at the knob and the config).
    pub(crate) fn tier_entries(priority: u8) -> Stat {
        match priority {
            2 => Stat::Tier2Entries,
            3 => Stat::Tier3Entries,
            4 => Stat::Tier4Entries,
            _ => Stat::Tier1Entries,
        }
    }

    /// The compressed bytes of compression tier `priority` (1..=4), as `tier_entries`.
    pub(crate) fn tier_bytes(priority: u8) -> Stat {
        match priority {
            2 => Stat::Tier2Bytes,
            3 => Stat::Tier3Bytes,
            4 => Stat::Tier4Bytes,
            _ => Stat::Tier1Bytes,
        }
    }
}

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

/// A striped byte gauge (`MEMCG_ZSWAP_B`, the pool size).
pub(crate) struct Striped(Box<[Line<AtomicU64>]>);

impl Striped {
    pub(crate) fn new() -> Self {
        Self(crate::sync::zeroed(STRIPES))
    }
    pub(crate) fn add(&self, n: u64, stripe: usize) {
        self.0[stripe % STRIPES].0.fetch_add(n, Ordering::AcqRel);
    }
    pub(crate) fn sub(&self, n: u64, stripe: usize) {
        self.0[stripe % STRIPES].0.fetch_sub(n, Ordering::AcqRel);
    }
    /// The exact total (stripes wrap; their sum does not).
    pub(crate) fn get(&self) -> u64 {
        self.0.iter().fold(0u64, |a, l| a.wrapping_add(l.0.load(Ordering::Acquire)))
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
    pub(crate) fn sub(&self, s: Stat, n: u64, stripe: usize) {
        self.0[stripe % STRIPES].0[s as usize].fetch_sub(n, Ordering::Relaxed);
    }
    pub(crate) fn get(&self, s: Stat) -> u64 {
        self.0.iter().fold(0u64, |a, l| a.wrapping_add(l.0[s as usize].load(Ordering::Relaxed)))
    }
    /// Stored zswap entries, over every compression tier (`zswapped` in pages).
    pub(crate) fn entries(&self) -> u64 {
        (1..=4).fold(0u64, |a, t| a.wrapping_add(self.get(Stat::tier_entries(t))))
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
