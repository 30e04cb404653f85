//! Model: recompression racing with a load of the same zswap entry (issue 6 part 4).
//!
//! Protocol: `recompress` takes the entry off its memcg's idle index and copies it under
//! the pool shard lock, compresses the copy outside every lock, then replaces the entry
//! under the shard lock only if it is still the same one (seq, tier, length), moving the
//! charges there too. A load decompresses under the shard lock and then frees the entry.
//! Property: one wins, the bytes come back intact either way, and every counter ends at
//! zero: the load read either the old entry (the copy is dropped, or was never made) or
//! the new one whole (deflate's bytes with deflate's tier). Across the explored executions
//! both outcomes occur.
// Only meaningful under `--cfg loom` (see writeback_vs_fault.rs).
#![cfg(loom)]

use loom::sync::Arc;
use vswap::{FaultSource, FolioId, MemcgId, Page, RecompressSpec, Shadow, SwapSystem, Writeout};
use vswap_loom_tests::{Seen, big_stack, lz4_and_deflate, pattern};

/// Whether executions saw the copy dropped (0) and kept (1).
static SEEN: Seen<2> = Seen::new();

#[test]
fn recompress_races_load() {
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
        SEEN.mark(r.recompressed as usize);
        let st = sys.memcg_stat(cg).unwrap();
        assert_eq!((st.zswap_current, st.zswap_priorities), (0, Default::default()));
        assert_eq!(sys.stat().pool_total_size, 0);
    });
    let seen = SEEN.all();
    assert_eq!(seen, [true, true], "executions where the load won and where recompression did");
}
