//! The model-based test: random operation sequences run on a real `SwapSystem` and on the
//! reference model (`vswap::model`), compared after every step — results, errors, every
//! slot's state, count, cached folio and memcg, and the number of slots in use. Invalid
//! operations are part of the mix: they must return the model's error and change nothing.
//! The flows (writeout, evict, fault, writeback, swapon/swapoff of memory and null
//! devices, memcg creation, limits and offlining) run the same way, with the model also
//! checking every slot's backing, every memcg's swap and zswap usage and events, the
//! global counters, each device's use and the bytes every fault returns.
//! Runs under Miri with few cases and no failure persistence.

use proptest::prelude::*;
use vswap::model::Harness;
use vswap::op::{DeviceKind, MemcgRef, Op, PageKind, SlotRef};
use vswap::{Config, FolioId, Knob, Limit, MemcgId, Shadow};

const SHIFT: u32 = 3;

fn config() -> ProptestConfig {
    let cases = if cfg!(miri) { 6 } else { 256 };
    ProptestConfig { cases, failure_persistence: None, ..ProptestConfig::default() }
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
    ]
}

fn run(shift: u32, ops: &[Op]) -> Result<(), TestCaseError> {
    let cfg = Config { cluster_shift: shift, cpus: 2, ..Config::default() };
    let mut h = Harness::new(cfg).unwrap();
    for (i, op) in ops.iter().enumerate() {
        let _result = h.step(op).map_err(|e| TestCaseError::fail(format!("step {i}: {e}")))?;
    }
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn the_table_matches_the_model(ops in prop::collection::vec(op(), 1..if cfg!(miri) { 40 } else { 300 })) {
        run(SHIFT, &ops)?;
    }

    #[test]
    fn the_table_matches_the_model_with_tiny_clusters(ops in prop::collection::vec(op(), 1..if cfg!(miri) { 30 } else { 200 })) {
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
        3 => any::<bool>().prop_map(Knob::ZswapWriteback),
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

fn flow_op() -> impl Strategy<Value = Op> {
    let live = || any::<u16>().prop_map(SlotRef::Live);
    prop_oneof![
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
        2 => memcg_ref().prop_map(|parent| Op::MemcgCreate { parent }),
        3 => (memcg_ref(), knob()).prop_map(|(memcg, knob)| Op::MemcgSet { memcg, knob }),
        1 => memcg_ref().prop_map(|memcg| Op::MemcgOffline { memcg }),
    ]
}

/// A small machine so the zswap pool fills (`max_pages` is 20% of `ram_pages`).
fn flows_config(ram_pages: u64, accept: u32, zswap: bool) -> Config {
    let mut cfg = Config { cluster_shift: SHIFT, cpus: 2, ram_pages, ..Config::default() };
    cfg.zswap.accept_threshold_percent = accept;
    cfg.zswap.enabled = zswap;
    cfg
}

fn run_flows(cfg: Config, ops: &[Op]) -> Result<(), TestCaseError> {
    let mut h = Harness::new(cfg).unwrap();
    for (i, op) in ops.iter().enumerate() {
        let op = match *op {
            Op::Writeout { slot, page, order: FIT } => {
                Op::Writeout { slot, page, order: h.folio_order(slot).unwrap_or(0) }
            }
            op => op,
        };
        let _result = h.step(&op).map_err(|e| TestCaseError::fail(format!("step {i}: {e}")))?;
    }
    Ok(())
}

proptest! {
    // Under Miri every real page costs a second of lz4: fewer, shorter cases.
    #![proptest_config(ProptestConfig { cases: if cfg!(miri) { 3 } else { 256 }, ..config() })]

    #[test]
    fn the_flows_match_the_model(
        ops in prop::collection::vec(flow_op(), 1..if cfg!(miri) { 16 } else { 300 }),
        ram_pages in prop_oneof![Just(10u64), Just(24), Just(64), Just(400)],
        accept in prop_oneof![Just(90u32), Just(50), Just(100), 0u32..=100],
        zswap in prop::bool::weighted(0.8),
    ) {
        run_flows(flows_config(ram_pages, accept, zswap), &ops)?;
    }
}

/// A scripted run through every transition of kernel-notes §3.3, checked step by step.
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
    let results: Vec<_> = script.iter().map(|op| h.step(op).unwrap_or_else(|e| panic!("{op:?}: {e}"))).collect();
    assert_eq!(results[3], Ok(vswap::op::Outcome::Done));
    assert_eq!(results[6], Ok(vswap::op::Outcome::Freed(false)), "count 1: still referenced");
    assert_eq!(results[7], Ok(vswap::op::Outcome::Count(0)), "cached: count 0 keeps the slot");
    // A put past 0 is refused; the release then frees the cached slot.
    assert_eq!(results[8], Err(vswap::Error::CountUnderflow));
    assert_eq!(results[9], Ok(vswap::op::Outcome::Freed(true)));
    assert_eq!(h.sys.stat().clusters_live, 0);
}
