//! The differential harness: [`Harness`] runs each [`Op`] on a real [`SwapSystem`] and on
//! the [`Model`] and compares the results, then the whole state: every slot's state,
//! memcg and backing; every memcg's usage, events, compression-tier and swap-tier charge;
//! every online memcg's zswap LRU and walk cursor; the global counters; the devices; the
//! swap tiers.
//!
//! Invariants it checks: errors compare exactly except `Error::Invalid`'s text; usage is
//! what the slots imply (see `memcg`); a memcg the model removed is unknown to the system
//! and an offline one answers `MemcgOffline`; after `Op::DrainCpuCaches` the live clusters
//! are exactly those holding an allocated slot.

use super::slots::Back;
use super::{Divergence, Ev, MAX_DEVICES, Model, NEV, Observation as O, PAGE, ROOT};
use crate::op::{Op, Operands, Outcome};
use crate::{Config, DeviceId, Error, MemcgId, SwapSystem, VSlot};
use std::collections::BTreeMap;

/// Errors compare exactly, except that `Invalid`'s text is not part of the contract.
fn same(a: &Result<Outcome, Error>, b: &Result<Outcome, Error>) -> bool {
    match (a, b) {
        (Err(Error::Invalid(_)), Err(Error::Invalid(_))) => true,
        _ => a == b,
    }
}

/// A memcg's hierarchical usage and events as the model derives them.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Usage {
    swap_pages: u64,
    zswap_bytes: u64,
    zswap_entries: u64,
    zswap_incomp: u64,
    /// (entries, bytes) by compression priority.
    tiers: [(u64, u64); 4],
    /// Physical swap pages by swap-tier index.
    swap_tiers: [u64; 32],
    events: [u64; NEV],
}

/// A system and its model, driven in lock step.
pub struct Harness {
    /// The system under test.
    pub sys: SwapSystem,
    /// The reference model.
    pub model: Model,
    /// Every slot allocated so far (freed ones stay: they test stale use), at most 512.
    pub live: Vec<VSlot>,
    /// The root, then every memcg created so far (removed ones stay), at most 64.
    memcgs: Vec<MemcgId>,
    /// The whole state is compared after every `check_every`-th step.
    check_every: u64,
    steps: u64,
}

impl Harness {
    /// A fresh system built from `cfg` and an empty model.
    pub fn new(cfg: Config) -> Result<Self, Error> {
        let sys = SwapSystem::new(cfg.clone())?;
        let model = Model::new(&cfg, sys.slot_limit());
        Ok(Self { sys, model, live: Vec::new(), memcgs: vec![MemcgId::ROOT], check_every: 1, steps: 0 })
    }

    /// The memcgs [`crate::op::MemcgRef::Live`] names: the root, then every one created.
    pub fn memcgs(&self) -> &[MemcgId] {
        &self.memcgs
    }

    /// The order of the cached folio `slot` names, so a driver can size a writeout's
    /// buffer (`Op::Writeout::order`); None when it names no cached folio.
    pub fn folio_order(&self, slot: crate::op::SlotRef) -> Option<u8> {
        self.model.folio_order(slot.resolve(&self.live)).map(|o| o as u8)
    }

    /// Compare the whole state ([`Harness::check`]) after every `n`-th step only (1, the
    /// default, after each; 0 counts as 1). Each step's result is compared whatever `n`;
    /// a driver that thins the checks calls `check` once more at the end. For slow
    /// interpreters: the crate's model test checks every 4th step under Miri.
    pub fn check_every(&mut self, n: u64) {
        self.check_every = n.max(1);
    }

    /// Run `op` on both and compare the results, then (see [`Harness::check_every`]) the
    /// whole state. The outer Err is the divergence, placed at this step and `op`; the
    /// inner result is what the system returned (the model agreed with it).
    pub fn step(&mut self, op: &Op) -> Result<Result<Outcome, Error>, Divergence> {
        let step = self.steps;
        let ops = Operands { slots: &self.live, memcgs: &self.memcgs };
        let real = op.apply_in(&self.sys, &ops);
        let want = self.model.apply_in(op, &ops, &real, Some(&self.sys)).map_err(|d| d.at(step, op))?;
        if !same(&real, &want) {
            return Err(Divergence::debug(O::Result, &real, &want).at(step, op));
        }
        match real {
            Ok(Outcome::Slot(s)) if self.live.len() < 512 => self.live.push(s),
            Ok(Outcome::Memcg(m)) if self.memcgs.len() < 64 => self.memcgs.push(m),
            _ => {}
        }
        self.steps += 1;
        if self.steps % self.check_every == 0 {
            self.check().map_err(|d| d.at(step, op))?;
        }
        if *op == Op::DrainCpuCaches {
            let (live, want) = (self.sys.stat().clusters_live, self.model.clusters());
            if live != want {
                return Err(Divergence::new(O::ClustersLive, live.to_string(), want.to_string()).at(step, op));
            }
        }
        Ok(real)
    }

    /// Compare every slot the model or the driver knows of (state, memcg, backing), every
    /// memcg's usage and events, its zswap LRU and walk cursor, the global counters, the
    /// worker's queue flag and every device's use. The divergence is at the steps run so
    /// far, on no operation.
    pub fn check(&self) -> Result<(), Divergence> {
        self.check_state().map_err(|d| Divergence { step: self.steps, ..d })
    }

    fn check_state(&self) -> Result<(), Divergence> {
        let m = &self.model;
        for s in m.slots().chain(self.live.iter().copied()) {
            let (real, want) = (self.sys.state(s), m.state(s));
            if real != want {
                return Err(Divergence::debug(O::SlotState(s), real, want));
            }
            let (real, want) = (self.sys.memcg_of(s), m.memcg(s));
            if real.as_ref().ok() != Some(&want) && !(real.is_err() && want.is_none()) {
                return Err(Divergence::debug(O::SlotMemcg(s), real, want));
            }
            let (real, want) = (self.sys.backing(s), m.backing(s));
            if real != want {
                return Err(Divergence::debug(O::SlotBacking(s), real, want));
            }
        }
        self.check_memcgs()?;
        self.check_reclaim()?;
        self.check_global()?;
        self.check_devices()?;
        self.check_swap_tiers()
    }

    /// The swap tiers as listed, each online memcg's own `memory.swap.tiers.max` (an
    /// error on the root) and the tiers it may use, and every device's tier.
    fn check_swap_tiers(&self) -> Result<(), Divergence> {
        let m = &self.model;
        let (real, want) = (self.sys.swap_tiers(), m.swap_tier_list());
        if real != want {
            return Err(Divergence::debug(O::SwapTiers, real, want));
        }
        for (&id, cg) in m.memcgs.iter().filter(|(_, cg)| cg.online) {
            let cg_id = MemcgId::from_raw(id);
            let real = self.sys.memcg_swap_tiers(cg_id);
            let ok = match &real {
                Err(Error::Invalid(_)) => id == ROOT,
                Ok(r) => id != ROOT && *r == m.memcg_swap_tier_list(id),
                Err(_) => false,
            };
            if !ok {
                let own = format!("{:#x}", cg.swap_tiers);
                return Err(Divergence::new(O::SwapTierMax(cg_id), format!("{real:?}"), own));
            }
            let (real, want) = (self.sys.memcg_swap_tiers_effective(cg_id), Ok(m.memcg_effective_tier_list(id)));
            if real != want {
                return Err(Divergence::debug(O::UsableSwapTiers(cg_id), real, want));
            }
        }
        for (&d, dev) in &m.devices {
            let real = self.sys.device_swap_tier(DeviceId(d));
            let want = m.tier_of(dev.priority).and_then(|i| m.swap_tier_list().into_iter().find(|t| t.idx == i));
            if real != Ok(want.clone()) {
                return Err(Divergence::debug(O::DeviceSwapTier(DeviceId(d)), real, want));
            }
        }
        Ok(())
    }

    /// Every online memcg's LRU (live entries, oldest first) and cursor; whether the
    /// worker is queued.
    fn check_reclaim(&self) -> Result<(), Divergence> {
        let m = &self.model;
        for id in m.memcgs().filter(|&id| m.memcgs[&id.raw()].online) {
            let (real, want) = (self.sys.zswap_lru(id), m.zswap_lru(id));
            if real != want {
                return Err(Divergence::debug(O::ZswapLru(id), real, want));
            }
            let (real, want) = (self.sys.shrink_cursor(id), m.shrink_cursor(id));
            if real != want {
                return Err(Divergence::debug(O::ShrinkCursor(id), real, want));
            }
        }
        let (real, want) = (self.sys.shrink_worker_pending(), m.shrink_worker_pending());
        if real != want {
            return Err(Divergence::debug(O::ShrinkWorkerPending, real, want));
        }
        Ok(())
    }

    /// (a) `swap_current` is a page per physical slot recorded in the subtree; (b)
    /// `zswap_current` the bytes of the zswap entries charged in it (`zswapped` and
    /// `zswap_incomp` their pages); the events summed over it.
    fn check_memcgs(&self) -> Result<(), Divergence> {
        let m = &self.model;
        let mut usage: BTreeMap<u16, Usage> = m.memcgs.keys().map(|&id| (id, Usage::default())).collect();
        for s in m.slots.values() {
            match s.back {
                Back::Device { dev, .. } => {
                    let tier = m.devices.get(&dev).and_then(|d| m.tier_of(d.priority));
                    for a in m.ancestry(s.memcg) {
                        let u = usage.entry(a).or_default();
                        u.swap_pages += 1;
                        if let Some(t) = tier {
                            u.swap_tiers[usize::from(t) % 32] += 1;
                        }
                    }
                }
                // The root's own entries are charged nowhere (`obj_cgroup_charge_zswap`).
                Back::Zswap { len, memcg, tier, .. } if memcg != ROOT => {
                    for a in m.ancestry(memcg) {
                        let u = usage.entry(a).or_default();
                        let t = &mut u.tiers[usize::from(tier) - 1];
                        t.0 += 1;
                        t.1 += u64::from(len);
                        u.zswap_bytes += u64::from(len);
                        u.zswap_entries += 1;
                        u.zswap_incomp += u64::from(u64::from(len) == PAGE);
                    }
                }
                Back::Zswap { .. } | Back::None | Back::Zero => {}
            }
        }
        for (&id, cg) in &m.memcgs {
            for a in m.ancestry(id) {
                let u = usage.entry(a).or_default();
                for (x, y) in u.events.iter_mut().zip(cg.events) {
                    *x += y;
                }
            }
        }
        for (&id, cg) in &m.memcgs {
            let cg_id = MemcgId::from_raw(id);
            let real = self.sys.memcg_stat(cg_id);
            if !cg.online {
                if real != Err(Error::MemcgOffline) {
                    return Err(Divergence::debug(O::MemcgOffline(cg_id), real, Err::<(), _>(Error::MemcgOffline)));
                }
                continue;
            }
            let st = real.map_err(|e| Divergence::new(O::MemcgStatFailed(cg_id), format!("{e:?}"), "online"))?;
            let u = usage[&id];
            let e = |ev: Ev| u.events[ev as usize];
            let fields = [
                ("swap_current", st.swap_current, u.swap_pages * PAGE),
                ("zswap_current", st.zswap_current, u.zswap_bytes),
                ("zswapped", st.zswapped, u.zswap_entries * PAGE),
                ("zswap_incomp", st.zswap_incomp, u.zswap_incomp * PAGE),
                ("zswpin", st.zswpin, e(Ev::Zswpin)),
                ("zswpout", st.zswpout, e(Ev::Zswpout)),
                ("zswpwb", st.zswpwb, e(Ev::Zswpwb)),
                ("pswpin", st.pswpin, e(Ev::Pswpin)),
                ("pswpout", st.pswpout, e(Ev::Pswpout)),
                ("swpin_zero", st.swpin_zero, e(Ev::SwpinZero)),
                ("swpout_zero", st.swpout_zero, e(Ev::SwpoutZero)),
                ("swap_events_high", st.swap_events_high, e(Ev::High)),
                ("swap_events_max", st.swap_events_max, e(Ev::Max)),
                ("swap_events_fail", st.swap_events_fail, e(Ev::Fail)),
                ("zswpwb_proactive_bytes", st.zswpwb_proactive_bytes, e(Ev::ZswpwbProactive)),
            ];
            for (name, real, want) in fields {
                if real != want {
                    return Err(Divergence::new(
                        O::MemcgStat { memcg: cg_id, field: name },
                        real.to_string(),
                        want.to_string(),
                    ));
                }
            }
            for (p, (real, want)) in st.zswap_priorities.iter().zip(u.tiers).enumerate() {
                if (real.entries, real.bytes) != want {
                    let priority = p as u8 + 1;
                    return Err(Divergence::debug(O::MemcgCompressionPriority { memcg: cg_id, priority }, real, want));
                }
            }
            let real: Vec<(&str, u64, u64)> =
                st.swap_tiers.iter().map(|t| (t.tier.name.as_str(), t.entries, t.bytes)).collect();
            let tiers = m.swap_tier_list();
            let want: Vec<(&str, u64, u64)> = (tiers.iter())
                .map(|t| {
                    (
                        t.name.as_str(),
                        u.swap_tiers[usize::from(t.idx) % 32],
                        u.swap_tiers[usize::from(t.idx) % 32] * PAGE,
                    )
                })
                .collect();
            if real != want {
                return Err(Divergence::debug(O::MemcgSwapTierCharge(cg_id), real, want));
            }
        }
        for id in &self.memcgs {
            if !m.memcgs.contains_key(&id.raw()) {
                let real = self.sys.memcg_stat(*id);
                if real != Err(Error::InvalidMemcg) {
                    return Err(Divergence::debug(O::MemcgRemoved(*id), real, Err::<(), _>(Error::InvalidMemcg)));
                }
            }
        }
        Ok(())
    }

    /// (e) `stored_pages` and `pool_total_size` are the zswap-backed slots and their
    /// bytes; every counter the model predicts.
    fn check_global(&self) -> Result<(), Divergence> {
        let m = &self.model;
        let st = self.sys.stat();
        let zswap: Vec<u32> = m
            .slots
            .values()
            .filter_map(|s| if let Back::Zswap { len, .. } = s.back { Some(len) } else { None })
            .collect();
        let g = &m.global;
        let e = |ev: Ev| g.events[ev as usize];
        let fields = [
            ("stored_pages", st.stored_pages, zswap.len() as u64),
            (
                "stored_incompressible_pages",
                st.stored_incompressible_pages,
                zswap.iter().filter(|&&l| u64::from(l) == PAGE).count() as u64,
            ),
            ("pool_total_size", st.pool_total_size, zswap.iter().map(|&l| u64::from(l)).sum()),
            ("pool_limit_hit", st.pool_limit_hit, g.pool_limit_hit),
            ("written_back_pages", st.written_back_pages, g.written_back_pages),
            ("reject_reclaim_fail", st.reject_reclaim_fail, g.reject_reclaim_fail),
            ("reject_alloc_fail", st.reject_alloc_fail, 0),
            ("reject_compress_fail", st.reject_compress_fail, g.reject_compress_fail),
            ("reject_compress_poor", st.reject_compress_poor, g.reject_compress_poor),
            ("decompress_fail", st.decompress_fail, 0),
            ("zswpin", st.zswpin, e(Ev::Zswpin)),
            ("zswpout", st.zswpout, e(Ev::Zswpout)),
            ("zswpwb", st.zswpwb, e(Ev::Zswpwb)),
            ("pswpin", st.pswpin, e(Ev::Pswpin)),
            ("pswpout", st.pswpout, e(Ev::Pswpout)),
            ("swpin_zero", st.swpin_zero, e(Ev::SwpinZero)),
            ("swpout_zero", st.swpout_zero, e(Ev::SwpoutZero)),
            ("vslots_in_use", st.vslots_in_use, m.in_use()),
            ("recompress_attempted", st.recompress_attempted, g.recompress[0]),
            ("recompressed_pages", st.recompressed_pages, g.recompress[1]),
            ("recompress_saved_bytes", st.recompress_saved_bytes, g.recompress[2]),
        ];
        for (name, real, want) in fields {
            if real != want {
                return Err(Divergence::new(O::Stat(name), real.to_string(), want.to_string()));
            }
        }
        Ok(())
    }

    /// Every device's size, priority and use (its header slot included); ids the model
    /// has no device for are unknown to the system too.
    fn check_devices(&self) -> Result<(), Divergence> {
        let m = &self.model;
        let top = m.devices.keys().next_back().map_or(0, |&d| d + 1);
        for id in 0..=top.min(MAX_DEVICES as u8 - 1) {
            let real = self.sys.device_stat(DeviceId(id));
            match m.devices.get(&id) {
                None if real != Err(Error::InvalidDevice) => {
                    return Err(Divergence::debug(
                        O::DeviceOff(DeviceId(id)),
                        real,
                        Err::<(), _>(Error::InvalidDevice),
                    ));
                }
                None => {}
                Some(d) => {
                    let st =
                        real.map_err(|e| Divergence::new(O::DeviceStatFailed(DeviceId(id)), format!("{e:?}"), "on"))?;
                    let want = (d.pages, d.priority, 1 + m.dev_used(id));
                    if (st.pages, st.priority, st.used) != want {
                        return Err(Divergence::debug(O::Device(DeviceId(id)), (st.pages, st.priority, st.used), want));
                    }
                }
            }
        }
        Ok(())
    }
}
