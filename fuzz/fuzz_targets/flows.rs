//! The flows under arbitrary configurations, memcg trees, limits, devices and payloads,
//! differential against the reference model (`vswap::model::Harness`): writeout (zero,
//! zswap with real lz4 or synthetic sizes, on up to four compression priorities picked per
//! memcg by `Knob::ZswapCompressionPriority`, devices by priority within the swap tiers the memcg
//! may use), eviction, faults that must return the bytes last written out, zswap
//! writeback, swapon/swapoff of memory and null devices (and `swapoff_with` into a few
//! frames), swap tier batches (`Op::SwapTiers`, up to `nr_swap_tiers` from the setup) and
//! `Knob::SwapTierMax`,
//! the writeback tier and size knobs, recompression of idle entries with any registered
//! (or unregistered) tier, memcg creation, limits and offlining, and zswap reclaim (the shrinker's scan
//! and count, the global worker, proactive writeback, the clock) under every LRU policy,
//! worker start, legacy worker and writeback pause. After every step the harness checks
//! every slot's state and backing, each memcg's `swap_current` / `zswap_current` and
//! events, per-compression-tier entries and bytes and per-swap-tier pages, its zswap LRU order and walk cursor,
//! its own and usable swap tiers, the global zswap counters, the worker's queue flag, the
//! swap tier listing and each device's use and tier; a divergence is a crash.
#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use vswap::model::Harness;
use vswap::op::{DeviceKind, MemcgRef, Op, PageKind, SlotRef, TierCmd};
use vswap::{
    CompressionMode, CompressionPriority, Config, FolioId, Knob, Limit, LruPolicy, RecompressSpec, Shadow, ShrinkStart,
};

/// The machine: small enough that the pool, the devices and the limits fill.
#[derive(Debug, Arbitrary)]
struct Setup {
    shift: u8,
    cpus: u8,
    ram_pages: u8,
    max_pool_percent: u8,
    accept_threshold_percent: u8,
    zswap_off: bool,
    synthetic: bool,
    /// Reclaim knobs, a bit each: protection LRU, proactive start, legacy worker,
    /// shrinker enabled; bits 4–5 the writeback pause; bit 6 `reject_incompressible`,
    /// bit 7 a `store_shrink_batch` of 32.
    reclaim: u8,
    /// Compression priorities beyond lz4 at 1: bit 0 deflate at 2, bit 1 deflate at 3, bit 2
    /// lz4 at 4; bits 3–6 the deflate levels and synthetic ratios.
    tiers: u8,
    /// `Config::nr_swap_tiers`: 1..=5, mostly 4 (bits 0–2); bits 3–4 the worker's
    /// `worker_shrink_batch` (1, 1, 32, 64).
    swap_tiers: u8,
}

impl Setup {
    fn config(&self) -> Config {
        let mut cfg = Config {
            cluster_shift: 2 + u32::from(self.shift % 3),
            cpus: 1 + usize::from(self.cpus % 3),
            ram_pages: u64::from(self.ram_pages),
            ..Config::default()
        };
        cfg.zswap.max_pool_percent = u32::from(self.max_pool_percent % 101);
        cfg.zswap.accept_threshold_percent = u32::from(self.accept_threshold_percent % 101);
        // Mostly on: zswap off and the synthetic compressor each take one value in 8.
        cfg.zswap.enabled = !(self.zswap_off && self.cpus & 0x38 == 0);
        if self.synthetic && self.shift & 0x38 == 0 {
            cfg.zswap.compressor = CompressionMode::Synthetic;
        }
        let r = self.reclaim;
        if r & 1 != 0 {
            cfg.zswap.lru = LruPolicy::Protection;
        }
        if r & 2 != 0 {
            cfg.zswap.shrink_start = ShrinkStart::Proactive;
        }
        cfg.zswap.legacy_worker = r & 4 != 0;
        cfg.zswap.shrinker_enabled = r & 8 != 0;
        cfg.zswap.writeback_pause = match (r >> 4) & 3 {
            0 | 1 => None,
            2 => Some(3),
            _ => Some(30),
        };
        // The kernel switches: 6.12's rejection of incompressible pages, 7.3's batch.
        cfg.zswap.reject_incompressible = r & 64 != 0;
        cfg.zswap.store_shrink_batch = if r & 128 != 0 { 32 } else { 1 };
        cfg.zswap.worker_shrink_batch = [1, 1, 32, 64][usize::from((self.swap_tiers >> 3) & 3)];
        let t = self.tiers;
        let level = 1 + (t >> 3) % 10;
        let permille = 1000 - u16::from((t >> 3) % 16) * 60;
        let extra = [
            (t & 1 != 0).then(|| CompressionPriority::deflate(2, level).with_synthetic_permille(permille)),
            (t & 2 != 0)
                .then(|| CompressionPriority::deflate(3, 10 - level % 10).with_synthetic_permille(permille / 2)),
            (t & 4 != 0).then(|| CompressionPriority::lz4(4).with_synthetic_permille(permille / 3)),
        ];
        cfg.zswap.compression_priorities.extend(extra.into_iter().flatten());
        cfg.nr_swap_tiers = match self.swap_tiers % 8 {
            n @ 1..=3 => n,
            5 => 5,
            _ => 4,
        };
        cfg
    }
}

/// A limit of a few pages, `max`, or any byte count.
#[derive(Debug, Arbitrary)]
enum Lim {
    Pages(u8),
    Max,
    Bytes(u32),
}

impl Lim {
    fn limit(self) -> Limit {
        match self {
            Lim::Pages(p) => Limit::Bytes(u64::from(p % 24) * 4096),
            Lim::Max => Limit::Max,
            Lim::Bytes(b) => Limit::Bytes(u64::from(b)),
        }
    }
}

/// A folio's contents; zero pages come last, so zero-filled input bytes do not make
/// every page a zero page.
#[derive(Debug, Arbitrary)]
enum Payload {
    Compressible(u8),
    Incompressible(u32),
    Synthetic(u16),
    Repeated(u8),
    Zero,
}

impl Payload {
    /// The page kind; with the synthetic compressor, a synthetic page of a similar size.
    fn kind(self, synthetic: bool) -> PageKind {
        let zero = matches!(self, Payload::Zero | Payload::Repeated(0));
        match self {
            Payload::Compressible(s) if !synthetic => PageKind::Compressible(s),
            Payload::Incompressible(s) if !synthetic => PageKind::Incompressible(s),
            Payload::Repeated(b) if !synthetic => PageKind::Repeated(b),
            Payload::Zero if !synthetic => PageKind::Zero,
            Payload::Compressible(s) => PageKind::Synthetic { compressed_len: 32 + u16::from(s) * 12, zero },
            Payload::Incompressible(s) => PageKind::Synthetic { compressed_len: 4090 + (s % 16) as u16, zero },
            Payload::Synthetic(len) => PageKind::Synthetic { compressed_len: len % 5000, zero: len == u16::MAX },
            Payload::Repeated(_) | Payload::Zero => PageKind::Synthetic { compressed_len: 30, zero },
        }
    }
}

/// A slot: one of the last few allocated (where the action is), or any live one.
#[derive(Debug, Arbitrary)]
enum Sel {
    Recent(u8),
    Any(u16),
}

impl Sel {
    fn slot(self, h: &Harness) -> SlotRef {
        match self {
            Sel::Recent(k) if !h.live.is_empty() => {
                let back = usize::from(k) % h.live.len().min(8);
                SlotRef::Raw(h.live[h.live.len() - 1 - back].raw())
            }
            Sel::Recent(k) => SlotRef::Live(u16::from(k)),
            Sel::Any(n) => SlotRef::Live(n),
        }
    }
}

#[derive(Debug, Arbitrary)]
enum Step {
    /// Allocate, map (dup) and write out in one go: the common reclaim path.
    Reclaim {
        memcg: u8,
        folio: u16,
        order: u8,
        page: Payload,
        evict: bool,
    },
    Alloc {
        cpu: u8,
        memcg: u8,
        folio: u16,
        order: u8,
    },
    Dup(Sel),
    Put(Sel),
    Release(Sel),
    Writeout(Sel, Payload),
    Evict(Sel, u64),
    Fault {
        cpu: u8,
        slot: Sel,
        folio: u16,
        buffer: bool,
    },
    CacheAdd(Sel, u16),
    Writeback(Sel),
    Swapon {
        null: bool,
        pages: u8,
        priority: i8,
    },
    Swapoff(u8),
    MemcgCreate(u8),
    SwapMax(u8, Lim),
    SwapHigh(u8, Lim),
    ZswapMax(u8, Lim),
    ZswapWriteback(u8, bool),
    /// `Knob::ZswapCompressionPriority`: 0 unsets, 1..=4 may or may not be registered, 5 never is.
    ZswapCompressionPriority(u8, u8),
    /// A swap tier batch, starts brought near the devices' priorities (-2..=2).
    SwapTiers([Option<Tier>; 3]),
    /// `Knob::SwapTierMax` on a memcg: index `tier % 6` (0..=4 may name a tier, 5 names
    /// none unless `nr_swap_tiers` is 5 and all exist).
    SwapTierMax(u8, u8, bool),
    /// `Knob::ZswapWritebackTier`: index `tier % 6` (5 names none), or unset.
    WritebackTier(u8, Option<u8>),
    /// `Knob::ZswapWritebackSize`: 0 is refused.
    WritebackSize(u8, Lim),
    /// `recompress` of a memcg's subtree: priority `% 6` (0 and 5 never registered), a
    /// budget of `max_pages % 9` (0 is refused), entries at least `min_age % 8` ticks old.
    Recompress {
        memcg: u8,
        min_age: u8,
        threshold: u16,
        max_pages: u8,
        priority: u8,
    },
    MemcgOffline(u8),
    Drain,
    Raw(Op),
    /// Move the clock on by a few ticks.
    Tick(u8),
    /// `shrink_memcg` of a few entries (0 is refused).
    Shrink(u8, u8),
    Worker,
    /// Proactive writeback of `eighths` eighths of a page, of entries `age` ticks old.
    Proactive {
        memcg: u8,
        eighths: u8,
        age: u8,
    },
    Count(u8),
}

/// A tier command as the fuzzer draws it: a start near the devices' priorities (`start
/// % 5 - 2`, so -2 below the lowest valid start too), or any start when `wide`.
#[derive(Debug, Arbitrary)]
enum Tier {
    Add { name: u8, start: i16, wide: bool },
    Remove { name: u8 },
}

impl Tier {
    fn cmd(self) -> TierCmd {
        match self {
            Tier::Add { name, start, wide: true } => TierCmd::Add { name, start },
            Tier::Add { name, start, wide: false } => TierCmd::Add { name, start: start.rem_euclid(5) - 2 },
            Tier::Remove { name } => TierCmd::Remove { name },
        }
    }
}

fn step(h: &mut Harness, op: Op, n: usize) -> Option<vswap::op::Outcome> {
    match h.step(&op) {
        Ok(r) => r.ok(),
        // `n` counts this input's steps, `d.step` the harness's (a step may be several).
        Err(d) => panic!("step {n} (harness step {}, {:?}): {d}", d.step, d.observation),
    }
}

fn writeout(h: &Harness, slot: SlotRef, page: PageKind) -> Op {
    Op::Writeout { slot, page, order: h.folio_order(slot).unwrap_or(0) }
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let Ok(setup) = Setup::arbitrary(&mut u) else { return };
    let cfg = setup.config();
    let synthetic = cfg.zswap.compressor == CompressionMode::Synthetic;
    let (cpus, shift) = (cfg.cpus as u16, cfg.cluster_shift as u8);
    let mut h = Harness::new(cfg).expect("valid config");
    let mut n = 0;
    while !u.is_empty() && n < 1500 {
        let Ok(s) = Step::arbitrary(&mut u) else { break };
        let op = match s {
            Step::Reclaim { memcg, folio, order, page, evict } => {
                let alloc = Op::AllocIn {
                    cpu: 0,
                    memcg: MemcgRef::Live(memcg),
                    folio: FolioId(u64::from(folio) << shift),
                    order: order % (shift + 1),
                };
                let Some(vswap::op::Outcome::Slot(head)) = step(&mut h, alloc, n) else { continue };
                let slot = SlotRef::Raw(head.raw());
                step(&mut h, Op::Dup(slot), n);
                let op = writeout(&h, slot, page.kind(synthetic));
                let out = step(&mut h, op, n);
                if !evict || matches!(out, Some(vswap::op::Outcome::Writeout(vswap::Writeout::Kept(_)))) {
                    n += 1;
                    continue;
                }
                Op::Evict { slot, shadow: Shadow(u64::from(folio)) }
            }
            Step::Alloc { cpu, memcg, folio, order } => Op::AllocIn {
                cpu: u16::from(cpu) % (cpus + 1),
                memcg: MemcgRef::Live(memcg),
                folio: FolioId(u64::from(folio) << shift),
                order: order % (shift + 1),
            },
            Step::Dup(i) => Op::Dup(i.slot(&h)),
            Step::Put(i) => Op::Put(i.slot(&h)),
            Step::Release(i) => Op::Release(i.slot(&h)),
            Step::Writeout(i, page) => writeout(&h, i.slot(&h), page.kind(synthetic)),
            Step::Evict(i, s) => Op::Evict { slot: i.slot(&h), shadow: Shadow(s) },
            Step::Fault { cpu, slot, folio, buffer } => Op::Fault {
                cpu: u16::from(cpu) % (cpus + 1),
                slot: slot.slot(&h),
                folio: FolioId(u64::from(folio)),
                with_buffer: buffer,
            },
            Step::CacheAdd(i, f) => Op::CacheAdd { slot: i.slot(&h), folio: FolioId(u64::from(f)) },
            Step::Writeback(i) => Op::Writeback { slot: i.slot(&h) },
            Step::Swapon { null, pages, priority } => Op::Swapon {
                kind: if null { DeviceKind::Null } else { DeviceKind::Memory },
                pages: u16::from(pages % 64),
                priority: priority % 3,
            },
            // The high bit: `swapoff_with`, with a sink of `d >> 4 & 7` frames (7: plenty).
            Step::Swapoff(d) if d & 0x80 != 0 => {
                let frames = match (d >> 4) & 7 {
                    7 => u16::MAX,
                    n => u16::from(n),
                };
                Op::SwapoffWith { device: d % 6, frames, folio: FolioId(1 << 32) }
            }
            Step::Swapoff(d) => Op::Swapoff { device: d % 6 },
            Step::MemcgCreate(p) => Op::MemcgCreate { parent: MemcgRef::Live(p) },
            Step::SwapMax(m, l) => Op::MemcgSet { memcg: MemcgRef::Live(m), knob: Knob::SwapMax(l.limit()) },
            Step::SwapHigh(m, l) => Op::MemcgSet { memcg: MemcgRef::Live(m), knob: Knob::SwapHigh(l.limit()) },
            Step::ZswapMax(m, l) => Op::MemcgSet { memcg: MemcgRef::Live(m), knob: Knob::ZswapMax(l.limit()) },
            Step::ZswapWriteback(m, on) => Op::MemcgSet { memcg: MemcgRef::Live(m), knob: Knob::ZswapWriteback(on) },
            Step::ZswapCompressionPriority(m, p) => Op::MemcgSet {
                memcg: MemcgRef::Live(m),
                knob: Knob::ZswapCompressionPriority(Some(p % 6).filter(|&p| p != 0)),
            },
            Step::SwapTiers(cmds) => Op::SwapTiers { cmds: cmds.map(|c| c.map(Tier::cmd)) },
            Step::SwapTierMax(m, tier, enabled) => {
                Op::MemcgSet { memcg: MemcgRef::Live(m), knob: Knob::SwapTierMax { tier: tier % 6, enabled } }
            }
            Step::WritebackTier(m, tier) => {
                Op::MemcgSet { memcg: MemcgRef::Live(m), knob: Knob::ZswapWritebackTier(tier.map(|t| t % 6)) }
            }
            Step::WritebackSize(m, l) => {
                Op::MemcgSet { memcg: MemcgRef::Live(m), knob: Knob::ZswapWritebackSize(l.limit()) }
            }
            Step::Recompress { memcg, min_age, threshold, max_pages, priority } => Op::Recompress {
                memcg: MemcgRef::Live(memcg),
                spec: RecompressSpec {
                    min_age: u64::from(min_age % 8),
                    threshold: u32::from(threshold),
                    max_pages: u64::from(max_pages % 9),
                    priority: priority % 6,
                },
            },
            Step::MemcgOffline(m) => Op::MemcgOffline { memcg: MemcgRef::Live(m) },
            Step::Drain => Op::DrainCpuCaches,
            Step::Raw(op) => op,
            Step::Tick(dt) => Op::SetTick(h.sys.tick().saturating_add(u64::from(dt % 32))),
            Step::Shrink(m, nr) => Op::ShrinkMemcg { memcg: MemcgRef::Live(m), nr: u64::from(nr % 80) },
            Step::Worker => Op::RunShrinkWorker,
            Step::Proactive { memcg, eighths, age } => Op::ProactiveWriteback {
                memcg: MemcgRef::Live(memcg),
                bytes: u64::from(eighths) * 512,
                min_age: u64::from(age % 16),
            },
            Step::Count(m) => Op::ShrinkerCount { memcg: MemcgRef::Live(m) },
        };
        step(&mut h, op, n);
        n += 1;
    }
});
