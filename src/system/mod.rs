//! `SwapSystem`: the facade a simulator calls (docs/api.md). It owns the virtual swap
//! space (the swap table) and the backends behind it, validates every call's arguments
//! first, and calls into the layers below; an error leaves the state as it was.
//!
//! Module map:
//! * this file: the slot lifecycle on the virtual swap space (`folio_alloc_swap`,
//!   `folio_dup_swap`, `folio_put_swap`/`swap_put_entries_direct`, `folio_free_swap`,
//!   the swap cache and lookups), the global statistics and the footprint;
//! * `flows`: writeout (zero, then zswap through `crate::zswap::Zswap::store`, then a
//!   device), evict and fault (zswap loads through `crate::zswap::Zswap::load`);
//! * `writeback`: `zswap_writeback_entry`, the swap-cache and device half of writing a
//!   zswap entry back (zswap's walks reach it through `crate::zswap::SwapLayer`);
//! * `reclaim`: the public zswap reclaim calls (shrinker, worker, proactive writeback),
//!   each a call into `crate::zswap::shrink`;
//! * `recompress`: the recompression of idle zswap entries;
//! * `devices`: swapon and the swap tiers; `swapoff`: swapoff, which moves a device's
//!   pages to the others or, with the caller's sink, into memory; `cgroup`: the memcg files and
//!   statistics; `backing`: the backends shared with the free hook and the release of a
//!   slot's backend (`swap_range_free`).
//!
//! Invariants:
//! * A backend word changes only while its slot is in the swap cache (under the caller's
//!   folio, or the `FolioId::WRITEBACK` folio of zswap writeback or swapoff), when the
//!   slot is freed, or by swapoff's CAS from its old physical slot (to another device;
//!   to None only under the slot's lock bit).
//! * Every call pins the epoch once (or runs under a [`Pinned`] batch) and passes the
//!   guard down; nothing below pins on its own, except the shrink worker, which pins only
//!   once it knows it has work.

mod backing;
mod cgroup;
mod devices;
mod flows;
mod reclaim;
mod recompress;
mod swapoff;
mod writeback;

pub use recompress::RecompressSpec;
pub use swapoff::{SwapoffPage, SwapoffSink};

use crate::config::Config;
use crate::device::Devices;
use crate::entry::{TableEntry, word};
use crate::error::Error;
use crate::ids::{Backing, FolioId, MemcgId, Shadow, SlotState, Tick, VSlot};
use crate::ledger::{Bytes, SharedBytes};
use crate::memcg::{Memcgs, Stat, Stats};
use crate::stat::{Footprint, GlobalStat};
use crate::sync::{Arc, AtomicU64, Mutex, Ordering, fence};
use crate::table::cluster::Cluster;
use crate::table::space::{MAX_CLUSTERS, Space};
use crate::zswap::pool::Pool;
use backing::{Backends, FreeHook};
use crossbeam_epoch::Guard;

/// The swap subsystem of one simulated machine. `Send + Sync`; every method takes `&self`.
pub struct SwapSystem {
    cfg: Config,
    vspace: Space,
    back: Arc<Backends>,
    tick: AtomicU64,
    bytes: SharedBytes,
    /// `swapon_mutex`: swapon and swapoff, one at a time.
    swapon: Mutex<()>,
}

impl std::fmt::Debug for SwapSystem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SwapSystem").field("cfg", &self.cfg).finish_non_exhaustive()
    }
}

impl SwapSystem {
    /// A system with an empty virtual swap space (the boot-time vswap device).
    pub fn new(cfg: Config) -> Result<Self, Error> {
        if !(2..=9).contains(&cfg.cluster_shift) {
            return Err(Error::Invalid("cluster_shift must be in 2..=9"));
        }
        if cfg.cpus == 0 || cfg.cpus > 4096 {
            return Err(Error::Invalid("cpus must be in 1..=4096"));
        }
        if cfg.zswap.max_pool_percent > 100 || cfg.zswap.accept_threshold_percent > 100 {
            return Err(Error::Invalid("zswap percentages must be at most 100"));
        }
        if cfg.zswap.store_shrink_batch == 0 {
            return Err(Error::Invalid("zswap store_shrink_batch must be at least 1"));
        }
        if cfg.zswap.worker_shrink_batch == 0 {
            return Err(Error::Invalid("zswap worker_shrink_batch must be at least 1"));
        }
        if !(1..=31).contains(&cfg.nr_swap_tiers) {
            return Err(Error::Invalid("nr_swap_tiers must be in 1..=31"));
        }
        let priorities = crate::zswap::Priorities::new(&cfg.zswap.compression_priorities)?;
        let bytes: SharedBytes = Arc::new(Bytes::default());
        let z = &cfg.zswap;
        let back = Arc::new(Backends {
            memcgs: Memcgs::new(bytes.clone()),
            pool: Pool::new(
                cfg.ram_pages,
                z.max_pool_percent,
                z.accept_threshold_percent,
                z.shrink_start == crate::ShrinkStart::Proactive,
            ),
            shrink: crate::zswap::shrink::Shrink::new(),
            devices: Devices::new(cfg.nr_swap_tiers),
            stats: Stats::new(),
            priorities,
            recompress: Default::default(),
        });
        let hook = Box::new(FreeHook(back.clone()));
        let vspace = Space::dynamic_with(cfg.cluster_shift, cfg.cpus, bytes.clone(), hook);
        Ok(Self { cfg, vspace, back, tick: AtomicU64::new(0), bytes, swapon: Mutex::new(()) })
    }

    /// zswap's view of this system for one call (the facade's zswap flows call in
    /// through it).
    #[inline]
    pub(super) fn zswap(&self) -> crate::zswap::Zswap<'_, Self> {
        let b = &self.back;
        crate::zswap::Zswap {
            cfg: &self.cfg,
            pool: &b.pool,
            priorities: &b.priorities,
            shrink: &b.shrink,
            memcgs: &b.memcgs,
            stats: &b.stats,
            tick: &self.tick,
            wb: self,
        }
    }

    /// The configuration the system was built with.
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// Advance the logical clock to `t` (never backwards: `Error::ClockBackwards`).
    pub fn set_tick(&self, t: Tick) -> Result<(), Error> {
        let mut now = self.tick.load(Ordering::Acquire);
        loop {
            if t < now {
                return Err(Error::ClockBackwards);
            }
            match self.tick.compare_exchange_weak(now, t, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return Ok(()),
                Err(seen) => now = seen,
            }
        }
    }

    /// The logical clock.
    pub fn tick(&self) -> Tick {
        self.tick.load(Ordering::Acquire)
    }

    /// Slots per cluster.
    pub fn cluster_slots(&self) -> u64 {
        1 << self.cfg.cluster_shift
    }

    /// One past the largest slot id the virtual space can hold.
    pub fn slot_limit(&self) -> u64 {
        MAX_CLUSTERS << self.cfg.cluster_shift
    }

    /// The largest folio order `alloc` takes (a whole cluster).
    pub fn max_order(&self) -> u32 {
        self.cfg.cluster_shift
    }

    /// `folio_alloc_swap`: allocate `2^order` naturally aligned slots for the folio `folio`
    /// of memcg `cg` (online), with the folio in the swap cache and count 0, the memcg
    /// recorded (`swap_cgroup_record`). Returns the head slot. Nothing is charged: under
    /// virtual swap only a physical slot is (`writeout`). `cpu` picks the per-CPU cluster
    /// cache (`0..config.cpus`). `DeviceFull` when the virtual space has no room, which
    /// raises `memory.swap.events` `fail` on `cg` as the kernel's charge hook does.
    pub fn alloc(&self, cpu: usize, cg: MemcgId, folio: FolioId, order: u32) -> Result<VSlot, Error> {
        self.alloc_in(cpu, cg, folio, order, &self.vspace.reclaim.pin())
    }

    /// `alloc` under the caller's pin.
    fn alloc_in(&self, cpu: usize, cg: MemcgId, folio: FolioId, order: u32, g: &Guard) -> Result<VSlot, Error> {
        if cpu >= self.cfg.cpus {
            return Err(Error::Invalid("cpu index out of range"));
        }
        if order > self.cfg.cluster_shift {
            return Err(Error::Invalid("order above the maximum"));
        }
        if folio.0 > FolioId::MAX || folio.0 & ((1 << order) - 1) != 0 {
            return Err(Error::InvalidFolio);
        }
        let m = self.back.memcgs.online(cg, g)?;
        let w = TableEntry::Cached { pfn: folio.0, order: order as u8, count: 0, zero: false, locked: false }
            .encode()
            .map_err(|_| Error::InvalidFolio)?;
        self.back.memcgs.get_ref(m, 1 << order);
        match self.vspace.alloc(cpu, order, w, cg.raw()) {
            Some(s) => Ok(VSlot::from_raw(s)),
            None => {
                // `folio_alloc_swap` calls the charge hook even when no slot was found,
                // and `__mem_cgroup_try_charge_swap` raises `fail` for a folio not in the
                // swap cache.
                m.stats.add(Stat::EventsFail, 1, 0);
                self.back.memcgs.put_ref(cg.raw(), 1 << order, g);
                Err(Error::DeviceFull)
            }
        }
    }

    /// Split a slot into (cluster index, offset), rejecting ids that can never be live.
    fn locate(&self, slot: VSlot) -> Result<(u64, usize), Error> {
        let idx = slot.raw() >> self.cfg.cluster_shift;
        if idx == 0 || idx >= MAX_CLUSTERS {
            return Err(Error::InvalidSlot);
        }
        Ok((idx, (slot.raw() & (self.cluster_slots() - 1)) as usize))
    }

    /// Run `f` on the slot's cluster under `g`; a missing cluster is `NotAllocated`.
    #[inline]
    fn with_slot_in<R>(
        &self,
        slot: VSlot,
        g: &Guard,
        f: impl FnOnce(&Cluster, usize, &Guard) -> Result<R, Error>,
    ) -> Result<R, Error> {
        let (idx, off) = self.locate(slot)?;
        let c = self.vspace.get(idx, g).ok_or(Error::NotAllocated)?;
        f(c, off, g)
    }

    /// Run `f` on the slot's cluster, pinned; a missing cluster is `NotAllocated`.
    pub(super) fn with_slot<R>(
        &self,
        slot: VSlot,
        f: impl FnOnce(&Cluster, usize, &Guard) -> Result<R, Error>,
    ) -> Result<R, Error> {
        self.with_slot_in(slot, &self.vspace.reclaim.pin(), f)
    }

    /// `folio_dup_swap` for one slot: a PTE now holds the entry. Returns the new count.
    /// From 0 only while cached; `CountOverflow` past `u32::MAX`.
    pub fn dup(&self, slot: VSlot) -> Result<u32, Error> {
        self.with_slot(slot, |c, off, g| self.dup_in(c, off, g))
    }

    /// `dup` on a located slot; a cached slot leaving count 0 clears the cache-only bit of
    /// its physical slot.
    fn dup_in(&self, c: &Cluster, off: usize, g: &Guard) -> Result<u32, Error> {
        let n = self.vspace.dup(c, off, g)?;
        if n == 1 {
            // Against a writeout installing a physical backend meanwhile: either it sees
            // this count or this sees its backend (store buffering, closed by the fences).
            fence(Ordering::SeqCst);
            self.back.mark_cache_only(c.backend_word(off, g), false, g);
        }
        Ok(n)
    }

    /// `put` on a located slot; a cached slot reaching count 0 sets the cache-only bit.
    fn put_in(&self, c: &Cluster, off: usize, g: &Guard) -> Result<u32, Error> {
        let n = self.vspace.put(c, off, g)?;
        if n == 0 {
            fence(Ordering::SeqCst); // as in `dup_in`
            self.back.mark_cache_only(c.backend_word(off, g), true, g);
        }
        Ok(n)
    }

    /// A reference dropped (`folio_put_swap` / `swap_put_entries_direct`). Returns the
    /// count left. A swapped-out slot reaching 0 is freed; a cached one stays cached
    /// until `release` or `swap_cache_del`.
    pub fn put(&self, slot: VSlot) -> Result<u32, Error> {
        self.with_slot(slot, |c, off, g| self.put_in(c, off, g))
    }

    /// `folio_free_swap`: drop the cached folio covering `slot` when none of its slots
    /// has a count. Ok(true): the slots are free; Ok(false): still referenced, unchanged.
    pub fn release(&self, slot: VSlot) -> Result<bool, Error> {
        self.with_slot(slot, |c, off, g| {
            not_writeback(c, off)?;
            self.vspace.release(c, off, g)
        })
    }

    /// `swap_cache_add_folio` (order 0, as vswap entries are added on swap-in): put
    /// `folio` in the swap cache at a swapped-out slot; count and zero flag are kept.
    pub fn swap_cache_add(&self, slot: VSlot, folio: FolioId) -> Result<(), Error> {
        self.swap_cache_add_folio(slot, folio, 0)
    }

    /// `swap_cache_add_folio` for a folio of `2^order` pages at the aligned range from
    /// `slot`: every slot must be swapped out with the same zero flag and memcg (`NonUniformFolio`).
    pub fn swap_cache_add_folio(&self, slot: VSlot, folio: FolioId, order: u32) -> Result<(), Error> {
        if order > self.cfg.cluster_shift || slot.raw() & ((1 << order) - 1) != 0 {
            return Err(Error::Invalid("order above the maximum or slot not aligned to it"));
        }
        if folio.0 > FolioId::MAX || folio.0 & ((1 << order) - 1) != 0 {
            return Err(Error::InvalidFolio);
        }
        self.with_slot(slot, |c, off, _| self.vspace.cache_add(c, off, folio.0, order))
    }

    /// `__swap_cache_del_folio`: drop the folio covering `slot` from the swap cache,
    /// leaving `shadow` where a count remains and freeing the slots without one.
    pub fn swap_cache_del(&self, slot: VSlot, shadow: Shadow) -> Result<(), Error> {
        self.with_slot(slot, |c, off, g| {
            not_writeback(c, off)?;
            self.vspace.cache_del(c, off, shadow.0, g)
        })
    }

    /// What the slot holds now. A slot of a cluster that does not exist is `Free`.
    pub fn state(&self, slot: VSlot) -> Result<SlotState, Error> {
        let (idx, off) = self.locate(slot)?;
        let g = self.vspace.reclaim.pin();
        Ok(self.state_in(idx, off, &g))
    }

    #[inline]
    fn state_in(&self, idx: u64, off: usize, g: &Guard) -> SlotState {
        let Some(c) = self.vspace.get(idx, g) else { return SlotState::Free };
        let (w, count) = self.vspace.count_of(c, off, g);
        match TableEntry::decode(word::unlocked(w)) {
            Ok(TableEntry::Cached { pfn, .. }) if pfn == FolioId::WRITEBACK => {
                // zswap writeback or swapoff holds the slot: to everyone else it is still
                // swapped out, backed by what its backend word says.
                SlotState::SwappedOut { shadow: Shadow(0), count, backing: backing_of(c, off, g) }
            }
            Ok(TableEntry::Cached { pfn, .. }) => SlotState::Cached { folio: FolioId(pfn), count },
            Ok(TableEntry::Shadow { shadow, zero, .. }) => {
                let backing = if zero { Backing::Zero } else { backing_of(c, off, g) };
                SlotState::SwappedOut { shadow: Shadow(shadow), count, backing }
            }
            _ => SlotState::Free,
        }
    }

    /// The memcg recorded for an allocated slot (`lookup_swap_cgroup_id`, read from the
    /// cluster's memcg table); None for a free slot.
    pub fn memcg_of(&self, slot: VSlot) -> Result<Option<MemcgId>, Error> {
        let (idx, off) = self.locate(slot)?;
        let g = self.vspace.reclaim.pin();
        let Some(c) = self.vspace.get(idx, &g) else { return Ok(None) };
        let id = c.memcg[off].load(Ordering::Acquire);
        Ok((c.table[off].load(Ordering::Acquire) != 0 && id != 0).then_some(MemcgId::from_raw(id)))
    }

    /// Where an allocated slot's data lives now, whether or not its folio is in the swap
    /// cache (the vswap backing-check helper): `Zero` for the Z flag, else its backend
    /// word. `SwapSystem::state` shows the same for a swapped-out slot; this also answers
    /// for a cached one (e.g. a folio faulted in from a device keeps its physical slot).
    /// `NotAllocated` for a free slot.
    pub fn backing(&self, slot: VSlot) -> Result<Backing, Error> {
        let (idx, off) = self.locate(slot)?;
        let g = self.vspace.reclaim.pin();
        let c = self.vspace.get(idx, &g).ok_or(Error::NotAllocated)?;
        let w = word::unlocked(c.table[off].load(Ordering::Acquire));
        match TableEntry::decode(w) {
            Ok(TableEntry::Cached { zero: true, .. } | TableEntry::Shadow { zero: true, .. }) => Ok(Backing::Zero),
            Ok(TableEntry::Cached { .. } | TableEntry::Shadow { .. }) => Ok(backing_of(c, off, &g)),
            _ => Err(Error::NotAllocated),
        }
    }

    /// Pin once for many lookups (a simulator scanning its page tables).
    pub fn pin(&self) -> Pinned<'_> {
        Pinned { sys: self, guard: self.vspace.reclaim.pin() }
    }

    /// Return every per-CPU cached cluster to the lists (empty ones are freed), as CPU
    /// hot-unplug drains `percpu_swap_cluster`. Afterwards an empty space holds no cluster.
    pub fn drain_cpu_caches(&self) {
        self.vspace.drain_percpu();
    }

    /// `rcu_barrier`: run the reclamation of retired clusters and tables that no reader
    /// can reach any more. Retired memory is otherwise freed in batches as lookups pin and
    /// unpin; `footprint` counts it until then. Best effort while other threads are pinned.
    pub fn rcu_barrier(&self) {
        self.vspace.rcu_barrier(8);
    }

    /// Counters and gauges: zswap's debugfs files, the vmstat swap events, and the table
    /// gauges (summed over live clusters: a cold path).
    pub fn stat(&self) -> GlobalStat {
        let (used, live) = self.table_gauges();
        let s = &self.back.stats;
        GlobalStat {
            pool_limit_hit: s.get(Stat::PoolLimitHit),
            pool_total_size: self.back.pool.total_bytes(),
            stored_pages: self.back.pool.stored_pages(),
            stored_incompressible_pages: self.back.pool.stored_incompressible(),
            written_back_pages: s.get(Stat::WrittenBackPages),
            reject_reclaim_fail: s.get(Stat::RejectReclaimFail),
            reject_alloc_fail: s.get(Stat::RejectAllocFail),
            reject_compress_fail: s.get(Stat::RejectCompressFail),
            reject_compress_poor: s.get(Stat::RejectCompressPoor),
            decompress_fail: s.get(Stat::DecompressFail),
            zswpin: s.get(Stat::Zswpin),
            zswpout: s.get(Stat::Zswpout),
            zswpwb: s.get(Stat::Zswpwb),
            pswpin: s.get(Stat::Pswpin),
            pswpout: s.get(Stat::Pswpout),
            swpin_zero: s.get(Stat::SwpinZero),
            swpout_zero: s.get(Stat::SwpoutZero),
            vslots_in_use: used,
            clusters_live: live,
            recompress_attempted: self.back.recompress.attempted.load(Ordering::Relaxed),
            recompressed_pages: self.back.recompress.kept.load(Ordering::Relaxed),
            recompress_saved_bytes: self.back.recompress.saved.load(Ordering::Relaxed),
        }
    }

    fn table_gauges(&self) -> (u64, u64) {
        let g = self.vspace.reclaim.pin();
        let mut used = 0;
        self.vspace.for_each(&g, |c| used += c.meta().count);
        (used, self.vspace.live())
    }

    /// Heap bytes of one cluster of this system without its optional tables (swap count
    /// extension, backend words): the struct, the table words, the memcg ids and the
    /// allocation bitmap. The footprint report divides it by the cluster size.
    pub fn cluster_base_bytes(&self) -> usize {
        Cluster::base_bytes(self.config().cluster_shift, true)
    }

    /// The crate's metadata bytes, from its own allocation accounting.
    pub fn footprint(&self) -> Footprint {
        let (used, live) = self.table_gauges();
        let own = std::mem::size_of::<Self>() + std::mem::size_of::<Backends>();
        let g = self.vspace.reclaim.pin();
        let devs = &self.back.devices;
        let device_bytes: usize = (0..crate::device::MAX_DEVICES as u8)
            .filter_map(|i| devs.get(i, &g))
            .map(|d| d.bytes.get() + std::mem::size_of::<crate::device::Dev>())
            .sum();
        let memcgs = &self.back.memcgs;
        let lru_bytes: usize = memcgs
            .subtree(MemcgId::ROOT.raw())
            .into_iter()
            .filter_map(|id| memcgs.get(id, &g))
            .map(|m| m.lru.lock().bytes())
            .sum();
        let zswap_entry_bytes = self.back.pool.index_bytes() + lru_bytes as u64;
        Footprint {
            heap_bytes: (self.bytes.get() + own + device_bytes) as u64 + zswap_entry_bytes,
            vslots_in_use: used,
            clusters_live: live,
            device_bytes: device_bytes as u64,
            zswap_entry_bytes,
        }
    }
}

/// What slot `off`'s backend word names (the Z flag aside).
fn backing_of(c: &Cluster, off: usize, g: &Guard) -> Backing {
    match c.backend_of(off, g) {
        crate::entry::BackendEntry::None => Backing::None,
        crate::entry::BackendEntry::Zswap { .. } => Backing::Zswap,
        crate::entry::BackendEntry::Phys { device, .. } => Backing::Device(crate::ids::DeviceId(device)),
    }
}

/// `WritebackInProgress` when zswap writeback holds the slot in the swap cache with its own folio.
fn not_writeback(c: &Cluster, off: usize) -> Result<(), Error> {
    let w = c.table[off].load(Ordering::Acquire);
    if word::is_cached(w) && word::pfn(w) == FolioId::WRITEBACK { Err(Error::WritebackInProgress) } else { Ok(()) }
}

/// An epoch pin held across many calls (`rcu_read_lock` around a batch): lookups, count
/// operations and the swap-out / swap-in flows here skip the per-call pin. Hold it
/// briefly: memory retired meanwhile is not reclaimed until every pin taken before the
/// retirement is dropped.
pub struct Pinned<'a> {
    sys: &'a SwapSystem,
    guard: Guard,
}

impl Pinned<'_> {
    /// `SwapSystem::state` under this pin.
    #[inline]
    pub fn state(&self, slot: VSlot) -> Result<SlotState, Error> {
        let (idx, off) = self.sys.locate(slot)?;
        Ok(self.sys.state_in(idx, off, &self.guard))
    }

    /// `SwapSystem::dup` under this pin (a simulator copying many PTEs at fork).
    pub fn dup(&self, slot: VSlot) -> Result<u32, Error> {
        self.sys.with_slot_in(slot, &self.guard, |c, off, g| self.sys.dup_in(c, off, g))
    }

    /// `SwapSystem::put` under this pin (a simulator zapping a page table).
    pub fn put(&self, slot: VSlot) -> Result<u32, Error> {
        self.sys.with_slot_in(slot, &self.guard, |c, off, g| self.sys.put_in(c, off, g))
    }

    /// `SwapSystem::alloc` under this pin (a simulator's reclaim pass).
    pub fn alloc(&self, cpu: usize, cg: MemcgId, folio: FolioId, order: u32) -> Result<VSlot, Error> {
        self.sys.alloc_in(cpu, cg, folio, order, &self.guard)
    }

    /// `SwapSystem::writeout` under this pin.
    pub fn writeout(&self, slot: VSlot, page: crate::ids::Page<'_>) -> Result<crate::ids::Writeout, Error> {
        self.sys.writeout_in(slot, page, &self.guard)
    }

    /// `SwapSystem::evict` under this pin.
    pub fn evict(&self, slot: VSlot, shadow: Shadow) -> Result<(), Error> {
        self.sys.evict_in(slot, shadow, &self.guard)
    }

    /// `SwapSystem::fault` under this pin (a simulator's swap-in).
    pub fn fault(
        &self,
        cpu: usize,
        slot: VSlot,
        folio: FolioId,
        out: Option<&mut [u8]>,
    ) -> Result<crate::ids::Fault, Error> {
        self.sys.fault_in(cpu, slot, folio, out, &self.guard)
    }

    /// `SwapSystem::release` under this pin.
    pub fn release(&self, slot: VSlot) -> Result<bool, Error> {
        self.sys.with_slot_in(slot, &self.guard, |c, off, g| {
            not_writeback(c, off)?;
            self.sys.vspace.release(c, off, g)
        })
    }
}
