//! Model (n): the zswap pool size, a `percpu_counter` (`percpu::Batched`), under
//! concurrent stores and loads.
//!
//! Protocol: a store adds the entry's length to its shard's stripe and a load subtracts
//! it, each under the shard's lock (a load and a store: the lock makes the stripe the
//! holder's alone); a stripe whose delta reaches the batch folds it into the coarse count
//! (add to coarse, then clear the stripe), still under the lock. The pool limit reads the
//! coarse count alone when it is far from a threshold, the sum of everything otherwise,
//! without the locks. A tiny pool makes the batch a few hundred bytes, so every change
//! here folds (an 8-page pool: a batch of 512 bytes, entries of 1.5 KiB).
//! The same holds for `stored_pages` and the memcg's `memory.zswap.current`, whose
//! stripes are the shards' too, changed under the shard's lock by the store's charge
//! and the load's uncharge.
//! Property: the totals are exact when the threads are done (0 after every entry is
//! loaded back) and no store is refused by a miscounted pool; with one CPU both threads'
//! slots share a cluster and so a shard, its lock and its stripes.
//! Outcomes: the totals are the same in every order, so the model records the order of
//! the two threads' store-and-load ([`vswap_loom_tests::Span`]s): either first, or
//! overlapping.
#![cfg(loom)]

use loom::sync::Arc;
use loom::thread;
use vswap::{CompressionMode, Config, FaultSource, FolioId, MemcgId, Page, Shadow, SwapSystem, Writeout};
use vswap_loom_tests::{Order, Seen, span};

fn run(cpus: usize) {
    let outcomes = Seen::new(&[
        "thread 0 stored and loaded before thread 1",
        "thread 1 stored and loaded before thread 0",
        "the two threads overlapped",
    ]);
    let seen = outcomes.clone();
    vswap_loom_tests::model(move || {
        let mut cfg: Config = vswap_loom_tests::tiny_config();
        cfg.cpus = cpus;
        cfg.ram_pages = 8;
        cfg.zswap.max_pool_percent = 100;
        cfg.zswap.compressor = CompressionMode::Synthetic;
        let sys = Arc::new(SwapSystem::new(cfg).unwrap());
        let slots: Vec<_> = (0..2u64)
            .map(|i| {
                let s = sys.alloc(i as usize % cpus, MemcgId::ROOT, FolioId(i), 0).unwrap();
                sys.dup(s).unwrap();
                s
            })
            .collect();
        let handles: Vec<_> = slots
            .iter()
            .enumerate()
            .map(|(i, &slot)| {
                let sys = sys.clone();
                thread::spawn(move || {
                    span(|| {
                        let page = Page::Synthetic { compressed_len: 1500 + i as u32, zero: false };
                        let w = sys.writeout(slot, page).unwrap();
                        assert_eq!(
                            w,
                            Writeout::Zswap { compressed: 1500 + i as u32 },
                            "an 8-page pool refused a store"
                        );
                        sys.evict(slot, Shadow(i as u64)).unwrap();
                        let f = sys.fault(i % cpus, slot, FolioId(8 + i as u64), None).unwrap();
                        assert_eq!(f.source, FaultSource::Zswap);
                    })
                    .1
                })
            })
            .collect();
        let spans: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        seen.mark(match spans[0].order(spans[1]) {
            Order::Before => "thread 0 stored and loaded before thread 1",
            Order::After => "thread 1 stored and loaded before thread 0",
            _ => "the two threads overlapped",
        });
        let st = sys.stat();
        assert_eq!((st.pool_total_size, st.stored_pages, st.zswpout, st.zswpin), (0, 0, 2, 2));
        assert_eq!(sys.memcg_stat(MemcgId::ROOT).unwrap().zswap_current, 0);
    });
    outcomes.check();
}

#[test]
fn pool_size_is_exact_with_two_cpus() {
    run(2);
}

#[test]
fn pool_size_is_exact_when_both_fold_one_stripe() {
    run(1);
}
