//! `swapoff` and `swapoff_with` on the facade (docs/api.md "Devices", docs/kernel.md
//! §4.3 "swapoff").
//!
//! Swapoff walks the device's own table: every `Pointer` word names the virtual slot it
//! backs (the reverse map), so nothing scans the virtual space or any page table. It
//! first reserves a slot on the other devices for every page (by tier), all or nothing;
//! then it copies each page and switches the virtual slot's backend word by CAS, so a slot
//! freed or rewritten meanwhile keeps its new state and the reservation is returned.
//!
//! When the other devices lack room, `swapoff` fails with nothing moved, while
//! `swapoff_with` reserves what room there is (pages outside the swap cache first) and
//! brings the rest into memory, as the kernel's `try_to_unuse` brings every page in:
//! * a page already in the swap cache keeps its folio, and only its backend word goes
//!   (Phys → None, under the slot's lock bit, which `evict` takes too, so an eviction
//!   never drops a folio whose backend vanished after it looked);
//! * a swapped-out page is claimed in the swap cache with the reserved
//!   `FolioId::WRITEBACK` folio (as zswap writeback claims one: faults spin, `evict`,
//!   `release`, `writeout` and `swap_cache_del` refuse with `WritebackInProgress`, count
//!   changes go on), read, and handed to the caller's [`SwapoffSink`]; a folio from it
//!   takes the slot's place in the cache (count and Z kept) with no backend, and a
//!   refusal puts the shadow back and stops the swapoff.
//!
//! Invariants: swapon and swapoff run one at a time (the swapon lock); a device going off
//! (`going_off`) takes no new slot; an old physical slot's data stays readable until the
//! grace period ends, so a fault that read the old backend word still finds the page; a
//! swapoff that fails leaves the device on, and the pages it already moved or brought in
//! where they went.

use super::SwapSystem;
use crate::PAGE_SIZE;
use crate::device::{Dev, MAX_DEVICES};
use crate::entry::{BackendEntry, TableEntry, word};
use crate::error::Error;
use crate::ids::{DeviceId, FolioId, MemcgId, Shadow, VSlot};
use crate::memcg::{Memcg, Stat};
use crate::stat::SwapoffReport;
use crate::sync::{Ordering, lock, spin_loop};
use crossbeam_epoch::Guard;

/// A page `swapoff_with` found no room for on the other devices: the page the kernel's
/// `try_to_unuse` swaps in (`unuse_pte_range` → `swapin_readahead` →
/// `swap_cache_alloc_folio`, then `swap_read_folio`), handed to the caller's
/// [`SwapoffSink`] for a folio.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SwapoffPage<'a> {
    /// The virtual slot: the entry the caller's page tables hold.
    pub slot: VSlot,
    /// The memcg recorded for the slot (`lookup_swap_cgroup_id`), which
    /// `mem_cgroup_swapin_charge_folio` charges the new folio to when it is online (its
    /// nearest online ancestor in the crate's rule when it is not; the kernel charges
    /// the faulting mm's memcg then).
    pub memcg: MemcgId,
    /// The swap count when the page was read: the PTEs (and other users) holding the
    /// entry. It may change while the sink runs.
    pub count: u32,
    /// The workingset shadow the slot held (`workingset_refault`'s input).
    pub shadow: Shadow,
    /// The device going off.
    pub device: DeviceId,
    /// The page's `PAGE_SIZE` bytes, read from the device; None for a device that keeps
    /// no data (`DeviceSpec::null`).
    pub data: Option<&'a [u8]>,
}

/// Where `SwapSystem::swapoff_with` puts the pages no other device has room for: the
/// caller's memory manager, which allocates and charges a frame for each, as
/// `try_to_unuse`'s swap-in does (`swap_cache_alloc_folio`: allocate the folio, then
/// `mem_cgroup_swapin_charge_folio`).
///
/// A closure `FnMut(&SwapoffPage<'_>) -> Option<FolioId>` is a sink (annotate its
/// argument: `|p: &SwapoffPage<'_>| ...`).
pub trait SwapoffSink {
    /// A frame for `page`, or None for no memory (the kernel's `-ENOMEM`). Some(folio):
    /// the slot's page is in memory now: `folio` is in the swap cache at `page.slot` with
    /// the slot's count, its device slot is freed and uncharged (`memory.swap.current`),
    /// and `pswpin` is counted; the folio has no backend, so reclaim must write it out
    /// again before evicting it. None: swapoff stops with [`Error::NoMemory`] and this
    /// slot stays as it was.
    ///
    /// While it runs the slot is held in the swap cache by swapoff: a `fault` on it from
    /// another thread waits, and one from this sink would never return; `dup` and `put`
    /// go on. The sink may reclaim (write out and evict other folios), but not call
    /// `swapon`, `swapoff` or `swap_tiers_write`: swapoff holds their lock.
    fn swap_in(&mut self, page: &SwapoffPage<'_>) -> Option<FolioId>;
}

impl<F> SwapoffSink for F
where
    F: FnMut(&SwapoffPage<'_>) -> Option<FolioId>,
{
    fn swap_in(&mut self, page: &SwapoffPage<'_>) -> Option<FolioId> {
        self(page)
    }
}

impl SwapSystem {
    /// `swapoff`: move every page on `dev` to the other devices by priority, each within
    /// the swap tiers its memcg allows, through the reverse map, then remove it.
    /// `DeviceFull` with nothing moved when they lack room (use
    /// [`SwapSystem::swapoff_with`] to bring such pages into memory); `SwapoffBusy` when
    /// concurrent writeouts kept taking slots on it; `Io` if a read or write fails (pages
    /// already moved stay moved, the rest stay). On any error the device stays on.
    pub fn swapoff(&self, dev: DeviceId) -> Result<SwapoffReport, Error> {
        self.swapoff_in(dev, None)
    }

    /// `swapoff` that brings into memory what the other devices have no room for, as the
    /// kernel's `try_to_unuse` brings in every page (`unuse_mm` → `unuse_pte_range` →
    /// `swapin_readahead`, then `folio_free_swap`).
    ///
    /// When every page fits on the other devices this is [`SwapSystem::swapoff`]. Else
    /// the room there is reserved page by page, pages outside the swap cache first (the
    /// most restricted memcgs first within each group), and each page left over comes
    /// into memory:
    /// * a page whose folio is in the swap cache keeps it: the device slot is freed and
    ///   uncharged and the folio is its only copy (`SwapoffReport::cache_unbacked`);
    /// * a swapped-out page is read and handed to `sink` ([`SwapoffSink::swap_in`]); the
    ///   folio it returns takes the slot's place in the swap cache, count kept, with no
    ///   backend, the device slot freed and uncharged, `pswpin` counted
    ///   (`SwapoffReport::swapped_in`). The caller's page tables still hold the virtual
    ///   slot, so its next access is a swap-cache hit; the kernel maps the folio into each
    ///   PTE instead (`unuse_pte`) and frees the entry: a caller that wants that does it
    ///   after this returns (`put` per PTE, then `release`).
    ///
    /// Zero pages and zswap entries hold no device slot under the virtual swap space, so
    /// they stay as they are (the kernel reads them in too: its zswap entries and zero
    /// pages live at a device slot). There is no readahead: only this device's pages
    /// are read.
    ///
    /// Errors: `InvalidDevice`; `NoMemory` when the sink refuses a page, `InvalidFolio`
    /// when it returns a folio above `FolioId::MAX`, `Io` when a read fails, `SwapoffBusy`
    /// as for `swapoff`. Then, as the kernel leaves a failed `try_to_unuse` (`-ENOMEM`,
    /// `-EINTR`), the device stays on and the pages already moved or brought into memory
    /// stay there; the page being handled and every later one stay on the device,
    /// unchanged. (This and `Io` are the exceptions to "an error changes nothing".)
    ///
    /// ```
    /// use vswap::*;
    /// let mut cfg = Config::default();
    /// cfg.zswap.enabled = false;                                 // straight to the device
    /// let sys = SwapSystem::new(cfg)?;
    /// let only = sys.swapon(DeviceSpec::memory("only", 64))?;
    /// let slot = sys.alloc(0, MemcgId::ROOT, FolioId(8), 0)?;
    /// sys.dup(slot)?;                                             // a PTE holds it
    /// let page = vec![7u8; PAGE_SIZE];
    /// assert_eq!(sys.writeout(slot, Page::Bytes(&page))?, Writeout::Device(only));
    /// sys.evict(slot, Shadow(1))?;
    /// assert_eq!(sys.swapoff(only), Err(Error::DeviceFull));     // nowhere to move it
    ///
    /// // The caller's memory manager: a frame per page, checked against the bytes.
    /// let mut sink = |p: &SwapoffPage<'_>| {
    ///     assert_eq!((p.slot, p.count, p.data), (slot, 1, Some(&page[..])));
    ///     Some(FolioId(16))
    /// };
    /// let report = sys.swapoff_with(only, &mut sink)?;
    /// assert_eq!(report.swapped_in, 1);
    /// assert_eq!(sys.device_stat(only), Err(Error::InvalidDevice));
    /// assert_eq!(sys.state(slot)?, SlotState::Cached { folio: FolioId(16), count: 1 });
    /// assert_eq!(sys.backing(slot)?, Backing::None);              // in memory only
    /// # Ok::<(), vswap::Error>(())
    /// ```
    pub fn swapoff_with(&self, dev: DeviceId, sink: &mut dyn SwapoffSink) -> Result<SwapoffReport, Error> {
        self.swapoff_in(dev, Some(sink))
    }

    fn swapoff_in(&self, dev: DeviceId, mut sink: Option<&mut dyn SwapoffSink>) -> Result<SwapoffReport, Error> {
        let _l = lock(&self.swapon);
        let g = self.vspace.reclaim.pin();
        let d = self.back.devices.get(dev.raw(), &g).ok_or(Error::InvalidDevice)?;
        d.going_off.store(true, Ordering::Release);
        let mut report = SwapoffReport::default();
        // A writeout that took a slot just before `going_off` was seen lands after the
        // first walk: walk again until the reverse map is empty (it takes no new slots).
        for round in 0.. {
            let pages = Self::reverse_map(d, &g);
            if pages.is_empty() {
                break;
            }
            if round == 8 {
                // Only concurrent writeouts to this very device can keep it busy this long.
                d.going_off.store(false, Ordering::Release);
                return Err(Error::SwapoffBusy);
            }
            if let Err(e) = self.unuse_pages(d, &pages, &mut report, sink.as_mut().map(|s| &mut **s as _), &g) {
                d.going_off.store(false, Ordering::Release);
                return Err(e);
            }
        }
        let p = self.back.devices.slots[dev.raw() as usize].swap(crossbeam_epoch::Shared::null(), Ordering::AcqRel, &g);
        self.rebuild_avail(&g);
        // SAFETY: `p` is `d`, non-null: only swapon and swapoff store to a device slot,
        // both under the swapon lock this call has held since it read `d`. The swap
        // unlinked it, so this call owns it alone; readers that loaded it are pinned,
        // and `retire` frees it only after their pins end.
        let owned = unsafe { p.into_owned() }.into_box();
        crate::epoch::retire(&g, owned, || {});
        Ok(report)
    }

    /// Reserve a target for every page (all or nothing), then copy each and switch its
    /// virtual slot's backend word. Each page stays within the swap tiers its memcg
    /// allows; the pages whose memcgs may use the fewest devices reserve first, so when
    /// the allowed sets nest (a memcg limited to some of the tiers its siblings use) a
    /// placement is found whenever one exists, rather than a less restricted page taking
    /// the room only a restricted one may use. The kernel has no such order (its
    /// `try_to_unuse` walks page tables); the crate's swapoff reserves all or nothing.
    /// With a sink, a failed reservation is retried page by page and the pages left
    /// without a target come into memory (`unuse_page`).
    fn unuse_pages(
        &self,
        d: &Dev,
        pages: &[(u64, u64, bool)],
        report: &mut SwapoffReport,
        mut sink: Option<&mut dyn SwapoffSink>,
        g: &Guard,
    ) -> Result<(), Error> {
        let back = &self.back;
        let avail = back.devices.avail(g);
        let memcgs: Vec<Option<&Memcg>> = (pages.iter())
            .map(|&(_, vslot, _)| self.recorded_memcg(vslot, g).and_then(|r| back.memcgs.nearest_online(r, g)))
            .collect();
        let usable = |m: Option<&Memcg>| match m {
            Some(m) if avail.tiered => avail.devices_in(back.memcgs.swap_tier_mask(m, g)),
            _ => MAX_DEVICES,
        };
        let mut by_restriction: Vec<(usize, usize)> = memcgs.iter().map(|&m| usable(m)).zip(0..).collect();
        by_restriction.sort_unstable();
        let mut targets: Vec<Option<(&Dev, u64)>> = vec![None; pages.len()];
        let free_targets = |targets: &mut [Option<(&Dev, u64)>]| {
            for (t, p) in targets.iter_mut().filter_map(Option::take) {
                back.free_phys(t, p, g);
            }
        };
        for &(_, i) in &by_restriction {
            match self.alloc_phys(0, pages[i].1, 0, memcgs[i], false, g) {
                Some(t) => targets[i] = Some(t),
                None => {
                    free_targets(&mut targets);
                    if sink.is_none() {
                        return Err(Error::DeviceFull);
                    }
                    // What room there is goes to the pages that would need a frame, then
                    // to those already in memory (in the swap cache).
                    let cached: Vec<bool> = pages.iter().map(|&(_, v, _)| self.in_swap_cache(v, g)).collect();
                    by_restriction.sort_by_key(|&(r, i)| (cached[i], r, i));
                    for &(_, i) in &by_restriction {
                        targets[i] = self.alloc_phys(0, pages[i].1, 0, memcgs[i], false, g);
                    }
                    break;
                }
            }
        }
        let mut buf = [0u8; PAGE_SIZE];
        for (i, &(offset, vslot, cache_only)) in pages.iter().enumerate() {
            let done = match (targets[i].take(), sink.as_mut()) {
                (Some((t, p)), _) => self.move_page(d, offset, vslot, cache_only, (t, p), &mut buf, report, g),
                (None, Some(sink)) => self.unuse_page(d, offset, vslot, &mut **sink, &mut buf, report, g),
                (None, None) => Ok(()),
            };
            if let Err(e) = done {
                free_targets(&mut targets);
                return Err(e);
            }
        }
        Ok(())
    }

    /// Copy one page to its reserved slot `(t, p)` and switch the virtual slot's backend
    /// to it; a slot freed or rewritten meanwhile returns the reservation.
    #[allow(clippy::too_many_arguments)]
    fn move_page(
        &self,
        d: &Dev,
        offset: u64,
        vslot: u64,
        cache_only: bool,
        (t, p): (&Dev, u64),
        buf: &mut [u8; PAGE_SIZE],
        report: &mut SwapoffReport,
        g: &Guard,
    ) -> Result<(), Error> {
        let back = &self.back;
        // A device that keeps no data has nothing to copy (the buffer would hold the
        // previous page).
        let copied =
            if d.store.keeps_data() { d.store.read(offset, buf).and_then(|()| t.store.write(p, buf)) } else { Ok(()) };
        if let Err(e) = copied {
            back.free_phys(t, p, g);
            return Err(e.into());
        }
        if !self.switch_backend(vslot, d.id, offset, t.id, p, g) {
            back.free_phys(t, p, g);
            return Ok(());
        }
        back.unmap_phys(d, offset, g);
        // The recorded memcg holds the charge; only its device changes. A writeout that
        // put this page on `d` may not have re-recorded it yet to its nearest online
        // ancestor (which it charged): the count then moves on the offline memcg instead.
        // No `memcg_stat` tells them apart: it needs an online memcg, and every online one
        // whose subtree holds the offline memcg holds that ancestor too.
        if let Some(r) = self.recorded_memcg(vslot, g) {
            back.memcgs.move_swap(r, d.id, t.id, g);
        }
        report.pages_moved += 1;
        report.cache_only += u64::from(cache_only);
        match report.moved_to.iter_mut().find(|(id, _)| id.raw() == t.id) {
            Some((_, n)) => *n += 1,
            None => report.moved_to.push((DeviceId(t.id), 1)),
        }
        Ok(())
    }

    /// Bring one page of `d` into memory (`try_to_unuse` for one entry): a folio already
    /// in the swap cache only loses its device backing (`folio_free_swap`); a swapped-out
    /// page is read into a folio from `sink` (`swapin_readahead`). A slot that no longer
    /// names `(d, offset)` is left alone.
    #[allow(clippy::too_many_arguments)]
    fn unuse_page(
        &self,
        d: &Dev,
        offset: u64,
        vslot: u64,
        sink: &mut dyn SwapoffSink,
        buf: &mut [u8; PAGE_SIZE],
        report: &mut SwapoffReport,
        g: &Guard,
    ) -> Result<(), Error> {
        let shift = self.cfg.cluster_shift;
        let Some(c) = self.vspace.get(vslot >> shift, g) else { return Ok(()) };
        let off = (vslot & ((1 << shift) - 1)) as usize;
        let Ok(phys) = (BackendEntry::Phys { device: d.id, offset }).encode_compact() else { return Ok(()) };
        let w = loop {
            let w = c.table[off].load(Ordering::Acquire);
            if word::is_cached(w) {
                if word::pfn(w) == FolioId::WRITEBACK || word::is_locked(w) {
                    // zswap writeback or a large-folio transition holds it for a moment.
                    spin_loop();
                    continue;
                }
                // In memory already: the folio is the page. Its backend goes under the
                // lock bit, so an `evict` either sees it gone or ran before.
                if c.table[off].compare_exchange_weak(w, word::locked(w), Ordering::AcqRel, Ordering::Acquire).is_err()
                {
                    continue;
                }
                let dropped = c.backends(g).is_some_and(|bt| {
                    bt.words[off].compare_exchange(phys, 0, Ordering::AcqRel, Ordering::Acquire).is_ok()
                });
                c.table[off].fetch_and(!word::locked(0), Ordering::Release);
                if dropped {
                    self.free_unused(d, offset, c.memcg[off].load(Ordering::Acquire), g);
                    report.cache_unbacked += 1;
                }
                return Ok(());
            }
            if !word::is_shadow(w) {
                return Ok(()); // freed meanwhile: the free hook freed the physical slot
            }
            let held = word::cached_from(w, FolioId::WRITEBACK, 0);
            if c.table[off].compare_exchange_weak(w, held, Ordering::AcqRel, Ordering::Acquire).is_ok() {
                break w;
            }
        };
        let shadow = word::shadow(w);
        // Held in the cache: the backend word changes only under the cache, so this
        // check stays true (a slot freed and reused meanwhile has another backend).
        if c.backend_word(off, g) != phys {
            self.uncache_placeholder(c, off, shadow, g);
            return Ok(());
        }
        let data = if d.store.keeps_data() {
            if let Err(e) = d.store.read(offset, buf) {
                self.uncache_placeholder(c, off, shadow, g);
                return Err(e.into());
            }
            Some(&buf[..])
        } else {
            None
        };
        let recorded = c.memcg[off].load(Ordering::Acquire);
        let page = SwapoffPage {
            slot: VSlot::from_raw(vslot),
            memcg: MemcgId::from_raw(recorded),
            count: self.vspace.count_of(c, off, g).1,
            shadow: Shadow(shadow),
            device: DeviceId(d.id),
            data,
        };
        let folio = match sink.swap_in(&page) {
            Some(f) if f.0 <= FolioId::MAX => f,
            refused => {
                self.uncache_placeholder(c, off, shadow, g);
                return Err(if refused.is_some() { Error::InvalidFolio } else { Error::NoMemory });
            }
        };
        if let Some(bt) = c.backends(g) {
            bt.words[off].store(0, Ordering::Release);
        }
        self.free_unused(d, offset, recorded, g);
        let back = &self.back;
        back.event(back.memcgs.get(recorded, g), Stat::Pswpin, 1, c.index as usize);
        self.zswap().disk_swapin(recorded, g);
        // The caller's folio replaces swapoff's in the cache; the count is whatever the
        // PTE holders left it at.
        let mut cur = c.table[off].load(Ordering::Acquire);
        loop {
            match c.table[off].compare_exchange_weak(
                cur,
                word::cached_from(cur, folio.0, 0),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => break,
                Err(now) => cur = now,
            }
        }
        report.swapped_in += 1;
        Ok(())
    }

    /// Free physical slot `offset` of `d` that no virtual slot uses any more, keeping its
    /// data for a fault that read the old backend word, and uncharge it from `recorded`.
    fn free_unused(&self, d: &Dev, offset: u64, recorded: u16, g: &Guard) {
        self.back.unmap_phys(d, offset, g);
        self.back.memcgs.uncharge_swap(recorded, 1, d.id, g);
    }

    /// Whether virtual slot `vslot` has a folio in the swap cache.
    fn in_swap_cache(&self, vslot: u64, g: &Guard) -> bool {
        let shift = self.cfg.cluster_shift;
        self.vspace
            .get(vslot >> shift, g)
            .is_some_and(|c| word::is_cached(c.table[(vslot & ((1 << shift) - 1)) as usize].load(Ordering::Acquire)))
    }

    /// The memcg recorded on a virtual slot (`lookup_swap_cgroup_id`).
    fn recorded_memcg(&self, vslot: u64, g: &Guard) -> Option<u16> {
        let shift = self.cfg.cluster_shift;
        let c = self.vspace.get(vslot >> shift, g)?;
        Some(c.memcg.get((vslot & ((1 << shift) - 1)) as usize)?.load(Ordering::Acquire))
    }

    /// Every (offset, virtual slot, cache-only) the device's reverse map holds.
    fn reverse_map(d: &Dev, g: &Guard) -> Vec<(u64, u64, bool)> {
        let shift = d.space.shift;
        let mut out = Vec::new();
        for idx in 0..d.pages.div_ceil(1 << shift) {
            let Some(c) = d.space.get(idx, g) else { continue };
            for (off, w) in c.table.iter().enumerate() {
                if let Ok(TableEntry::Pointer { vslot, cache_only }) = TableEntry::decode(w.load(Ordering::Acquire)) {
                    out.push(((idx << shift) | off as u64, vslot, cache_only));
                }
            }
        }
        out
    }

    /// CAS the virtual slot's backend from (from, offset) to (to, p).
    fn switch_backend(&self, vslot: u64, from: u8, offset: u64, to: u8, p: u64, g: &Guard) -> bool {
        let shift = self.cfg.cluster_shift;
        let Some(c) = self.vspace.get(vslot >> shift, g) else { return false };
        let Some(bt) = c.backends(g) else { return false };
        let off = (vslot & ((1 << shift) - 1)) as usize;
        let (Ok(old), Ok(new)) = (
            BackendEntry::Phys { device: from, offset }.encode_compact(),
            BackendEntry::Phys { device: to, offset: p }.encode_compact(),
        ) else {
            return false;
        };
        if bt.words[off].compare_exchange(old, new, Ordering::AcqRel, Ordering::Acquire).is_err() {
            return false;
        }
        // The target's reverse map was written cache-only clear: carry the bit over (the
        // fence pairs with `put_in`/`dup_in`'s, as in `write_to_device`).
        crate::sync::fence(Ordering::SeqCst);
        if self.vspace.count_of(c, off, g).1 == 0 {
            self.back.mark_cache_only(new, true, g);
        }
        true
    }
}
