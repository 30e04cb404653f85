//! The reference model: plain maps of every allocated slot (state, count, cached folio,
//! memcg, backing and the data last written out), of the memcg tree (parent, online,
//! knobs, event counts, own swap-tier bits), of the swap devices and of the swap tiers,
//! written from docs/kernel.md §3.3 (slot lifecycle), §4.3 (the vswap flows), §4.5 (swap
//! tiers), §5.2–§5.4 (zswap store, load, writeback, pool limits), §5.7 (the memcg
//! controls) and §6.2–§6.3 (memcg charging and limits) without any of the crate's
//! machinery; and [`Harness`], which runs an [`Op`] on a real [`SwapSystem`] and on the
//! model and compares results, every slot's state and backing, every memcg's statistics,
//! the global counters, the devices and the swap tiers (the listing, each memcg's own and
//! usable tiers, each device's tier) after each step, reporting a disagreement as a typed
//! [`Divergence`].
//! The crate's model test and fuzz targets use it; so can a downstream fuzzer (feature
//! `model`).
//!
//! Usage (`swap_current`, `zswap_current`, `stored_pages`, `pool_total_size`, a device's
//! use) is never counted incrementally: it is recomputed from the slots, so the model's
//! charging rule is stated once, in [`Harness::check`].
//!
//! What the model cannot predict cheaply it reads from the system and checks against the
//! allowed outcomes before adopting it:
//! * which slot the allocator picks (aligned, in a real cluster, every page of it free);
//! * which device a physical slot comes from: a live device with room in a swap tier the
//!   memcg charged may use, and for a single page no such device of higher priority with
//!   more free slots than per-CPU cluster caches can hide; `NoSpace` / `DeviceFull`
//!   likewise only when no usable device has that many free;
//! * which pages `swapoff_with` brought into memory rather than onto another device (each
//!   must have found no room on a device its memcg may use), which folio of the sink's
//!   each got, and, when the sink refused, which pages it had handled before;
//! * where swapoff moved each page (another live device its memcg's swap tiers allow;
//!   counts checked per device), and whether it failed for lack of room: it reserves
//!   slots page by page (the most restricted memcgs' pages first, ties in the device's
//!   offset order, which the model does not know), so when pages of memcgs allowed
//!   different tiers compete for room the model accepts `DeviceFull` if some order fails
//!   and success if some order places every page;
//! * whether pages swapoff moved one by one landed contiguously, so that a later writeout
//!   of their still-cached large folio reuses them in place;
//! * whether a zswap entry an LRU walk tried to write back reached a device (and which),
//!   checked as an explicit writeback is.
//!
//! The model by area, each module stating what it models and its invariants:
//! * `slots`: the allocated slots and their lifecycle (docs/kernel.md §3.3);
//! * `memcg`: the memcg tree, its knobs, events and charging rules (§5.7, §6.2–§6.3);
//! * `devices`: swapon, swapoff and where a physical slot may come from;
//! * `flows`: writeout, evict, fault and zswap writeback (§4.3, §5.2–§5.4);
//! * `reclaim`: the per-memcg zswap LRU, its hooks (store, refusal, disk swap-in) and
//!   the walk cursors (§5.3–§5.6, §6.4); the harness compares every online memcg's LRU
//!   order and walk cursor after each step;
//! * `shrink`: the LRU walk and its drivers: the shrinker, the worker, proactive
//!   writeback (§5.3, §5.5, §5.6, §5.8);
//! * `swap_tiers`: swap tiers (batches, `Knob::SwapTierMax`, which devices a memcg may
//!   use; §4.5); each memcg's swap charge is also compared tier by tier
//!   (`MemcgStat::swap_tiers`);
//! * `recompress`: recompression (the idle-age index, which entries are examined,
//!   attempted and kept, their new sizes);
//! * `harness`: [`Harness`], the differential comparison;
//! * `divergence`: [`Divergence`] and [`Observation`], what the harness reports.

mod devices;
mod divergence;
mod flows;
mod harness;
mod memcg;
mod reclaim;
mod recompress;
mod shrink;
mod slots;
mod swap_tiers;

pub use divergence::{Divergence, Observation};
pub use harness::Harness;

use crate::op::{Op, Operands, Outcome, PageKind};
use crate::{CompressionMode, Config, DeviceId, Error, MemcgId, PAGE_SIZE, SwapSystem, Tick, VSlot};
use devices::Dev;
use memcg::{Cg, Ev, NEV, NGLOBAL};
use reclaim::Reclaim;
use slots::{Back, Slot};
use std::collections::{BTreeMap, BTreeSet, HashMap};

const PAGE: u64 = PAGE_SIZE as u64;
const UNLIMITED: u64 = u64::MAX;
const ROOT: u16 = MemcgId::ROOT.raw();
/// `MAX_SWAPFILES`.
const MAX_DEVICES: usize = crate::device::MAX_DEVICES;

/// System-wide counters the model predicts exactly.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Counters {
    events: [u64; NGLOBAL],
    pool_limit_hit: u64,
    written_back_pages: u64,
    reject_reclaim_fail: u64,
    reject_compress_fail: u64,
    reject_compress_poor: u64,
    /// `recompress_attempted`, `recompressed_pages`, `recompress_saved_bytes`.
    recompress: [u64; 3],
}

/// The reference model of the virtual swap space and its backends.
#[derive(Debug, Clone)]
pub struct Model {
    shift: u32,
    cpus: usize,
    limit: u64,
    slots: HashMap<u64, Slot>,
    tick: Tick,
    zswap_enabled: bool,
    /// `ZswapConfig::reject_incompressible` (6.12): a page that does not compress is
    /// never stored as-is.
    reject_incompressible: bool,
    synthetic: bool,
    /// The registered compression priorities, by priority - 1.
    tiers: [Option<crate::CompressionPriority>; 4],
    max_pages: u64,
    accept_pages: u64,
    reached_full: bool,
    memcgs: BTreeMap<u16, Cg>,
    devices: BTreeMap<u8, Dev>,
    /// The swap tiers: start priority -> (name, index).
    swap_tiers: swap_tiers::Tiers,
    /// `Config::nr_swap_tiers`.
    nr_swap_tiers: u8,
    runs: u64,
    global: Counters,
    reclaim: Reclaim,
}

impl Default for Model {
    fn default() -> Self {
        Self {
            shift: 0,
            cpus: 0,
            limit: 0,
            slots: HashMap::new(),
            tick: 0,
            zswap_enabled: true,
            reject_incompressible: false,
            synthetic: false,
            tiers: [Some(crate::CompressionPriority::default()), None, None, None],
            max_pages: 0,
            accept_pages: 0,
            reached_full: false,
            memcgs: BTreeMap::from([(ROOT, Cg::new(0, 0))]),
            devices: BTreeMap::new(),
            swap_tiers: BTreeMap::new(),
            nr_swap_tiers: Config::default().nr_swap_tiers,
            runs: 0,
            global: Counters::default(),
            reclaim: Reclaim::default(),
        }
    }
}

/// The outcome a model step expects, or why the system's choice is not allowed (the text
/// of an [`Observation::Choice`]).
type Step = Result<Result<Outcome, Error>, String>;

impl Model {
    /// An empty model for a system built from `cfg`; `limit` is `SwapSystem::slot_limit`.
    pub fn new(cfg: &Config, limit: u64) -> Self {
        let max_pages = cfg.ram_pages.saturating_mul(u64::from(cfg.zswap.max_pool_percent)) / 100;
        Self {
            shift: cfg.cluster_shift,
            cpus: cfg.cpus,
            limit,
            zswap_enabled: cfg.zswap.enabled,
            reject_incompressible: cfg.zswap.reject_incompressible,
            synthetic: cfg.zswap.compressor == CompressionMode::Synthetic,
            tiers: std::array::from_fn(|i| {
                cfg.zswap.compression_priorities.iter().copied().find(|t| usize::from(t.priority) == i + 1)
            }),
            max_pages,
            accept_pages: max_pages.saturating_mul(u64::from(cfg.zswap.accept_threshold_percent)) / 100,
            reclaim: Reclaim::new(cfg, max_pages),
            nr_swap_tiers: cfg.nr_swap_tiers,
            ..Self::default()
        }
    }

    /// Allocated slots.
    pub fn in_use(&self) -> u64 {
        self.slots.len() as u64
    }

    /// Clusters holding at least one allocated slot.
    pub fn clusters(&self) -> u64 {
        self.slots.keys().map(|s| s >> self.shift).collect::<BTreeSet<_>>().len() as u64
    }

    /// memcg is live). For `Alloc`, `real` is what the system returned, so the model can
    /// adopt the slot it picked; it errs if that slot is impossible. Swapoff, writeback
    /// and the LRU walks that write entries back need the system itself: use
    /// [`Model::apply_in`].
    pub fn apply(
        &mut self,
        op: &Op,
        live: &[VSlot],
        real: &Result<Outcome, Error>,
    ) -> Result<Result<Outcome, Error>, Divergence> {
        self.apply_in(op, &Operands { slots: live, memcgs: &[MemcgId::ROOT] }, real, None)
    }

    /// Apply `op` to the model. `real` is what the system returned and `sys` the system
    /// after the call: where the model cannot predict a choice (a slot, a device) it
    /// checks the system's against the allowed ones and adopts it. Err: a divergence in
    /// an [`Observation::Choice`] (at step 0: the harness places it).
    pub fn apply_in(
        &mut self,
        op: &Op,
        ops: &Operands<'_>,
        real: &Result<Outcome, Error>,
        sys: Option<&SwapSystem>,
    ) -> Result<Result<Outcome, Error>, Divergence> {
        self.apply_step(op, ops, real, sys)
            .map_err(|why| Divergence::new(Observation::Choice, format!("{real:?}"), why).at(0, op))
    }

    /// [`Model::apply_in`] with the divergence as text.
    fn apply_step(
        &mut self,
        op: &Op,
        ops: &Operands<'_>,
        real: &Result<Outcome, Error>,
        sys: Option<&SwapSystem>,
    ) -> Step {
        let live = ops.slots;
        let out = match *op {
            Op::Alloc { cpu, memcg, folio, order } => self.alloc(cpu, memcg, folio, order, real)?,
            Op::AllocIn { cpu, memcg, folio, order } => {
                self.alloc(cpu, memcg.resolve(ops.memcgs), folio, order, real)?
            }
            Op::Dup(r) => self.dup(r.resolve(live)),
            Op::Put(r) => self.put(r.resolve(live)),
            Op::Release(r) => self.release(r.resolve(live)),
            Op::CacheAdd { slot, folio } => self.cache_add(slot.resolve(live), folio),
            Op::CacheDel { slot, shadow } => self.cache_del(slot.resolve(live), shadow),
            Op::State(r) => self.state(r.resolve(live)).map(Outcome::State),
            Op::DrainCpuCaches => Ok(Outcome::Done),
            Op::SetTick(t) if t < self.tick => Err(Error::ClockBackwards),
            Op::SetTick(t) => {
                self.tick = t;
                Ok(Outcome::Done)
            }
            Op::Writeout { slot, page, order } => self.writeout(slot.resolve(live), page, order, real, sys)?,
            Op::Evict { slot, shadow } => self.evict(slot.resolve(live), shadow),
            Op::Fault { cpu, slot, folio, with_buffer } => {
                self.fault(cpu, slot.resolve(live), folio, with_buffer, real)
            }
            Op::Writeback { slot } => self.writeback(slot.resolve(live), real, sys)?,
            Op::Swapon { kind, pages, priority } => self.swapon(kind, pages, priority),
            Op::Swapoff { device } => self.swapoff(device, real, sys)?,
            Op::SwapoffWith { device, frames, folio } => self.swapoff_with(device, frames, folio, real, sys)?,
            Op::MemcgCreate { parent } => self.memcg_create(parent.resolve(ops.memcgs)),
            Op::MemcgSet { memcg, knob } => self.memcg_set(memcg.resolve(ops.memcgs), knob),
            Op::MemcgOffline { memcg } => self.memcg_offline(memcg.resolve(ops.memcgs)),
            Op::ShrinkMemcg { memcg, nr } => self.shrink_memcg(memcg.resolve(ops.memcgs), nr, sys)?,
            Op::RunShrinkWorker => Ok(Outcome::Worker(self.run_shrink_worker(sys)?)),
            Op::ProactiveWriteback { memcg, bytes, min_age } => {
                self.proactive_writeback(memcg.resolve(ops.memcgs), bytes, min_age, sys)?
            }
            Op::ShrinkerCount { memcg } => Ok(Outcome::Freeable(self.shrinker_count(memcg.resolve(ops.memcgs)))),
            Op::SwapTiers { ref cmds } => self.swap_tiers_write(cmds),
            Op::Recompress { memcg, spec } => self.recompress(memcg.resolve(ops.memcgs), spec),
        };
        self.collect();
        self.prune_lrus();
        Ok(out)
    }

    /// Every slot the model holds, for whole-state comparison.
    pub fn slots(&self) -> impl Iterator<Item = VSlot> + '_ {
        self.slots.keys().map(|&s| VSlot::from_raw(s))
    }

    /// The memcg id recorded for an allocated slot.
    pub fn memcg(&self, slot: VSlot) -> Option<MemcgId> {
        self.slots.get(&slot.raw()).map(|s| MemcgId::from_raw(s.memcg))
    }

    /// The memcgs that exist (online or offline, not yet removed).
    pub fn memcgs(&self) -> impl Iterator<Item = MemcgId> + '_ {
        self.memcgs.keys().map(|&id| MemcgId::from_raw(id))
    }

    /// The devices swapped on.
    pub fn devices(&self) -> impl Iterator<Item = DeviceId> + '_ {
        self.devices.keys().map(|&d| DeviceId(d))
    }
}
