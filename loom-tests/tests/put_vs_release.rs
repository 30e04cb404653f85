//! Model (d): `put` racing with `release` (`folio_free_swap`) on a cached slot.
//!
//! Protocol: `put` on a Cached word with count 1 CASes the count to 0 and leaves the folio
//! cached; `release` on a Cached order-0 word returns `Ok(false)` while the count is
//! non-zero, else CASes the word to Free (0) and frees the slot (bitmap, cluster count,
//! and, for a cluster no CPU owns, its retirement).
//! Property: across the racing `release` and one more `release` after the join (made only
//! if the slot is not yet free) exactly one returns `Ok(true)`; `put` returns `Ok(0)`; the
//! slot ends Free with nothing in use, and in the drained variant the cluster is retired.
//! Outcomes: the put first (the racing release frees the slot), or the release first (it
//! finds the count and keeps the slot; the release after the join frees it).
// Only meaningful under `--cfg loom`: without it vswap runs on std atomics, which a
// loom model cannot schedule. `cargo test --workspace` builds these files as no tests.
#![cfg(loom)]

use loom::sync::Arc;
use loom::thread;
use vswap::{FolioId, MemcgId, SlotState};
use vswap_loom_tests::{Seen, tiny};

fn run(drained: bool) {
    let outcomes = Seen::new(&["put first: the racing release frees the slot", "release first: it finds the count"])
        .never(&["two releases freed the slot", "no release freed the slot"]);
    let seen = outcomes.clone();
    vswap_loom_tests::model(move || {
        let sys = Arc::new(tiny());
        let slot = sys.alloc(0, MemcgId::ROOT, FolioId(5), 0).unwrap();
        assert_eq!(sys.dup(slot), Ok(1));
        if drained {
            sys.drain_cpu_caches();
        }
        let a = {
            let sys = sys.clone();
            thread::spawn(move || sys.put(slot))
        };
        let b = {
            let sys = sys.clone();
            thread::spawn(move || sys.release(slot))
        };
        assert_eq!(a.join().unwrap(), Ok(0));
        let mut results = vec![b.join().unwrap()];
        if sys.state(slot).unwrap() != SlotState::Free {
            assert_eq!(sys.state(slot).unwrap(), SlotState::Cached { folio: FolioId(5), count: 0 });
            results.push(sys.release(slot));
        }
        let outcome = match results.iter().filter(|r| **r == Ok(true)).count() {
            1 if results.len() == 1 => "put first: the racing release frees the slot",
            1 => "release first: it finds the count",
            0 => "no release freed the slot",
            _ => "two releases freed the slot",
        };
        seen.mark_with(outcome, || format!("results {results:?}"));
        assert!(results.iter().all(|r| r.is_ok()), "results {results:?}");
        assert_eq!(sys.state(slot).unwrap(), SlotState::Free);
        assert_eq!(sys.stat().vslots_in_use, 0);
        if drained {
            assert_eq!(sys.stat().clusters_live, 0, "the emptied cluster was not retired");
        }
    });
    outcomes.check();
}

#[test]
fn put_races_release_in_owned_cluster() {
    run(false);
}

#[test]
fn put_races_release_and_retirement() {
    run(true);
}
