//! Model (a1): concurrent claims on one cluster's allocation bitmap.
//!
//! Protocol: `ClusterBitmap::claim(order)` loads a bitmap word, picks the lowest naturally
//! aligned run of `2^order` clear bits and sets it with one CAS, retrying on conflict.
//! Property: two concurrent claims on a 4-slot bitmap both succeed (there is room for an
//! order-0 and an order-1 run in every interleaving), each result is aligned to its order,
//! the claimed runs are disjoint, and afterwards exactly their bits are set.
// Only meaningful under `--cfg loom`: without it vswap runs on std atomics, which a
// loom model cannot schedule. `cargo test --workspace` builds these files as no tests.
#![cfg(loom)]

use loom::sync::Arc;
use loom::thread;
use vswap::table::ClusterBitmap;

fn run(orders: [u32; 2]) {
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
    });
}

#[test]
fn order0_and_order1_claims_are_disjoint_and_aligned() {
    run([0, 1]);
}

#[test]
fn two_order0_claims_are_distinct() {
    run([0, 0]);
}

#[test]
fn two_order1_claims_take_both_halves() {
    run([1, 1]);
}
