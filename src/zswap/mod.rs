//! zswap: the compressed swap cache in front of the devices (`mm/zswap.c`, docs/kernel.md
//! §5).
//!
//! Module map: `pool` (entries by handle, the pool size and its limit), `compress` (the
//! page compressors and the registered compression priorities), `store` (`zswap_store`),
//! `load` (`zswap_load` and the entry's free, `zswap_entry_free`), `shrink` (the LRU walk,
//! the memcg-aware shrinker, the global shrink worker and proactive writeback). The
//! per-memcg LRU lists live with the memcgs (`crate::memcg::lru`); the facade
//! (`SwapSystem`) owns the swap table and the devices and calls in here with a `Zswap`
//! view, handing its own part back through `SwapLayer` (writing one entry back to a
//! device, `zswap_writeback_entry`, needs the swap cache and the devices).
//!
//! Invariants:
//! * zswap charges through memcg (`obj_cgroup_charge_zswap`), never the reverse: nothing
//!   under `crate::memcg` names this module.
//! * Every charge of an entry is made and unmade under its pool shard's lock (`Pool::insert`
//!   and `Pool::take` run the charge closures there), so the charge stripes have one
//!   writer at a time.
//! * Lock order: an LRU lock, then a pool shard lock; the shrinker's cursor lock, then the
//!   memcg tree lock.

mod compress;
mod load;
#[cfg(test)]
mod lru_tests;
pub(crate) mod pool;
pub(crate) mod shrink;
mod store;

/// Deprecated name of [`PageCompressor`] (`crate::CompressionMode` is the config enum).
/// Rust does not warn on a re-export's deprecation; the alias is the same trait.
#[deprecated(since = "0.2.0", note = "renamed to `PageCompressor`")]
pub use compress::PageCompressor as Compressor;
pub use compress::{CompressError, DST_LEN, Deflate, Lz4, PageCompressor};
pub(crate) use compress::{Priorities, synthetic, verdict};
pub(crate) use load::{decompress, free_entry};
pub(crate) use store::Refused;

use crate::Tick;
use crate::config::Config;
use crate::error::Error;
use crate::memcg::{Memcg, Memcgs, Stat, Stats};
use crate::sync::{AtomicU64, Ordering};
use crossbeam_epoch::Guard;
use pool::Pool;
use shrink::Shrink;

/// What zswap needs of the swap layer above it.
pub(crate) trait SwapLayer {
    /// `zswap_writeback_entry`: write entry `handle`, which backs virtual slot `slot`
    /// unless that was freed, to a device; `proactive` also counts
    /// `zswpwb_proactive_bytes`.
    fn writeback(&self, slot: u64, handle: u32, proactive: bool, g: &Guard) -> Result<(), Error>;
}

/// zswap's state and what it charges, borrowed from the facade for one call.
pub(crate) struct Zswap<'a, W> {
    pub cfg: &'a Config,
    pub pool: &'a Pool,
    pub priorities: &'a Priorities,
    pub shrink: &'a Shrink,
    pub memcgs: &'a Memcgs,
    /// The system-wide counters (vmstat events and zswap's debugfs counters).
    pub stats: &'a Stats,
    /// The facade's logical clock.
    pub tick: &'a AtomicU64,
    /// The swap layer, for writeback.
    pub wb: &'a W,
}

impl<W> Zswap<'_, W> {
    /// The logical clock now.
    pub(crate) fn now(&self) -> Tick {
        self.tick.load(Ordering::Acquire)
    }

    /// Count an event on the memcg (if any) and system-wide, on stripe `stripe`.
    pub(crate) fn event(&self, m: Option<&Memcg>, s: Stat, n: u64, stripe: usize) {
        if let Some(m) = m {
            m.stats.add(s, n, stripe);
        }
        self.stats.add(s, n, stripe);
    }
}
