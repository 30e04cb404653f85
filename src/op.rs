//! Facade operations as data, for fuzzers and model tests (`Op::apply`).
//!
//! Slots are named either by position in the list of slots a driver has allocated so far
//! ([`SlotRef::Live`], so random sequences hit live state) or by raw id ([`SlotRef::Raw`],
//! for misuse). With the `arbitrary` feature every type here derives `Arbitrary`.

use crate::{Error, FolioId, MemcgId, Shadow, SlotState, SwapSystem, Tick, VSlot};

/// A slot operand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum SlotRef {
    /// The `n % len`-th slot the driver allocated (slot 0 when it has none).
    Live(u16),
    /// A raw slot id, valid or not.
    Raw(u64),
}

impl SlotRef {
    /// The slot this operand names, given the slots allocated so far.
    pub fn resolve(self, live: &[VSlot]) -> VSlot {
        match self {
            SlotRef::Live(n) if !live.is_empty() => live[usize::from(n) % live.len()],
            SlotRef::Live(_) => VSlot::from_raw(0),
            SlotRef::Raw(r) => VSlot::from_raw(r),
        }
    }
}

/// One call of the facade.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum Op {
    /// `SwapSystem::alloc`.
    Alloc { cpu: u16, memcg: MemcgId, folio: FolioId, order: u8 },
    /// `SwapSystem::dup`.
    Dup(SlotRef),
    /// `SwapSystem::put`.
    Put(SlotRef),
    /// `SwapSystem::release`.
    Release(SlotRef),
    /// `SwapSystem::swap_cache_add`.
    CacheAdd { slot: SlotRef, folio: FolioId },
    /// `SwapSystem::swap_cache_del`.
    CacheDel { slot: SlotRef, shadow: Shadow },
    /// `SwapSystem::state`.
    State(SlotRef),
    /// `SwapSystem::drain_cpu_caches`.
    DrainCpuCaches,
    /// `SwapSystem::set_tick`.
    SetTick(Tick),
}

/// What a successful [`Op`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// `alloc`'s head slot.
    Slot(VSlot),
    /// `dup` / `put`: the count after the call.
    Count(u32),
    /// `release`: whether the slots were freed.
    Freed(bool),
    /// `state`.
    State(SlotState),
    /// Calls that return `()`.
    Done,
}

impl Op {
    /// Run the operation on `sys`; `live` resolves [`SlotRef::Live`] operands.
    pub fn apply(&self, sys: &SwapSystem, live: &[VSlot]) -> Result<Outcome, Error> {
        match *self {
            Op::Alloc { cpu, memcg, folio, order } => {
                sys.alloc(usize::from(cpu), memcg, folio, u32::from(order)).map(Outcome::Slot)
            }
            Op::Dup(s) => sys.dup(s.resolve(live)).map(Outcome::Count),
            Op::Put(s) => sys.put(s.resolve(live)).map(Outcome::Count),
            Op::Release(s) => sys.release(s.resolve(live)).map(Outcome::Freed),
            Op::CacheAdd { slot, folio } => sys.swap_cache_add(slot.resolve(live), folio).map(|()| Outcome::Done),
            Op::CacheDel { slot, shadow } => sys.swap_cache_del(slot.resolve(live), shadow).map(|()| Outcome::Done),
            Op::State(s) => sys.state(s.resolve(live)).map(Outcome::State),
            Op::DrainCpuCaches => {
                sys.drain_cpu_caches();
                Ok(Outcome::Done)
            }
            Op::SetTick(t) => sys.set_tick(t).map(|()| Outcome::Done),
        }
    }
}
