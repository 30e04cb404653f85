//! `swapon` / `swapoff` on the facade (docs/api.md "Devices").
//!
//! Swapoff walks the device's own table: every `Pointer` word names the virtual slot it
//! backs (the reverse map), so nothing scans the virtual space or any page table. It
//! first reserves a slot on the other devices for every page (by tier), so a lack of room
//! fails with nothing moved; then it copies each page and switches the virtual slot's
//! backend word by CAS, so a slot freed or rewritten meanwhile keeps its new state and
//! the reservation is returned.
//!
//! Invariants: swapon and swapoff run one at a time (the swapon lock); a device going
//! off (`going_off`) takes no new slot; an old physical slot's data stays readable until
//! the grace period ends, so a fault that read the old backend word still finds the page.

use super::SwapSystem;
use crate::PAGE_SIZE;
use crate::device::{Avail, Dev, DeviceSpec, MAX_DEVICES, Member, SwapTier, SwapTierOp};
use crate::entry::{BackendEntry, TableEntry};
use crate::error::Error;
use crate::ids::DeviceId;
use crate::ledger::Bytes;
use crate::memcg::Memcg;
use crate::stat::{DeviceStat, SwapoffReport};
use crate::sync::{Arc, Ordering, lock};
use crossbeam_epoch::{Guard, Owned};

impl SwapSystem {
    /// `swapon`: add a device as a tier member; its id is the lowest free one. Errors:
    /// `Invalid` (size outside 2..=2^26 pages, or 32 devices already), `Io` (the file
    /// cannot be created).
    pub fn swapon(&self, spec: DeviceSpec) -> Result<DeviceId, Error> {
        let _l = lock(&self.swapon);
        let g = self.vspace.reclaim.pin();
        let devs = &self.back.devices;
        let id = (0..MAX_DEVICES as u8)
            .find(|&i| devs.get(i, &g).is_none())
            .ok_or(Error::Invalid("32 swap devices are already on"))?;
        let dev = Dev::open(id, spec, self.cfg.cluster_shift, self.cfg.cpus, Arc::new(Bytes::default()))?;
        devs.slots[id as usize].store(Owned::new(dev), Ordering::Release);
        self.rebuild_avail(&g);
        Ok(DeviceId(id))
    }

    /// The device's name, priority, size and use (`/proc/swaps`).
    pub fn device_stat(&self, dev: DeviceId) -> Result<DeviceStat, Error> {
        let g = self.vspace.reclaim.pin();
        let d = self.back.devices.get(dev.raw(), &g).ok_or(Error::InvalidDevice)?;
        let mut used = 0;
        d.space.for_each(&g, |c| used += c.meta().count);
        let tail = (d.pages.div_ceil(1 << d.space.shift) << d.space.shift) - d.pages;
        Ok(DeviceStat { name: d.name.clone(), priority: d.priority, pages: d.pages, used: used - tail })
    }

    /// Replace the avail list with one built from the linked devices and the tier table
    /// (swapon lock held).
    fn rebuild_avail(&self, g: &Guard) {
        let devs = &self.back.devices;
        let list: Vec<(u8, i16)> =
            (0..MAX_DEVICES as u8).filter_map(|i| devs.get(i, g).map(|d| (i, d.priority))).collect();
        let avail = Avail::build(&list, &lock(&devs.tiers));
        let old = devs.avail.swap(Owned::new(avail), Ordering::AcqRel, g);
        // SAFETY: unlinked under the swapon lock; readers that loaded it are pinned.
        let owned = unsafe { old.into_owned() }.into_box();
        crate::epoch::retire(g, owned, || {});
    }

    /// Write `/sys/kernel/mm/swap/tiers` (`swap_tiers_write`): apply the commands left to
    /// right, all or nothing. Afterwards, with any tier configured, the tiers must cover
    /// -1..=`i16::MAX` (the lowest starts at -1). Devices swapped on while no tier
    /// existed join the tier of their priority; the others never change tier. Errors, the
    /// first one met, nothing changed: `TierExists` (a name in use), `Invalid` (a name not
    /// of 1..=15 letters, digits or `_`; a start below -1; removing an unknown name; no
    /// tier left at -1), `TierBusy` (a start in use; a split or removal that would move a
    /// swapped-on device), `TooManyTiers` (`Config::nr_swap_tiers` exist).
    pub fn swap_tiers_write(&self, ops: &[SwapTierOp]) -> Result<(), Error> {
        let _l = lock(&self.swapon);
        let g = self.vspace.reclaim.pin();
        let devs = &self.back.devices;
        let removed = {
            let mut table = lock(&devs.tiers);
            let members: Vec<Member> = (0..MAX_DEVICES as u8)
                .filter_map(|i| devs.get(i, &g))
                .map(|d| Member { priority: d.priority, tier: table.containing(d.priority) })
                .collect();
            table.apply(ops, &members)?
        };
        self.back.memcgs.allow_swap_tiers(removed, &g);
        self.rebuild_avail(&g);
        Ok(())
    }

    /// `/sys/kernel/mm/swap/tiers` as read: the tiers, highest start first.
    pub fn swap_tiers(&self) -> Vec<SwapTier> {
        lock(&self.back.devices.tiers).list()
    }

    /// The swap tier of a swapped-on device (None while no tier is configured).
    pub fn device_swap_tier(&self, dev: DeviceId) -> Result<Option<SwapTier>, Error> {
        let g = self.vspace.reclaim.pin();
        let d = self.back.devices.get(dev.raw(), &g).ok_or(Error::InvalidDevice)?;
        let table = lock(&self.back.devices.tiers);
        let idx = table.containing(d.priority);
        Ok(idx.and_then(|i| table.list().into_iter().find(|t| t.idx == i)))
    }

    /// `swapoff`: move every page on `dev` to the other devices by priority, each within
    /// the swap tiers its memcg allows, through the reverse map, then remove it. `DeviceFull` with nothing moved when they lack room;
    /// `Io` if a read or write fails (pages already moved stay moved, the rest stay).
    pub fn swapoff(&self, dev: DeviceId) -> Result<SwapoffReport, Error> {
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
            if let Err(e) = self.move_pages(d, &pages, &mut report, &g) {
                d.going_off.store(false, Ordering::Release);
                return Err(e);
            }
        }
        let p = self.back.devices.slots[dev.raw() as usize].swap(crossbeam_epoch::Shared::null(), Ordering::AcqRel, &g);
        self.rebuild_avail(&g);
        // SAFETY: unlinked under the swapon lock; readers that loaded it are pinned.
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
    fn move_pages(
        &self,
        d: &Dev,
        pages: &[(u64, u64, bool)],
        report: &mut SwapoffReport,
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
        for (_, i) in by_restriction {
            match self.alloc_phys(0, pages[i].1, 0, memcgs[i], false, g) {
                Some(t) => targets[i] = Some(t),
                None => {
                    for (t, p) in targets.into_iter().flatten() {
                        back.free_phys(t, p, g);
                    }
                    return Err(Error::DeviceFull);
                }
            }
        }
        let mut buf = [0u8; PAGE_SIZE];
        let mut targets = targets.into_iter().flatten();
        for &(offset, vslot, cache_only) in pages {
            let Some((t, p)) = targets.next() else { break };
            // A device that keeps no data has nothing to copy (the buffer would hold the
            // previous page).
            let copied = if d.store.keeps_data() {
                d.store.read(offset, &mut buf).and_then(|()| t.store.write(p, &buf))
            } else {
                Ok(())
            };
            if let Err(e) = copied {
                back.free_phys(t, p, g);
                for (t, p) in targets {
                    back.free_phys(t, p, g);
                }
                return Err(e.into());
            }
            if self.switch_backend(vslot, d.id, offset, t.id, p, g) {
                back.unmap_phys(d, offset, g);
                // The recorded memcg holds the charge; only its device changes. A writeout
                // that put this page on `d` may not have re-recorded it yet to its nearest
                // online ancestor (which it charged): the count then moves on the offline
                // memcg instead. No `memcg_stat` tells them apart: it needs an online memcg,
                // and every online one whose subtree holds the offline memcg holds that
                // ancestor too.
                if let Some(r) = self.recorded_memcg(vslot, g) {
                    back.memcgs.move_swap(r, d.id, t.id, g);
                }
                report.pages_moved += 1;
                report.cache_only += u64::from(cache_only);
                match report.moved_to.iter_mut().find(|(id, _)| id.raw() == t.id) {
                    Some((_, n)) => *n += 1,
                    None => report.moved_to.push((DeviceId(t.id), 1)),
                }
            } else {
                back.free_phys(t, p, g);
            }
        }
        Ok(())
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
