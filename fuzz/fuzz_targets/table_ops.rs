//! Arbitrary operation sequences, differential against the reference model: the real
//! system and `vswap::model::Model` run every `Op` in lock step through
//! `vswap::model::Harness`, which compares results, errors, every slot's state, count,
//! folio, memcg and backing, the memcgs' usage, the global counters, the devices and the
//! bytes every fault returns after each step. Any divergence is a crash. Operands are
//! biased toward live slots and valid arguments so sequences go deep.
#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use vswap::model::Harness;
use vswap::op::{DeviceKind, MemcgRef, Op, PageKind, SlotRef};
use vswap::{Config, FolioId, Knob, Limit, MemcgId, Shadow};

const SHIFT: u32 = 3;

/// A compact op encoding that mostly names live slots and valid arguments.
#[derive(Debug, Arbitrary)]
enum Step {
    Alloc {
        cpu: u8,
        folio: u16,
        order: u8,
    },
    AllocIn {
        cpu: u8,
        memcg: u8,
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
    Writeout(u16, PageKind),
    Evict(u16, u64),
    Fault {
        cpu: u8,
        slot: u16,
        folio: u16,
        buffer: bool,
    },
    Writeback(u16),
    Swapon {
        null: bool,
        pages: u8,
        priority: i8,
    },
    Swapoff(u8),
    MemcgCreate(u8),
    MemcgSet(u8, u8, u8),
    MemcgOffline(u8),
    /// Any op at all, including invalid ones.
    Raw(Op),
}

impl Step {
    fn op(self, h: &Harness) -> Op {
        let live = SlotRef::Live;
        let cpu = |c: u8| u16::from(c % 3);
        match self {
            Step::Alloc { cpu: c, folio, order } => {
                let order = order % (SHIFT as u8 + 1);
                Op::Alloc { cpu: cpu(c), memcg: MemcgId::ROOT, folio: FolioId(u64::from(folio) << SHIFT), order }
            }
            Step::AllocIn { cpu: c, memcg, folio, order } => Op::AllocIn {
                cpu: cpu(c),
                memcg: MemcgRef::Live(memcg),
                folio: FolioId(u64::from(folio) << SHIFT),
                order: order % (SHIFT as u8 + 1),
            },
            Step::Dup(n) => Op::Dup(live(n)),
            Step::Put(n) => Op::Put(live(n)),
            Step::Release(n) => Op::Release(live(n)),
            Step::CacheAdd(n, f) => Op::CacheAdd { slot: live(n), folio: FolioId(u64::from(f)) },
            Step::CacheDel(n, s) => Op::CacheDel { slot: live(n), shadow: Shadow(s) },
            Step::State(n) => Op::State(live(n)),
            Step::Drain => Op::DrainCpuCaches,
            Step::Writeout(n, page) => Op::Writeout { slot: live(n), page, order: h.folio_order(live(n)).unwrap_or(0) },
            Step::Evict(n, s) => Op::Evict { slot: live(n), shadow: Shadow(s) },
            Step::Fault { cpu: c, slot, folio, buffer } => {
                Op::Fault { cpu: cpu(c), slot: live(slot), folio: FolioId(u64::from(folio)), with_buffer: buffer }
            }
            Step::Writeback(n) => Op::Writeback { slot: live(n) },
            Step::Swapon { null, pages, priority } => Op::Swapon {
                kind: if null { DeviceKind::Null } else { DeviceKind::Memory },
                pages: u16::from(pages),
                priority: priority % 4,
            },
            // The high bit: `swapoff_with`, with a sink of `d >> 4 & 7` frames.
            Step::Swapoff(d) if d & 0x80 != 0 => {
                Op::SwapoffWith { device: d % 8, frames: u16::from((d >> 4) & 7), folio: FolioId(1 << 32) }
            }
            Step::Swapoff(d) => Op::Swapoff { device: d % 8 },
            Step::MemcgCreate(p) => Op::MemcgCreate { parent: MemcgRef::Live(p) },
            Step::MemcgSet(m, which, v) => {
                let limit = if v == u8::MAX { Limit::Max } else { Limit::Bytes(u64::from(v % 16) * 4096) };
                let knob = match which % 4 {
                    0 => Knob::SwapMax(limit),
                    1 => Knob::SwapHigh(limit),
                    2 => Knob::ZswapMax(limit),
                    _ => Knob::ZswapWriteback(v % 2 == 0),
                };
                Op::MemcgSet { memcg: MemcgRef::Live(m), knob }
            }
            Step::MemcgOffline(m) => Op::MemcgOffline { memcg: MemcgRef::Live(m) },
            Step::Raw(op) => op,
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let cfg = Config { cluster_shift: SHIFT, cpus: 2, ram_pages: 64, ..Config::default() };
    let mut h = Harness::new(cfg).expect("valid config");
    let mut steps = 0;
    while !u.is_empty() && steps < 2000 {
        let Ok(step) = Step::arbitrary(&mut u) else { break };
        let op = step.op(&h);
        if let Err(d) = h.step(&op) {
            panic!("step {} ({:?}): {d}", d.step, d.observation);
        }
        steps += 1;
    }
});
