//! The reference model: plain maps of every allocated slot (state, count, cached folio,
//! memcg, backing and the data last written out), of the memcg tree (parent, online,
//! knobs, event counts, own swap-tier bits), of the swap devices and of the swap tiers,
//! written from kernel-notes §3.3 (slot lifecycle), §4.3 (the vswap flows), §4.5 (swap
//! tiers), §5.2–§5.4 (zswap store, load, writeback, pool limits) and §5.7 (memcg
//! charging) without any of the crate's machinery; and [`Harness`], which runs an [`Op`]
//! on a real [`SwapSystem`] and on the model and compares results, every slot's state and
//! backing, every memcg's statistics, the global counters, the devices and the swap tiers
//! (the listing, each memcg's own and usable tiers, each device's tier) after each step.
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
//! The reclaim layer (kernel-notes §5.3–§5.8, §6.4: the per-memcg LRU, the shrinker, the
//! worker and its cursor, proactive writeback) is in `model/reclaim.rs`; the harness
//! compares every online memcg's LRU order and walk cursor after each step. Swap tiers
//! (batches, `Knob::SwapTierMax`, which devices a memcg may use) are in
//! `model/swap_tiers.rs`; recompression (the idle-age index, which entries are examined,
//! attempted and kept, their new sizes) in `model/recompress.rs`. Each memcg's swap
//! charge is also compared tier by tier (`MemcgStat::swap_tiers`).

mod reclaim;
mod recompress;
mod swap_tiers;

use crate::op::{FAULT_FILL, Op, Operands, Outcome, PageKind, checksum};
use crate::{
    Backing, CompressionMode, Config, DeviceId, Error, Fault, FaultSource, FolioId, KeepReason, Knob, Limit, MemcgId,
    PAGE_SIZE, Shadow, SlotState, SwapSystem, Tick, VSlot, Writeout,
};
use reclaim::{Lent, Reclaim, Walk};
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

const PAGE: u64 = PAGE_SIZE as u64;
const UNLIMITED: u64 = u64::MAX;
const ROOT: u16 = MemcgId::ROOT.raw();
/// `MAX_SWAPFILES`.
const MAX_DEVICES: usize = crate::device::MAX_DEVICES;

/// What a fault into a buffer must find.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Data {
    /// The page with this [`checksum`].
    Known(u64),
    /// The buffer as the caller filled it (null devices, synthetic zswap entries).
    Untouched,
    /// Whatever: a synthetic page on a device that keeps data, or a page a null device
    /// "kept" and swapoff copied to a real one.
    Any,
}

/// Where a slot's data lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Back {
    None,
    /// The Z flag.
    Zero,
    /// A zswap entry of `len` bytes charged to `memcg`; `id` tells it from an entry an
    /// earlier store left at the same slot (its LRU element names it).
    Zswap {
        len: u32,
        memcg: u16,
        data: Data,
        id: u64,
        /// The compression priority that stored it.
        tier: u8,
        /// The page it holds, to compress again: page `.1` of a folio of `.0` (None for
        /// a synthetic page).
        page: Option<(PageKind, u64)>,
    },
    /// A physical slot. `run` names the allocation that placed it: the pages of one folio
    /// written out together share a run (contiguous, reusable in place); 0 is a page
    /// swapoff moved on its own, whose neighbours may or may not be contiguous.
    Device {
        dev: u8,
        run: u64,
        data: Data,
    },
}

/// One allocated slot in the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Slot {
    /// The cached folio: (pfn, order, head slot), or None when swapped out.
    folio: Option<(u64, u32, u64)>,
    shadow: u64,
    count: u32,
    memcg: u16,
    back: Back,
}

/// Per-memcg events, as `memory.stat` / `memory.swap.events` count them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ev {
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
const NEV: usize = 11;
/// The events that are also vmstat counters (the first seven).
const NGLOBAL: usize = 7;

/// One memcg in the model.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Cg {
    parent: u16,
    online: bool,
    /// Pages; `UNLIMITED` is `max`.
    swap_max: u64,
    swap_high: u64,
    zswap_max: u64,
    writeback: bool,
    /// `Knob::ZswapCompressionPriority`: None inherits.
    compressor: Option<u8>,
    /// `Knob::ZswapWritebackSize` in bytes; `UNLIMITED` is no cap.
    writeback_size: u64,
    /// `Knob::ZswapWritebackTier`: None inherits.
    writeback_tier: Option<u8>,
    /// Local events; a removed child's are folded in, as `memory.stat` does.
    events: [u64; NEV],
    /// Creation order: siblings are walked in it.
    born: u64,
    /// The zswap LRU, oldest first (it may hold elements of freed entries until pruned).
    lru: VecDeque<Lent>,
    /// The idle-age index: the LRU's elements in store order, not yet examined by
    /// recompression.
    idle: VecDeque<Lent>,
    /// `nr_disk_swapins` (second chance).
    disk_swapins: u64,
    /// `nr_zswap_protected` (the 2023 protection scheme).
    protected: u64,
    /// Its own `memory.swap.tiers.max`: a set bit allows the swap tier of that index.
    swap_tiers: u32,
}

impl Cg {
    fn new(parent: u16, born: u64) -> Self {
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

/// One swap device in the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Dev {
    pages: u64,
    priority: i16,
    keeps_data: bool,
}

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
    synthetic: bool,
    /// The registered compression priorities by priority - 1.
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

/// `zswap_compress`'s verdict on a page shrunk to `n` bytes: the stored length, or
/// Err(true) for `reject_compress_poor` (a synthetic page over a page: -ENOSPC), Err(false)
/// for `_fail` (a useless result: 0 bytes, or a page or more). A page that does not
/// compress is stored as-is when writeback is allowed.
fn verdict(n: u64, writeback: bool, synthetic: bool) -> Result<u32, bool> {
    if n != 0 && n < PAGE {
        Ok(n as u32)
    } else if writeback {
        Ok(PAGE as u32)
    } else {
        Err(synthetic && n > PAGE)
    }
}

fn pages(l: Limit) -> u64 {
    match l {
        Limit::Bytes(b) => b / PAGE,
        Limit::Max => UNLIMITED,
    }
}

/// The outcome a model step expects.
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

    /// The state `SwapSystem::state` must report for `slot`.
    pub fn state(&self, slot: VSlot) -> Result<SlotState, Error> {
        self.locate(slot)?;
        Ok(match self.slots.get(&slot.raw()) {
            None => SlotState::Free,
            Some(s) => match s.folio {
                Some((pfn, _, _)) => SlotState::Cached { folio: FolioId(pfn), count: s.count },
                None => SlotState::SwappedOut { shadow: Shadow(s.shadow), count: s.count, backing: backing(s.back) },
            },
        })
    }

    /// The backing `SwapSystem::backing` must report for `slot`.
    pub fn backing(&self, slot: VSlot) -> Result<Backing, Error> {
        Ok(backing(self.get(slot)?.back))
    }

    /// The order of the cached folio covering `slot`, if any.
    pub fn folio_order(&self, slot: VSlot) -> Option<u32> {
        self.slots.get(&slot.raw())?.folio.map(|(_, order, _)| order)
    }

    fn locate(&self, slot: VSlot) -> Result<(), Error> {
        if slot.raw() >> self.shift == 0 || slot.raw() >= self.limit { Err(Error::InvalidSlot) } else { Ok(()) }
    }

    fn get(&self, slot: VSlot) -> Result<Slot, Error> {
        self.locate(slot)?;
        self.slots.get(&slot.raw()).copied().ok_or(Error::NotAllocated)
    }

    /// The slots of the cached folio covering `slot`.
    fn folio(&self, slot: VSlot) -> Result<std::ops::Range<u64>, Error> {
        let s = self.get(slot)?;
        let (_, order, head) = s.folio.ok_or(Error::NotCached)?;
        Ok(head..head + (1 << order))
    }

    fn slot_mut(&mut self, s: u64) -> &mut Slot {
        self.slots.get_mut(&s).expect("the model holds the slot")
    }

    /// Apply `op` to the model, resolving operands as [`Op::apply`] does (only the root
    /// memcg is live). For `Alloc`, `real` is what the system returned, so the model can
    /// adopt the slot it picked; it errs if that slot is impossible. Swapoff, writeback
    /// and the LRU walks that write entries back need the system itself: use
    /// [`Model::apply_in`].
    pub fn apply(&mut self, op: &Op, live: &[VSlot], real: &Result<Outcome, Error>) -> Step {
        self.apply_in(op, &Operands { slots: live, memcgs: &[MemcgId::ROOT] }, real, None)
    }

    /// Apply `op` to the model. `real` is what the system returned and `sys` the system
    /// after the call: where the model cannot predict a choice (a slot, a device) it
    /// checks the system's against the allowed ones and adopts it. Err: a divergence.
    pub fn apply_in(
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

    // ---------------------------------------------------------------------------------
    // The slot lifecycle (kernel-notes §3.3)
    // ---------------------------------------------------------------------------------

    fn alloc(
        &mut self,
        cpu: u16,
        memcg: MemcgId,
        folio: FolioId,
        order: u8,
        real: &Result<Outcome, Error>,
    ) -> Result<Result<Outcome, Error>, String> {
        let order = u32::from(order);
        if usize::from(cpu) >= self.cpus || order > self.shift {
            return Ok(Err(Error::Invalid("argument")));
        }
        if folio.0 > FolioId::MAX || folio.0 & ((1 << order) - 1) != 0 {
            return Ok(Err(Error::InvalidFolio));
        }
        match self.memcgs.get(&memcg.raw()) {
            None => return Ok(Err(Error::InvalidMemcg)),
            Some(cg) if !cg.online => return Ok(Err(Error::MemcgOffline)),
            Some(_) => {}
        }
        let Ok(Outcome::Slot(head)) = *real else {
            return Err(format!("alloc should succeed, system returned {real:?}"));
        };
        let h = head.raw();
        let nr = 1u64 << order;
        if h % nr != 0 || h >> self.shift == 0 || h + nr > self.limit {
            return Err(format!("alloc returned an impossible slot {h} for order {order}"));
        }
        if let Some(busy) = (h..h + nr).find(|s| self.slots.contains_key(s)) {
            return Err(format!("alloc handed out slot {busy}, which is in use"));
        }
        for s in h..h + nr {
            let folio = Some((folio.0, order, h));
            self.slots.insert(s, Slot { folio, shadow: 0, count: 0, memcg: memcg.raw(), back: Back::None });
        }
        Ok(Ok(Outcome::Slot(head)))
    }

    fn dup(&mut self, slot: VSlot) -> Result<Outcome, Error> {
        let s = self.get(slot)?;
        let count = s.count.checked_add(1).ok_or(Error::CountOverflow)?;
        self.slots.insert(slot.raw(), Slot { count, ..s });
        Ok(Outcome::Count(count))
    }

    fn put(&mut self, slot: VSlot) -> Result<Outcome, Error> {
        let s = self.get(slot)?;
        let count = s.count.checked_sub(1).ok_or(Error::CountUnderflow)?;
        if count == 0 && s.folio.is_none() {
            self.slots.remove(&slot.raw());
        } else {
            self.slots.insert(slot.raw(), Slot { count, ..s });
        }
        Ok(Outcome::Count(count))
    }

    fn release(&mut self, slot: VSlot) -> Result<Outcome, Error> {
        let range = self.folio(slot)?;
        if range.clone().any(|s| self.slots[&s].count != 0) {
            return Ok(Outcome::Freed(false));
        }
        for s in range {
            self.slots.remove(&s);
        }
        Ok(Outcome::Freed(true))
    }

    fn cache_add(&mut self, slot: VSlot, folio: FolioId) -> Result<Outcome, Error> {
        if folio.0 > FolioId::MAX {
            return Err(Error::InvalidFolio);
        }
        let s = self.get(slot)?;
        if s.folio.is_some() {
            return Err(Error::AlreadyCached);
        }
        self.slots.insert(slot.raw(), Slot { folio: Some((folio.0, 0, slot.raw())), ..s });
        Ok(Outcome::Done)
    }

    fn cache_del(&mut self, slot: VSlot, shadow: Shadow) -> Result<Outcome, Error> {
        for s in self.folio(slot)? {
            let m = self.slots[&s];
            if m.count == 0 {
                self.slots.remove(&s);
            } else {
                self.slots.insert(s, Slot { folio: None, shadow: shadow.kept().0, ..m });
            }
        }
        Ok(Outcome::Done)
    }

    // ---------------------------------------------------------------------------------
    // The memcg tree
    // ---------------------------------------------------------------------------------

    /// The memcg and its ancestors, nearest first.
    fn ancestry(&self, id: u16) -> Vec<u16> {
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
    fn nearest_online(&self, id: u16) -> u16 {
        self.ancestry(id).into_iter().find(|a| self.memcgs[a].online).unwrap_or(ROOT)
    }

    /// The effective `Knob::ZswapCompressionPriority`: the nearest setting up the tree, else 1.
    fn compressor(&self, id: u16) -> u8 {
        self.ancestry(id).iter().find_map(|a| self.memcgs[a].compressor).unwrap_or(1)
    }

    /// The compression priority registered at `priority`, if any.
    fn tier(&self, priority: u8) -> Option<crate::CompressionPriority> {
        *self.tiers.get(usize::from(priority).checked_sub(1)?)?
    }

    /// What the tier at `priority` makes of a page: its bytes compressed with the
    /// tier's algorithm, or a synthetic size scaled by its ratio (rounded up; sizes that
    /// do not compress stay as they are).
    fn compressed_len(&self, priority: u8, page: Option<&[u8]>, stated: u32) -> u64 {
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

    fn writeback_enabled(&self, id: u16) -> bool {
        self.ancestry(id).iter().all(|a| self.memcgs[a].writeback)
    }

    /// Physical slots charged to `a`'s subtree: the slots it recorded that hold one.
    fn swap_pages(&self, a: u16) -> u64 {
        let mut n = 0;
        for s in self.slots.values() {
            if matches!(s.back, Back::Device { .. }) && self.ancestry(s.memcg).contains(&a) {
                n += 1;
            }
        }
        n
    }

    /// zswap bytes charged to `a`'s subtree.
    fn zswap_bytes(&self, a: u16) -> u64 {
        let mut n = 0;
        for s in self.slots.values() {
            if let Back::Zswap { len, memcg, .. } = s.back {
                if self.ancestry(memcg).contains(&a) {
                    n += u64::from(len);
                }
            }
        }
        n
    }

    /// `obj_cgroup_may_zswap`.
    fn may_zswap(&self, id: u16) -> bool {
        self.ancestry(id).into_iter().filter(|&a| a != ROOT).all(|a| {
            let max = self.memcgs[&a].zswap_max;
            max == UNLIMITED || (max != 0 && self.zswap_bytes(a) / PAGE < max)
        })
    }

    /// Whether `nr` more swap pages fit every level from `id` up (`page_counter_try_charge`).
    fn swap_fits(&self, id: u16, nr: u64) -> bool {
        self.ancestry(id).into_iter().all(|a| self.swap_pages(a) + nr <= self.memcgs[&a].swap_max)
    }

    /// The non-root levels from `id` up that `nr` more swap pages put above `swap.high`.
    fn swap_high_levels(&self, id: u16, nr: u64) -> Vec<u16> {
        self.ancestry(id)
            .into_iter()
            .filter(|&a| a != ROOT && self.swap_pages(a) + nr > self.memcgs[&a].swap_high)
            .collect()
    }

    /// `__mem_cgroup_try_charge_swap`'s events, before the usage changes: `high` on the
    /// levels it passes, or `max` and `fail` when it does not fit. Whether it fit.
    fn charge_swap_events(&mut self, id: u16, nr: u64) -> bool {
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
    fn total(&self, ev: Ev) -> u64 {
        self.memcgs.values().map(|c| c.events[ev as usize]).sum()
    }

    fn event(&mut self, id: u16, ev: Ev, n: u64) {
        if let Some(cg) = self.memcgs.get_mut(&id) {
            cg.events[ev as usize] += n;
        }
        if (ev as usize) < NGLOBAL {
            self.global.events[ev as usize] += n;
        }
    }

    /// The memcg's references (kernel-notes: online, children, recorded slots, zswap
    /// entries) are gone: remove offline memcgs that nothing refers to, folding their
    /// events into the parent, until none is left.
    fn collect(&mut self) {
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

    fn memcg_create(&mut self, parent: MemcgId) -> Result<Outcome, Error> {
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

    fn online_mut(&mut self, id: MemcgId) -> Result<&mut Cg, Error> {
        match self.memcgs.get_mut(&id.raw()) {
            None => Err(Error::InvalidMemcg),
            Some(cg) if !cg.online => Err(Error::MemcgOffline),
            Some(cg) => Ok(cg),
        }
    }

    fn memcg_set(&mut self, id: MemcgId, knob: Knob) -> Result<Outcome, Error> {
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

    fn memcg_offline(&mut self, id: MemcgId) -> Result<Outcome, Error> {
        if id == MemcgId::ROOT {
            return Err(Error::Invalid("the root memcg cannot go offline"));
        }
        self.online_mut(id)?.online = false;
        self.reclaim_offline(id.raw());
        Ok(Outcome::Done)
    }

    // ---------------------------------------------------------------------------------
    // Devices
    // ---------------------------------------------------------------------------------

    fn dev_used(&self, dev: u8) -> u64 {
        self.slots.values().filter(|s| matches!(s.back, Back::Device { dev: d, .. } if d == dev)).count() as u64
    }

    /// Free slots of a device (slot 0 is the header).
    fn dev_free(&self, dev: u8) -> u64 {
        self.devices[&dev].pages - 1 - self.dev_used(dev)
    }

    /// Free slots an order-0 allocation may fail to find: none (other CPUs' cached
    /// clusters are stolen from before a fixed space reads as full).
    fn hideable(&self) -> u64 {
        0
    }

    /// Whether physical slots for a folio of `order` charged to `memcg` may come from
    /// `dev`: one of the devices the memcg's swap tiers allow, with room, and for a single
    /// page none of those of higher priority with free slots.
    fn device_allowed(&self, dev: u8, order: u32, memcg: u16) -> Result<(), String> {
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
    fn writeback_device_allowed(&self, dev: u8, memcg: u16) -> Result<(), String> {
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
    fn writeback_pref(&self, memcg: u16) -> Option<u8> {
        let t = self.ancestry(memcg).iter().find_map(|a| self.memcgs[a].writeback_tier)?;
        (self.effective_tiers(memcg) & 1 << t != 0).then_some(t)
    }

    /// The devices `memcg`'s swap tiers let it take physical slots from.
    fn usable(&self, memcg: u16) -> impl Iterator<Item = u8> + '_ {
        self.devices.keys().copied().filter(move |&d| self.tier_allows(d, memcg))
    }

    /// Whether no device `memcg` may use may have a physical slot for a folio of `order`.
    fn no_space_allowed(&self, order: u32, memcg: u16) -> Result<(), String> {
        if order == 0 {
            let hide = self.hideable();
            if let Some(e) = self.usable(memcg).find(|&e| self.dev_free(e) > hide) {
                return Err(format!("no space reported while device {e} has {} free slots", self.dev_free(e)));
            }
        }
        Ok(())
    }

    fn swapon(&mut self, kind: crate::op::DeviceKind, pages: u16, priority: i8) -> Result<Outcome, Error> {
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

    fn swapoff(&mut self, device: u8, real: &Result<Outcome, Error>, sys: Option<&SwapSystem>) -> Step {
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

    // ---------------------------------------------------------------------------------
    // The flows (kernel-notes §4.3, §5.2–§5.4)
    // ---------------------------------------------------------------------------------

    fn pool_bytes(&self) -> u64 {
        self.slots.values().map(|s| if let Back::Zswap { len, .. } = s.back { u64::from(len) } else { 0 }).sum()
    }

    /// `zswap_check_limits` with its hysteresis: true when stores must be refused.
    fn check_limits(&mut self) -> bool {
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
    fn charge_target(&self, recorded: u16) -> u16 {
        self.nearest_online(recorded)
    }

    /// Record `to` for the slots of `range` (their new physical slot is charged to it).
    fn rerecord(&mut self, range: std::ops::Range<u64>, to: u16) {
        for s in range {
            self.slot_mut(s).memcg = to;
        }
    }

    fn next_run(&mut self) -> u64 {
        self.runs += 1;
        self.runs
    }

    /// What a device keeps of page `i` written out of `pages` (None: synthetic).
    fn device_data(&self, dev: u8, page: Option<&Vec<u8>>) -> Data {
        match (self.devices[&dev].keeps_data, page) {
            (false, _) => Data::Untouched,
            (true, Some(p)) => Data::Known(checksum(p)),
            (true, None) => Data::Any,
        }
    }

    fn writeout(
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
            // §5.2 step 2: over `zswap.max` somewhere up the tree, write one of the memcg's
            // own entries back (`shrink_memcg`) and store only if that worked.
            let room = self.may_zswap(m) || self.walk(m, 1, Walk::Worker { budget: UNLIMITED }, sys)?.written > 0;
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
                    match verdict(n, writeback, p.is_none()) {
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

    fn evict(&mut self, slot: VSlot, shadow: Shadow) -> Result<Outcome, Error> {
        let range = self.folio(slot)?;
        if range.clone().any(|s| self.slots[&s].back == Back::None) {
            return Err(Error::NotBacked);
        }
        self.cache_del(slot, shadow)
    }

    fn fault(
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

    fn writeback(&mut self, slot: VSlot, real: &Result<Outcome, Error>, sys: Option<&SwapSystem>) -> Step {
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

fn backing(b: Back) -> Backing {
    match b {
        Back::None => Backing::None,
        Back::Zero => Backing::Zero,
        Back::Zswap { .. } => Backing::Zswap,
        Back::Device { dev, .. } => Backing::Device(DeviceId(dev)),
    }
}

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
    /// whole state. The outer Err describes a divergence; the inner result is what the
    /// system returned (the model agreed with it).
    pub fn step(&mut self, op: &Op) -> Result<Result<Outcome, Error>, String> {
        let ops = Operands { slots: &self.live, memcgs: &self.memcgs };
        let real = op.apply_in(&self.sys, &ops);
        let want = self.model.apply_in(op, &ops, &real, Some(&self.sys)).map_err(|e| format!("{op:?}: {e}"))?;
        if !same(&real, &want) {
            return Err(format!("{op:?}: system returned {real:?}, model expects {want:?}"));
        }
        match real {
            Ok(Outcome::Slot(s)) if self.live.len() < 512 => self.live.push(s),
            Ok(Outcome::Memcg(m)) if self.memcgs.len() < 64 => self.memcgs.push(m),
            _ => {}
        }
        self.steps += 1;
        if self.steps % self.check_every == 0 {
            self.check().map_err(|e| format!("after {op:?}: {e}"))?;
        }
        if *op == Op::DrainCpuCaches {
            let (live, want) = (self.sys.stat().clusters_live, self.model.clusters());
            if live != want {
                return Err(format!("after a drain {live} clusters live, {want} hold slots"));
            }
        }
        Ok(real)
    }

    /// Compare every slot the model or the driver knows of (state, memcg, backing), every
    /// memcg's usage and events, its zswap LRU and walk cursor, the global counters, the
    /// worker's queue flag and every device's use.
    pub fn check(&self) -> Result<(), String> {
        let m = &self.model;
        for s in m.slots().chain(self.live.iter().copied()) {
            let (real, want) = (self.sys.state(s), m.state(s));
            if real != want {
                return Err(format!("slot {}: system {real:?}, model {want:?}", s.raw()));
            }
            let (real, want) = (self.sys.memcg_of(s), m.memcg(s));
            if real.as_ref().ok() != Some(&want) && !(real.is_err() && want.is_none()) {
                return Err(format!("slot {}: memcg {real:?}, model {want:?}", s.raw()));
            }
            let (real, want) = (self.sys.backing(s), m.backing(s));
            if real != want {
                return Err(format!("slot {}: backing {real:?}, model {want:?}", s.raw()));
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
    fn check_swap_tiers(&self) -> Result<(), String> {
        let m = &self.model;
        let (real, want) = (self.sys.swap_tiers(), m.swap_tier_list());
        if real != want {
            return Err(format!("swap tiers {real:?}, model {want:?}"));
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
                return Err(format!("memcg {id}: memory.swap.tiers.max {real:?}, model own bits {:#x}", cg.swap_tiers));
            }
            let (real, want) = (self.sys.memcg_swap_tiers_effective(cg_id), Ok(m.memcg_effective_tier_list(id)));
            if real != want {
                return Err(format!("memcg {id}: usable swap tiers {real:?}, model {want:?}"));
            }
        }
        for (&d, dev) in &m.devices {
            let real = self.sys.device_swap_tier(DeviceId(d));
            let want = m.tier_of(dev.priority).and_then(|i| m.swap_tier_list().into_iter().find(|t| t.idx == i));
            if real != Ok(want.clone()) {
                return Err(format!("device {d}: swap tier {real:?}, model {want:?}"));
            }
        }
        Ok(())
    }

    /// Every online memcg's LRU (live entries, oldest first) and cursor; whether the
    /// worker is queued.
    fn check_reclaim(&self) -> Result<(), String> {
        let m = &self.model;
        for id in m.memcgs().filter(|&id| m.memcgs[&id.raw()].online) {
            let (real, want) = (self.sys.zswap_lru(id), m.zswap_lru(id));
            if real != want {
                return Err(format!("memcg {}: zswap LRU {real:?}, model {want:?}", id.raw()));
            }
            let (real, want) = (self.sys.shrink_cursor(id), m.shrink_cursor(id));
            if real != want {
                return Err(format!("memcg {}: shrink cursor {real:?}, model {want:?}", id.raw()));
            }
        }
        let (real, want) = (self.sys.shrink_worker_pending(), m.shrink_worker_pending());
        if real != want {
            return Err(format!("shrink worker pending {real}, model {want}"));
        }
        Ok(())
    }

    /// (a) `swap_current` is a page per physical slot recorded in the subtree; (b)
    /// `zswap_current` the bytes of the zswap entries charged in it (`zswapped` and
    /// `zswap_incomp` their pages); the events summed over it.
    fn check_memcgs(&self) -> Result<(), String> {
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
                Back::Zswap { len, memcg, tier, .. } => {
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
                Back::None | Back::Zero => {}
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
            let real = self.sys.memcg_stat(MemcgId::from_raw(id));
            if !cg.online {
                if real != Err(Error::MemcgOffline) {
                    return Err(format!("memcg {id} is offline, memcg_stat returned {real:?}"));
                }
                continue;
            }
            let st = real.map_err(|e| format!("memcg {id}: memcg_stat failed: {e:?}"))?;
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
                    return Err(format!("memcg {id}: {name} {real}, model {want}"));
                }
            }
            for (p, (real, want)) in st.zswap_priorities.iter().zip(u.tiers).enumerate() {
                if (real.entries, real.bytes) != want {
                    return Err(format!("memcg {id}: compression priority {}: {real:?}, model {want:?}", p + 1));
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
                return Err(format!("memcg {id}: swap tiers {real:?}, model {want:?}"));
            }
        }
        for id in &self.memcgs {
            if !m.memcgs.contains_key(&id.raw()) {
                let real = self.sys.memcg_stat(*id);
                if real != Err(Error::InvalidMemcg) {
                    return Err(format!("memcg {} was removed, memcg_stat returned {real:?}", id.raw()));
                }
            }
        }
        Ok(())
    }

    /// (e) `stored_pages` and `pool_total_size` are the zswap-backed slots and their
    /// bytes; every counter the model predicts.
    fn check_global(&self) -> Result<(), String> {
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
                return Err(format!("stat: {name} {real}, model {want}"));
            }
        }
        Ok(())
    }

    /// Every device's size, priority and use (its header slot included); ids the model
    /// has no device for are unknown to the system too.
    fn check_devices(&self) -> Result<(), String> {
        let m = &self.model;
        let top = m.devices.keys().next_back().map_or(0, |&d| d + 1);
        for id in 0..=top.min(MAX_DEVICES as u8 - 1) {
            let real = self.sys.device_stat(DeviceId(id));
            match m.devices.get(&id) {
                None if real != Err(Error::InvalidDevice) => {
                    return Err(format!("device {id} is not on, device_stat returned {real:?}"));
                }
                None => {}
                Some(d) => {
                    let st = real.map_err(|e| format!("device {id}: device_stat failed: {e:?}"))?;
                    let want = (d.pages, d.priority, 1 + m.dev_used(id));
                    if (st.pages, st.priority, st.used) != want {
                        return Err(format!(
                            "device {id}: (pages, priority, used) {:?}, model {want:?}",
                            (st.pages, st.priority, st.used)
                        ));
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::CompressionPriority;

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
