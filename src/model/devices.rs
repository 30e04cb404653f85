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
//!   `DeviceFull` and changes nothing.

use super::slots::{Back, Data};
use super::{MAX_DEVICES, Model, Step};
use crate::op::Outcome;
use crate::{Backing, DeviceId, Error, SwapSystem, VSlot};

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
}
