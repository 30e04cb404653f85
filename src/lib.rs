//! # vswap — the Linux swap subsystem of 2026, in userspace
//!
//! A model of the swap table with lock-free, dynamically allocated clusters; virtual swap
//! slots backed by zswap entries, physical slots on prioritised devices, zero pages or
//! the in-memory folio; the swap cache; and per-memcg charging with hierarchical limits.
//! See `DESIGN.md` for the layers and `API.md` for this facade's contract.
//!
//! ```
//! use vswap::*;
//! let sys = SwapSystem::new(Config::default())?;
//! let slot = sys.alloc(0, MemcgId::ROOT, FolioId(42), 0)?;   // folio_alloc_swap
//! assert_eq!(sys.dup(slot)?, 1);                             // a PTE maps the entry
//! sys.swap_cache_del(slot, Shadow(7))?;                      // reclaimed: shadow left
//! assert!(matches!(sys.state(slot)?, SlotState::SwappedOut { count: 1, .. }));
//! assert_eq!(sys.put(slot)?, 0);                             // the PTE is zapped: freed
//! assert_eq!(sys.state(slot)?, SlotState::Free);
//! # Ok::<(), vswap::Error>(())
//! ```
//!
//! Layers (one module each): [`entry`] (the packed words), [`table`] (clusters, the
//! directory, the allocator, count and cache), [`device`] (swap devices as tiers, with
//! the reverse map), [`zswap`] (the pool and compression), `memcg` (the cgroup tree,
//! counters and limits), and the facade [`SwapSystem`] with its flows. The `sync`
//! module is the `std`/`loom` facade; `epoch` holds the per-system reclamation.
//!
//! ## Features
//! * `loom` — with `RUSTFLAGS="--cfg loom --cfg crossbeam_loom"`, the crate's atomics,
//!   locks and reclamation run on loom, so a downstream loom model explores this crate's
//!   interleavings too. `--cfg loom` without the feature leaves the crate on `std`.
//! * `arbitrary` — `Arbitrary` for the public value types and for [`op::Op`].
//! * `model` — the reference model (`model::Model`) and the differential
//!   `model::Harness`, for downstream fuzzers.

mod config;
pub mod device;
pub mod entry;
mod epoch;
mod error;
mod ids;
mod ledger;
mod memcg;
#[cfg(feature = "model")]
pub mod model;
pub mod op;
mod percpu;
mod stat;
mod sync;
mod system;
pub mod table;
pub mod zswap;

pub use config::{Algorithm, CompressionMode, CompressionPriority, Config, LruPolicy, ShrinkStart, ZswapConfig};
#[allow(deprecated)]
pub use config::{CompressionTier, Compressor};
pub use device::{Device, DeviceSpec, SwapTier, SwapTierOp};
pub use error::Error;
pub use ids::{
    Backing, DeviceId, Fault, FaultSource, FolioId, KeepReason, Knob, Limit, MemcgId, Page, Shadow, SlotState, Tick,
    VSlot, Writeout,
};
#[allow(deprecated)]
pub use stat::ZswapTierStat;
pub use stat::{
    DeviceStat, Footprint, GlobalStat, MemcgStat, RecompressReport, ShrinkOutcome, ShrinkReport, ShrinkResult,
    ShrinkStop, SwapTierStat, SwapoffReport, ZswapPriorityStat,
};
pub use system::{Pinned, RecompressSpec, SwapSystem};

/// The README's examples run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

/// Bytes per page (`PAGE_SIZE`).
pub const PAGE_SIZE: usize = 4096;
