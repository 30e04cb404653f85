//! Model (p): proactive writeback of a subtree and the global shrink worker on the same
//! entries.
//!
//! Protocol: each walk pops the oldest element of the memcg's LRU under the LRU lock,
//! checks it against the pool (same handle, same `seq`), rotates it to the tail and drops
//! the lock before writing the entry back. `writeback_entry` holds the slot with its own
//! swap-cache folio (another holder: `InSwapCache`), re-checks that the backend word still
//! names the handle and the entry the slot, and swaps the backend word from the handle
//! to the physical slot with a CAS before freeing the entry. So two walks that both
//! picked an entry race on the slot's cache bit and then on the backend word: one
//! writes, the other fails (`InSwapCache` or `NotInZswap`), and a later walk finds the element
//! dead.
//! Setup: root with child A holding two lz4-compressed pages in zswap; a pool of 2 pages
//! accepting at 0 and started proactively, so the first store queued the worker and it
//! writes until the pool is empty. One thread runs the worker (it walks the root's empty
//! list, then A's, with the root's cursor); the other `proactive_writeback(A, ..)` with
//! a budget of both entries' compressed bytes (A's own cursor).
//! Property: between them the walks write both entries, none twice: the walks' own
//! counts add up to the entries that left zswap (`written_back_pages`, `zswpwb`,
//! `pswpout`, `stored_pages`, `pool_total_size`, the device's used slots, the memcg's
//! `swap_current`, `zswap_current` and `zswpwb_proactive_bytes`), every slot has exactly
//! one backing (zswap, or one physical slot and no entry), the LRU lists exactly the
//! entries still in zswap, and a fault of each slot returns its own bytes from the
//! backing the slot shows.
//! Outcomes: the proactive walk writes both (the worker finds the pool below accept, or
//! fails 16 times on slots the proactive writeback holds), each writes one (the worker
//! stopping either way), or the worker writes both.
// Only meaningful under `--cfg loom`: without it vswap runs on std atomics, which a
// loom model cannot schedule. `cargo test --workspace` builds these files as no tests.
#![cfg(loom)]

use loom::sync::Arc;
use loom::thread;
use vswap::{
    Backing, CompressionMode, DeviceSpec, Error, FaultSource, FolioId, MemcgId, Page, Shadow, ShrinkStop, SlotState,
    SwapSystem, Writeout,
};
use vswap_loom_tests::{Seen, pattern, queued_worker_config};

#[test]
fn proactive_races_worker() {
    let outcomes = Seen::new(&[
        "proactive wrote both, the worker stopped below accept",
        "proactive wrote both, the worker failed 16 times",
        "one each, the worker stopped below accept",
        "one each, the worker failed 16 times",
        "the worker wrote both",
    ]);
    let seen = outcomes.clone();
    vswap_loom_tests::model(move || {
        // A pool of 2 pages accepting at 0: the first store queues the worker.
        let sys = Arc::new(SwapSystem::new(queued_worker_config()).unwrap());
        assert_eq!(sys.config().zswap.compressor, CompressionMode::Lz4);
        let dev = sys.swapon(DeviceSpec::memory("swap0", 4)).unwrap();
        let a = sys.memcg_create(MemcgId::ROOT).unwrap();
        // (slot, compressed length), oldest first.
        let entries: Vec<_> = (0..2u8)
            .map(|i| {
                let s = sys.alloc(0, a, FolioId(20 + u64::from(i)), 0).unwrap();
                assert_eq!(sys.dup(s), Ok(1));
                let Ok(Writeout::Zswap { compressed }) = sys.writeout(s, Page::Bytes(&pattern(i))) else {
                    panic!("not stored in zswap")
                };
                sys.evict(s, Shadow(2)).unwrap();
                (s, u64::from(compressed))
            })
            .collect();
        let budget: u64 = entries.iter().map(|&(_, len)| len).sum();
        assert!(sys.shrink_worker_pending());

        let worker = {
            let sys = sys.clone();
            thread::spawn(move || sys.run_shrink_worker())
        };
        let pro = {
            let sys = sys.clone();
            thread::spawn(move || sys.proactive_writeback(a, budget))
        };
        let r = worker.join().unwrap();
        let p = pro.join().unwrap();

        // What each wrote, by its own account. The worker stops below accept, or after
        // 16 failures: walks that found a slot held by the proactive writeback (`InSwapCache`).
        assert!(matches!(r.stop, ShrinkStop::BelowAccept | ShrinkStop::Failures), "{r:?}");
        match &r.by_memcg[..] {
            [] => assert_eq!(r.written, 0, "{r:?}"),
            [(m, n)] if *m == a => assert_eq!(*n, r.written, "{r:?}"),
            _ => panic!("worker: {r:?}"),
        }
        let p_bytes = match p {
            Ok(n) => {
                assert_eq!(n, budget);
                n
            }
            Err(Error::Again { written }) => written,
            Err(e) => panic!("proactive writeback: {e:?}"),
        };

        // Where each page is now: one backing each.
        let mut zswapped = Vec::new();
        let (mut on_device, mut device_bytes) = (0, 0);
        for &(s, len) in &entries {
            match sys.state(s).unwrap() {
                SlotState::SwappedOut { backing: Backing::Device(d), count: 1, shadow: Shadow(2) } if d == dev => {
                    on_device += 1;
                    device_bytes += len;
                }
                SlotState::SwappedOut { backing: Backing::Zswap, count: 1, shadow: Shadow(2) } => zswapped.push(s),
                st => panic!("slot {s:?} in state {st:?}"),
            }
        }
        // Between them they wrote both: the worker stops below accept only with the pool
        // empty, and fails only on a slot the proactive writeback holds and then writes.
        assert_eq!(on_device, 2, "an entry was left in zswap: worker {r:?}, proactive {p:?}");
        // The walks' bytes are exactly the written entries' (each written once).
        assert_eq!(r.written_bytes + p_bytes, device_bytes, "worker {r:?}, proactive {p:?}");
        let p_pages = match p_bytes {
            0 => 0,
            b if b == budget => 2,
            b if entries.iter().any(|&(_, len)| len == b) => 1,
            b => panic!("proactive writeback wrote {b} bytes: not whole entries"),
        };
        assert_eq!(r.written + p_pages, on_device, "written twice or lost: worker {r:?}, proactive {p:?}");
        let stop = if r.stop == ShrinkStop::BelowAccept {
            "the worker stopped below accept"
        } else {
            "the worker failed 16 times"
        };
        let outcome = match (r.written, p_pages) {
            (0, 2) => format!("proactive wrote both, {stop}"),
            (1, 1) => format!("one each, {stop}"),
            (2, 0) => format!("the worker wrote both{}", if stop.contains("failed") { ", then failed" } else { "" }),
            _ => unreachable!("checked above"),
        };
        seen.mark_with(&outcome, || format!("worker {r:?}, proactive {p:?}"));
        let st = sys.stat();
        assert_eq!(
            (st.written_back_pages, st.zswpwb, st.pswpout, st.stored_pages, st.pool_total_size),
            (on_device, on_device, on_device, 2 - on_device, budget - device_bytes),
            "worker {r:?}, proactive {p:?}: {st:?}"
        );
        // The device's header page and the written slots.
        assert_eq!(sys.device_stat(dev).unwrap().used, 1 + on_device, "a physical slot leaked or was shared");
        let mut lru = sys.zswap_lru(a).unwrap();
        lru.sort();
        assert_eq!(lru, zswapped, "the LRU disagrees with the slots");
        let m = sys.memcg_stat(a).unwrap();
        assert_eq!(
            (m.swap_current, m.zswap_current, m.zswpwb, m.zswpwb_proactive_bytes),
            (4096 * on_device, budget - device_bytes, on_device, p_bytes),
            "{m:?}"
        );

        for (i, &(s, _)) in entries.iter().enumerate() {
            let mut buf = vec![0u8; vswap::PAGE_SIZE];
            let f = sys.fault(0, s, FolioId(30 + i as u64), Some(&mut buf)).unwrap();
            let want = if zswapped.contains(&s) { FaultSource::Zswap } else { FaultSource::Device(dev) };
            assert_eq!(f.source, want);
            assert!(buf == pattern(i as u8), "slot {s:?} reads the wrong bytes");
        }
    });
    outcomes.check();
}
