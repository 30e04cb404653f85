//! Model: recompression racing with a load of the same zswap entry (issue 6 part 4).
//!
//! Protocol: `recompress` takes the entry off its memcg's idle index and copies it under
//! the pool shard lock, compresses the copy outside every lock, then replaces the entry
//! under the shard lock only if it is still the same one (seq, tier, length), moving the
//! charges there too. A load decompresses under the shard lock and then frees the entry.
//! Property: one wins, the bytes come back intact either way, and every counter ends at
//! zero: the load read either the old entry (the copy is dropped, or was never made) or
//! the new one whole (deflate's bytes with deflate's tier).
//! Outcomes: the load first (recompression finds no idle entry), the load between the
//! copy and the replacement (the copy is dropped), or recompression first (the load
//! reads the new entry).
// Only meaningful under `--cfg loom` (see writeback_vs_fault.rs).
#![cfg(loom)]

use loom::sync::Arc;
use vswap::{FaultSource, FolioId, MemcgId, Page, RecompressSpec, Shadow, SwapSystem, Writeout};
use vswap_loom_tests::{Seen, big_stack, lz4_and_deflate, pattern};

#[test]
fn recompress_races_load() {
    let outcomes = Seen::new(&[
        "the load first: nothing to recompress",
        "the load between copy and replace: the copy is dropped",
        "recompression first: the load reads the new entry",
    ]);
    let seen = outcomes.clone();
    let data = pattern(1);
    let (cfg, lz4_len, deflate_len) = lz4_and_deflate(&data);
    assert!(deflate_len < lz4_len, "deflate must win for the copy to be kept");
    vswap_loom_tests::model(move || {
        let sys = Arc::new(SwapSystem::new(cfg.clone()).unwrap());
        let cg = MemcgId::ROOT;
        let slot = sys.alloc(0, cg, FolioId(4), 0).unwrap();
        assert_eq!(sys.dup(slot), Ok(1));
        assert!(matches!(sys.writeout(slot, Page::Bytes(&data)), Ok(Writeout::Zswap { .. })));
        sys.evict(slot, Shadow(3)).unwrap();

        let load = {
            let sys = sys.clone();
            big_stack(move || {
                let mut out = vec![0u8; vswap::PAGE_SIZE];
                sys.fault(0, slot, FolioId(8), Some(&mut out)).map(|f| (f, out))
            })
        };
        // Its own thread too: deflate's first compressor state is built on the stack,
        // which the model's main thread (loom's default stack) cannot hold.
        let recompress = {
            let sys = sys.clone();
            let spec = RecompressSpec { min_age: 0, threshold: 0, max_pages: 1, priority: 2 };
            big_stack(move || sys.recompress(cg, spec))
        };
        let (f, out) = load.join().unwrap().unwrap();
        let r = recompress.join().unwrap().unwrap();

        assert_eq!(f.source, FaultSource::Zswap);
        assert!(out == data, "the load did not return the page");
        assert!(r.recompressed <= r.attempted && r.attempted <= 1, "{r:?}");
        if r.recompressed == 1 {
            assert_eq!(r.saved_bytes, lz4_len - deflate_len);
        }
        seen.mark_with(
            match (r.attempted, r.recompressed) {
                (0, _) => "the load first: nothing to recompress",
                (_, 0) => "the load between copy and replace: the copy is dropped",
                _ => "recompression first: the load reads the new entry",
            },
            || format!("{r:?}"),
        );
        let st = sys.memcg_stat(cg).unwrap();
        assert_eq!((st.zswap_current, st.zswap_priorities), (0, Default::default()));
        assert_eq!(sys.stat().pool_total_size, 0);
    });
    outcomes.check();
}
