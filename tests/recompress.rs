//! Recompression (issue 6, part 4; zram's `recompress` per memcg subtree): idle entries
//! above a size threshold are compressed again with a higher-priority tier and the new
//! copy is kept only when smaller; the charges follow the new size; young entries are
//! never examined. Synthetic sizes keep these cheap under Miri; one test uses real bytes.

mod common;

use common::*;
use vswap::*;

/// Synthetic sizes: tier 1 as stated, tier 2 at half, tier 3 at double (never smaller).
fn system3() -> SwapSystem {
    system_with(|c| {
        c.zswap.compressor = CompressionMode::Synthetic;
        c.zswap.compression_priorities = vec![
            CompressionPriority::lz4(1),
            CompressionPriority::deflate(2, 6).with_synthetic_permille(500),
            CompressionPriority::deflate(3, 9).with_synthetic_permille(1000),
        ];
    })
}

fn synth(len: u32) -> Page<'static> {
    Page::Synthetic { compressed_len: len, zero: false }
}

fn spec(min_age: Tick, threshold: u32, max_pages: u64, priority: u8) -> RecompressSpec {
    RecompressSpec { min_age, threshold, max_pages, priority }
}

fn tier(sys: &SwapSystem, cg: MemcgId, p: u8) -> (u64, u64) {
    let st = sys.memcg_stat(cg).unwrap();
    let t = st.zswap_priority(p).unwrap();
    (t.entries, t.bytes)
}

#[test]
fn idle_entries_move_to_the_denser_tier_and_their_charges_follow() {
    let sys = system3();
    let cg = sys.memcg_create(MemcgId::ROOT).unwrap();
    let slots: Vec<VSlot> = (1..=4).map(|pfn| stored(&sys, cg, pfn, synth(1000)).0).collect();
    sys.set_tick(10).unwrap();
    let r = sys.recompress(cg, spec(5, 0, 100, 2)).unwrap();
    assert_eq!(r, RecompressReport { examined: 4, attempted: 4, recompressed: 4, saved_bytes: 4 * 500 });
    assert_eq!(tier(&sys, cg, 1), (0, 0));
    assert_eq!(tier(&sys, cg, 2), (4, 2000));
    assert_eq!(sys.memcg_stat(cg).unwrap().zswap_current, 2000);
    let g = sys.stat();
    assert_eq!((g.pool_total_size, g.stored_pages), (2000, 4));
    assert_eq!((g.recompress_attempted, g.recompressed_pages, g.recompress_saved_bytes), (4, 4, 2000));
    // Loads free the new sizes: every counter returns to zero.
    for (i, s) in slots.into_iter().enumerate() {
        sys.fault(0, s, FolioId(100 + i as u64), None).unwrap();
    }
    assert_eq!(sys.memcg_stat(cg).unwrap().zswap_current, 0);
    assert_eq!(tier(&sys, cg, 2), (0, 0));
    assert_eq!(sys.stat().pool_total_size, 0);
}

#[test]
fn a_copy_that_is_not_smaller_is_dropped() {
    let sys = system3();
    let cg = sys.memcg_create(MemcgId::ROOT).unwrap();
    stored(&sys, cg, 1, synth(1000));
    sys.set_tick(10).unwrap();
    let r = sys.recompress(cg, spec(0, 0, 10, 3)).unwrap();
    assert_eq!(r, RecompressReport { examined: 1, attempted: 1, recompressed: 0, saved_bytes: 0 });
    assert_eq!(tier(&sys, cg, 1), (1, 1000));
    assert_eq!(sys.stat().pool_total_size, 1000);
}

#[test]
fn young_entries_are_not_examined() {
    let sys = system3();
    let cg = sys.memcg_create(MemcgId::ROOT).unwrap();
    for pfn in 1..=3 {
        stored(&sys, cg, pfn, synth(1000));
    }
    sys.set_tick(8).unwrap();
    for pfn in 4..=100 {
        stored(&sys, cg, pfn, synth(1000));
    }
    sys.set_tick(10).unwrap();
    let r = sys.recompress(cg, spec(5, 0, 1000, 2)).unwrap();
    assert_eq!((r.examined, r.recompressed), (3, 3), "the idle index stops at the first young entry");
    // Once they age, the rest follow.
    sys.set_tick(13).unwrap();
    assert_eq!(sys.recompress(cg, spec(5, 0, 1000, 2)).unwrap().recompressed, 97);
}

#[test]
fn the_threshold_the_budget_and_the_target_tier_pick_the_candidates() {
    let sys = system3();
    let cg = sys.memcg_create(MemcgId::ROOT).unwrap();
    stored(&sys, cg, 1, synth(300));
    for pfn in 2..=6 {
        stored(&sys, cg, pfn, synth(1000));
    }
    sys.set_tick(1).unwrap();
    // 300 bytes is not above the threshold; the budget stops after two candidates.
    let r = sys.recompress(cg, spec(0, 300, 2, 2)).unwrap();
    assert_eq!((r.examined, r.attempted, r.recompressed), (3, 2, 2));
    // The next call goes on where that one stopped; examined entries are not seen again.
    let r = sys.recompress(cg, spec(0, 300, 100, 2)).unwrap();
    assert_eq!((r.examined, r.recompressed), (3, 3));
    assert_eq!(sys.recompress(cg, spec(0, 0, 100, 2)).unwrap().examined, 0);
    assert_eq!(tier(&sys, cg, 2), (5, 2500));
    assert_eq!(tier(&sys, cg, 1), (1, 300));
    // An entry already at (or above) the target tier is no candidate.
    sys.memcg_set(cg, Knob::ZswapCompressionPriority(Some(2))).unwrap();
    stored(&sys, cg, 7, synth(1000));
    let r = sys.recompress(cg, spec(0, 0, 100, 2)).unwrap();
    assert_eq!((r.examined, r.attempted), (1, 0));
}

#[test]
fn a_subtree_is_recompressed_and_its_siblings_are_not() {
    let sys = system3();
    let parent = sys.memcg_create(MemcgId::ROOT).unwrap();
    let child = sys.memcg_create(parent).unwrap();
    let sibling = sys.memcg_create(MemcgId::ROOT).unwrap();
    for (i, cg) in [parent, child, sibling].into_iter().enumerate() {
        stored(&sys, cg, 1 + i as u64, synth(1000));
    }
    sys.set_tick(1).unwrap();
    assert_eq!(sys.recompress(parent, spec(0, 0, 100, 2)).unwrap().recompressed, 2);
    assert_eq!(tier(&sys, child, 2), (1, 500));
    assert_eq!(tier(&sys, sibling, 1), (1, 1000));
    assert_eq!(sys.memcg_stat(parent).unwrap().zswap_current, 1000, "hierarchical: its own and the child's");
}

#[test]
fn an_offline_childs_entries_are_found_through_its_parent_in_store_order() {
    let sys = system3();
    let parent = sys.memcg_create(MemcgId::ROOT).unwrap();
    let child = sys.memcg_create(parent).unwrap();
    stored(&sys, child, 1, synth(1000));
    sys.set_tick(5).unwrap();
    stored(&sys, parent, 2, synth(1000));
    stored(&sys, child, 3, synth(1000));
    sys.memcg_offline(child).unwrap();
    sys.set_tick(7).unwrap();
    // Idle for 4 ticks: only the child's first entry; the merged index keeps store order.
    let r = sys.recompress(parent, spec(4, 0, 100, 2)).unwrap();
    assert_eq!((r.examined, r.recompressed), (1, 1));
    sys.set_tick(9).unwrap();
    assert_eq!(sys.recompress(parent, spec(4, 0, 100, 2)).unwrap().recompressed, 2);
}

#[test]
fn bad_recompress_arguments_are_typed_errors_and_change_nothing() {
    let sys = system3();
    let cg = sys.memcg_create(MemcgId::ROOT).unwrap();
    stored(&sys, cg, 1, synth(1000));
    // Offline, kept as a zombie by its entry.
    let gone = sys.memcg_create(MemcgId::ROOT).unwrap();
    stored(&sys, gone, 2, synth(1000));
    sys.memcg_offline(gone).unwrap();
    sys.set_tick(3).unwrap();
    let before = (sys.stat(), sys.memcg_stat(cg).unwrap());
    for (s, why) in [
        (spec(0, 0, 0, 2), "a zero budget"),
        (spec(0, PAGE_SIZE as u32, 10, 2), "a threshold of a page"),
        (spec(0, 0, 10, 4), "no compressor at priority 4"),
        (spec(0, 0, 10, 0), "priority 0"),
        (spec(4, 0, 10, 2), "an age before time 0"),
    ] {
        assert!(matches!(sys.recompress(cg, s), Err(Error::Invalid(_))), "{why}");
    }
    assert_eq!(sys.recompress(MemcgId::from_raw(999), spec(0, 0, 10, 2)), Err(Error::InvalidMemcg));
    assert_eq!(sys.recompress(gone, spec(0, 0, 10, 2)), Err(Error::MemcgOffline));
    assert_eq!((sys.stat(), sys.memcg_stat(cg).unwrap()), before);
    // The entry is still a candidate: nothing was examined.
    assert_eq!(sys.recompress(cg, spec(0, 0, 10, 2)).unwrap().recompressed, 1);
}

/// Real bytes: lz4 text recompressed with deflate comes back smaller and loads intact.
#[test]
fn real_bytes_recompressed_with_deflate_load_intact() {
    let sys = system_with(|c| {
        c.zswap.compression_priorities = vec![CompressionPriority::lz4(1), CompressionPriority::deflate(2, 6)];
    });
    let cg = sys.memcg_create(MemcgId::ROOT).unwrap();
    // English-like text (a small page of it under Miri, where deflate costs a second a
    // kilobyte), on which deflate beats lz4.
    let unique = if cfg!(miri) { 512 } else { PAGE_SIZE };
    let n = if cfg!(miri) { 1 } else { 2 };
    let pages: Vec<Vec<u8>> = (0..n).map(|seed| words(seed, unique)).collect();
    let slots: Vec<(VSlot, u32)> =
        pages.iter().enumerate().map(|(i, p)| stored(&sys, cg, 1 + i as u64, Page::Bytes(p))).collect();
    sys.set_tick(1).unwrap();
    let r = sys.recompress(cg, spec(0, 0, 10, 2)).unwrap();
    assert_eq!((r.attempted, r.recompressed), (n, n), "deflate beats lz4 on these pages");
    let before: u64 = slots.iter().map(|&(_, n)| u64::from(n)).sum();
    assert_eq!(sys.memcg_stat(cg).unwrap().zswap_current, before - r.saved_bytes);
    assert_eq!(tier(&sys, cg, 2).0, r.recompressed);
    for (i, (s, _)) in slots.into_iter().enumerate() {
        assert_eq!(zswap_load(&sys, s, 50 + i as u64), pages[i]);
    }
    assert_eq!(sys.stat().pool_total_size, 0);
}
