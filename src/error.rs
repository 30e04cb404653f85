//! The crate's one error type. A call that returns an error leaves the system exactly as
//! it was (principle 5 of `docs/design.md`).

use std::fmt;

/// Everything a public call can refuse. Kernel errno equivalents are noted per variant.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The slot id can never name a slot: 0, or beyond the virtual space (-EINVAL).
    InvalidSlot,
    /// The slot is free: nothing was allocated there (-ENOENT).
    NotAllocated,
    /// The slot already holds a folio in the swap cache (-EEXIST).
    AlreadyCached,
    /// The operation needs a folio in the swap cache and there is none.
    NotCached,
    /// No backend holds the slot's data, so the folio may not leave the cache.
    NotBacked,
    /// Replaced by the variant that says what is busy ([`Error::is_busy`] is true for
    /// each): [`Error::NonUniformFolio`], [`Error::WritebackInProgress`],
    /// [`Error::InSwapCache`], [`Error::SwapoffBusy`]. No call returns it any more.
    #[deprecated(since = "0.2.0", note = "match the specific variant, or use `Error::is_busy`")]
    Busy,
    /// A large-folio range is not uniform: count, zero flag or memcg differ between its
    /// slots (`__swap_cache_add_check`, -EBUSY). Was `Busy`.
    NonUniformFolio,
    /// zswap writeback holds the slot in the swap cache with its own folio
    /// (`FolioId::WRITEBACK`) while it writes the entry to a device (-EBUSY); retry once
    /// it is done. Was `Busy`.
    WritebackInProgress,
    /// zswap writeback of a slot that is in the swap cache: the page is hot, or another
    /// writeback holds it (`zswap_writeback_entry`'s -EEXIST). Was `Busy`.
    InSwapCache,
    /// swapoff gave up: concurrent writeouts kept taking slots on the device (-EBUSY); the
    /// device stays on. Was `Busy`.
    SwapoffBusy,
    /// `swapoff_with`'s sink had no memory for a page it had to bring in
    /// (`try_to_unuse`'s -ENOMEM): the device stays on, the pages already moved or brought
    /// in stay where they went, the rest stay on the device.
    NoMemory,
    /// The swap count would pass `u32::MAX`.
    CountOverflow,
    /// A `put` on a slot whose count is already 0.
    CountUnderflow,
    /// The folio id does not fit the table word's PFN field, or is not aligned to its order.
    InvalidFolio,
    /// No such memcg.
    InvalidMemcg,
    /// The memcg is offline.
    MemcgOffline,
    /// No such device.
    InvalidDevice,
    /// No room: the devices (or the virtual space) are full (-ENOSPC).
    DeviceFull,
    /// A page buffer of the wrong size.
    BadPage,
    /// `set_tick` asked to move the logical clock backwards.
    ClockBackwards,
    /// Proactive writeback wrote less than asked (-EAGAIN).
    Again {
        /// Compressed bytes written back before the call gave up.
        written: u64,
    },
    /// An argument out of its range; the text names it (-EINVAL).
    Invalid(&'static str),
    /// `writeback` of a slot whose data is not in zswap (-ENOENT).
    NotInZswap,
    /// A device's backing file failed (-EIO); the page stayed where it was.
    Io(std::io::ErrorKind),
    /// zswap could not decompress an entry (-EIO, `decompress_fail`); the entry is kept.
    Decompress,
    /// A swap tier of that name already exists (-EEXIST).
    TierExists,
    /// A swap tier change that collides: its start priority is taken, or it would move a
    /// swapped-on device to another tier (-EBUSY); the text says which.
    TierBusy(&'static str),
    /// Every swap tier slot is in use (`CONFIG_NR_SWAP_TIERS`, -ENOSPC).
    TooManyTiers,
}

impl Error {
    /// Whether the call was refused because something is busy (what `Error::Busy` used to
    /// cover): [`Error::NonUniformFolio`], [`Error::WritebackInProgress`],
    /// [`Error::InSwapCache`] or [`Error::SwapoffBusy`].
    pub fn is_busy(&self) -> bool {
        #[allow(deprecated)]
        let busy = matches!(
            self,
            Self::Busy | Self::NonUniformFolio | Self::WritebackInProgress | Self::InSwapCache | Self::SwapoffBusy
        );
        busy
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Self::Io(e.kind())
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidSlot => f.write_str("invalid swap slot"),
            Self::NotAllocated => f.write_str("swap slot not allocated"),
            Self::AlreadyCached => f.write_str("swap slot already in the swap cache"),
            Self::NotCached => f.write_str("swap slot not in the swap cache"),
            Self::NotBacked => f.write_str("no backend holds the slot's data"),
            #[allow(deprecated)]
            Self::Busy => f.write_str("busy"),
            Self::NonUniformFolio => f.write_str("large folio range is not uniform"),
            Self::WritebackInProgress => f.write_str("zswap writeback holds the slot"),
            Self::InSwapCache => f.write_str("the slot is in the swap cache"),
            Self::SwapoffBusy => f.write_str("swapoff could not empty the device: it is busy"),
            Self::NoMemory => f.write_str("no memory to bring a page in"),
            Self::CountOverflow => f.write_str("swap count overflow"),
            Self::CountUnderflow => f.write_str("swap count is already zero"),
            Self::InvalidFolio => f.write_str("folio id does not fit the swap table"),
            Self::InvalidMemcg => f.write_str("no such memory cgroup"),
            Self::MemcgOffline => f.write_str("memory cgroup is offline"),
            Self::InvalidDevice => f.write_str("no such swap device"),
            Self::DeviceFull => f.write_str("no swap space left"),
            Self::BadPage => f.write_str("page buffer has the wrong size"),
            Self::ClockBackwards => f.write_str("logical clock may not move backwards"),
            Self::Again { written } => write!(f, "wrote {written} bytes, fewer than asked"),
            Self::Invalid(what) => write!(f, "invalid argument: {what}"),
            Self::NotInZswap => f.write_str("the slot's data is not in zswap"),
            Self::Io(kind) => write!(f, "swap device I/O error: {kind}"),
            Self::Decompress => f.write_str("zswap entry failed to decompress"),
            Self::TierExists => f.write_str("a swap tier of that name exists"),
            Self::TierBusy(why) => write!(f, "swap tier busy: {why}"),
            Self::TooManyTiers => f.write_str("no free swap tier slot"),
        }
    }
}

impl std::error::Error for Error {}
