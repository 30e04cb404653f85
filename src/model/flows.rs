//! The flows of docs/kernel.md §4.3 (the virtual swap space's writeout, fault and
//! writeback) and §5.2–§5.4 (zswap store, load, writeback, pool limits): `Op::Writeout`
//! (zero pages, `zswap_store` with its compression priorities and its refusals, else a
//! physical slot reused in place or newly allocated and charged), `Op::Evict`,
//! `Op::Fault` (`swap_read_folio`: zero, zswap load, device read) and `Op::Writeback`
//! (`zswap_writeback_entry`).
//!
//! Invariants:
//! * `zswap_store` stores every page of a folio or none, and a refused store leaves no
//!   stale entry (`check_old`);
//! * the pool is full at `max_pool_percent` of RAM and accepts again below
//!   `accept_threshold_percent` of it (the hysteresis), unless the proactive start
//!   disables it;
//! * a fault returns the bytes last written out where the backend keeps them (zero
//!   pages, zswap, a memory device), the caller's buffer untouched otherwise;
//! * a new physical slot is charged to the recorded memcg or, if it is offline, to its
//!   nearest online ancestor, and the slots are re-recorded to it once they hold it.

use super::shrink::Walk;
use super::slots::{Back, Data, Slot};
use super::{Ev, Model, PAGE, Step, UNLIMITED};
use crate::op::{FAULT_FILL, Outcome, PageKind, checksum};
use crate::{
    Backing, DeviceId, Error, Fault, FaultSource, FolioId, KeepReason, MemcgId, PAGE_SIZE, Shadow, SwapSystem, VSlot,
    Writeout,
};

/// `zswap_compress`'s verdict on a page shrunk to `n` bytes: the stored length, or
/// Err(true) for `reject_compress_poor` (a synthetic page over a page: -ENOSPC), Err(false)
/// for `_fail` (a useless result: 0 bytes, or a page or more). A page that does not
/// compress is stored as-is when `as_is` (writeback allowed and
/// `ZswapConfig::reject_incompressible` off).
fn verdict(n: u64, as_is: bool, synthetic: bool) -> Result<u32, bool> {
    if n != 0 && n < PAGE {
        Ok(n as u32)
    } else if as_is {
        Ok(PAGE as u32)
    } else {
        Err(synthetic && n > PAGE)
    }
}

impl Model {
    /// The compression priority registered at `priority`, if any.
    pub(super) fn tier(&self, priority: u8) -> Option<crate::CompressionPriority> {
        *self.tiers.get(usize::from(priority).checked_sub(1)?)?
    }

    /// What the tier at `priority` makes of a page: its bytes compressed with the
    /// tier's algorithm, or a synthetic size scaled by its ratio (rounded up; sizes that
    /// do not compress stay as they are).
    pub(super) fn compressed_len(&self, priority: u8, page: Option<&[u8]>, stated: u32) -> u64 {
        // A system refuses a configuration without tier 1 and a knob naming an
        // unregistered tier, so the tier is always there; a model built from a config no
        // system accepted falls back to the default tier instead of panicking.
        let t = self.tiers.get(usize::from(priority).wrapping_sub(1)).copied().flatten().unwrap_or_default();
        match (page, t.algorithm) {
            (Some(p), crate::Algorithm::Deflate { level }) => {
                miniz_oxide::deflate::compress_to_vec(p, level).len() as u64
            }
            (Some(p), _) => lz4_flex::block::compress(p).len() as u64,
            (None, _) if stated == 0 || stated as usize >= PAGE_SIZE => u64::from(stated),
            (None, _) => (u64::from(stated) * u64::from(t.synthetic_permille)).div_ceil(1000),
        }
    }

    pub(super) fn pool_bytes(&self) -> u64 {
        self.slots.values().map(|s| if let Back::Zswap { len, .. } = s.back { u64::from(len) } else { 0 }).sum()
    }

    /// `zswap_check_limits` with its hysteresis: true when stores must be refused.
    pub(super) fn check_limits(&mut self) -> bool {
        let cur = self.pool_bytes().div_ceil(PAGE);
        if cur >= self.max_pages {
            self.global.pool_limit_hit += 1;
            if self.reclaim.proactive_start() {
                // No hysteresis: only a full pool refuses.
                return true;
            }
            self.reached_full = true;
        } else if self.reached_full && cur <= self.accept_pages {
            self.reached_full = false;
        }
        self.reached_full
    }

    /// The memcg a new physical slot is charged to (`mem_cgroup_id_get_online`): the
    /// recorded one, or if it is offline its nearest online ancestor. The slots are
    /// re-recorded to it (`rerecord`) only once the physical slot is theirs.
    pub(super) fn charge_target(&self, recorded: u16) -> u16 {
        self.nearest_online(recorded)
    }

    /// Record `to` for the slots of `range` (their new physical slot is charged to it).
    pub(super) fn rerecord(&mut self, range: std::ops::Range<u64>, to: u16) {
        for s in range {
            self.slot_mut(s).memcg = to;
        }
    }

    pub(super) fn next_run(&mut self) -> u64 {
        self.runs += 1;
        self.runs
    }

    /// What a device keeps of page `i` written out of `pages` (None: synthetic).
    pub(super) fn device_data(&self, dev: u8, page: Option<&Vec<u8>>) -> Data {
        match (self.devices[&dev].keeps_data, page) {
            (false, _) => Data::Untouched,
            (true, Some(p)) => Data::Known(checksum(p)),
            (true, None) => Data::Any,
        }
    }

    pub(super) fn writeout(
        &mut self,
        slot: VSlot,
        page: PageKind,
        order: u8,
        real: &Result<Outcome, Error>,
        sys: Option<&SwapSystem>,
    ) -> Step {
        let range = match self.folio(slot) {
            Ok(r) => r,
            Err(e) => return Ok(Err(e)),
        };
        let nr = range.end - range.start;
        let forder = nr.trailing_zeros();
        if !page.is_synthetic() {
            if u32::from(order) != forder {
                return Ok(Err(Error::BadPage));
            }
            if self.synthetic {
                return Ok(Err(Error::Invalid("the synthetic compressor takes Page::Synthetic")));
            }
        }
        let head = range.start;
        let recorded = self.slots[&head].memcg;
        let m = self.nearest_online(recorded);
        let bytes: Vec<Option<Vec<u8>>> = (0..nr).map(|i| (!page.is_synthetic()).then(|| page.page(i))).collect();
        let zero = match page {
            PageKind::Synthetic { zero, .. } => zero,
            _ => bytes.iter().flatten().all(|p| p.iter().all(|&b| b == 0)),
        };
        let done = |w| Ok(Ok(Outcome::Writeout(w)));
        if zero {
            for s in range {
                self.slot_mut(s).back = Back::Zero;
            }
            self.event(recorded, Ev::SwpoutZero, nr);
            return done(Writeout::Zero);
        }
        for s in range.clone() {
            if self.slots[&s].back == Back::Zero {
                self.slot_mut(s).back = Back::None;
            }
        }
        // zswap_store: every page or none.
        let writeback = self.writeback_enabled(m);
        if self.zswap_enabled {
            // §5.2 step 2: over `zswap.max` somewhere up the tree, walk
            // `store_shrink_batch` of the memcg's own entries (`shrink_memcg`) and store
            // only if one was written back.
            let batch = self.reclaim.store_batch.max(1);
            let room = self.may_zswap(m) || self.walk(m, batch, Walk::Worker { budget: UNLIMITED }, sys)?.written > 0;
            if room && !self.check_limits() {
                let mut lens = Vec::new();
                let tier = self.compressor(m);
                for p in &bytes {
                    let n = match (p, page) {
                        (Some(p), _) => self.compressed_len(tier, Some(p), 0),
                        (None, PageKind::Synthetic { compressed_len, .. }) => {
                            self.compressed_len(tier, None, u32::from(compressed_len))
                        }
                        (None, _) => unreachable!("bytes for every non-synthetic kind"),
                    };
                    match verdict(n, writeback && !self.reject_incompressible, p.is_none()) {
                        Ok(len) => lens.push(len),
                        Err(true) => {
                            self.global.reject_compress_poor += 1;
                            break;
                        }
                        Err(false) => {
                            self.global.reject_compress_fail += 1;
                            break;
                        }
                    }
                }
                if lens.len() as u64 == nr {
                    let mut stored = Vec::new();
                    for (i, s) in range.clone().enumerate() {
                        let data = bytes[i].as_ref().map_or(Data::Untouched, |p| Data::Known(checksum(p)));
                        let id = self.reclaim.entry_id();
                        let page = bytes[i].is_some().then_some((page, i as u64));
                        self.slot_mut(s).back = Back::Zswap { len: lens[i], memcg: m, data, id, tier, page };
                        stored.push((s, id));
                    }
                    self.lru_add(m, &stored);
                    self.event(m, Ev::Zswpout, nr);
                    self.stored_hook();
                    return done(Writeout::Zswap { compressed: lens.iter().sum() });
                }
            }
            self.refused_hook();
        }
        // check_old (§5.2 step 8, §4.3 step 1): a refused store leaves no stale entry.
        for s in range.clone() {
            if matches!(self.slots[&s].back, Back::Zswap { .. }) {
                self.slot_mut(s).back = Back::None;
            }
        }
        if self.zswap_enabled && !writeback {
            return done(Writeout::Kept(KeepReason::WritebackDisabled));
        }
        // The folio's own physical slots, when contiguous, are rewritten in place.
        let backs: Vec<Back> = range.clone().map(|s| self.slots[&s].back).collect();
        let reuse = match backs[0] {
            Back::Device { dev, run, .. } => {
                let same_dev = backs.iter().all(|b| matches!(*b, Back::Device { dev: d, .. } if d == dev));
                let same_run = backs.iter().all(|b| matches!(*b, Back::Device { run: r, .. } if r == run));
                if !same_dev {
                    Some(false)
                } else if nr == 1 || (same_run && run != 0) {
                    Some(true)
                } else if backs.iter().any(|b| matches!(*b, Back::Device { run: 0, .. })) {
                    None
                } else {
                    Some(false)
                }
            }
            _ => Some(false),
        };
        let reuse = match (reuse, backs[0]) {
            (Some(r), _) => r,
            // Pages swapoff moved one by one: contiguous or not, the system knows.
            (None, Back::Device { dev, .. }) => {
                let same = *real == Ok(Outcome::Writeout(Writeout::Device(DeviceId(dev))));
                if same && self.nearest_online(recorded) != recorded {
                    // A new slot would have re-recorded the folio to an online ancestor.
                    let sys = sys.ok_or("the model needs the system to follow this writeout (Model::apply_in)")?;
                    sys.memcg_of(VSlot::from_raw(head)) == Ok(Some(MemcgId::from_raw(recorded)))
                } else if !same || !self.swap_fits(recorded, nr) {
                    *real == Ok(Outcome::Writeout(Writeout::Device(DeviceId(dev))))
                } else {
                    let k = self.swap_high_levels(recorded, nr).len() as u64;
                    if k == 0 {
                        true
                    } else {
                        let sys = sys.ok_or("the model needs the system to follow this writeout (Model::apply_in)")?;
                        let high = sys.memcg_stat(MemcgId::ROOT).map_err(|e| format!("root memcg_stat: {e:?}"))?;
                        let have = self.total(Ev::High);
                        match high.swap_events_high.checked_sub(have) {
                            Some(0) => true,
                            Some(d) if d == k => false,
                            _ => {
                                return Err(format!(
                                    "swap.events high {} after a writeout, model {have} (+{k})",
                                    high.swap_events_high
                                ));
                            }
                        }
                    }
                }
            }
            (None, _) => unreachable!("ambiguous only for device backing"),
        };
        if reuse {
            let Back::Device { dev, .. } = backs[0] else { unreachable!("reuse needs a device") };
            for (i, s) in range.enumerate() {
                let data = self.device_data(dev, bytes[i].as_ref());
                let Back::Device { run, .. } = self.slots[&s].back else { unreachable!("checked") };
                self.slot_mut(s).back = Back::Device { dev, run, data };
            }
            self.event(recorded, Ev::Pswpout, nr);
            return done(Writeout::Device(DeviceId(dev)));
        }
        let recorded = self.charge_target(recorded);
        // As `folio_alloc_swap`: the physical slots first (`fail` when there are none),
        // then the charge (`max` and `fail` when refused, and the slots go back).
        match *real {
            Ok(Outcome::Writeout(Writeout::Device(d))) => {
                self.device_allowed(d.raw(), forder, recorded)?;
                if !self.charge_swap_events(recorded, nr) {
                    return Err(format!("writeout to device {} passed swap.max", d.raw()));
                }
                let run = self.next_run();
                for (i, s) in range.clone().enumerate() {
                    let data = self.device_data(d.raw(), bytes[i].as_ref());
                    self.slot_mut(s).back = Back::Device { dev: d.raw(), run, data };
                }
                self.rerecord(range, recorded);
                self.event(recorded, Ev::Pswpout, nr);
                done(Writeout::Device(d))
            }
            Ok(Outcome::Writeout(Writeout::Kept(KeepReason::SwapMax))) => {
                if !self.usable(recorded).any(|d| self.dev_free(d) >= nr) {
                    return Err(format!("swap.max refused a writeout, but no usable device has {nr} free slots"));
                }
                if self.charge_swap_events(recorded, nr) {
                    return Err("a writeout within swap.max was kept for swap.max".into());
                }
                done(Writeout::Kept(KeepReason::SwapMax))
            }
            Ok(Outcome::Writeout(Writeout::Kept(KeepReason::NoSpace))) => {
                self.no_space_allowed(forder, recorded)?;
                self.event(recorded, Ev::Fail, 1);
                done(Writeout::Kept(KeepReason::NoSpace))
            }
            _ => Err(format!("writeout should go to a device (or be kept), system returned {real:?}")),
        }
    }

    pub(super) fn evict(&mut self, slot: VSlot, shadow: Shadow) -> Result<Outcome, Error> {
        let range = self.folio(slot)?;
        if range.clone().any(|s| self.slots[&s].back == Back::None) {
            return Err(Error::NotBacked);
        }
        self.cache_del(slot, shadow)
    }

    pub(super) fn fault(
        &mut self,
        cpu: u16,
        slot: VSlot,
        folio: FolioId,
        with_buffer: bool,
        real: &Result<Outcome, Error>,
    ) -> Result<Outcome, Error> {
        if usize::from(cpu) >= self.cpus {
            return Err(Error::Invalid("cpu index out of range"));
        }
        if folio.0 > FolioId::MAX {
            return Err(Error::InvalidFolio);
        }
        let s = self.get(slot)?;
        let untouched = checksum(&[FAULT_FILL; PAGE_SIZE]);
        if s.folio.is_some() {
            let fault = Fault { source: FaultSource::Cache, shadow: None };
            return Ok(Outcome::Fault { fault, checksum: with_buffer.then_some(untouched) });
        }
        let (source, data) = match s.back {
            Back::None => return Err(Error::NotBacked),
            Back::Zero => {
                self.event(s.memcg, Ev::SwpinZero, 1);
                (FaultSource::Zero, Data::Known(checksum(&[0; PAGE_SIZE])))
            }
            Back::Zswap { memcg, data, .. } => {
                self.event(memcg, Ev::Zswpin, 1);
                self.slot_mut(slot.raw()).back = Back::None;
                (FaultSource::Zswap, data)
            }
            Back::Device { dev, data, .. } => {
                self.event(s.memcg, Ev::Pswpin, 1);
                self.disk_swapin(s.memcg);
                (FaultSource::Device(DeviceId(dev)), data)
            }
        };
        self.slot_mut(slot.raw()).folio = Some((folio.0, 0, slot.raw()));
        let fault = Fault { source, shadow: Some(Shadow(s.shadow)) };
        let checksum = match (with_buffer, data) {
            (false, _) => None,
            (true, Data::Known(c)) => Some(c),
            (true, Data::Untouched) => Some(untouched),
            (true, Data::Any) => match *real {
                Ok(Outcome::Fault { checksum, .. }) => checksum,
                _ => None,
            },
        };
        Ok(Outcome::Fault { fault, checksum })
    }

    pub(super) fn writeback(&mut self, slot: VSlot, real: &Result<Outcome, Error>, sys: Option<&SwapSystem>) -> Step {
        let s = match self.get(slot) {
            Ok(s) => s,
            Err(e) => return Ok(Err(e)),
        };
        if s.folio.is_some() {
            return Ok(Err(Error::InSwapCache));
        }
        let Back::Zswap { memcg: em, data, .. } = s.back else { return Ok(Err(Error::NotInZswap)) };
        if !self.writeback_enabled(self.nearest_online(s.memcg)) {
            return Ok(Err(Error::Invalid("memory.zswap.writeback is 0 for the slot's memcg")));
        }
        let recorded = self.charge_target(s.memcg);
        let s = Slot { memcg: recorded, ..s };
        // The physical slot first (`fail` when there is none), then the charge.
        match *real {
            Ok(Outcome::Done) => {
                let sys = sys.ok_or("the model needs the system to follow writeback (Model::apply_in)")?;
                let dev = match sys.backing(slot) {
                    Ok(Backing::Device(d)) => d.raw(),
                    other => return Err(format!("writeback left slot {} backed by {other:?}", slot.raw())),
                };
                self.writeback_device_allowed(dev, s.memcg)?;
                if !self.charge_swap_events(s.memcg, 1) {
                    return Err(format!("writeback to device {dev} passed swap.max"));
                }
                let data = match (self.devices[&dev].keeps_data, data) {
                    (false, _) => Data::Untouched,
                    (true, Data::Known(c)) => Data::Known(c),
                    (true, _) => Data::Any,
                };
                let run = self.next_run();
                self.slot_mut(slot.raw()).back = Back::Device { dev, run, data };
                self.rerecord(slot.raw()..slot.raw() + 1, s.memcg);
                self.event(em, Ev::Zswpwb, 1);
                self.event(s.memcg, Ev::Pswpout, 1);
                self.global.written_back_pages += 1;
                Ok(Ok(Outcome::Done))
            }
            Err(Error::DeviceFull) => {
                if self.swap_fits(s.memcg, 1) {
                    self.no_space_allowed(0, s.memcg)?;
                    self.event(s.memcg, Ev::Fail, 1);
                } else if !self.usable(s.memcg).any(|d| self.dev_free(d) > 0) {
                    self.event(s.memcg, Ev::Fail, 1);
                } else {
                    // swap.max refused the charge for the slot found, unless every free
                    // slot was out of reach: the root's `max` count tells which.
                    let charged = if self.usable(s.memcg).any(|d| self.dev_free(d) > self.hideable()) {
                        true
                    } else {
                        let sys = sys.ok_or("the model needs the system to follow writeback (Model::apply_in)")?;
                        let real = sys.memcg_stat(MemcgId::ROOT).map_err(|e| format!("root memcg_stat: {e:?}"))?;
                        let have = self.total(Ev::Max);
                        match real.swap_events_max.checked_sub(have) {
                            Some(1) => true,
                            Some(0) => false,
                            _ => {
                                return Err(format!(
                                    "swap.events max {} after writeback, model {have}",
                                    real.swap_events_max
                                ));
                            }
                        }
                    };
                    if charged {
                        self.charge_swap_events(s.memcg, 1);
                    } else {
                        self.no_space_allowed(0, s.memcg)?;
                        self.event(s.memcg, Ev::Fail, 1);
                    }
                }
                Ok(Err(Error::DeviceFull))
            }
            _ => Err(format!("writeback should succeed or fail with DeviceFull, system returned {real:?}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CompressionPriority, Config};

    /// `Model::new` takes any `Config`, even one no system accepts: a model without tier 1
    /// sizes entries with the default tier (lz4, sizes as stated) instead of panicking.
    #[test]
    fn a_config_without_tier_1_sizes_with_the_default_tier() {
        let mut cfg = Config::default();
        cfg.zswap.compression_priorities =
            vec![CompressionPriority { synthetic_permille: 250, ..CompressionPriority::deflate(2, 6) }];
        let m = Model::new(&cfg, 1 << 12);
        let page: Vec<u8> = (0..PAGE_SIZE).map(|i| (i % 7) as u8).collect();
        assert_eq!(m.compressed_len(1, Some(&page), 0), lz4_flex::block::compress(&page).len() as u64);
        assert_eq!(m.compressed_len(1, None, 1000), 1000, "the default tier keeps stated sizes");
        assert_eq!(m.compressed_len(4, None, 1000), 1000, "an unregistered priority too");
        assert_eq!(m.compressed_len(2, None, 1000), 250, "a registered tier keeps its ratio");
    }
}
