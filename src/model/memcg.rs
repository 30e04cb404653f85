//! The memcg tree: each memcg's parent, online state, knobs (`memory.swap.max`,
//! `memory.swap.high`, `memory.zswap.max`, `memory.zswap.writeback` and the crate's
//! compressor and writeback knobs), events (`memory.stat`, `memory.swap.events`), and
//! the charging rules of docs/kernel.md §5.7 and §6.2–§6.3: `__mem_cgroup_try_charge_swap`
//! (`high`, `max` and `fail` events), `obj_cgroup_may_zswap`, `mem_cgroup_id_get_online`;
//! and `Op::MemcgCreate`, `Op::MemcgSet`, `Op::MemcgOffline`.
//!
//! Invariants:
//! * usage (`memory.swap.current`, `memory.zswap.current`) is never stored: it is
//!   recomputed from the slots, a page per physical slot and the bytes of each zswap
//!   entry, charged to the slot's recorded memcg (to the entry's memcg for zswap) and
//!   every ancestor;
//! * the root (id 1) is always there and online, and has no swap or zswap limits;
//! * an offline memcg stays while a slot, an entry or a child refers to it, then goes
//!   (`collect`), its events folded into its parent's, as `memory.stat` does;
//! * the first `NGLOBAL` events are also vmstat counters and count in `Model::global`.

use super::reclaim::Lent;
use super::{Back, Model, PAGE, ROOT, UNLIMITED};
use crate::op::Outcome;
use crate::{Error, Knob, Limit, MemcgId};
use std::collections::{BTreeSet, VecDeque};

/// Per-memcg events, as `memory.stat` / `memory.swap.events` count them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Ev {
    Zswpin,
    Zswpout,
    Zswpwb,
    Pswpin,
    Pswpout,
    SwpinZero,
    SwpoutZero,
    High,
    Max,
    Fail,
    /// `zswpwb_proactive_b`: compressed bytes, not pages.
    ZswpwbProactive,
}
pub(super) const NEV: usize = 11;
/// The events that are also vmstat counters (the first seven).
pub(super) const NGLOBAL: usize = 7;

/// One memcg in the model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Cg {
    pub(super) parent: u16,
    pub(super) online: bool,
    /// Pages; `UNLIMITED` is `max`.
    pub(super) swap_max: u64,
    pub(super) swap_high: u64,
    pub(super) zswap_max: u64,
    pub(super) writeback: bool,
    /// `Knob::ZswapCompressionPriority`: None inherits.
    pub(super) compressor: Option<u8>,
    /// `Knob::ZswapWritebackSize` in bytes; `UNLIMITED` is no cap.
    pub(super) writeback_size: u64,
    /// `Knob::ZswapWritebackTier`: None inherits.
    pub(super) writeback_tier: Option<u8>,
    /// Local events; a removed child's are folded in, as `memory.stat` does.
    pub(super) events: [u64; NEV],
    /// Creation order: siblings are walked in it.
    pub(super) born: u64,
    /// The zswap LRU, oldest first (it may hold elements of freed entries until pruned).
    pub(super) lru: VecDeque<Lent>,
    /// The idle-age index: the LRU's elements in store order, not yet examined by
    /// recompression.
    pub(super) idle: VecDeque<Lent>,
    /// `nr_disk_swapins` (second chance).
    pub(super) disk_swapins: u64,
    /// `nr_zswap_protected` (the 2023 protection scheme).
    pub(super) protected: u64,
    /// Its own `memory.swap.tiers.max`: a set bit allows the swap tier of that index.
    pub(super) swap_tiers: u32,
}

impl Cg {
    pub(super) fn new(parent: u16, born: u64) -> Self {
        Self {
            parent,
            online: true,
            swap_max: UNLIMITED,
            swap_high: UNLIMITED,
            zswap_max: UNLIMITED,
            writeback: true,
            compressor: None,
            writeback_size: UNLIMITED,
            writeback_tier: None,
            events: [0; NEV],
            born,
            lru: VecDeque::new(),
            idle: VecDeque::new(),
            disk_swapins: 0,
            protected: 0,
            swap_tiers: u32::MAX,
        }
    }
}

fn pages(l: Limit) -> u64 {
    match l {
        Limit::Bytes(b) => b / PAGE,
        Limit::Max => UNLIMITED,
    }
}

impl Model {
    /// The memcg and its ancestors, nearest first.
    pub(super) fn ancestry(&self, id: u16) -> Vec<u16> {
        let mut out = Vec::new();
        let mut cur = id;
        while let Some(cg) = self.memcgs.get(&cur) {
            out.push(cur);
            if cg.parent == 0 {
                break;
            }
            cur = cg.parent;
        }
        out
    }

    /// `mem_cgroup_id_get_online`.
    pub(super) fn nearest_online(&self, id: u16) -> u16 {
        self.ancestry(id).into_iter().find(|a| self.memcgs[a].online).unwrap_or(ROOT)
    }

    /// The effective `Knob::ZswapCompressionPriority`: the nearest setting up the tree, else 1.
    pub(super) fn compressor(&self, id: u16) -> u8 {
        self.ancestry(id).iter().find_map(|a| self.memcgs[a].compressor).unwrap_or(1)
    }

    pub(super) fn writeback_enabled(&self, id: u16) -> bool {
        self.ancestry(id).iter().all(|a| self.memcgs[a].writeback)
    }

    /// Physical slots charged to `a`'s subtree: the slots it recorded that hold one.
    pub(super) fn swap_pages(&self, a: u16) -> u64 {
        let mut n = 0;
        for s in self.slots.values() {
            if matches!(s.back, Back::Device { .. }) && self.ancestry(s.memcg).contains(&a) {
                n += 1;
            }
        }
        n
    }

    /// Whether an entry of `memcg` is charged to `a`: `a` is `memcg` or an ancestor, and
    /// `memcg` is not the root (`obj_cgroup_charge_zswap` charges nothing for the root).
    pub(super) fn charged_zswap(&self, memcg: u16, a: u16) -> bool {
        memcg != ROOT && self.ancestry(memcg).contains(&a)
    }

    /// zswap bytes charged to `a`'s subtree.
    pub(super) fn zswap_bytes(&self, a: u16) -> u64 {
        let mut n = 0;
        for s in self.slots.values() {
            if let Back::Zswap { len, memcg, .. } = s.back {
                if self.charged_zswap(memcg, a) {
                    n += u64::from(len);
                }
            }
        }
        n
    }

    /// `obj_cgroup_may_zswap`.
    pub(super) fn may_zswap(&self, id: u16) -> bool {
        self.ancestry(id).into_iter().filter(|&a| a != ROOT).all(|a| {
            let max = self.memcgs[&a].zswap_max;
            max == UNLIMITED || (max != 0 && self.zswap_bytes(a) / PAGE < max)
        })
    }

    /// Whether `nr` more swap pages fit every level from `id` up (`page_counter_try_charge`).
    pub(super) fn swap_fits(&self, id: u16, nr: u64) -> bool {
        self.ancestry(id).into_iter().all(|a| self.swap_pages(a) + nr <= self.memcgs[&a].swap_max)
    }

    /// The non-root levels from `id` up that `nr` more swap pages put above `swap.high`.
    pub(super) fn swap_high_levels(&self, id: u16, nr: u64) -> Vec<u16> {
        self.ancestry(id)
            .into_iter()
            .filter(|&a| a != ROOT && self.swap_pages(a) + nr > self.memcgs[&a].swap_high)
            .collect()
    }

    /// `__mem_cgroup_try_charge_swap`'s events, before the usage changes: `high` on the
    /// levels it passes, or `max` and `fail` when it does not fit. Whether it fit.
    pub(super) fn charge_swap_events(&mut self, id: u16, nr: u64) -> bool {
        if !self.swap_fits(id, nr) {
            self.event(id, Ev::Max, 1);
            self.event(id, Ev::Fail, 1);
            return false;
        }
        for a in self.swap_high_levels(id, nr) {
            self.event(a, Ev::High, 1);
        }
        true
    }

    /// An event summed over every memcg: the root's hierarchical count.
    pub(super) fn total(&self, ev: Ev) -> u64 {
        self.memcgs.values().map(|c| c.events[ev as usize]).sum()
    }

    pub(super) fn event(&mut self, id: u16, ev: Ev, n: u64) {
        if let Some(cg) = self.memcgs.get_mut(&id) {
            cg.events[ev as usize] += n;
        }
        if (ev as usize) < NGLOBAL {
            self.global.events[ev as usize] += n;
        }
    }

    /// The memcg's references (docs/kernel.md §6.2, §6.4: online, children, recorded
    /// slots, zswap entries) are gone: remove offline memcgs that nothing refers to,
    /// folding their events into the parent, until none is left.
    pub(super) fn collect(&mut self) {
        loop {
            let mut used: BTreeSet<u16> = BTreeSet::new();
            for s in self.slots.values() {
                used.insert(s.memcg);
                if let Back::Zswap { memcg, .. } = s.back {
                    used.insert(memcg);
                }
            }
            for cg in self.memcgs.values() {
                used.insert(cg.parent);
            }
            let dead = self.memcgs.iter().find(|(id, cg)| **id != ROOT && !cg.online && !used.contains(id));
            let Some((&id, _)) = dead else { return };
            let cg = self.memcgs.remove(&id).expect("found above");
            if let Some(p) = self.memcgs.get_mut(&cg.parent) {
                for (a, b) in p.events.iter_mut().zip(cg.events) {
                    *a += b;
                }
            }
        }
    }

    pub(super) fn memcg_create(&mut self, parent: MemcgId) -> Result<Outcome, Error> {
        match self.memcgs.get(&parent.raw()) {
            None => return Err(Error::InvalidMemcg),
            Some(cg) if !cg.online => return Err(Error::MemcgOffline),
            Some(_) => {}
        }
        let id = (2..=u16::MAX).find(|id| !self.memcgs.contains_key(id)).ok_or(Error::Invalid("no free memcg id"))?;
        let born = self.reclaim.born();
        self.memcgs.insert(id, Cg::new(parent.raw(), born));
        Ok(Outcome::Memcg(MemcgId::from_raw(id)))
    }

    pub(super) fn online_mut(&mut self, id: MemcgId) -> Result<&mut Cg, Error> {
        match self.memcgs.get_mut(&id.raw()) {
            None => Err(Error::InvalidMemcg),
            Some(cg) if !cg.online => Err(Error::MemcgOffline),
            Some(cg) => Ok(cg),
        }
    }

    pub(super) fn memcg_set(&mut self, id: MemcgId, knob: Knob) -> Result<Outcome, Error> {
        self.online_mut(id)?;
        if let Knob::SwapTierMax { tier, enabled } = knob {
            return self.set_swap_tier_max(id, tier, enabled);
        }
        match knob {
            Knob::ZswapWritebackTier(Some(t)) if t >= 31 || self.live_tier_bits() & 1 << t == 0 => {
                return Err(Error::Invalid("no swap tier of this index"));
            }
            Knob::ZswapWritebackSize(Limit::Bytes(0)) => {
                return Err(Error::Invalid("a writeback size of 0: set memory.zswap.writeback to 0"));
            }
            _ => {}
        }
        if id == MemcgId::ROOT && matches!(knob, Knob::SwapMax(_) | Knob::SwapHigh(_) | Knob::ZswapMax(_)) {
            return Err(Error::Invalid("the root memcg has no swap or zswap limits"));
        }
        let registered = |p: u8| self.tiers.get(usize::from(p).wrapping_sub(1)).is_some_and(|t| t.is_some());
        if let Knob::ZswapCompressionPriority(Some(p)) = knob {
            if !(1..=4).contains(&p) {
                return Err(Error::Invalid("compression priorities are 1..=4"));
            }
            if !registered(p) {
                return Err(Error::Invalid("no compressor registered at this priority"));
            }
        }
        let cg = self.online_mut(id)?;
        match knob {
            Knob::SwapMax(l) => cg.swap_max = pages(l),
            Knob::SwapHigh(l) => cg.swap_high = pages(l),
            Knob::ZswapMax(l) => cg.zswap_max = pages(l),
            Knob::ZswapWriteback(on) => cg.writeback = on,
            Knob::ZswapCompressionPriority(p) => cg.compressor = p,
            Knob::ZswapWritebackSize(l) => {
                cg.writeback_size = if let Limit::Bytes(b) = l { b } else { UNLIMITED };
            }
            Knob::ZswapWritebackTier(t) => cg.writeback_tier = t,
            Knob::SwapTierMax { .. } => unreachable!("handled above"),
        }
        Ok(Outcome::Done)
    }

    pub(super) fn memcg_offline(&mut self, id: MemcgId) -> Result<Outcome, Error> {
        if id == MemcgId::ROOT {
            return Err(Error::Invalid("the root memcg cannot go offline"));
        }
        self.online_mut(id)?.online = false;
        self.reclaim_offline(id.raw());
        Ok(Outcome::Done)
    }
}
