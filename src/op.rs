//! Facade operations as data, for fuzzers and model tests (`Op::apply`).
//!
//! Slots are named either by position in the list of slots a driver has allocated so far
//! ([`SlotRef::Live`], so random sequences hit live state) or by raw id ([`SlotRef::Raw`],
//! for misuse); memcgs likewise by position in the list of memcgs the driver created
//! ([`MemcgRef::Live`], index 0 being the root) or by raw id. Page contents are generated
//! deterministically from a [`PageKind`], the same on every platform. Swap tier names
//! ([`TierCmd`]) index the fixed table [`TIER_NAMES`], which holds invalid names too. With
//! the `arbitrary` feature every type here derives `Arbitrary`.

use crate::{
    DeviceId, DeviceSpec, Error, Fault, FolioId, Knob, MemcgId, PAGE_SIZE, Page, RecompressReport, RecompressSpec,
    Shadow, ShrinkOutcome, ShrinkReport, SlotState, SwapSystem, SwapTierOp, Tick, VSlot, Writeout,
};

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

/// A memcg operand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum MemcgRef {
    /// The `n % len`-th memcg of the driver's list (index 0 is the root; the root when the
    /// list is empty).
    Live(u8),
    /// A raw memcg id, valid or not.
    Raw(u16),
}

impl MemcgRef {
    /// The memcg this operand names, given the driver's list.
    pub fn resolve(self, live: &[MemcgId]) -> MemcgId {
        match self {
            MemcgRef::Live(n) if !live.is_empty() => live[usize::from(n) % live.len()],
            MemcgRef::Live(_) => MemcgId::ROOT,
            MemcgRef::Raw(r) => MemcgId::from_raw(r),
        }
    }
}

/// The contents of a folio handed to `writeout`, page by page. Every kind but
/// `Synthetic` becomes `Page::Bytes`; the bytes of page `i` of a folio come from
/// [`PageKind::fill`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum PageKind {
    /// Zero-filled.
    Zero,
    /// A pseudo-random prefix of `(seed % 64) * 16` bytes, then a short non-zero pattern:
    /// lz4 shrinks it to somewhere between a few dozen bytes and about a quarter page.
    Compressible(u8),
    /// xorshift64 output: lz4 cannot shrink it.
    Incompressible(u32),
    /// Every byte the same (`Repeated(0)` is a zero page).
    Repeated(u8),
    /// `Page::Synthetic`: no bytes, a stated compressed length per page.
    Synthetic {
        /// The compressed length zswap charges for each page, in bytes.
        compressed_len: u16,
        /// Whether each page counts as zero-filled (the zeromap bit, docs/kernel.md §1.5).
        zero: bool,
    },
}

/// The byte `Op::Fault` fills its buffer with before the call, so a fault that leaves
/// the buffer alone (a cache hit, a null device, a synthetic page) is visible.
pub const FAULT_FILL: u8 = 0xA5;

/// FNV-1a, 64 bits: the checksum `Outcome::Fault` reports for the faulted page.
pub fn checksum(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3))
}

fn xorshift(x: &mut u64) -> u64 {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    *x
}

impl PageKind {
    /// Whether this kind is `Page::Synthetic` rather than bytes.
    pub fn is_synthetic(self) -> bool {
        matches!(self, PageKind::Synthetic { .. })
    }

    /// Whether every page of this kind is zero-filled (a synthetic page says so itself).
    pub fn is_zero(self) -> bool {
        matches!(self, PageKind::Zero | PageKind::Repeated(0) | PageKind::Synthetic { zero: true, .. })
    }

    /// Fill `out` (`PAGE_SIZE` bytes) with page `index` of a folio of this kind. A
    /// synthetic kind has no bytes: it fills zeros.
    pub fn fill(self, index: u64, out: &mut [u8]) {
        match self {
            PageKind::Zero | PageKind::Synthetic { .. } => out.fill(0),
            PageKind::Repeated(b) => out.fill(b),
            PageKind::Compressible(seed) => {
                let mut x = (u64::from(seed) << 32) ^ index.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0x2545_f491;
                let prefix = (usize::from(seed) % 64) * 16;
                for (i, b) in out.iter_mut().enumerate() {
                    *b = if i < prefix { xorshift(&mut x) as u8 } else { ((i % 64) as u8 ^ seed) | 1 };
                }
            }
            PageKind::Incompressible(seed) => {
                let mut x = (u64::from(seed) ^ index.wrapping_mul(0x9e37_79b9_7f4a_7c15)) | 1;
                for chunk in out.chunks_mut(8) {
                    let v = xorshift(&mut x).to_le_bytes();
                    chunk.copy_from_slice(&v[..chunk.len()]);
                }
            }
        }
    }

    /// Page `index` of a folio of this kind.
    pub fn page(self, index: u64) -> Vec<u8> {
        let mut out = vec![0; PAGE_SIZE];
        self.fill(index, &mut out);
        out
    }
}

/// What `Op::Swapon` adds (files are left to tests that own a directory).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum DeviceKind {
    /// `DeviceSpec::memory`.
    Memory,
    /// `DeviceSpec::null`.
    Null,
}

/// The swap tier names a [`TierCmd`] picks from (by `name % len`): valid ones, a
/// 15-character one (the longest valid), and invalid ones: a 16-character one, one with a
/// dot, and the empty name.
pub const TIER_NAMES: [&str; 8] = ["lo", "hi", "mid", "ssd_1", "fifteen_chars_x", "sixteen_chars_xx", "bad.name", ""];

/// One command of a swap tier batch ([`Op::SwapTiers`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum TierCmd {
    /// `+NAME:START`: [`SwapTierOp::Add`] of the name [`TierCmd::name`] picks.
    Add {
        /// Index into [`TIER_NAMES`] (taken modulo its length).
        name: u8,
        /// The lowest swap priority the tier covers.
        start: i16,
    },
    /// `-NAME`: [`SwapTierOp::Remove`].
    Remove {
        /// Index into [`TIER_NAMES`] (taken modulo its length).
        name: u8,
    },
}

impl TierCmd {
    /// The name this command's `name` index picks from [`TIER_NAMES`].
    pub fn name(self) -> &'static str {
        let (TierCmd::Add { name, .. } | TierCmd::Remove { name }) = self;
        TIER_NAMES[usize::from(name) % TIER_NAMES.len()]
    }

    /// The command as the facade takes it.
    pub fn op(self) -> SwapTierOp {
        match self {
            TierCmd::Add { start, .. } => SwapTierOp::Add { name: self.name().into(), start },
            TierCmd::Remove { .. } => SwapTierOp::Remove { name: self.name().into() },
        }
    }
}

/// One call of the facade.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum Op {
    /// `SwapSystem::alloc`.
    Alloc {
        /// The CPU whose per-CPU cluster cache serves the call (taken modulo `Config::cpus`).
        cpu: u16,
        /// The memcg charged for the slots (`memory.swap.current`).
        memcg: MemcgId,
        /// The folio the slots are allocated for (`folio_alloc_swap`).
        folio: FolioId,
        /// The folio's order: `1 << order` slots (at most `max_order`).
        order: u8,
    },
    /// `SwapSystem::dup`.
    Dup(SlotRef),
    /// `SwapSystem::put`.
    Put(SlotRef),
    /// `SwapSystem::release`.
    Release(SlotRef),
    /// `SwapSystem::swap_cache_add`.
    CacheAdd {
        /// The slot operand.
        slot: SlotRef,
        /// The folio that enters the swap cache (`swap_cache_add_folio`).
        folio: FolioId,
    },
    /// `SwapSystem::swap_cache_del`.
    CacheDel {
        /// The slot operand.
        slot: SlotRef,
        /// The workingset shadow left in the slot (docs/kernel.md §3.4).
        shadow: Shadow,
    },
    /// `SwapSystem::state`.
    State(SlotRef),
    /// `SwapSystem::drain_cpu_caches`.
    DrainCpuCaches,
    /// `SwapSystem::set_tick`.
    SetTick(Tick),
    /// `SwapSystem::alloc` for a memcg named by [`MemcgRef`].
    AllocIn {
        /// The CPU whose per-CPU cluster cache serves the call (taken modulo `Config::cpus`).
        cpu: u16,
        /// The memcg charged for the slots, by operand.
        memcg: MemcgRef,
        /// The folio the slots are allocated for (`folio_alloc_swap`).
        folio: FolioId,
        /// The folio's order: `1 << order` slots (at most `max_order`).
        order: u8,
    },
    /// `SwapSystem::writeout` of the folio covering `slot`. For a bytes kind the buffer
    /// holds `PAGE_SIZE << order` bytes, so `order` should be the folio's (anything else
    /// is `BadPage`; an order above `max_order` passes an empty buffer). A synthetic kind
    /// ignores `order`.
    Writeout {
        /// The slot operand.
        slot: SlotRef,
        /// The contents of every page of the folio.
        page: PageKind,
        /// The order of the folio whose bytes are passed.
        order: u8,
    },
    /// `SwapSystem::evict`.
    Evict {
        /// The slot operand.
        slot: SlotRef,
        /// The workingset shadow left in the slot (docs/kernel.md §3.4).
        shadow: Shadow,
    },
    /// `SwapSystem::fault`; with a buffer, it is filled with [`FAULT_FILL`] first and the
    /// outcome carries its checksum afterwards.
    Fault {
        /// The CPU whose per-CPU cluster cache serves the call (taken modulo `Config::cpus`).
        cpu: u16,
        /// The slot operand.
        slot: SlotRef,
        /// The folio the swapin allocates (`__swap_cache_alloc`).
        folio: FolioId,
        /// Whether a `PAGE_SIZE` buffer receives the page's bytes.
        with_buffer: bool,
    },
    /// `SwapSystem::writeback`.
    Writeback {
        /// The slot operand.
        slot: SlotRef,
    },
    /// `SwapSystem::swapon` of a memory or null device.
    Swapon {
        /// A memory or a null device.
        kind: DeviceKind,
        /// The device's size in pages.
        pages: u16,
        /// The device's swap priority (`swapon -p`).
        priority: i8,
    },
    /// `SwapSystem::swapoff` of the device with this raw number.
    Swapoff {
        /// The raw [`DeviceId`].
        device: u8,
    },
    /// `SwapSystem::swapoff_with` of the device with this raw number. Its sink gives the
    /// pages it is handed the folios `folio`, `folio + 1`, …: `frames` of them at most,
    /// none past `FolioId::MAX`; it refuses the page after them (`Error::NoMemory`).
    SwapoffWith {
        /// The raw [`DeviceId`].
        device: u8,
        /// The frames the sink has.
        frames: u16,
        /// The first folio it gives.
        folio: FolioId,
    },
    /// `SwapSystem::memcg_create`.
    MemcgCreate {
        /// The new memcg's parent.
        parent: MemcgRef,
    },
    /// `SwapSystem::memcg_set`.
    MemcgSet {
        /// The memcg operand.
        memcg: MemcgRef,
        /// The cgroup file written and its value.
        knob: Knob,
    },
    /// `SwapSystem::memcg_offline`.
    MemcgOffline {
        /// The memcg operand.
        memcg: MemcgRef,
    },
    /// `SwapSystem::shrink_memcg`: the shrinker's scan of at most `nr` LRU entries.
    ShrinkMemcg {
        /// The memcg operand.
        memcg: MemcgRef,
        /// The scan budget (`sc->nr_to_scan`).
        nr: u64,
    },
    /// `SwapSystem::run_shrink_worker`.
    RunShrinkWorker,
    /// `SwapSystem::proactive_writeback_aged` (`min_age` 0 is `proactive_writeback`).
    ProactiveWriteback {
        /// The memcg operand.
        memcg: MemcgRef,
        /// The compressed bytes to write back at most.
        bytes: u64,
        /// Only entries stored at least this many ticks ago are written back.
        min_age: Tick,
    },
    /// `SwapSystem::shrinker_count`.
    ShrinkerCount {
        /// The memcg operand.
        memcg: MemcgRef,
    },
    /// `SwapSystem::swap_tiers_write` of the commands present, in order (all three absent:
    /// an empty write).
    SwapTiers {
        /// Up to three commands, written in order.
        cmds: [Option<TierCmd>; 3],
    },
    /// `SwapSystem::recompress`.
    Recompress {
        /// The memcg operand.
        memcg: MemcgRef,
        /// Which entries move to which compression priority.
        spec: RecompressSpec,
    },
}

/// What a successful [`Op`] returned.
#[derive(Debug, Clone, PartialEq, Eq)]
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
    /// `writeout`.
    Writeout(Writeout),
    /// `fault`, with the [`checksum`] of the buffer afterwards when one was passed.
    Fault {
        /// Where the page came from.
        fault: Fault,
        /// The buffer's checksum after the call, when a buffer was passed.
        checksum: Option<u64>,
    },
    /// `swapon`.
    Device(DeviceId),
    /// `memcg_create`.
    Memcg(MemcgId),
    /// `swapoff`: the report's page counts.
    Swapoff {
        /// [`SwapoffReport::pages_moved`](crate::SwapoffReport::pages_moved).
        pages_moved: u64,
        /// [`SwapoffReport::cache_only`](crate::SwapoffReport::cache_only).
        cache_only: u64,
    },
    /// `swapoff_with`: the report's page counts and the bytes the sink was handed.
    SwapoffWith {
        /// [`SwapoffReport::pages_moved`](crate::SwapoffReport::pages_moved).
        pages_moved: u64,
        /// [`SwapoffReport::cache_only`](crate::SwapoffReport::cache_only).
        cache_only: u64,
        /// [`SwapoffReport::swapped_in`](crate::SwapoffReport::swapped_in).
        swapped_in: u64,
        /// [`SwapoffReport::cache_unbacked`](crate::SwapoffReport::cache_unbacked).
        cache_unbacked: u64,
        /// The [`checksum`]s of the pages the sink took, summed (wrapping); a page
        /// without bytes (a null device) adds 0.
        checksum: u64,
    },
    /// `shrink_memcg`.
    Shrink(ShrinkOutcome),
    /// `run_shrink_worker`.
    Worker(ShrinkReport),
    /// `proactive_writeback`: the compressed bytes written back.
    WrittenBack(u64),
    /// `shrinker_count`: the objects the shrinker reports freeable.
    Freeable(u64),
    /// `recompress`.
    Recompressed(RecompressReport),
}

/// What [`SlotRef`] and [`MemcgRef`] operands resolve against.
#[derive(Debug, Clone, Copy)]
pub struct Operands<'a> {
    /// The slots the driver allocated so far.
    pub slots: &'a [VSlot],
    /// The memcgs the driver knows, the root first.
    pub memcgs: &'a [MemcgId],
}

impl Op {
    /// Run the operation on `sys`; `live` resolves [`SlotRef::Live`] operands and
    /// [`MemcgRef::Live`] always names the root.
    pub fn apply(&self, sys: &SwapSystem, live: &[VSlot]) -> Result<Outcome, Error> {
        self.apply_in(sys, &Operands { slots: live, memcgs: &[MemcgId::ROOT] })
    }

    /// Run the operation on `sys`, resolving operands against `ops`.
    pub fn apply_in(&self, sys: &SwapSystem, ops: &Operands<'_>) -> Result<Outcome, Error> {
        let live = ops.slots;
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
            Op::AllocIn { cpu, memcg, folio, order } => {
                sys.alloc(usize::from(cpu), memcg.resolve(ops.memcgs), folio, u32::from(order)).map(Outcome::Slot)
            }
            Op::Writeout { slot, page, order } => {
                let slot = slot.resolve(live);
                let w = match page {
                    PageKind::Synthetic { compressed_len, zero } => {
                        sys.writeout(slot, Page::Synthetic { compressed_len: u32::from(compressed_len), zero })
                    }
                    _ => {
                        let buf = folio_bytes(page, u32::from(order), sys.max_order());
                        sys.writeout(slot, Page::Bytes(&buf))
                    }
                };
                w.map(Outcome::Writeout)
            }
            Op::Evict { slot, shadow } => sys.evict(slot.resolve(live), shadow).map(|()| Outcome::Done),
            Op::Fault { cpu, slot, folio, with_buffer } => {
                let mut buf = if with_buffer { vec![FAULT_FILL; PAGE_SIZE] } else { Vec::new() };
                let out = if with_buffer { Some(&mut buf[..]) } else { None };
                let fault = sys.fault(usize::from(cpu), slot.resolve(live), folio, out)?;
                Ok(Outcome::Fault { fault, checksum: with_buffer.then(|| checksum(&buf)) })
            }
            Op::Writeback { slot } => sys.writeback(slot.resolve(live)).map(|()| Outcome::Done),
            Op::Swapon { kind, pages, priority } => {
                let name = format!("{kind:?}{priority}");
                let spec = match kind {
                    DeviceKind::Memory => DeviceSpec::memory(name, u64::from(pages)),
                    DeviceKind::Null => DeviceSpec::null(name, u64::from(pages)),
                };
                sys.swapon(spec.priority(i16::from(priority))).map(Outcome::Device)
            }
            Op::Swapoff { device } => sys
                .swapoff(DeviceId(device))
                .map(|r| Outcome::Swapoff { pages_moved: r.pages_moved, cache_only: r.cache_only }),
            Op::SwapoffWith { device, frames, folio } => {
                let (mut taken, mut sum) = (0u64, 0u64);
                let r = {
                    let mut sink = |p: &crate::SwapoffPage<'_>| {
                        let f =
                            folio.0.checked_add(taken).filter(|&f| taken < u64::from(frames) && f <= FolioId::MAX)?;
                        taken += 1;
                        sum = sum.wrapping_add(p.data.map_or(0, checksum));
                        Some(FolioId(f))
                    };
                    sys.swapoff_with(DeviceId(device), &mut sink)?
                };
                Ok(Outcome::SwapoffWith {
                    pages_moved: r.pages_moved,
                    cache_only: r.cache_only,
                    swapped_in: r.swapped_in,
                    cache_unbacked: r.cache_unbacked,
                    checksum: sum,
                })
            }
            Op::MemcgCreate { parent } => sys.memcg_create(parent.resolve(ops.memcgs)).map(Outcome::Memcg),
            Op::MemcgSet { memcg, knob } => sys.memcg_set(memcg.resolve(ops.memcgs), knob).map(|()| Outcome::Done),
            Op::MemcgOffline { memcg } => sys.memcg_offline(memcg.resolve(ops.memcgs)).map(|()| Outcome::Done),
            Op::ShrinkMemcg { memcg, nr } => sys.shrink_memcg(memcg.resolve(ops.memcgs), nr).map(Outcome::Shrink),
            Op::RunShrinkWorker => Ok(Outcome::Worker(sys.run_shrink_worker())),
            Op::ProactiveWriteback { memcg, bytes, min_age } => {
                sys.proactive_writeback_aged(memcg.resolve(ops.memcgs), bytes, min_age).map(Outcome::WrittenBack)
            }
            Op::ShrinkerCount { memcg } => Ok(Outcome::Freeable(sys.shrinker_count(memcg.resolve(ops.memcgs)))),
            Op::SwapTiers { cmds } => {
                let batch: Vec<SwapTierOp> = cmds.iter().flatten().map(|c| c.op()).collect();
                sys.swap_tiers_write(&batch).map(|()| Outcome::Done)
            }
            Op::Recompress { memcg, spec } => {
                sys.recompress(memcg.resolve(ops.memcgs), spec).map(Outcome::Recompressed)
            }
        }
    }
}

/// The bytes of a folio of `1 << order` pages of `kind`; empty above `max_order`.
fn folio_bytes(kind: PageKind, order: u32, max_order: u32) -> Vec<u8> {
    if order > max_order {
        return Vec::new();
    }
    let mut buf = vec![0; PAGE_SIZE << order];
    for (i, page) in buf.chunks_mut(PAGE_SIZE).enumerate() {
        kind.fill(i as u64, page);
    }
    buf
}
