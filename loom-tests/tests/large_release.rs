//! Model (f): `release` of a large (order-1) folio racing with `dup` on one of its slots.
//!
//! Protocol: `release` of a large folio takes the per-slot lock bit on each slot of the
//! folio in ascending order (CAS), then either finds a count and unlocks (`Ok(false)`) or
//! stores Free in every slot and frees the range (`Ok(true)`). `dup` is a CAS on one word
//! and waits while the word is locked, so it lands before the folio is locked or sees the
//! freed slot.
//! Property: either release `Ok(true)` and dup `Err(NotAllocated)` (both slots Free,
//! nothing in use), or release `Ok(false)` and dup `Ok(1)` (the folio still cached, the
//! dup'ed slot with count 1, the other with 0, two slots in use). Run with dup on the head
//! and on the tail slot, and with the cluster owned by a CPU or drained (so a successful
//! release also retires the cluster under the dup).
//! Outcomes: both of the above (the dup first, or the release first).
// Only meaningful under `--cfg loom`: without it vswap runs on std atomics, which a
// loom model cannot schedule. `cargo test --workspace` builds these files as no tests.
#![cfg(loom)]

use loom::sync::Arc;
use loom::thread;
use vswap::{Error, FolioId, MemcgId, SlotState, VSlot};
use vswap_loom_tests::{Seen, tiny};

fn run(dup_off: u64, drained: bool) {
    let outcomes = Seen::new(&["release first: the dup finds the slot freed", "dup first: the release finds a count"])
        .never(&["the release freed the folio under a successful dup"]);
    let seen = outcomes.clone();
    vswap_loom_tests::model(move || {
        let sys = Arc::new(tiny());
        let head = sys.alloc(0, MemcgId::ROOT, FolioId(2), 1).unwrap();
        assert_eq!(head.raw() % 2, 0);
        if drained {
            sys.drain_cpu_caches();
        }
        let target = VSlot::from_raw(head.raw() + dup_off);
        let a = {
            let sys = sys.clone();
            thread::spawn(move || sys.release(head))
        };
        let b = {
            let sys = sys.clone();
            thread::spawn(move || sys.dup(target))
        };
        let rel = a.join().unwrap();
        let dup = b.join().unwrap();
        let other = VSlot::from_raw(head.raw() + (1 - dup_off));
        match (rel, dup) {
            (Ok(true), Err(Error::NotAllocated)) => {
                assert_eq!(sys.state(head).unwrap(), SlotState::Free);
                assert_eq!(sys.state(other).unwrap(), SlotState::Free);
                assert_eq!(sys.state(target).unwrap(), SlotState::Free);
                assert_eq!(sys.stat().vslots_in_use, 0);
                if drained {
                    assert_eq!(sys.stat().clusters_live, 0);
                }
                seen.mark("release first: the dup finds the slot freed");
            }
            (Ok(false), Ok(1)) => {
                assert_eq!(sys.state(target).unwrap(), SlotState::Cached { folio: FolioId(2), count: 1 });
                assert_eq!(sys.state(other).unwrap(), SlotState::Cached { folio: FolioId(2), count: 0 });
                assert_eq!(sys.stat().vslots_in_use, 2);
                seen.mark("dup first: the release finds a count");
            }
            (Ok(true), Ok(_)) => seen.mark("the release freed the folio under a successful dup"),
            other => panic!("release/dup outcome {other:?}"),
        }
    });
    outcomes.check();
}

#[test]
fn release_races_dup_on_tail() {
    run(1, false);
}

#[test]
fn release_races_dup_on_head() {
    run(0, false);
}

#[test]
fn release_races_dup_on_tail_with_retirement() {
    run(1, true);
}
