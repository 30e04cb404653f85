//! The public facade under arbitrary (mostly bad) input: raw slot ids, CPU indices, orders,
//! folio ids and memcg ids, mixed with slots that were really allocated so that the calls
//! reach live state. Principle 5 of `docs/design.md`: bad input is an error, never a panic, and
//! an error leaves the state exactly as it was. After every `Err` the target checks that
//! the states of the slots involved (the whole cluster around the slot argument, which
//! covers every folio range a call can touch with `cluster_shift` 3, plus every slot
//! allocated so far), `stat()` and the clock are unchanged.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use vswap::{Config, Error, FolioId, MemcgId, Shadow, SlotState, SwapSystem, VSlot};

const CLUSTER_SHIFT: u32 = 3;
const MAX_LIVE: usize = 256;

/// A slot argument: one that was allocated (or a neighbour of one), or a raw id.
#[derive(Debug, Arbitrary)]
enum SlotSel {
    Live(u8),
    Near(u8, i8),
    Small(u16),
    /// Around the end of the virtual space (`slot_limit`).
    NearLimit(i16),
    Raw(u64),
}

#[derive(Debug, Arbitrary)]
enum FolioSel {
    Small(u16),
    /// Aligned to `2^order` for the order argument, so large allocations succeed.
    Aligned(u32),
    Raw(u64),
}

#[derive(Debug, Arbitrary)]
enum OrderSel {
    Small(u8),
    Raw(u32),
}

#[derive(Debug, Arbitrary)]
enum CpuSel {
    Small(u8),
    Raw(usize),
}

#[derive(Debug, Clone, Copy, Arbitrary)]
enum MemcgSel {
    Root,
    Raw(u16),
}

#[derive(Debug, Arbitrary)]
enum Call {
    Alloc {
        cpu: CpuSel,
        cg: MemcgSel,
        folio: FolioSel,
        order: OrderSel,
    },
    Dup(SlotSel),
    Put(SlotSel),
    Release(SlotSel),
    CacheAdd(SlotSel, FolioSel),
    CacheAddFolio(SlotSel, FolioSel, OrderSel),
    CacheDel(SlotSel, u64),
    State(SlotSel),
    MemcgOf(SlotSel),
    PinnedDup(SlotSel),
    PinnedPut(SlotSel),
    PinnedRelease(SlotSel),
    Drain,
    RcuBarrier,
    SetTick(u64),
    /// The memcg's effective settings (`memory.zswap.*` read back), on any id.
    MemcgSettings(MemcgSel),
    /// `memory.reclaim`-style proactive writeback of zswap entries, on any id.
    ProactiveWriteback(MemcgSel, u64),
}

fn memcg(m: &MemcgSel) -> MemcgId {
    match *m {
        MemcgSel::Root => MemcgId::ROOT,
        MemcgSel::Raw(v) => MemcgId::from_raw(v),
    }
}

struct Harness {
    sys: SwapSystem,
    live: Vec<VSlot>,
}

/// Everything an erring call must leave alone.
#[derive(Debug, PartialEq)]
struct Snapshot {
    stat: vswap::GlobalStat,
    tick: u64,
    cluster: Vec<Result<SlotState, Error>>,
    live: Vec<Result<SlotState, Error>>,
}

impl Harness {
    fn slot(&self, s: &SlotSel) -> VSlot {
        let pick = |i: u8| self.live.get(i as usize % self.live.len().max(1)).copied();
        match *s {
            SlotSel::Live(i) => pick(i).unwrap_or(VSlot::from_raw(i as u64)),
            SlotSel::Near(i, d) => {
                let base = pick(i).map_or(0, VSlot::raw);
                VSlot::from_raw(base.wrapping_add_signed(d as i64))
            }
            SlotSel::Small(v) => VSlot::from_raw(v as u64),
            SlotSel::NearLimit(d) => VSlot::from_raw(self.sys.slot_limit().wrapping_add_signed(d as i64)),
            SlotSel::Raw(v) => VSlot::from_raw(v),
        }
    }

    fn snapshot(&self, slot: Option<VSlot>) -> Snapshot {
        let cluster = match slot {
            // The aligned cluster around the slot; `base + 7` cannot overflow.
            Some(s) => {
                let base = s.raw() & !((1u64 << CLUSTER_SHIFT) - 1);
                (0..1u64 << CLUSTER_SHIFT).map(|i| self.sys.state(VSlot::from_raw(base + i))).collect()
            }
            None => Vec::new(),
        };
        Snapshot {
            stat: self.sys.stat(),
            tick: self.sys.tick(),
            cluster,
            live: self.live.iter().map(|&s| self.sys.state(s)).collect(),
        }
    }

    fn remember(&mut self, head: VSlot, order: u32) {
        for i in 0..1u64 << order.min(CLUSTER_SHIFT) {
            if self.live.len() >= MAX_LIVE {
                self.live.remove(0);
            }
            self.live.push(VSlot::from_raw(head.raw() + i));
        }
    }
}

fn order(o: &OrderSel) -> u32 {
    match *o {
        OrderSel::Small(v) => (v % 6) as u32,
        OrderSel::Raw(v) => v,
    }
}

fn folio(f: &FolioSel, order: u32) -> FolioId {
    match *f {
        FolioSel::Small(v) => FolioId(v as u64),
        FolioSel::Aligned(v) => FolioId((v as u64).checked_shl(order.min(63)).unwrap_or(0)),
        FolioSel::Raw(v) => FolioId(v),
    }
}

fn check_unchanged(h: &Harness, call: &Call, slot: Option<VSlot>, before: &Snapshot, err: &Error) {
    let after = h.snapshot(slot);
    assert_eq!(before, &after, "{call:?} failed with {err:?} but changed the state");
}

fuzz_target!(|calls: Vec<Call>| {
    let cfg = Config { cluster_shift: CLUSTER_SHIFT, cpus: 2, ..Default::default() };
    let mut h = Harness { sys: SwapSystem::new(cfg).expect("valid config"), live: Vec::new() };
    for call in calls.iter().take(512) {
        let slot = match call {
            Call::Dup(s)
            | Call::Put(s)
            | Call::Release(s)
            | Call::CacheAdd(s, _)
            | Call::CacheAddFolio(s, _, _)
            | Call::CacheDel(s, _)
            | Call::State(s)
            | Call::MemcgOf(s)
            | Call::PinnedDup(s)
            | Call::PinnedPut(s)
            | Call::PinnedRelease(s) => Some(h.slot(s)),
            Call::Alloc { .. }
            | Call::Drain
            | Call::RcuBarrier
            | Call::SetTick(_)
            | Call::MemcgSettings(_)
            | Call::ProactiveWriteback(..) => None,
        };
        let before = h.snapshot(slot);
        let result: Result<(), Error> = match call {
            Call::Alloc { cpu, cg, folio: f, order: o } => {
                let cpu = match *cpu {
                    CpuSel::Small(v) => (v % 4) as usize,
                    CpuSel::Raw(v) => v,
                };
                let cg = memcg(cg);
                let o = order(o);
                match h.sys.alloc(cpu, cg, folio(f, o), o) {
                    Ok(head) => {
                        assert_eq!(head.raw() & ((1u64 << o) - 1), 0, "unaligned head for order {o}");
                        h.remember(head, o);
                        Ok(())
                    }
                    Err(e) => Err(e),
                }
            }
            Call::Dup(_) => h.sys.dup(slot.unwrap()).map(|n| {
                assert!(n >= 1, "dup returned count 0");
            }),
            Call::Put(_) => h.sys.put(slot.unwrap()).map(drop),
            Call::Release(_) => h.sys.release(slot.unwrap()).map(drop),
            Call::CacheAdd(_, f) => h.sys.swap_cache_add(slot.unwrap(), folio(f, 0)),
            Call::CacheAddFolio(_, f, o) => {
                let o = order(o);
                h.sys.swap_cache_add_folio(slot.unwrap(), folio(f, o), o)
            }
            Call::CacheDel(_, shadow) => h.sys.swap_cache_del(slot.unwrap(), Shadow(*shadow)),
            Call::State(_) => {
                let s = slot.unwrap();
                let direct = h.sys.state(s);
                let pinned = h.sys.pin().state(s);
                assert_eq!(direct, pinned, "state and Pinned::state disagree on {s:?}");
                direct.map(drop)
            }
            Call::MemcgOf(_) => {
                let s = slot.unwrap();
                let cg = h.sys.memcg_of(s);
                match (h.sys.state(s), &cg) {
                    (Err(a), Err(b)) => assert_eq!(&a, b, "state and memcg_of disagree on {s:?}"),
                    (Ok(SlotState::Free), Ok(_)) => {}
                    (Ok(st), Ok(id)) => assert!(id.is_some(), "{s:?} is {st:?} but has no memcg"),
                    (st, cg) => panic!("{s:?}: state {st:?} but memcg_of {cg:?}"),
                }
                cg.map(drop)
            }
            Call::PinnedDup(_) => h.sys.pin().dup(slot.unwrap()).map(drop),
            Call::PinnedPut(_) => h.sys.pin().put(slot.unwrap()).map(drop),
            Call::PinnedRelease(_) => h.sys.pin().release(slot.unwrap()).map(drop),
            Call::Drain => {
                h.sys.drain_cpu_caches();
                Ok(())
            }
            Call::RcuBarrier => {
                h.sys.rcu_barrier();
                Ok(())
            }
            Call::SetTick(t) => h.sys.set_tick(*t),
            Call::MemcgSettings(m) => {
                let cg = memcg(m);
                let priority = h.sys.memcg_compression_priority(cg);
                #[allow(deprecated)]
                let old_name = h.sys.memcg_compressor(cg);
                assert_eq!(priority, old_name, "the deprecated name answers differently");
                let tier = h.sys.memcg_writeback_tier(cg);
                assert_eq!(priority.is_ok(), tier.is_ok(), "{cg:?}: {priority:?} but {tier:?}");
                priority.map(drop)
            }
            Call::ProactiveWriteback(m, bytes) => h.sys.proactive_writeback(memcg(m), *bytes).map(drop),
        };
        if let Err(e) = result {
            check_unchanged(&h, call, slot, &before, &e);
        }
    }
    // Whatever the sequence did, the reports stay callable and consistent.
    assert_eq!(h.sys.config().cluster_shift, CLUSTER_SHIFT);
    assert!(h.sys.cluster_base_bytes() > 0);
    let st = h.sys.stat();
    let fp = h.sys.footprint();
    assert_eq!(st.vslots_in_use, fp.vslots_in_use);
    assert_eq!(st.clusters_live, fp.clusters_live);
});
