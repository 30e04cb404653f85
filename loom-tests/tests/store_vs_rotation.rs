//! Model (q): a zswap store into a memcg racing with `shrink_memcg` rotating that
//! memcg's LRU.
//!
//! Protocol: `zswap_store` inserts the entry in the pool, charges it, publishes its
//! handle in the slot's backend word and only then appends `(handle, seq)` to the LRU
//! of the memcg (`lru_of`: its own list, or the one it was reparented to), counting it in
//! `live`, under the LRU lock. The walk reads its cap (`min(nr, live)`) under the LRU
//! lock, then for each step pops the oldest element, checks it against the pool (same
//! handle and `seq`: live), clears a referenced entry's bit and rotates the element to
//! the tail, all under one hold of the lock; it writes an unreferenced entry back after
//! dropping the lock, and freeing the entry takes it out of `live` (its element stays
//! behind, dead, until a walk drops it).
//! Setup: memcg A with two synthetic 4096-byte entries E1, E2 (stored referenced). The
//! first test rotates while all are referenced (second chances only); the second first
//! walks one step, so E1 has had its second chance and the racing walk writes it back.
//! One thread stores a third page E3 (alloc, dup, writeout, evict), the other runs
//! `shrink_memcg(A, 3)`, whose cap is 2 or 3 depending on whether E3 was counted first.
//! Property: afterwards `zswap_lru(A)` holds every live entry exactly once: its slots are
//! exactly those backed by zswap, without duplicates, as many as `stored_pages`, and the
//! LRU's own count (`live`, seen through `shrinker_count`, which here is `live` ×
//! entries / entries) agrees. The walk saw each entry at most once (second chances for
//! the referenced ones, a write for E1 only) and kept the order of what it rotated.
//! Outcomes, told by the cap and by where E3 ends on the list: E3 counted in the cap
//! (appended before the walk read it), appended after the cap but before the first
//! rotation, or after the walk. Never between two rotations: one hold of the LRU lock
//! rotates every entry that gets a second chance (`list_lru_walk_one`), and the walk
//! drops it only to write an entry back (in the second test, after the last step of a
//! cap of 2, so E3 appended then ends last, as after the walk).
// Only meaningful under `--cfg loom`: without it vswap runs on std atomics, which a
// loom model cannot schedule. `cargo test --workspace` builds these files as no tests.
#![cfg(loom)]

use loom::sync::Arc;
use loom::thread;
use vswap::{
    Backing, CompressionMode, DeviceId, DeviceSpec, FolioId, MemcgId, Page, Shadow, ShrinkOutcome, ShrinkResult,
    SlotState, SwapSystem, VSlot, Writeout,
};
use vswap_loom_tests::{Seen, tiny_config};

const PAGE: Page<'static> = Page::Synthetic { compressed_len: 4096, zero: false };

/// Store a page of `cg` in zswap and evict it: its slot.
fn stored(sys: &SwapSystem, cg: MemcgId, folio: u64) -> VSlot {
    let s = sys.alloc(0, cg, FolioId(folio), 0).unwrap();
    assert_eq!(sys.dup(s), Ok(1));
    assert_eq!(sys.writeout(s, PAGE), Ok(Writeout::Zswap { compressed: 4096 }));
    sys.evict(s, Shadow(2)).unwrap();
    s
}

/// A with E1 and E2 in zswap, a device for writeback; `pre` walk steps before the race.
fn setup(pre: u64) -> (Arc<SwapSystem>, DeviceId, MemcgId, [VSlot; 2]) {
    let mut cfg = tiny_config();
    cfg.zswap.compressor = CompressionMode::Synthetic;
    // `shrinker_count` reports the LRU's own count.
    cfg.zswap.shrinker_enabled = true;
    let sys = Arc::new(SwapSystem::new(cfg).unwrap());
    let dev = sys.swapon(DeviceSpec::memory("swap0", 4)).unwrap();
    let a = sys.memcg_create(MemcgId::ROOT).unwrap();
    let e = [stored(&sys, a, 20), stored(&sys, a, 21)];
    if pre > 0 {
        let o = sys.shrink_memcg(a, pre).unwrap();
        assert_eq!((o.scanned, o.second_chances, o.written), (pre, pre, 0));
    }
    (sys, dev, a, e)
}

/// Store E3 against `shrink_memcg(a, 3)`: E3's slot and the walk's outcome.
fn race(sys: &Arc<SwapSystem>, a: MemcgId) -> (VSlot, ShrinkOutcome) {
    let store = {
        let sys = sys.clone();
        thread::spawn(move || stored(&sys, a, 22))
    };
    let walk = {
        let sys = sys.clone();
        thread::spawn(move || sys.shrink_memcg(a, 3).unwrap())
    };
    (store.join().unwrap(), walk.join().unwrap())
}

const COUNTED: &str = "E3 counted in the walk's cap";
const BEFORE_FIRST: &str = "E3 appended after the cap, before the first rotation";
const BETWEEN: &str = "E3 appended between the rotations";
const AFTER: &str = "E3 appended after the walk";

/// The outcome: whether the walk counted E3 in its cap, and where E3 ended on the LRU
/// (`first`, `between`, `after`: its place after the walk when appended before its first
/// step, between its steps, after it).
fn outcome(sys: &SwapSystem, a: MemcgId, e3: VSlot, o: &ShrinkOutcome, places: [usize; 3]) -> &'static str {
    let lru = sys.zswap_lru(a).unwrap();
    let pos = lru.iter().position(|&s| s == e3).expect("E3 on the LRU");
    match (o.scanned, pos) {
        (3, _) => COUNTED,
        (_, p) if p == places[0] => BEFORE_FIRST,
        (_, p) if p == places[2] => AFTER,
        (_, p) if p == places[1] => BETWEEN,
        _ => "E3 out of place",
    }
}

/// The LRU lists exactly the slots backed by zswap, once each, and all counts agree.
fn check_lru(sys: &SwapSystem, a: MemcgId, slots: &[VSlot], o: &ShrinkOutcome) {
    let lru = sys.zswap_lru(a).unwrap();
    let mut sorted = lru.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), lru.len(), "an entry is on the LRU twice: {lru:?}, walk {o:?}");
    let mut zswapped: Vec<VSlot> = slots
        .iter()
        .copied()
        .filter(|&s| matches!(sys.state(s).unwrap(), SlotState::SwappedOut { backing: Backing::Zswap, .. }))
        .collect();
    zswapped.sort();
    assert_eq!(sorted, zswapped, "the LRU and the zswap-backed slots differ: {lru:?}, walk {o:?}");
    let n = lru.len() as u64;
    assert_eq!(sys.stat().stored_pages, n, "walk {o:?}");
    assert_eq!(sys.shrinker_count(a), n, "the LRU's live count is off: {lru:?}, walk {o:?}");
    assert_eq!(sys.memcg_stat(a).unwrap().zswap_current, 4096 * n);
}

#[test]
fn store_races_second_chance_rotation() {
    let outcomes = Seen::new(&[COUNTED, BEFORE_FIRST, AFTER]).never(&[BETWEEN, "E3 out of place"]);
    let seen = outcomes.clone();
    vswap_loom_tests::model(move || {
        let (sys, _dev, a, [e1, e2]) = setup(0);
        let (e3, o) = race(&sys, a);
        // Everything was referenced: each scanned entry got its second chance, none was
        // written, and at most one pass over the list (2 or 3 entries).
        assert!(o.scanned == 2 || o.scanned == 3, "{o:?}");
        assert_eq!((o.second_chances, o.written, o.result), (o.scanned, 0, ShrinkResult::Again), "{o:?}");
        check_lru(&sys, a, &[e1, e2, e3], &o);
        // Rotation keeps the order of the entries it moves: E1 stays ahead of E2.
        let lru = sys.zswap_lru(a).unwrap();
        assert_eq!(lru.len(), 3);
        assert!(lru.iter().position(|&s| s == e1) < lru.iter().position(|&s| s == e2), "{lru:?}");
        // Appended before the first rotation: E3, E1, E2; between: E1, E3, E2.
        seen.mark_with(outcome(&sys, a, e3, &o, [0, 1, 2]), || format!("{lru:?}, walk {o:?}"));
    });
    outcomes.check();
}

#[test]
fn store_races_rotation_with_writeback() {
    // Appended while the walk writes E1 back, E3 lands last, as after the walk.
    let outcomes = Seen::new(&[COUNTED, BEFORE_FIRST, AFTER]).never(&["E3 out of place"]);
    let seen = outcomes.clone();
    vswap_loom_tests::model(move || {
        // E1 had its second chance: the list is E2, E1.
        let (sys, dev, a, [e1, e2]) = setup(1);
        assert_eq!(sys.zswap_lru(a).unwrap(), [e2, e1]);
        let (e3, o) = race(&sys, a);
        // E2 gets its second chance, E1 is written; E3, if counted, gets its chance.
        assert_eq!((o.written, o.result), (1, ShrinkResult::Written), "{o:?}");
        assert!(o.scanned == 2 || o.scanned == 3, "{o:?}");
        assert_eq!(o.second_chances, o.scanned - 1, "{o:?}");
        match sys.state(e1).unwrap() {
            SlotState::SwappedOut { backing: Backing::Device(d), count: 1, .. } if d == dev => {}
            st => panic!("E1 in state {st:?}"),
        }
        check_lru(&sys, a, &[e1, e2, e3], &o);
        assert_eq!(sys.zswap_lru(a).unwrap().len(), 2);
        assert_eq!(sys.stat().written_back_pages, 1);
        // Appended before the first rotation: E3, E2; between the steps or after: E2, E3.
        seen.mark_with(outcome(&sys, a, e3, &o, [0, 1, 1]), || format!("walk {o:?}"));
    });
    outcomes.check();
}
