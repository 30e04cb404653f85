//! The model-based test: random operation sequences run on a real `SwapSystem` and on the
//! reference model (`vswap::model`), compared after every step — results, errors, every
//! slot's state, count, cached folio and memcg, and the number of slots in use. Invalid
//! operations are part of the mix: they must return the model's error and change nothing.
//! The flows (writeout, evict, fault, writeback, swapon/swapoff of memory and null
//! devices, `swapoff_with` bringing pages into a sink's few frames, memcg creation, limits
//! and offlining) run the same way, with the model also
//! checking every slot's backing, every memcg's swap and zswap usage and events, the
//! global counters, each device's use and the bytes every fault returns. The reclaim
//! layer runs among them (the shrinker's scan and count, the global worker, proactive
//! writeback, the clock moving on) under every LRU policy, worker start and pause, with
//! each online memcg's LRU order and walk cursor compared after every step.
//! Compression priorities (`Knob::ZswapCompressionPriority`, several registered) are among the knobs,
//! with per-tier entries and bytes compared. Swap tiers too: batches of tier commands
//! (`Op::SwapTiers`, valid and invalid names and starts) and `Knob::SwapTierMax`, with
//! some runs configuring tiers before the first devices are swapped on and some after,
//! the devices' priorities in different tiers; the tier listing, every memcg's own and
//! usable tiers and every device's tier are compared after each step. Recompression
//! (`Op::Recompress`) runs among the reclaim operations, with its report, the entries'
//! new sizes and tiers and the recompression counters compared.
//! Runs under Miri with few cases, the full state compared every 4th step (and at the
//! end), and no failure persistence. `PROPTEST_CASES` sets the
//! case count of every property here (e.g. `PROPTEST_CASES=5000` to look harder).

use proptest::prelude::*;
use proptest::test_runner::{RngAlgorithm, RngSeed};
use vswap::model::{Divergence, Harness, Observation};
use vswap::op::{DeviceKind, MemcgRef, Op, PageKind, SlotRef, TierCmd};
use vswap::{
    CompressionMode, CompressionPriority, Config, FolioId, Knob, Limit, LruPolicy, MemcgId, RecompressSpec, Shadow,
    ShrinkStart, Tick, VSlot, ZswapConfig,
};

const SHIFT: u32 = 3;

/// `default` cases, or as many as `PROPTEST_CASES` says.
fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// `VSWAP_MODEL_SEED=n` fixes the generator's seed, to replay a failure found by looping
/// over seeds; random otherwise.
fn config() -> ProptestConfig {
    let cases = cases(if cfg!(miri) { 3 } else { 256 });
    let seed = std::env::var("VSWAP_MODEL_SEED").ok().and_then(|s| s.parse().ok());
    // XorShift: ChaCha, proptest's default, was a third of the run (and more under Miri).
    ProptestConfig {
        cases,
        failure_persistence: None,
        rng_algorithm: RngAlgorithm::XorShift,
        rng_seed: seed.map_or(RngSeed::Random, RngSeed::Fixed),
        ..ProptestConfig::default()
    }
}

fn slot_ref() -> impl Strategy<Value = SlotRef> {
    prop_oneof![
        8 => any::<u16>().prop_map(SlotRef::Live),
        1 => prop_oneof![Just(0u64), Just(1), 0..64u64, any::<u64>()].prop_map(SlotRef::Raw),
    ]
}

fn folio() -> impl Strategy<Value = FolioId> {
    prop_oneof![
        15 => (0u64..1 << 20).prop_map(|p| FolioId(p << SHIFT)),
        1 => any::<u64>().prop_map(FolioId),
    ]
}

/// `swapoff_with` of `device` with a sink of a few frames (sometimes none, sometimes
/// plenty), numbered far from the flows' folios or up to `FolioId::MAX`.
fn swapoff_with(device: impl Strategy<Value = u8>) -> impl Strategy<Value = Op> {
    let frames = prop_oneof![2 => 0u16..4, 2 => 4u16..32, 1 => Just(u16::MAX)];
    let folio = prop_oneof![4 => Just(FolioId(1 << 32)), 1 => (0u64..4).prop_map(|i| FolioId(FolioId::MAX - i))];
    (device, frames, folio).prop_map(|(device, frames, folio)| Op::SwapoffWith { device, frames, folio })
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0u16..3, prop_oneof![9 => Just(MemcgId::ROOT), 1 => any::<u16>().prop_map(MemcgId::from_raw)], folio(),
              prop_oneof![6 => Just(0u8), 2 => 1u8..=SHIFT as u8, 1 => any::<u8>()])
            .prop_map(|(cpu, memcg, folio, order)| Op::Alloc { cpu, memcg, folio, order }),
        6 => slot_ref().prop_map(Op::Dup),
        5 => slot_ref().prop_map(Op::Put),
        3 => slot_ref().prop_map(Op::Release),
        3 => (slot_ref(), folio()).prop_map(|(slot, folio)| Op::CacheAdd { slot, folio }),
        4 => (slot_ref(), any::<u64>()).prop_map(|(slot, s)| Op::CacheDel { slot, shadow: Shadow(s) }),
        2 => slot_ref().prop_map(Op::State),
        1 => Just(Op::DrainCpuCaches),
        1 => (0u64..1000).prop_map(Op::SetTick),
        1 => reclaim_op(),
        1 => swap_tiers_op(),
    ]
}

/// A tier command: mostly the valid names `lo`, `hi`, `mid` and `ssd_1` and starts around
/// the devices' priorities (-2..4), sometimes an invalid or 15/16-character name or any
/// start.
fn tier_cmd() -> impl Strategy<Value = TierCmd> {
    let name = || prop_oneof![10 => 0u8..4, 2 => 4u8..8, 1 => any::<u8>()];
    let start = prop_oneof![3 => Just(-1i16), 8 => -2i16..5, 1 => any::<i16>()];
    prop_oneof![
        3 => (name(), start).prop_map(|(name, start)| TierCmd::Add { name, start }),
        2 => name().prop_map(|name| TierCmd::Remove { name }),
    ]
}

/// A batch of up to three tier commands.
fn swap_tiers_op() -> impl Strategy<Value = Op> {
    prop::array::uniform3(prop::option::weighted(0.6, tier_cmd())).prop_map(|cmds| Op::SwapTiers { cmds })
}

/// `Knob::SwapTierMax`: mostly an index of the first four (those a default config's tiers
/// take), sometimes any.
fn swap_tier_max() -> impl Strategy<Value = Knob> {
    (prop_oneof![10 => 0u8..4, 1 => 4u8..32, 1 => any::<u8>()], prop::bool::weighted(0.4))
        .prop_map(|(tier, enabled)| Knob::SwapTierMax { tier, enabled })
}

/// A harness for the properties: under Miri, where the full comparison after a step costs
/// more than the step, the state is compared after every 4th step and at the end (each
/// step's result still after each); natively after every step.
fn harness(cfg: Config) -> Harness {
    let mut h = Harness::new(cfg).unwrap();
    h.check_every(if cfg!(miri) { 4 } else { 1 });
    h
}

/// A divergence as a proptest failure: the step it happened at, then its report.
fn fail(d: Divergence) -> TestCaseError {
    TestCaseError::fail(format!("step {}: {d}", d.step))
}

fn run(shift: u32, ops: &[Op]) -> Result<(), TestCaseError> {
    let cfg = Config { cluster_shift: shift, cpus: 2, ..Config::default() };
    let mut h = harness(cfg);
    for op in ops {
        let _result = h.step(op).map_err(fail)?;
    }
    h.check().map_err(|d| TestCaseError::fail(format!("at the end: {d}")))
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn the_table_matches_the_model(ops in prop::collection::vec(op(), 1..if cfg!(miri) { 24 } else { 300 })) {
        run(SHIFT, &ops)?;
    }

    #[test]
    fn the_table_matches_the_model_with_tiny_clusters(ops in prop::collection::vec(op(), 1..if cfg!(miri) { 20 } else { 200 })) {
        run(2, &ops)?;
    }
}

/// `Op::Writeout`'s `order` meaning "the folio's own" in generated sequences; `run_flows`
/// replaces it with the order of the folio the slot names (0 when none).
const FIT: u8 = u8::MAX;

fn memcg_ref() -> impl Strategy<Value = MemcgRef> {
    prop_oneof![
        12 => any::<u8>().prop_map(MemcgRef::Live),
        2 => Just(MemcgRef::Live(0)),
        1 => prop_oneof![Just(0u16), 1u16..40, any::<u16>()].prop_map(MemcgRef::Raw),
    ]
}

fn limit() -> impl Strategy<Value = Limit> {
    prop_oneof![
        2 => Just(Limit::Max),
        4 => (0u64..12).prop_map(|p| Limit::Bytes(p * 4096)),
        1 => (0u64..1 << 16).prop_map(Limit::Bytes),
    ]
}

fn knob() -> impl Strategy<Value = Knob> {
    prop_oneof![
        3 => limit().prop_map(Knob::SwapMax),
        2 => limit().prop_map(Knob::SwapHigh),
        3 => limit().prop_map(Knob::ZswapMax),
        3 => prop::bool::weighted(0.7).prop_map(Knob::ZswapWriteback),
        3 => prop_oneof![2 => Just(None), 6 => (1u8..=3).prop_map(Some), 1 => any::<u8>().prop_map(Some)]
            .prop_map(Knob::ZswapCompressionPriority),
        2 => swap_tier_max(),
        1 => prop_oneof![1 => Just(None), 4 => (0u8..4).prop_map(Some), 1 => any::<u8>().prop_map(Some)]
            .prop_map(Knob::ZswapWritebackTier),
        1 => prop_oneof![1 => Just(Limit::Max), 1 => Just(Limit::Bytes(0)), 3 => (1u64..1 << 14).prop_map(Limit::Bytes)]
            .prop_map(Knob::ZswapWritebackSize),
    ]
}

fn page_kind() -> impl Strategy<Value = PageKind> {
    prop_oneof![
        1 => Just(PageKind::Zero),
        6 => any::<u8>().prop_map(PageKind::Compressible),
        4 => any::<u32>().prop_map(PageKind::Incompressible),
        2 => prop_oneof![Just(0u8), any::<u8>()].prop_map(PageKind::Repeated),
        3 => (prop_oneof![Just(0u16), Just(4096), 1u16..4096, 4097u16..6000], prop::bool::weighted(0.1))
            .prop_map(|(compressed_len, zero)| PageKind::Synthetic { compressed_len, zero }),
    ]
}

fn cpu() -> impl Strategy<Value = u16> {
    prop_oneof![12 => 0u16..2, 1 => 2u16..5]
}

fn reclaim_op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (memcg_ref(), prop_oneof![6 => 1u64..4, 4 => 4u64..40, 1 => Just(0), 1 => any::<u64>()])
            .prop_map(|(memcg, nr)| Op::ShrinkMemcg { memcg, nr }),
        2 => Just(Op::RunShrinkWorker),
        2 => (memcg_ref(), prop_oneof![8 => 1u64..20_000, 1 => Just(0), 1 => any::<u64>()],
              prop_oneof![6 => Just(0u64), 3 => 0u64..8, 1 => any::<u64>()])
            .prop_map(|(memcg, bytes, min_age)| Op::ProactiveWriteback { memcg, bytes, min_age }),
        1 => memcg_ref().prop_map(|memcg| Op::ShrinkerCount { memcg }),
        2 => (0u64..12).prop_map(Op::SetTick),
        3 => (memcg_ref(), recompress_spec()).prop_map(|(memcg, spec)| Op::Recompress { memcg, spec }),
    ]
}

/// Mostly a valid `recompress`: a young age bound, a small budget, a low threshold and a
/// priority the flows' extra compression priorities register (2, 3); sometimes anything.
fn recompress_spec() -> impl Strategy<Value = RecompressSpec> {
    recompress_to(prop_oneof![8 => 2u8..=3, 1 => Just(1), 1 => any::<u8>()])
}

fn recompress_to(priority: impl Strategy<Value = u8>) -> impl Strategy<Value = RecompressSpec> {
    (
        prop_oneof![4 => Just(0u64), 3 => 0u64..8, 1 => any::<u64>()],
        prop_oneof![4 => Just(0u32), 2 => 0u32..4096, 1 => any::<u32>()],
        prop_oneof![6 => 1u64..8, 1 => Just(0), 1 => any::<u64>()],
        priority,
    )
        .prop_map(|(min_age, threshold, max_pages, priority)| RecompressSpec {
            min_age,
            threshold,
            max_pages,
            priority,
        })
}

fn flow_op() -> impl Strategy<Value = Op> {
    let live = || any::<u16>().prop_map(SlotRef::Live);
    prop_oneof![
        6 => reclaim_op(),
        7 => (cpu(), memcg_ref(), folio(), prop_oneof![12 => Just(0u8), 4 => 1u8..=SHIFT as u8, 1 => any::<u8>()])
            .prop_map(|(cpu, memcg, folio, order)| Op::AllocIn { cpu, memcg, folio, order }),
        5 => slot_ref().prop_map(Op::Dup),
        4 => slot_ref().prop_map(Op::Put),
        2 => slot_ref().prop_map(Op::Release),
        2 => (slot_ref(), folio()).prop_map(|(slot, folio)| Op::CacheAdd { slot, folio }),
        1 => (slot_ref(), any::<u64>()).prop_map(|(slot, s)| Op::CacheDel { slot, shadow: Shadow(s) }),
        1 => Just(Op::DrainCpuCaches),
        10 => (slot_ref(), page_kind(), prop_oneof![12 => Just(FIT), 1 => 0u8..=4])
            .prop_map(|(slot, page, order)| Op::Writeout { slot, page, order }),
        7 => (slot_ref(), any::<u64>()).prop_map(|(slot, s)| Op::Evict { slot, shadow: Shadow(s) }),
        6 => (cpu(), slot_ref(), folio(), prop::bool::weighted(0.8))
            .prop_map(|(cpu, slot, folio, with_buffer)| Op::Fault { cpu, slot, folio, with_buffer }),
        3 => live().prop_map(|slot| Op::Writeback { slot }),
        2 => (prop_oneof![3 => Just(DeviceKind::Memory), 1 => Just(DeviceKind::Null)],
              prop_oneof![1 => 0u16..4, 8 => 4u16..48, 1 => 48u16..300], -2i8..4)
            .prop_map(|(kind, pages, priority)| Op::Swapon { kind, pages, priority }),
        1 => prop_oneof![4 => 0u8..4, 1 => any::<u8>()].prop_map(|device| Op::Swapoff { device }),
        1 => swapoff_with(prop_oneof![4 => 0u8..4, 1 => any::<u8>()]),
        2 => memcg_ref().prop_map(|parent| Op::MemcgCreate { parent }),
        3 => (memcg_ref(), knob()).prop_map(|(memcg, knob)| Op::MemcgSet { memcg, knob }),
        1 => memcg_ref().prop_map(|memcg| Op::MemcgOffline { memcg }),
        2 => swap_tiers_op(),
        3 => (memcg_ref(), swap_tier_max()).prop_map(|(memcg, knob)| Op::MemcgSet { memcg, knob }),
    ]
}

/// The reclaim knobs: LRU policy, worker start, legacy worker, writeback pause, shrinker,
/// and the kernel switches `reject_incompressible` (6.12) and `store_shrink_batch` (1 up
/// to 7.2, 32 in 7.3; 4 for a batch the small LRUs here can exceed), and the worker's
/// `worker_shrink_batch` (1 up to 7.2, 32 in 7.3, 64 for the proposals).
type Reclaim = (LruPolicy, ShrinkStart, bool, Option<Tick>, bool, bool, u8, u8);

fn reclaim_knobs() -> impl Strategy<Value = Reclaim> {
    (
        prop_oneof![3 => Just(LruPolicy::SecondChance), 1 => Just(LruPolicy::Protection)],
        prop_oneof![Just(ShrinkStart::PoolFull), Just(ShrinkStart::Proactive)],
        prop::bool::weighted(0.25),
        prop_oneof![2 => Just(None), 1 => (1u64..20).prop_map(Some)],
        prop::bool::weighted(0.7),
        prop::bool::weighted(0.25),
        prop_oneof![3 => Just(1u8), 1 => Just(4u8), 1 => Just(32u8)],
        prop_oneof![
            2 => Just(ZswapConfig::SHRINK_BATCH_MAINLINE),
            1 => Just(ZswapConfig::SHRINK_BATCH_7_3),
            1 => Just(ZswapConfig::SHRINK_BATCH_WB_PROPOSAL)
        ],
    )
}

/// A small machine so the zswap pool fills (`max_pages` is 20% of `ram_pages`).
/// `tiers`: besides lz4 at 1, deflate at 2 (level 1) and lz4 at 3 with synthetic sizes
/// halved, so `Knob::ZswapCompressionPriority` has something to pick.
fn flows_config(ram_pages: u64, accept: u32, zswap: bool, reclaim: Reclaim, tiers: bool, nr_swap_tiers: u8) -> Config {
    let mut cfg = Config { cluster_shift: SHIFT, cpus: 2, ram_pages, nr_swap_tiers, ..Config::default() };
    if tiers {
        cfg.zswap.compression_priorities.push(CompressionPriority::deflate(2, 1));
        cfg.zswap.compression_priorities.push(CompressionPriority::lz4(3).with_synthetic_permille(500));
    }
    cfg.zswap.accept_threshold_percent = accept;
    cfg.zswap.enabled = zswap;
    (cfg.zswap.lru, cfg.zswap.shrink_start, cfg.zswap.legacy_worker) = (reclaim.0, reclaim.1, reclaim.2);
    (cfg.zswap.writeback_pause, cfg.zswap.shrinker_enabled) = (reclaim.3, reclaim.4);
    (cfg.zswap.reject_incompressible, cfg.zswap.store_shrink_batch) = (reclaim.5, reclaim.6);
    cfg.zswap.worker_shrink_batch = reclaim.7;
    cfg
}

/// A step of a flow sequence: an operation, or reclaim of a recently allocated folio.
#[derive(Debug, Clone)]
enum Flow {
    Op(Op),
    /// Map, write out and (unless kept) evict the `back`-th most recently allocated
    /// folio, as reclaim does, so that its zswap entries leave the swap cache and become
    /// candidates for the LRU walks.
    Reclaim {
        back: u8,
        page: PageKind,
        keep: bool,
    },
    /// A reclaim operation or a `Knob::SwapTierMax` write on the memcg recorded for the
    /// `back`-th most recently allocated folio (where its entries are).
    Near {
        back: u8,
        op: Op,
    },
}

/// The slot `back` allocations ago.
fn recent(h: &Harness, back: u8) -> Option<VSlot> {
    h.live.len().checked_sub(1 + usize::from(back)).map(|n| h.live[n])
}

fn flow() -> impl Strategy<Value = Flow> {
    prop_oneof![
        12 => flow_op().prop_map(Flow::Op),
        1 => (0u8..4, page_kind(), prop::bool::weighted(0.2))
            .prop_map(|(back, page, keep)| Flow::Reclaim { back, page, keep }),
        2 => (0u8..4, reclaim_op()).prop_map(|(back, op)| Flow::Near { back, op }),
        1 => (0u8..4, swap_tier_max()).prop_map(|(back, knob)| Flow::Near {
            back,
            op: Op::MemcgSet { memcg: MemcgRef::Live(0), knob },
        }),
    ]
}

fn run_flows(cfg: Config, flows: &[Flow]) -> Result<(), TestCaseError> {
    let mut h = harness(cfg);
    for (i, flow) in flows.iter().enumerate() {
        let ops = match *flow {
            Flow::Op(op) => vec![op],
            Flow::Near { back, op } => {
                let memcg = recent(&h, back).and_then(|s| h.sys.memcg_of(s).ok().flatten());
                let Some(m) = memcg.map(|m| MemcgRef::Raw(m.raw())) else { continue };
                vec![match op {
                    Op::ShrinkMemcg { nr, .. } => Op::ShrinkMemcg { memcg: m, nr },
                    Op::ProactiveWriteback { bytes, min_age, .. } => {
                        Op::ProactiveWriteback { memcg: m, bytes, min_age }
                    }
                    Op::ShrinkerCount { .. } => Op::ShrinkerCount { memcg: m },
                    Op::Recompress { spec, .. } => Op::Recompress { memcg: m, spec },
                    Op::MemcgSet { knob, .. } => Op::MemcgSet { memcg: m, knob },
                    op => op,
                }]
            }
            Flow::Reclaim { back, page, keep } => {
                let Some(slot) = recent(&h, back).map(|s| SlotRef::Raw(s.raw())) else { continue };
                let write = Op::Writeout { slot, page, order: FIT };
                let evict = Op::Evict { slot, shadow: Shadow(u64::from(back)) };
                [Op::Dup(slot), write].into_iter().chain((!keep).then_some(evict)).collect()
            }
        };
        for op in ops {
            let op = match op {
                Op::Writeout { slot, page, order: FIT } => {
                    Op::Writeout { slot, page, order: h.folio_order(slot).unwrap_or(0) }
                }
                // In flow sequences the clock only moves on: `SetTick(dt)` is `dt` ticks later.
                Op::SetTick(dt) => Op::SetTick(h.sys.tick().saturating_add(dt)),
                op => op,
            };
            let _result = h.step(&op).map_err(|d| TestCaseError::fail(format!("flow {i}, step {}: {d}", d.step)))?;
        }
    }
    h.check().map_err(|d| TestCaseError::fail(format!("at the end: {d}")))
}

/// When a flow run writes its first swap tiers: not at all (only its random batches may),
/// before its first devices are swapped on, or after.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SwapTiers {
    None,
    Before,
    After,
}

proptest! {
    // Under Miri every real page costs a second of lz4: fewer, shorter cases.
    #![proptest_config(ProptestConfig { cases: cases(if cfg!(miri) { 3 } else { 256 }), ..config() })]

    #[test]
    fn the_flows_match_the_model(
        flows in prop::collection::vec(flow(), 1..if cfg!(miri) { 16 } else { 300 }),
        ram_pages in prop_oneof![Just(10u64), Just(24), Just(64), Just(400)],
        accept in prop_oneof![Just(90u32), Just(50), Just(100), 0u32..=100],
        zswap in prop::bool::weighted(0.8),
        reclaim in reclaim_knobs(),
        device in prop::bool::weighted(0.6),
        tiers in prop::bool::weighted(0.5),
        swap_tiers in prop_oneof![2 => Just(SwapTiers::None), 2 => Just(SwapTiers::Before), 2 => Just(SwapTiers::After)],
        hi in prop_oneof![3 => 1i16..=3, 1 => 0i16..=5],
        nr_swap_tiers in prop_oneof![4 => Just(4u8), 1 => 1u8..4, 1 => Just(31)],
    ) {
        // Often a device from the start, so that writeback has somewhere to go.
        let flows: Vec<Flow> = start(device, swap_tiers, hi, 40).into_iter().map(Flow::Op).chain(flows).collect();
        run_flows(flows_config(ram_pages, accept, zswap, reclaim, tiers, nr_swap_tiers), &flows)?;
    }

    #[test]
    fn recompression_matches_the_model(
        flows in prop::collection::vec(recompress_flow(), 1..if cfg!(miri) { 16 } else { 200 }),
        ram_pages in prop_oneof![Just(64u64), Just(400)],
        reclaim in reclaim_knobs(),
        // Under Miri deflate at level 9 costs seconds a page: synthetic sizes only there.
        synthetic in prop::bool::weighted(if cfg!(miri) { 1.0 } else { 0.3 }),
    ) {
        // Deflate at level 9 at 4, the densest tier, with synthetic sizes cut to 30%.
        let mut cfg = flows_config(ram_pages, 90, true, reclaim, true, 4);
        cfg.zswap.compression_priorities.push(CompressionPriority::deflate(4, 9).with_synthetic_permille(300));
        if synthetic {
            cfg.zswap.compressor = CompressionMode::Synthetic;
        }
        let flows: Vec<Flow> = start(true, SwapTiers::None, 0, 40).into_iter().map(Flow::Op).chain(flows).collect();
        run_flows(cfg, &flows)?;
    }

    #[test]
    fn the_swap_tiers_match_the_model(
        flows in prop::collection::vec(tier_flow(), 1..if cfg!(miri) { 16 } else { 200 }),
        ram_pages in prop_oneof![Just(10u64), Just(64), Just(400)],
        zswap in prop::bool::weighted(0.4),
        reclaim in reclaim_knobs(),
        swap_tiers in prop_oneof![1 => Just(SwapTiers::None), 3 => Just(SwapTiers::Before), 3 => Just(SwapTiers::After)],
        hi in prop_oneof![3 => 1i16..=3, 1 => 0i16..=5],
        pages in 4u16..24,
    ) {
        let start = start(true, swap_tiers, hi, pages);
        let flows: Vec<Flow> = start.into_iter().map(Flow::Op).chain(flows).collect();
        run_flows(flows_config(ram_pages, 90, zswap, reclaim, false, 4), &flows)?;
    }
}

/// The first steps of a flow run: with `device`, a memory device of `pages` at priority
/// 0; with swap tiers, another one of 24 pages at priority 3 and the tiers `lo` from -1
/// and `hi` from `hi` written before or after them (with `hi` in 1..=3, one device in
/// each), and a memcg under the root.
fn start(device: bool, swap_tiers: SwapTiers, hi: i16, pages: u16) -> Vec<Op> {
    let mut start = Vec::new();
    if device {
        start.push(Op::Swapon { kind: DeviceKind::Memory, pages, priority: 0 });
    }
    if swap_tiers != SwapTiers::None {
        start.push(Op::Swapon { kind: DeviceKind::Memory, pages: 24, priority: 3 });
        let add = |name, start| Some(TierCmd::Add { name, start });
        let batch = Op::SwapTiers { cmds: [add(0, -1), add(1, hi), None] };
        let at = if swap_tiers == SwapTiers::Before { 0 } else { start.len() };
        start.insert(at, batch);
        start.push(Op::MemcgCreate { parent: MemcgRef::Live(0) });
    }
    start
}

/// Flow steps for the swap-tier property: many folios written out (zswap is mostly off,
/// so they reach devices), tier batches and `Knob::SwapTierMax` writes (mostly on the
/// memcgs whose folios were just written), small devices at priorities across the tiers
/// swapped on and off, and memcgs created and taken offline.
fn tier_flow() -> impl Strategy<Value = Flow> {
    let near = |op| (0u8..4).prop_map(move |back| Flow::Near { back, op });
    let tier_max = swap_tier_max().prop_flat_map(move |knob| near(Op::MemcgSet { memcg: MemcgRef::Live(0), knob }));
    prop_oneof![
        6 => flow_op().prop_map(Flow::Op),
        4 => (cpu(), memcg_ref(), folio(), prop_oneof![6 => Just(0u8), 1 => 1u8..=SHIFT as u8])
            .prop_map(|(cpu, memcg, folio, order)| Flow::Op(Op::AllocIn { cpu, memcg, folio, order })),
        6 => (0u8..4, page_kind(), prop::bool::weighted(0.2))
            .prop_map(|(back, page, keep)| Flow::Reclaim { back, page, keep }),
        4 => tier_max,
        2 => (0u8..4, reclaim_op()).prop_map(|(back, op)| Flow::Near { back, op }),
        2 => swap_tiers_op().prop_map(Flow::Op),
        2 => (prop_oneof![4 => Just(DeviceKind::Memory), 1 => Just(DeviceKind::Null)], 2u16..24, -2i8..5)
            .prop_map(|(kind, pages, priority)| Flow::Op(Op::Swapon { kind, pages, priority })),
        2 => (0u8..5).prop_map(|device| Flow::Op(Op::Swapoff { device })),
        2 => swapoff_with(0u8..5).prop_map(Flow::Op),
        1 => memcg_ref().prop_map(|parent| Flow::Op(Op::MemcgCreate { parent })),
    ]
}

/// Flow steps for the recompression property: folios stored (and mostly evicted) into
/// zswap, recompression of the memcgs they went to (mostly to the densest tier) among the
/// other flows, and the clock moving on so the age bound has something to cut.
fn recompress_flow() -> impl Strategy<Value = Flow> {
    let kind = prop_oneof![
        6 => any::<u8>().prop_map(PageKind::Compressible),
        1 => any::<u32>().prop_map(PageKind::Incompressible),
        4 => (1u16..4200).prop_map(|compressed_len| PageKind::Synthetic { compressed_len, zero: false }),
    ];
    let recompress = recompress_to(prop_oneof![6 => Just(4u8), 2 => 2u8..=3, 1 => Just(1)]);
    prop_oneof![
        6 => flow_op().prop_map(Flow::Op),
        4 => (cpu(), memcg_ref(), folio(), prop_oneof![6 => Just(0u8), 1 => 1u8..=SHIFT as u8])
            .prop_map(|(cpu, memcg, folio, order)| Flow::Op(Op::AllocIn { cpu, memcg, folio, order })),
        6 => (0u8..4, kind, prop::bool::weighted(0.2)).prop_map(|(back, page, keep)| Flow::Reclaim { back, page, keep }),
        4 => (0u8..4, recompress).prop_map(|(back, spec)| Flow::Near {
            back,
            op: Op::Recompress { memcg: MemcgRef::Live(0), spec },
        }),
        2 => (0u64..4).prop_map(|dt| Flow::Op(Op::SetTick(dt))),
    ]
}

/// A scripted run through every transition of docs/kernel.md §3.3, checked step by step.
#[test]
fn the_slot_lifecycle_matches_the_model_step_by_step() {
    let mut h = Harness::new(Config { cluster_shift: SHIFT, cpus: 2, ..Config::default() }).unwrap();
    let live = |n| SlotRef::Live(n);
    let script = [
        Op::Alloc { cpu: 0, memcg: MemcgId::ROOT, folio: FolioId(8), order: 0 },
        Op::Dup(live(0)),
        Op::Dup(live(0)),
        Op::CacheDel { slot: live(0), shadow: Shadow(3) },
        Op::CacheAdd { slot: live(0), folio: FolioId(16) },
        Op::Put(live(0)),
        Op::Release(live(0)),
        Op::Put(live(0)),
        Op::Put(live(0)),
        Op::Release(live(0)),
        Op::Alloc { cpu: 1, memcg: MemcgId::ROOT, folio: FolioId(64), order: SHIFT as u8 },
        Op::Dup(live(1)),
        Op::CacheDel { slot: live(1), shadow: Shadow(1) },
        Op::DrainCpuCaches,
        Op::Put(live(1)),
        Op::DrainCpuCaches,
    ];
    let results: Vec<_> =
        script.iter().map(|op| h.step(op).unwrap_or_else(|d| panic!("step {}: {d}", d.step))).collect();
    assert_eq!(results[3], Ok(vswap::op::Outcome::Done));
    assert_eq!(results[6], Ok(vswap::op::Outcome::Freed(false)), "count 1: still referenced");
    assert_eq!(results[7], Ok(vswap::op::Outcome::Count(0)), "cached: count 0 keeps the slot");
    // A put past 0 is refused; the release then frees the cached slot.
    assert_eq!(results[8], Err(vswap::Error::CountUnderflow));
    assert_eq!(results[9], Ok(vswap::op::Outcome::Freed(true)));
    assert_eq!(h.sys.stat().clusters_live, 0);
}

/// A scripted run through the reclaim layer (docs/kernel.md §5.3, §5.6, §5.8, §6.4): second
/// chance, the splice of an offline memcg's LRU to the front of its parent's, proactive
/// writeback from a memcg's own cursor, and the offline hook moving the root's cursor on.
#[test]
fn the_reclaim_layer_matches_the_model_step_by_step() {
    let mut h = harness(Config { cluster_shift: SHIFT, cpus: 2, ram_pages: 400, ..Config::default() });
    let run = |h: &mut Harness, op: Op| {
        h.step(&op)
            .unwrap_or_else(|d| panic!("step {}: {d}", d.step))
            .unwrap_or_else(|e| panic!("{op:?} failed: {e:?}"))
    };
    run(&mut h, Op::Swapon { kind: DeviceKind::Memory, pages: 40, priority: 0 });
    let (root, a, c) = (MemcgRef::Live(0), MemcgRef::Live(1), MemcgRef::Live(3));
    // A and B under the root, C under A.
    for parent in [root, root, a] {
        run(&mut h, Op::MemcgCreate { parent });
    }
    let ids = h.memcgs().to_vec();
    // Three pages of A and one of C (A's child) reclaimed to zswap: mapped, stored, evicted.
    for (memcg, folio) in [(a, 8), (a, 16), (a, 24), (c, 32)] {
        run(&mut h, Op::AllocIn { cpu: 0, memcg, folio: FolioId(folio << SHIFT), order: 0 });
        let slot = SlotRef::Raw(h.live.last().unwrap().raw());
        run(&mut h, Op::Dup(slot));
        run(&mut h, Op::Writeout { slot, page: PageKind::Compressible(7), order: 0 });
        run(&mut h, Op::Evict { slot, shadow: Shadow(1) });
    }
    let s = h.live.clone();
    let lru = |h: &Harness, i: usize| h.sys.zswap_lru(ids[i]).unwrap();
    assert_eq!(lru(&h, 1), [s[0], s[1], s[2]]);
    // Second chance: the first walk only clears the bit and rotates.
    let vswap::op::Outcome::Shrink(o) = run(&mut h, Op::ShrinkMemcg { memcg: a, nr: 1 }) else { panic!() };
    assert_eq!((o.scanned, o.second_chances, o.written), (1, 1, 0));
    assert_eq!(lru(&h, 1), [s[1], s[2], s[0]]);
    let vswap::op::Outcome::Shrink(o) = run(&mut h, Op::ShrinkMemcg { memcg: a, nr: 10 }) else { panic!() };
    assert_eq!((o.scanned, o.second_chances, o.written), (3, 2, 1), "capped at the LRU's length");
    assert_eq!(lru(&h, 1), [s[1], s[2]]);
    // C goes offline: its LRU goes to the front of A's.
    run(&mut h, Op::MemcgOffline { memcg: c });
    assert_eq!(lru(&h, 1), [s[3], s[1], s[2]]);
    // Proactive writeback ignores the referenced bit and starts at A itself.
    let r = run(&mut h, Op::ProactiveWriteback { memcg: a, bytes: 1, min_age: 0 });
    assert!(matches!(r, vswap::op::Outcome::WrittenBack(n) if n > 0), "{r:?}");
    assert_eq!((lru(&h, 1), h.sys.shrink_cursor(ids[1])), (vec![s[1], s[2]], Ok(Some(ids[1]))));
    // From the root's cursor: the root (nothing), then A.
    run(&mut h, Op::ProactiveWriteback { memcg: root, bytes: 1, min_age: 0 });
    assert_eq!(h.sys.shrink_cursor(MemcgId::ROOT), Ok(Some(ids[1])));
    // A goes offline while the root's cursor rests on it: the cursor moves to B.
    run(&mut h, Op::MemcgOffline { memcg: a });
    assert_eq!(h.sys.shrink_cursor(MemcgId::ROOT), Ok(Some(ids[2])));
    assert_eq!(lru(&h, 0), [s[2]]);
    assert_eq!(h.check(), Ok(()), "the whole state at the end");
}

/// The legacy worker's round trip after its writeback freed an offline memcg: C (under A)
/// goes offline with one zswap entry, which moves to A's LRU; the worker writes it back
/// at A, the slot is re-recorded to A, and C, no longer referenced, leaves the tree at
/// once, so the walk goes on from A to B without passing C (an offline memcg the legacy
/// worker would count as a failure).
#[test]
fn a_memcg_the_workers_writeback_frees_leaves_its_round_trip() {
    use vswap::op::Outcome;
    let reclaim = (LruPolicy::Protection, ShrinkStart::Proactive, true, Some(4), true, false, 1, 1);
    let mut h = harness(flows_config(24, 50, true, reclaim, true, 4));
    let run = |h: &mut Harness, op: Op| {
        h.step(&op)
            .unwrap_or_else(|d| panic!("step {}: {d}", d.step))
            .unwrap_or_else(|e| panic!("{op:?} failed: {e:?}"))
    };
    run(&mut h, Op::Swapon { kind: DeviceKind::Memory, pages: 24, priority: 3 });
    let (root, a, c) = (MemcgRef::Live(0), MemcgRef::Live(1), MemcgRef::Live(3));
    // A and B under the root, C under A.
    for parent in [root, root, a] {
        run(&mut h, Op::MemcgCreate { parent });
    }
    let ids = h.memcgs().to_vec();
    let Outcome::Slot(s) = run(&mut h, Op::AllocIn { cpu: 0, memcg: c, folio: FolioId(8), order: 0 }) else { panic!() };
    let s = SlotRef::Raw(s.raw());
    run(&mut h, Op::Dup(s));
    run(&mut h, Op::Writeout { slot: s, page: PageKind::Compressible(0), order: 0 });
    run(&mut h, Op::Evict { slot: s, shadow: Shadow(1) });
    run(&mut h, Op::MemcgOffline { memcg: c });
    // The root's incompressible pages fill the pool (20% of 24 pages) and queue the worker.
    for i in 0..3 {
        let Outcome::Slot(s) = run(&mut h, Op::AllocIn { cpu: 0, memcg: root, folio: FolioId(64 + 8 * i), order: 0 })
        else {
            panic!()
        };
        run(&mut h, Op::Writeout { slot: SlotRef::Raw(s.raw()), page: PageKind::Incompressible(i as u32), order: 0 });
    }
    assert!(h.sys.shrink_worker_pending());
    run(&mut h, Op::SetTick(10));
    let Outcome::Worker(r) = run(&mut h, Op::RunShrinkWorker) else { panic!() };
    assert_eq!((r.written, r.by_memcg.as_slice()), (1, &[(ids[1], 1)][..]));
    assert_eq!(h.sys.memcg_stat(ids[3]), Err(vswap::Error::InvalidMemcg), "C is gone");
    assert_eq!(h.check(), Ok(()), "the whole state at the end");
}

/// The harness reports a divergence by what diverged: a slot the system allocated behind
/// the model's back shows in the state compared (the global `vslots_in_use`, at the steps
/// run so far, on no operation), and a step on it in the step's result (at that step's
/// index, on its operation, with both results).
#[test]
fn a_divergence_says_which_step_operation_and_observation() {
    use vswap::op::Outcome;
    let mut h = Harness::new(Config { cluster_shift: SHIFT, cpus: 2, ..Config::default() }).unwrap();
    let alloc = Op::Alloc { cpu: 0, memcg: MemcgId::ROOT, folio: FolioId(8), order: 0 };
    assert!(matches!(h.step(&alloc), Ok(Ok(Outcome::Slot(_)))));
    assert_eq!(h.check(), Ok(()));
    // Behind the model's back.
    let behind = h.sys.alloc(1, MemcgId::ROOT, FolioId(16), 0).unwrap();
    let d = h.check().unwrap_err();
    assert_eq!((d.step, d.op, d.observation), (1, None, Observation::Stat("vslots_in_use")));
    assert_eq!((d.system.as_str(), d.model.as_str()), ("2", "1"));
    assert_eq!(d.to_string(), "stat: vslots_in_use 2, model 1");
    assert!(!d.in_result());
    // The model has no such slot: the system counts a reference, the model refuses.
    let dup = Op::Dup(SlotRef::Raw(behind.raw()));
    let d = h.step(&dup).unwrap_err();
    assert_eq!((d.step, d.op, d.observation), (1, Some(dup), Observation::Result));
    assert_eq!((d.system.as_str(), d.model.as_str()), ("Ok(Count(1))", "Err(NotAllocated)"));
    assert_eq!(d.to_string(), format!("{dup:?}: system returned Ok(Count(1)), model expects Err(NotAllocated)"));
    assert!(d.in_result());
    let e: Box<dyn std::error::Error> = Box::new(d);
    assert!(e.to_string().starts_with("Dup("), "{e}");
}

/// `swapoff_with` through the harness, each path: the sink refusing after two of seven
/// pages (`NoMemory`), then a partial placement on a small second device, the rest read
/// in or (the cached folio, if the first call did not reach it) unbacked, a large folio's
/// pages among them; then a plain move.
#[test]
fn swapoff_with_matches_the_model_on_every_path() {
    use vswap::op::Outcome;
    let reclaim = (LruPolicy::SecondChance, ShrinkStart::PoolFull, false, None, false, false, 1, 1);
    let mut h = harness(flows_config(64, 90, false, reclaim, false, 4));
    let run = |h: &mut Harness, op: Op| h.step(&op).unwrap_or_else(|d| panic!("step {}: {d}", d.step));
    let ok = |h: &mut Harness, op: Op| run(h, op).unwrap_or_else(|e| panic!("{op:?} failed: {e:?}"));
    ok(&mut h, Op::Swapon { kind: DeviceKind::Memory, pages: 16, priority: 5 });
    let mut slots = Vec::new();
    for (i, order) in [0u8, 0, 2, 0].into_iter().enumerate() {
        let folio = FolioId(64 * (i as u64 + 1));
        let Outcome::Slot(s) = ok(&mut h, Op::AllocIn { cpu: 0, memcg: MemcgRef::Live(0), folio, order }) else {
            panic!()
        };
        for j in 0..1 << order {
            ok(&mut h, Op::Dup(SlotRef::Raw(s.raw() + j)));
        }
        let s = SlotRef::Raw(s.raw());
        ok(&mut h, Op::Writeout { slot: s, page: PageKind::Incompressible(i as u32), order });
        slots.push(s);
    }
    // The last folio stays cached; the others are evicted (6 pages swapped out).
    for &s in &slots[..3] {
        ok(&mut h, Op::Evict { slot: s, shadow: Shadow(2) });
    }
    let on_device = |h: &Harness| {
        let all = h.model.slots().collect::<Vec<_>>();
        all.into_iter().filter(|&s| matches!(h.sys.backing(s), Ok(vswap::Backing::Device(_)))).count() as u64
    };
    assert_eq!(on_device(&h), 7);
    let refused = run(&mut h, Op::SwapoffWith { device: 0, frames: 2, folio: FolioId(1 << 32) });
    assert_eq!(refused, Err(vswap::Error::NoMemory));
    let left = on_device(&h);
    assert!((4..=5).contains(&left), "{left} pages left after two read in");
    ok(&mut h, Op::Swapon { kind: DeviceKind::Memory, pages: 3, priority: 1 });
    let out = ok(&mut h, Op::SwapoffWith { device: 0, frames: 100, folio: FolioId(1 << 33) });
    let Outcome::SwapoffWith { pages_moved, swapped_in, cache_unbacked, .. } = out else { panic!("{out:?}") };
    assert_eq!((pages_moved, swapped_in + cache_unbacked), (2, left - 2));
    assert_eq!(cache_unbacked, left - 4, "the cached folio gives its room up");
    ok(&mut h, Op::Swapon { kind: DeviceKind::Memory, pages: 8, priority: 0 });
    let out = ok(&mut h, Op::SwapoffWith { device: 1, frames: 0, folio: FolioId(1 << 34) });
    assert!(matches!(out, Outcome::SwapoffWith { pages_moved: 2, swapped_in: 0, .. }), "{out:?}");
    h.check().unwrap();
    assert_eq!(h.check(), Ok(()), "the whole state at the end");
}
