//! Models (g, h): the swap cache's large-folio transitions racing a `put` on one of the
//! folio's slots.
//!
//! Protocol: `swap_cache_del` of an order-1 folio locks each slot (the per-slot lock bit,
//! CAS, ascending), then writes a shadow where a count remains and frees the rest;
//! `swap_cache_add_folio` turns each Shadow into Cached+locked in ascending order and
//! restores the originals if a later slot does not fit (`NonUniformFolio`). `put` waits while a word
//! is locked, then is one CAS.
//! Properties: (g) delete vs put ends in the same state in every order: the put returns 0,
//! the untouched slot keeps its shadow and count, the put slot is Free, and when no count
//! is left both are Free and a drained cluster is retired. (h) add vs put ends in exactly
//! one of the two sequential outcomes: the folio cached on both slots with the put slot at
//! count 0, or the add refused with `NonUniformFolio`, the head restored to its shadow and the put
//! slot freed; never a half-added folio.
//! Outcomes: (g) the end state is the same in every order, so the model records the
//! order itself (a [`vswap_loom_tests::Span`] of each call): the put returned before the
//! delete began, or while the delete ran (between its slots, or after waiting on a
//! locked word), or the delete ran entirely within the put (the put was preempted before
//! its CAS). The put runs on the model's thread right after the spawn, with no
//! scheduling point between, so it always begins first. Returning while the delete runs
//! takes two preemptions (the put's, then the delete's while it holds a slot lock), so
//! the file's models run at bound 2 (under a second each). (h) either sequential
//! outcome: the add reaches the tail first, or the put frees it first (the add may have
//! taken the head already, and restores it).
// Only meaningful under `--cfg loom`: without it vswap runs on std atomics, which a
// loom model cannot schedule. `cargo test --workspace` builds these files as no tests.
#![cfg(loom)]

use loom::sync::Arc;
use loom::thread;
use vswap::{Backing, Error, FolioId, MemcgId, Shadow, SlotState, SwapSystem, VSlot};
use vswap_loom_tests::{Order, Seen, facade_preemptions, span, tiny};

/// An order-1 folio at `head` with counts `counts`, still cached.
fn folio(counts: [u32; 2], drained: bool) -> (Arc<SwapSystem>, VSlot, VSlot) {
    let sys = Arc::new(tiny());
    let head = sys.alloc(0, MemcgId::ROOT, FolioId(8), 1).unwrap();
    let tail = VSlot::from_raw(head.raw() + 1);
    for (slot, n) in [(head, counts[0]), (tail, counts[1])] {
        for _ in 0..n {
            sys.dup(slot).unwrap();
        }
    }
    if drained {
        sys.drain_cpu_caches();
    }
    (sys, head, tail)
}

fn swapped(count: u32) -> SlotState {
    SlotState::SwappedOut { shadow: Shadow(5), count, backing: Backing::None }
}

fn del_vs_put(head_count: u32, drained: bool) {
    let outcomes = Seen::new(&[
        "the put returned before the delete began",
        "the put returned while the delete ran",
        "the delete ran within the put",
    ]);
    let seen = outcomes.clone();
    vswap_loom_tests::model_with_preemptions(facade_preemptions().max(2), move || {
        let (sys, head, tail) = folio([head_count, 1], drained);
        let del = {
            let sys = sys.clone();
            thread::spawn(move || span(|| sys.swap_cache_del(head, Shadow(5))))
        };
        let (put, put_span) = span(|| sys.put(tail));
        let (deleted, del_span) = del.join().unwrap();
        seen.mark(match put_span.order(del_span) {
            Order::Before => "the put returned before the delete began",
            Order::Overlaps => "the put returned while the delete ran",
            Order::Contains => "the delete ran within the put",
            _ => "the delete began first",
        });
        assert_eq!(deleted, Ok(()));
        assert_eq!(put, Ok(0));
        assert_eq!(sys.state(tail).unwrap(), SlotState::Free);
        if head_count == 0 {
            assert_eq!(sys.state(head).unwrap(), SlotState::Free);
            assert_eq!(sys.stat().vslots_in_use, 0);
            if drained {
                assert_eq!(sys.stat().clusters_live, 0);
            }
        } else {
            assert_eq!(sys.state(head).unwrap(), swapped(head_count));
            assert_eq!(sys.stat().vslots_in_use, 1);
        }
    });
    outcomes.check();
}

#[test]
fn deleting_a_large_folio_while_a_count_remains_keeps_that_slots_shadow() {
    del_vs_put(1, false);
}

#[test]
fn deleting_a_large_folio_whose_last_count_is_put_meanwhile_frees_it_all() {
    del_vs_put(0, true);
}

#[test]
fn adding_a_large_folio_is_all_or_nothing_against_a_put() {
    let outcomes = Seen::new(&[
        "the add reached the tail first: the folio is cached on both slots",
        "the put freed the tail first: the add is refused, the head restored",
    ]);
    let seen = outcomes.clone();
    vswap_loom_tests::model_with_preemptions(facade_preemptions().max(2), move || {
        let (sys, head, tail) = folio([1, 1], false);
        sys.swap_cache_del(head, Shadow(5)).unwrap();
        let add = {
            let sys = sys.clone();
            thread::spawn(move || sys.swap_cache_add_folio(head, FolioId(16), 1))
        };
        let put = sys.put(tail);
        match add.join().unwrap() {
            Ok(()) => {
                assert_eq!(put, Ok(0));
                assert_eq!(sys.state(head).unwrap(), SlotState::Cached { folio: FolioId(16), count: 1 });
                assert_eq!(sys.state(tail).unwrap(), SlotState::Cached { folio: FolioId(16), count: 0 });
                assert_eq!(sys.stat().vslots_in_use, 2);
                seen.mark("the add reached the tail first: the folio is cached on both slots");
            }
            Err(Error::NonUniformFolio) => {
                assert_eq!(put, Ok(0));
                assert_eq!(sys.state(head).unwrap(), swapped(1), "the head is restored");
                assert_eq!(sys.state(tail).unwrap(), SlotState::Free);
                assert_eq!(sys.stat().vslots_in_use, 1);
                seen.mark("the put freed the tail first: the add is refused, the head restored");
            }
            other => panic!("add returned {other:?}"),
        }
    });
    outcomes.check();
}
