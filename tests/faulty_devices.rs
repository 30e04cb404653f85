//! Faulty devices (issue 26, part 3): a [`FaultyDevice`] fails reads and writes on a
//! script (EIO on an offset or on the n-th operation, short writes and reads, a device
//! that fills up, one that dies after n operations), and every flow that touches a device
//! keeps the kernel's rules (mm/page_io.c, mm/zswap.c; docs/kernel.md):
//! * a failed swap write leaves the folio in memory, redirtied (`swap_write_end` →
//!   `set_page_dirty`): in the swap cache with no backend, no physical slot held or
//!   charged, so `evict` refuses it, and a retry once the fault is gone writes it;
//! * a failed read gives the faulting caller `Io` (`swap_read_end` without
//!   `folio_mark_uptodate`: `VM_FAULT_SIGBUS`), and the slot keeps its data for a retry;
//! * zswap writeback that cannot write leaves the entry where it was: loadable, charged,
//!   on its LRU, `zswpwb` not counted (the kernel frees the entry before the write and
//!   keeps the data in the redirtied folio instead; the crate's writeback is synchronous);
//! * swapoff whose read or write fails returns `Io`, leaves the device on and every page
//!   readable where it is;
//! * recompression never touches a device, so a dead one does not disturb it.

use std::io::ErrorKind;
use vswap::device::{Device, DeviceFault, FaultyDevice};
use vswap::*;

mod common;
use common::*;

/// EIO as the faulty device reports it.
const EIO: Error = Error::Io(ErrorKind::Other);

/// Small: under Miri a device costs time in proportion to its pages.
const DEVICE_PAGES: u64 = 64;

/// A faulty in-memory device of `DEVICE_PAGES` swapped on at `priority`, and the handle
/// that arms it.
fn faulty_on(sys: &SwapSystem, name: &str, priority: i16) -> (FaultyDevice, DeviceId) {
    let dev = FaultyDevice::new();
    let id = sys.swapon(DeviceSpec::custom(name, DEVICE_PAGES, Box::new(dev.clone())).priority(priority)).unwrap();
    (dev, id)
}

/// A system without zswap (every non-zero page goes to the device) on one faulty device.
fn straight_to_disk() -> (SwapSystem, FaultyDevice, DeviceId) {
    let sys = system_without_zswap();
    let (dev, id) = faulty_on(&sys, "faulty", 0);
    (sys, dev, id)
}

/// A system with zswap (lz4 on real bytes) on one faulty device.
fn with_zswap() -> (SwapSystem, FaultyDevice, DeviceId) {
    let sys = system();
    let (dev, id) = faulty_on(&sys, "faulty", 0);
    (sys, dev, id)
}

fn swap_current(sys: &SwapSystem, cg: MemcgId) -> u64 {
    sys.memcg_stat(cg).unwrap().swap_current
}

/// Fault `s` in with folio `pfn`: the bytes read.
fn read_back(sys: &SwapSystem, s: VSlot, pfn: u64) -> Result<(FaultSource, Vec<u8>), Error> {
    let mut out = vec![0xa5; PAGE_SIZE];
    sys.fault(0, s, FolioId(pfn), Some(&mut out)).map(|f| (f.source, out))
}

/// A mapped page of `cg` written to `dev` and evicted: its slot and the device offset
/// it went to.
fn on_device(
    sys: &SwapSystem,
    faulty: &FaultyDevice,
    dev: DeviceId,
    cg: MemcgId,
    pfn: u64,
    page: &[u8],
) -> (VSlot, u64) {
    let s = mapped(sys, cg, pfn);
    assert_eq!(sys.writeout(s, Page::Bytes(page)).unwrap(), Writeout::Device(dev));
    sys.evict(s, Shadow(pfn)).unwrap();
    (s, faulty.last_offset().unwrap())
}

/// Whether the slot is in the swap cache with folio `pfn` and one PTE.
fn cached(sys: &SwapSystem, s: VSlot, pfn: u64) -> bool {
    sys.state(s).unwrap() == SlotState::Cached { folio: FolioId(pfn), count: 1 }
}

// ---------------------------------------------------------------------------------------
// The device itself
// ---------------------------------------------------------------------------------------

/// Each scripted fault fails what it names with its error kind and nothing else; the
/// counters say what reached the inner device.
#[test]
fn each_scripted_fault_fails_what_it_names_with_its_error_kind() {
    let dev = FaultyDevice::new();
    let (a, b) = (vec![1u8; PAGE_SIZE], vec![2u8; PAGE_SIZE]);
    let mut out = vec![0u8; PAGE_SIZE];
    dev.arm(DeviceFault::Write { offset: 1 });
    dev.arm(DeviceFault::Read { offset: 2 });
    assert_eq!(dev.write(1, &a).unwrap_err().kind(), ErrorKind::Other);
    dev.write(2, &a).unwrap();
    assert_eq!(dev.read(2, &mut out).unwrap_err().kind(), ErrorKind::Other);
    assert_eq!(out, vec![0u8; PAGE_SIZE], "a failed read leaves the buffer");
    dev.read(1, &mut out).unwrap();
    assert_eq!(out, vec![0u8; PAGE_SIZE], "the failed write wrote nothing");
    assert_eq!((dev.injected(), dev.reads(), dev.writes()), (2, 1, 1));
    dev.disarm_all();

    // A short write tears the page: the first half new, the rest as it was.
    dev.arm(DeviceFault::ShortWrite { offset: 2 });
    assert_eq!(dev.write(2, &b).unwrap_err().kind(), ErrorKind::WriteZero);
    dev.disarm_all();
    dev.read(2, &mut out).unwrap();
    assert_eq!((&out[..PAGE_SIZE / 2], &out[PAGE_SIZE / 2..]), (&b[..PAGE_SIZE / 2], &a[PAGE_SIZE / 2..]));
    dev.arm(DeviceFault::ShortRead { offset: 2 });
    let mut half = vec![9u8; PAGE_SIZE];
    assert_eq!(dev.read(2, &mut half).unwrap_err().kind(), ErrorKind::UnexpectedEof);
    assert_eq!(&half[PAGE_SIZE / 2..], &vec![9u8; PAGE_SIZE / 2][..]);
    dev.disarm_all();

    // The n-th operation fails once; a full device refuses writes only.
    dev.arm(DeviceFault::NthOp { n: 2 });
    dev.read(2, &mut out).unwrap();
    assert!(dev.write(3, &a).is_err());
    dev.write(3, &a).unwrap();
    dev.disarm_all();
    dev.arm(DeviceFault::FullAfter { writes: 1 });
    dev.write(4, &a).unwrap();
    assert_eq!(dev.write(5, &a).unwrap_err().kind(), ErrorKind::StorageFull);
    assert_eq!(dev.write(4, &b).unwrap_err().kind(), ErrorKind::StorageFull);
    dev.read(4, &mut out).unwrap();
    assert_eq!(out, a);
    dev.disarm_all();
    dev.arm(DeviceFault::FailAfter { ops: 1 });
    dev.read(4, &mut out).unwrap();
    assert!(dev.read(4, &mut out).is_err() && dev.write(6, &a).is_err());
    assert_eq!(dev.last_offset(), Some(6));
}

// ---------------------------------------------------------------------------------------
// Writeout to a device
// ---------------------------------------------------------------------------------------

/// A write that fails is `Io`; the folio stays in the swap cache with no backend (the
/// redirtied folio), no device slot stays taken or charged, `pswpout` is not counted and
/// `evict` refuses it; once the fault is gone the same writeout goes through and the
/// page reads back.
#[test]
fn a_failed_swap_write_keeps_the_folio_in_memory_uncharged_and_a_retry_writes_it() {
    let (sys, faulty, dev) = straight_to_disk();
    let cg = sys.memcg_create(MemcgId::ROOT).unwrap();
    let page = incompressible(1);
    let s = mapped(&sys, cg, 8);
    faulty.arm(DeviceFault::NthOp { n: 1 });
    assert_eq!(sys.writeout(s, Page::Bytes(&page)), Err(EIO));
    assert!(cached(&sys, s, 8));
    assert_eq!(sys.backing(s).unwrap(), Backing::None);
    assert_eq!((swap_current(&sys, cg), used(&sys, dev)), (0, 1), "nothing held or charged");
    assert_eq!(sys.memcg_stat(cg).unwrap().pswpout, 0);
    assert_eq!(sys.evict(s, Shadow(8)), Err(Error::NotBacked));
    assert!(cached(&sys, s, 8));

    assert_eq!(sys.writeout(s, Page::Bytes(&page)).unwrap(), Writeout::Device(dev), "the NthOp fired once");
    sys.evict(s, Shadow(8)).unwrap();
    assert_eq!((swap_current(&sys, cg), used(&sys, dev)), (PAGE, 2));
    assert_eq!(sys.memcg_stat(cg).unwrap().pswpout, 1);
    assert_eq!(read_back(&sys, s, 9).unwrap(), (FaultSource::Device(dev), page));
}

/// A page faulted in from the device keeps its device slot; written out again after a
/// change, a short write tears that slot's copy. The folio is then redirtied: the stale,
/// torn slot is freed and uncharged, so `evict` refuses the folio rather than leave it
/// "backed" by bytes that are neither the old page nor the new; the retry writes the new.
#[test]
fn a_failed_rewrite_drops_the_torn_device_copy_so_the_new_bytes_are_never_lost() {
    let (sys, faulty, dev) = straight_to_disk();
    let cg = sys.memcg_create(MemcgId::ROOT).unwrap();
    let (old, new) = (incompressible(1), incompressible(2));
    let (s, off) = on_device(&sys, &faulty, dev, cg, 8, &old);
    assert_eq!(read_back(&sys, s, 9).unwrap(), (FaultSource::Device(dev), old));
    assert_eq!(sys.backing(s).unwrap(), Backing::Device(dev), "a read keeps the slot");

    faulty.arm(DeviceFault::ShortWrite { offset: off });
    assert_eq!(sys.writeout(s, Page::Bytes(&new)), Err(Error::Io(ErrorKind::WriteZero)));
    assert_eq!(sys.backing(s).unwrap(), Backing::None);
    assert_eq!((swap_current(&sys, cg), used(&sys, dev)), (0, 1));
    assert_eq!(sys.evict(s, Shadow(9)), Err(Error::NotBacked));

    faulty.disarm_all();
    assert_eq!(sys.writeout(s, Page::Bytes(&new)).unwrap(), Writeout::Device(dev));
    sys.evict(s, Shadow(9)).unwrap();
    assert_eq!(read_back(&sys, s, 10).unwrap(), (FaultSource::Device(dev), new));
    assert_eq!(swap_current(&sys, cg), PAGE);
}

/// A large folio whose second page fails to write: neither page holds a slot or a charge,
/// both stay cached unbacked, and the retry writes both.
#[test]
fn a_large_folio_whose_second_page_fails_holds_no_slot_and_retries_whole() {
    let (sys, faulty, dev) = straight_to_disk();
    let cg = sys.memcg_create(MemcgId::ROOT).unwrap();
    let s = sys.alloc(0, cg, FolioId(16), 1).unwrap();
    let second = VSlot::from_raw(s.raw() + 1);
    sys.dup(s).unwrap();
    sys.dup(second).unwrap();
    let folio: Vec<u8> = [incompressible(3), incompressible(4)].concat();
    faulty.arm(DeviceFault::NthOp { n: 2 });
    assert_eq!(sys.writeout(s, Page::Bytes(&folio)), Err(EIO));
    assert_eq!((sys.backing(s).unwrap(), sys.backing(second).unwrap()), (Backing::None, Backing::None));
    assert_eq!((swap_current(&sys, cg), used(&sys, dev)), (0, 1));
    assert_eq!(sys.evict(s, Shadow(1)), Err(Error::NotBacked));

    assert_eq!(sys.writeout(s, Page::Bytes(&folio)).unwrap(), Writeout::Device(dev));
    sys.evict(s, Shadow(1)).unwrap();
    assert_eq!((swap_current(&sys, cg), used(&sys, dev)), (2 * PAGE, 3));
    assert_eq!(read_back(&sys, s, 32).unwrap().1, folio[..PAGE_SIZE]);
    assert_eq!(read_back(&sys, second, 33).unwrap().1, folio[PAGE_SIZE..]);
}

/// A device that fills up (ENOSPC after two writes) reports `StorageFull` for the third
/// page, which stays in memory uncharged; the two it took stay readable; a second device
/// swapped on takes the third.
#[test]
fn a_device_that_fills_up_reports_storage_full_and_keeps_the_pages_it_took() {
    let (sys, faulty, dev) = straight_to_disk();
    let cg = sys.memcg_create(MemcgId::ROOT).unwrap();
    let pages: Vec<Vec<u8>> = (1..4).map(incompressible).collect();
    faulty.arm(DeviceFault::FullAfter { writes: 2 });
    let (a, _) = on_device(&sys, &faulty, dev, cg, 8, &pages[0]);
    let (b, _) = on_device(&sys, &faulty, dev, cg, 16, &pages[1]);
    let c = mapped(&sys, cg, 24);
    assert_eq!(sys.writeout(c, Page::Bytes(&pages[2])), Err(Error::Io(ErrorKind::StorageFull)));
    assert!(cached(&sys, c, 24));
    assert_eq!((swap_current(&sys, cg), used(&sys, dev)), (2 * PAGE, 3));

    let other = sys.swapon(DeviceSpec::memory("other", 16).priority(5)).unwrap();
    assert_eq!(sys.writeout(c, Page::Bytes(&pages[2])).unwrap(), Writeout::Device(other));
    sys.evict(c, Shadow(24)).unwrap();
    assert_eq!(read_back(&sys, a, 9).unwrap(), (FaultSource::Device(dev), pages[0].clone()));
    assert_eq!(read_back(&sys, b, 17).unwrap(), (FaultSource::Device(dev), pages[1].clone()));
    assert_eq!(read_back(&sys, c, 25).unwrap(), (FaultSource::Device(other), pages[2].clone()));
    assert_eq!(swap_current(&sys, cg), 3 * PAGE);
}

// ---------------------------------------------------------------------------------------
// Swap-in
// ---------------------------------------------------------------------------------------

/// A read that fails gives the faulting caller `Io`; the slot stays swapped out on its
/// device slot, charged, `pswpin` not counted, and the retry reads the right bytes. A
/// short read is `UnexpectedEof`, and what it left in the buffer is never taken for the
/// page.
#[test]
fn a_failed_read_gives_the_caller_io_and_the_slot_keeps_its_data_for_a_retry() {
    let (sys, faulty, dev) = straight_to_disk();
    let cg = sys.memcg_create(MemcgId::ROOT).unwrap();
    let page = incompressible(5);
    let (s, off) = on_device(&sys, &faulty, dev, cg, 8, &page);
    let before = sys.state(s).unwrap();
    assert!(matches!(before, SlotState::SwappedOut { count: 1, .. }));

    faulty.arm(DeviceFault::Read { offset: off });
    assert_eq!(read_back(&sys, s, 9), Err(EIO));
    assert_eq!(read_back(&sys, s, 9), Err(EIO), "as often as it is tried");
    faulty.disarm_all();
    faulty.arm(DeviceFault::ShortRead { offset: off });
    assert_eq!(read_back(&sys, s, 9), Err(Error::Io(ErrorKind::UnexpectedEof)));
    assert_eq!(sys.state(s).unwrap(), before);
    assert_eq!(sys.backing(s).unwrap(), Backing::Device(dev));
    assert_eq!((swap_current(&sys, cg), used(&sys, dev)), (PAGE, 2));
    assert_eq!(sys.memcg_stat(cg).unwrap().pswpin, 0);

    faulty.disarm_all();
    assert_eq!(read_back(&sys, s, 9).unwrap(), (FaultSource::Device(dev), page));
    assert_eq!(sys.memcg_stat(cg).unwrap().pswpin, 1);
    assert_eq!(faulty.injected(), 3);
}

/// A bad sector fails only the slot on it: the page next to it reads, and is freed
/// with its charge, while the failing one stays.
#[test]
fn a_bad_sector_fails_only_its_own_slot() {
    let (sys, faulty, dev) = straight_to_disk();
    let cg = sys.memcg_create(MemcgId::ROOT).unwrap();
    let (p, q) = (incompressible(6), incompressible(7));
    let (bad, off) = on_device(&sys, &faulty, dev, cg, 8, &p);
    let (good, _) = on_device(&sys, &faulty, dev, cg, 16, &q);
    faulty.arm(DeviceFault::Read { offset: off });
    assert_eq!(read_back(&sys, bad, 9), Err(EIO));
    assert_eq!(read_back(&sys, good, 17).unwrap(), (FaultSource::Device(dev), q));
    sys.put(good).unwrap();
    assert!(sys.release(good).unwrap());
    assert_eq!((swap_current(&sys, cg), used(&sys, dev)), (PAGE, 2));
    faulty.disarm_all();
    assert_eq!(read_back(&sys, bad, 9).unwrap().1, p);
}

/// A device that dies after some operations fails every later read and write: the
/// pages written before stay where they are (each fault is `Io`, nothing freed), new
/// writeouts are `Io` and stay in memory; nothing is charged for them.
#[test]
fn a_device_that_dies_fails_every_later_operation_and_loses_nothing() {
    let (sys, faulty, dev) = straight_to_disk();
    let cg = sys.memcg_create(MemcgId::ROOT).unwrap();
    let pages: Vec<Vec<u8>> = (10..13).map(incompressible).collect();
    faulty.arm(DeviceFault::FailAfter { ops: 2 });
    let (a, _) = on_device(&sys, &faulty, dev, cg, 8, &pages[0]);
    let (b, _) = on_device(&sys, &faulty, dev, cg, 16, &pages[1]);
    let c = mapped(&sys, cg, 24);
    assert_eq!(sys.writeout(c, Page::Bytes(&pages[2])), Err(EIO));
    assert_eq!(read_back(&sys, a, 9), Err(EIO));
    assert_eq!(read_back(&sys, b, 17), Err(EIO));
    assert!(cached(&sys, c, 24));
    assert_eq!((swap_current(&sys, cg), used(&sys, dev)), (2 * PAGE, 3));
    faulty.disarm_all();
    assert_eq!(read_back(&sys, a, 9).unwrap().1, pages[0]);
    assert_eq!(read_back(&sys, b, 17).unwrap().1, pages[1]);
}

// ---------------------------------------------------------------------------------------
// zswap writeback
// ---------------------------------------------------------------------------------------

/// What must not change when writeback fails: the entry's place and charges.
#[derive(Debug, PartialEq)]
struct ZswapState {
    lru: Vec<VSlot>,
    backing: Vec<Backing>,
    zswap_current: u64,
    swap_current: u64,
    zswpwb: u64,
    zswpwb_proactive_bytes: u64,
    pswpout: u64,
    written_back_pages: u64,
    used: u64,
}

fn zswap_state(sys: &SwapSystem, cg: MemcgId, dev: DeviceId, slots: &[VSlot]) -> ZswapState {
    let st = sys.memcg_stat(cg).unwrap();
    ZswapState {
        lru: sys.zswap_lru(cg).unwrap(),
        backing: slots.iter().map(|&s| sys.backing(s).unwrap()).collect(),
        zswap_current: st.zswap_current,
        swap_current: st.swap_current,
        zswpwb: st.zswpwb,
        zswpwb_proactive_bytes: st.zswpwb_proactive_bytes,
        pswpout: st.pswpout,
        written_back_pages: sys.stat().written_back_pages,
        used: used(sys, dev),
    }
}

/// Two compressible pages of `cg` in zswap, evicted, their referenced bits cleared.
fn two_in_zswap(sys: &SwapSystem, cg: MemcgId) -> (Vec<Vec<u8>>, Vec<VSlot>) {
    let pages = vec![compressible(1), words(2, 64)];
    let slots: Vec<VSlot> = pages.iter().zip([8, 16]).map(|(p, pfn)| stored(sys, cg, pfn, Page::Bytes(p)).0).collect();
    let o = sys.shrink_memcg(cg, 2).unwrap();
    assert_eq!((o.second_chances, o.written), (2, 0));
    (pages, slots)
}

/// Every entry is still in zswap with its bytes: fault each back in.
fn all_load(sys: &SwapSystem, pages: &[Vec<u8>], slots: &[VSlot]) {
    for (i, (p, &s)) in pages.iter().zip(slots).enumerate() {
        assert_eq!(read_back(sys, s, 100 + i as u64).unwrap(), (FaultSource::Zswap, p.clone()));
    }
}

/// `writeback` of one entry whose device write fails is `Io`; the entry stays in zswap
/// on its LRU, charged to `zswap.current` and not to `swap.current`, no device slot held,
/// `zswpwb` and `written_back_pages` not counted. The retry writes it.
#[test]
fn a_writeback_that_cannot_write_leaves_the_entry_where_it_was() {
    let (sys, faulty, dev) = with_zswap();
    let cg = sys.memcg_create(MemcgId::ROOT).unwrap();
    let (pages, slots) = two_in_zswap(&sys, cg);
    let before = zswap_state(&sys, cg, dev, &slots);
    assert_eq!(before.backing, vec![Backing::Zswap; 2]);
    faulty.arm(DeviceFault::NthOp { n: 1 });
    assert_eq!(sys.writeback(slots[0]), Err(EIO));
    assert_eq!(zswap_state(&sys, cg, dev, &slots), before);

    sys.writeback(slots[0]).unwrap();
    let after = zswap_state(&sys, cg, dev, &slots);
    assert_eq!((after.backing[0], after.zswpwb, after.swap_current, after.used), (Backing::Device(dev), 1, PAGE, 2));
    assert_eq!(read_back(&sys, slots[0], 50).unwrap(), (FaultSource::Device(dev), pages[0].clone()));
    all_load(&sys, &pages[1..], &slots[1..]);
}

/// `shrink_memcg` over entries whose writes fail scans them, writes nothing
/// (`ShrinkResult::Again`), counts each failure in `reject_reclaim_fail`, and leaves them
/// on the LRU; after the fault is gone the next walk writes them.
#[test]
fn shrink_memcg_over_a_failing_device_writes_nothing_and_keeps_the_lru() {
    let (sys, faulty, dev) = with_zswap();
    let cg = sys.memcg_create(MemcgId::ROOT).unwrap();
    let (pages, slots) = two_in_zswap(&sys, cg);
    let before = zswap_state(&sys, cg, dev, &slots);
    faulty.arm(DeviceFault::FailAfter { ops: 0 });
    let o = sys.shrink_memcg(cg, 2).unwrap();
    assert_eq!((o.result, o.scanned, o.written), (ShrinkResult::Again, 2, 0));
    assert_eq!(sys.stat().reject_reclaim_fail, 2);
    assert_eq!(zswap_state(&sys, cg, dev, &slots), before);
    all_load(&sys, &pages, &slots);
}

/// The same walk succeeds once the device is healthy again.
#[test]
fn shrink_memcg_writes_the_entries_once_the_device_recovers() {
    let (sys, faulty, dev) = with_zswap();
    let cg = sys.memcg_create(MemcgId::ROOT).unwrap();
    let (pages, slots) = two_in_zswap(&sys, cg);
    faulty.arm(DeviceFault::FailAfter { ops: 0 });
    assert_eq!(sys.shrink_memcg(cg, 2).unwrap().written, 0);
    faulty.disarm_all();
    assert_eq!(sys.shrink_memcg(cg, 2).unwrap().written, 2);
    let st = zswap_state(&sys, cg, dev, &slots);
    assert_eq!((st.zswpwb, st.swap_current, st.zswap_current, st.lru.len()), (2, 2 * PAGE, 0, 0));
    for (i, (p, &s)) in pages.iter().zip(&slots).enumerate() {
        assert_eq!(read_back(&sys, s, 60 + i as u64).unwrap(), (FaultSource::Device(dev), p.clone()));
    }
}

/// Proactive writeback (`memory.reclaim "N source=zswap"`) over a dead device writes
/// nothing (`Again { written: 0 }`), counts no `zswpwb_proactive_bytes` and leaves every
/// entry in zswap.
#[test]
fn proactive_writeback_to_a_failing_device_writes_nothing_and_leaves_the_entries() {
    let (sys, faulty, dev) = with_zswap();
    let cg = sys.memcg_create(MemcgId::ROOT).unwrap();
    let (pages, slots) = two_in_zswap(&sys, cg);
    let before = zswap_state(&sys, cg, dev, &slots);
    faulty.arm(DeviceFault::FailAfter { ops: 0 });
    assert_eq!(sys.proactive_writeback(cg, PAGE), Err(Error::Again { written: 0 }));
    assert_eq!(zswap_state(&sys, cg, dev, &slots), before);
    faulty.disarm_all();
    assert!(sys.proactive_writeback(cg, 1).unwrap() > 0);
    assert_eq!(sys.memcg_stat(cg).unwrap().zswpwb, 1);
    assert!(sys.memcg_stat(cg).unwrap().zswpwb_proactive_bytes > 0);
    let (first, second) = (read_back(&sys, slots[0], 70).unwrap(), read_back(&sys, slots[1], 71).unwrap());
    assert_eq!((first.1, second.1), (pages[0].clone(), pages[1].clone()));
}

/// The global shrink worker, queued by a store refused at the pool limit, meets a device
/// whose writes fail: it gives up after its failures, writes nothing, and every entry
/// stays in zswap, loadable.
#[test]
fn the_shrink_worker_over_a_failing_device_gives_up_and_loses_nothing() {
    let sys = system_with(|c| {
        c.ram_pages = 40;
        c.zswap.max_pool_percent = 10; // 4 pages
        c.zswap.reject_incompressible = false;
    });
    let (faulty, dev) = faulty_on(&sys, "faulty", 0);
    let cg = sys.memcg_create(MemcgId::ROOT).unwrap();
    // Incompressible pages are stored whole: four fill the pool.
    let pages: Vec<Vec<u8>> = (20..24).map(incompressible).collect();
    let slots: Vec<VSlot> =
        pages.iter().zip(8u64..).map(|(p, pfn)| stored(&sys, cg, pfn * 8, Page::Bytes(p)).0).collect();
    let o = sys.shrink_memcg(cg, 4).unwrap();
    assert_eq!(o.second_chances, 4);
    faulty.arm(DeviceFault::FailAfter { ops: 0 });
    // The fifth store is refused at the limit (its page goes to the device, which fails):
    // the worker is queued.
    let extra = mapped(&sys, cg, 200);
    assert_eq!(sys.writeout(extra, Page::Bytes(&incompressible(99))), Err(EIO));
    assert!(sys.shrink_worker_pending());
    let before = zswap_state(&sys, cg, dev, &slots);
    let r = sys.run_shrink_worker();
    assert_eq!((r.written, r.stop), (0, ShrinkStop::Failures));
    assert_eq!(zswap_state(&sys, cg, dev, &slots), before);
    assert!(sys.stat().reject_reclaim_fail > 0);
    faulty.disarm_all();
    all_load(&sys, &pages, &slots);
}

// ---------------------------------------------------------------------------------------
// swapoff
// ---------------------------------------------------------------------------------------

/// Three pages on a faulty device (priority 10) with a healthy one beside it: swapoff
/// whose second read fails is `Io`, the device stays on, the first page has moved and the
/// others stay; every page reads back, every charge is kept; a second swapoff finishes.
#[test]
fn a_swapoff_whose_read_fails_leaves_every_page_readable_and_the_device_on() {
    let sys = system_without_zswap();
    let (faulty, bad) = faulty_on(&sys, "faulty", 10);
    let good = sys.swapon(DeviceSpec::memory("good", 16).priority(1)).unwrap();
    let cg = sys.memcg_create(MemcgId::ROOT).unwrap();
    let (pages, slots) = three_on_device(&sys, cg, bad);
    faulty.arm(DeviceFault::NthOp { n: 2 });
    assert_eq!(sys.swapoff(bad), Err(EIO));
    assert!(sys.device_stat(bad).is_ok());
    let on_good = slots.iter().filter(|&&s| sys.backing(s).unwrap() == Backing::Device(good)).count();
    assert_eq!(on_good, 1, "the page before the failure moved");
    assert_eq!((used(&sys, bad), used(&sys, good)), (3, 2));
    assert_eq!(swap_current(&sys, cg), 3 * PAGE);
    for (i, (p, &s)) in pages.iter().zip(&slots).enumerate() {
        assert_eq!(&read_back(&sys, s, 50 + i as u64).unwrap().1, p);
        sys.evict(s, Shadow(1)).unwrap(); // still backed where it is
    }
    let r = sys.swapoff(bad).unwrap();
    assert_eq!(r.pages_moved, 2);
    assert_eq!(swap_current(&sys, cg), 3 * PAGE);
    for (i, (p, &s)) in pages.iter().zip(&slots).enumerate() {
        assert_eq!(read_back(&sys, s, 60 + i as u64).unwrap(), (FaultSource::Device(good), p.clone()));
    }
}

/// Swapoff onto a faulty device whose writes fail is `Io` with nothing moved: the old
/// device stays on with every page, the reservations on the faulty one are returned.
#[test]
fn a_swapoff_whose_write_fails_leaves_the_pages_on_the_old_device() {
    let sys = system_without_zswap();
    let old = sys.swapon(DeviceSpec::memory("old", 16).priority(10)).unwrap();
    let cg = sys.memcg_create(MemcgId::ROOT).unwrap();
    let (pages, slots) = three_on_device(&sys, cg, old);
    let (faulty, target) = faulty_on(&sys, "faulty", 1);
    faulty.arm(DeviceFault::FailAfter { ops: 0 });
    assert_eq!(sys.swapoff(old), Err(EIO));
    assert_eq!((used(&sys, old), used(&sys, target)), (4, 1));
    assert_eq!(swap_current(&sys, cg), 3 * PAGE);
    for (i, (p, &s)) in pages.iter().zip(&slots).enumerate() {
        assert_eq!(read_back(&sys, s, 50 + i as u64).unwrap(), (FaultSource::Device(old), p.clone()));
    }
}

/// `swapoff_with` bringing pages into memory: a read that fails is `Io` before the sink
/// is asked, the page stays on the device; once the device reads again the sink gets the
/// right bytes.
#[test]
fn a_swapoff_with_whose_read_fails_asks_no_frame_and_keeps_the_page() {
    let sys = system_without_zswap();
    let (faulty, only) = faulty_on(&sys, "only", 0);
    let cg = sys.memcg_create(MemcgId::ROOT).unwrap();
    let page = incompressible(30);
    let (s, off) = on_device(&sys, &faulty, only, cg, 8, &page);
    faulty.arm(DeviceFault::Read { offset: off });
    let mut asked = 0;
    let mut sink = |_: &SwapoffPage<'_>| {
        asked += 1;
        Some(FolioId(40))
    };
    assert_eq!(sys.swapoff_with(only, &mut sink), Err(EIO));
    assert_eq!(asked, 0);
    assert!(matches!(sys.state(s).unwrap(), SlotState::SwappedOut { count: 1, .. }));
    assert_eq!((sys.backing(s).unwrap(), swap_current(&sys, cg)), (Backing::Device(only), PAGE));

    faulty.disarm_all();
    let mut seen = Vec::new();
    let mut sink = |p: &SwapoffPage<'_>| {
        seen.push(p.data.map(<[u8]>::to_vec));
        Some(FolioId(40))
    };
    assert_eq!(sys.swapoff_with(only, &mut sink).unwrap().swapped_in, 1);
    assert_eq!(seen, vec![Some(page)]);
    assert!(cached(&sys, s, 40));
    assert_eq!(swap_current(&sys, cg), 0);
}

// ---------------------------------------------------------------------------------------
// Recompression
// ---------------------------------------------------------------------------------------

/// Recompression works on zswap alone: with every device operation failing it still
/// recompresses idle entries, asks the device nothing, and they load with their bytes.
#[test]
fn recompression_never_touches_a_device() {
    let sys = system_with(|c| {
        c.zswap.compression_priorities = vec![CompressionPriority::lz4(1), CompressionPriority::deflate(2, 1)];
    });
    let (faulty, _) = faulty_on(&sys, "faulty", 0);
    let cg = sys.memcg_create(MemcgId::ROOT).unwrap();
    // One page under Miri, and deflate at level 1: compression is most of the time there.
    let seeds: &[u64] = if cfg!(miri) { &[2] } else { &[2, 1] };
    let pages: Vec<Vec<u8>> = seeds.iter().map(|&i| words(i, 1024)).collect();
    let slots: Vec<VSlot> = pages.iter().zip([8, 16]).map(|(p, pfn)| stored(&sys, cg, pfn, Page::Bytes(p)).0).collect();
    faulty.arm(DeviceFault::FailAfter { ops: 0 });
    sys.set_tick(10).unwrap();
    let r = sys.recompress(cg, RecompressSpec { min_age: 5, threshold: 0, max_pages: 10, priority: 2 }).unwrap();
    assert_eq!(r.examined, pages.len() as u64);
    assert!(r.recompressed > 0, "deflate beats lz4 on text: {r:?}");
    assert_eq!((faulty.reads(), faulty.writes(), faulty.injected()), (0, 0, 0));
    all_load(&sys, &pages, &slots);
}

/// A store over `zswap.max` first writes some of the memcg's own entries back
/// (`shrink_memcg`); when the device fails those writes, the entries stay, the store is
/// refused, and the page's own write to the device fails too: `Io`, the folio resident
/// and unbacked, the old entries still in zswap with their charges.
#[test]
fn a_store_over_zswap_max_whose_writeback_fails_loses_neither_page() {
    let (sys, faulty, dev) = with_zswap();
    let cg = sys.memcg_create(MemcgId::ROOT).unwrap();
    let (pages, slots) = two_in_zswap(&sys, cg);
    let before = zswap_state(&sys, cg, dev, &slots);
    sys.memcg_set(cg, Knob::ZswapMax(Limit::Bytes(before.zswap_current))).unwrap();
    faulty.arm(DeviceFault::FailAfter { ops: 0 });
    let s = mapped(&sys, cg, 64);
    let page = words(9, 128);
    assert_eq!(sys.writeout(s, Page::Bytes(&page)), Err(EIO));
    assert!(faulty.injected() >= 2, "the walk's writeback and the page's own write both failed");
    assert_eq!(sys.backing(s).unwrap(), Backing::None);
    let after = zswap_state(&sys, cg, dev, &slots);
    // The walk rotated the entry it tried to the tail before writing (`shrink_memcg_cb`).
    assert_eq!(after.lru, vec![slots[1], slots[0]]);
    assert_eq!(ZswapState { lru: before.lru.clone(), ..after }, before);
    faulty.disarm_all();
    all_load(&sys, &pages, &slots);
    sys.memcg_set(cg, Knob::ZswapMax(Limit::Max)).unwrap();
    assert!(matches!(sys.writeout(s, Page::Bytes(&page)).unwrap(), Writeout::Zswap { .. }));
}

/// An offset's fault fires on its own kind of operation at its own offset only: a read
/// fault never fails a write, a write fault never fails a read, and other offsets pass.
#[test]
fn an_offset_fault_fails_only_its_own_kind_of_operation_at_its_own_offset() {
    use std::io::ErrorKind::{Other, UnexpectedEof, WriteZero};
    let page = [7u8; PAGE_SIZE];
    // The fault, then what a write and a read at its offset get (other offsets: Ok).
    let cases = [
        (DeviceFault::Read { offset: 3 }, None, Some(Other)),
        (DeviceFault::ShortRead { offset: 3 }, None, Some(UnexpectedEof)),
        (DeviceFault::Write { offset: 3 }, Some(Other), None),
        (DeviceFault::ShortWrite { offset: 3 }, Some(WriteZero), None),
    ];
    for (fault, write, read) in cases {
        let dev = FaultyDevice::new();
        dev.write(3, &page).unwrap();
        dev.arm(fault);
        let mut out = [0u8; PAGE_SIZE];
        assert_eq!(dev.write(4, &page).map_err(|e| e.kind()), Ok(()), "{fault:?}: a write elsewhere");
        assert_eq!(dev.read(4, &mut out).map_err(|e| e.kind()), Ok(()), "{fault:?}: a read elsewhere");
        assert_eq!(dev.write(3, &page).err().map(|e| e.kind()), write, "{fault:?}: a write at its offset");
        assert_eq!(dev.read(3, &mut out).err().map(|e| e.kind()), read, "{fault:?}: a read at its offset");
        let fired = u64::from(write.is_some()) + u64::from(read.is_some());
        assert_eq!(dev.injected(), fired, "{fault:?}");
    }
}

/// A memory device takes whole pages only: a buffer of any other length is
/// `InvalidInput` and changes nothing (it used to panic on a read of the wrong length).
#[test]
fn a_memory_device_refuses_buffers_that_are_not_one_page() {
    let dev = vswap::device::MemoryDevice::new();
    let page = [5u8; PAGE_SIZE];
    dev.write(1, &page).unwrap();
    for len in [0, 1, PAGE_SIZE - 1, PAGE_SIZE + 1, 2 * PAGE_SIZE] {
        let buf = vec![9u8; len];
        assert_eq!(dev.write(1, &buf).map_err(|e| e.kind()), Err(ErrorKind::InvalidInput), "write of {len}");
        let mut out = vec![3u8; len];
        assert_eq!(dev.read(1, &mut out).map_err(|e| e.kind()), Err(ErrorKind::InvalidInput), "read of {len}");
        assert!(out.iter().all(|&b| b == 3), "a refused read leaves the buffer alone");
    }
    let mut out = [0u8; PAGE_SIZE];
    dev.read(1, &mut out).unwrap();
    assert_eq!(out, page, "the page written first is still there");
}
