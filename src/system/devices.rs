//! `swapon` and the swap tiers on the facade (docs/api.md "Devices"); `swapoff` is
//! `swapoff.rs`.
//!
//! Invariants: swapon, swapoff and tier writes run one at a time (the swapon lock); the
//! avail list is an immutable snapshot, replaced (never edited) under that lock.

use super::SwapSystem;
use crate::device::{Avail, Dev, DeviceSpec, MAX_DEVICES, Member, SwapTier, SwapTierOp};
use crate::error::Error;
use crate::ids::DeviceId;
use crate::ledger::Bytes;
use crate::stat::DeviceStat;
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
    pub(super) fn rebuild_avail(&self, g: &Guard) {
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
}
