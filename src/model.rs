//! The reference model: a plain `HashMap` of every allocated slot's state, count, cached
//! folio and memcg, written from kernel-notes §3.3 without any of the table's machinery;
//! and [`Harness`], which runs an [`Op`] on a real [`SwapSystem`] and on the model and
//! compares results and every slot's state after each step. The crate's model test and
//! fuzz targets use it; so can a downstream fuzzer (feature `model`).
//!
//! The model cannot predict which slot the allocator picks: it checks the slot the system
//! returned instead (aligned, in a real cluster, every page of it free).

use crate::op::{Op, Outcome};
use crate::{Backing, Config, Error, FolioId, MemcgId, Shadow, SlotState, SwapSystem, Tick, VSlot};
use std::collections::{BTreeSet, HashMap};

/// One allocated slot in the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Slot {
    /// The cached folio: (pfn, order, head slot), or None when swapped out.
    folio: Option<(u64, u32, u64)>,
    shadow: u64,
    count: u32,
    zero: bool,
    memcg: u16,
}

/// The reference model of the virtual swap space.
#[derive(Debug, Clone, Default)]
pub struct Model {
    shift: u32,
    cpus: usize,
    limit: u64,
    slots: HashMap<u64, Slot>,
    tick: Tick,
}

impl Model {
    /// An empty model for a system built from `cfg`; `limit` is `SwapSystem::slot_limit`.
    pub fn new(cfg: &Config, limit: u64) -> Self {
        Self { shift: cfg.cluster_shift, cpus: cfg.cpus, limit, ..Self::default() }
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
                None => SlotState::SwappedOut {
                    shadow: Shadow(s.shadow),
                    count: s.count,
                    backing: if s.zero { Backing::Zero } else { Backing::None },
                },
            },
        })
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

    /// Apply `op` to the model. For `Alloc`, `real` is what the system returned, so the
    /// model can adopt the slot it picked; it errs if that slot is impossible.
    pub fn apply(
        &mut self,
        op: &Op,
        live: &[VSlot],
        real: &Result<Outcome, Error>,
    ) -> Result<Result<Outcome, Error>, String> {
        Ok(match *op {
            Op::Alloc { cpu, memcg, folio, order } => {
                let order = u32::from(order);
                if usize::from(cpu) >= self.cpus || order > self.shift {
                    Err(Error::Invalid("argument"))
                } else if folio.0 > FolioId::MAX || folio.0 & ((1 << order) - 1) != 0 {
                    Err(Error::InvalidFolio)
                } else if memcg != MemcgId::ROOT {
                    Err(Error::InvalidMemcg)
                } else {
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
                        self.slots.insert(s, Slot { folio, shadow: 0, count: 0, zero: false, memcg: memcg.raw() });
                    }
                    Ok(Outcome::Slot(head))
                }
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
        })
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

    /// Every slot the model holds, for whole-state comparison.
    pub fn slots(&self) -> impl Iterator<Item = VSlot> + '_ {
        self.slots.keys().map(|&s| VSlot::from_raw(s))
    }

    /// The memcg id recorded for an allocated slot.
    pub fn memcg(&self, slot: VSlot) -> Option<MemcgId> {
        self.slots.get(&slot.raw()).map(|s| MemcgId::from_raw(s.memcg))
    }
}

/// Errors compare exactly, except that `Invalid`'s text is not part of the contract.
fn same(a: &Result<Outcome, Error>, b: &Result<Outcome, Error>) -> bool {
    match (a, b) {
        (Err(Error::Invalid(_)), Err(Error::Invalid(_))) => true,
        _ => a == b,
    }
}

/// A system and its model, driven in lock step.
pub struct Harness {
    /// The system under test.
    pub sys: SwapSystem,
    /// The reference model.
    pub model: Model,
    /// Every slot allocated so far (freed ones stay: they test stale use), at most 512.
    pub live: Vec<VSlot>,
}

impl Harness {
    /// A fresh system built from `cfg` and an empty model.
    pub fn new(cfg: Config) -> Result<Self, Error> {
        let sys = SwapSystem::new(cfg.clone())?;
        let model = Model::new(&cfg, sys.slot_limit());
        Ok(Self { sys, model, live: Vec::new() })
    }

    /// Run `op` on both. The outer Err describes a divergence; the inner result is what
    /// the system returned (the model agreed with it).
    pub fn step(&mut self, op: &Op) -> Result<Result<Outcome, Error>, String> {
        let real = op.apply(&self.sys, &self.live);
        let want = self.model.apply(op, &self.live, &real)?;
        if !same(&real, &want) {
            return Err(format!("{op:?}: system returned {real:?}, model expects {want:?}"));
        }
        if let Ok(Outcome::Slot(s)) = real {
            if self.live.len() < 512 {
                self.live.push(s);
            }
        }
        self.check()?;
        if *op == Op::DrainCpuCaches {
            let (live, want) = (self.sys.stat().clusters_live, self.model.clusters());
            if live != want {
                return Err(format!("after a drain {live} clusters live, {want} hold slots"));
            }
        }
        Ok(real)
    }

    /// Compare every slot the model or the driver knows of, and the slot count.
    pub fn check(&self) -> Result<(), String> {
        for s in self.model.slots().chain(self.live.iter().copied()) {
            let (real, want) = (self.sys.state(s), self.model.state(s));
            if real != want {
                return Err(format!("slot {}: system {real:?}, model {want:?}", s.raw()));
            }
            let (real, want) = (self.sys.memcg_of(s), self.model.memcg(s));
            if real.as_ref().ok() != Some(&want) && !(real.is_err() && want.is_none()) {
                return Err(format!("slot {}: memcg {real:?}, model {want:?}", s.raw()));
            }
        }
        let used = self.sys.stat().vslots_in_use;
        if used != self.model.in_use() {
            return Err(format!("vslots_in_use {used}, model {}", self.model.in_use()));
        }
        Ok(())
    }
}
