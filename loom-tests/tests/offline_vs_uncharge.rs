//! Model (m): a memcg going offline while its last slots are freed.
//!
//! Protocol: `memcg_offline` clears the online flag under the tree lock and drops the
//! online reference; freeing a slot (`put` to 0 on a swapped-out slot) runs the free hook,
//! which releases the backend (a zswap entry: uncharge `zswap` up the tree and drop the
//! entry's reference; a physical slot: uncharge `swap` up the tree) and then drops the
//! slot's reference. Whoever drops the last reference removes the memcg, folds its
//! statistics into the parent and frees its id.
//! Property: afterwards the parent's hierarchical `swap_current` and `zswap_current` are
//! exactly 0, the events survive the fold (`zswpout`, `pswpout`), the child is gone, and
//! its id is the lowest free one again.
//! Outcomes: the end state is the same in every order, so the model records the order of
//! the calls ([`vswap_loom_tests::Span`]s): offline before both puts (the second put drops
//! the last reference), after both (offline drops it), or overlapping one of them. (Not
//! "between the puts": the thread makes them back to back, with no scheduling point
//! between, so offline running there shows as overlapping one.)
// Only meaningful under `--cfg loom`: without it vswap runs on std atomics, which a
// loom model cannot schedule. `cargo test --workspace` builds these files as no tests.
#![cfg(loom)]

use loom::sync::Arc;
use loom::thread;
use vswap::{Backing, DeviceSpec, Error, FolioId, MemcgId, Page, Shadow, SlotState, Writeout};
use vswap_loom_tests::{Order, Seen, span, tiny};

const PAGE: Page<'static> = Page::Synthetic { compressed_len: 1000, zero: false };

#[test]
fn offline_races_last_uncharges() {
    let outcomes = Seen::new(&["offline before both puts", "offline after both puts", "offline overlapping a put"]);
    let seen = outcomes.clone();
    vswap_loom_tests::model(move || {
        let sys = Arc::new(tiny());
        let dev = sys.swapon(DeviceSpec::memory("swap0", 4)).unwrap();
        let child = sys.memcg_create(MemcgId::ROOT).unwrap();
        // Two swapped-out slots of the child: one written back to the device, one in zswap.
        let slots: Vec<_> = (0..2)
            .map(|i| {
                let s = sys.alloc(0, child, FolioId(20 + i), 0).unwrap();
                assert_eq!(sys.dup(s), Ok(1));
                assert_eq!(sys.writeout(s, PAGE), Ok(Writeout::Zswap { compressed: 1000 }));
                sys.evict(s, Shadow(2)).unwrap();
                s
            })
            .collect();
        sys.writeback(slots[0]).unwrap();
        assert!(
            matches!(sys.state(slots[0]).unwrap(), SlotState::SwappedOut { backing: Backing::Device(d), .. } if d == dev)
        );
        let root = sys.memcg_stat(MemcgId::ROOT).unwrap();
        assert_eq!((root.swap_current, root.zswap_current), (4096, 1000));

        let a = {
            let sys = sys.clone();
            thread::spawn(move || span(|| sys.memcg_offline(child)))
        };
        let b = {
            let sys = sys.clone();
            let slots = slots.clone();
            thread::spawn(move || slots.iter().map(|&s| span(|| sys.put(s))).collect::<Vec<_>>())
        };
        let (off, off_span) = a.join().unwrap();
        assert_eq!(off, Ok(()));
        let puts = b.join().unwrap();
        assert_eq!([&puts[0].0, &puts[1].0], [&Ok(0), &Ok(0)]);
        seen.mark(match (off_span.order(puts[0].1), off_span.order(puts[1].1)) {
            (Order::Before, Order::Before) => "offline before both puts",
            (Order::After, Order::After) => "offline after both puts",
            _ => "offline overlapping a put",
        });

        for &s in &slots {
            assert_eq!(sys.state(s).unwrap(), SlotState::Free);
        }
        let root = sys.memcg_stat(MemcgId::ROOT).unwrap();
        assert_eq!(root.swap_current, 0, "swap charge left: {root:?}");
        assert_eq!(root.zswap_current, 0, "zswap charge left: {root:?}");
        assert_eq!((root.zswpout, root.zswpwb, root.pswpout), (2, 1, 1), "events lost in the fold: {root:?}");
        assert_eq!(sys.memcg_stat(child), Err(Error::InvalidMemcg), "the child outlived its references");
        assert_eq!(sys.device_stat(dev).unwrap().used, 1);
        let st = sys.stat();
        assert_eq!((st.stored_pages, st.pool_total_size, st.vslots_in_use), (0, 0, 0));
        assert_eq!(sys.memcg_create(MemcgId::ROOT), Ok(child), "the child's id was not freed");
    });
    outcomes.check();
}
