//! Model: a zswap store racing with a change of its memcg's compression priority
//! (`Knob::ZswapCompressionPriority`, issue 6 part 1).
//!
//! Protocol: `writeout` reads the memcg's effective tier once (one atomic load per level
//! of the ancestry, no lock), compresses every page with it (deflate pops a reusable
//! compressor state from its tier's mutex-guarded stack and pushes it back) and records
//! it in each entry; `memcg_set` stores the new priority in the memcg's own word. Loads
//! decompress with the recorded tier, never the memcg's current one.
//! Property: the entry was compressed by one of the two tiers (lz4 before the change,
//! deflate after), its compressed length is that tier's, the per-tier statistics count
//! it once on that tier and add up to `zswap_current`, and the fault returns the bytes.
//! Outcomes: the store read the memcg's tier before the change (lz4) or after it
//! (deflate). ~2 s at the default facade bound (1),
//! ~40 s at `VSWAP_LOOM_FACADE_PREEMPTIONS=2` (release, 2 cores).
// Only meaningful under `--cfg loom` (see writeback_vs_fault.rs).
#![cfg(loom)]

use loom::sync::Arc;
use vswap::{FaultSource, FolioId, Knob, MemcgId, Page, Shadow, SwapSystem, Writeout};
use vswap_loom_tests::{Seen, big_stack, lz4_and_deflate, pattern};

#[test]
fn store_races_compressor_change() {
    let outcomes =
        Seen::new(&["stored with tier 1 (lz4), before the change", "stored with tier 2 (deflate), after it"]);
    let seen = outcomes.clone();
    let data = pattern(1);
    let (cfg, lz4_len, deflate_len) = lz4_and_deflate(&data);
    vswap_loom_tests::model(move || {
        let sys = Arc::new(SwapSystem::new(cfg.clone()).unwrap());
        // A child of the root: the root's own zswap entries are charged to no memcg
        // (`obj_cgroup_charge_zswap` skips the root), so its memory.stat has no tiers.
        let cg = sys.memcg_create(MemcgId::ROOT).unwrap();
        let slot = sys.alloc(0, cg, FolioId(4), 0).unwrap();
        assert_eq!(sys.dup(slot), Ok(1));

        let a = {
            let (sys, data) = (sys.clone(), data.clone());
            big_stack(move || sys.writeout(slot, Page::Bytes(&data)))
        };
        // The change runs on the model's main thread, already registered with the epoch
        // collector by the setup: a third thread would multiply the interleavings by its
        // registration and exit alone.
        assert_eq!(sys.memcg_set(cg, Knob::ZswapCompressionPriority(Some(2))), Ok(()));
        let w = a.join().unwrap();
        assert_eq!(sys.memcg_compression_priority(cg), Ok(2));

        let Ok(Writeout::Zswap { compressed }) = w else { panic!("not stored: {w:?}") };
        let st = sys.memcg_stat(cg).unwrap();
        let (t1, t2) = (st.zswap_priority(1).unwrap(), st.zswap_priority(2).unwrap());
        let tier = match (t1.entries, t2.entries) {
            (1, 0) => 1,
            (0, 1) => 2,
            other => panic!("the entry is counted on (tier 1, tier 2) = {other:?}"),
        };
        seen.mark(if tier == 1 {
            "stored with tier 1 (lz4), before the change"
        } else {
            "stored with tier 2 (deflate), after it"
        });
        let want = if tier == 1 { lz4_len } else { deflate_len };
        assert_eq!(u64::from(compressed), want, "tier {tier} compressed it");
        assert_eq!(t1.bytes + t2.bytes, st.zswap_current);
        assert_eq!(st.zswap_current, want);

        sys.evict(slot, Shadow(3)).unwrap();
        let load = {
            let sys = sys.clone();
            big_stack(move || {
                let mut out = vec![0u8; vswap::PAGE_SIZE];
                sys.fault(0, slot, FolioId(8), Some(&mut out)).map(|f| (f, out))
            })
        };
        let (f, out) = load.join().unwrap().unwrap();
        assert_eq!(f.source, FaultSource::Zswap);
        assert!(out == data, "the entry did not decode with its tier");
        let st = sys.memcg_stat(cg).unwrap();
        assert_eq!((st.zswap_current, st.zswap_priorities), (0, Default::default()));
    });
    outcomes.check();
}
