//! `zswap_writeback_entry` (docs/kernel.md §5.3): one zswap entry to a physical slot,
//! the swap layer's half of zswap writeback (zswap's walks call it through
//! `crate::zswap::SwapLayer`).
//!
//! Invariants, in the order the protocol establishes them: the slot is first added to the swap cache with writeback's own folio
//! (`FolioId::WRITEBACK`): a slot already cached is `InSwapCache` (-EEXIST, the page is hot), a
//! freed one `NotAllocated` (-ENOENT). Holding it excludes swap-in and writeout. Then the
//! backend word is re-checked against the handle the caller started from: a slot freed
//! and reused meanwhile has another backend, and nothing is written (the kernel's
//! `xa_load(tree, offset) == entry` re-check). Finally the folio leaves the cache with
//! the shadow it displaced; a count that dropped to 0 meanwhile frees the slot.

use super::SwapSystem;
use crate::PAGE_SIZE;
use crate::entry::{BackendEntry, word};
use crate::error::Error;
use crate::ids::{FolioId, VSlot};
use crate::memcg::Stat;
use crate::sync::Ordering;
use crate::table::cluster::Cluster;
use crate::zswap::{SwapLayer, decompress};
use crossbeam_epoch::Guard;

impl SwapSystem {
    /// Write the zswap entry backing `slot` to a device (`zswap_writeback_entry`),
    /// charging `swap.max`. `NotInZswap` if its data is elsewhere; `InSwapCache` if the page is
    /// in the swap cache; `Invalid` if `memory.zswap.writeback` is 0 for its memcg;
    /// `DeviceFull` if no device (or `swap.max`) gives it a slot.
    pub fn writeback(&self, slot: VSlot) -> Result<(), Error> {
        let cpu = self.cpu_of(slot);
        self.with_slot(slot, |c, off, g| {
            let w = c.table[off].load(Ordering::Acquire);
            if word::is_cached(w) {
                return Err(Error::InSwapCache);
            }
            match c.backend_of(off, g) {
                BackendEntry::Zswap { handle } if !word::zero(w) => {
                    self.writeback_entry(cpu, c, off, handle as u32, false, g)
                }
                _ if w == 0 => Err(Error::NotAllocated),
                _ => Err(Error::NotInZswap),
            }
        })
    }

    /// Write back entry `handle`, expected to back slot `off` of `c`; `proactive` also
    /// counts `zswpwb_proactive_bytes`.
    pub(crate) fn writeback_entry(
        &self,
        cpu: usize,
        c: &Cluster,
        off: usize,
        handle: u32,
        proactive: bool,
        g: &Guard,
    ) -> Result<(), Error> {
        let w = loop {
            let w = c.table[off].load(Ordering::Acquire);
            if w == 0 {
                return Err(Error::NotAllocated);
            }
            if word::is_cached(w) {
                return Err(Error::InSwapCache);
            }
            let held = word::cached_from(w, FolioId::WRITEBACK, 0);
            if c.table[off].compare_exchange_weak(w, held, Ordering::AcqRel, Ordering::Acquire).is_ok() {
                break w;
            }
        };
        let result = self.write_entry(cpu, c, off, handle, proactive, g);
        self.uncache_placeholder(c, off, word::shadow(w), g);
        result
    }

    fn write_entry(
        &self,
        cpu: usize,
        c: &Cluster,
        off: usize,
        handle: u32,
        proactive: bool,
        g: &Guard,
    ) -> Result<(), Error> {
        let back = &self.back;
        let vslot = (c.index << self.cfg.cluster_shift) | off as u64;
        // One look at the entry: the slot holds writeback's folio, so nothing frees the
        // entry or changes it until `free_entry` below.
        let Some((has_data, em, length)) = back
            .pool
            .with(handle, |e| (e.slot == vslot).then_some((e.data.is_some(), e.memcg, e.length)))
            .flatten()
            .filter(|_| c.backend_word(off, g) == handle)
        else {
            return Err(Error::NotInZswap);
        };
        let recorded = c.memcg[off].load(Ordering::Acquire);
        let m = back.memcgs.nearest_online(recorded, g).ok_or(Error::InvalidMemcg)?;
        if !back.memcgs.writeback_enabled(m, g) {
            return Err(Error::Invalid("memory.zswap.writeback is 0 for the slot's memcg"));
        }
        // The slot first, then the charge (as `folio_alloc_swap`), to the nearest online
        // memcg; the slot is re-recorded to it once the entry is written.
        let Some((dev, p)) = self.alloc_phys(cpu, vslot, 0, Some(m), true, g) else {
            m.stats.add(Stat::EventsFail, 1, c.index as usize);
            return Err(Error::DeviceFull);
        };
        if let Err(e) = back.memcgs.try_charge_swap(m, 1, dev.id, g) {
            back.free_phys(dev, p, g);
            return Err(e);
        }
        let undo = |e: Error| {
            back.free_phys(dev, p, g);
            back.memcgs.uncharge_swap(m.id, 1, dev.id, g);
            e
        };
        if has_data {
            // Zeroed only here: a synthetic entry has no bytes to write.
            let mut page = [0u8; PAGE_SIZE];
            if let Err(e) =
                back.pool.with(handle, |e| decompress(e, &back.priorities, &mut page)).unwrap_or(Err(Error::NotInZswap))
            {
                back.stats.add(Stat::DecompressFail, 1, c.index as usize);
                return Err(undo(e));
            }
            dev.store.write(p, &page).map_err(|e| undo(e.into()))?;
        }
        let new = BackendEntry::Phys { device: dev.id, offset: p }.encode_compact().unwrap_or(0);
        let (bt, _) = c.backends_or_alloc(g);
        if bt.words[off].compare_exchange(handle, new, Ordering::AcqRel, Ordering::Acquire).is_err() {
            return Err(undo(Error::NotInZswap));
        }
        self.rerecord(c, off, 1, recorded, m, g);
        // Count on the entry's memcg before freeing the entry: that may drop the memcg's
        // last reference (an offline one is then removed, and the event would be lost).
        back.event(back.memcgs.get(em, g), Stat::Zswpwb, 1, c.index as usize);
        if proactive {
            back.event(back.memcgs.get(em, g), Stat::ZswpwbProactiveBytes, u64::from(length), c.index as usize);
        }
        back.free_entry(handle, g);
        back.event(Some(m), Stat::Pswpout, 1, c.index as usize);
        back.stats.add(Stat::WrittenBackPages, 1, c.index as usize);
        Ok(())
    }

    /// Take writeback's or swapoff's placeholder folio out of the cache, restoring
    /// `shadow`; free the slot if its count fell to 0 meanwhile.
    pub(super) fn uncache_placeholder(&self, c: &Cluster, off: usize, shadow: u64, g: &Guard) {
        let mut cur = c.table[off].load(Ordering::Acquire);
        loop {
            let new = if word::count(cur) == 0 { 0 } else { word::shadow_from(cur, shadow) };
            match c.table[off].compare_exchange_weak(cur, new, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => {
                    if new == 0 {
                        self.vspace.free_range(c, off, 0, g);
                    }
                    return;
                }
                Err(now) => cur = now,
            }
        }
    }
}

impl SwapLayer for SwapSystem {
    /// Write back entry `handle`, which backs virtual slot `slot` unless it was freed.
    fn writeback(&self, slot: u64, handle: u32, proactive: bool, g: &Guard) -> Result<(), Error> {
        let shift = self.cfg.cluster_shift;
        let c = self.vspace.get(slot >> shift, g).ok_or(Error::NotAllocated)?;
        let off = (slot & ((1 << shift) - 1)) as usize;
        self.writeback_entry(self.cpu_of(VSlot::from_raw(slot)), c, off, handle, proactive, g)
    }
}
