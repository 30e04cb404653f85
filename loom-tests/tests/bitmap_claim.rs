//! Model (a1): concurrent claims on one cluster's allocation bitmap.
//!
//! Protocol: `ClusterBitmap::claim(order)` loads a bitmap word, picks the lowest naturally
//! aligned run of `2^order` clear bits and sets it with one CAS, retrying on conflict.
//! Property: two concurrent claims on a 4-slot bitmap both succeed (there is room for an
//! order-0 and an order-1 run in every interleaving), each result is aligned to its order,
//! the claimed runs are disjoint, and afterwards exactly their bits are set.
//! Outcomes: either claim may go first (the lowest aligned run goes to whichever CASes
//! first); a whole-cluster claim against a single-slot claim either takes both words, or
//! loses word 0 to the single slot, or takes word 0, loses word 1 and rolls word 0 back.
// Only meaningful under `--cfg loom`: without it vswap runs on std atomics, which a
// loom model cannot schedule. `cargo test --workspace` builds these files as no tests.
#![cfg(loom)]

use loom::sync::Arc;
use loom::thread;
use vswap::table::ClusterBitmap;
use vswap_loom_tests::Seen;

/// Claims of `orders` from threads 0 and 1; the outcome is where each landed.
fn run(orders: [u32; 2], outcomes: Seen) {
    let seen = outcomes.clone();
    loom::model(move || {
        let b = Arc::new(ClusterBitmap::new(2));
        let hs: Vec<_> = orders
            .iter()
            .map(|&o| {
                let b = b.clone();
                thread::spawn(move || b.claim(o))
            })
            .collect();
        let got: Vec<usize> = hs.into_iter().map(|h| h.join().unwrap().expect("room for both claims")).collect();
        let mut bits = 0u64;
        for (&o, &first) in orders.iter().zip(&got) {
            assert_eq!(first % (1 << o), 0, "order-{o} claim at {first} not aligned");
            assert!(first + (1 << o) <= 4, "claim past the cluster");
            let run = ((1u64 << (1 << o)) - 1) << first;
            assert_eq!(bits & run, 0, "claims overlap: {got:?} for orders {orders:?}");
            bits |= run;
        }
        for i in 0..4 {
            assert_eq!(b.is_set(i), bits & (1 << i) != 0, "bit {i} after claims {got:?}");
        }
        seen.mark(&format!("thread 0 at {}, thread 1 at {}", got[0], got[1]));
    });
    outcomes.check();
}

#[test]
fn order0_and_order1_claims_are_disjoint_and_aligned() {
    // The order-0 claim takes bit 0 if it goes first, else bit 2 after the pair at 0.
    run([0, 1], Seen::new(&["thread 0 at 0, thread 1 at 2", "thread 0 at 2, thread 1 at 0"]));
}

#[test]
fn two_order0_claims_are_distinct() {
    run([0, 0], Seen::new(&["thread 0 at 0, thread 1 at 1", "thread 0 at 1, thread 1 at 0"]));
}

#[test]
fn two_order1_claims_take_both_halves() {
    run([1, 1], Seen::new(&["thread 0 at 0, thread 1 at 2", "thread 0 at 2, thread 1 at 0"]));
}

/// Claims of whole words (order >= 6) take each word 0 -> !0 in ascending order and roll
/// back when a later word is taken: two claims over a 128-slot bitmap.
fn whole_words(a: u32, b: u32) -> (Option<usize>, Option<usize>, vswap::table::ClusterBitmap) {
    let bm = std::sync::Arc::new(vswap::table::ClusterBitmap::new(7));
    let other = {
        let bm = bm.clone();
        loom::thread::spawn(move || bm.claim(b))
    };
    let mine = bm.claim(a);
    let theirs = other.join().unwrap();
    let bm = std::sync::Arc::try_unwrap(bm).ok().expect("both threads joined");
    (mine, theirs, bm)
}

#[test]
fn a_whole_cluster_claim_and_a_single_slot_claim_one_wins_and_the_loser_leaves_nothing() {
    let outcomes = Seen::new(&[
        "the whole claim took both words",
        "the single slot took bit 0 first",
        "the whole claim took word 0, lost word 1 to the single slot and rolled back",
    ])
    .never(&["both claims failed", "both claims succeeded"]);
    let seen = outcomes.clone();
    loom::model(move || {
        let (whole, single, bm) = whole_words(7, 0);
        seen.mark(match (whole, single) {
            (Some(0), None) => {
                assert!(bm.is_set(0) && bm.is_set(64) && bm.is_set(127));
                "the whole claim took both words"
            }
            (None, Some(s)) => {
                assert!(s == 0 || s == 64, "single slot at {s}");
                let other_word = if s == 0 { 64 } else { 0 };
                assert!(bm.is_set(s) && !bm.is_set(s + 1) && !bm.is_set(other_word), "rolled back");
                if s == 0 {
                    "the single slot took bit 0 first"
                } else {
                    "the whole claim took word 0, lost word 1 to the single slot and rolled back"
                }
            }
            (None, None) => "both claims failed",
            (Some(_), Some(_)) => "both claims succeeded",
            got => panic!("whole/single claims returned {got:?}"),
        });
    });
    outcomes.check();
}

#[test]
fn two_half_cluster_claims_take_the_two_words() {
    let outcomes = Seen::new(&["the main thread took word 0", "the main thread took word 1"]);
    let seen = outcomes.clone();
    loom::model(move || {
        let (a, b, bm) = whole_words(6, 6);
        let mut got = [a.expect("room for both"), b.expect("room for both")];
        seen.mark(if got[0] == 0 { "the main thread took word 0" } else { "the main thread took word 1" });
        got.sort_unstable();
        assert_eq!(got, [0, 64]);
        assert!(bm.is_set(0) && bm.is_set(127));
        assert_eq!(bm.claim(0), None);
    });
    outcomes.check();
}
