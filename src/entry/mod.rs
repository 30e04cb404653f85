//! The two per-slot words, encoded and decoded. Pure functions, no atomics.
//!
//! **Swap table word** (the kernel's `swp_tb`, `mm/swap_table.h` in the mm tree), with the
//! x86_64 parameters (`MAX_POSSIBLE_PHYSMEM_BITS` 52, 4 KiB pages), bit 63 the MSB:
//!
//! ```text
//! Free   : all zero
//! Shadow : [COUNT:4][Z][ shadow value: 58 ........................][1]
//! Cached : [COUNT:4][Z][0 ... 0][L][ORDER:4][ PFN: 40 .............][1 0]
//! Pointer: [C][ virtual slot: 60 ..................................][1 0 0]
//! Bad    : all ones in bits 63..3, bits 2..0 = 000
//! ```
//!
//! Discrimination order is the kernel's: `0`, Bad, bit 0, bits 1..0, bits 2..0. COUNT is
//! the inline swap count; its maximum ([`COUNT_MAX`]) is a sentinel meaning "the real
//! count is in the cluster's extension table" (`ci->extend_table`). Z is the zero-page
//! flag (phase IV's merged zeromap). C on a Pointer is the vswap "cache-only" bit.
//!
//! Deliberate differences: the crate has no `struct folio`, so a Cached word carries the
//! folio's order in four bits the kernel leaves zero (bits 42..45), and bit 46 (L) is a
//! transient lock taken by multi-slot transitions of a large folio (the kernel holds the
//! folio lock and `ci->lock` instead), by a fault while it reads the page in, by `evict`
//! while it checks the folio is backed, and by swapoff while it drops a cached folio's
//! device slot (where the kernel holds the folio lock). L is never visible through the
//! public API.
//!
//! **Backend word** (the kernel's `virtual_table` entry, Swap Table Edition RFC v2), tag in
//! the low three bits: `None` 000 (the word is 0), `Phys` 001 with the device in bits
//! 59..63 and the offset in bits 3..58 (a `swp_entry_t` shifted left by 3), `Zswap` 010
//! with a 61-bit handle. Zero and in-memory backing are derived, never stored.
//!
//! **Compact backend word** (what the crate stores, a deliberate difference): 32 bits per
//! slot instead of 64, so a zswap-backed slot costs 14 bytes (table 8 + memcg 2 +
//! backend 4) where the Swap Table Edition needs 18. `0` is None; bit 31 set is Phys with
//! the device in bits 26..30 and the offset in bits 0..25 (devices of up to 2^26 pages,
//! 256 GiB); otherwise Zswap with a non-zero 31-bit handle.

/// Bits of the inline swap count (`SWP_TB_COUNT_BITS`).
pub const COUNT_BITS: u32 = 4;
/// The inline count's maximum; stored inline it means "see the extension table".
pub const COUNT_MAX: u8 = (1 << COUNT_BITS) - 1;
/// Bits of the page frame number in a Cached word (`SWAP_CACHE_PFN_BITS`).
pub const PFN_BITS: u32 = 40;
/// Bits of the workingset shadow kept in a Shadow word.
pub const SHADOW_BITS: u32 = 58;
/// Bits of the virtual slot in a Pointer word.
pub const POINTER_BITS: u32 = 60;
/// Largest folio order a Cached word can carry.
pub const MAX_ORDER: u8 = 15;
/// Bits of the device number in a Phys backend word (`MAX_SWAPFILES_SHIFT`).
pub const DEVICE_BITS: u32 = 5;
/// Bits of the offset in a Phys backend word.
pub const OFFSET_BITS: u32 = 56;
/// Bits of a zswap handle in a Zswap backend word.
pub const HANDLE_BITS: u32 = 61;
/// Bits of the offset in a compact Phys backend word: the largest device has 2^26 pages.
pub const COMPACT_OFFSET_BITS: u32 = 26;
/// Bits of a zswap handle in a compact backend word.
pub const COMPACT_HANDLE_BITS: u32 = 31;

const COUNT_SHIFT: u32 = 60;
const ZERO_BIT: u64 = 1 << 59;
const FLAGS_MASK: u64 = !0 << 59;
const PFN_SHIFT: u32 = 2;
const ORDER_SHIFT: u32 = PFN_SHIFT + PFN_BITS;
const LOCK_BIT: u64 = 1 << (ORDER_SHIFT + 4);
const CACHED_USED: u64 = FLAGS_MASK | LOCK_BIT | (0xf << ORDER_SHIFT) | (mask(PFN_BITS) << PFN_SHIFT) | 0b11;
const CACHE_ONLY_BIT: u64 = 1 << 63;
const BAD: u64 = !0 << 3;

const fn mask(bits: u32) -> u64 {
    (1u64 << bits) - 1
}

/// A decoded swap table word.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum TableEntry {
    /// No folio, no shadow, no count: the slot is free.
    Free,
    /// Swapped out: the workingset shadow, the inline count and the zero flag.
    Shadow {
        /// The workingset shadow (`workingset_eviction`'s value, docs/kernel.md §3.4).
        shadow: u64,
        /// The inline swap count (docs/kernel.md §1.4).
        count: u8,
        /// The Z flag: the page was zero-filled (docs/kernel.md §1.5).
        zero: bool,
    },
    /// In the swap cache: the folio's PFN and order, the inline count and the zero flag.
    /// `locked` is the crate's transient multi-slot lock (see the module doc).
    Cached {
        /// The PFN of the folio in the swap cache.
        pfn: u64,
        /// The folio's order.
        order: u8,
        /// The inline swap count (docs/kernel.md §1.4).
        count: u8,
        /// The Z flag: the page was zero-filled (docs/kernel.md §1.5).
        zero: bool,
        /// The crate's transient multi-slot lock bit.
        locked: bool,
    },
    /// A physical slot's reverse map to the virtual slot it backs.
    Pointer {
        /// The virtual slot this physical slot backs.
        vslot: u64,
        /// The C bit: the virtual slot's count is 0 but its folio is still cached (docs/kernel.md §4.3).
        cache_only: bool,
    },
    /// A header, hole or bad slot (`SWP_TB_BAD`).
    Bad,
}

/// Why a word or a value does not fit the layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodecError {
    /// A non-zero word whose low three bits are 000 but which is not the Bad value.
    UnknownTag,
    /// A Cached word with bits set where the layout has none.
    ReservedBits,
    /// A field value wider than its field.
    FieldOverflow,
}

impl TableEntry {
    /// The Bad word (`SWP_TB_BAD`).
    pub const BAD_WORD: u64 = BAD;

    /// Decode a word. Every `u64` decodes to an entry or a [`CodecError`], never a panic.
    pub const fn decode(w: u64) -> Result<Self, CodecError> {
        let count = (w >> COUNT_SHIFT) as u8;
        let zero = w & ZERO_BIT != 0;
        if w == 0 {
            Ok(Self::Free)
        } else if w == BAD {
            Ok(Self::Bad)
        } else if w & 1 == 1 {
            Ok(Self::Shadow { shadow: (w >> 1) & mask(SHADOW_BITS), count, zero })
        } else if w & 0b11 == 0b10 {
            if w & !CACHED_USED != 0 {
                return Err(CodecError::ReservedBits);
            }
            Ok(Self::Cached {
                pfn: (w >> PFN_SHIFT) & mask(PFN_BITS),
                order: ((w >> ORDER_SHIFT) & 0xf) as u8,
                count,
                zero,
                locked: w & LOCK_BIT != 0,
            })
        } else if w & 0b111 == 0b100 {
            Ok(Self::Pointer { vslot: (w >> 3) & mask(POINTER_BITS), cache_only: w & CACHE_ONLY_BIT != 0 })
        } else {
            Err(CodecError::UnknownTag)
        }
    }

    /// Encode an entry. Fields wider than their bit field are a [`CodecError`].
    pub const fn encode(self) -> Result<u64, CodecError> {
        match self {
            Self::Free => Ok(0),
            Self::Bad => Ok(BAD),
            Self::Shadow { shadow, count, zero } => {
                if shadow > mask(SHADOW_BITS) || count > COUNT_MAX {
                    return Err(CodecError::FieldOverflow);
                }
                Ok(flags(count, zero) | (shadow << 1) | 1)
            }
            Self::Cached { pfn, order, count, zero, locked } => {
                if pfn > mask(PFN_BITS) || order > MAX_ORDER || count > COUNT_MAX {
                    return Err(CodecError::FieldOverflow);
                }
                let lock = if locked { LOCK_BIT } else { 0 };
                Ok(flags(count, zero) | lock | ((order as u64) << ORDER_SHIFT) | (pfn << PFN_SHIFT) | 0b10)
            }
            Self::Pointer { vslot, cache_only } => {
                if vslot > mask(POINTER_BITS) {
                    return Err(CodecError::FieldOverflow);
                }
                let c = if cache_only { CACHE_ONLY_BIT } else { 0 };
                Ok(c | (vslot << 3) | 0b100)
            }
        }
    }

    /// The inline count, for the countable kinds (Free, Shadow, Cached).
    pub const fn count(self) -> Option<u8> {
        match self {
            Self::Free => Some(0),
            Self::Shadow { count, .. } | Self::Cached { count, .. } => Some(count),
            Self::Pointer { .. } | Self::Bad => None,
        }
    }
}

const fn flags(count: u8, zero: bool) -> u64 {
    ((count as u64) << COUNT_SHIFT) | if zero { ZERO_BIT } else { 0 }
}

/// Word-level helpers for the CAS loops in `table`: they rewrite one field of an already
/// valid countable word without a full decode.
pub(crate) mod word {
    use super::*;

    pub(crate) const fn count(w: u64) -> u8 {
        (w >> COUNT_SHIFT) as u8
    }
    pub(crate) const fn with_count(w: u64, c: u8) -> u64 {
        (w & !(0xf << COUNT_SHIFT)) | ((c as u64) << COUNT_SHIFT)
    }
    pub(crate) const fn is_cached(w: u64) -> bool {
        w & 0b11 == 0b10
    }
    pub(crate) const fn is_shadow(w: u64) -> bool {
        w & 1 == 1
    }
    pub(crate) const fn is_locked(w: u64) -> bool {
        is_cached(w) && w & LOCK_BIT != 0
    }
    pub(crate) const fn locked(w: u64) -> u64 {
        w | LOCK_BIT
    }
    /// `w` without the lock bit; words other than Cached are returned as they are.
    pub(crate) const fn unlocked(w: u64) -> u64 {
        if is_cached(w) { w & !LOCK_BIT } else { w }
    }
    pub(crate) const fn zero(w: u64) -> bool {
        w & ZERO_BIT != 0
    }
    /// `w` with the Z flag set to `z`.
    pub(crate) const fn with_zero(w: u64, z: bool) -> u64 {
        if z { w | ZERO_BIT } else { w & !ZERO_BIT }
    }
    /// The shadow value of a Shadow word.
    pub(crate) const fn shadow(w: u64) -> u64 {
        (w >> 1) & mask(SHADOW_BITS)
    }
    /// A Pointer word's cache-only bit set to `c`.
    pub(crate) const fn with_cache_only(w: u64, c: bool) -> u64 {
        if c { w | CACHE_ONLY_BIT } else { w & !CACHE_ONLY_BIT }
    }
    /// The flags (count and Z) of `w` on top of the shadow value `s`.
    pub(crate) const fn shadow_from(w: u64, s: u64) -> u64 {
        (w & FLAGS_MASK) | ((s & mask(SHADOW_BITS)) << 1) | 1
    }
    /// The flags (count and Z) of `w` on top of a Cached body.
    pub(crate) const fn cached_from(w: u64, pfn: u64, order: u8) -> u64 {
        (w & FLAGS_MASK) | ((order as u64) << ORDER_SHIFT) | (pfn << PFN_SHIFT) | 0b10
    }
    pub(crate) const fn order(w: u64) -> u8 {
        ((w >> ORDER_SHIFT) & 0xf) as u8
    }
    pub(crate) const fn pfn(w: u64) -> u64 {
        (w >> PFN_SHIFT) & mask(PFN_BITS)
    }
}

/// A decoded backend word (the Swap Table Edition's `virtual_table` entry).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum BackendEntry {
    /// No backend: the data is only in the folio, or the slot is free.
    None,
    /// A zswap entry, by handle.
    Zswap {
        /// The zswap entry's handle in the pool.
        handle: u64,
    },
    /// A physical slot: device number and offset.
    Phys {
        /// The swap device's number (`swap_info[]` index).
        device: u8,
        /// The slot's offset on that device.
        offset: u64,
    },
}

const TAG_PHYS: u64 = 0b001;
const TAG_ZSWAP: u64 = 0b010;

impl BackendEntry {
    /// Decode a backend word. Every `u64` decodes or errs, never panics.
    pub const fn decode(w: u64) -> Result<Self, CodecError> {
        match w & 0b111 {
            0 if w == 0 => Ok(Self::None),
            TAG_PHYS => Ok(Self::Phys { device: (w >> 59) as u8, offset: (w >> 3) & mask(OFFSET_BITS) }),
            TAG_ZSWAP => Ok(Self::Zswap { handle: w >> 3 }),
            _ => Err(CodecError::UnknownTag),
        }
    }

    /// Encode a backend word.
    pub const fn encode(self) -> Result<u64, CodecError> {
        match self {
            Self::None => Ok(0),
            Self::Zswap { handle } => {
                if handle > mask(HANDLE_BITS) {
                    return Err(CodecError::FieldOverflow);
                }
                Ok((handle << 3) | TAG_ZSWAP)
            }
            Self::Phys { device, offset } => {
                if device as u64 > mask(DEVICE_BITS) || offset > mask(OFFSET_BITS) {
                    return Err(CodecError::FieldOverflow);
                }
                Ok(((device as u64) << 59) | (offset << 3) | TAG_PHYS)
            }
        }
    }
}

const COMPACT_PHYS: u32 = 1 << 31;

impl BackendEntry {
    /// Decode a compact (32-bit) backend word. Every `u32` decodes.
    pub const fn decode_compact(w: u32) -> Self {
        if w & COMPACT_PHYS != 0 {
            Self::Phys { device: ((w >> COMPACT_OFFSET_BITS) & 0x1f) as u8, offset: (w & ((1 << 26) - 1)) as u64 }
        } else if w == 0 {
            Self::None
        } else {
            Self::Zswap { handle: w as u64 }
        }
    }

    /// Encode a compact backend word; a Zswap handle must be non-zero.
    pub const fn encode_compact(self) -> Result<u32, CodecError> {
        match self {
            Self::None => Ok(0),
            Self::Zswap { handle } => {
                if handle == 0 || handle > mask(COMPACT_HANDLE_BITS) {
                    return Err(CodecError::FieldOverflow);
                }
                Ok(handle as u32)
            }
            Self::Phys { device, offset } => {
                if device as u64 > mask(DEVICE_BITS) || offset > mask(COMPACT_OFFSET_BITS) {
                    return Err(CodecError::FieldOverflow);
                }
                Ok(COMPACT_PHYS | ((device as u32) << COMPACT_OFFSET_BITS) | offset as u32)
            }
        }
    }
}

#[cfg(test)]
mod tests;
