//! Hierarchical page counters (`mm/page_counter.c`) and the per-memcg statistics.
//!
//! A counter's `usage` is hierarchical: a charge adds to the memcg and every ancestor,
//! failing (and unwinding) if any level would pass its `max` (`page_counter_try_charge`,
//! strict `>`); the peak of each level rises as the charge walks up and is not rolled
//! back on failure, as in the kernel. Statistics are local to each memcg and summed over
//! the subtree when read (the rstat flush), so hot paths touch one cache line.

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
        self.peak.fetch_max(new, Ordering::AcqRel);
        Ok(new)
    }

    /// Add `n` without a limit check (`page_counter_charge`).
    pub(crate) fn add(&self, n: u64) -> u64 {
        let new = self.usage.fetch_add(n, Ordering::AcqRel) + n;
        self.peak.fetch_max(new, Ordering::AcqRel);
        new
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

/// Statistics, indexed by `Stat`: one memcg's local ones, or the system's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(usize)]
pub(crate) enum Stat {
    /// `zswapped`, bytes (gauge).
    Zswapped,
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
}

pub(crate) const NR_STATS: usize = Stat::StoredIncompressible as usize + 1;

/// The local statistics array.
pub(crate) struct Stats([AtomicU64; NR_STATS]);

impl Stats {
    pub(crate) fn new() -> Self {
        Self(std::array::from_fn(|_| AtomicU64::new(0)))
    }
    pub(crate) fn add(&self, s: Stat, n: u64) {
        self.0[s as usize].fetch_add(n, Ordering::Relaxed);
    }
    pub(crate) fn sub(&self, s: Stat, n: u64) {
        self.0[s as usize].fetch_sub(n, Ordering::Relaxed);
    }
    pub(crate) fn get(&self, s: Stat) -> u64 {
        self.0[s as usize].load(Ordering::Relaxed)
    }
    /// Fold `other` into `self` (a dead memcg's statistics go to its parent).
    pub(crate) fn absorb(&self, other: &Stats) {
        for (a, b) in self.0.iter().zip(other.0.iter()) {
            a.fetch_add(b.load(Ordering::Relaxed), Ordering::Relaxed);
        }
    }
    pub(crate) fn snapshot(&self) -> [u64; NR_STATS] {
        std::array::from_fn(|i| self.0[i].load(Ordering::Relaxed))
    }
}
