//! Identifiers and small value types of the public facade (`API.md`, "Identifiers").

use crate::entry::{PFN_BITS, SHADOW_BITS};

/// A virtual swap slot: the kernel's vswap `swp_entry_t` offset. Never 0 for a live slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct VSlot(u64);

impl VSlot {
    /// The raw slot number.
    pub const fn raw(self) -> u64 {
        self.0
    }
    /// A slot from its raw number; validity is checked by every call that takes one.
    pub const fn from_raw(raw: u64) -> Self {
        Self(raw)
    }
}

/// A memory cgroup (the kernel's 16-bit memcg id). [`MemcgId::ROOT`] always exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct MemcgId(pub(crate) u16);

impl MemcgId {
    /// The root cgroup (id 1, as in the kernel; 0 means "no memcg").
    pub const ROOT: MemcgId = MemcgId(1);
    /// The raw id, as stored in the per-cluster memcg table.
    pub const fn raw(self) -> u16 {
        self.0
    }
    /// An id from its raw value; validity is checked by every call that takes one.
    pub const fn from_raw(raw: u16) -> Self {
        Self(raw)
    }
}

/// A physical swap device (a tier member), the kernel's swap type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct DeviceId(pub(crate) u8);

impl DeviceId {
    /// The raw device number.
    pub const fn raw(self) -> u8 {
        self.0
    }
}

/// The caller's page frame number. It must fit the swap table's PFN field
/// ([`FolioId::MAX`]); a large folio's must be aligned to its size, as the kernel's are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct FolioId(pub u64);

impl FolioId {
    /// The largest PFN the table word can hold (`SWAP_CACHE_PFN_BITS` wide).
    pub const MAX: u64 = (1 << PFN_BITS) - 1;
}

/// The workingset cookie stored on eviction (`workingset_eviction`). Only the low
/// [`Shadow::BITS`] bits are kept, as the kernel packs anon shadows to fit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Shadow(pub u64);

impl Shadow {
    /// Low bits of a shadow that the swap table keeps.
    pub const BITS: u32 = SHADOW_BITS;
    /// The value as stored: the low [`Shadow::BITS`] bits.
    pub const fn kept(self) -> Shadow {
        Shadow(self.0 & ((1 << Self::BITS) - 1))
    }
}

/// Logical time, advanced only by the caller (`SwapSystem::set_tick`).
pub type Tick = u64;

/// What a slot holds, as `SwapSystem::state` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum SlotState {
    /// Free (`NULL` table entry): never allocated, freed, or in a cluster that does not exist.
    Free,
    /// A folio is in the swap cache; `count` PTEs (or other users) hold the entry.
    Cached { folio: FolioId, count: u32 },
    /// Swapped out: only the shadow is left; `count >= 1`.
    SwappedOut { shadow: Shadow, count: u32, backing: Backing },
}

/// Where a swapped-out slot's data lives (the vswap backing-check helper's answer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum Backing {
    /// Nowhere yet.
    None,
    /// A zero-filled page: the Z flag.
    Zero,
    /// A zswap entry.
    Zswap,
    /// A physical slot on this device.
    Device(DeviceId),
}
