//! The backends behind the virtual slots, shared with the free hook: memcgs, the zswap
//! pool, the devices and the system-wide counters. Releasing a slot's backend
//! (`swap_range_free`: `zswap_invalidate`, freeing the physical slot, the swap uncharge)
//! lives here, so the free path and the flows release the same way.
//!
//! Invariants:
//! * A backend is released exactly once: by the flow that replaces the backend word (it
//!   swaps the old word out and releases what it held) or by the free hook when the slot
//!   is freed; both go through [`Backends::release`].
//! * A physical slot's swap charge belongs to the slot's recorded memcg, and is
//!   uncharged with the slot; a zswap entry's charge belongs to the entry's memcg and is
//!   uncharged under its pool shard's lock (`crate::zswap::free_entry`).

use crate::device::{Dev, Devices};
use crate::entry::{BackendEntry, TableEntry, word};
use crate::memcg::{Memcg, Memcgs, Stat, Stats};
use crate::sync::{Arc, Ordering};
use crate::table::space::OnFree;
use crate::zswap::pool::Pool;
use crossbeam_epoch::Guard;

pub(crate) struct Backends {
    pub memcgs: Memcgs,
    pub pool: Pool,
    pub devices: Devices,
    /// vmstat events and zswap's debugfs counters.
    pub stats: Stats,
    /// The shrink worker's queue flag, pause and the walk cursors.
    pub shrink: crate::zswap::shrink::Shrink,
    /// The registered compression priorities.
    pub priorities: crate::zswap::Priorities,
    /// Recompression's running totals.
    pub recompress: RecompressStats,
}

/// Recompression's counters (cold: one update per `recompress` call).
#[derive(Default)]
pub(crate) struct RecompressStats {
    pub attempted: crate::sync::AtomicU64,
    pub kept: crate::sync::AtomicU64,
    pub saved: crate::sync::AtomicU64,
}

impl Backends {
    /// Count an event on the memcg (if any) and system-wide, on stripe `stripe`.
    pub(crate) fn event(&self, m: Option<&Memcg>, s: Stat, n: u64, stripe: usize) {
        if let Some(m) = m {
            m.stats.add(s, n, stripe);
        }
        self.stats.add(s, n, stripe);
    }

    /// Free a zswap entry (`zswap_entry_free`, [`crate::zswap::free_entry`]).
    pub(crate) fn free_entry(&self, handle: u32, g: &Guard) {
        crate::zswap::free_entry(&self.pool, &self.memcgs, handle, g);
    }

    /// Free a physical slot (`swap_entries_free` on the device): its reverse map goes,
    /// the device may drop the data.
    pub(crate) fn free_phys(&self, dev: &Dev, offset: u64, g: &Guard) {
        // Discard first: once unmapped, the slot can be allocated and written again at
        // once, and a discard after that would erase the new owner's page (the kernel
        // discards a free cluster before it can be allocated again).
        dev.store.discard(offset);
        self.unmap_phys(dev, offset, g);
    }

    /// Free a physical slot but keep its data: swapoff frees the old slots this way, so a
    /// fault that read the old backend word just before the switch still reads the page
    /// (the device takes no new slots, and its data lives until the grace period ends).
    pub(crate) fn unmap_phys(&self, dev: &Dev, offset: u64, g: &Guard) {
        let shift = dev.space.shift;
        let Some(c) = dev.space.get(offset >> shift, g) else { return };
        let off = (offset & ((1 << shift) - 1)) as usize;
        c.table[off].store(0, Ordering::Release);
        dev.space.free_range(c, off, 0, g);
    }

    /// Release what a backend word points at; `memcg` is the slot's recorded memcg, which
    /// holds the swap charge of a physical slot.
    pub(crate) fn release(&self, backend: u32, memcg: u16, g: &Guard) {
        match BackendEntry::decode_compact(backend) {
            BackendEntry::None => {}
            BackendEntry::Zswap { handle } => self.free_entry(handle as u32, g),
            BackendEntry::Phys { device, offset } => {
                if let Some(dev) = self.devices.get(device, g) {
                    self.free_phys(dev, offset, g);
                }
                self.memcgs.uncharge_swap(memcg, 1, device, g);
            }
        }
    }

    /// The cluster and offset of physical slot `offset` on `dev`.
    pub(crate) fn phys_word<'g>(&self, dev: &'g Dev, offset: u64, g: &'g Guard) -> Option<&'g crate::sync::AtomicU64> {
        let shift = dev.space.shift;
        let c = dev.space.get(offset >> shift, g)?;
        c.table.get((offset & ((1 << shift) - 1)) as usize)
    }

    /// Set or clear the cache-only bit of the physical slot backing a virtual slot.
    pub(crate) fn mark_cache_only(&self, backend: u32, cache_only: bool, g: &Guard) {
        let BackendEntry::Phys { device, offset } = BackendEntry::decode_compact(backend) else { return };
        let Some(dev) = self.devices.get(device, g) else { return };
        let Some(w) = self.phys_word(dev, offset, g) else { return };
        let mut cur = w.load(Ordering::Acquire);
        while matches!(TableEntry::decode(cur), Ok(TableEntry::Pointer { .. })) {
            match w.compare_exchange_weak(
                cur,
                word::with_cache_only(cur, cache_only),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return,
                Err(now) => cur = now,
            }
        }
    }
}

/// The virtual space's free hook.
pub(crate) struct FreeHook(pub Arc<Backends>);

impl OnFree for FreeHook {
    fn freed(&self, _slot: u64, memcg: u16, backend: u32, g: &Guard) {
        self.0.release(backend, memcg, g);
        if memcg != 0 {
            self.0.memcgs.put_ref(memcg, 1, g);
        }
    }
}
