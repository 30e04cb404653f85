//! Swap tiers in the model (the 2026 swap-tier series, docs/kernel.md §4.5), written from
//! the series' rules and `tests/swap_tiers.rs`, not from `device/tier.rs`: the tiers as a
//! map from start priority to (name, index), each running up to one below the next start;
//! per memcg its own `memory.swap.tiers.max` bits; and which devices a memcg's pages may
//! take physical slots from.
//!
//! * A batch (`/sys/kernel/mm/swap/tiers`) runs on a copy, command by command, and
//!   replaces the tiers only if every command and the final "lowest at -1" check pass.
//! * Devices keep their tier: a batch sees each device in the tier its priority had when
//!   the batch began (none while no tier existed, so those devices block nothing and join
//!   a tier once the batch is in).
//! * A removed tier's bit is set again in every memcg, so a tier that later takes its
//!   index starts allowed everywhere.
//! * With no tier configured every device serves every memcg; with tiers, a device
//!   serves the memcgs whose own bits and every ancestor's allow its tier.
//!
//! Invariants: at most `nr_swap_tiers` tiers, with distinct names shorter than
//! `MAX_TIERNAME` and distinct indices, the lowest starting at `DEF_SWAP_PRIO` (-1);
//! a failed batch changes nothing.

use super::{Model, ROOT};
use crate::op::{Outcome, TierCmd};
use crate::{Error, MemcgId, SwapTier};
use std::collections::{BTreeMap, HashSet};

/// `DEF_SWAP_PRIO`: the lowest tier starts here, and lower device priorities count as it.
const DEF_SWAP_PRIO: i16 = -1;
/// `MAX_TIERNAME`: a name is shorter than this.
const MAX_TIERNAME: usize = 16;

/// The tiers: start priority -> (name, index).
pub(super) type Tiers = BTreeMap<i16, (String, u8)>;

/// The index of the tier of `tiers` holding `priority`.
fn holding(tiers: &Tiers, priority: i16) -> Option<u8> {
    tiers.range(..=priority.max(DEF_SWAP_PRIO)).next_back().map(|(_, &(_, idx))| idx)
}

/// `swap_tier_add` on the batch's copy `t`, with its checks in the kernel's order.
/// `members`: every swapped-on device as (priority, its tier when the batch began).
fn add(t: &mut Tiers, nr: u8, name: &str, start: i16, members: &[(i16, Option<u8>)]) -> Result<(), Error> {
    if t.values().any(|(n, _)| n == name) {
        return Err(Error::TierExists);
    }
    let valid = (1..MAX_TIERNAME).contains(&name.len()) && name.chars().all(|c| c == '_' || c.is_ascii_alphanumeric());
    if !valid {
        return Err(Error::Invalid("bad swap tier name"));
    }
    if t.contains_key(&start) {
        return Err(Error::TierBusy("another swap tier starts at this priority"));
    }
    if let Some(split) = holding(t, start) {
        // The part of the split tier from `start` up becomes the new tier: a device of
        // that tier there would change tier.
        if members.iter().any(|&(p, tier)| tier == Some(split) && p >= start) {
            return Err(Error::TierBusy("the split would move a swapped-on device to another tier"));
        }
    }
    if start < DEF_SWAP_PRIO {
        return Err(Error::Invalid("swap tier start below -1"));
    }
    let used: Vec<u8> = t.values().map(|&(_, i)| i).collect();
    let idx = (0..nr).find(|i| !used.contains(i)).ok_or(Error::TooManyTiers)?;
    t.insert(start, (name.to_string(), idx));
    Ok(())
}

/// `swap_tier_remove` on the batch's copy `t`: the freed index.
fn remove(t: &mut Tiers, name: &str, members: &[(i16, Option<u8>)]) -> Result<u8, Error> {
    let Some((&start, &(_, idx))) = t.iter().find(|(_, (n, _))| n == name) else {
        return Err(Error::Invalid("no such swap tier"));
    };
    if members.iter().any(|&(_, tier)| tier == Some(idx)) {
        return Err(Error::TierBusy("a swapped-on device is in this tier"));
    }
    t.remove(&start);
    // The tier below takes over the range by itself (it runs up to the next start); the
    // lowest tier gone, the one above it grows down to -1.
    if start == DEF_SWAP_PRIO {
        if let Some((_, v)) = t.pop_first() {
            t.insert(DEF_SWAP_PRIO, v);
        }
    }
    Ok(idx)
}

/// Whether some order of placing swapoff's pages fails, and whether some order places
/// them all. `free`: each bin's free slots, highest priority first; `classes`: pages by
/// the bins they may use (a bit per bin), each page taking the first allowed bin with
/// room. None when the search would take more than `budget` states.
fn swapoff_orders(free: &[u64], classes: &[(u64, u64)], budget: usize) -> Option<(bool, bool)> {
    let first = |f: &[u64], bins: u64| (0..f.len()).find(|&b| bins >> b & 1 != 0 && f[b] > 0);
    let start: (Vec<u64>, Vec<u64>) = (classes.iter().map(|c| c.1).collect(), free.to_vec());
    let (mut fails, mut fits) = (false, false);
    let mut seen = HashSet::from([start.clone()]);
    let mut todo = vec![start];
    while let Some((left, f)) = todo.pop() {
        if left.iter().all(|&n| n == 0) {
            fits = true;
        }
        for (c, &(bins, _)) in classes.iter().enumerate() {
            if left[c] == 0 {
                continue;
            }
            let Some(b) = first(&f, bins) else {
                fails = true;
                continue;
            };
            let (mut l, mut g) = (left.clone(), f.clone());
            l[c] -= 1;
            g[b] -= 1;
            if seen.insert((l.clone(), g.clone())) {
                if seen.len() > budget {
                    return None;
                }
                todo.push((l, g));
            }
        }
        if fails && fits {
            break;
        }
    }
    Some((fails, fits))
}

impl Model {
    /// The tier of a device at `priority` (None while no tier is configured).
    pub(super) fn tier_of(&self, priority: i16) -> Option<u8> {
        holding(&self.swap_tiers, priority)
    }

    /// The bits of the configured tiers.
    pub(super) fn live_tier_bits(&self) -> u32 {
        self.swap_tiers.values().fold(0, |m, &(_, i)| m | 1 << i)
    }

    /// The tier bits `id`'s pages may use: its own and every ancestor's allow them.
    pub(super) fn effective_tiers(&self, id: u16) -> u32 {
        self.ancestry(id).iter().fold(u32::MAX, |m, a| m & self.memcgs[a].swap_tiers)
    }

    /// Whether pages of memcg `id` may take physical slots from device `dev`: always with
    /// no tier configured, else when the memcg's effective bits allow the device's tier.
    pub(super) fn tier_allows(&self, dev: u8, id: u16) -> bool {
        match self.tier_of(self.devices[&dev].priority) {
            None => true,
            Some(i) => self.effective_tiers(id) & 1 << i != 0,
        }
    }

    /// `/sys/kernel/mm/swap/tiers` as read: highest start first.
    pub(super) fn swap_tier_list(&self) -> Vec<SwapTier> {
        let mut end = i16::MAX;
        let mut out = Vec::new();
        for (&start, (name, idx)) in self.swap_tiers.iter().rev() {
            out.push(SwapTier { name: name.clone(), idx: *idx, start, end });
            end = start.saturating_sub(1);
        }
        out
    }

    /// `memory.swap.tiers.max` of an online non-root memcg: each tier and its own bit.
    pub(super) fn memcg_swap_tier_list(&self, id: u16) -> Vec<(SwapTier, bool)> {
        let own = self.memcgs[&id].swap_tiers;
        self.swap_tier_list().into_iter().map(|t| (t.clone(), own & 1 << t.idx != 0)).collect()
    }

    /// The tiers an online memcg's pages may use, highest first.
    pub(super) fn memcg_effective_tier_list(&self, id: u16) -> Vec<SwapTier> {
        let mask = self.effective_tiers(id);
        self.swap_tier_list().into_iter().filter(|t| mask & 1 << t.idx != 0).collect()
    }

    /// A batch: every command in order on a copy, then the "lowest at -1" check; the copy
    /// replaces the tiers only if all passed, and the removed indices are allowed again in
    /// every memcg.
    pub(super) fn swap_tiers_write(&mut self, cmds: &[Option<TierCmd>; 3]) -> Result<Outcome, Error> {
        let members: Vec<(i16, Option<u8>)> =
            self.devices.values().map(|d| (d.priority, self.tier_of(d.priority))).collect();
        let mut t = self.swap_tiers.clone();
        let mut freed = 0u32;
        for cmd in cmds.iter().flatten() {
            match *cmd {
                TierCmd::Add { start, .. } => add(&mut t, self.nr_swap_tiers, cmd.name(), start, &members)?,
                TierCmd::Remove { .. } => freed |= 1 << remove(&mut t, cmd.name(), &members)?,
            }
        }
        if t.keys().next().is_some_and(|&s| s != DEF_SWAP_PRIO) {
            return Err(Error::Invalid("no swap tier starts at -1"));
        }
        self.swap_tiers = t;
        for cg in self.memcgs.values_mut() {
            cg.swap_tiers |= freed;
            if cg.writeback_tier.is_some_and(|t| freed & 1 << t != 0) {
                cg.writeback_tier = None;
            }
        }
        Ok(Outcome::Done)
    }

    /// `Knob::SwapTierMax` on `id` (online: checked by the caller).
    pub(super) fn set_swap_tier_max(&mut self, id: MemcgId, tier: u8, enabled: bool) -> Result<Outcome, Error> {
        let id = id.raw();
        if id == ROOT {
            return Err(Error::Invalid("the root memcg has no memory.swap.tiers.max"));
        }
        let live = self.live_tier_bits();
        let bit = 1u32.checked_shl(u32::from(tier)).filter(|b| live & b != 0);
        let Some(bit) = bit else { return Err(Error::Invalid("no swap tier of this index")) };
        if enabled {
            self.memcgs.get_mut(&id).expect("online").swap_tiers |= bit;
            return Ok(Outcome::Done);
        }
        // Cleared at `id`: would `id` or an online memcg below it keep no configured tier?
        let starved = self
            .memcgs
            .iter()
            .filter(|(_, cg)| cg.online)
            .any(|(&d, _)| self.ancestry(d).contains(&id) && self.effective_tiers(d) & !bit & live == 0);
        if starved {
            return Err(Error::Invalid("the write would leave a memcg no swap tier"));
        }
        self.memcgs.get_mut(&id).expect("online").swap_tiers &= !bit;
        Ok(Outcome::Done)
    }

    /// Whether swapoff of `device` may fail with `DeviceFull` and whether it may succeed,
    /// for the pages `on` it holds. Each page needs a slot on another device its memcg
    /// (the nearest online one) may use; swapoff reserves them page by page in an order
    /// the model does not know (the device's offsets), each from the highest-priority
    /// allowed device with room, and fails when one finds none.
    pub(super) fn swapoff_may(&self, device: u8, on: &[u64]) -> Result<(bool, bool), String> {
        // Bins: the tiers, highest first (with none configured, every device in one).
        let order: Vec<Option<u8>> = if self.swap_tiers.is_empty() {
            vec![None]
        } else {
            self.swap_tiers.values().rev().map(|&(_, i)| Some(i)).collect()
        };
        let mut free = vec![0u64; order.len()];
        let mut bin_of: BTreeMap<u8, usize> = BTreeMap::new();
        for (&d, dev) in self.devices.iter().filter(|&(&d, _)| d != device) {
            let tier = self.tier_of(dev.priority);
            let k = order.iter().position(|&t| t == tier).ok_or(format!("device {d} in no configured tier"))?;
            free[k] += self.dev_free(d);
            bin_of.insert(d, k);
        }
        let mut classes: BTreeMap<u64, u64> = BTreeMap::new();
        for s in on {
            let m = self.nearest_online(self.slots[s].memcg);
            let mut allowed = 0u64;
            for (&d, &k) in &bin_of {
                if self.tier_allows(d, m) {
                    allowed |= 1 << k;
                }
            }
            *classes.entry(allowed).or_default() += 1;
        }
        let classes: Vec<(u64, u64)> = classes.into_iter().collect();
        let cap = |bins: u64| (0..free.len()).filter(|&b| bins >> b & 1 != 0).map(|b| free[b]).sum::<u64>();
        if let [(bins, n)] = classes[..] {
            // One kind of page: the order does not matter.
            return Ok((n > cap(bins), n <= cap(bins)));
        }
        if let Some(r) = swapoff_orders(&free, &classes, 200_000) {
            return Ok(r);
        }
        // Too many orders to search: a page can fail only if the pages that may share its
        // bins outnumber their room; all can fit only if they fit somewhere.
        let any_fail = classes.iter().any(|&(bins, _)| {
            bins == 0 || classes.iter().filter(|(b, _)| b & bins != 0).map(|(_, n)| n).sum::<u64>() > cap(bins)
        });
        let total = classes.iter().map(|c| c.1).sum::<u64>();
        Ok((any_fail, total <= cap(classes.iter().fold(0, |m, c| m | c.0))))
    }

    /// Check a page swapoff moved to `to` against its memcg's tiers.
    pub(super) fn swapoff_target_allowed(&self, slot: u64, to: u8) -> Result<(), String> {
        let m = self.nearest_online(self.slots[&slot].memcg);
        if self.tier_allows(to, m) {
            Ok(())
        } else {
            Err(format!("swapoff moved slot {slot} of memcg {m} to device {to}, in a swap tier it may not use"))
        }
    }
}
