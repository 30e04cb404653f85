//! `zswap_load` (docs/kernel.md §5.2) and the free of an entry (`zswap_entry_free`).
//!
//! Invariants:
//! * Loads are exclusive: a loaded entry is taken out of the pool, uncharged under its
//!   shard lock and freed; the folio it filled is dirty again.
//! * An entry is decompressed with the compression priority that compressed it (the
//!   entry's `pool`), whatever its memcg uses now, and under its shard lock, so a
//!   recompression swapping the bytes is seen whole or not at all.
//! * A freed entry leaves its LRU before its memcg reference goes: that reference may be
//!   the memcg's last.

use super::pool::{Entry, Pool};
use super::{Priorities, SwapLayer, Zswap};
use crate::PAGE_SIZE;
use crate::error::Error;
use crate::memcg::{Memcgs, Stat};
use crossbeam_epoch::Guard;

impl<W: SwapLayer> Zswap<'_, W> {
    /// The read half of `zswap_load`: decompress entry `h` into `out`. A missing entry
    /// is `NotBacked`; either failure counts `decompress_fail` (on stripe `stripe`) and
    /// leaves the entry where it was.
    pub(crate) fn load(&self, h: u32, out: &mut [u8], stripe: usize) -> Result<(), Error> {
        let ok = self.pool.with(h, |e| decompress(e, self.priorities, out)).unwrap_or(Err(Error::NotBacked));
        if let Err(e) = ok {
            self.stats.add(Stat::DecompressFail, 1, stripe);
            return Err(e);
        }
        Ok(())
    }

    /// The exclusive half of `zswap_load`, once the slot no longer names entry `h`: free
    /// it and count `zswpin` on its memcg.
    pub(crate) fn invalidate_loaded(&self, h: u32, stripe: usize, g: &Guard) {
        // The event before the rest of the free, which may drop the memcg's last
        // reference.
        if let Some(e) = self.pool.take(h, |e, stripe| uncharge(self.memcgs, e, stripe, g)) {
            self.event(self.memcgs.get(e.memcg, g), Stat::Zswpin, 1, stripe);
            free_taken(self.pool, self.memcgs, h, e, g);
        } else {
            self.event(None, Stat::Zswpin, 1, stripe);
        }
    }
}

/// `zswap_decompress` of an entry into a page, with the compression priority that
/// compressed it (`entry->pool`), whatever its memcg uses now.
pub(crate) fn decompress(e: &Entry, tiers: &Priorities, out: &mut [u8]) -> Result<(), Error> {
    match &e.data {
        None => Ok(()),
        Some(d) if e.length as usize == PAGE_SIZE => {
            out.copy_from_slice(d);
            Ok(())
        }
        Some(d) => match tiers.decompress(e.tier, d, out) {
            Ok(PAGE_SIZE) => Ok(()),
            _ => Err(Error::Decompress),
        },
    }
}

/// Free a zswap entry (`zswap_entry_free`): uncharge it and drop its memcg reference.
pub(crate) fn free_entry(pool: &Pool, memcgs: &Memcgs, handle: u32, g: &Guard) {
    if let Some(e) = pool.take(handle, |e, stripe| uncharge(memcgs, e, stripe, g)) {
        free_taken(pool, memcgs, handle, e, g);
    }
}

/// The uncharge of an entry being taken out of the pool, under its shard's lock
/// (`Pool::take`'s closure): every caller of `take` runs it.
pub(crate) fn uncharge(memcgs: &Memcgs, e: &Entry, stripe: usize, g: &Guard) {
    let incomp = e.length as usize == PAGE_SIZE;
    memcgs.uncharge_zswap(e.memcg, u64::from(e.length), incomp, e.tier, g, stripe);
}

/// The rest of [`free_entry`] for an entry taken out of the pool (and uncharged) by
/// `Pool::take`: a caller that needs the entry (its memcg, to count an event while the
/// entry's reference still holds it) takes it itself, under one pool lock.
pub(crate) fn free_taken(pool: &Pool, memcgs: &Memcgs, handle: u32, e: Entry, g: &Guard) {
    // Off its LRU before the reference goes: it may be the memcg's last.
    if let Some((_, mut l)) = memcgs.lru_of(e.memcg, g) {
        l.del(handle, e.seq, pool);
    }
    memcgs.put_ref(e.memcg, 1, g);
}
