//! Memory cgroups: the tree, hierarchical swap and zswap counters with limits, the
//! effective `memory.zswap.writeback`, and `memory.stat`-style statistics
//! (docs/kernel.md §5.7, §6, Appendix A).
//!
//! Invariants:
//! * Ids are 16-bit, 1 is the root, 0 means "none". A memcg is reachable by id from its
//!   creation until its last reference is gone; the table is two levels of epoch-protected
//!   pointers, so lookups never lock. Creation, offline and removal take the tree lock
//!   (the kernel's cgroup mutex).
//! * References (`css` / `mem_cgroup_id` refs): one while online, one per live child,
//!   one per virtual slot recording the id, one per zswap entry charged to it. The last
//!   one removes the memcg, folds its statistics into the parent and frees the id, which
//!   is reused lowest first (`xa_alloc`).
//! * An offline memcg (a zombie) keeps the charges already made to it: its counters are
//!   part of every ancestor's hierarchical usage, and uncharges reach them exactly. New
//!   charges go to the nearest online ancestor: a zswap entry is charged there (objcg
//!   reparenting), and a slot taking a physical slot is re-recorded there first
//!   (`mem_cgroup_id_get_online`), so to a reader of the parent, charges have moved up.

mod counter;
pub(crate) mod lru;
mod swap_tiers;

use swap_tiers::NO_TIER;

pub(crate) use counter::{Counter, Stat, Stats, UNLIMITED, ZSWAP_CHARGE_STRIPES, ZswapCharge};
pub(crate) use lru::EntryIndex;

use crate::device::MAX_DEVICES;
use crate::error::Error;
use crate::ids::{Knob, Limit, MemcgId};
use crate::ledger::SharedBytes;
use crate::percpu::CachePadded;
use crate::stat::MemcgStat;
use crate::sync::{AtomicBool, AtomicU8, AtomicU32, AtomicU64, Mutex, Ordering, lock};
use crossbeam_epoch::{Atomic, Guard, Owned, Shared};
use lru::{Lru, LruList};
use std::collections::BTreeSet;

const FAN: usize = 256;

/// One memory cgroup (`struct mem_cgroup`).
pub(crate) struct Memcg {
    pub id: u16,
    /// The parent's id; 0 for the root.
    pub parent: u16,
    pub online: AtomicBool,
    /// Written by every store and every free of an entry or slot of this memcg.
    refs: CachePadded<AtomicU64>,
    /// `memory.swap.*`, in pages.
    pub swap: CachePadded<Counter>,
    /// `memory.zswap.current` in bytes (hierarchical, like `MEMCG_ZSWAP_B`) and this
    /// memcg's own entries' gauges, striped by pool shard.
    pub zswap: ZswapCharge,
    /// `memory.zswap.max` in pages.
    pub zswap_max: AtomicU64,
    /// This memcg's own `memory.zswap.writeback`.
    pub writeback: AtomicBool,
    /// This memcg's own `Knob::ZswapCompressionPriority`: a compression priority, 0 when unset
    /// (inherit).
    pub compression_priority: AtomicU8,
    /// This memcg's own `memory.swap.tiers.max` (`memcg->tier_mask`): a set bit allows
    /// the swap tier of that index; all set at creation.
    pub swap_tiers: AtomicU32,
    /// This memcg's own `Knob::ZswapWritebackTier`: a swap-tier index, `NO_TIER` when
    /// unset (inherit).
    pub writeback_tier: AtomicU8,
    /// This memcg's own `Knob::ZswapWritebackSize` in bytes (`UNLIMITED`: no cap).
    pub writeback_size: AtomicU64,
    /// The physical swap pages this memcg holds the charge of, by device number (local,
    /// summed over the subtree when read): the per-swap-tier breakdown of `swap.current`.
    pub swap_devices: Box<[AtomicU64]>,
    pub stats: Stats,
    /// Its zswap LRU (reparented to the nearest online ancestor at offline).
    pub lru: CachePadded<Lru>,
}

struct Chunk {
    slots: [Atomic<Memcg>; FAN],
}

struct Tree {
    /// Children by parent id (the live and zombie ones).
    children: Vec<Vec<u16>>,
    free: BTreeSet<u16>,
    next: u32,
}

/// The memcg table and tree.
pub(crate) struct Memcgs {
    top: Box<[Atomic<Chunk>]>,
    tree: Mutex<Tree>,
    bytes: SharedBytes,
}

fn pages(l: Limit) -> u64 {
    match l {
        Limit::Bytes(b) => b / crate::PAGE_SIZE as u64,
        Limit::Max => UNLIMITED,
    }
}

impl Memcgs {
    /// The table with the root memcg.
    pub(crate) fn new(bytes: SharedBytes) -> Self {
        let s = Self {
            top: Box::new(crate::sync::nulls::<Chunk, FAN>()),
            tree: Mutex::new(Tree { children: Vec::new(), free: BTreeSet::new(), next: 2 }),
            bytes,
        };
        s.bytes.add(FAN * 8);
        // SAFETY: nothing else can see the table yet.
        s.install(MemcgId::ROOT.raw(), 0, unsafe { crossbeam_epoch::unprotected() });
        s
    }

    fn install(&self, id: u16, parent: u16, g: &Guard) {
        let (a, b) = (id as usize / FAN, id as usize % FAN);
        let mut chunk = self.top[a].load(Ordering::Acquire, g);
        if chunk.is_null() {
            chunk = Owned::new(Chunk { slots: crate::sync::nulls() }).into_shared(g);
            self.top[a].store(chunk, Ordering::Release);
            self.bytes.add(std::mem::size_of::<Chunk>());
        }
        let m = Memcg {
            id,
            parent,
            online: AtomicBool::new(true),
            refs: CachePadded::new(AtomicU64::new(1)),
            swap: CachePadded::new(Counter::new()),
            zswap: ZswapCharge::new(),
            zswap_max: AtomicU64::new(UNLIMITED),
            writeback: AtomicBool::new(true),
            compression_priority: AtomicU8::new(0),
            swap_tiers: AtomicU32::new(u32::MAX),
            writeback_tier: AtomicU8::new(NO_TIER),
            writeback_size: AtomicU64::new(UNLIMITED),
            swap_devices: crate::sync::zeroed(crate::device::MAX_DEVICES),
            stats: Stats::new(),
            lru: CachePadded::new(Lru::new()),
        };
        self.bytes.add(std::mem::size_of::<Memcg>());
        // SAFETY: chunks are never unlinked before the table drops.
        unsafe { chunk.deref() }.slots[b].store(Owned::new(m), Ordering::Release);
    }

    /// The memcg with this id, online or not.
    pub(crate) fn get<'g>(&self, id: u16, g: &'g Guard) -> Option<&'g Memcg> {
        let (a, b) = (id as usize / FAN, id as usize % FAN);
        // SAFETY: chunks live as long as the table; memcgs are retired through the epoch
        // that `g` pins, after being unlinked.
        unsafe {
            let chunk = self.top.get(a)?.load(Ordering::Acquire, g).as_ref()?;
            chunk.slots[b].load(Ordering::Acquire, g).as_ref()
        }
    }

    /// An online memcg, or the error a caller naming it gets.
    pub(crate) fn online<'g>(&self, id: MemcgId, g: &'g Guard) -> Result<&'g Memcg, Error> {
        let m = self.get(id.raw(), g).ok_or(Error::InvalidMemcg)?;
        if m.online.load(Ordering::Acquire) { Ok(m) } else { Err(Error::MemcgOffline) }
    }

    /// `mem_cgroup_id_get_online`: the memcg or its nearest online ancestor.
    pub(crate) fn nearest_online<'g>(&self, id: u16, g: &'g Guard) -> Option<&'g Memcg> {
        let mut m = self.get(id, g)?;
        while !m.online.load(Ordering::Acquire) {
            m = self.get(m.parent, g)?;
        }
        Some(m)
    }

    /// The memcg and its ancestors, nearest first.
    pub(crate) fn ancestry<'a, 'g>(&'a self, m: &'g Memcg, g: &'g Guard) -> impl Iterator<Item = &'g Memcg> + 'a
    where
        'g: 'a,
    {
        std::iter::successors(Some(m), move |m| if m.parent == 0 { None } else { self.get(m.parent, g) })
    }

    /// Take `n` references on `m` (the root is never freed and keeps no count).
    pub(crate) fn get_ref(&self, m: &Memcg, n: u64) {
        if m.parent != 0 {
            m.refs.fetch_add(n, Ordering::AcqRel);
        }
    }

    /// Drop `n` references on memcg `id`; the last one removes it.
    pub(crate) fn put_ref(&self, id: u16, n: u64, g: &Guard) {
        let Some(m) = self.get(id, g) else {
            debug_assert!(false, "reference to an unknown memcg");
            return;
        };
        if m.parent != 0 && m.refs.fetch_sub(n, Ordering::AcqRel) == n {
            self.remove(m, g);
        }
    }

    fn remove(&self, m: &Memcg, g: &Guard) {
        debug_assert!(!m.online.load(Ordering::Acquire) && m.id != MemcgId::ROOT.raw());
        let parent = m.parent;
        {
            let mut t = lock(&self.tree);
            if let Some(p) = self.get(parent, g) {
                p.stats.absorb(&m.stats);
                for (to, from) in p.swap_devices.iter().zip(m.swap_devices.iter()) {
                    to.fetch_add(from.load(Ordering::Relaxed), Ordering::Relaxed);
                }
            }
            if let Some(c) = t.children.get_mut(parent as usize) {
                c.retain(|&x| x != m.id);
            }
            let (a, b) = (m.id as usize / FAN, m.id as usize % FAN);
            // SAFETY: chunks live as long as the table.
            let chunk = unsafe { self.top[a].load(Ordering::Acquire, g).deref() };
            let p = chunk.slots[b].swap(Shared::null(), Ordering::AcqRel, g);
            t.free.insert(m.id);
            let bytes = self.bytes.clone();
            // SAFETY: unlinked under the tree lock; readers that loaded it are pinned.
            let owned = unsafe { p.into_owned() }.into_box();
            crate::epoch::retire(g, owned, move || bytes.sub(std::mem::size_of::<Memcg>()));
        }
        self.put_ref(parent, 1, g);
    }

    /// `mkdir`: a new online memcg under `parent` (online), lowest free id first.
    pub(crate) fn create(&self, parent: MemcgId, g: &Guard) -> Result<MemcgId, Error> {
        let mut t = lock(&self.tree);
        let p = self.online(parent, g)?;
        let id = match t.free.pop_first() {
            Some(id) => id,
            None if t.next <= u32::from(u16::MAX) => {
                t.next += 1;
                (t.next - 1) as u16
            }
            None => return Err(Error::Invalid("no free memcg id (65535 in use)")),
        };
        self.get_ref(p, 1);
        self.install(id, parent.raw(), g);
        if t.children.len() <= parent.raw() as usize {
            t.children.resize(parent.raw() as usize + 1, Vec::new());
        }
        t.children[parent.raw() as usize].push(id);
        Ok(MemcgId::from_raw(id))
    }

    /// `rmdir`: take `id` offline. Its charges stay (and count in its ancestors) until
    /// uncharged; new ones go to the parent. Its zswap LRU is spliced, in order, to the
    /// front of the nearest online ancestor's (`memcg_reparent_list_lrus`). `hook` runs
    /// after that and before the online reference is dropped (`css_offline` callbacks,
    /// such as `zswap_memcg_offline_cleanup`). The root cannot go offline.
    pub(crate) fn offline(
        &self,
        id: MemcgId,
        pool: &impl EntryIndex,
        g: &Guard,
        hook: impl FnOnce(&Memcg),
    ) -> Result<(), Error> {
        if id == MemcgId::ROOT {
            return Err(Error::Invalid("the root memcg cannot go offline"));
        }
        let m = {
            let _t = lock(&self.tree);
            let m = self.online(id, g)?;
            m.online.store(false, Ordering::Release);
            // Offline states only change under the tree lock: the target stays online.
            let to = self.nearest_online(m.parent, g).expect("the root is always online");
            let mut from = m.lru.lock();
            from.splice_to(&mut to.lru.lock(), to.id, pool);
            m
        };
        hook(m);
        self.put_ref(id.raw(), 1, g);
        Ok(())
    }

    /// Lock the LRU that holds the entries charged to memcg `id`: its own, or the one
    /// its entries were reparented to.
    pub(crate) fn lru_of<'g>(
        &self,
        id: u16,
        g: &'g Guard,
    ) -> Option<(&'g Memcg, crate::sync::MutexGuard<'g, LruList>)> {
        let mut m = self.get(id, g)?;
        loop {
            let l = m.lru.lock();
            if l.moved_to == 0 {
                return Some((m, l));
            }
            let next = l.moved_to;
            drop(l);
            m = self.get(next, g)?;
        }
    }

    /// The memcg after `pos` in a pre-order walk of `root`'s subtree (offline ones
    /// included, as `mem_cgroup_iter`); `root` itself when `pos` is None; None after the
    /// last one (a full round trip), or when `pos` is no longer in the tree.
    pub(crate) fn next_pre(&self, root: u16, pos: Option<u16>, g: &Guard) -> Option<u16> {
        let Some(mut p) = pos else { return Some(root) };
        let t = lock(&self.tree);
        if let Some(&first) = t.children.get(p as usize).and_then(|c| c.first()) {
            if self.get(p, g).is_some() {
                return Some(first);
            }
        }
        loop {
            if p == root {
                return None;
            }
            let parent = self.get(p, g)?.parent;
            let siblings = t.children.get(parent as usize)?;
            let i = siblings.iter().position(|&x| x == p)?;
            if let Some(&next) = siblings.get(i + 1) {
                return Some(next);
            }
            p = parent;
        }
    }

    /// Write a cgroup file. `registered` says whether a compression priority has a given
    /// priority (`Knob::ZswapCompressionPriority`).
    pub(crate) fn set(&self, id: MemcgId, knob: Knob, registered: impl Fn(u8) -> bool, g: &Guard) -> Result<(), Error> {
        let m = self.online(id, g)?;
        if m.parent == 0 && matches!(knob, Knob::SwapMax(_) | Knob::SwapHigh(_) | Knob::ZswapMax(_)) {
            return Err(Error::Invalid("the root memcg has no swap or zswap limits"));
        }
        match knob {
            Knob::SwapMax(l) => m.swap.max.store(pages(l), Ordering::Release),
            Knob::SwapHigh(l) => m.swap.high.store(pages(l), Ordering::Release),
            Knob::ZswapMax(l) => m.zswap_max.store(pages(l), Ordering::Release),
            Knob::ZswapWriteback(on) => m.writeback.store(on, Ordering::Release),
            Knob::ZswapCompressionPriority(p) => {
                let p = check_compression_priority(p, registered)?;
                m.compression_priority.store(p, Ordering::Release);
            }
            Knob::ZswapWritebackSize(Limit::Bytes(0)) => {
                return Err(Error::Invalid("a writeback size of 0: set memory.zswap.writeback to 0"));
            }
            Knob::ZswapWritebackSize(l) => {
                m.writeback_size.store(if let Limit::Bytes(b) = l { b } else { UNLIMITED }, Ordering::Release)
            }
            // Need the tier table: the system writes them through `swap_tiers.rs`.
            Knob::SwapTierMax { .. } | Knob::ZswapWritebackTier(_) => {
                return Err(Error::Invalid("no swap tier of this index"));
            }
        }
        Ok(())
    }

    /// The effective `Knob::ZswapCompressionPriority` of `m`: its own setting, else the nearest
    /// ancestor's, else 1 (the default tier). Lock-free: one atomic load per level, as
    /// `writeback_enabled` walks, and usually only the first level.
    pub(crate) fn compression_priority(&self, m: &Memcg, g: &Guard) -> u8 {
        self.ancestry(m, g).map(|a| a.compression_priority.load(Ordering::Acquire)).find(|&p| p != 0).unwrap_or(1)
    }

    /// The store path's two inherited settings in one walk up the tree: (`writeback_enabled`,
    /// `compression_priority`). A store reads both, so the tier costs one more load per level, not
    /// a second walk.
    pub(crate) fn store_policy(&self, m: &Memcg, g: &Guard) -> (bool, u8) {
        let (mut writeback, mut tier) = (true, 0);
        for a in self.ancestry(m, g) {
            writeback &= a.writeback.load(Ordering::Acquire);
            if tier == 0 {
                tier = a.compression_priority.load(Ordering::Acquire);
            }
        }
        (writeback, if tier == 0 { 1 } else { tier })
    }

    /// `mem_cgroup_zswap_writeback_enabled`: the AND of `memory.zswap.writeback` over `m`
    /// and its ancestors.
    pub(crate) fn writeback_enabled(&self, m: &Memcg, g: &Guard) -> bool {
        self.ancestry(m, g).all(|a| a.writeback.load(Ordering::Acquire))
    }

    /// `obj_cgroup_may_zswap`: no non-root level has `zswap.max` 0 or usage (in whole
    /// pages) at or above its `zswap.max`.
    pub(crate) fn may_zswap(&self, m: &Memcg, g: &Guard) -> bool {
        self.ancestry(m, g).filter(|a| a.parent != 0).all(|a| {
            let max = a.zswap_max.load(Ordering::Acquire);
            max == UNLIMITED || (max != 0 && a.zswap.bytes() / (crate::PAGE_SIZE as u64) < max)
        })
    }

    /// `obj_cgroup_charge_zswap`: take a reference on `m` and charge `bytes` of a stored
    /// entry (`incomp` when stored as-is, compressed by tier `tier`) to `m` and its
    /// ancestors. Under the pool lock of the entry's shard, `stripe` (`ZswapCharge`).
    /// An entry of the root itself is charged nowhere (7.3: `if (obj_cgroup_is_root(objcg))
    /// return;`; 6.12 has no objcg for a root folio): no `zswap`, `zswapped` or
    /// `zswap_incomp` anywhere, though the pool holds it. The reference is taken all the
    /// same (the entry records its memcg).
    pub(crate) fn charge_zswap(&self, m: &Memcg, bytes: u64, incomp: bool, tier: u8, g: &Guard, stripe: usize) {
        self.get_ref(m, 1);
        if m.id == MemcgId::ROOT.raw() {
            return;
        }
        for a in self.ancestry(m, g) {
            a.zswap.add_subtree(bytes, stripe);
        }
        m.zswap.add_entry(1, bytes, incomp, tier, stripe);
    }

    /// An entry charged to `id` at `old` (length, tier) now takes `new`, no larger
    /// (recompression): move its charge and its per-tier gauges. Under the entry's shard
    /// lock, as `charge_zswap`.
    pub(crate) fn recharge_zswap(&self, id: u16, old: (u32, u8), new: (u32, u8), g: &Guard, stripe: usize) {
        // The root's entries carry no charge (`charge_zswap`).
        let Some(m) = self.get(id, g).filter(|m| m.id != MemcgId::ROOT.raw()) else { return };
        let (old_len, new_len) = (u64::from(old.0), u64::from(new.0));
        for a in self.ancestry(m, g) {
            a.zswap.add_subtree((old_len - new_len).wrapping_neg(), stripe);
        }
        let incomp = old.0 as usize == crate::PAGE_SIZE;
        m.zswap.add_entry(u64::MAX, old_len, incomp, old.1, stripe);
        m.zswap.add_entry(1, new_len, false, new.1, stripe);
    }

    /// `obj_cgroup_uncharge_zswap`: the reverse of `charge_zswap`'s charge (none for an
    /// entry of the root), under the entry's shard lock. The reference stays: the caller
    /// drops it with `put_ref` once the lock is released (the last one removes the memcg).
    pub(crate) fn uncharge_zswap(&self, id: u16, bytes: u64, incomp: bool, tier: u8, g: &Guard, stripe: usize) {
        let Some(m) = self.get(id, g).filter(|m| m.id != MemcgId::ROOT.raw()) else { return };
        for a in self.ancestry(m, g) {
            a.zswap.add_subtree(bytes.wrapping_neg(), stripe);
        }
        m.zswap.add_entry(u64::MAX, bytes, incomp, tier, stripe);
    }

    /// `__mem_cgroup_try_charge_swap` for `nr` physical slots on device `dev`: charge them
    /// to `m` and its ancestors against `swap.max`; a refusal raises `max` and `fail` on
    /// `m`. A level left above its `swap.high` raises `high` there (the crate has no memory
    /// charge to throttle, so the event is raised at the swap charge).
    pub(crate) fn try_charge_swap(&self, m: &Memcg, nr: u64, dev: u8, g: &Guard) -> Result<(), Error> {
        // No allocation on this path: a failure re-walks the ancestry to undo the levels
        // below the one that refused.
        for (level, a) in self.ancestry(m, g).enumerate() {
            if a.swap.try_add(nr).is_err() {
                for d in self.ancestry(m, g).take(level) {
                    d.swap.sub(nr);
                }
                m.stats.add(Stat::EventsMax, 1, 0);
                m.stats.add(Stat::EventsFail, 1, 0);
                return Err(Error::DeviceFull);
            }
        }
        for a in self.ancestry(m, g) {
            if a.parent != 0 && a.swap.get() > a.swap.high.load(Ordering::Acquire) {
                a.stats.add(Stat::EventsHigh, 1, 0);
            }
        }
        m.swap_devices[dev as usize % MAX_DEVICES].fetch_add(nr, Ordering::Relaxed);
        Ok(())
    }

    /// Uncharge `nr` swap pages on device `dev` from memcg `id` and its ancestors.
    pub(crate) fn uncharge_swap(&self, id: u16, nr: u64, dev: u8, g: &Guard) {
        let Some(m) = self.get(id, g) else { return };
        m.swap_devices[dev as usize % MAX_DEVICES].fetch_sub(nr, Ordering::Relaxed);
        for a in self.ancestry(m, g) {
            a.swap.sub(nr);
        }
    }

    /// A charged page of memcg `id` moved from device `from` to `to` (swapoff): the
    /// charge stays, only its breakdown changes.
    pub(crate) fn move_swap(&self, id: u16, from: u8, to: u8, g: &Guard) {
        let Some(m) = self.get(id, g) else { return };
        m.swap_devices[from as usize % MAX_DEVICES].fetch_sub(1, Ordering::Relaxed);
        m.swap_devices[to as usize % MAX_DEVICES].fetch_add(1, Ordering::Relaxed);
    }

    /// The physical swap pages charged in the subtree of online memcg `id` on each of
    /// `devices` (the swapped-on ones: a swapped-off device holds no charge).
    pub(crate) fn swap_by_device(&self, id: MemcgId, devices: &[u8], g: &Guard) -> Result<Vec<u64>, Error> {
        self.online(id, g)?;
        let mut sum = vec![0u64; devices.len()];
        for d in self.subtree(id.raw()) {
            if let Some(dm) = self.get(d, g) {
                for (s, &dev) in sum.iter_mut().zip(devices) {
                    *s = s.wrapping_add(dm.swap_devices[usize::from(dev) % MAX_DEVICES].load(Ordering::Relaxed));
                }
            }
        }
        Ok(sum)
    }

    /// The memcg and its descendants, dead ones included (pre-order).
    pub(crate) fn subtree(&self, id: u16) -> Vec<u16> {
        let t = lock(&self.tree);
        let mut out = vec![id];
        let mut i = 0;
        while i < out.len() {
            if let Some(c) = t.children.get(out[i] as usize) {
                out.extend_from_slice(c);
            }
            i += 1;
        }
        out
    }

    /// The hierarchical `memory.stat` view of an online memcg.
    pub(crate) fn stat(&self, id: MemcgId, g: &Guard) -> Result<MemcgStat, Error> {
        let m = self.online(id, g)?;
        let members: Vec<&Memcg> = self.subtree(id.raw()).into_iter().filter_map(|d| self.get(d, g)).collect();
        let mut sum = [0u64; counter::NR_STATS];
        for dm in &members {
            for (s, v) in sum.iter_mut().zip(dm.stats.snapshot()) {
                *s += v;
            }
        }
        let page = crate::PAGE_SIZE as u64;
        let at = |s: Stat| sum[s as usize];
        // The entries' gauges are each memcg's own: summed over the subtree like `sum`.
        let own = |f: &dyn Fn(&ZswapCharge) -> u64| members.iter().fold(0u64, |a, d| a.wrapping_add(f(&d.zswap)));
        Ok(MemcgStat {
            swap_current: m.swap.get() * page,
            swap_peak: m.swap.peak.load(Ordering::Acquire) * page,
            zswap_current: m.zswap.bytes(),
            zswapped: own(&|z| z.entries()).wrapping_mul(page),
            zswap_incomp: own(&|z| z.incomp()),
            zswpin: at(Stat::Zswpin),
            zswpout: at(Stat::Zswpout),
            zswpwb: at(Stat::Zswpwb),
            zswpwb_proactive_bytes: at(Stat::ZswpwbProactiveBytes),
            pswpin: at(Stat::Pswpin),
            pswpout: at(Stat::Pswpout),
            swpin_zero: at(Stat::SwpinZero),
            swpout_zero: at(Stat::SwpoutZero),
            swap_events_high: at(Stat::EventsHigh),
            swap_events_max: at(Stat::EventsMax),
            swap_events_fail: at(Stat::EventsFail),
            zswap_priorities: std::array::from_fn(|i| crate::stat::ZswapPriorityStat {
                entries: own(&|z| z.tier(i as u8 + 1).0),
                bytes: own(&|z| z.tier(i as u8 + 1).1),
            }),
            // Filled in by the system, which knows the devices' tiers.
            swap_tiers: Vec::new(),
        })
    }
}

/// Validate a `Knob::ZswapCompressionPriority` value: the priority to store (0 for unset).
fn check_compression_priority(p: Option<u8>, registered: impl Fn(u8) -> bool) -> Result<u8, Error> {
    match p {
        None => Ok(0),
        Some(p) if !crate::CompressionPriority::PRIORITIES.contains(&p) => {
            Err(Error::Invalid("compression priorities are 1..=4"))
        }
        Some(p) if !registered(p) => Err(Error::Invalid("no compressor registered at this priority")),
        Some(p) => Ok(p),
    }
}

impl Drop for Memcgs {
    /// Visits only the ids ever handed out (each atomic load is costly under Miri).
    fn drop(&mut self) {
        let end = lock(&self.tree).next as usize;
        // SAFETY: `&mut self`: no reader is left.
        unsafe {
            let g = crossbeam_epoch::unprotected();
            for (a, chunk) in self.top.iter().enumerate().take(end.div_ceil(FAN)) {
                let chunk = chunk.load(Ordering::Relaxed, g);
                if chunk.is_null() {
                    continue;
                }
                let chunk = chunk.into_owned();
                for s in chunk.slots.iter().take(end - a * FAN) {
                    let m = s.load(Ordering::Relaxed, g);
                    if !m.is_null() {
                        drop(m.into_owned());
                    }
                }
            }
        }
    }
}
