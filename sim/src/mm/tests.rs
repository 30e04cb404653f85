//! The reclaim arithmetic the lab calibrated: `get_scan_count`'s anon share and
//! `do_shrink_slab`'s priority-driven, deferred scan of zswap's LRU.

use super::*;

/// Pages of the shrinker tests: a few batches natively, two under Miri.
const PAGES: u64 = if cfg!(miri) { 256 } else { 1024 };

/// A memcg whose task wrote `pages` pages with no limit: every page resident.
fn mm_with_pages(pages: u64) -> (Mm, Cg, TaskId) {
    let zswap =
        ZswapConfig { compressor: vswap::CompressionMode::Synthetic, shrinker_enabled: true, ..ZswapConfig::default() };
    let cfg =
        MmConfig { page_cluster: 0, ..MmConfig::new(8 * pages, 1, zswap, vec![DeviceSpec::null("swap", 8 * pages)]) };
    let mut mm = Mm::new(cfg).unwrap();
    let cg = mm.memcg_create(Mm::ROOT, "a").unwrap();
    let w = Workload::builtin("bgsave", pages).unwrap();
    let task = mm.spawn(cg, &w, 1).unwrap();
    for page in 0..w.regions[0].pages {
        let ev = Event::Access { process: Process::Parent, region: 0, page, write: true };
        mm.apply(task, &ev).unwrap();
    }
    (mm, cg, task)
}

/// Every frame of `cg` paged out, into zswap (no shrinker involved).
fn store_all(mm: &mut Mm, cg: Cg) -> u64 {
    let sys = Arc::clone(&mm.sys);
    let p = sys.pin();
    let mut stored = 0;
    while mm.memcgs[cg].lru[0].len > 0 {
        let f = mm.memcgs[cg].lru[0].tail;
        mm.lru_del(f);
        assert!(mm.pageout(&p, f).unwrap(), "frame {f} kept");
        stored += 1;
    }
    stored
}

#[test]
fn anon_gets_its_swappiness_share_of_each_priority_and_all_of_priority_0() {
    let (mut mm, _, _) = mm_with_pages(64);
    // 60 / (60 + 2 × 140) of lru >> priority.
    assert_eq!(mm.scan_count(16384, 12), 0);
    assert_eq!(mm.scan_count(16384, 6), 256 * 60 / 340);
    assert_eq!(mm.scan_count(16384, 0), 16384);
    mm.set_swappiness(200).unwrap();
    assert_eq!(mm.scan_count(16384, 6), 256);
    assert!(mm.set_swappiness(0).is_err() && mm.set_swappiness(201).is_err());
    assert_eq!(mm.swappiness, 200, "a refused value changes nothing");
}

#[test]
fn the_shrinker_defers_small_work_at_high_priority_and_writes_back_at_low_priority() {
    let (mut mm, cg, _) = mm_with_pages(PAGES);
    let stored = store_all(&mut mm, cg);
    let id = mm.memcgs[cg].id;
    let freeable = mm.sys.shrinker_count(id);
    assert!(freeable > 0 && freeable <= stored);
    // Priority 12: delta = (freeable >> 12) × 2 is below a batch: nothing is scanned and
    // the delta is deferred.
    mm.shrink_slab(cg, DEF_PRIORITY).unwrap();
    assert_eq!(mm.sys.stat().zswpwb, 0);
    assert_eq!(mm.memcgs[cg].nr_deferred, (freeable >> DEF_PRIORITY) * 4 / DEFAULT_SEEKS);
    // Priority 0: up to twice freeable is asked for. Stores are referenced, so each call's
    // first batch only gives second chances and ends the scan (SHRINK_STOP) ...
    for _ in 0..stored.div_ceil(SHRINK_BATCH) {
        mm.shrink_slab(cg, 0).unwrap();
        assert_eq!(mm.sys.stat().zswpwb, 0, "a batch of referenced entries writes nothing");
    }
    // ... and once every entry had its second chance, a call writes back.
    mm.shrink_slab(cg, 0).unwrap();
    let written = mm.sys.stat().zswpwb;
    assert!(written >= SHRINK_BATCH.min(freeable), "wrote {written}");
    // Writeback trades each entry for a folio charged to the memcg until reclaimed.
    assert_eq!(mm.memcgs[cg].wb_folios, written);
    assert_eq!(mm.memcgs[cg].resident, written);
    mm.check().unwrap();
    assert!(mm.memcgs[cg].nr_deferred <= 2 * freeable, "deferred work is capped at twice freeable");
}

#[test]
fn written_back_folios_are_reclaimed_first_once_their_write_completed() {
    let (mut mm, cg, _) = mm_with_pages(PAGES);
    let stored = store_all(&mut mm, cg);
    for _ in 0..=stored.div_ceil(SHRINK_BATCH) {
        mm.shrink_slab(cg, 0).unwrap();
    }
    let wb = mm.memcgs[cg].wb_folios;
    assert!(wb > 0);
    let sys = Arc::clone(&mm.sys);
    let p = sys.pin();
    // Still under writeback: the scan cannot free them.
    assert_eq!(mm.shrink_lruvec_to(&p, cg, wb, 0, wb, DEF_PRIORITY).unwrap(), 0);
    assert_eq!(mm.memcgs[cg].wb_folios, wb);
    // The next charge finds the writes completed: freed without I/O.
    mm.memcgs[cg].wb_in_flight = 0;
    let pswpout = mm.sys.stat().pswpout;
    assert_eq!(mm.shrink_lruvec_to(&p, cg, wb, 0, wb, DEF_PRIORITY).unwrap(), wb);
    assert_eq!((mm.memcgs[cg].wb_folios, mm.memcgs[cg].resident), (0, 0));
    assert_eq!(mm.sys.stat().pswpout, pswpout);
    mm.check().unwrap();
}
