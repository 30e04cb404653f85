//! Striped counters (the kernel's per-CPU counters, `include/linux/percpu_counter.h`
//! and the per-CPU parts of `mod_memcg_state`), a bottom module: it knows neither memcgs
//! nor zswap, which both count with it.
//!
//! Invariants:
//! * Every stripe sits alone on its cache lines ([`CachePadded`]: two lines on x86_64,
//!   against the adjacent-line prefetcher), so writers on different stripes never share
//!   a line.
//! * A reader sums the stripes with wrapping arithmetic: a change may land on any stripe
//!   (even a decrement on a stripe that never saw the increment), and the total is exact
//!   once the changes stop.
//! * Two kinds of writers. Shared stripes ([`Striped::add`]) take a locked add, as several
//!   writers may hit one stripe. Single-writer stripes ([`add_single_writer`],
//!   [`Striped::add_single_writer`], [`Batched`]) belong to one lock of the caller's (a
//!   zswap pool shard's), held for every change: a change is a load and a store, as a
//!   per-CPU counter's owner changes its own delta, and readers without the lock see the
//!   old or the new value.

pub(crate) use crossbeam_utils::CachePadded;

use crate::sync::{AtomicU64, Ordering};

// SAFETY: a padded `Zero` value is zero bytes throughout (padding is never read), and
// `CachePadded` holds nothing but its value.
unsafe impl<T: crate::sync::Zero> crate::sync::Zero for CachePadded<T> {
    fn zero() -> Self {
        CachePadded::new(T::zero())
    }
}

/// Add `n` (wrapping: a negated `n` subtracts) to a count that has one writer at a time
/// (the holder of the one lock that guards it): a load and a store, where a count shared
/// by writers needs a locked add. Readers without the lock see the old or the new value.
pub(crate) fn add_single_writer(a: &AtomicU64, n: u64) {
    a.store(a.load(Ordering::Relaxed).wrapping_add(n), Ordering::Release);
}

/// `N` counts, striped: each stripe holds all `N` on its own cache lines.
pub(crate) struct Striped<const N: usize>(Box<[CachePadded<[AtomicU64; N]>]>);

impl<const N: usize> Striped<N> {
    /// `stripes` stripes of zeros.
    pub(crate) fn new(stripes: usize) -> Self {
        Self(crate::sync::zeroed(stripes))
    }

    fn stripe(&self, stripe: usize) -> &[AtomicU64; N] {
        &self.0[stripe % self.0.len()]
    }

    /// Add `n` to count `i` on stripe `stripe`, whatever else writes it (a locked add).
    pub(crate) fn add(&self, i: usize, n: u64, stripe: usize) {
        self.stripe(stripe)[i].fetch_add(n, Ordering::Relaxed);
    }

    /// Add `n` (wrapping) to count `i` on stripe `stripe`, whose one writer the caller is
    /// ([`add_single_writer`]).
    pub(crate) fn add_single_writer(&self, i: usize, n: u64, stripe: usize) {
        add_single_writer(&self.stripe(stripe)[i], n);
    }

    /// Count `i` over every stripe, each stripe read with `order`.
    pub(crate) fn sum(&self, i: usize, order: Ordering) -> u64 {
        self.0.iter().fold(0u64, |a, l| a.wrapping_add(l[i].load(order)))
    }

    /// Every count, summed over the stripes (relaxed).
    pub(crate) fn snapshot(&self) -> [u64; N] {
        std::array::from_fn(|i| self.sum(i, Ordering::Relaxed))
    }

    /// Fold `other`'s totals into stripe 0 (a dead memcg's statistics go to its parent).
    pub(crate) fn absorb(&self, other: &Self) {
        for (i, v) in other.snapshot().into_iter().enumerate() {
            self.0[0][i].fetch_add(v, Ordering::Relaxed);
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
    coarse: CachePadded<AtomicU64>,
    stripes: Box<[CachePadded<AtomicU64>]>,
    batch: u64,
}

impl Batched {
    /// `stripes` stripes (at least one), folding at `batch`.
    pub(crate) fn new(stripes: usize, batch: u64) -> Self {
        Self { coarse: CachePadded::new(AtomicU64::new(0)), stripes: crate::sync::zeroed(stripes.max(1)), batch }
    }

    /// Add `n` (wrapping: a negated `n` subtracts) on stripe `stripe`, whose lock the
    /// caller holds: nothing else changes the stripe meanwhile (`percpu_counter_add_batch`).
    pub(crate) fn add_single_writer(&self, n: u64, stripe: usize) {
        let line = &*self.stripes[stripe % self.stripes.len()];
        let v = line.load(Ordering::Relaxed).wrapping_add(n);
        if (v as i64).unsigned_abs() >= self.batch {
            self.coarse.fetch_add(v, Ordering::AcqRel);
            line.store(0, Ordering::Release);
        } else {
            line.store(v, Ordering::Release);
        }
    }

    /// The total (`percpu_counter_sum`). A decrement being folded can be counted twice,
    /// which may take the sum below 0 for a moment: 0 then, not a wrapped 2^64 - x.
    pub(crate) fn sum(&self) -> u64 {
        let stripes = self.stripes.iter().fold(0u64, |a, l| a.wrapping_add(l.load(Ordering::Acquire)));
        let s = self.coarse.load(Ordering::Acquire).wrapping_add(stripes);
        (s as i64).max(0) as u64
    }

    /// The total, summed only if it might lie within `stripes * batch` of a threshold in
    /// `near` (`__percpu_counter_compare`).
    pub(crate) fn read_near(&self, near: &[u64]) -> u64 {
        let approx = self.coarse.load(Ordering::Acquire) as i64;
        let slack = (self.stripes.len() as u64).saturating_mul(self.batch) as i64;
        let clear = near.iter().all(|&t| {
            let t = i64::try_from(t).unwrap_or(i64::MAX);
            approx.saturating_add(slack) < t || approx.saturating_sub(slack) > t
        });
        if clear { approx.max(0) as u64 } else { self.sum() }
    }
}
