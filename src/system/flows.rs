//! The swap-out and swap-in flows on the virtual space (docs/kernel.md §4.3 "Flows",
//! §5.2): `swap_writeout` (zero → zswap → a physical slot by tier), eviction from the
//! swap cache, and swap-in (`do_swap_page`: cache, zero, exclusive zswap load, device
//! read). zswap's own part of a store and a load is `crate::zswap` (`store.rs`,
//! `load.rs`); this module does the swap table's part around it. `zswap_writeback_entry`
//! is `writeback.rs`.
//!
//! Invariants:
//! * A backend word changes only while its slot is in the swap cache: under the caller's
//!   folio (writeout, fault) or under the folio zswap writeback adds with the reserved
//!   `FolioId::WRITEBACK` (the kernel's `swap_cache_alloc_folio`, which makes a racing
//!   fault or a second writeback see the slot cached and back off), which swapoff uses
//!   too; swapoff also drops the device slot of a cached folio, under the slot's lock bit.
//! * A fault holds the lock bit from adding its folio until the page is read, and `evict`
//!   from checking that every page is backed until the folio is gone: swapoff never
//!   drops the backend a read is using, nor one an eviction relies on.
//! * A zswap store is published in the backend words before the LRU, so a walk never
//!   meets an entry no slot names; a refused store frees any entry an earlier writeout
//!   left, so a kept folio is never "backed" by old data.
//! * A physical slot is taken before it is charged (`folio_alloc_swap`), so a failed
//!   allocation never touches the counters.

use super::SwapSystem;
use crate::PAGE_SIZE;
use crate::device::Dev;
use crate::entry::{BackendEntry, TableEntry, word};
use crate::error::Error;
use crate::ids::{Fault, FaultSource, FolioId, KeepReason, Page, Shadow, VSlot, Writeout};
use crate::memcg::{Memcg, Stat};
use crate::sync::{Ordering, fence, spin_loop};
use crate::table::cluster::Cluster;
use crate::zswap::Refused;
use crossbeam_epoch::Guard;

impl SwapSystem {
    /// The cached folio covering `off`: (head offset, order). Writeback's folio is `WritebackInProgress`.
    fn cached_folio(c: &Cluster, off: usize) -> Result<(usize, u32), Error> {
        let w = c.table[off].load(Ordering::Acquire);
        match TableEntry::decode(word::unlocked(w)) {
            Ok(TableEntry::Cached { pfn, .. }) if pfn == FolioId::WRITEBACK => Err(Error::WritebackInProgress),
            Ok(TableEntry::Cached { order, .. }) if u32::from(order) <= c.shift => {
                Ok((off & !((1usize << order) - 1), u32::from(order)))
            }
            Ok(TableEntry::Shadow { .. }) => Err(Error::NotCached),
            Ok(TableEntry::Free) => Err(Error::NotAllocated),
            _ => Err(Error::InvalidSlot),
        }
    }

    /// Swap the backend word of slot `off` for `new`, allocating the table on first use.
    fn set_backend(&self, c: &Cluster, off: usize, new: u32, g: &Guard) -> u32 {
        if new == 0 && c.backends(g).is_none() {
            return 0;
        }
        let (bt, added) = c.backends_or_alloc(g);
        if added != 0 {
            self.bytes.add(added);
        }
        bt.words[off].swap(new, Ordering::AcqRel)
    }

    /// Set or clear the Z flag on a cached slot (count kept). A flag already as asked is
    /// left unwritten (one locked instruction fewer per writeout): only a writeout changes
    /// the flag, and the word's other bits are not this call's to publish.
    fn set_zero(c: &Cluster, off: usize, zero: bool) {
        let mut w = c.table[off].load(Ordering::Acquire);
        loop {
            if word::zero(w) == zero {
                return;
            }
            match c.table[off].compare_exchange_weak(w, word::with_zero(w, zero), Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return,
                Err(now) => w = now,
            }
        }
    }

    /// Allocate `1 << order` physical slots by priority for the virtual folio at `vslot`,
    /// each holding the reverse map: the device and its first offset. With `memcg`, only
    /// from the swap tiers its effective `memory.swap.tiers.max` allows; for zswap
    /// `writeback`, its `Knob::ZswapWritebackTier` first.
    pub(super) fn alloc_phys<'g>(
        &self,
        cpu: usize,
        vslot: u64,
        order: u32,
        memcg: Option<&Memcg>,
        writeback: bool,
        g: &'g Guard,
    ) -> Option<(&'g Dev, u64)> {
        let devs = &self.back.devices;
        let pointer = |v: u64| TableEntry::Pointer { vslot: v, cache_only: false }.encode().ok();
        let avail = devs.avail(g);
        let (first, rest) = match memcg {
            Some(m) if avail.tiered => {
                let mask = self.back.memcgs.swap_tier_mask(m, g);
                let first = if writeback { self.back.memcgs.writeback_tier(m, g) & mask } else { 0 };
                (first, mask & !first)
            }
            _ => (0, u32::MAX),
        };
        for id in avail.order(first).chain(avail.order(rest)) {
            let Some(dev) = devs.get(id, g) else { continue };
            if dev.going_off.load(Ordering::Acquire) {
                continue;
            }
            let Some(p) = dev.space.alloc(cpu, order, pointer(vslot)?, 0) else { continue };
            for i in 1..1u64 << order {
                if let Some(w) = self.back.phys_word(dev, p + i, g) {
                    w.store(pointer(vslot + i)?, Ordering::Release);
                }
            }
            return Some((dev, p));
        }
        None
    }

    /// The CPU whose caches a flow without a CPU argument uses: the slot's cluster picks
    /// one, so a CPU's own clusters keep to its caches.
    pub(super) fn cpu_of(&self, slot: VSlot) -> usize {
        ((slot.raw() >> self.cfg.cluster_shift) % self.cfg.cpus as u64) as usize
    }

    /// `swap_writeout`: write the cached folio covering `slot` out (docs/kernel.md §4.3):
    /// a zero-filled folio only sets Z (`swpout_zero`); otherwise zswap stores it when
    /// enabled, under `zswap.max` and the pool limit (`zswpout`); otherwise a physical
    /// slot is taken by tier and charged to `swap.max` (`pswpout`); otherwise the folio is
    /// kept (`Writeout::Kept`). A previous backend is released (a physical one is reused
    /// in place when the folio goes to a device again). `Page::Bytes` must hold the whole
    /// folio (`PAGE_SIZE << order`).
    ///
    /// A device write that fails is `Io`, and the folio stays in the swap cache redirtied
    /// (`swap_write_end` → `set_page_dirty`): no backend (any physical slot it had, now
    /// stale or torn, is freed and uncharged), so `evict` refuses it with `NotBacked`
    /// and a later writeout writes it again.
    pub fn writeout(&self, slot: VSlot, page: Page<'_>) -> Result<Writeout, Error> {
        self.writeout_in(slot, page, &self.vspace.reclaim.pin())
    }

    /// `writeout` under the caller's pin.
    pub(super) fn writeout_in(&self, slot: VSlot, page: Page<'_>, g: &Guard) -> Result<Writeout, Error> {
        let cpu = self.cpu_of(slot);
        self.with_slot_in(slot, g, |c, off, g| {
            let (head, order) = Self::cached_folio(c, off)?;
            let nr = 1usize << order;
            match page {
                Page::Bytes(b) if b.len() != nr * PAGE_SIZE => return Err(Error::BadPage),
                Page::Bytes(_) if self.cfg.zswap.compressor == crate::CompressionMode::Synthetic => {
                    return Err(Error::Invalid("the synthetic compressor takes Page::Synthetic"));
                }
                _ => {}
            }
            let recorded = c.memcg[head].load(Ordering::Acquire);
            let m = self.back.memcgs.nearest_online(recorded, g).ok_or(Error::InvalidMemcg)?;
            let rm = self.back.memcgs.get(recorded, g);
            let vhead = (c.index << self.cfg.cluster_shift) | head as u64;
            let zero = match page {
                Page::Bytes(b) => b.iter().all(|&x| x == 0),
                Page::Synthetic { zero, .. } => zero,
            };
            if zero {
                for i in head..head + nr {
                    let old = self.set_backend(c, i, 0, g);
                    self.back.release(old, recorded, g);
                    Self::set_zero(c, i, true);
                }
                self.back.event(rm, Stat::SwpoutZero, nr as u64, c.index as usize);
                return Ok(Writeout::Zero);
            }
            for i in head..head + nr {
                Self::set_zero(c, i, false);
            }
            // The memcg's compression priority is read once, here: every page of the folio uses
            // it and each entry records it (a concurrent change applies to later stores).
            let (writeback, tier) = self.back.memcgs.store_policy(m, g);
            let z = self.zswap();
            match z.store(c.index, vhead, order, page, (m, tier), writeback, g) {
                Ok((stored, compressed)) => {
                    // Published in the backend words first, then on the LRU, so a walk
                    // never meets a half-made entry.
                    let recorded = c.memcg[head].load(Ordering::Acquire);
                    for (i, (h, _)) in stored.iter().enumerate() {
                        let old = self.set_backend(c, head + i, h, g);
                        self.back.release(old, recorded, g);
                    }
                    z.publish(m, &stored, order, c.index, g);
                    if self.back.pool.above_proactive_start() {
                        self.back.shrink.queue();
                    }
                    return Ok(Writeout::Zswap { compressed });
                }
                Err(Refused::Disabled) => {}
                Err(Refused::Limit | Refused::Compress) => {
                    // The failure path of `zswap_store`: queue the worker if the pool is
                    // full, and pause its writeback (the 2024 series' patch 6).
                    if self.back.pool.reached_full() || self.back.pool.above_proactive_start() {
                        self.back.shrink.queue();
                    }
                    self.back.shrink.pause(self.tick(), self.cfg.zswap.writeback_pause);
                }
            }
            // check_old (docs/kernel.md §5.2 step 8, §4.3 step 1): a refused store frees any
            // entry an earlier writeout left, so a kept folio is not "backed" by old data.
            for i in head..head + nr {
                if matches!(c.backend_of(i, g), BackendEntry::Zswap { .. }) {
                    let old = self.set_backend(c, i, 0, g);
                    self.back.release(old, recorded, g);
                }
            }
            if self.cfg.zswap.enabled && !writeback {
                return Ok(Writeout::Kept(KeepReason::WritebackDisabled));
            }
            self.write_to_device(cpu, c, head, order, vhead, page, recorded, g)
        })
    }

    /// The device half of `swap_writeout`: reuse the folio's physical slots if it has
    /// them, else charge `swap.max` and take new ones by tier.
    #[allow(clippy::too_many_arguments)]
    fn write_to_device(
        &self,
        cpu: usize,
        c: &Cluster,
        head: usize,
        order: u32,
        vhead: u64,
        page: Page<'_>,
        recorded: u16,
        g: &Guard,
    ) -> Result<Writeout, Error> {
        let back = &self.back;
        let nr = 1usize << order;
        let rm = back.memcgs.get(recorded, g).ok_or(Error::InvalidMemcg)?;
        // Reuse when every page's backend is the next physical slot of one live device
        // (read in place: the words cannot change while the folio is cached).
        let reuse = match c.backend_of(head, g) {
            BackendEntry::Phys { device, offset } => (0..nr)
                .all(|i| {
                    (i == 0 || c.backend_of(head + i, g) == BackendEntry::Phys { device, offset: offset + i as u64 })
                        && back.devices.get(device, g).is_some_and(|d| !d.going_off.load(Ordering::Acquire))
                })
                .then_some((device, offset)),
            _ => None,
        };
        // A failed write leaves the folio redirtied (`swap_write_end`: `set_page_dirty`):
        // its old backends hold stale or torn data, so they go (freed and uncharged) and
        // `evict` refuses the folio (`NotBacked`) until a writeout succeeds.
        let redirty = || {
            for i in head..head + nr {
                let old = self.set_backend(c, i, 0, g);
                back.release(old, recorded, g);
            }
        };
        if let Some((device, offset)) = reuse {
            let dev = back.devices.get(device, g).ok_or(Error::InvalidDevice)?;
            if let Page::Bytes(b) = page {
                for i in 0..nr {
                    if let Err(e) = dev.store.write(offset + i as u64, &b[i * PAGE_SIZE..(i + 1) * PAGE_SIZE]) {
                        redirty();
                        return Err(e.into());
                    }
                }
            }
            back.event(Some(rm), Stat::Pswpout, nr as u64, c.index as usize);
            return Ok(Writeout::Device(crate::DeviceId(device)));
        }
        // The charge goes to the nearest online memcg (`mem_cgroup_id_get_online`); the
        // slots are re-recorded to it once the write has succeeded.
        let cm = back.memcgs.nearest_online(recorded, g).ok_or(Error::InvalidMemcg)?;
        // As `folio_alloc_swap`: the slots first, then the charge, so a failed allocation
        // never touches the counters (only `fail` is raised) and a refused charge frees them.
        let Some((dev, p)) = self.alloc_phys(cpu, vhead, order, Some(cm), false, g) else {
            cm.stats.add(Stat::EventsFail, 1, c.index as usize);
            return Ok(Writeout::Kept(KeepReason::NoSpace));
        };
        if back.memcgs.try_charge_swap(cm, nr as u64, dev.id, g).is_err() {
            for j in 0..nr {
                back.free_phys(dev, p + j as u64, g);
            }
            return Ok(Writeout::Kept(KeepReason::SwapMax));
        }
        if let Page::Bytes(b) = page {
            for i in 0..nr {
                if let Err(e) = dev.store.write(p + i as u64, &b[i * PAGE_SIZE..(i + 1) * PAGE_SIZE]) {
                    for j in 0..nr {
                        back.free_phys(dev, p + j as u64, g);
                    }
                    back.memcgs.uncharge_swap(cm.id, nr as u64, dev.id, g);
                    redirty();
                    return Err(e.into());
                }
            }
        }
        for i in 0..nr {
            let new = BackendEntry::Phys { device: dev.id, offset: p + i as u64 }.encode_compact().unwrap_or(0);
            let old = self.set_backend(c, head + i, new, g);
            // An old backend's charge is the recorded memcg's.
            back.release(old, recorded, g);
            // The new reverse map starts with the cache-only bit clear: set it for a slot
            // no PTE holds (count 0), as `put` would have. The fence pairs with the one in
            // `put_in`/`dup_in`: a racing count change sees this backend or this sees it.
            fence(Ordering::SeqCst);
            if self.vspace.count_of(c, head + i, g).1 == 0 {
                back.mark_cache_only(new, true, g);
            }
        }
        self.rerecord(c, head, nr, recorded, cm, g);
        back.event(Some(cm), Stat::Pswpout, nr as u64, c.index as usize);
        Ok(Writeout::Device(crate::DeviceId(dev.id)))
    }

    /// Record `to` (the memcg now charged for the slots' physical backing) in place of
    /// `from` for `nr` slots from `head`, moving the id references: an offline memcg's
    /// slot that took a physical slot now belongs to its online ancestor.
    pub(super) fn rerecord(&self, c: &Cluster, head: usize, nr: usize, from: u16, to: &Memcg, g: &Guard) {
        if from == to.id {
            return;
        }
        for i in head..head + nr {
            c.memcg[i].store(to.id, Ordering::Release);
        }
        self.back.memcgs.get_ref(to, nr as u64);
        self.back.memcgs.put_ref(from, nr as u64, g);
    }

    /// Reclaim's `__remove_mapping` for a written-out folio: delete it from the swap cache
    /// leaving `shadow`. Every page must be backed (zero, zswap or a device), else
    /// `NotBacked` and the folio stays.
    pub fn evict(&self, slot: VSlot, shadow: Shadow) -> Result<(), Error> {
        self.evict_in(slot, shadow, &self.vspace.reclaim.pin())
    }

    /// `evict` under the caller's pin.
    pub(super) fn evict_in(&self, slot: VSlot, shadow: Shadow, g: &Guard) -> Result<(), Error> {
        self.with_slot_in(slot, g, |c, off, g| {
            Self::cached_folio(c, off)?;
            // Checked under the slots' lock bits: swapoff drops a cached folio's device
            // backing under that bit, so a folio is never evicted with no copy left.
            let backed = |i: usize| {
                if word::zero(c.table[i].load(Ordering::Acquire)) || c.backend_word(i, g) != 0 {
                    Ok(())
                } else {
                    Err(Error::NotBacked)
                }
            };
            self.vspace.cache_del_if(c, off, shadow.0, g, backed)
        })
    }

    /// Swap-in of one page (`do_swap_page` → `swap_read_folio`): a cache hit returns at
    /// once; otherwise `folio` is added to the swap cache and filled from the Z flag
    /// (zeros, `swpin_zero`), zswap (an exclusive load: the entry is freed, the folio is
    /// dirty, `zswpin`) or the device (`pswpin`; the physical slot stays). `out`, when
    /// given, receives the page (`PAGE_SIZE` bytes); a synthetic or null-device page
    /// leaves it as it was. The shadow the slot held is returned. On an I/O or
    /// decompression error the slot is left swapped out, as it was.
    pub fn fault(&self, cpu: usize, slot: VSlot, folio: FolioId, out: Option<&mut [u8]>) -> Result<Fault, Error> {
        self.fault_in(cpu, slot, folio, out, &self.vspace.reclaim.pin())
    }

    /// `fault` under the caller's pin.
    pub(super) fn fault_in(
        &self,
        cpu: usize,
        slot: VSlot,
        folio: FolioId,
        out: Option<&mut [u8]>,
        g: &Guard,
    ) -> Result<Fault, Error> {
        if cpu >= self.cfg.cpus {
            return Err(Error::Invalid("cpu index out of range"));
        }
        if out.as_ref().is_some_and(|o| o.len() != PAGE_SIZE) {
            return Err(Error::BadPage);
        }
        if folio.0 > FolioId::MAX {
            return Err(Error::InvalidFolio);
        }
        self.with_slot_in(slot, g, |c, off, g| {
            let w = loop {
                let w = c.table[off].load(Ordering::Acquire);
                if word::is_cached(w) {
                    if word::pfn(w) == FolioId::WRITEBACK || word::is_locked(w) {
                        spin_loop();
                        continue;
                    }
                    return Ok(Fault { source: FaultSource::Cache, shadow: None });
                }
                if !word::is_shadow(w) {
                    return Err(if w == 0 { Error::NotAllocated } else { Error::InvalidSlot });
                }
                // Added locked, as `swap_cache_alloc_folio` adds the folio locked and the
                // read unlocks it: a second fault waits for the data, and swapoff does not
                // drop the backend this read is using.
                let cached = word::locked(word::cached_from(w, folio.0, 0));
                if c.table[off].compare_exchange_weak(w, cached, Ordering::AcqRel, Ordering::Acquire).is_ok() {
                    break w;
                }
            };
            let shadow = Shadow(word::shadow(w));
            match self.swap_in(c, off, w, out, g) {
                Ok(source) => {
                    c.table[off].fetch_and(!word::locked(0), Ordering::Release);
                    Ok(Fault { source, shadow: Some(shadow) })
                }
                Err(e) => {
                    Self::restore_shadow(c, off, shadow.0);
                    Err(e)
                }
            }
        })
    }

    /// Put a cached slot back to a Shadow (count and Z kept, the lock bit dropped).
    fn restore_shadow(c: &Cluster, off: usize, shadow: u64) {
        let mut cur = c.table[off].load(Ordering::Acquire);
        loop {
            let new = word::shadow_from(cur, shadow);
            match c.table[off].compare_exchange_weak(cur, new, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return,
                Err(now) => cur = now,
            }
        }
    }

    /// Read the data of a slot this call just added to the swap cache.
    fn swap_in(
        &self,
        c: &Cluster,
        off: usize,
        w: u64,
        out: Option<&mut [u8]>,
        g: &Guard,
    ) -> Result<FaultSource, Error> {
        let back = &self.back;
        let rm = back.memcgs.get(c.memcg[off].load(Ordering::Acquire), g);
        if word::zero(w) {
            if let Some(o) = out {
                o.fill(0);
            }
            back.event(rm, Stat::SwpinZero, 1, c.index as usize);
            return Ok(FaultSource::Zero);
        }
        match c.backend_of(off, g) {
            BackendEntry::None => Err(Error::NotBacked),
            BackendEntry::Zswap { handle } => {
                let (h, z) = (handle as u32, self.zswap());
                if let Some(o) = out {
                    z.load(h, o, c.index as usize)?;
                }
                self.set_backend(c, off, 0, g);
                z.invalidate_loaded(h, c.index as usize, g);
                Ok(FaultSource::Zswap)
            }
            BackendEntry::Phys { device, offset } => {
                let dev = back.devices.get(device, g).ok_or(Error::InvalidDevice)?;
                if let Some(o) = out {
                    dev.store.read(offset, o)?;
                }
                back.event(rm, Stat::Pswpin, 1, c.index as usize);
                self.zswap().disk_swapin(c.memcg[off].load(Ordering::Acquire), g);
                Ok(FaultSource::Device(crate::DeviceId(device)))
            }
        }
    }
}
