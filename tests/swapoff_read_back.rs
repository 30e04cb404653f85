//! `swapoff_with`: swapoff that brings into memory what the other devices have no room
//! for, as the kernel's `try_to_unuse` does (docs/kernel.md §4.3 "swapoff", docs/api.md
//! "Devices"). Each test checks one rule through the public facade: the pages come into
//! the caller's folios readable and uncharged, the device goes; a refusal stops with
//! `NoMemory` and leaves the device on, the pages already brought in in memory and the
//! rest as they were; with room elsewhere the pages move as `swapoff` moves them.

use vswap::*;

mod common;
use common::*;

/// Reclaim one mapped page of `cg`: write it out (it must reach a backend) and evict it.
fn swap_out(sys: &SwapSystem, cg: MemcgId, pfn: u64, page: Page<'_>) -> (VSlot, Writeout) {
    let (s, w) = common::swap_out(sys, cg, pfn, page);
    assert!(!matches!(w, Writeout::Kept(_)), "pfn {pfn} was kept");
    (s, w)
}

/// What the sink saw of one page.
#[derive(Debug, Clone, PartialEq)]
struct Seen {
    slot: VSlot,
    memcg: MemcgId,
    count: u32,
    shadow: Shadow,
    device: DeviceId,
    data: Option<Vec<u8>>,
}

/// A memory manager with `left` free frames, numbered from `next`.
struct Frames {
    next: u64,
    left: usize,
    seen: Vec<Seen>,
}

impl Frames {
    fn new(next: u64, left: usize) -> Self {
        Frames { next, left, seen: Vec::new() }
    }

    /// The folio the sink gave `slot`.
    fn folio_of(&self, slot: VSlot) -> FolioId {
        let i = self.seen.iter().position(|s| s.slot == slot).expect("the sink saw the slot");
        FolioId(self.next - (self.seen.len() - i) as u64)
    }
}

impl SwapoffSink for Frames {
    fn swap_in(&mut self, p: &SwapoffPage<'_>) -> Option<FolioId> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        self.seen.push(Seen {
            slot: p.slot,
            memcg: p.memcg,
            count: p.count,
            shadow: p.shadow,
            device: p.device,
            data: p.data.map(<[u8]>::to_vec),
        });
        self.next += 1;
        Some(FolioId(self.next - 1))
    }
}

/// Swapoff of the only device: every page comes into a folio from the sink, with its
/// bytes, memcg, count and shadow; the slots are cached with no backend, the device is
/// gone, the swap charge is released and `pswpin` counts the reads. The caller's next
/// access is a swap-cache hit, and the page can be written out again.
#[test]
fn swapoff_of_the_only_device_brings_the_pages_into_memory() {
    let sys = system_without_zswap();
    let dev = sys.swapon(DeviceSpec::memory("only", 16)).unwrap();
    let cg = sys.memcg_create(MemcgId::ROOT).unwrap();
    let (pages, slots) = three_on_device(&sys, cg, dev);
    sys.dup(slots[1]).unwrap(); // a second PTE (fork)
    assert_eq!(sys.memcg_stat(cg).unwrap().swap_current, 3 * PAGE);
    assert_eq!(sys.swapoff(dev), Err(Error::DeviceFull), "plain swapoff has nowhere to put them");

    let mut frames = Frames::new(1000, 8);
    let report = sys.swapoff_with(dev, &mut frames).unwrap();
    assert_eq!(
        report,
        SwapoffReport { swapped_in: 3, ..SwapoffReport::default() },
        "nothing moved, three pages read in"
    );
    assert_eq!(sys.device_stat(dev), Err(Error::InvalidDevice), "the device is gone");
    let mut seen = frames.seen.clone();
    seen.sort_by_key(|s| s.slot);
    for (((s, &slot), page), i) in seen.iter().zip(&slots).zip(&pages).zip(1u64..) {
        let count = if slot == slots[1] { 2 } else { 1 };
        let want = Seen { slot, memcg: cg, count, shadow: Shadow(i * 8), device: dev, data: Some(page.clone()) };
        assert_eq!(*s, want);
        let folio = frames.folio_of(slot);
        assert_eq!(sys.state(slot).unwrap(), SlotState::Cached { folio, count });
        assert_eq!(sys.backing(slot).unwrap(), Backing::None, "the folio is the only copy");
        let f = sys.fault(0, slot, FolioId(7), None).unwrap();
        assert_eq!(f, Fault { source: FaultSource::Cache, shadow: None }, "a minor fault");
    }
    let m = sys.memcg_stat(cg).unwrap();
    assert_eq!((m.swap_current, m.pswpin, m.pswpout), (0, 3, 3));
    let st = sys.stat();
    assert_eq!((st.pswpin, st.vslots_in_use), (3, 3));

    // Reclaim must write it out again before evicting it: no device now, so it is kept.
    assert_eq!(sys.evict(slots[0], Shadow(1)), Err(Error::NotBacked));
    assert_eq!(sys.writeout(slots[0], Page::Bytes(&pages[0])), Ok(Writeout::Kept(KeepReason::NoSpace)));
    let ssd = sys.swapon(DeviceSpec::memory("ssd", 8)).unwrap();
    assert_eq!(sys.writeout(slots[0], Page::Bytes(&pages[0])), Ok(Writeout::Device(ssd)));
    sys.evict(slots[0], Shadow(1)).unwrap();
    let mut out = vec![0; PAGE_SIZE];
    assert_eq!(sys.fault(0, slots[0], FolioId(9), Some(&mut out)).unwrap().source, FaultSource::Device(ssd));
    assert_eq!(out, pages[0]);

    // As `unuse_pte` + `folio_free_swap`: the PTEs map the folio and the slot goes.
    assert_eq!(sys.put(slots[2]), Ok(0));
    assert_eq!(sys.release(slots[2]), Ok(true));
    assert_eq!(sys.state(slots[2]).unwrap(), SlotState::Free);
}

/// A page whose folio is already in the swap cache (read back by a fault, kept there)
/// needs no frame: its device slot is freed and uncharged, the cached folio is its only
/// copy, and `evict` refuses it until it is written out again.
#[test]
fn swapoff_with_frees_the_device_slot_of_a_cached_folio_without_a_frame() {
    let sys = system_without_zswap();
    let dev = sys.swapon(DeviceSpec::memory("only", 16)).unwrap();
    let page = incompressible(5);
    let (s, _) = swap_out(&sys, MemcgId::ROOT, 8, Page::Bytes(&page));
    assert_eq!(sys.fault(0, s, FolioId(16), None).unwrap().source, FaultSource::Device(dev));
    let cache_only = mapped(&sys, MemcgId::ROOT, 24);
    assert_eq!(sys.writeout(cache_only, Page::Bytes(&incompressible(6))), Ok(Writeout::Device(dev)));
    assert_eq!(sys.put(cache_only), Ok(0), "count 0, folio cached: cache-only");
    assert_eq!(sys.memcg_stat(MemcgId::ROOT).unwrap().swap_current, 2 * PAGE);

    let mut frames = Frames::new(1000, 0);
    let report = sys.swapoff_with(dev, &mut frames).unwrap();
    assert!(frames.seen.is_empty(), "no frame needed: {:?}", frames.seen);
    assert_eq!(report, SwapoffReport { cache_unbacked: 2, ..SwapoffReport::default() });
    assert_eq!(sys.state(s).unwrap(), SlotState::Cached { folio: FolioId(16), count: 1 });
    assert_eq!(sys.state(cache_only).unwrap(), SlotState::Cached { folio: FolioId(24), count: 0 });
    assert_eq!(sys.backing(s).unwrap(), Backing::None);
    assert_eq!(sys.memcg_stat(MemcgId::ROOT).unwrap().swap_current, 0);
    assert_eq!(sys.stat().pswpin, 1, "only the fault read the device");
    assert_eq!(sys.evict(s, Shadow(2)), Err(Error::NotBacked), "the folio is the only copy");
    assert_eq!(sys.release(cache_only), Ok(true));
}

/// The sink refuses once its frames run out: `NoMemory`; the device stays on and takes
/// pages again; the pages brought in stay in memory and uncharged; the rest keep their
/// device slot, state and charge; a later swapoff with frames finishes the job.
#[test]
fn a_refusal_stops_swapoff_with_no_memory_and_leaves_the_rest() {
    let sys = system_without_zswap();
    let dev = sys.swapon(DeviceSpec::memory("only", 16)).unwrap();
    let pages: Vec<Vec<u8>> = (1..6).map(incompressible).collect();
    let slots: Vec<VSlot> =
        pages.iter().zip(1u64..).map(|(p, i)| swap_out(&sys, MemcgId::ROOT, i * 8, Page::Bytes(p)).0).collect();
    let states: Vec<SlotState> = slots.iter().map(|&s| sys.state(s).unwrap()).collect();

    let mut frames = Frames::new(1000, 2);
    assert_eq!(sys.swapoff_with(dev, &mut frames), Err(Error::NoMemory));
    assert_eq!(frames.seen.len(), 2);
    assert_eq!(used(&sys, dev), 1 + 3, "the device is on with the three pages left");
    assert_eq!(sys.memcg_stat(MemcgId::ROOT).unwrap().swap_current, 3 * PAGE);
    assert_eq!(sys.stat().pswpin, 2);
    for ((&s, before), page) in slots.iter().zip(&states).zip(&pages) {
        if frames.seen.iter().any(|p| p.slot == s) {
            assert_eq!(sys.state(s).unwrap(), SlotState::Cached { folio: frames.folio_of(s), count: 1 });
        } else {
            assert_eq!(sys.state(s).unwrap(), *before, "a page not brought in is as it was");
            let mut out = vec![0; PAGE_SIZE];
            let f = sys.fault(0, s, FolioId(500 + s.raw()), Some(&mut out)).unwrap();
            assert_eq!((f.source, &out), (FaultSource::Device(dev), page));
            sys.swap_cache_del(s, Shadow(3)).unwrap();
        }
    }
    let (_, w) = swap_out(&sys, MemcgId::ROOT, 64, Page::Bytes(&incompressible(9)));
    assert_eq!(w, Writeout::Device(dev), "the device still takes pages");

    let mut more = Frames::new(2000, 8);
    let report = sys.swapoff_with(dev, &mut more).unwrap();
    assert_eq!((report.swapped_in, report.pages_moved), (4, 0));
    assert_eq!(sys.device_stat(dev), Err(Error::InvalidDevice));
    assert_eq!(sys.memcg_stat(MemcgId::ROOT).unwrap().swap_current, 0);
}

/// A sink that answers with a folio id the swap table cannot hold stops like a refusal,
/// with `InvalidFolio`, and leaves the page on the device.
#[test]
fn a_folio_id_past_the_limit_is_refused_like_no_memory() {
    let sys = system_without_zswap();
    let dev = sys.swapon(DeviceSpec::memory("only", 16)).unwrap();
    let (s, _) = swap_out(&sys, MemcgId::ROOT, 8, Page::Bytes(&incompressible(1)));
    let before = sys.state(s).unwrap();
    let mut bad = |_: &SwapoffPage<'_>| Some(FolioId(FolioId::MAX + 1));
    assert_eq!(sys.swapoff_with(dev, &mut bad), Err(Error::InvalidFolio));
    assert_eq!(sys.state(s).unwrap(), before);
    assert_eq!(used(&sys, dev), 2);
}

/// With another device that has room for every page, `swapoff_with` is `swapoff`: the
/// pages move there and the sink is never called.
#[test]
fn with_room_elsewhere_the_pages_move_as_swapoff_moves_them() {
    let run = |with_sink: bool| {
        let sys = system_without_zswap();
        let old = sys.swapon(DeviceSpec::memory("old", 16).priority(10)).unwrap();
        let other = sys.swapon(DeviceSpec::memory("other", 16).priority(1)).unwrap();
        let (pages, slots) = three_on_device(&sys, MemcgId::ROOT, old);
        let report = if with_sink {
            let mut never = |_: &SwapoffPage<'_>| -> Option<FolioId> { panic!("the sink was called") };
            sys.swapoff_with(old, &mut never).unwrap()
        } else {
            sys.swapoff(old).unwrap()
        };
        assert_eq!(report, SwapoffReport { pages_moved: 3, moved_to: vec![(other, 3)], ..SwapoffReport::default() });
        for (&s, page) in slots.iter().zip(&pages) {
            let mut out = vec![0; PAGE_SIZE];
            assert_eq!(
                sys.fault(0, s, FolioId(s.raw() + 100), Some(&mut out)).unwrap().source,
                FaultSource::Device(other)
            );
            assert_eq!(&out, page);
        }
        (report, sys.stat(), sys.memcg_stat(MemcgId::ROOT).unwrap())
    };
    assert_eq!(run(true), run(false));
}

/// With room for some pages elsewhere, the swapped-out pages take it first (a cached
/// folio needs no frame) and the rest come into memory.
#[test]
fn partial_room_goes_to_swapped_out_pages_first() {
    let sys = system_without_zswap();
    let old = sys.swapon(DeviceSpec::memory("old", 16).priority(10)).unwrap();
    let cached = mapped(&sys, MemcgId::ROOT, 8);
    assert_eq!(sys.writeout(cached, Page::Bytes(&incompressible(1))), Ok(Writeout::Device(old)));
    let out: Vec<VSlot> =
        (2..5).map(|i| swap_out(&sys, MemcgId::ROOT, i * 8, Page::Bytes(&incompressible(i))).0).collect();
    let small = sys.swapon(DeviceSpec::memory("small", 3).priority(1)).unwrap(); // 2 usable slots
    let mut frames = Frames::new(1000, 8);
    let report = sys.swapoff_with(old, &mut frames).unwrap();
    assert_eq!(
        (report.pages_moved, report.moved_to.clone(), report.swapped_in, report.cache_unbacked),
        (2, vec![(small, 2)], 1, 1)
    );
    assert_eq!(frames.seen.len(), 1);
    assert_eq!(sys.backing(cached).unwrap(), Backing::None, "the cached folio gave its room up");
    let on_small = out.iter().filter(|&&s| sys.backing(s) == Ok(Backing::Device(small))).count();
    assert_eq!(on_small, 2);
    let read_in = frames.seen[0].slot;
    assert!(out.contains(&read_in));
    assert_eq!(sys.state(read_in).unwrap(), SlotState::Cached { folio: frames.folio_of(read_in), count: 1 });
    assert_eq!(sys.memcg_stat(MemcgId::ROOT).unwrap().swap_current, 2 * PAGE);
}

/// Zero pages and zswap entries hold no device slot under the virtual swap space:
/// `swapoff_with` reads only the device's own pages and leaves them as they are.
#[test]
fn zero_pages_and_zswap_entries_stay_where_they_are() {
    let sys = system();
    let dev = sys.swapon(DeviceSpec::memory("only", 16)).unwrap();
    let (zero, w) = swap_out(&sys, MemcgId::ROOT, 8, Page::Bytes(&zeros()));
    assert_eq!(w, Writeout::Zero);
    let (zswapped, w) = swap_out(&sys, MemcgId::ROOT, 16, Page::Bytes(&compressible(3)));
    assert!(matches!(w, Writeout::Zswap { .. }));
    let (on_dev, _) = swap_out(&sys, MemcgId::ROOT, 24, Page::Bytes(&compressible(4)));
    sys.writeback(on_dev).unwrap();
    let before = (sys.state(zero).unwrap(), sys.state(zswapped).unwrap(), sys.stat().pool_total_size);
    let mut frames = Frames::new(1000, 8);
    let report = sys.swapoff_with(dev, &mut frames).unwrap();
    assert_eq!(report.swapped_in, 1);
    assert_eq!(frames.seen.iter().map(|s| s.slot).collect::<Vec<_>>(), vec![on_dev]);
    assert_eq!(frames.seen[0].data.as_deref(), Some(&compressible(4)[..]));
    assert_eq!((sys.state(zero).unwrap(), sys.state(zswapped).unwrap(), sys.stat().pool_total_size), before);
    assert_eq!(zswap_load(&sys, zswapped, 40), compressible(3));
}

/// A device that keeps no data hands the sink no bytes; a large folio's pages come in
/// one by one, each its own order-0 folio.
#[test]
fn a_null_device_gives_no_bytes_and_a_large_folio_comes_in_page_by_page() {
    let sys = system_with(|c| {
        c.zswap.compressor = CompressionMode::Synthetic;
        c.zswap.enabled = false;
    });
    let dev = sys.swapon(DeviceSpec::null("null", 16)).unwrap();
    let head = sys.alloc(0, MemcgId::ROOT, FolioId(64), 2).unwrap();
    for i in 0..4 {
        sys.dup(VSlot::from_raw(head.raw() + i)).unwrap();
    }
    let w = sys.writeout(head, Page::Synthetic { compressed_len: 0, zero: false }).unwrap();
    assert_eq!(w, Writeout::Device(dev));
    sys.evict(head, Shadow(5)).unwrap();
    let mut frames = Frames::new(1000, 8);
    let report = sys.swapoff_with(dev, &mut frames).unwrap();
    assert_eq!(report.swapped_in, 4);
    assert!(frames.seen.iter().all(|s| s.data.is_none() && s.shadow == Shadow(5) && s.count == 1));
    for i in 0..4 {
        let s = VSlot::from_raw(head.raw() + i);
        assert_eq!(sys.state(s).unwrap(), SlotState::Cached { folio: frames.folio_of(s), count: 1 });
    }
}

/// While the sink runs the slot is held: the sink may still drop the slot's references
/// (`put`, as an exiting task would) and reclaim other pages; a slot whose count fell to
/// 0 comes in cache-only and `release` frees it.
#[test]
fn the_sink_may_put_the_slot_and_reclaim_other_pages() {
    let sys = system_without_zswap();
    let dev = sys.swapon(DeviceSpec::memory("only", 16)).unwrap();
    let (s, _) = swap_out(&sys, MemcgId::ROOT, 8, Page::Bytes(&incompressible(1)));
    let other = mapped(&sys, MemcgId::ROOT, 16);
    let mut calls = 0;
    let mut sink = |p: &SwapoffPage<'_>| {
        calls += 1;
        assert_eq!(p.slot, s);
        assert!(matches!(sys.state(s), Ok(SlotState::SwappedOut { backing: Backing::Device(_), .. })));
        assert_eq!(sys.evict(s, Shadow(1)), Err(Error::WritebackInProgress));
        assert_eq!(sys.put(s), Ok(0));
        // Reclaim elsewhere to make room: the device takes no new page while going off.
        assert_eq!(sys.writeout(other, Page::Bytes(&incompressible(2))), Ok(Writeout::Kept(KeepReason::NoSpace)));
        Some(FolioId(32))
    };
    let report = sys.swapoff_with(dev, &mut sink).unwrap();
    assert_eq!((calls, report.swapped_in), (1, 1));
    assert_eq!(sys.state(s).unwrap(), SlotState::Cached { folio: FolioId(32), count: 0 });
    assert_eq!(sys.release(s), Ok(true));
    assert_eq!(sys.stat().vslots_in_use, 1);
}

/// The page of an offline memcg names the memcg recorded for it, and its charge leaves
/// that memcg (seen from its online parent).
#[test]
fn an_offline_memcgs_page_comes_in_uncharged() {
    let sys = system_without_zswap();
    let dev = sys.swapon(DeviceSpec::memory("only", 16)).unwrap();
    let parent = sys.memcg_create(MemcgId::ROOT).unwrap();
    let child = sys.memcg_create(parent).unwrap();
    let (s, _) = swap_out(&sys, child, 8, Page::Bytes(&incompressible(1)));
    sys.memcg_offline(child).unwrap();
    assert_eq!(sys.memcg_stat(parent).unwrap().swap_current, PAGE);
    let mut frames = Frames::new(1000, 1);
    sys.swapoff_with(dev, &mut frames).unwrap();
    assert_eq!(frames.seen[0].memcg, child);
    assert_eq!(sys.memcg_of(s), Ok(Some(child)));
    let m = sys.memcg_stat(parent).unwrap();
    assert_eq!((m.swap_current, m.pswpin), (0, 1));
}
