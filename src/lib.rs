//! # vswap — the Linux swap subsystem of 2026, in userspace
//!
//! Reclaim-policy and memory-tiering simulators, loom models and fuzz campaigns all need
//! the kernel's swap rules — which slot a page gets, what its count and swap cache mean,
//! where zswap puts it, what each memcg is charged and when the shrinker writes it back —
//! without a kernel. `vswap` is that part of Linux as a library: the swap table of swap
//! table phases III–IV, the virtual swap space of the Swap Table Edition series, zswap and
//! memcg charging, each under the kernel's names. It is deterministic (no threads of its
//! own, no wall clock), lock-free where the kernel is, and returns an error instead of
//! panicking on any bad input. The kernel facts it follows are in `docs/kernel.md` (cited
//! as `§N`), its design in `docs/design.md`, the public contract in `docs/api.md`.
//!
//! ## Virtual swap slots
//!
//! A [`VSlot`] is what a PTE holds after swap-out: a `u64` naming a slot of one virtual
//! swap space that has no fixed size (§4.1). Allocating a slot ([`SwapSystem::alloc`],
//! `folio_alloc_swap`) says nothing about where the data will go; the backend is chosen at
//! [`SwapSystem::writeout`] (`swap_writeout`) and may change later: the **zero flag** for a
//! zero-filled page, a **zswap entry**, or a **physical slot** on one of the swapped-on
//! devices ([`DeviceSpec`]), chosen by priority within the swap tiers the slot's memcg
//! allows. Writeback ([`SwapSystem::writeback`]) and swapoff move a page from one backend
//! to another without touching the slot id, so the caller's page tables never change
//! (§4.3). Slot id 0 is never live.
//!
//! ## The table word
//!
//! Each virtual slot has one atomic 64-bit **table word**, laid out as the kernel's swap
//! table entry (§1.3, [`entry`]): `Free` (0); `Cached` — a folio is in the swap cache,
//! with its PFN ([`FolioId`]); `Shadow` — swapped out, only the workingset [`Shadow`] is
//! left; `Bad`. The top bits of a Cached or Shadow word hold the **swap count** (how many
//! PTEs hold the entry; at its inline maximum [`entry::COUNT_MAX`] it spills into the
//! cluster's extension table, §1.4) and the **zero flag**. Beside it each slot has a memcg
//! id (§6.1) and a 32-bit **backend word** (`None`, `Zswap(handle)` or `Phys(device,
//! offset)`, the Swap Table Edition's `virtual_table`). A physical slot's own table word
//! is a `Pointer` back to the virtual slot it backs — the reverse map, with the
//! cache-only bit — so writeback, swapoff and tier moves never scan the virtual space.
//!
//! Every state change is a CAS on one of these words, and the transitions are the
//! kernel's (§3.3): a slot with count 0 is always cached; a slot is freed when its count
//! reaches 0 and it is not cached; freeing it releases its backend and its charges.
//!
//! ## Clusters: born on first use, retired when empty
//!
//! Slots come in clusters of 512 (`Config::cluster_shift`), each with its table words,
//! memcg ids, an allocation bitmap and a meta word (count, list flag, served order), the
//! kernel's `struct swap_cluster_info` (§2.1). The virtual space holds no cluster until
//! one is needed: the allocator tries the CPU's cached cluster for the order, then the
//! clusters of that order with free slots, then creates a cluster at the lowest free index
//! (§2.3, §2.6). When a cluster's last slot is freed and no CPU owns it, it is marked
//! `DEAD`, unlinked from the directory (a radix of epoch-protected pointers) and freed
//! once no lock-free reader can still hold it — the kernel's `xa_erase` + `kfree_rcu`,
//! done with one `crossbeam-epoch` collector per system. A lookup in a cluster that does
//! not exist reads `Free`. So an empty virtual space costs nothing, and a full one costs
//! the bytes per slot that [`SwapSystem::footprint`] counts. Physical devices use the same
//! cluster code with every cluster created at swapon.
//!
//! ## Charging
//!
//! The memcg recorded at `alloc` is charged by the backend, not by the slot (§4.2, §6.2):
//!
//! * `memory.swap.current` counts only slots backed by a **physical** slot (the
//!   virtual-swap rule). `memory.swap.max` is checked, up the hierarchy, when a physical
//!   slot is taken — at writeout after zswap refused the page, or at zswap writeback — and
//!   a refusal raises the `max` and `fail` events ([`KeepReason::SwapMax`] at writeout).
//! * `memory.zswap.current` counts the compressed bytes of the memcg's zswap entries,
//!   checked against `memory.zswap.max` up the hierarchy at store; `memory.zswap.writeback`
//!   is the AND of the memcg's and its ancestors' settings.
//! * Freeing a slot uncharges whatever its backend held. An offline memcg keeps the
//!   charges already made to it; new ones go to its nearest online ancestor.
//!
//! Limits are set with [`SwapSystem::memcg_set`] and a [`Knob`]; [`MemcgStat`] reads
//! like `memory.stat` and `memory.swap.events`.
//!
//! ```
//! use vswap::*;
//! let sys = SwapSystem::new(Config::default())?;
//! let ssd = sys.swapon(DeviceSpec::memory("ssd", 1024).priority(10))?;
//! let cg = sys.memcg_create(MemcgId::ROOT)?;
//!
//! let slot = sys.alloc(0, cg, FolioId(8), 0)?;            // folio_alloc_swap: cached, count 0
//! sys.dup(slot)?;                                         // a PTE holds the entry
//! let w = sys.writeout(slot, Page::Synthetic { compressed_len: 1024, zero: false })?;
//! assert_eq!(w, Writeout::Zswap { compressed: 1024 });   // zswap took it: no swap charge
//! sys.evict(slot, Shadow(1))?;                            // reclaimed: only the shadow stays
//! assert_eq!(sys.memcg_stat(cg)?.swap_current, 0);
//! assert_eq!(sys.memcg_stat(cg)?.zswap_current, 1024);
//!
//! sys.writeback(slot)?;                                   // zswap -> ssd: now charged
//! assert_eq!(sys.memcg_stat(cg)?.swap_current, PAGE_SIZE as u64);
//! let on_ssd = Backing::Device(ssd);
//! assert!(matches!(sys.state(slot)?, SlotState::SwappedOut { count: 1, backing, .. } if backing == on_ssd));
//!
//! let f = sys.fault(0, slot, FolioId(9), None)?;          // swap-in: back in the swap cache
//! assert_eq!(f.source, FaultSource::Device(ssd));
//! assert_eq!(sys.put(slot)?, 0);                          // the PTE is mapped again
//! assert!(sys.release(slot)?);                            // folio_free_swap: slot and charge go
//! assert_eq!(sys.memcg_stat(cg)?.swap_current, 0);
//! # Ok::<(), vswap::Error>(())
//! ```
//!
//! ## The API
//!
//! [`SwapSystem`] is the facade: `Send + Sync`, every method on `&self`, every call
//! validated first, and an [`Error`] leaves the system exactly as it was.
//!
//! * The slot lifecycle: [`alloc`](SwapSystem::alloc) → [`dup`](SwapSystem::dup) →
//!   [`writeout`](SwapSystem::writeout) → [`evict`](SwapSystem::evict) →
//!   [`fault`](SwapSystem::fault) → [`put`](SwapSystem::put) /
//!   [`release`](SwapSystem::release); [`state`](SwapSystem::state) and
//!   [`pin`](SwapSystem::pin) (many lookups and count changes under one epoch pin).
//! * Devices and swap tiers: [`swapon`](SwapSystem::swapon),
//!   [`swapoff`](SwapSystem::swapoff), [`swapoff_with`](SwapSystem::swapoff_with) (the
//!   kernel's `try_to_unuse`: what the other devices have no room for comes into frames
//!   from the caller's [`SwapoffSink`]), [`swap_tiers_write`](SwapSystem::swap_tiers_write).
//! * Memory cgroups: [`memcg_create`](SwapSystem::memcg_create),
//!   [`memcg_set`](SwapSystem::memcg_set), [`memcg_offline`](SwapSystem::memcg_offline),
//!   [`memcg_stat`](SwapSystem::memcg_stat).
//! * zswap reclaim: [`shrink_memcg`](SwapSystem::shrink_memcg) and
//!   [`shrinker_count`](SwapSystem::shrinker_count) (the memcg-aware shrinker),
//!   [`run_shrink_worker`](SwapSystem::run_shrink_worker) (the global worker; nothing runs
//!   by itself: a store marks it pending, see
//!   [`shrink_worker_pending`](SwapSystem::shrink_worker_pending)),
//!   [`proactive_writeback`](SwapSystem::proactive_writeback) (`memory.reclaim "N
//!   source=zswap"`), [`recompress`](SwapSystem::recompress).
//! * Time is logical: [`set_tick`](SwapSystem::set_tick). Statistics:
//!   [`stat`](SwapSystem::stat) ([`GlobalStat`], zswap's debugfs and vmstat counters),
//!   [`footprint`](SwapSystem::footprint).
//!
//! ## Modules
//!
//! * [`entry`] — the packed words: table word and backend word, pure encode/decode.
//! * [`table`] — clusters, the directory of the virtual space, the allocator, the swap
//!   count and the swap cache.
//! * [`device`] — swap devices and swap tiers; the [`Device`] trait for where a device's
//!   bytes go (memory, a file, nothing, or the caller's own), and
//!   [`device::FaultyDevice`], which fails reads and writes on a script for tests.
//! * [`zswap`] — the compressed pool, compression ([`zswap::PageCompressor`]) and
//!   `zswap_store`, `zswap_load` and the shrinker's walk over the system's state.
//! * `memcg` (private) — the cgroup tree, hierarchical counters, limits and cursors, and
//!   the per-memcg zswap LRUs (the kernel keeps them in the memcg's lruvec), read through
//!   [`MemcgStat`].
//! * `system` (private) — the facade's flows: the swap-table side of each call, and the
//!   calls into zswap, devices and memcg.
//! * `percpu`, `ledger`, `epoch`, `sync` (private, the bottom) — striped counters on
//!   `CachePadded`, the footprint ledger, the per-system epoch reclamation, and the
//!   `std`/`loom` facade.
//! * [`op`] — every facade call as a value ([`op::Op`]), for fuzzers and property tests.
//! * `model` (feature `model`) — the reference model and `model::Harness`, which runs it
//!   in lock step with a real system and reports the first divergence.
//!
//! ## Where to start
//!
//! * **Writing a simulator.** Drive [`SwapSystem`] from your reclaim loop as above: one
//!   `alloc` + `dup` per page your reclaim picks, `writeout` and `evict` when it reclaims,
//!   `fault` on access, `put` when a mapping goes, `set_tick` and `run_shrink_worker`
//!   between steps. The `vswap-sim` crate (`sim/` in the repository) is a complete one: a
//!   small memory manager with `memory.max`, LRU lists, reclaim and faults, seeded
//!   workloads and the mailing-list experiments (`cargo run --release --bin vswap-sim`).
//! * **A loom model.** Enable the `loom` feature and build with
//!   `RUSTFLAGS="--cfg loom --cfg crossbeam_loom"`; the crate's atomics, locks and epoch
//!   reclamation then run on loom, so your model explores this crate's interleavings with
//!   your own. The flags apply to every crate in the build, so loom models belong in a
//!   crate and a target directory of their own (as the repository's `loom-tests/`), and
//!   they need a preemption bound: `LOOM_MAX_PREEMPTIONS=2` (without one, two tiny models
//!   took 302 s instead of 0.29 s). Use small clusters (`Config { cluster_shift: 2, cpus:
//!   2, .. }`). Example: `examples/loom_embedding.rs`.
//! * **A fuzz campaign.** With the `arbitrary` and `model` features, turn the input into
//!   [`op::Op`]s (with the re-exported `vswap::arbitrary`) and run them through
//!   `model::Harness`: any divergence from the reference model, or any panic, is a
//!   finding. Example: `examples/fuzz_embedding.rs`; the repository's own targets, with
//!   a seed corpus for `flows` and the input length to give it, are in `fuzz/`
//!   (`fuzz/README.md`).
//!
//! ## Features
//!
//! * `loom` — with `RUSTFLAGS="--cfg loom --cfg crossbeam_loom"`, the crate's atomics,
//!   locks and reclamation run on loom, so a downstream loom model explores this crate's
//!   interleavings too. `--cfg loom` without the feature leaves the crate on `std`; with
//!   the feature, one of the two cfgs without the other is a compile error. Bound the
//!   preemptions (`LOOM_MAX_PREEMPTIONS=2`) and give loom models a crate and a target
//!   directory of their own: see `examples/loom_embedding.rs`.
//! * `arbitrary` — `Arbitrary` for the public value types and for [`op::Op`], and the
//!   `arbitrary` crate itself re-exported (`vswap::arbitrary`), so a fuzz target uses the
//!   same version.
//! * `model` — the reference model (`model::Model`) and the differential
//!   `model::Harness`, for downstream fuzzers and tests.
//!
//! In the published package, `cargo test --all-features` runs every test and example;
//! plain `cargo test` skips the ones that need `model` or `arbitrary` (`tests/model.rs`,
//! `examples/fuzz_embedding.rs`).

#![deny(missing_docs)]
// docs.rs (which sets `--cfg docsrs`) labels the items of the `model` and `arbitrary`
// features with the feature they need.
#![cfg_attr(docsrs, feature(doc_cfg))]

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
pub use system::{Pinned, RecompressSpec, SwapSystem, SwapoffPage, SwapoffSink};

/// The `arbitrary` crate this crate's `Arbitrary` impls are for (feature `arbitrary`).
#[cfg(feature = "arbitrary")]
pub use arbitrary;

/// The README's examples run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

/// Bytes per page (`PAGE_SIZE`).
pub const PAGE_SIZE: usize = 4096;
