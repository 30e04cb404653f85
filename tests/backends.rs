//! The backends behind a virtual slot, as specifications: zero pages, zswap (store, load,
//! limits, hysteresis, writeback), physical devices as tiers, swapoff, freeing, and bad
//! input. Each test checks one kernel rule (docs/kernel.md §4.3, §5.2, §5.3, §5.4, §5.7)
//! through the public facade only. memcg limits and the tree are in `tests/cgroup.rs`.

use vswap::*;

mod common;
use common::*;

/// Reclaim one mapped page: write it out and, if a backend took it, evict it.
/// Fault the slot in with a buffer pre-filled with 0xAA; the source and the bytes.
fn fault_in(sys: &SwapSystem, slot: VSlot, pfn: u64) -> (FaultSource, Vec<u8>) {
    let mut out = vec![0xAA; PAGE_SIZE];
    let f = sys.fault(0, slot, FolioId(pfn), Some(&mut out)).unwrap();
    (f.source, out)
}

fn backing(sys: &SwapSystem, slot: VSlot) -> Backing {
    match sys.state(slot).unwrap() {
        SlotState::SwappedOut { backing, .. } => backing,
        other => panic!("slot {slot:?} is not swapped out: {other:?}"),
    }
}

/// Everything observable about `slots` and `cgs`, for before/after comparisons.
type Snapshot = (Vec<Result<SlotState, Error>>, GlobalStat, Vec<Result<MemcgStat, Error>>);

fn snapshot(sys: &SwapSystem, slots: &[VSlot], cgs: &[MemcgId]) -> Snapshot {
    (slots.iter().map(|&s| sys.state(s)).collect(), sys.stat(), cgs.iter().map(|&c| sys.memcg_stat(c)).collect())
}

// ---------------------------------------------------------------------------------------
// Zero pages (docs/kernel.md §1.5, §4.3 "swap_writeout": try zero first)
// ---------------------------------------------------------------------------------------

/// A zero-filled folio only sets the Z flag: no zswap entry, no device I/O, `swpout_zero`.
#[test]
fn a_zero_filled_page_is_kept_as_the_zero_flag_without_io() {
    let sys = system();
    let dev = sys.swapon(DeviceSpec::memory("ssd", 16)).unwrap();
    let cg = sys.memcg_create(MemcgId::ROOT).unwrap();
    let (s, w) = swap_out(&sys, cg, 8, Page::Bytes(&zeros()));
    assert_eq!(w, Writeout::Zero);
    assert_eq!(sys.state(s).unwrap(), SlotState::SwappedOut { shadow: Shadow(8), count: 1, backing: Backing::Zero });
    let st = sys.stat();
    assert_eq!((st.swpout_zero, st.zswpout, st.pswpout, st.stored_pages), (1, 0, 0, 0));
    let m = sys.memcg_stat(cg).unwrap();
    assert_eq!((m.swpout_zero, m.zswpout, m.pswpout, m.swap_current, m.zswap_current), (1, 0, 0, 0, 0));
    assert_eq!(used(&sys, dev), 1, "only the header slot");
}

/// Swap-in of a zero page fills the buffer with zeros and counts `swpin_zero`.
#[test]
fn a_zero_page_faults_back_zero_filled() {
    let sys = system();
    let cg = sys.memcg_create(MemcgId::ROOT).unwrap();
    let (s, _) = swap_out(&sys, cg, 8, Page::Bytes(&zeros()));
    let mut out = vec![0xAA; PAGE_SIZE];
    let f = sys.fault(1, s, FolioId(9), Some(&mut out)).unwrap();
    assert_eq!(f, Fault { source: FaultSource::Zero, shadow: Some(Shadow(8)) });
    assert!(out.iter().all(|&b| b == 0));
    assert_eq!(sys.state(s).unwrap(), SlotState::Cached { folio: FolioId(9), count: 1 });
    assert_eq!(sys.stat().swpin_zero, 1);
    assert_eq!(sys.memcg_stat(cg).unwrap().swpin_zero, 1);
}

/// A synthetic page flagged zero is a zero page too.
#[test]
fn a_synthetic_zero_page_is_a_zero_page() {
    let sys = synthetic_system();
    let (s, w) = swap_out(&sys, MemcgId::ROOT, 8, Page::Synthetic { compressed_len: 100, zero: true });
    assert_eq!(w, Writeout::Zero);
    assert_eq!(backing(&sys, s), Backing::Zero);
    assert_eq!(sys.stat().stored_pages, 0);
}

// ---------------------------------------------------------------------------------------
// zswap store and load (docs/kernel.md §5.2)
// ---------------------------------------------------------------------------------------

/// A compressible page is stored compressed: `zswpout`, the pool and the memcg's
/// `zswap` (compressed bytes) and `zswapped` (original bytes) grow; swap is not charged.
#[test]
fn a_compressible_page_is_stored_compressed_in_zswap() {
    let sys = system();
    let cg = sys.memcg_create(MemcgId::ROOT).unwrap();
    let (s, w) = swap_out(&sys, cg, 8, Page::Bytes(&compressible(3)));
    let Writeout::Zswap { compressed } = w else { panic!("not stored in zswap: {w:?}") };
    assert!(compressed > 0 && (compressed as usize) < PAGE_SIZE, "compressed to {compressed}");
    assert_eq!(backing(&sys, s), Backing::Zswap);
    let st = sys.stat();
    assert_eq!((st.zswpout, st.stored_pages, st.stored_incompressible_pages), (1, 1, 0));
    assert_eq!(st.pool_total_size, u64::from(compressed));
    let m = sys.memcg_stat(cg).unwrap();
    assert_eq!(m.zswpout, 1);
    assert_eq!(m.zswap_current, u64::from(compressed));
    assert_eq!(m.zswapped, PAGE);
    assert_eq!(m.zswap_incomp, 0);
    assert_eq!(m.swap_current, 0, "zswap-only slots are not charged to swap");
}

/// zswap loads are exclusive: the exact bytes come back, the entry is freed and the folio
/// is dirty again, so it may not be evicted before another writeout backs it.
#[test]
fn a_zswap_load_is_exclusive_and_returns_the_exact_bytes() {
    let sys = system();
    let cg = sys.memcg_create(MemcgId::ROOT).unwrap();
    let page = compressible(5);
    let (s, _) = swap_out(&sys, cg, 8, Page::Bytes(&page));
    let (source, out) = fault_in(&sys, s, 16);
    assert_eq!(source, FaultSource::Zswap);
    assert_eq!(out, page);
    let st = sys.stat();
    assert_eq!((st.zswpin, st.stored_pages, st.pool_total_size), (1, 0, 0));
    let m = sys.memcg_stat(cg).unwrap();
    assert_eq!((m.zswpin, m.zswap_current, m.zswapped), (1, 0, 0));
    assert_eq!(sys.state(s).unwrap(), SlotState::Cached { folio: FolioId(16), count: 1 });
    assert_eq!(sys.evict(s, Shadow(1)), Err(Error::NotBacked));
    assert_eq!(sys.state(s).unwrap(), SlotState::Cached { folio: FolioId(16), count: 1 });
    assert!(matches!(sys.writeout(s, Page::Bytes(&page)).unwrap(), Writeout::Zswap { .. }));
    sys.evict(s, Shadow(1)).unwrap();
    assert_eq!(backing(&sys, s), Backing::Zswap);
}

/// A page that does not compress is stored as-is (length `PAGE_SIZE`) while writeback is
/// enabled, to keep the LRU order of writeback: `zswap_incomp`,
/// `stored_incompressible_pages`.
#[test]
fn an_incompressible_page_is_stored_as_is_when_writeback_is_enabled() {
    let sys = system();
    let cg = sys.memcg_create(MemcgId::ROOT).unwrap();
    let page = incompressible(0x9E37_79B9_7F4A_7C15);
    let (s, w) = swap_out(&sys, cg, 8, Page::Bytes(&page));
    assert_eq!(w, Writeout::Zswap { compressed: PAGE_SIZE as u32 });
    let st = sys.stat();
    assert_eq!((st.stored_pages, st.stored_incompressible_pages, st.pool_total_size), (1, 1, PAGE));
    let m = sys.memcg_stat(cg).unwrap();
    assert_eq!((m.zswap_current, m.zswapped, m.zswap_incomp), (PAGE, PAGE, PAGE));
    assert_eq!(fault_in(&sys, s, 16), (FaultSource::Zswap, page));
    assert_eq!(sys.stat().stored_incompressible_pages, 0);
    assert_eq!(sys.memcg_stat(cg).unwrap().zswap_incomp, 0);
}

/// With `memory.zswap.writeback` 0 an incompressible page is rejected
/// (`reject_compress_fail`: lz4 gives a useless result, -EINVAL) and, since writeback
/// disables all swapping to devices, the folio is kept even though a device has room.
#[test]
fn an_incompressible_page_is_kept_when_zswap_writeback_is_disabled() {
    let sys = system();
    let dev = sys.swapon(DeviceSpec::memory("ssd", 16)).unwrap();
    let cg = sys.memcg_create(MemcgId::ROOT).unwrap();
    sys.memcg_set(cg, Knob::ZswapWriteback(false)).unwrap();
    let (s, w) = swap_out(&sys, cg, 8, Page::Bytes(&incompressible(77)));
    assert_eq!(w, Writeout::Kept(KeepReason::WritebackDisabled));
    let st = sys.stat();
    assert_eq!(st.reject_compress_fail, 1);
    assert_eq!(st.reject_compress_poor, 0);
    assert_eq!((st.stored_pages, st.pswpout, st.zswpout), (0, 0, 0));
    assert_eq!(used(&sys, dev), 1);
    assert_eq!(sys.evict(s, Shadow(1)), Err(Error::NotBacked), "the folio stays resident");
}

/// With `ZswapConfig::reject_incompressible` (6.12's `zswap_compress`) a page that does
/// not compress is rejected even though writeback is enabled: `reject_compress_fail`
/// (lz4's output does not fit the page, -EINVAL), nothing stored or charged to zswap, and
/// the folio goes to the device (`pswpout`); it faults back from there intact. A page
/// that compresses is stored as before.
#[test]
fn an_incompressible_page_goes_to_the_device_under_reject_incompressible() {
    let sys = system_with(|c| c.zswap.reject_incompressible = true);
    let dev = sys.swapon(DeviceSpec::memory("ssd", 16)).unwrap();
    let cg = sys.memcg_create(MemcgId::ROOT).unwrap();
    let page = incompressible(0x9E37_79B9_7F4A_7C15);
    let (s, w) = swap_out(&sys, cg, 8, Page::Bytes(&page));
    assert_eq!(w, Writeout::Device(dev));
    assert_eq!(backing(&sys, s), Backing::Device(dev));
    let st = sys.stat();
    assert_eq!((st.reject_compress_fail, st.reject_compress_poor), (1, 0));
    assert_eq!((st.stored_pages, st.stored_incompressible_pages, st.pool_total_size), (0, 0, 0));
    assert_eq!((st.zswpout, st.pswpout), (0, 1));
    let m = sys.memcg_stat(cg).unwrap();
    assert_eq!((m.zswap_current, m.zswapped, m.zswap_incomp, m.zswpout, m.pswpout), (0, 0, 0, 0, 1));
    assert_eq!(m.swap_current, PAGE, "the device slot is charged");
    assert_eq!(fault_in(&sys, s, 16), (FaultSource::Device(dev), page));
    let (_, w) = swap_out(&sys, cg, 24, Page::Bytes(&compressible(3)));
    assert!(matches!(w, Writeout::Zswap { compressed } if (compressed as usize) < PAGE_SIZE));
}

/// Synthetic sizes under `reject_incompressible`: over a page is -ENOSPC
/// (`reject_compress_poor`), 0 or exactly a page a useless result (`reject_compress_fail`);
/// each goes to the device while a useful size is stored.
#[test]
fn synthetic_incompressible_pages_are_rejected_under_reject_incompressible() {
    let sys = system_with(|c| {
        c.zswap.compressor = CompressionMode::Synthetic;
        c.zswap.reject_incompressible = true;
    });
    let dev = sys.swapon(DeviceSpec::memory("ssd", 16)).unwrap();
    for (pfn, len) in [(8, 5000), (16, 0), (24, PAGE_SIZE as u32)] {
        let (_, w) = swap_out(&sys, MemcgId::ROOT, pfn, Page::Synthetic { compressed_len: len, zero: false });
        assert_eq!(w, Writeout::Device(dev), "length {len}");
    }
    let (_, w) = swap_out(&sys, MemcgId::ROOT, 32, Page::Synthetic { compressed_len: 1000, zero: false });
    assert_eq!(w, Writeout::Zswap { compressed: 1000 });
    let st = sys.stat();
    assert_eq!((st.reject_compress_poor, st.reject_compress_fail), (1, 2));
    assert_eq!((st.stored_pages, st.stored_incompressible_pages, st.pswpout, st.zswpout), (1, 0, 3, 1));
}

/// `zswap.writeback = 0` differs from `swap.max = 0`: pages may still go into zswap.
#[test]
fn a_compressible_page_still_goes_to_zswap_when_writeback_is_disabled() {
    let sys = system();
    let cg = sys.memcg_create(MemcgId::ROOT).unwrap();
    sys.memcg_set(cg, Knob::ZswapWriteback(false)).unwrap();
    let (_, w) = swap_out(&sys, cg, 8, Page::Bytes(&compressible(1)));
    assert!(matches!(w, Writeout::Zswap { compressed } if (compressed as usize) < PAGE_SIZE));
}

// ---------------------------------------------------------------------------------------
// The synthetic compressor
// ---------------------------------------------------------------------------------------

/// A compressed length above a page did not fit the destination (-ENOSPC):
/// `reject_compress_poor` when writeback may not take it as-is.
#[test]
fn synthetic_pages_that_do_not_fit_a_page_count_as_poor_compression() {
    let sys = synthetic_system();
    let cg = sys.memcg_create(MemcgId::ROOT).unwrap();
    sys.memcg_set(cg, Knob::ZswapWriteback(false)).unwrap();
    let (_, w) = swap_out(&sys, cg, 8, Page::Synthetic { compressed_len: 5000, zero: false });
    assert_eq!(w, Writeout::Kept(KeepReason::WritebackDisabled));
    let st = sys.stat();
    assert_eq!((st.reject_compress_poor, st.reject_compress_fail, st.stored_pages), (1, 0, 0));
}

/// A compressed length of 0 or exactly a page is a useless result (-EINVAL):
/// `reject_compress_fail` when writeback may not take it as-is.
#[test]
fn synthetic_pages_of_zero_or_page_length_count_as_compression_failures() {
    let sys = synthetic_system();
    let cg = sys.memcg_create(MemcgId::ROOT).unwrap();
    sys.memcg_set(cg, Knob::ZswapWriteback(false)).unwrap();
    for (pfn, len) in [(8, 0), (16, PAGE_SIZE as u32)] {
        let (_, w) = swap_out(&sys, cg, pfn, Page::Synthetic { compressed_len: len, zero: false });
        assert_eq!(w, Writeout::Kept(KeepReason::WritebackDisabled), "length {len}");
    }
    let st = sys.stat();
    assert_eq!((st.reject_compress_fail, st.reject_compress_poor, st.stored_pages), (2, 0, 0));
}

/// With writeback enabled every useless synthetic result is stored with length
/// `PAGE_SIZE`; a useful one with its own length.
#[test]
fn synthetic_incompressible_pages_are_stored_whole_when_writeback_is_enabled() {
    let sys = synthetic_system();
    for (pfn, len) in [(8, 5000), (16, 0), (24, PAGE_SIZE as u32)] {
        let (s, w) = swap_out(&sys, MemcgId::ROOT, pfn, Page::Synthetic { compressed_len: len, zero: false });
        assert_eq!(w, Writeout::Zswap { compressed: PAGE_SIZE as u32 }, "length {len}");
        assert_eq!(backing(&sys, s), Backing::Zswap);
    }
    let (_, w) = swap_out(&sys, MemcgId::ROOT, 32, Page::Synthetic { compressed_len: 1000, zero: false });
    assert_eq!(w, Writeout::Zswap { compressed: 1000 });
    let st = sys.stat();
    assert_eq!((st.stored_pages, st.stored_incompressible_pages), (4, 3));
    assert_eq!(st.pool_total_size, 3 * PAGE + 1000);
    assert_eq!((st.reject_compress_fail, st.reject_compress_poor), (0, 0));
}

/// The synthetic compressor takes `Page::Synthetic` only; real bytes are refused and
/// nothing changes.
#[test]
fn the_synthetic_compressor_refuses_real_bytes() {
    let sys = synthetic_system();
    let s = mapped(&sys, MemcgId::ROOT, 8);
    let before = snapshot(&sys, &[s], &[MemcgId::ROOT]);
    assert!(matches!(sys.writeout(s, Page::Bytes(&compressible(1))), Err(Error::Invalid(_))));
    assert_eq!(snapshot(&sys, &[s], &[MemcgId::ROOT]), before);
}

// ---------------------------------------------------------------------------------------
// zswap disabled (docs/kernel.md §5.7, Appendix A "memory.zswap.writeback")
// ---------------------------------------------------------------------------------------

/// With zswap disabled, a non-zero page goes straight to a device.
#[test]
fn with_zswap_disabled_pages_go_straight_to_the_device() {
    let sys = system_without_zswap();
    let dev = sys.swapon(DeviceSpec::memory("ssd", 16)).unwrap();
    let cg = sys.memcg_create(MemcgId::ROOT).unwrap();
    let page = compressible(2);
    let (s, w) = swap_out(&sys, cg, 8, Page::Bytes(&page));
    assert_eq!(w, Writeout::Device(dev));
    assert_eq!(backing(&sys, s), Backing::Device(dev));
    let st = sys.stat();
    assert_eq!((st.zswpout, st.stored_pages, st.pswpout), (0, 0, 1));
    let m = sys.memcg_stat(cg).unwrap();
    assert_eq!((m.pswpout, m.swap_current), (1, PAGE));
    assert_eq!(used(&sys, dev), 2);
    assert_eq!(fault_in(&sys, s, 16), (FaultSource::Device(dev), page));
    assert_eq!(sys.memcg_stat(cg).unwrap().pswpin, 1);
}

/// `memory.zswap.writeback` has no effect while zswap is disabled: swapping is allowed.
#[test]
fn with_zswap_disabled_the_writeback_knob_is_ignored() {
    let sys = system_without_zswap();
    let dev = sys.swapon(DeviceSpec::memory("ssd", 16)).unwrap();
    let cg = sys.memcg_create(MemcgId::ROOT).unwrap();
    sys.memcg_set(cg, Knob::ZswapWriteback(false)).unwrap();
    let (_, w) = swap_out(&sys, cg, 8, Page::Bytes(&incompressible(5)));
    assert_eq!(w, Writeout::Device(dev));
    assert_eq!(sys.stat().reject_compress_fail, 0);
}

// ---------------------------------------------------------------------------------------
// The pool limit and its hysteresis (docs/kernel.md §5.4)
// ---------------------------------------------------------------------------------------

/// A pool of `ram_pages * max_pool_percent / 100` = 4 pages, accepting again at
/// `accept` percent of that.
fn small_pool(accept: u32) -> SwapSystem {
    system_with(|c| {
        c.ram_pages = 20;
        c.zswap.accept_threshold_percent = accept;
    })
}

/// Store incompressible pages (one pool page each) from `pfn`; the slots.
fn fill(sys: &SwapSystem, pfns: std::ops::Range<u64>) -> Vec<VSlot> {
    pfns.map(|pfn| {
        let (s, w) = swap_out(sys, MemcgId::ROOT, pfn, Page::Bytes(&incompressible(pfn)));
        assert_eq!(w, Writeout::Zswap { compressed: PAGE_SIZE as u32 }, "pfn {pfn}");
        s
    })
    .collect()
}

/// Store one more incompressible page; Some(slot) if zswap took it.
fn try_store(sys: &SwapSystem, pfn: u64) -> Option<VSlot> {
    let (s, w) = swap_out(sys, MemcgId::ROOT, pfn, Page::Bytes(&incompressible(pfn)));
    match w {
        Writeout::Zswap { .. } => Some(s),
        Writeout::Kept(KeepReason::NoSpace) => None,
        other => panic!("unexpected {other:?}"),
    }
}

/// Once the pool holds `max_pages`, a store is refused and `pool_limit_hit` counts each
/// refusal at the limit.
#[test]
fn a_full_pool_refuses_stores_and_counts_pool_limit_hit() {
    let sys = small_pool(90);
    fill(&sys, 1..5);
    assert_eq!(sys.stat().pool_limit_hit, 0);
    assert_eq!(try_store(&sys, 5), None);
    assert_eq!(try_store(&sys, 6), None);
    let st = sys.stat();
    assert_eq!(st.pool_limit_hit, 2);
    assert_eq!((st.stored_pages, st.pool_total_size), (4, 4 * PAGE));
}

/// After the pool fills, stores stay refused until it shrinks to the accept threshold
/// (here 50% of 4 pages = 2), then they are accepted again.
#[test]
fn after_the_pool_fills_stores_stay_refused_until_it_drops_to_the_accept_threshold() {
    let sys = small_pool(50);
    let slots = fill(&sys, 1..5);
    assert_eq!(try_store(&sys, 10), None);
    assert_eq!(sys.stat().pool_limit_hit, 1);
    fault_in(&sys, slots[0], 100);
    assert_eq!(try_store(&sys, 11), None, "3 pages: still above the threshold");
    assert_eq!(sys.stat().pool_limit_hit, 1, "below the limit: no new hit");
    fault_in(&sys, slots[1], 101);
    assert!(try_store(&sys, 12).is_some(), "2 pages: at the threshold, accepted");
    assert!(try_store(&sys, 13).is_some(), "3 pages: below the limit, accepted");
    assert_eq!(sys.stat().stored_pages, 4);
}

/// An accept threshold of 100% disables the hysteresis: one freed page is enough.
#[test]
fn an_accept_threshold_of_100_percent_disables_the_hysteresis() {
    let sys = small_pool(100);
    let slots = fill(&sys, 1..5);
    assert_eq!(try_store(&sys, 10), None);
    fault_in(&sys, slots[0], 100);
    assert!(try_store(&sys, 11).is_some());
    assert_eq!(sys.stat().pool_limit_hit, 1);
}

// ---------------------------------------------------------------------------------------
// zswap writeback (docs/kernel.md §4.3 "zswap writeback for a vswap entry", §5.3)
// ---------------------------------------------------------------------------------------

/// Writeback moves one entry to a physical slot: `zswpwb`, `written_back_pages`,
/// `pswpout`, the swap charge; the entry is freed and the data is intact on the device.
#[test]
fn writeback_moves_a_zswap_entry_to_a_device_intact() {
    let sys = system();
    let dev = sys.swapon(DeviceSpec::memory("ssd", 16)).unwrap();
    let cg = sys.memcg_create(MemcgId::ROOT).unwrap();
    let page = compressible(9);
    let (s, _) = swap_out(&sys, cg, 8, Page::Bytes(&page));
    sys.writeback(s).unwrap();
    assert_eq!(
        sys.state(s).unwrap(),
        SlotState::SwappedOut { shadow: Shadow(8), count: 1, backing: Backing::Device(dev) }
    );
    let st = sys.stat();
    assert_eq!((st.zswpwb, st.written_back_pages, st.pswpout), (1, 1, 1));
    assert_eq!((st.stored_pages, st.pool_total_size), (0, 0));
    let m = sys.memcg_stat(cg).unwrap();
    assert_eq!((m.zswpwb, m.pswpout, m.swap_current, m.zswap_current, m.zswapped), (1, 1, PAGE, 0, 0));
    assert_eq!(used(&sys, dev), 2);
    assert_eq!(fault_in(&sys, s, 16), (FaultSource::Device(dev), page));
}

/// A slot in the swap cache is hot: writeback backs off (-EEXIST) and changes nothing.
#[test]
fn writeback_of_a_cached_slot_is_busy() {
    let sys = system();
    sys.swapon(DeviceSpec::memory("ssd", 16)).unwrap();
    let s = mapped(&sys, MemcgId::ROOT, 8);
    assert!(matches!(sys.writeout(s, Page::Bytes(&compressible(1))).unwrap(), Writeout::Zswap { .. }));
    let before = snapshot(&sys, &[s], &[MemcgId::ROOT]);
    assert_eq!(sys.writeback(s), Err(Error::InSwapCache));
    assert_eq!(snapshot(&sys, &[s], &[MemcgId::ROOT]), before);
}

/// Writeback takes only zswap entries: a device-backed, zero or unbacked slot is
/// `NotInZswap` and nothing changes.
#[test]
fn writeback_of_a_slot_not_in_zswap_is_refused() {
    let sys = system();
    let dev = sys.swapon(DeviceSpec::memory("ssd", 16)).unwrap();
    let cg = sys.memcg_create(MemcgId::ROOT).unwrap();
    sys.memcg_set(cg, Knob::ZswapMax(Limit::Bytes(0))).unwrap();
    let (on_dev, w) = swap_out(&sys, cg, 8, Page::Bytes(&compressible(1)));
    assert_eq!(w, Writeout::Device(dev));
    let (zero, _) = swap_out(&sys, cg, 16, Page::Bytes(&zeros()));
    let unbacked = mapped(&sys, cg, 24);
    sys.swap_cache_del(unbacked, Shadow(3)).unwrap();
    assert_eq!(backing(&sys, unbacked), Backing::None);
    let all = [on_dev, zero, unbacked];
    let before = snapshot(&sys, &all, &[cg]);
    for s in all {
        assert_eq!(sys.writeback(s), Err(Error::NotInZswap), "{:?}", sys.state(s));
        assert_eq!(snapshot(&sys, &all, &[cg]), before);
    }
}

/// With no device to take the page, writeback fails with `DeviceFull` (the slot
/// allocation failed: `swap_events_fail`); the entry stays in zswap.
#[test]
fn writeback_without_a_device_fails_with_device_full() {
    let sys = system();
    let cg = sys.memcg_create(MemcgId::ROOT).unwrap();
    let page = compressible(4);
    let (s, _) = swap_out(&sys, cg, 8, Page::Bytes(&page));
    let (state, global) = (sys.state(s).unwrap(), sys.stat());
    let m = sys.memcg_stat(cg).unwrap();
    assert_eq!(sys.writeback(s), Err(Error::DeviceFull));
    assert_eq!(sys.state(s).unwrap(), state);
    assert_eq!(sys.stat(), global);
    let after = sys.memcg_stat(cg).unwrap();
    assert_eq!(after.swap_events_fail, m.swap_events_fail + 1);
    assert_eq!(after.swap_peak, 0, "no physical slot was ever charged");
    assert_eq!(MemcgStat { swap_events_fail: m.swap_events_fail, ..after }, m);
    assert_eq!(fault_in(&sys, s, 16), (FaultSource::Zswap, page));
}

// ---------------------------------------------------------------------------------------
// Devices as tiers (docs/kernel.md §4.5; docs/api.md "Devices")
// ---------------------------------------------------------------------------------------

/// A fresh device counts only its header slot as used.
#[test]
fn a_new_device_reports_its_size_priority_and_header_slot() {
    let sys = system();
    let dev = sys.swapon(DeviceSpec::memory("ssd", 20).priority(7)).unwrap();
    assert_eq!(sys.device_stat(dev).unwrap(), DeviceStat { name: "ssd".into(), priority: 7, pages: 20, used: 1 });
    let plain = sys.swapon(DeviceSpec::null("count", 2)).unwrap();
    assert_eq!(sys.device_stat(plain).unwrap().priority, -1, "DEF_SWAP_PRIO");
}

/// Higher priority is used first, whatever the swapon order.
#[test]
fn the_highest_priority_device_is_used_first() {
    let sys = system_without_zswap();
    let low = sys.swapon(DeviceSpec::memory("hdd", 16).priority(1)).unwrap();
    let high = sys.swapon(DeviceSpec::memory("ssd", 16).priority(10)).unwrap();
    for pfn in 1..4 {
        let (s, w) = swap_out(&sys, MemcgId::ROOT, pfn * 8, Page::Bytes(&compressible(pfn as u8)));
        assert_eq!(w, Writeout::Device(high));
        assert_eq!(backing(&sys, s), Backing::Device(high));
    }
    assert_eq!((used(&sys, high), used(&sys, low)), (4, 1));
}

/// Devices of equal priority take turns (`plist_requeue`).
#[test]
fn devices_of_equal_priority_take_turns() {
    let sys = system_without_zswap();
    let a = sys.swapon(DeviceSpec::memory("a", 16).priority(5)).unwrap();
    let b = sys.swapon(DeviceSpec::memory("b", 16).priority(5)).unwrap();
    let mut got = Vec::new();
    for pfn in 1..5 {
        let (_, w) = swap_out(&sys, MemcgId::ROOT, pfn * 8, Page::Bytes(&compressible(pfn as u8)));
        got.push(w);
    }
    assert!(got.iter().all(|w| matches!(w, Writeout::Device(d) if *d == a || *d == b)), "{got:?}");
    assert_eq!((used(&sys, a), used(&sys, b)), (3, 3), "two pages each: {got:?}");
}

/// A full device makes the allocator fall through to the next tier.
#[test]
fn a_full_device_spills_to_the_next_tier() {
    let sys = system_without_zswap();
    let fast = sys.swapon(DeviceSpec::memory("fast", 3).priority(10)).unwrap();
    let slow = sys.swapon(DeviceSpec::memory("slow", 16).priority(0)).unwrap();
    let mut got = Vec::new();
    for pfn in 1..5 {
        let (_, w) = swap_out(&sys, MemcgId::ROOT, pfn * 8, Page::Bytes(&compressible(pfn as u8)));
        got.push(w);
    }
    let d = |dev| Writeout::Device(dev);
    assert_eq!(got, [d(fast), d(fast), d(slow), d(slow)]);
    assert_eq!((used(&sys, fast), used(&sys, slow)), (3, 3));
}

/// With zswap refusing and no room on any device the folio is kept (`NoSpace`) and
/// `swap.events fail` is raised; nothing stays charged.
#[test]
fn with_no_room_anywhere_the_folio_is_kept_and_swap_fail_is_raised() {
    let sys = system_without_zswap();
    let dev = sys.swapon(DeviceSpec::memory("tiny", 2)).unwrap();
    let cg = sys.memcg_create(MemcgId::ROOT).unwrap();
    let (_, w) = swap_out(&sys, cg, 8, Page::Bytes(&compressible(1)));
    assert_eq!(w, Writeout::Device(dev));
    let (s, w) = swap_out(&sys, cg, 16, Page::Bytes(&compressible(2)));
    assert_eq!(w, Writeout::Kept(KeepReason::NoSpace));
    assert_eq!(sys.state(s).unwrap(), SlotState::Cached { folio: FolioId(16), count: 1 });
    let m = sys.memcg_stat(cg).unwrap();
    assert_eq!((m.swap_events_fail, m.swap_events_max), (1, 0));
    assert_eq!((m.swap_current, m.swap_peak, m.pswpout), (PAGE, PAGE, 1));
    assert_eq!(used(&sys, dev), 2);
}

/// Without any device a page zswap refuses is kept with `NoSpace`.
#[test]
fn without_any_device_a_refused_page_is_kept() {
    let sys = system_without_zswap();
    let (_, w) = swap_out(&sys, MemcgId::ROOT, 8, Page::Bytes(&compressible(1)));
    assert_eq!(w, Writeout::Kept(KeepReason::NoSpace));
    assert_eq!(sys.memcg_stat(MemcgId::ROOT).unwrap().swap_current, 0);
}

// ---------------------------------------------------------------------------------------
// swapoff (docs/api.md "Devices"; docs/kernel.md §4.3 rmap)
// ---------------------------------------------------------------------------------------

/// Swapoff moves every page through the reverse map to the other devices, by priority;
/// afterwards the pages read back intact from their new device and the old one is gone.
#[test]
fn swapoff_moves_every_page_to_the_remaining_devices() {
    let sys = system_without_zswap();
    let old = sys.swapon(DeviceSpec::memory("old", 16).priority(10)).unwrap();
    let low = sys.swapon(DeviceSpec::memory("low", 16).priority(1)).unwrap();
    let mid = sys.swapon(DeviceSpec::memory("mid", 16).priority(5)).unwrap();
    let cg = sys.memcg_create(MemcgId::ROOT).unwrap();
    let (pages, slots) = three_on_device(&sys, cg, old);
    let charged = sys.memcg_stat(cg).unwrap().swap_current;
    let report = sys.swapoff(old).unwrap();
    assert_eq!(report.pages_moved, 3);
    assert_eq!(report.moved_to, vec![(mid, 3)]);
    assert_eq!(report.cache_only, 0);
    assert_eq!(sys.device_stat(old), Err(Error::InvalidDevice));
    assert_eq!((used(&sys, mid), used(&sys, low)), (4, 1));
    assert_eq!(sys.memcg_stat(cg).unwrap().swap_current, charged, "the charge follows the page");
    for ((&s, page), i) in slots.iter().zip(&pages).zip(1u64..) {
        assert_eq!(backing(&sys, s), Backing::Device(mid));
        assert_eq!(fault_in(&sys, s, 100 + i), (FaultSource::Device(mid), page.clone()));
    }
}

/// Swapoff reserves room for every page first: without enough room it fails with
/// `DeviceFull` and nothing moves; the device stays usable.
#[test]
fn swapoff_without_room_moves_nothing() {
    let sys = system_without_zswap();
    let old = sys.swapon(DeviceSpec::memory("old", 16).priority(10)).unwrap();
    let small = sys.swapon(DeviceSpec::memory("small", 3).priority(1)).unwrap();
    let (pages, slots) = three_on_device(&sys, MemcgId::ROOT, old);
    let devs = |sys: &SwapSystem| (sys.device_stat(old), sys.device_stat(small));
    let before = (snapshot(&sys, &slots, &[MemcgId::ROOT]), devs(&sys));
    assert_eq!(sys.swapoff(old), Err(Error::DeviceFull));
    assert_eq!((snapshot(&sys, &slots, &[MemcgId::ROOT]), devs(&sys)), before);
    let (_, w) = swap_out(&sys, MemcgId::ROOT, 64, Page::Bytes(&compressible(1)));
    assert_eq!(w, Writeout::Device(old), "the device still takes pages");
    for ((&s, page), i) in slots.iter().zip(&pages).zip(1u64..) {
        assert_eq!(fault_in(&sys, s, 100 + i), (FaultSource::Device(old), page.clone()));
    }
}

/// Swapoff walks the device's reverse map only: zswap-backed slots are not touched.
#[test]
fn swapoff_leaves_zswap_backed_pages_alone() {
    let sys = system();
    let old = sys.swapon(DeviceSpec::memory("old", 16).priority(10)).unwrap();
    let other = sys.swapon(DeviceSpec::memory("other", 16)).unwrap();
    let zpage = compressible(6);
    let (in_zswap, w) = swap_out(&sys, MemcgId::ROOT, 8, Page::Bytes(&zpage));
    assert!(matches!(w, Writeout::Zswap { .. }));
    let (on_dev, _) = swap_out(&sys, MemcgId::ROOT, 16, Page::Bytes(&compressible(7)));
    sys.writeback(on_dev).unwrap();
    assert_eq!(backing(&sys, on_dev), Backing::Device(old));
    let zstate = sys.state(in_zswap).unwrap();
    let pool = sys.stat().pool_total_size;
    let report = sys.swapoff(old).unwrap();
    assert_eq!((report.pages_moved, report.moved_to.clone()), (1, vec![(other, 1)]));
    assert_eq!(sys.state(in_zswap).unwrap(), zstate);
    assert_eq!(sys.stat().pool_total_size, pool);
    assert_eq!(backing(&sys, on_dev), Backing::Device(other));
    assert_eq!(fault_in(&sys, in_zswap, 100), (FaultSource::Zswap, zpage));
}

// ---------------------------------------------------------------------------------------
// Freeing releases the backend (docs/kernel.md §2.4, §5.2 "zswap_invalidate", §6.2)
// ---------------------------------------------------------------------------------------

/// The last `put` of a zswap-backed slot frees the slot and its entry, uncharging zswap.
#[test]
fn freeing_a_zswap_backed_slot_frees_its_entry() {
    let sys = system();
    let cg = sys.memcg_create(MemcgId::ROOT).unwrap();
    let (s, _) = swap_out(&sys, cg, 8, Page::Bytes(&compressible(1)));
    assert_eq!(sys.put(s).unwrap(), 0);
    assert_eq!(sys.state(s).unwrap(), SlotState::Free);
    let st = sys.stat();
    assert_eq!((st.stored_pages, st.pool_total_size, st.vslots_in_use), (0, 0, 0));
    let m = sys.memcg_stat(cg).unwrap();
    assert_eq!((m.zswap_current, m.zswapped), (0, 0));
}

/// `folio_free_swap` of a written-out but still cached folio (count 0) frees the slot and
/// its zswap entry.
#[test]
fn releasing_a_cached_zswap_backed_slot_frees_its_entry() {
    let sys = system();
    let s = sys.alloc(0, MemcgId::ROOT, FolioId(8), 0).unwrap();
    assert!(matches!(sys.writeout(s, Page::Bytes(&incompressible(3))).unwrap(), Writeout::Zswap { .. }));
    assert_eq!(sys.stat().stored_incompressible_pages, 1);
    assert!(sys.release(s).unwrap());
    assert_eq!(sys.state(s).unwrap(), SlotState::Free);
    let st = sys.stat();
    assert_eq!((st.stored_pages, st.stored_incompressible_pages, st.pool_total_size), (0, 0, 0));
}

/// Freeing a device-backed slot frees the physical slot and uncharges `swap.current`.
#[test]
fn freeing_a_device_backed_slot_frees_the_physical_slot_and_uncharges_swap() {
    let sys = system_without_zswap();
    let dev = sys.swapon(DeviceSpec::memory("ssd", 16)).unwrap();
    let cg = sys.memcg_create(MemcgId::ROOT).unwrap();
    let (s, _) = swap_out(&sys, cg, 8, Page::Bytes(&compressible(1)));
    assert_eq!((used(&sys, dev), sys.memcg_stat(cg).unwrap().swap_current), (2, PAGE));
    assert_eq!(sys.put(s).unwrap(), 0);
    assert_eq!(sys.state(s).unwrap(), SlotState::Free);
    assert_eq!(used(&sys, dev), 1);
    assert_eq!(sys.memcg_stat(cg).unwrap().swap_current, 0);
    assert_eq!(sys.memcg_stat(MemcgId::ROOT).unwrap().swap_current, 0);
}

/// A cached page written to a device again reuses its physical slot: no second charge.
#[test]
fn a_second_writeout_to_the_device_reuses_the_physical_slot() {
    let sys = system_without_zswap();
    let dev = sys.swapon(DeviceSpec::memory("ssd", 16)).unwrap();
    let (s, _) = swap_out(&sys, MemcgId::ROOT, 8, Page::Bytes(&compressible(1)));
    fault_in(&sys, s, 16);
    let page = incompressible(11);
    assert_eq!(sys.writeout(s, Page::Bytes(&page)).unwrap(), Writeout::Device(dev));
    sys.evict(s, Shadow(2)).unwrap();
    assert_eq!(used(&sys, dev), 2);
    assert_eq!(sys.memcg_stat(MemcgId::ROOT).unwrap().swap_current, PAGE);
    assert_eq!(fault_in(&sys, s, 24), (FaultSource::Device(dev), page));
}

/// A large folio written out again while still cached rewrites its device slots in
/// place, each page at its own slot.
#[test]
fn a_large_folio_written_again_rewrites_each_page_in_its_own_device_slot() {
    let sys = system_without_zswap();
    let dev = sys.swapon(DeviceSpec::memory("ssd", 16)).unwrap();
    let s = sys.alloc(0, MemcgId::ROOT, FolioId(16), 1).unwrap();
    let second = VSlot::from_raw(s.raw() + 1);
    sys.dup(s).unwrap();
    sys.dup(second).unwrap();
    let old: Vec<u8> = [incompressible(5), incompressible(6)].concat();
    let new: Vec<u8> = [incompressible(7), incompressible(8)].concat();
    assert_eq!(sys.writeout(s, Page::Bytes(&old)).unwrap(), Writeout::Device(dev));
    assert_eq!(sys.writeout(s, Page::Bytes(&new)).unwrap(), Writeout::Device(dev));
    assert_eq!(used(&sys, dev), 3, "the header and the same two slots");
    sys.evict(s, Shadow(1)).unwrap();
    assert_eq!(fault_in(&sys, s, 32), (FaultSource::Device(dev), new[..PAGE_SIZE].to_vec()));
    assert_eq!(fault_in(&sys, second, 40), (FaultSource::Device(dev), new[PAGE_SIZE..].to_vec()));
}

// ---------------------------------------------------------------------------------------
// Bad input: a typed error and no change (docs/api.md "Errors")
// ---------------------------------------------------------------------------------------

/// `Page::Bytes` must hold exactly the folio (`PAGE_SIZE << order`).
#[test]
fn a_page_buffer_of_the_wrong_length_is_refused() {
    let sys = system();
    sys.swapon(DeviceSpec::memory("ssd", 16)).unwrap();
    let s = mapped(&sys, MemcgId::ROOT, 8);
    let before = snapshot(&sys, &[s], &[MemcgId::ROOT]);
    for len in [0, 1, PAGE_SIZE - 1, PAGE_SIZE + 1, 2 * PAGE_SIZE] {
        assert_eq!(sys.writeout(s, Page::Bytes(&vec![7; len])), Err(Error::BadPage), "length {len}");
        assert_eq!(snapshot(&sys, &[s], &[MemcgId::ROOT]), before);
    }
}

/// The fault buffer must be one page; the slot stays swapped out.
#[test]
fn a_fault_buffer_of_the_wrong_length_is_refused() {
    let sys = system();
    let (s, _) = swap_out(&sys, MemcgId::ROOT, 8, Page::Bytes(&compressible(1)));
    let before = snapshot(&sys, &[s], &[MemcgId::ROOT]);
    for len in [0, PAGE_SIZE - 1, PAGE_SIZE + 1] {
        let mut out = vec![0; len];
        assert_eq!(sys.fault(0, s, FolioId(16), Some(&mut out)), Err(Error::BadPage), "length {len}");
        assert_eq!(snapshot(&sys, &[s], &[MemcgId::ROOT]), before);
    }
}

/// Swapoff of a device that is not on (never was, or already off) is `InvalidDevice`.
#[test]
fn swapoff_of_an_unknown_device_is_refused() {
    let sys = system();
    let dev = sys.swapon(DeviceSpec::memory("ssd", 16)).unwrap();
    let kept = sys.swapon(DeviceSpec::memory("kept", 16)).unwrap();
    assert_eq!(sys.swapoff(dev).unwrap().pages_moved, 0);
    let before = (sys.stat(), sys.device_stat(kept));
    assert_eq!(sys.swapoff(dev), Err(Error::InvalidDevice));
    assert_eq!(sys.device_stat(dev), Err(Error::InvalidDevice));
    assert_eq!((sys.stat(), sys.device_stat(kept)), before);
}

/// A device's file must be creatable: a path in a missing directory is an I/O error and
/// no device is added.
#[test]
#[cfg_attr(miri, ignore)]
fn a_file_device_in_a_missing_directory_fails_with_io() {
    let sys = system_without_zswap();
    let path = std::env::temp_dir().join(format!("vswap-missing-{}", std::process::id())).join("swapfile");
    assert!(matches!(sys.swapon(DeviceSpec::file("disk", path, 16)), Err(Error::Io(_))));
    let (_, w) = swap_out(&sys, MemcgId::ROOT, 8, Page::Bytes(&compressible(1)));
    assert_eq!(w, Writeout::Kept(KeepReason::NoSpace), "no device was added");
}

/// A device needs its header slot and at least one usable slot.
#[test]
fn devices_need_at_least_two_pages() {
    let sys = system();
    for pages in [0, 1] {
        assert!(matches!(sys.swapon(DeviceSpec::memory("tiny", pages)), Err(Error::Invalid(_))), "{pages}");
    }
    let dev = sys.swapon(DeviceSpec::memory("two", 2)).unwrap();
    assert_eq!(sys.device_stat(dev).unwrap().used, 1);
}

// ---------------------------------------------------------------------------------------
// A real file behind a device
// ---------------------------------------------------------------------------------------

/// Pages written to a file device read back byte for byte (positional I/O), also after
/// they move to it from zswap.
#[test]
#[cfg_attr(miri, ignore)]
fn a_file_device_round_trips_bytes() {
    let path = std::env::temp_dir().join(format!("vswap-backends-{}.swap", std::process::id()));
    {
        let sys = system();
        let dev = sys.swapon(DeviceSpec::file("disk", &path, 16)).unwrap();
        let cg = sys.memcg_create(MemcgId::ROOT).unwrap();
        sys.memcg_set(cg, Knob::ZswapMax(Limit::Bytes(0))).unwrap();
        let direct = incompressible(0xDEAD_BEEF);
        let (a, w) = swap_out(&sys, cg, 8, Page::Bytes(&direct));
        assert_eq!(w, Writeout::Device(dev));
        let via_zswap = compressible(0x42);
        let (b, _) = swap_out(&sys, MemcgId::ROOT, 16, Page::Bytes(&via_zswap));
        sys.writeback(b).unwrap();
        assert_eq!(fault_in(&sys, a, 100), (FaultSource::Device(dev), direct));
        assert_eq!(fault_in(&sys, b, 101), (FaultSource::Device(dev), via_zswap));
        for s in [a, b] {
            assert_eq!(sys.put(s).unwrap(), 0);
            assert!(sys.release(s).unwrap());
        }
        assert_eq!(sys.swapoff(dev).unwrap().pages_moved, 0, "every slot was freed");
    }
    std::fs::remove_file(&path).unwrap();
}
