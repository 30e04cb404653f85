//! Model (b): a lock-free lookup racing with the last free of a slot and the retirement
//! of its cluster.
//!
//! Protocol: `state` pins the system's epoch, walks the directory (epoch-protected
//! pointers) to the cluster and loads the slot's table word; a missing cluster reads as
//! Free. The last `put` of a swapped-out slot CASes its word to 0, uncounts it in the
//! cluster's meta word and, the cluster being unowned (the CPU caches were drained) and
//! now empty, flips it to DEAD, unlinks it (and its now-empty leaf) from the directory
//! under the lists lock and hands it to the epoch collector, which frees it only after
//! every reader pinned before the unlink has unpinned.
//! Property: the reader sees either the live value (SwappedOut, shadow 9, count 1, no
//! backing) or Free, never anything else; once it has seen Free it never sees the slot
//! live again under the same pin; after the race the slot is Free, nothing is in use and
//! no cluster is live.
//! Outcomes: the reader sees the slot live or Free; the pinned reader reads live twice,
//! live then Free (the free and the retirement ran between its reads), or Free twice;
//! never Free then live.
//!
//! What loom can and cannot show here: the reader's pin, the unlink and the retirement
//! run on loom-modelled atomics (crossbeam-epoch is built with `--cfg crossbeam_loom`), so
//! every interleaving of the directory walk with the unlink is explored, and a reader that
//! reached the cluster before the unlink must still find a valid word there (it reads the
//! live value or Free, never garbage). Loom does not poison freed memory, and the deferred
//! free itself does not run inside these executions (crossbeam-epoch frees a bag only in a
//! collection two epoch advances after the retiring thread sealed it; in an experiment a
//! retired table was still unfreed after the retiring thread exited and three fresh
//! threads pinned once each), so a use-after-free is not detected directly: the models
//! check the unlink / lookup protocol, and rely on the epoch for the free.
// Only meaningful under `--cfg loom`: without it vswap runs on std atomics, which a
// loom model cannot schedule. `cargo test --workspace` builds these files as no tests.
#![cfg(loom)]

use loom::sync::Arc;
use loom::thread;
use vswap::{Backing, FolioId, MemcgId, Shadow, SlotState, SwapSystem, VSlot};
use vswap_loom_tests::{Seen, tiny};

const LIVE: SlotState = SlotState::SwappedOut { shadow: Shadow(9), count: 1, backing: Backing::None };

/// A swapped-out slot with count 1 in a cluster no CPU owns.
fn setup() -> (Arc<SwapSystem>, VSlot) {
    let sys = Arc::new(tiny());
    let slot = sys.alloc(0, MemcgId::ROOT, FolioId(3), 0).unwrap();
    assert_eq!(sys.dup(slot), Ok(1));
    sys.swap_cache_del(slot, Shadow(9)).unwrap();
    sys.drain_cpu_caches();
    assert_eq!(sys.state(slot).unwrap(), LIVE);
    assert_eq!(sys.stat().clusters_live, 1);
    (sys, slot)
}

fn check_after(sys: &SwapSystem, slot: VSlot) {
    assert_eq!(sys.state(slot).unwrap(), SlotState::Free);
    let st = sys.stat();
    assert_eq!(st.vslots_in_use, 0);
    assert_eq!(st.clusters_live, 0, "the emptied cluster was not retired");
}

fn check_seen(s: SlotState) {
    assert!(s == LIVE || s == SlotState::Free, "reader saw {s:?}");
}

fn name(s: SlotState) -> &'static str {
    if s == LIVE { "live" } else { "Free" }
}

#[test]
fn state_races_last_put_and_retirement() {
    let outcomes = Seen::new(&["the reader saw live", "the reader saw Free"]);
    let seen = outcomes.clone();
    vswap_loom_tests::model(move || {
        let (sys, slot) = setup();
        let reader = {
            let sys = sys.clone();
            thread::spawn(move || sys.state(slot).unwrap())
        };
        let putter = {
            let sys = sys.clone();
            thread::spawn(move || sys.put(slot))
        };
        let read = reader.join().unwrap();
        check_seen(read);
        seen.mark(if read == LIVE { "the reader saw live" } else { "the reader saw Free" });
        assert_eq!(putter.join().unwrap(), Ok(0));
        check_after(&sys, slot);
    });
    outcomes.check();
}

/// The reader under one pin (`SwapSystem::pin`), reading twice.
fn pinned_reader(sys: Arc<SwapSystem>, slot: VSlot) -> (SlotState, SlotState) {
    let p = sys.pin();
    let first = p.state(slot).unwrap();
    let second = p.state(slot).unwrap();
    (first, second)
}

#[test]
fn pinned_reader_reads_twice_across_retirement() {
    let outcomes = Seen::new(&["live, then live", "live, then Free", "Free, then Free"]).never(&["Free, then live"]);
    let seen = outcomes.clone();
    vswap_loom_tests::model(move || {
        let (sys, slot) = setup();
        let reader = {
            let sys = sys.clone();
            thread::spawn(move || pinned_reader(sys, slot))
        };
        let putter = {
            let sys = sys.clone();
            thread::spawn(move || sys.put(slot))
        };
        let (first, second) = reader.join().unwrap();
        check_seen(first);
        check_seen(second);
        seen.mark(&format!("{}, then {}", name(first), name(second)));
        assert_eq!(putter.join().unwrap(), Ok(0));
        check_after(&sys, slot);
    });
    outcomes.check();
}
