//! Arbitrary operation sequences, differential against the reference model: the real
//! system and `vswap::model::Model` run every `Op` in lock step through
//! `vswap::model::Harness`, which compares results, errors, every slot's state, count,
//! folio and memcg, and the slots in use after each step. Any divergence is a crash.
//! Operands are biased toward live slots and valid arguments so sequences go deep.
#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use vswap::model::Harness;
use vswap::op::{Op, SlotRef};
use vswap::{Config, FolioId, MemcgId, Shadow};

const SHIFT: u32 = 3;

/// A compact op encoding that mostly names live slots and valid arguments.
#[derive(Debug, Arbitrary)]
enum Step {
    Alloc {
        cpu: u8,
        folio: u16,
        order: u8,
    },
    Dup(u16),
    Put(u16),
    Release(u16),
    CacheAdd(u16, u16),
    CacheDel(u16, u64),
    State(u16),
    Drain,
    /// Any op at all, including invalid ones.
    Raw(Op),
}

impl Step {
    fn op(self) -> Op {
        let live = SlotRef::Live;
        match self {
            Step::Alloc { cpu, folio, order } => {
                let order = order % (SHIFT as u8 + 1);
                Op::Alloc {
                    cpu: u16::from(cpu % 3),
                    memcg: MemcgId::ROOT,
                    folio: FolioId(u64::from(folio) << SHIFT),
                    order,
                }
            }
            Step::Dup(n) => Op::Dup(live(n)),
            Step::Put(n) => Op::Put(live(n)),
            Step::Release(n) => Op::Release(live(n)),
            Step::CacheAdd(n, f) => Op::CacheAdd { slot: live(n), folio: FolioId(u64::from(f)) },
            Step::CacheDel(n, s) => Op::CacheDel { slot: live(n), shadow: Shadow(s) },
            Step::State(n) => Op::State(live(n)),
            Step::Drain => Op::DrainCpuCaches,
            Step::Raw(op) => op,
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let cfg = Config { cluster_shift: SHIFT, cpus: 2, ..Config::default() };
    let mut h = Harness::new(cfg).expect("valid config");
    let mut steps = 0;
    while !u.is_empty() && steps < 2000 {
        let Ok(step) = Step::arbitrary(&mut u) else { break };
        let op = step.op();
        if let Err(divergence) = h.step(&op) {
            panic!("step {steps}: {divergence}");
        }
        steps += 1;
    }
});
