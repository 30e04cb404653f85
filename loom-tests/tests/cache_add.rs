//! Model (c): two swap-cache adds on one swapped-out slot.
//!
//! Protocol: `swap_cache_add` (order 0) is one CAS of the table word from a Shadow word to
//! a Cached word that keeps the count and zero flag; a Cached word fails the check with
//! `AlreadyCached`.
//! Property: exactly one add wins, the other gets `Err(AlreadyCached)`, and the slot ends
//! Cached with the winner's folio and the count it had before (1).
//! Outcomes: either add wins the CAS.
// Only meaningful under `--cfg loom`: without it vswap runs on std atomics, which a
// loom model cannot schedule. `cargo test --workspace` builds these files as no tests.
#![cfg(loom)]

use loom::sync::Arc;
use loom::thread;
use vswap::{Error, FolioId, MemcgId, Shadow, SlotState};
use vswap_loom_tests::{Seen, tiny};

#[test]
fn exactly_one_cache_add_wins() {
    let outcomes = Seen::new(&["folio 100 wins", "folio 200 wins"]).never(&["both adds win", "neither add wins"]);
    let seen = outcomes.clone();
    vswap_loom_tests::model(move || {
        let sys = Arc::new(tiny());
        let slot = sys.alloc(0, MemcgId::ROOT, FolioId(1), 0).unwrap();
        assert_eq!(sys.dup(slot), Ok(1));
        sys.swap_cache_del(slot, Shadow(9)).unwrap();
        let hs: Vec<_> = [100u64, 200]
            .into_iter()
            .map(|f| {
                let sys = sys.clone();
                thread::spawn(move || (f, sys.swap_cache_add(slot, FolioId(f))))
            })
            .collect();
        let res: Vec<_> = hs.into_iter().map(|h| h.join().unwrap()).collect();
        let winners: Vec<u64> = res.iter().filter(|(_, r)| r.is_ok()).map(|&(f, _)| f).collect();
        let outcome = match winners[..] {
            [100] => "folio 100 wins",
            [200] => "folio 200 wins",
            [] => "neither add wins",
            _ => "both adds win",
        };
        seen.mark_with(outcome, || format!("{res:?}"));
        for (f, r) in &res {
            if *f != winners[0] {
                assert_eq!(r, &Err(Error::AlreadyCached));
            }
        }
        assert_eq!(sys.state(slot).unwrap(), SlotState::Cached { folio: FolioId(winners[0]), count: 1 });
        assert_eq!(sys.stat().vslots_in_use, 1);
    });
    outcomes.check();
}
