//! The swap devices: `swapon` / `swapoff` (docs/kernel.md §2.3 for the allocation order,
//! §4.3 for swapoff under the virtual swap space, §4.5 for the swap tiers a memcg may
//! use) and the rules a physical slot the system picked must obey.
//!
//! Invariants:
//! * at most `MAX_SWAPFILES` devices, ids reused lowest first; slot 0 of each is the
//!   header, so a device of `pages` pages has `pages - 1` usable slots;
//! * a device's use is never stored: it is the slots whose `Back::Device` names it;
//! * a physical slot for a memcg comes from a device its swap tiers allow, with room, and
//!   for a single page from none of lower priority while one of higher priority has free
//!   slots (for zswap writeback, the memcg's writeback tier first); `NoSpace` and
//!   `DeviceFull` only when no usable device has room;
//! * swapoff moves every page elsewhere (to a device its memcg may use) or fails with
//!   `DeviceFull` and changes nothing;
//! * `swapoff_with` is swapoff when every page fits elsewhere; else each page either moves
//!   to a device its memcg may use or comes into memory (a cached folio loses its device
//!   backing; a swapped-out page gets the sink's next folio, `pswpin`), and a page comes
//!   in only when no device its memcg may use has room left; when the sink refuses, it
//!   has given every frame it had, the device stays on and holds the pages not handled.

use super::slots::{Back, Data};
use super::{Ev, MAX_DEVICES, Model, Step};
use crate::op::Outcome;
use crate::{Backing, DeviceId, Error, FolioId, SlotState, SwapSystem, VSlot};
use std::collections::BTreeSet;

/// One swap device in the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Dev {
    pub(super) pages: u64,
    pub(super) priority: i16,
    pub(super) keeps_data: bool,
}

impl Model {
    pub(super) fn dev_used(&self, dev: u8) -> u64 {
        self.slots.values().filter(|s| matches!(s.back, Back::Device { dev: d, .. } if d == dev)).count() as u64
    }

    /// Free slots of a device (slot 0 is the header).
    pub(super) fn dev_free(&self, dev: u8) -> u64 {
        self.devices[&dev].pages - 1 - self.dev_used(dev)
    }

    /// Free slots an order-0 allocation may fail to find: none (other CPUs' cached
    /// clusters are stolen from before a fixed space reads as full).
    pub(super) fn hideable(&self) -> u64 {
        0
    }

    /// Whether physical slots for a folio of `order` charged to `memcg` may come from
    /// `dev`: one of the devices the memcg's swap tiers allow, with room, and for a single
    /// page none of those of higher priority with free slots.
    pub(super) fn device_allowed(&self, dev: u8, order: u32, memcg: u16) -> Result<(), String> {
        let Some(d) = self.devices.get(&dev) else { return Err(format!("device {dev} is not swapped on")) };
        if !self.tier_allows(dev, memcg) {
            let tier = self.tier_of(d.priority);
            return Err(format!("device {dev} (swap tier {tier:?}) used for memcg {memcg}, which may not use it"));
        }
        if self.dev_free(dev) < 1 << order {
            return Err(format!("device {dev} has {} free slots, too few for order {order}", self.dev_free(dev)));
        }
        if order == 0 {
            let hide = self.hideable();
            for (&e, ed) in &self.devices {
                if ed.priority > d.priority && self.tier_allows(e, memcg) && self.dev_free(e) > hide {
                    return Err(format!(
                        "device {dev} (priority {}) used while device {e} (priority {}) has {} free slots",
                        d.priority,
                        ed.priority,
                        self.dev_free(e)
                    ));
                }
            }
        }
        Ok(())
    }

    /// `dev` for zswap writeback: as `device_allowed`, except that the devices of the
    /// memcg's effective `Knob::ZswapWritebackTier` (when its mask allows that tier) come
    /// first, by priority, and the other allowed ones after them.
    pub(super) fn writeback_device_allowed(&self, dev: u8, memcg: u16) -> Result<(), String> {
        let Some(p) = self.writeback_pref(memcg) else { return self.device_allowed(dev, 0, memcg) };
        let in_pref = |d: u8| self.tier_of(self.devices[&d].priority) == Some(p);
        let Some(d) = self.devices.get(&dev) else { return Err(format!("device {dev} is not swapped on")) };
        if !self.tier_allows(dev, memcg) || self.dev_free(dev) == 0 {
            return self.device_allowed(dev, 0, memcg);
        }
        let hide = self.hideable();
        for (&e, ed) in &self.devices {
            let ahead = if in_pref(dev) {
                in_pref(e) && ed.priority > d.priority
            } else {
                in_pref(e) || ed.priority > d.priority
            };
            if ahead && self.tier_allows(e, memcg) && self.dev_free(e) > hide {
                return Err(format!(
                    "writeback used device {dev} (priority {}) while device {e} (priority {}, writeback tier first: {}) \
                     has {} free slots",
                    d.priority,
                    ed.priority,
                    in_pref(e),
                    self.dev_free(e)
                ));
            }
        }
        Ok(())
    }

    /// The effective `Knob::ZswapWritebackTier` of `memcg` (the nearest setting up the
    /// tree) when its swap tiers allow that tier.
    pub(super) fn writeback_pref(&self, memcg: u16) -> Option<u8> {
        let t = self.ancestry(memcg).iter().find_map(|a| self.memcgs[a].writeback_tier)?;
        (self.effective_tiers(memcg) & 1 << t != 0).then_some(t)
    }

    /// The devices `memcg`'s swap tiers let it take physical slots from.
    pub(super) fn usable(&self, memcg: u16) -> impl Iterator<Item = u8> + '_ {
        self.devices.keys().copied().filter(move |&d| self.tier_allows(d, memcg))
    }

    /// Whether no device `memcg` may use may have a physical slot for a folio of `order`.
    pub(super) fn no_space_allowed(&self, order: u32, memcg: u16) -> Result<(), String> {
        if order == 0 {
            let hide = self.hideable();
            if let Some(e) = self.usable(memcg).find(|&e| self.dev_free(e) > hide) {
                return Err(format!("no space reported while device {e} has {} free slots", self.dev_free(e)));
            }
        }
        Ok(())
    }

    pub(super) fn swapon(&mut self, kind: crate::op::DeviceKind, pages: u16, priority: i8) -> Result<Outcome, Error> {
        if self.devices.len() >= MAX_DEVICES {
            return Err(Error::Invalid("32 swap devices are already on"));
        }
        if pages < 2 {
            return Err(Error::Invalid("device pages must be in 2..=2^26"));
        }
        let id = (0..MAX_DEVICES as u8).find(|i| !self.devices.contains_key(i)).expect("fewer than 32");
        let keeps_data = kind == crate::op::DeviceKind::Memory;
        self.devices.insert(id, Dev { pages: u64::from(pages), priority: i16::from(priority), keeps_data });
        Ok(Outcome::Device(DeviceId(id)))
    }

    pub(super) fn swapoff(&mut self, device: u8, real: &Result<Outcome, Error>, sys: Option<&SwapSystem>) -> Step {
        if !self.devices.contains_key(&device) {
            return Ok(Err(Error::InvalidDevice));
        }
        let mut on: Vec<u64> = self
            .slots
            .iter()
            .filter(|(_, s)| matches!(s.back, Back::Device { dev, .. } if dev == device))
            .map(|(&k, _)| k)
            .collect();
        on.sort_unstable();
        let n = on.len() as u64;
        let others: Vec<u8> = self.devices.keys().copied().filter(|&d| d != device).collect();
        let free: u64 = others.iter().map(|&d| self.dev_free(d)).sum();
        // Each page needs a slot its memcg's swap tiers allow (hideable() is 0: no free
        // slot hides in a per-CPU cache from swapoff's reservations).
        let (may_fail, may_fit) = self.swapoff_may(device, &on)?;
        match *real {
            Err(Error::DeviceFull) => {
                if !may_fail {
                    return Err(format!(
                        "swapoff of {n} pages failed with {free} free slots on {} devices, \
                         enough in every order for their memcgs' swap tiers",
                        others.len()
                    ));
                }
                Ok(Err(Error::DeviceFull))
            }
            Ok(Outcome::Swapoff { pages_moved, cache_only }) => {
                if !may_fit {
                    return Err(format!(
                        "swapoff moved {pages_moved} pages with {free} free slots elsewhere, \
                         too few in any order for their memcgs' swap tiers"
                    ));
                }
                let want_cache_only = on.iter().filter(|s| self.slots[s].count == 0).count() as u64;
                if (pages_moved, cache_only) != (n, want_cache_only) {
                    return Err(format!(
                        "swapoff reported {pages_moved} pages moved ({cache_only} cache-only), \
                         the model expects {n} ({want_cache_only})"
                    ));
                }
                let sys = sys.ok_or("the model needs the system to follow swapoff (Model::apply_in)")?;
                let src_keeps = self.devices[&device].keeps_data;
                for s in on {
                    let to = match sys.backing(VSlot::from_raw(s)) {
                        Ok(Backing::Device(d)) if d.raw() != device && self.devices.contains_key(&d.raw()) => d.raw(),
                        other => return Err(format!("swapoff moved slot {s} to {other:?}")),
                    };
                    self.swapoff_target_allowed(s, to)?;
                    let Back::Device { data, .. } = self.slots[&s].back else { unreachable!("filtered above") };
                    let data = match (src_keeps, self.devices[&to].keeps_data) {
                        (_, false) => Data::Untouched,
                        (true, true) => data,
                        (false, true) => Data::Any,
                    };
                    self.slot_mut(s).back = Back::Device { dev: to, run: 0, data };
                }
                self.devices.remove(&device);
                Ok(Ok(Outcome::Swapoff { pages_moved, cache_only }))
            }
            _ => Err(format!("swapoff of a device holding {n} pages ({free} free elsewhere) returned {real:?}")),
        }
    }

    /// `swapoff_with` (see the module's invariants): the choices (which pages moved where,
    /// which came in and with which folio, where the sink refused) are read from `sys`.
    pub(super) fn swapoff_with(
        &mut self,
        device: u8,
        frames: u16,
        folio: FolioId,
        real: &Result<Outcome, Error>,
        sys: Option<&SwapSystem>,
    ) -> Step {
        if !self.devices.contains_key(&device) {
            return Ok(Err(Error::InvalidDevice));
        }
        // Every page placed elsewhere: this was `swapoff`, and the sink was not asked.
        if let Ok(Outcome::SwapoffWith { pages_moved, cache_only, swapped_in: 0, cache_unbacked: 0, checksum: 0 }) =
            *real
        {
            return Ok(self.swapoff(device, &Ok(Outcome::Swapoff { pages_moved, cache_only }), sys)?.map(|_| {
                Outcome::SwapoffWith { pages_moved, cache_only, swapped_in: 0, cache_unbacked: 0, checksum: 0 }
            }));
        }
        let mut on: Vec<u64> = self
            .slots
            .iter()
            .filter(|(_, s)| matches!(s.back, Back::Device { dev, .. } if dev == device))
            .map(|(&k, _)| k)
            .collect();
        on.sort_unstable();
        let n = on.len();
        if !self.swapoff_may(device, &on)?.0 {
            return Err(format!("swapoff_with brought pages in although every order places all {n} elsewhere"));
        }
        let done = match *real {
            Ok(Outcome::SwapoffWith { .. }) => true,
            Err(Error::NoMemory) => false,
            _ => return Err(format!("swapoff_with of a device holding {n} pages returned {real:?}")),
        };
        let sys = sys.ok_or("the model needs the system to follow swapoff_with (Model::apply_in)")?;
        let src_keeps = self.devices[&device].keeps_data;
        let (mut moved, mut cache_only, mut swapped, mut unbacked, mut left) = (0u64, 0u64, 0u64, 0u64, 0u64);
        let mut folios = BTreeSet::new();
        // The checksum the sink must have seen, while every page it took is known.
        let mut sum = Some(0u64);
        let mut brought_in = Vec::new();
        for s in on {
            let slot = self.slots[&s];
            let Back::Device { data, .. } = slot.back else { unreachable!("filtered above") };
            let v = VSlot::from_raw(s);
            match (sys.backing(v), sys.state(v)) {
                (Ok(Backing::Device(d)), _) if d.raw() == device => left += 1,
                (Ok(Backing::Device(d)), _) if self.devices.contains_key(&d.raw()) => {
                    let to = d.raw();
                    self.swapoff_target_allowed(s, to)?;
                    let data = match (src_keeps, self.devices[&to].keeps_data) {
                        (_, false) => Data::Untouched,
                        (true, true) => data,
                        (false, true) => Data::Any,
                    };
                    self.slot_mut(s).back = Back::Device { dev: to, run: 0, data };
                    moved += 1;
                    cache_only += u64::from(slot.count == 0);
                }
                (Ok(Backing::None), Ok(SlotState::Cached { folio: f, count })) if count == slot.count => {
                    match slot.folio {
                        // Already in memory: only the device backing went.
                        Some((pfn, _, _)) if pfn == f.0 => unbacked += 1,
                        None if f.0.checked_sub(folio.0).is_some_and(|i| i < u64::from(frames))
                            && folios.insert(f.0) =>
                        {
                            swapped += 1;
                            sum = match (sum, data) {
                                (Some(t), Data::Known(c)) => Some(t.wrapping_add(c)),
                                (Some(t), Data::Untouched) => Some(t),
                                _ => None,
                            };
                            self.event(slot.memcg, Ev::Pswpin, 1);
                            self.disk_swapin(slot.memcg);
                            self.slot_mut(s).folio = Some((f.0, 0, s));
                        }
                        _ => {
                            return Err(format!(
                                "swapoff_with left slot {s} cached with {f:?} (the model had {:?}; the sink gives \
                                 {frames} from {folio:?})",
                                slot.folio
                            ));
                        }
                    }
                    self.slot_mut(s).back = Back::None;
                    brought_in.push(s);
                }
                other => return Err(format!("swapoff_with left slot {s} (count {}) as {other:?}", slot.count)),
            }
        }
        if !done {
            let frames_given =
                if folio.0 > FolioId::MAX { 0 } else { u64::from(frames).min(FolioId::MAX - folio.0 + 1) };
            if swapped != frames_given || left == 0 {
                return Err(format!(
                    "the sink refused after {swapped} of its {frames_given} frames, with {left} pages left on the device"
                ));
            }
            return Ok(Err(Error::NoMemory));
        }
        if left != 0 {
            return Err(format!("swapoff_with succeeded with {left} pages still on device {device}"));
        }
        // Room elsewhere is taken before a page comes in.
        for s in brought_in {
            let m = self.nearest_online(self.slots[&s].memcg);
            if let Some(d) = self.usable(m).filter(|&d| d != device).find(|&d| self.dev_free(d) > 0) {
                return Err(format!(
                    "swapoff_with brought slot {s} of memcg {m} into memory while device {d}, which it may use, has \
                     {} free slots",
                    self.dev_free(d)
                ));
            }
        }
        let Ok(Outcome::SwapoffWith { checksum, .. }) = *real else { unreachable!("done") };
        if sum.is_some_and(|want| want != checksum) {
            return Err(format!(
                "the sink was handed pages of checksum sum {checksum:#x}, the model expects {sum:#x?}"
            ));
        }
        self.devices.remove(&device);
        Ok(Ok(Outcome::SwapoffWith {
            pages_moved: moved,
            cache_only,
            swapped_in: swapped,
            cache_unbacked: unbacked,
            checksum: sum.unwrap_or(checksum),
        }))
    }
}
