//! The model-based test: random operation sequences run on a real `SwapSystem` and on the
//! reference model (`vswap::model`), compared after every step — results, errors, every
//! slot's state, count, cached folio and memcg, and the number of slots in use. Invalid
//! operations are part of the mix: they must return the model's error and change nothing.
//! Runs under Miri with few cases and no failure persistence.

use proptest::prelude::*;
use vswap::model::Harness;
use vswap::op::{Op, SlotRef};
use vswap::{Config, FolioId, MemcgId, Shadow};

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
