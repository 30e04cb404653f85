//! The slots: every allocated virtual slot of the model and its lifecycle, from
//! docs/kernel.md §3.3 (slot lifecycle) and §3.1 (the swap cache): `folio_alloc_swap`'s
//! allocation as the system picked it (`Op::Alloc`), `swap_duplicate` / `swap_free`
//! (`Op::Dup` / `Op::Put`), `put_swap_folio` (`Op::Release`), `swap_cache_add_folio` and
//! `swap_cache_del_folio` (`Op::CacheAdd` / `Op::CacheDel`), and what `SwapSystem::state`
//! and `SwapSystem::backing` report.
//!
//! Invariants:
//! * a slot is in `Model::slots` exactly while it is allocated: it has a cached folio or
//!   a swap count above 0 (the last `Put` of a swapped-out slot and the `CacheDel` of a
//!   slot with count 0 remove it);
//! * an allocation covers `1 << order` slots aligned to their size, in a real cluster
//!   (never cluster 0) and below the slot limit, none of them in use;
//! * the slots of a cached large folio all name the same (pfn, order, head);
//! * a slot's data lives in at most one place (`Back`), and `Back::Zswap` names the
//!   memcg charged for the entry, which may differ from the slot's recorded memcg.

use super::{Model, PageKind};
use crate::op::Outcome;
use crate::{Backing, DeviceId, Error, FolioId, MemcgId, Shadow, SlotState, VSlot};

/// What a fault into a buffer must find.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Data {
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
pub(super) enum Back {
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
pub(super) struct Slot {
    /// The cached folio: (pfn, order, head slot), or None when swapped out.
    pub(super) folio: Option<(u64, u32, u64)>,
    pub(super) shadow: u64,
    pub(super) count: u32,
    pub(super) memcg: u16,
    pub(super) back: Back,
}

impl Model {
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

    pub(super) fn locate(&self, slot: VSlot) -> Result<(), Error> {
        if slot.raw() >> self.shift == 0 || slot.raw() >= self.limit { Err(Error::InvalidSlot) } else { Ok(()) }
    }

    pub(super) fn get(&self, slot: VSlot) -> Result<Slot, Error> {
        self.locate(slot)?;
        self.slots.get(&slot.raw()).copied().ok_or(Error::NotAllocated)
    }

    /// The slots of the cached folio covering `slot`.
    pub(super) fn folio(&self, slot: VSlot) -> Result<std::ops::Range<u64>, Error> {
        let s = self.get(slot)?;
        let (_, order, head) = s.folio.ok_or(Error::NotCached)?;
        Ok(head..head + (1 << order))
    }

    pub(super) fn slot_mut(&mut self, s: u64) -> &mut Slot {
        self.slots.get_mut(&s).expect("the model holds the slot")
    }

    pub(super) fn alloc(
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

    pub(super) fn dup(&mut self, slot: VSlot) -> Result<Outcome, Error> {
        let s = self.get(slot)?;
        let count = s.count.checked_add(1).ok_or(Error::CountOverflow)?;
        self.slots.insert(slot.raw(), Slot { count, ..s });
        Ok(Outcome::Count(count))
    }

    pub(super) fn put(&mut self, slot: VSlot) -> Result<Outcome, Error> {
        let s = self.get(slot)?;
        let count = s.count.checked_sub(1).ok_or(Error::CountUnderflow)?;
        if count == 0 && s.folio.is_none() {
            self.slots.remove(&slot.raw());
        } else {
            self.slots.insert(slot.raw(), Slot { count, ..s });
        }
        Ok(Outcome::Count(count))
    }

    pub(super) fn release(&mut self, slot: VSlot) -> Result<Outcome, Error> {
        let range = self.folio(slot)?;
        if range.clone().any(|s| self.slots[&s].count != 0) {
            return Ok(Outcome::Freed(false));
        }
        for s in range {
            self.slots.remove(&s);
        }
        Ok(Outcome::Freed(true))
    }

    pub(super) fn cache_add(&mut self, slot: VSlot, folio: FolioId) -> Result<Outcome, Error> {
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

    pub(super) fn cache_del(&mut self, slot: VSlot, shadow: Shadow) -> Result<Outcome, Error> {
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
}

pub(super) fn backing(b: Back) -> Backing {
    match b {
        Back::None => Backing::None,
        Back::Zero => Backing::Zero,
        Back::Zswap { .. } => Backing::Zswap,
        Back::Device { dev, .. } => Backing::Device(DeviceId(dev)),
    }
}
