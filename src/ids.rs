//! Identifiers and small value types of the public facade (`docs/api.md`, "Identifiers").

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
    /// The largest PFN a caller may use: the table word's PFN field (`SWAP_CACHE_PFN_BITS`
    /// wide) minus its top value, which the crate reserves for the folio zswap writeback
    /// puts in the swap cache while it writes an entry out.
    pub const MAX: u64 = (1 << PFN_BITS) - 2;
    /// The reserved PFN of zswap writeback's own swap-cache folio.
    pub(crate) const WRITEBACK: u64 = (1 << PFN_BITS) - 1;
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
    Cached {
        /// The folio in the swap cache.
        folio: FolioId,
        /// The swap count: references other than the cache's.
        count: u32,
    },
    /// Swapped out: only the shadow is left; `count >= 1`.
    SwappedOut {
        /// The workingset shadow left by `swap_cache_del` / `evict`.
        shadow: Shadow,
        /// The swap count (at least 1).
        count: u32,
        /// Where the data lives.
        backing: Backing,
    },
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

/// A page handed to `writeout`: real bytes (compressed with the configured compressor,
/// stored byte for byte on devices), or a synthetic page for simulators that track no
/// contents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Page<'a> {
    /// The folio's bytes: `PAGE_SIZE << order` of them.
    Bytes(&'a [u8]),
    /// No contents: the caller states the compressed size of each page (`>= PAGE_SIZE`
    /// or 0 means incompressible) and whether the folio is zero-filled.
    Synthetic {
        /// The compressed size of each page in bytes (`>= PAGE_SIZE` or 0: incompressible).
        compressed_len: u32,
        /// Whether the folio is zero-filled.
        zero: bool,
    },
}

/// A cgroup limit in bytes, or `max` (no limit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum Limit {
    /// A limit in bytes; rounded down to whole pages, as `page_counter_memparse` does.
    Bytes(u64),
    /// `max`: unlimited (the default).
    Max,
}

/// A writable cgroup file (`SwapSystem::memcg_set`).
///
/// `#[non_exhaustive]`: issue 6 adds per-memcg knobs in parts (the compression priority now;
/// the swap-tier mask, `writeback_prio` and `writeback_size` next). Adding a variant to an
/// exhaustive public enum already breaks every exhaustive `match` downstream, so the enum
/// is marked once, now, and later knobs arrive without a further break. Downstream code
/// still constructs any variant (`Knob::SwapMax(Limit::Max)`); only a `match` on a `Knob`
/// outside this crate needs a wildcard arm (`_ => ...`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[non_exhaustive]
pub enum Knob {
    /// `memory.swap.max`.
    SwapMax(Limit),
    /// `memory.swap.high`.
    SwapHigh(Limit),
    /// `memory.zswap.max`.
    ZswapMax(Limit),
    /// `memory.zswap.writeback`.
    ZswapWriteback(bool),
    /// The compression priority (priority 1..=4, see [`crate::CompressionPriority`]) new zswap
    /// stores of this memcg use; `None` (the default) inherits the nearest ancestor's
    /// setting, and the root's default is priority 1. Entries already stored keep their
    /// tier. The per-memcg selection is the out-of-tree `zram.prio` hack (and zswap's
    /// global `zswap.compressor`, which creates a new `zswap_pool`) done per memcg; the
    /// root may set it too, as the system-wide default. A priority with no compressor
    /// registered is `Error::Invalid`, nothing changed.
    ZswapCompressionPriority(Option<u8>),
    /// `memory.swap.tiers.max`, one tier per write: `enabled` (`max`, the default) lets
    /// the memcg's pages take physical slots from swap tier `tier` (its index,
    /// [`crate::SwapTier::idx`]); `false` (`0`) forbids it. A tier is usable only when
    /// the memcg and every ancestor allow it. Not on the root. `Invalid` for an index that
    /// names no configured tier and, where the kernel would let the memcg lose all swap,
    /// for a write that leaves the memcg or an online descendant no tier at all (set
    /// `SwapMax` to 0 for that).
    SwapTierMax {
        /// The tier's index ([`crate::SwapTier::idx`]).
        tier: u8,
        /// `max` (true) allows the tier, `0` (false) forbids it.
        enabled: bool,
    },
    /// The swap tier (its index) zswap writeback of this memcg's entries tries first,
    /// before the other allowed tiers in priority order: zram's per-cgroup
    /// `writeback_prio` in swap-tier terms (no kernel file). `None` (the default)
    /// inherits the nearest ancestor's setting; with none set, writeback follows priority.
    /// A tier the memcg's `memory.swap.tiers.max` forbids is not tried. Removing the tier
    /// unsets it everywhere. `Invalid` for an index that names no configured tier.
    ZswapWritebackTier(Option<u8>),
    /// A cap on the compressed bytes the global shrink worker writes back from this
    /// memcg's own LRU in one run (zram's `writeback_limit`, per run of the worker; no
    /// kernel file); the entry that reaches the cap is written whole, then the memcg is
    /// skipped (not a failure) until the next run. `Limit::Max` (the default) is no cap;
    /// 0 is `Invalid` (`ZswapWriteback(false)` stops writeback). Proactive writeback and
    /// the shrinker are not capped.
    ZswapWritebackSize(Limit),
}

impl Knob {
    /// Deprecated name of [`Knob::ZswapCompressionPriority`] (the knob holds a
    /// compression priority, not a compressor); constructs it.
    #[deprecated(since = "0.2.0", note = "renamed to `Knob::ZswapCompressionPriority`")]
    #[allow(non_snake_case)]
    pub const fn ZswapCompressor(priority: Option<u8>) -> Knob {
        Knob::ZswapCompressionPriority(priority)
    }
}

/// Where `writeout` put the folio (`swap_writeout`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Writeout {
    /// Zero-filled: only the Z flag is kept, no I/O (`swpout_zero`).
    Zero,
    /// Stored in zswap; `compressed` bytes per page (`PAGE_SIZE` when stored as-is).
    Zswap {
        /// Compressed bytes per page (`PAGE_SIZE` when stored as-is).
        compressed: u32,
    },
    /// Written to a physical slot on this device (`pswpout`).
    Device(DeviceId),
    /// Nothing accepted it: the folio stays resident and dirty (`AOP_WRITEPAGE_ACTIVATE`).
    Kept(KeepReason),
}

/// Why `writeout` kept a folio.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeepReason {
    /// zswap refused it and `memory.zswap.writeback` is 0 for the memcg (or an ancestor).
    WritebackDisabled,
    /// zswap refused it and `memory.swap.max` (of the memcg or an ancestor) refused the
    /// physical slot.
    SwapMax,
    /// zswap refused it and no device had a free slot (or there is no device).
    NoSpace,
}

/// What `fault` found (`do_swap_page` / `swapin_folio`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fault {
    /// Where the data came from.
    pub source: FaultSource,
    /// The shadow the slot held, for `workingset_refault`; None on a cache hit.
    pub shadow: Option<Shadow>,
}

/// The source of a swap-in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultSource {
    /// The folio was still in the swap cache: no I/O, no data copied.
    Cache,
    /// A zero page: the buffer is zero-filled (`swpin_zero`).
    Zero,
    /// An exclusive zswap load: the entry is freed and the folio is dirty (`zswpin`).
    Zswap,
    /// A read from a physical slot on this device (`pswpin`); the slot stays allocated.
    Device(DeviceId),
}
