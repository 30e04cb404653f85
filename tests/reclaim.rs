//! zswap reclaim as specifications: the per-memcg LRU with second chance (and the 2023
//! protection scheme), `shrink_memcg`, the memcg-aware shrinker's count, the global
//! `shrink_worker` with its persistent cursor (today's and the v6.8 one), when it starts
//! (`ShrinkStart`), the writeback pause, and proactive writeback (`"N source=zswap"`)
//! with per-memcg cursors. Each test checks one rule of docs/kernel.md §5.3–§5.8 or §6.4
//! through the public facade only. Pages are synthetic: only their sizes matter.

use vswap::*;

mod common;
use common::*;

/// A synthetic entry that takes a whole pool page (stored as-is: writeback is enabled).
const WHOLE: u32 = PAGE_SIZE as u32;
/// A synthetic entry that compresses to half a page.
const HALF: u32 = PAGE_SIZE as u32 / 2;
/// A synthetic entry that compresses to a quarter of a page.
const QUARTER: u32 = PAGE_SIZE as u32 / 4;

/// A system with the synthetic compressor (cluster_shift 3) and one memory device.
fn synthetic(f: impl FnOnce(&mut Config)) -> (SwapSystem, DeviceId) {
    let sys = system_with(|c| {
        c.zswap.compressor = CompressionMode::Synthetic;
        f(c);
    });
    // Small: under Miri a device costs time in proportion to its pages.
    let dev = sys.swapon(DeviceSpec::memory("ssd", 512)).unwrap();
    (sys, dev)
}

/// Pages of `small_pool`'s limit: 100 pages of RAM × 10 %.
const MAX: u64 = 10;
/// Pages of its accept threshold: 90 % of the limit.
const ACCEPT: u64 = 9;

/// `synthetic` with a pool of `MAX` pages, accepting again at `ACCEPT`.
fn small_pool(f: impl FnOnce(&mut Config)) -> (SwapSystem, DeviceId) {
    synthetic(|c| {
        c.ram_pages = 100;
        c.zswap.max_pool_percent = 10;
        f(c);
    })
}

/// Reclaim one page of `len` compressed bytes for `cg`: alloc, dup, writeout and, if a
/// backend took it, evict.
fn swap_out(sys: &SwapSystem, cg: MemcgId, pfn: u64, len: u32) -> (VSlot, Writeout) {
    let s = mapped(sys, cg, pfn);
    let w = sys.writeout(s, Page::Synthetic { compressed_len: len, zero: false }).unwrap();
    if !matches!(w, Writeout::Kept(_)) {
        sys.evict(s, Shadow(pfn)).unwrap();
    }
    (s, w)
}

/// Store one page in zswap (it must be taken).
fn store(sys: &SwapSystem, cg: MemcgId, pfn: u64, len: u32) -> VSlot {
    let (s, w) = swap_out(sys, cg, pfn, len);
    assert!(matches!(w, Writeout::Zswap { .. }), "pfn {pfn} was not stored in zswap: {w:?}");
    s
}

/// Store one page per pfn.
fn store_all(sys: &SwapSystem, cg: MemcgId, pfns: std::ops::Range<u64>, len: u32) -> Vec<VSlot> {
    pfns.map(|pfn| store(sys, cg, pfn, len)).collect()
}

/// A store the pool refuses: it goes to the device.
fn refused(sys: &SwapSystem, cg: MemcgId, pfn: u64) -> VSlot {
    let (s, w) = swap_out(sys, cg, pfn, WHOLE);
    assert!(matches!(w, Writeout::Device(_)), "pfn {pfn} was not refused: {w:?}");
    s
}

/// Store whole pages for `cg` from `pfn` until the pool refuses one; the pages stored.
fn refill(sys: &SwapSystem, cg: MemcgId, pfn: u64) -> u64 {
    for i in 0.. {
        if let (_, Writeout::Device(_)) = swap_out(sys, cg, pfn + i, WHOLE) {
            return i;
        }
    }
    unreachable!()
}

/// Clear the referenced bit of every entry on `cg`'s LRU: a walk that finds them all
/// referenced only rotates them (second chance) and writes nothing.
fn age(sys: &SwapSystem, cg: MemcgId) {
    let n = sys.zswap_lru(cg).unwrap().len() as u64;
    let o = sys.shrink_memcg(cg, n).unwrap();
    assert_eq!((o.scanned, o.second_chances, o.written), (n, n, 0), "{cg:?} was not all referenced");
}

fn fault(sys: &SwapSystem, slot: VSlot, pfn: u64) -> FaultSource {
    sys.fault(0, slot, FolioId(pfn), None).unwrap().source
}

fn pool_pages(sys: &SwapSystem) -> u64 {
    sys.stat().pool_total_size.div_ceil(PAGE)
}

/// A `shrink_memcg` outcome without a swap-cache hit or a protected stop.
fn walk(result: ShrinkResult, scanned: u64, written: u64, bytes: u64, second_chances: u64) -> ShrinkOutcome {
    ShrinkOutcome { result, scanned, written, written_bytes: bytes, second_chances, ..ShrinkOutcome::default() }
}

// ---------------------------------------------------------------------------------------
// The LRU and `shrink_memcg` (docs/kernel.md §5.1, §5.3 `shrink_memcg_cb`, §5.5)
// ---------------------------------------------------------------------------------------

/// A store appends its entry at the tail of its memcg's own LRU (`list_lru_add`): the
/// list reads oldest first, and the root's list holds only the root's entries.
#[test]
fn a_store_appends_to_its_memcgs_lru_oldest_first() {
    let (sys, _) = synthetic(|_| {});
    let cg = sys.memcg_create(MemcgId::ROOT).unwrap();
    let a = store(&sys, cg, 8, HALF);
    let r = store(&sys, MemcgId::ROOT, 16, HALF);
    let b = store(&sys, cg, 24, HALF);
    let c = store(&sys, cg, 32, HALF);
    assert_eq!(sys.zswap_lru(cg).unwrap(), vec![a, b, c]);
    assert_eq!(sys.zswap_lru(MemcgId::ROOT).unwrap(), vec![r]);
    let other = sys.memcg_create(MemcgId::ROOT).unwrap();
    assert_eq!(sys.zswap_lru(other).unwrap(), vec![]);
}

/// A zswap load is exclusive: the faulted entry leaves the LRU, the others keep their
/// order, and a walk sees only the live ones.
#[test]
fn a_zswap_load_takes_the_entry_off_the_lru() {
    let (sys, _) = synthetic(|_| {});
    let cg = sys.memcg_create(MemcgId::ROOT).unwrap();
    let s = store_all(&sys, cg, 1..4, HALF);
    assert_eq!(fault(&sys, s[1], 100), FaultSource::Zswap);
    assert_eq!(sys.zswap_lru(cg).unwrap(), vec![s[0], s[2]]);
    assert_eq!(sys.shrink_memcg(cg, 10).unwrap().scanned, 2);
}

/// Second chance: a walk over entries that are all referenced (as every new entry is)
/// clears their bits and rotates them, writing nothing (-EAGAIN); the next walk writes
/// them back oldest first.
#[test]
fn referenced_entries_get_a_second_chance_then_are_written_oldest_first() {
    let (sys, dev) = synthetic(|_| {});
    let cg = sys.memcg_create(MemcgId::ROOT).unwrap();
    let s = store_all(&sys, cg, 1..5, HALF);
    assert_eq!(sys.shrink_memcg(cg, 4).unwrap(), walk(ShrinkResult::Again, 4, 0, 0, 4));
    assert_eq!(sys.stat().written_back_pages, 0);
    assert_eq!(sys.zswap_lru(cg).unwrap(), s, "a full rotation keeps the order");

    let h = u64::from(HALF);
    assert_eq!(sys.shrink_memcg(cg, 2).unwrap(), walk(ShrinkResult::Written, 2, 2, 2 * h, 0));
    assert_eq!(sys.zswap_lru(cg).unwrap(), s[2..]);
    assert_eq!(sys.backing(s[0]).unwrap(), Backing::Device(dev));
    assert_eq!(sys.backing(s[1]).unwrap(), Backing::Device(dev));
    assert_eq!(sys.backing(s[2]).unwrap(), Backing::Zswap);
    assert_eq!(sys.shrink_memcg(cg, 2).unwrap(), walk(ShrinkResult::Written, 2, 2, 2 * h, 0));
    assert_eq!(sys.zswap_lru(cg).unwrap(), vec![]);
    let st = sys.stat();
    assert_eq!((st.written_back_pages, st.zswpwb, st.pool_total_size), (4, 4, 0));
    assert_eq!(sys.memcg_stat(cg).unwrap().zswpwb, 4);
}

/// A walk looks at no more than `nr` entries, and never more than the LRU holds when it
/// starts, so it sees no entry twice: here every writeback fails (no device), each failed
/// entry is rotated (`LRU_RETRY`, `reject_reclaim_fail`) and a walk of 100 stops after 5.
#[test]
fn a_walk_is_capped_at_nr_and_at_the_lru_length() {
    let sys = system_with(|c| c.zswap.compressor = CompressionMode::Synthetic);
    let cg = sys.memcg_create(MemcgId::ROOT).unwrap();
    let s = store_all(&sys, cg, 1..6, HALF);
    age(&sys, cg);
    assert_eq!(sys.shrink_memcg(cg, 2).unwrap(), walk(ShrinkResult::Again, 2, 0, 0, 0));
    assert_eq!(sys.stat().reject_reclaim_fail, 2);
    let rotated = vec![s[2], s[3], s[4], s[0], s[1]];
    assert_eq!(sys.zswap_lru(cg).unwrap(), rotated);
    assert_eq!(sys.shrink_memcg(cg, 100).unwrap(), walk(ShrinkResult::Again, 5, 0, 0, 0));
    assert_eq!(sys.stat().reject_reclaim_fail, 7);
    assert_eq!(sys.zswap_lru(cg).unwrap(), rotated, "each entry rotated exactly once");
    assert_eq!(sys.stat().stored_pages, 5);
}

/// Writeback of an entry whose page is in the swap cache gives -EEXIST (counted in
/// `reject_reclaim_fail`): the walk has reached the warm region and stops there
/// (`swap_cache_hit`), the entry rotated and still in zswap, the entries after it not
/// looked at.
#[test]
fn a_page_found_in_the_swap_cache_stops_the_walk() {
    let (sys, dev) = synthetic(|_| {});
    let cg = sys.memcg_create(MemcgId::ROOT).unwrap();
    let a = store(&sys, cg, 8, HALF);
    // Written out but not yet evicted: cached, and backed by its zswap entry.
    let b = mapped(&sys, cg, 16);
    assert!(matches!(
        sys.writeout(b, Page::Synthetic { compressed_len: HALF, zero: false }),
        Ok(Writeout::Zswap { .. })
    ));
    let c = store(&sys, cg, 24, HALF);
    assert_eq!(sys.zswap_lru(cg).unwrap(), vec![a, b, c]);
    age(&sys, cg);

    let o = sys.shrink_memcg(cg, 3).unwrap();
    let expected = ShrinkOutcome { swap_cache_hit: true, ..walk(ShrinkResult::Written, 2, 1, u64::from(HALF), 0) };
    assert_eq!(o, expected);
    assert_eq!(sys.stat().reject_reclaim_fail, 1, "-EEXIST is a failed writeback too");
    assert_eq!(sys.backing(a).unwrap(), Backing::Device(dev));
    assert_eq!(sys.state(b).unwrap(), SlotState::Cached { folio: FolioId(16), count: 1 });
    assert_eq!(sys.backing(b).unwrap(), Backing::Zswap);
    assert_eq!(sys.backing(c).unwrap(), Backing::Zswap, "not reached");
    assert_eq!(sys.zswap_lru(cg).unwrap(), vec![c, b], "b was rotated before its writeback failed");
}

/// `LruPolicy::Protection` (2023): the referenced bit is ignored, so a first walk writes;
/// a walk that would reach into the protected region (`nr_protected >= lru_size - nr`)
/// stops at once (`SHRINK_STOP`). Eight stores leave `nr_zswap_protected` at 2; the
/// count is the length less the protected entries.
#[test]
fn protection_ignores_the_referenced_bit_and_stops_at_the_protected_region() {
    let (sys, dev) = synthetic(|c| {
        c.zswap.lru = LruPolicy::Protection;
        c.zswap.shrinker_enabled = true;
    });
    let cg = sys.memcg_create(MemcgId::ROOT).unwrap();
    let s = store_all(&sys, cg, 1..9, WHOLE);
    assert_eq!(sys.shrinker_count(cg), 6, "8 entries less 2 protected");
    let stop = ShrinkOutcome { protected_stop: true, ..walk(ShrinkResult::Again, 0, 0, 0, 0) };
    assert_eq!(sys.shrink_memcg(cg, 6).unwrap(), stop, "2 >= 8 - 6");
    assert_eq!(sys.stat().written_back_pages, 0);
    assert_eq!(sys.shrink_memcg(cg, 5).unwrap(), walk(ShrinkResult::Written, 5, 5, 5 * PAGE, 0));
    assert_eq!(sys.zswap_lru(cg).unwrap(), s[5..]);
    assert_eq!(sys.shrink_memcg(cg, 1).unwrap(), stop, "2 >= 3 - 1");
    assert_eq!(sys.shrinker_count(cg), 1);
    // A device swap-in widens the protected region (`zswap_folio_swapin`).
    assert_eq!(fault(&sys, s[0], 100), FaultSource::Device(dev));
    assert_eq!(sys.shrinker_count(cg), 0, "3 entries, 3 protected");
}

// ---------------------------------------------------------------------------------------
// Offline: the LRU is reparented (docs/kernel.md §5.1, §5.6 "zombies", §6.4)
// ---------------------------------------------------------------------------------------

/// Offline splices the memcg's LRU, in order, to the front of its parent's
/// (`memcg_reparent_list_lrus`): the dead child's entries are the parent's oldest.
#[test]
fn offline_moves_the_lru_to_the_front_of_the_parents_in_order() {
    let (sys, _) = synthetic(|_| {});
    let parent = sys.memcg_create(MemcgId::ROOT).unwrap();
    let child = sys.memcg_create(parent).unwrap();
    let p1 = store(&sys, parent, 8, HALF);
    let c1 = store(&sys, child, 16, HALF);
    let p2 = store(&sys, parent, 24, HALF);
    let c2 = store(&sys, child, 32, HALF);
    sys.memcg_offline(child).unwrap();
    assert_eq!(sys.zswap_lru(parent).unwrap(), vec![c1, c2, p1, p2]);
    assert_eq!(sys.zswap_lru(child), Err(Error::MemcgOffline));
    assert_eq!(sys.zswap_lru(MemcgId::ROOT).unwrap(), vec![]);
}

/// An offline memcg is not shrunk by name (its LRU is the parent's now): `MemcgOffline`.
/// Shrinking the parent writes the dead child's entries back first, counted in the
/// parent's hierarchical `zswpwb`.
#[test]
fn a_dead_memcgs_entries_are_written_back_by_shrinking_its_parent() {
    let (sys, dev) = synthetic(|_| {});
    let parent = sys.memcg_create(MemcgId::ROOT).unwrap();
    let child = sys.memcg_create(parent).unwrap();
    let p = store(&sys, parent, 8, HALF);
    let c = store_all(&sys, child, 16..18, HALF);
    sys.memcg_offline(child).unwrap();
    assert_eq!(sys.shrink_memcg(child, 1), Err(Error::MemcgOffline));
    assert_eq!(sys.shrinker_count(child), 0);
    age(&sys, parent);
    assert_eq!(sys.shrink_memcg(parent, 2).unwrap().written, 2);
    assert_eq!((sys.backing(c[0]).unwrap(), sys.backing(c[1]).unwrap()), (Backing::Device(dev), Backing::Device(dev)));
    assert_eq!(sys.backing(p).unwrap(), Backing::Zswap);
    assert_eq!(sys.memcg_stat(parent).unwrap().zswpwb, 2);
    assert_eq!(sys.zswap_lru(parent).unwrap(), vec![p]);
}

// ---------------------------------------------------------------------------------------
// The shrinker's count (docs/kernel.md §5.5 `count_objects`)
// ---------------------------------------------------------------------------------------

/// `shrinker_enabled` is off by default (no `CONFIG_ZSWAP_SHRINKER_DEFAULT_ON`): the
/// count is 0 however many entries there are.
#[test]
fn the_shrinker_count_is_zero_while_the_shrinker_is_disabled_by_default() {
    assert!(!Config::default().zswap.shrinker_enabled);
    let (sys, _) = synthetic(|_| {});
    let cg = sys.memcg_create(MemcgId::ROOT).unwrap();
    store_all(&sys, cg, 1..5, WHOLE);
    assert_eq!(sys.shrinker_count(cg), 0);
    assert_eq!(sys.shrinker_count(MemcgId::ROOT), 0);
}

/// With `memory.zswap.writeback` 0 on the memcg or any ancestor the count is 0.
#[test]
fn the_shrinker_count_is_zero_when_writeback_is_off_for_the_memcg_or_an_ancestor() {
    let (sys, _) = synthetic(|c| c.zswap.shrinker_enabled = true);
    let parent = sys.memcg_create(MemcgId::ROOT).unwrap();
    let child = sys.memcg_create(parent).unwrap();
    store_all(&sys, child, 1..5, WHOLE);
    assert_eq!(sys.shrinker_count(child), 4);
    sys.memcg_set(child, Knob::ZswapWriteback(false)).unwrap();
    assert_eq!(sys.shrinker_count(child), 0);
    sys.memcg_set(child, Knob::ZswapWriteback(true)).unwrap();
    sys.memcg_set(parent, Knob::ZswapWriteback(false)).unwrap();
    assert_eq!(sys.shrinker_count(child), 0);
    sys.memcg_set(parent, Knob::ZswapWriteback(true)).unwrap();
    assert_eq!(sys.shrinker_count(child), 4);
    assert_eq!(sys.shrinker_count(MemcgId::from_raw(999)), 0, "unknown");
}

/// The count is the LRU length scaled by compressed pages / stored pages (better
/// compression, less writeback), the compressed pages counted whole (`>> PAGE_SHIFT`).
#[test]
fn the_shrinker_count_scales_the_lru_length_by_the_compression_ratio() {
    let (sys, _) = synthetic(|c| c.zswap.shrinker_enabled = true);
    let cg = sys.memcg_create(MemcgId::ROOT).unwrap();
    assert_eq!(sys.shrinker_count(cg), 0, "empty");
    store_all(&sys, cg, 1..4, HALF);
    assert_eq!(sys.shrinker_count(cg), 1, "3 entries × 1 compressed page (6 KiB) / 3 stored");
    store(&sys, cg, 8, HALF);
    assert_eq!(sys.shrinker_count(cg), 2, "4 × 2 / 4");
    let whole = sys.memcg_create(MemcgId::ROOT).unwrap();
    store_all(&sys, whole, 16..19, WHOLE);
    assert_eq!(sys.shrinker_count(whole), 3, "stored as-is: ratio 1");
    assert_eq!(sys.shrinker_count(MemcgId::ROOT), 0, "the root's own LRU is empty");
}

/// Swap-ins that had to read a device (`nr_disk_swapins`) are subtracted from the LRU
/// length once: the count consumes them, so the next count is back up.
#[test]
fn device_swapins_are_subtracted_once_from_the_shrinker_count() {
    let (sys, dev) = synthetic(|c| c.zswap.shrinker_enabled = true);
    let cg = sys.memcg_create(MemcgId::ROOT).unwrap();
    let s = store_all(&sys, cg, 1..11, HALF);
    sys.writeback(s[0]).unwrap();
    sys.writeback(s[1]).unwrap();
    assert_eq!(sys.shrinker_count(cg), 4, "8 entries × 4 compressed pages / 8 stored");
    assert_eq!(fault(&sys, s[0], 100), FaultSource::Device(dev));
    assert_eq!(fault(&sys, s[1], 101), FaultSource::Device(dev));
    assert_eq!(sys.shrinker_count(cg), 3, "(8 - 2) × 4 / 8");
    assert_eq!(sys.shrinker_count(cg), 4, "the swap-ins were consumed");
}

// ---------------------------------------------------------------------------------------
// `shrink_memcg`'s results (docs/kernel.md §5.6 step 3)
// ---------------------------------------------------------------------------------------

/// Written (0) when an entry went to a device, Again (-EAGAIN) when entries were walked
/// but none written, NotCandidate (-ENOENT) for an empty LRU or writeback disabled.
#[test]
fn shrink_memcg_reports_written_again_or_not_a_candidate() {
    let (sys, _) = synthetic(|_| {});
    let cg = sys.memcg_create(MemcgId::ROOT).unwrap();
    store_all(&sys, cg, 1..3, HALF);
    assert_eq!(sys.shrink_memcg(cg, 2).unwrap().result, ShrinkResult::Again);
    assert_eq!(sys.shrink_memcg(cg, 1).unwrap(), walk(ShrinkResult::Written, 1, 1, u64::from(HALF), 0));

    let empty = sys.memcg_create(MemcgId::ROOT).unwrap();
    assert_eq!(sys.shrink_memcg(empty, 8).unwrap(), walk(ShrinkResult::NotCandidate, 0, 0, 0, 0));

    let off = sys.memcg_create(MemcgId::ROOT).unwrap();
    let s = store_all(&sys, off, 8..10, HALF);
    sys.memcg_set(off, Knob::ZswapWriteback(false)).unwrap();
    assert_eq!(sys.shrink_memcg(off, 8).unwrap(), walk(ShrinkResult::NotCandidate, 0, 0, 0, 0));
    assert_eq!(sys.zswap_lru(off).unwrap(), s);
}

/// `nr` 0 is `Invalid`; an unknown memcg `InvalidMemcg`. Nothing changes.
#[test]
fn shrink_memcg_refuses_nr_zero_and_unknown_memcgs() {
    let (sys, _) = synthetic(|_| {});
    let cg = sys.memcg_create(MemcgId::ROOT).unwrap();
    let s = store_all(&sys, cg, 1..3, HALF);
    let before = (sys.stat(), sys.memcg_stat(cg).unwrap());
    assert!(matches!(sys.shrink_memcg(cg, 0), Err(Error::Invalid(_))));
    assert_eq!(sys.shrink_memcg(MemcgId::from_raw(999), 1), Err(Error::InvalidMemcg));
    assert_eq!((sys.stat(), sys.memcg_stat(cg).unwrap()), before);
    assert_eq!(sys.zswap_lru(cg).unwrap(), s);
}

// ---------------------------------------------------------------------------------------
// The global shrink worker (docs/kernel.md §5.6, §6.4)
// ---------------------------------------------------------------------------------------

/// Nothing runs unless a store queued the work item: an idle run reports `Idle` and
/// touches nothing.
#[test]
fn the_worker_is_idle_unless_a_store_queued_it() {
    let (sys, _) = small_pool(|_| {});
    let cg = sys.memcg_create(MemcgId::ROOT).unwrap();
    store_all(&sys, cg, 1..6, WHOLE);
    assert!(!sys.shrink_worker_pending());
    let before = sys.stat();
    assert_eq!(sys.run_shrink_worker(), ShrinkReport::default());
    assert_eq!(sys.run_shrink_worker().stop, ShrinkStop::Idle);
    assert_eq!(sys.stat(), before);
    assert_eq!(sys.shrink_cursor(MemcgId::ROOT).unwrap(), None);
}

/// Four memcgs holding 2, 2, 3 and 3 aged whole-page entries fill the 10-page pool
/// (accepting again at 50 %); the worker is queued by a refused store at the limit.
fn four_memcgs_at_the_limit(walk: u8) -> (SwapSystem, Vec<MemcgId>) {
    let (sys, _) = small_pool(|c| {
        c.zswap.accept_threshold_percent = 50;
        c.zswap.worker_shrink_batch = walk;
    });
    let cg: Vec<MemcgId> = (0..4).map(|_| sys.memcg_create(MemcgId::ROOT).unwrap()).collect();
    for (i, (&m, n)) in cg.iter().zip([2, 2, 3, 3]).enumerate() {
        let base = 10 * i as u64;
        store_all(&sys, m, base..base + n, WHOLE);
        age(&sys, m);
    }
    assert_eq!(pool_pages(&sys), MAX);
    assert!(!sys.shrink_worker_pending(), "at the limit but nothing refused yet");
    refused(&sys, cg[0], 100);
    assert!(sys.shrink_worker_pending());
    (sys, cg)
}

/// A store refused at the pool limit queues the worker. It shrinks memcgs in turn (the
/// root, empty, is skipped), each visit one `shrink_memcg` walking one entry as mainline
/// does (`nr_to_walk = 1`), round after round, until the pool is at or below the accept
/// threshold (here 50 % of 10 pages), then stops (`BelowAccept`) and is no longer
/// pending; `by_memcg` names whose entries were written.
#[test]
fn a_store_at_the_pool_limit_queues_the_worker_which_shrinks_to_the_accept_threshold() {
    let (sys, cg) = four_memcgs_at_the_limit(ZswapConfig::default().worker_shrink_batch);
    let r = sys.run_shrink_worker();
    assert_eq!(r.stop, ShrinkStop::BelowAccept);
    // One entry per visit: a round over the four memcgs, then the second round's first.
    assert_eq!(r.by_memcg, vec![(cg[0], 2), (cg[1], 1), (cg[2], 1), (cg[3], 1)]);
    assert_eq!((r.written, r.written_bytes, r.failures), (5, 5 * PAGE, 0));
    assert_eq!(r.visits, 7, "root, the four, root again, cg[0]");
    assert_eq!(sys.stat().pool_total_size, 5 * PAGE, "at most 5 pages");
    assert_eq!(sys.stat().written_back_pages, 5);
    assert_eq!(sys.zswap_lru(cg[3]).unwrap().len(), 2);
    assert!(!sys.shrink_worker_pending());
    assert_eq!(sys.shrink_cursor(MemcgId::ROOT).unwrap(), Some(cg[0]));
}

/// With the proposals' batch (`ZswapConfig::SHRINK_BATCH_WB_PROPOSAL`, 64) a visit writes up to 64
/// entries, so the same run empties whole memcgs and overshoots the threshold; 7.3's
/// `SWAP_CLUSTER_MAX` (32) does the same here, every memcg holding fewer.
#[test]
fn with_a_batch_a_worker_visit_writes_up_to_the_batch() {
    for walk in [ZswapConfig::SHRINK_BATCH_WB_PROPOSAL, ZswapConfig::SHRINK_BATCH_7_3] {
        let (sys, cg) = four_memcgs_at_the_limit(walk);
        let r = sys.run_shrink_worker();
        assert_eq!(r.stop, ShrinkStop::BelowAccept);
        assert_eq!(r.by_memcg, vec![(cg[0], 2), (cg[1], 2), (cg[2], 3)]);
        assert_eq!((r.written, r.written_bytes, r.visits, r.failures), (7, 7 * PAGE, 4, 0));
        assert_eq!(sys.stat().pool_total_size, 3 * PAGE, "5 pages or fewer");
        assert_eq!(sys.zswap_lru(cg[3]).unwrap().len(), 3);
        assert_eq!(sys.shrink_cursor(MemcgId::ROOT).unwrap(), Some(cg[2]));
    }
}

/// A visit that meets a referenced entry rotates it (its second chance), which counts as
/// the one entry walked, so the visit fails (`-EAGAIN`). 64 entries all stored at once
/// (referenced) with a walk of 1: the worker rotates 16 of them, fails 16 times and
/// stops without writing anything; the next run rotates 16 more. With a walk of 64 the
/// first visit rotates all of them and the second writes until the threshold.
#[test]
fn a_worker_visit_that_meets_a_referenced_entry_fails() {
    let run = |walk: u8| {
        let (sys, _) = synthetic(|c| {
            c.ram_pages = 640;
            c.zswap.max_pool_percent = 10;
            c.zswap.worker_shrink_batch = walk;
        });
        let cg = sys.memcg_create(MemcgId::ROOT).unwrap();
        store_all(&sys, cg, 0..64, WHOLE);
        refused(&sys, cg, 999);
        (sys.run_shrink_worker(), sys, cg)
    };
    let (r, sys, cg) = run(ZswapConfig::SHRINK_BATCH_MAINLINE);
    assert_eq!((r.stop, r.written, r.failures, r.visits), (ShrinkStop::Failures, 0, 16, 32), "16 root visits");
    refused(&sys, cg, 1000);
    let r = sys.run_shrink_worker();
    assert_eq!((r.stop, r.written, r.failures), (ShrinkStop::Failures, 0, 16));
    assert_eq!(pool_pages(&sys), 64);

    let (r, sys, _) = run(ZswapConfig::SHRINK_BATCH_WB_PROPOSAL);
    assert_eq!((r.stop, r.written, r.failures), (ShrinkStop::BelowAccept, 64, 1));
    assert_eq!(pool_pages(&sys), 0, "the second visit wrote its whole walk");
}

/// The cursor (`zswap_next_shrink`) persists across runs: each run resumes after the
/// memcg the last one stopped at, in pre-order (a child before its parent's next
/// sibling), and wraps around through the root; a partial round trip without a candidate
/// counts one failure, and referenced entries met on the way get their second chance.
#[test]
fn the_worker_resumes_from_its_cursor_round_robin_in_pre_order() {
    // With the proposals' batch, so one visit empties a memcg.
    let (sys, _) = small_pool(|c| c.zswap.worker_shrink_batch = ZswapConfig::SHRINK_BATCH_WB_PROPOSAL);
    let a = sys.memcg_create(MemcgId::ROOT).unwrap();
    let a1 = sys.memcg_create(a).unwrap();
    let b = sys.memcg_create(MemcgId::ROOT).unwrap();
    store_all(&sys, a, 0..3, WHOLE);
    store_all(&sys, a1, 10..13, WHOLE);
    store_all(&sys, b, 20..24, WHOLE);
    for m in [a, a1, b] {
        age(&sys, m);
    }
    refused(&sys, b, 99);

    let mut runs = Vec::new();
    for i in 0..4 {
        let r = sys.run_shrink_worker();
        assert_eq!(r.stop, ShrinkStop::BelowAccept, "run {i}");
        runs.push((r.by_memcg, r.failures, sys.shrink_cursor(MemcgId::ROOT).unwrap()));
        // Refill through `a`, whose new entries stay referenced, until a store is refused.
        refill(&sys, a, 100 + 100 * i);
    }
    assert_eq!(
        runs,
        vec![
            (vec![(a, 3)], 0, Some(a)),
            (vec![(a1, 3)], 0, Some(a1)),
            (vec![(b, 4)], 0, Some(b)),
            // From b: the end of the tree (a failure: no candidate), the root (skipped),
            // a (all referenced: rotated, a failure), a1 and b (empty, skipped), the end,
            // the root, and a again.
            (vec![(a, 10)], 2, Some(a)),
        ]
    );
}

/// Regression (2024): memcgs with no zswap pages are not candidates and cost nothing, so
/// twenty of them before the one holding the data do not stop the worker (whose one
/// entry written reaches the threshold).
#[test]
fn the_worker_does_not_stop_at_memcgs_without_zswap_pages() {
    let (sys, data) = empties_before_data(20, false);
    let r = sys.run_shrink_worker();
    assert_eq!(r.stop, ShrinkStop::BelowAccept);
    assert_eq!(r.by_memcg, vec![(data, 1)]);
    assert_eq!((r.failures, r.visits), (0, 22), "the root, 20 empty memcgs, the data");
}

/// The v6.8 worker counted an empty memcg as a failure: with the root and 16 empty
/// memcgs ahead of the data it gives up after 16 failures, having written nothing.
#[test]
fn the_legacy_worker_gives_up_after_16_empty_memcgs() {
    let (sys, data) = empties_before_data(16, true);
    let r = sys.run_shrink_worker();
    assert_eq!(r.stop, ShrinkStop::Failures);
    assert_eq!((r.written, r.failures, r.visits), (0, 16, 16));
    assert_eq!(sys.zswap_lru(data).unwrap().len() as u64, MAX);
}

/// `n` empty memcgs, then one holding a full pool of aged entries; the worker queued.
fn empties_before_data(n: usize, legacy: bool) -> (SwapSystem, MemcgId) {
    let (sys, _) = small_pool(|c| c.zswap.legacy_worker = legacy);
    for _ in 0..n {
        sys.memcg_create(MemcgId::ROOT).unwrap();
    }
    let data = sys.memcg_create(MemcgId::ROOT).unwrap();
    store_all(&sys, data, 0..MAX, WHOLE);
    age(&sys, data);
    refused(&sys, data, 99);
    (sys, data)
}

/// An offline memcg still in the tree (a zombie: a slot still names it) comes before
/// one holding a full pool of aged entries; the worker queued.
fn offline_before_data(legacy: bool) -> (SwapSystem, MemcgId, MemcgId) {
    let (sys, _) = small_pool(|c| c.zswap.legacy_worker = legacy);
    let dead = sys.memcg_create(MemcgId::ROOT).unwrap();
    let data = sys.memcg_create(MemcgId::ROOT).unwrap();
    mapped(&sys, dead, 1000);
    sys.memcg_offline(dead).unwrap();
    store_all(&sys, data, 0..MAX, WHOLE);
    age(&sys, data);
    refused(&sys, data, 99);
    (sys, dead, data)
}

/// Regression (2024): an offline memcg in the walk is skipped (`mem_cgroup_tryget_online`
/// fails) and the worker goes on to the next one.
#[test]
fn the_worker_skips_an_offline_memcg_and_continues() {
    let (sys, _, data) = offline_before_data(false);
    let r = sys.run_shrink_worker();
    assert_eq!(r.stop, ShrinkStop::BelowAccept);
    assert_eq!(r.by_memcg, vec![(data, 1)]);
    assert_eq!((r.failures, r.visits), (0, 2), "the root and the data");
    assert!(pool_pages(&sys) <= ACCEPT);
    assert_eq!(sys.shrink_cursor(MemcgId::ROOT).unwrap(), Some(data));
}

/// The v6.8 worker counted an offline memcg as a failure and restarted from the root, so
/// a zombie ahead of the data held it in a loop (root, zombie, root, …) until 16
/// failures, with the cursor reset.
#[test]
fn the_legacy_worker_counts_an_offline_memcg_as_a_failure_and_restarts_from_the_root() {
    let (sys, _, data) = offline_before_data(true);
    let r = sys.run_shrink_worker();
    assert_eq!(r.stop, ShrinkStop::Failures);
    assert_eq!((r.written, r.failures, r.visits), (0, 16, 8), "8 root visits, 8 offline steps");
    assert_eq!(sys.zswap_lru(data).unwrap().len() as u64, MAX);
    assert_eq!(sys.shrink_cursor(MemcgId::ROOT).unwrap(), None);
}

/// With writeback disabled everywhere there is no candidate: each round trip is one
/// failure, and the worker ends after 16 of them having written nothing.
#[test]
fn with_writeback_disabled_everywhere_the_worker_ends_after_16_failures() {
    let (sys, _) = small_pool(|_| {});
    let cg = sys.memcg_create(MemcgId::ROOT).unwrap();
    store_all(&sys, cg, 0..MAX, WHOLE);
    age(&sys, cg);
    refused(&sys, cg, 99);
    sys.memcg_set(MemcgId::ROOT, Knob::ZswapWriteback(false)).unwrap();
    let r = sys.run_shrink_worker();
    assert_eq!(r.stop, ShrinkStop::Failures);
    assert_eq!((r.written, r.failures, r.visits), (0, 16, 32), "16 round trips of the root and cg");
    assert_eq!(sys.stat().written_back_pages, 0);
    assert_eq!(pool_pages(&sys), MAX);
}

/// The v6.8 worker stopped at the first memcg with writeback disabled (-EINVAL), even
/// with written-back-able entries after it; today's skips it.
#[test]
fn the_legacy_worker_stops_at_a_writeback_disabled_memcg() {
    for legacy in [true, false] {
        let (sys, _) = small_pool(|c| c.zswap.legacy_worker = legacy);
        let off = sys.memcg_create(MemcgId::ROOT).unwrap();
        let data = sys.memcg_create(MemcgId::ROOT).unwrap();
        sys.memcg_set(off, Knob::ZswapWriteback(false)).unwrap();
        store_all(&sys, data, 0..MAX, WHOLE);
        age(&sys, data);
        refused(&sys, data, 99);
        let r = sys.run_shrink_worker();
        if legacy {
            assert_eq!(r.stop, ShrinkStop::WritebackDisabled);
            assert_eq!((r.written, r.failures, r.visits), (0, 1, 1), "the empty root failed first");
        } else {
            assert_eq!(r.stop, ShrinkStop::BelowAccept);
            assert_eq!(r.by_memcg, vec![(data, 1)]);
        }
    }
}

/// Without a hierarchy the root's own LRU is the one to shrink (it is visited first).
#[test]
fn without_a_hierarchy_the_worker_shrinks_the_root_lru() {
    let (sys, dev) = small_pool(|_| {});
    let s = store_all(&sys, MemcgId::ROOT, 0..MAX, WHOLE);
    refused(&sys, MemcgId::ROOT, 99);
    let r = sys.run_shrink_worker();
    assert_eq!(r.stop, ShrinkStop::BelowAccept);
    // Ten visits each rotate one referenced entry (ten failures, each visit followed by
    // the end of the tree); the eleventh writes the oldest, reaching the threshold.
    assert_eq!(r.by_memcg, vec![(MemcgId::ROOT, 1)]);
    assert_eq!((r.failures, r.visits), (10, 11));
    assert_eq!(sys.backing(s[0]).unwrap(), Backing::Device(dev));
    assert_eq!(pool_pages(&sys), ACCEPT);
}

// ---------------------------------------------------------------------------------------
// When the worker starts (docs/kernel.md §5.4; the 2024 proactive-shrink series)
// ---------------------------------------------------------------------------------------

/// `ShrinkStart::PoolFull` (mainline): a store at the limit is refused (the page goes to
/// a device), counts `pool_limit_hit` and queues the worker; stores stay refused until
/// the pool drops to the accept threshold (hysteresis), without new hits below the limit.
#[test]
fn pool_full_refuses_stores_until_the_pool_drops_to_accept() {
    let (sys, dev) = small_pool(|c| c.zswap.accept_threshold_percent = 50);
    let s = store_all(&sys, MemcgId::ROOT, 0..MAX, WHOLE);
    assert_eq!((sys.stat().pool_limit_hit, sys.shrink_worker_pending()), (0, false));
    assert_eq!(swap_out(&sys, MemcgId::ROOT, 99, WHOLE).1, Writeout::Device(dev));
    assert_eq!((sys.stat().pool_limit_hit, sys.shrink_worker_pending()), (1, true));
    for (i, &x) in s[..3].iter().enumerate() {
        fault(&sys, x, 200 + i as u64);
    }
    assert_eq!(swap_out(&sys, MemcgId::ROOT, 100, WHOLE).1, Writeout::Device(dev), "7 pages: above 5");
    assert_eq!(sys.stat().pool_limit_hit, 1);
    for (i, &x) in s[3..5].iter().enumerate() {
        fault(&sys, x, 300 + i as u64);
    }
    assert!(matches!(swap_out(&sys, MemcgId::ROOT, 101, WHOLE).1, Writeout::Zswap { .. }), "5 pages: accepted");
    assert!(matches!(swap_out(&sys, MemcgId::ROOT, 102, WHOLE).1, Writeout::Zswap { .. }));
}

/// `ShrinkStart::Proactive`: the worker is queued once the pool passes accept + 1 % of
/// the limit (100 pages, accept 20 %: above 21 pages), stores below the limit are still
/// accepted, and the worker shrinks to the accept threshold. Under `PoolFull` the same
/// stores queue nothing.
#[test]
fn proactive_start_queues_the_worker_above_accept_and_keeps_accepting_stores() {
    let config = |c: &mut Config| {
        c.ram_pages = 1000;
        c.zswap.max_pool_percent = 10;
        c.zswap.accept_threshold_percent = 20;
    };
    let (full, _) = synthetic(config);
    store_all(&full, MemcgId::ROOT, 0..25, WHOLE);
    assert!(!full.shrink_worker_pending());

    // The proposal's start with the proposals' batch (with a walk of 1 the worker would
    // spend its 16 failures rotating the referenced entries).
    let (sys, _) = synthetic(|c| {
        config(c);
        c.zswap.shrink_start = ShrinkStart::Proactive;
        c.zswap.worker_shrink_batch = ZswapConfig::SHRINK_BATCH_WB_PROPOSAL;
    });
    store_all(&sys, MemcgId::ROOT, 0..21, WHOLE);
    assert!(!sys.shrink_worker_pending(), "21 pages: not above the start");
    store(&sys, MemcgId::ROOT, 21, WHOLE);
    assert!(sys.shrink_worker_pending(), "22 pages");
    store_all(&sys, MemcgId::ROOT, 22..25, WHOLE);
    assert_eq!((sys.stat().stored_pages, sys.stat().pool_limit_hit), (25, 0));
    let r = sys.run_shrink_worker();
    assert_eq!(r.stop, ShrinkStop::BelowAccept);
    assert!(pool_pages(&sys) <= 20, "{} pages", pool_pages(&sys));
    assert!(!sys.shrink_worker_pending());
}

// ---------------------------------------------------------------------------------------
// The writeback pause (the 2024 series' patch 6)
// ---------------------------------------------------------------------------------------

/// After a rejected store the worker does not write until the pause has passed: it
/// reports `Paused { until }` and stays pending; a later rejection extends the pause;
/// once the clock reaches it, the worker runs.
#[test]
fn a_rejected_store_pauses_the_worker_and_a_later_one_extends_the_pause() {
    let (sys, _) = small_pool(|c| c.zswap.writeback_pause = Some(10));
    let cg = sys.memcg_create(MemcgId::ROOT).unwrap();
    sys.set_tick(100).unwrap();
    store_all(&sys, cg, 0..MAX, WHOLE);
    refused(&sys, cg, 99);
    let r = sys.run_shrink_worker();
    assert_eq!(r, ShrinkReport { stop: ShrinkStop::Paused { until: 110 }, ..ShrinkReport::default() });
    assert!(sys.shrink_worker_pending());
    sys.set_tick(105).unwrap();
    refused(&sys, cg, 98);
    assert_eq!(sys.run_shrink_worker().stop, ShrinkStop::Paused { until: 115 });
    sys.set_tick(114).unwrap();
    assert_eq!(sys.run_shrink_worker().stop, ShrinkStop::Paused { until: 115 });
    assert_eq!(sys.stat().written_back_pages, 0);
    sys.set_tick(115).unwrap();
    let r = sys.run_shrink_worker();
    assert_eq!(r.stop, ShrinkStop::BelowAccept);
    assert!(r.written > 0 && pool_pages(&sys) <= ACCEPT);
    assert!(!sys.shrink_worker_pending());
}

/// A swap-in that had to read a device pauses the worker too.
#[test]
fn a_device_swapin_pauses_the_worker() {
    let (sys, dev) = small_pool(|c| c.zswap.writeback_pause = Some(10));
    let cg = sys.memcg_create(MemcgId::ROOT).unwrap();
    let s = store_all(&sys, cg, 0..MAX, WHOLE);
    refused(&sys, cg, 99);
    sys.set_tick(20).unwrap();
    sys.writeback(s[0]).unwrap();
    assert_eq!(fault(&sys, s[0], 200), FaultSource::Device(dev));
    assert_eq!(sys.run_shrink_worker().stop, ShrinkStop::Paused { until: 30 });
    assert!(sys.shrink_worker_pending());
    sys.set_tick(30).unwrap();
    assert_eq!(sys.run_shrink_worker().stop, ShrinkStop::BelowAccept);
}

// ---------------------------------------------------------------------------------------
// Proactive writeback, `memory.reclaim` "N source=zswap" (docs/kernel.md §5.8)
// ---------------------------------------------------------------------------------------

/// Proactive writeback ignores the referenced bit and writes back until at least the
/// budget (compressed bytes) is met: `Ok(written)`, possibly above it. It counts
/// `zswpwb` and `zswpwb_proactive_bytes`; a shrinker walk counts only `zswpwb`.
#[test]
fn proactive_writeback_writes_at_least_the_budget_and_counts_it() {
    let (sys, dev) = synthetic(|_| {});
    let cg = sys.memcg_create(MemcgId::ROOT).unwrap();
    let s = store_all(&sys, cg, 0..6, QUARTER);
    let q = u64::from(QUARTER);
    assert_eq!(sys.proactive_writeback(cg, 2 * q), Ok(2 * q));
    assert_eq!(sys.proactive_writeback(cg, q + 1), Ok(2 * q), "the budget is a minimum");
    assert!(s[..4].iter().all(|&x| sys.backing(x).unwrap() == Backing::Device(dev)));
    assert_eq!(sys.zswap_lru(cg).unwrap(), s[4..]);
    let m = sys.memcg_stat(cg).unwrap();
    assert_eq!((m.zswpwb, m.zswpwb_proactive_bytes), (4, 4 * q));
    let st = sys.stat();
    assert_eq!((st.zswpwb, st.written_back_pages), (4, 4));
    assert_eq!(sys.memcg_stat(MemcgId::ROOT).unwrap().zswpwb_proactive_bytes, 4 * q);

    age(&sys, cg);
    assert_eq!(sys.shrink_memcg(cg, 1).unwrap().written, 1);
    let m = sys.memcg_stat(cg).unwrap();
    assert_eq!((m.zswpwb, m.zswpwb_proactive_bytes), (5, 4 * q));
}

/// A shortfall is `Again` with what was written: a full round trip found nothing more.
#[test]
fn proactive_writeback_reports_a_shortfall_as_again_with_what_it_wrote() {
    let (sys, _) = synthetic(|_| {});
    let cg = sys.memcg_create(MemcgId::ROOT).unwrap();
    store_all(&sys, cg, 0..2, QUARTER);
    let q = u64::from(QUARTER);
    assert_eq!(sys.proactive_writeback(cg, PAGE), Err(Error::Again { written: 2 * q }));
    assert_eq!(sys.memcg_stat(cg).unwrap().zswpwb_proactive_bytes, 2 * q);
    assert_eq!(sys.proactive_writeback(cg, PAGE), Err(Error::Again { written: 0 }));
}

/// Bad requests change nothing: a budget of 0 or above RAM, an age threshold before time
/// 0, writeback disabled on the memcg or an ancestor (`Invalid`); an offline memcg
/// (`MemcgOffline`); an unknown one (`InvalidMemcg`).
#[test]
fn proactive_writeback_rejects_bad_requests_without_changing_anything() {
    let (sys, _) = synthetic(|_| {});
    let parent = sys.memcg_create(MemcgId::ROOT).unwrap();
    let cg = sys.memcg_create(parent).unwrap();
    let dead = sys.memcg_create(parent).unwrap();
    store_all(&sys, cg, 0..4, QUARTER);
    store_all(&sys, dead, 10..12, QUARTER);
    sys.memcg_offline(dead).unwrap();
    sys.set_tick(5).unwrap();
    let snapshot = |sys: &SwapSystem| {
        (
            sys.stat(),
            sys.memcg_stat(cg).unwrap(),
            sys.memcg_stat(parent).unwrap(),
            sys.zswap_lru(cg).unwrap(),
            sys.zswap_lru(parent).unwrap(),
            sys.shrink_cursor(cg).unwrap(),
            sys.shrink_cursor(parent).unwrap(),
        )
    };
    let before = snapshot(&sys);
    let ram = sys.config().ram_pages * PAGE;
    assert!(matches!(sys.proactive_writeback(cg, 0), Err(Error::Invalid(_))));
    assert!(matches!(sys.proactive_writeback(cg, ram + 1), Err(Error::Invalid(_))));
    assert!(matches!(sys.proactive_writeback_aged(cg, PAGE, 6), Err(Error::Invalid(_))));
    assert_eq!(sys.proactive_writeback(dead, PAGE), Err(Error::MemcgOffline));
    assert_eq!(sys.proactive_writeback(MemcgId::from_raw(999), PAGE), Err(Error::InvalidMemcg));
    sys.memcg_set(parent, Knob::ZswapWriteback(false)).unwrap();
    assert!(matches!(sys.proactive_writeback(cg, PAGE), Err(Error::Invalid(_))));
    assert!(matches!(sys.proactive_writeback(parent, PAGE), Err(Error::Invalid(_))));
    sys.memcg_set(parent, Knob::ZswapWriteback(true)).unwrap();
    sys.memcg_set(cg, Knob::ZswapWriteback(false)).unwrap();
    assert!(matches!(sys.proactive_writeback(cg, PAGE), Err(Error::Invalid(_))));
    sys.memcg_set(cg, Knob::ZswapWriteback(true)).unwrap();
    assert_eq!(snapshot(&sys), before);
}

/// With an age, only entries stored at least `min_age` ticks ago are written; younger
/// ones are rotated and stay. An age reaching before time 0 is `Invalid`.
#[test]
fn aged_proactive_writeback_writes_only_entries_old_enough() {
    let (sys, dev) = synthetic(|_| {});
    let cg = sys.memcg_create(MemcgId::ROOT).unwrap();
    let old = store_all(&sys, cg, 0..2, QUARTER);
    sys.set_tick(10).unwrap();
    let young = store_all(&sys, cg, 10..12, QUARTER);
    sys.set_tick(15).unwrap();
    let q = u64::from(QUARTER);
    assert_eq!(sys.proactive_writeback_aged(cg, PAGE, 10), Err(Error::Again { written: 2 * q }));
    assert!(old.iter().all(|&x| sys.backing(x).unwrap() == Backing::Device(dev)));
    assert_eq!(sys.zswap_lru(cg).unwrap(), young);
    assert_eq!(sys.proactive_writeback_aged(cg, PAGE, 15), Err(Error::Again { written: 0 }), "5 ticks old");
    assert!(matches!(sys.proactive_writeback_aged(cg, PAGE, 16), Err(Error::Invalid(_))));
    assert_eq!(sys.proactive_writeback_aged(cg, 2 * q, 5), Ok(2 * q));
    assert_eq!(sys.zswap_lru(cg).unwrap(), vec![]);
}

/// The per-memcg cursor makes repeated small requests fair: each call resumes after the
/// child the last one wrote from, so every child is written back from and no two differ
/// by more than one call's budget (here 2 pages, well under a 128-entry batch).
#[test]
fn small_proactive_writebacks_are_fair_across_children() {
    let (sys, _) = synthetic(|_| {});
    let parent = sys.memcg_create(MemcgId::ROOT).unwrap();
    let kids: Vec<MemcgId> = (0..4).map(|_| sys.memcg_create(parent).unwrap()).collect();
    for (i, &k) in kids.iter().enumerate() {
        let base = 10 * i as u64;
        store_all(&sys, k, base..base + 6, WHOLE);
    }
    let mut cursors = Vec::new();
    for _ in 0..6 {
        assert_eq!(sys.proactive_writeback(parent, 2 * PAGE), Ok(2 * PAGE));
        cursors.push(sys.shrink_cursor(parent).unwrap().unwrap());
    }
    assert_eq!(cursors, vec![kids[0], kids[1], kids[2], kids[3], kids[0], kids[1]]);
    let written: Vec<u64> = kids.iter().map(|&k| sys.memcg_stat(k).unwrap().zswpwb).collect();
    assert_eq!(written, vec![4, 4, 2, 2]);
    assert!(written.iter().max().unwrap() - written.iter().min().unwrap() <= 2);
    assert_eq!(sys.shrink_cursor(MemcgId::ROOT).unwrap(), None, "the worker's cursor is its own");

    sys.memcg_offline(kids[1]).unwrap();
    assert_eq!(sys.shrink_cursor(parent).unwrap(), Some(kids[2]), "moved off the offline child");
}

/// Offline moves every ancestor's cursor resting on the memcg to the next online memcg
/// of that ancestor's subtree (`zswap_memcg_offline_cleanup` walking up to the root), or
/// back to the start at the end of it; no cursor is left on an offline memcg.
#[test]
fn offline_moves_every_cursor_resting_on_the_memcg_to_an_online_one() {
    let (sys, _) = synthetic(|_| {});
    let p = sys.memcg_create(MemcgId::ROOT).unwrap();
    let c1 = sys.memcg_create(p).unwrap();
    let c2 = sys.memcg_create(p).unwrap();
    let q = sys.memcg_create(MemcgId::ROOT).unwrap();
    for (i, &m) in [c1, c2, q].iter().enumerate() {
        let base = 10 * i as u64;
        store_all(&sys, m, base..base + 4, WHOLE);
    }
    assert_eq!(sys.proactive_writeback(MemcgId::ROOT, PAGE), Ok(PAGE));
    assert_eq!(sys.proactive_writeback(p, PAGE), Ok(PAGE));
    assert_eq!(sys.shrink_cursor(MemcgId::ROOT).unwrap(), Some(c1), "root, p (empty), c1");
    assert_eq!(sys.shrink_cursor(p).unwrap(), Some(c1));

    sys.memcg_offline(c1).unwrap();
    assert_eq!(sys.shrink_cursor(MemcgId::ROOT).unwrap(), Some(c2));
    assert_eq!(sys.shrink_cursor(p).unwrap(), Some(c2));
    assert_eq!(sys.shrink_cursor(c1), Err(Error::MemcgOffline));

    sys.memcg_offline(c2).unwrap();
    assert_eq!(sys.shrink_cursor(MemcgId::ROOT).unwrap(), Some(q), "the next online memcg in pre-order");
    assert_eq!(sys.shrink_cursor(p).unwrap(), None, "the end of p's subtree: back to the start");
}

/// `Knob::ZswapWritebackSize` caps what one worker run writes from a memcg's own LRU:
/// the entry that reaches the cap is written whole, then the memcg is skipped like a
/// non-candidate (round trips without a candidate are the failures that end the run).
/// The next run starts afresh.
#[test]
fn a_writeback_size_caps_what_one_worker_run_writes_from_a_memcg() {
    let (sys, _) = small_pool(|c| c.zswap.accept_threshold_percent = 50);
    let a = sys.memcg_create(MemcgId::ROOT).unwrap();
    let b = sys.memcg_create(MemcgId::ROOT).unwrap();
    store_all(&sys, a, 0..8, WHOLE);
    store_all(&sys, b, 10..12, WHOLE);
    age(&sys, a);
    age(&sys, b);
    sys.memcg_set(a, Knob::ZswapWritebackSize(Limit::Bytes(PAGE + 1))).unwrap();
    refused(&sys, a, 99);
    let r = sys.run_shrink_worker();
    // a: one page, then a second that crosses the cap; b: both of its pages; a again:
    // capped, so the rest of the run finds no candidate.
    assert_eq!(r.by_memcg, vec![(a, 2), (b, 2)]);
    assert_eq!((r.stop, r.failures), (ShrinkStop::Failures, 16));
    assert_eq!(pool_pages(&sys), 6, "above the accept threshold: the cap held");

    // A new run may write from `a` again: its first entry reaches the threshold.
    refused(&sys, a, 100);
    let r = sys.run_shrink_worker();
    assert_eq!((r.by_memcg, r.stop), (vec![(a, 1)], ShrinkStop::BelowAccept));
    assert_eq!(pool_pages(&sys), 5);
}

/// The cap binds the worker only: proactive writeback and the shrinker ignore it; 0 is
/// refused (writeback itself is switched off with `memory.zswap.writeback`).
#[test]
fn a_writeback_size_leaves_proactive_writeback_and_the_shrinker_alone() {
    let (sys, _) = small_pool(|_| {});
    let a = sys.memcg_create(MemcgId::ROOT).unwrap();
    store_all(&sys, a, 0..6, WHOLE);
    age(&sys, a);
    sys.memcg_set(a, Knob::ZswapWritebackSize(Limit::Bytes(1))).unwrap();
    assert_eq!(sys.proactive_writeback(a, 2 * PAGE), Ok(2 * PAGE));
    assert_eq!(sys.shrink_memcg(a, 2).unwrap().written, 2);
    assert!(matches!(sys.memcg_set(a, Knob::ZswapWritebackSize(Limit::Bytes(0))), Err(Error::Invalid(_))));
    // The root may set it for its own LRU.
    sys.memcg_set(MemcgId::ROOT, Knob::ZswapWritebackSize(Limit::Bytes(PAGE))).unwrap();
}
