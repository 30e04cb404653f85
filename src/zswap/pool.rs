//! The compressed pool: entries by handle (zsmalloc + the zswap xarray, merged: the
//! handle is what the virtual slot's backend word holds), the pool size, and the
//! global limit with its hysteresis (`zswap_check_limits`).
//!
//! Invariants: a handle names at most one live entry, and a live entry is named by
//! exactly one backend word (its `slot`'s); `total_bytes` is the sum of live entries'
//! `length`. Every count striped by shard (the pool size, the stored and incompressible
//! entries, and the memcgs' zswap charges, which `insert` and `take` make) changes only
//! under its shard's lock, so each stripe has one writer at a time. Shards are picked by
//! the slot's cluster, so CPUs working on their own clusters rarely share a lock
//! (zsmalloc's per-class locks play this part).

use crate::Tick;
use crate::percpu::{Batched, CachePadded, add_single_writer};
use crate::sync::{AtomicBool, AtomicU64, Mutex, Ordering, lock};

/// One stored page (`struct zswap_entry`).
#[derive(Debug)]
pub(crate) struct Entry {
    /// The virtual slot it backs (`swpentry`).
    pub slot: u64,
    /// The compressed bytes (the page itself when `length == PAGE_SIZE`); None for a
    /// synthetic page.
    pub data: Option<Box<[u8]>>,
    /// Compressed length in bytes; `PAGE_SIZE` means stored as-is.
    pub length: u32,
    /// The memcg charged (`objcg`).
    pub memcg: u16,
    /// The priority of the compression priority that compressed it (the entry's `pool`):
    /// loads always decompress with it.
    pub tier: u8,
    /// When it was stored (the proactive-writeback v1 `store_time`).
    pub stored: Tick,
    /// Second-chance bit, set at store.
    pub referenced: bool,
    /// Set by `insert`, unique per shard: tells this entry's LRU element from a stale one
    /// naming the same handle.
    pub seq: u64,
}

const SHARD_BITS: u32 = 4;
/// Shards of the pool: the stripes of every count changed under a shard's lock.
pub(crate) const SHARDS: usize = 1 << SHARD_BITS;
// The memcgs' zswap charges keep one stripe per shard.
const _: () = assert!(SHARDS == crate::memcg::ZSWAP_CHARGE_STRIPES);
/// Handles fit the compact backend word's 31 bits.
const MAX_INDEX: u64 = (1 << (crate::entry::COMPACT_HANDLE_BITS - SHARD_BITS)) - 2;

#[derive(Default)]
struct Shard {
    entries: Vec<Option<Entry>>,
    free: Vec<u32>,
    next_seq: u64,
}

/// A shard's lock with the shard's stripe of `stored_pages` and
/// `stored_incompressible_pages` (changed only under the lock); alone on its cache lines
/// as `CachePadded<ShardLock>`.
struct ShardLock(Mutex<Shard>, [AtomicU64; 2]);

const STORED: usize = 0;
const INCOMPRESSIBLE: usize = 1;

impl ShardLock {
    /// Add `n` (wrapping) to stripe count `which`; the caller holds the lock.
    fn add_single_writer(&self, which: usize, n: u64) {
        add_single_writer(&self.1[which], n);
    }
}

/// The zswap pool.
pub(crate) struct Pool {
    shards: Box<[CachePadded<ShardLock>]>,
    /// `pool_total_size`, bytes, striped by shard and read against the limits in batches.
    total_bytes: Batched,
    reached_full: AtomicBool,
    max_pages: u64,
    accept_pages: u64,
    /// `ShrinkStart::Proactive`: no hysteresis; the worker starts above this many pages.
    proactive_start: Option<u64>,
}

impl Pool {
    /// A pool limited to `max_pool_percent` of `ram_pages`, accepting again at
    /// `accept_percent` of that; `proactive` drops the hysteresis and starts the worker
    /// at `accept_percent + 1` (the 2024 series).
    pub(crate) fn new(ram_pages: u64, max_pool_percent: u32, accept_percent: u32, proactive: bool) -> Self {
        let max_pages = ram_pages.saturating_mul(u64::from(max_pool_percent)) / 100;
        let start = (max_pages.saturating_mul(u64::from(accept_percent) + 1) / 100).min(max_pages);
        Self {
            proactive_start: proactive.then_some(start),
            shards: (0..SHARDS)
                .map(|_| {
                    CachePadded::new(ShardLock(Mutex::new(Shard::default()), [AtomicU64::new(0), AtomicU64::new(0)]))
                })
                .collect(),
            total_bytes: Batched::new(SHARDS, Self::batch(max_pages)),
            reached_full: AtomicBool::new(false),
            max_pages,
            accept_pages: max_pages.saturating_mul(u64::from(accept_percent)) / 100,
        }
    }

    /// The pool size's folding batch: 16 pages, or less for a small pool, so the coarse
    /// count is within a quarter of the limit (`SHARDS * batch`) and still decides most
    /// stores alone.
    fn batch(max_pages: u64) -> u64 {
        let page = crate::PAGE_SIZE as u64;
        (max_pages.saturating_mul(page) / (4 * SHARDS as u64)).clamp(1, 16 * page)
    }

    /// `pool_total_size`: bytes of live entries.
    pub(crate) fn total_bytes(&self) -> u64 {
        self.total_bytes.sum()
    }

    /// The stripe of statistics a change to entry `handle` counts on: its shard's.
    pub(crate) fn stripe(handle: u32) -> usize {
        handle as usize & (SHARDS - 1)
    }

    /// `zswap_check_limits`: true when stores must be refused. Counts `pool_limit_hit`
    /// through `hit`.
    /// With `ShrinkStart::Proactive` there is no hysteresis: only a pool at its limit
    /// refuses.
    pub(crate) fn check_limits(&self, hit: impl FnOnce()) -> bool {
        // Pages are whole: `cur >= max` flips at `(max - 1) * PAGE + 1` bytes and
        // `cur <= accept` at `accept * PAGE`; away from both, the coarse count decides.
        let page = crate::PAGE_SIZE as u64;
        let near = [self.max_pages.saturating_sub(1) * page + 1, self.accept_pages * page];
        let cur = self.total_bytes.read_near(&near).div_ceil(page);
        if cur >= self.max_pages {
            hit();
            if self.proactive_start.is_some() {
                return true;
            }
            self.reached_full.store(true, Ordering::Release);
        } else if self.reached_full.load(Ordering::Acquire) && cur <= self.accept_pages {
            self.reached_full.store(false, Ordering::Release);
        }
        self.reached_full.load(Ordering::Acquire)
    }

    /// `ShrinkStart::Proactive`: whether the pool is above the start threshold
    /// (accept + 1 % of the limit), so a store queues the worker.
    pub(crate) fn above_proactive_start(&self) -> bool {
        let Some(start) = self.proactive_start else { return false };
        let page = crate::PAGE_SIZE as u64;
        self.total_bytes.read_near(&[start * page + 1]).div_ceil(page) > start
    }

    /// Pages the pool occupies, exact when near the accept threshold (the worker's loop
    /// condition `zswap_total_pages() > thr`).
    pub(crate) fn above_accept(&self) -> bool {
        let page = crate::PAGE_SIZE as u64;
        self.total_bytes.read_near(&[self.accept_pages * page + 1]).div_ceil(page) > self.accept_pages
    }

    /// Whether the pool is flagged full (`zswap_pool_reached_full`).
    pub(crate) fn reached_full(&self) -> bool {
        self.reached_full.load(Ordering::Acquire)
    }

    /// (shard, index) of a handle. A handle `insert` never gives out (index field 0)
    /// maps to index `usize::MAX`, which no shard has: its lookups find nothing.
    fn split(handle: u32) -> (usize, usize) {
        ((handle as usize) & (SHARDS - 1), (handle as usize >> SHARD_BITS).wrapping_sub(1))
    }

    /// Store `e` (`zs_malloc` + `xa_store`) in the shard `hint` picks (the slot's cluster,
    /// so one CPU's entries share a shard) and run `charge` with that shard's number
    /// while its lock is held (the charges striped by shard are changed there); the
    /// handle and the entry's `seq`, or None, with nothing charged, when the shard is
    /// full (`reject_alloc_fail`).
    pub(crate) fn insert(&self, mut e: Entry, hint: usize, charge: impl FnOnce(usize)) -> Option<(u32, u64)> {
        let shard_no = hint & (SHARDS - 1);
        let (len, incomp) = (u64::from(e.length), e.length as usize == crate::PAGE_SIZE);
        let shard = &self.shards[shard_no];
        let mut s = lock(&shard.0);
        s.next_seq += 1;
        let seq = s.next_seq;
        e.seq = seq;
        let index = match s.free.pop() {
            Some(i) => {
                s.entries[i as usize] = Some(e);
                i as u64
            }
            None if (s.entries.len() as u64) <= MAX_INDEX => {
                s.entries.push(Some(e));
                s.entries.len() as u64 - 1
            }
            None => return None,
        };
        self.total_bytes.add_single_writer(len, shard_no);
        shard.add_single_writer(STORED, 1);
        if incomp {
            shard.add_single_writer(INCOMPRESSIBLE, 1);
        }
        charge(shard_no);
        drop(s);
        Some(((((index + 1) << SHARD_BITS) | shard_no as u64) as u32, seq))
    }

    /// Remove and return the entry (`xa_erase` + `zswap_entry_free`'s caller), running
    /// `uncharge` on it with its shard's number while the shard's lock is held.
    pub(crate) fn take(&self, handle: u32, uncharge: impl FnOnce(&Entry, usize)) -> Option<Entry> {
        let (shard_no, index) = Self::split(handle);
        let shard = &self.shards[shard_no];
        let mut s = lock(&shard.0);
        let e = s.entries.get_mut(index)?.take()?;
        s.free.push(index as u32);
        self.total_bytes.add_single_writer(u64::from(e.length).wrapping_neg(), shard_no);
        shard.add_single_writer(STORED, u64::MAX);
        if e.length as usize == crate::PAGE_SIZE {
            shard.add_single_writer(INCOMPRESSIBLE, u64::MAX);
        }
        uncharge(&e, shard_no);
        drop(s);
        Some(e)
    }

    /// An entry of `stripe`'s shard went from `old` to `new` bytes (recompression). Only
    /// under that shard's lock: in the closure of [`Pool::with`] for the entry.
    pub(crate) fn resize(&self, old: u64, new: u64, stripe: usize) {
        self.total_bytes.add_single_writer(new.wrapping_sub(old), stripe);
        let page = crate::PAGE_SIZE as u64;
        if (old == page) != (new == page) {
            self.shards[stripe % SHARDS].add_single_writer(INCOMPRESSIBLE, if new == page { 1 } else { u64::MAX });
        }
    }

    /// `stored_pages`: live entries.
    pub(crate) fn stored_pages(&self) -> u64 {
        self.sum_of(STORED)
    }

    /// `stored_incompressible_pages`: live entries stored as-is.
    pub(crate) fn stored_incompressible(&self) -> u64 {
        self.sum_of(INCOMPRESSIBLE)
    }

    fn sum_of(&self, which: usize) -> u64 {
        self.shards.iter().fold(0u64, |a, s| a.wrapping_add(s.1[which].load(Ordering::Acquire)))
    }

    /// Run `f` on the live entry `handle`, under its shard lock.
    pub(crate) fn with<R>(&self, handle: u32, f: impl FnOnce(&mut Entry) -> R) -> Option<R> {
        let (shard_no, index) = Self::split(handle);
        let mut s = lock(&self.shards[shard_no].0);
        s.entries.get_mut(index)?.as_mut().map(f)
    }

    /// The `seq` of the live entry `handle`.
    #[cfg(test)]
    pub(crate) fn seq_of(&self, handle: u32) -> Option<u64> {
        self.with(handle, |e| e.seq)
    }

    /// Keep the elements `(handle, seq)` of `q` whose entry is live with that `seq`, in
    /// order (a pool lookup of each), but a run of elements in one shard shares one
    /// hold of its lock (an LRU's entries come in runs from the cluster they were stored
    /// from), so compaction pays a lock per run, not per element.
    pub(crate) fn retain_live(&self, q: &mut std::collections::VecDeque<(u32, u64)>) {
        let mut held: Option<(usize, crate::sync::MutexGuard<'_, Shard>)> = None;
        q.retain(|&(h, seq)| {
            let (shard_no, index) = Self::split(h);
            let s = match &mut held {
                Some((no, s)) if *no == shard_no => s,
                _ => {
                    // Drop the old guard before taking the next: one shard lock at a time.
                    held = None;
                    &mut held.insert((shard_no, lock(&self.shards[shard_no].0))).1
                }
            };
            s.entries.get(index).and_then(Option::as_ref).is_some_and(|e| e.seq == seq)
        });
    }

    /// Heap bytes of the pool's index (entry slots, free lists), not the compressed data.
    pub(crate) fn index_bytes(&self) -> u64 {
        self.shards
            .iter()
            .map(|s| {
                let s = lock(&s.0);
                (s.entries.capacity() * std::mem::size_of::<Option<Entry>>() + s.free.capacity() * 4) as u64
            })
            .sum()
    }
}

impl crate::memcg::EntryIndex for Pool {
    fn retain_live(&self, q: &mut std::collections::VecDeque<(u32, u64)>) {
        Pool::retain_live(self, q);
    }
    fn stored_at(&self, handle: u32, seq: u64) -> Option<Tick> {
        self.with(handle, |e| (e.seq == seq).then_some(e.stored)).flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(length: u32) -> Entry {
        Entry { slot: 0, data: None, length, memcg: 1, tier: 1, stored: 0, referenced: true, seq: 0 }
    }

    /// Whether shard `no`'s lock is held (by this thread: a std mutex does not re-enter).
    fn held(pool: &Pool, no: usize) -> bool {
        pool.shards[no].0.try_lock().is_err()
    }

    #[test]
    fn charges_run_once_under_the_shards_lock_and_the_counts_follow_the_entries() {
        let pool = Pool::new(1 << 20, 100, 90, false);
        let page = crate::PAGE_SIZE as u32;
        let mut live = Vec::new();
        for i in 0..40usize {
            let length = if i % 4 == 0 { page } else { 1000 + i as u32 };
            let mut ran = None;
            let (h, _) = pool
                .insert(entry(length), i, |no| {
                    assert!(held(&pool, no), "charged outside shard {no}'s lock");
                    assert!(ran.replace(no).is_none(), "charged twice");
                })
                .expect("room");
            assert_eq!(ran, Some(i % SHARDS));
            assert_eq!(Pool::stripe(h), i % SHARDS);
            live.push((h, length));
        }
        let sum = |v: &[(u32, u32)]| v.iter().map(|&(_, l)| u64::from(l)).sum::<u64>();
        let incompressible = |v: &[(u32, u32)]| v.iter().filter(|&&(_, l)| l == page).count() as u64;
        assert_eq!((pool.stored_pages(), pool.stored_incompressible(), pool.total_bytes()), (40, 10, sum(&live)));

        // Every third goes, uncharged under its lock; a second take finds nothing.
        let gone: Vec<_> = live.iter().copied().step_by(3).collect();
        for &(h, length) in &gone {
            let mut ran = false;
            let e = pool.take(h, |e, no| {
                assert!(held(&pool, no) && no == Pool::stripe(h));
                assert_eq!(e.length, length);
                ran = true;
            });
            assert!(ran && e.is_some());
            assert!(pool.take(h, |_, _| panic!("uncharged a freed entry")).is_none());
        }
        live.retain(|x| !gone.contains(x));
        assert_eq!(pool.stored_pages(), live.len() as u64);
        assert_eq!((pool.stored_incompressible(), pool.total_bytes()), (incompressible(&live), sum(&live)));

        // Recompression of an incompressible entry makes it compressible, and back.
        let at = live.iter().position(|&(_, l)| l == page).expect("an incompressible entry");
        let h = live[at].0;
        pool.with(h, |_| pool.resize(u64::from(page), 2000, Pool::stripe(h)));
        live[at].1 = 2000;
        assert_eq!((pool.stored_incompressible(), pool.total_bytes()), (incompressible(&live), sum(&live)));
        pool.with(h, |_| pool.resize(2000, u64::from(page), Pool::stripe(h)));
        live[at].1 = page;
        assert_eq!((pool.stored_incompressible(), pool.total_bytes()), (incompressible(&live), sum(&live)));
    }

    #[test]
    fn handles_never_given_out_find_nothing_and_change_nothing() {
        let pool = Pool::new(1 << 20, 100, 90, false);
        let (h, seq) = pool.insert(entry(1000), 3, |_| {}).expect("room");
        let before = (pool.stored_pages(), pool.total_bytes());
        // Index field 0 (below every handle `insert` makes), an index past the shard's
        // entries, and the largest handle.
        let foreign = (0..SHARDS as u32).chain([h + (1 << SHARD_BITS), u32::MAX]);
        for bad in foreign {
            assert!(pool.with(bad, |_| ()).is_none(), "handle {bad:#x}");
            assert!(pool.take(bad, |_, _| panic!("uncharged through handle {bad:#x}")).is_none());
        }
        let mut q: std::collections::VecDeque<_> = [(0, 0), (h, seq), (u32::MAX, 0)].into();
        pool.retain_live(&mut q);
        assert_eq!(q, [(h, seq)]);
        assert_eq!((pool.stored_pages(), pool.total_bytes()), before);
        assert_eq!(pool.with(h, |e| e.length), Some(1000));
    }
}
