//! Swap readahead in the simulator's memory manager (`swapin_readahead`): the window grows
//! on sequential faults and falls to one page on random ones, `page-cluster` 0 reads the
//! faulting page only, every page read counts in `pswpin` / `zswpin` while only the
//! faulting one is a major fault, and a page read ahead is later mapped from the swap
//! cache without a second major fault (docs/kernel.md §3.3).

use vswap::{CompressionMode, DeviceSpec, ZswapConfig};
use vswap_sim::mm::{Cg, Mm, MmConfig, TaskId};
use vswap_sim::workload::{Event, Process, Workload};

/// Four PMDs' worth of pages (the mapping is one VMA of this many pages).
const PAGES: u64 = if cfg!(miri) { 1024 } else { 2048 };

struct Machine {
    mm: Mm,
    cg: Cg,
    task: TaskId,
}

/// A task whose `PAGES` half-zero pages are written once, then all swapped out by
/// `memory.reclaim` (to zswap, or with `zswap` false to the device), in page order.
fn swapped_out(page_cluster: u32, vma_readahead: bool, zswap: bool) -> Machine {
    let zswap = ZswapConfig { enabled: zswap, compressor: CompressionMode::Synthetic, ..ZswapConfig::default() };
    let cfg = MmConfig {
        page_cluster,
        vma_readahead,
        ..MmConfig::new(1 << 16, 1, zswap, vec![DeviceSpec::null("swap", 4 * PAGES)])
    };
    let mut mm = Mm::new(cfg).unwrap();
    let cg = mm.memcg_create(Mm::ROOT, "a").unwrap();
    let toml = format!(
        "name = \"ra\"\n[[region]]\nname = \"data\"\npages = {PAGES}\ndata = \"zero-fraction:0.5\"\n\
         [[phase]]\nname = \"fill\"\nticks = 1\naccesses_per_tick = {PAGES}\n\
         [[phase.stream]]\nregion = \"data\"\npattern = \"sequential\"\nwrites = 100\n"
    );
    let w = Workload::parse("ra", &toml).unwrap();
    let task = mm.spawn(cg, &w, 1).unwrap();
    let mut m = Machine { mm, cg, task };
    for page in 0..PAGES {
        m.access(Process::Parent, page, true);
    }
    assert_eq!(m.mm.reclaim(cg, PAGES).unwrap(), PAGES);
    assert_eq!(m.mm.resident_pages(cg).unwrap(), 0);
    m.mm.tick().unwrap();
    m.mm.check().unwrap();
    m
}

impl Machine {
    fn access(&mut self, process: Process, page: u64, write: bool) {
        self.mm.apply(self.task, &Event::Access { process, region: 0, page, write }).unwrap();
    }

    fn majors(&self) -> u64 {
        self.mm.counters(self.cg).unwrap().major_faults
    }

    fn ra(&self) -> (u64, u64) {
        let c = self.mm.counters(self.cg).unwrap();
        (c.swap_ra, c.swap_ra_hit)
    }

    /// Read `pages` in order; the window after each major fault.
    fn read(&mut self, pages: impl IntoIterator<Item = u64>) -> Vec<u64> {
        let mut windows = Vec::new();
        for page in pages {
            let before = self.majors();
            self.access(Process::Parent, page, false);
            if self.majors() > before {
                windows.push(self.mm.readahead_window(self.task, Process::Parent).unwrap());
            }
        }
        self.mm.check().unwrap();
        windows
    }
}

/// Sequential faults hit the pages read ahead, and each hit widens the next window:
/// 8 pages first (the initial 4 hits + 2, rounded up), then 16, then the maximum 32 of
/// `page-cluster` 5; a hit is a minor fault, so the major faults are one per window.
/// Cluster readahead reads the aligned block of slots holding the fault, so its second
/// window (16 slots) holds the 8 read by the first and reads 8 new ones, whose 8 hits
/// give 16 again; VMA readahead places its window from the fault onwards.
#[test]
fn sequential_faults_read_ahead_and_the_window_grows() {
    for (vma, first) in [(false, [8, 16, 16, 32, 32]), (true, [8, 16, 32, 32, 32])] {
        let mut m = swapped_out(5, vma, false);
        let windows = m.read(0..PAGES);
        assert_eq!(windows[..5], first, "vma readahead {vma}: {windows:?}");
        // VMA readahead stops at a PMD's end: the fault before it reads fewer pages,
        // whose fewer hits give a window of 16 past the boundary.
        assert!(windows[4..].iter().all(|&w| w == 32 || vma && w == 16), "vma readahead {vma}: {windows:?}");
        let majors = m.majors();
        // 8 + 16 and then 32 pages per fault (VMA readahead: the window placed from the
        // fault onwards, within each 512-page PMD).
        assert!(majors <= 2 + PAGES.div_ceil(32) + PAGES / 512, "vma readahead {vma}: {majors} major faults");
        let (ra, hit) = m.ra();
        assert_eq!(ra, PAGES - majors, "vma readahead {vma}: every other page was read ahead");
        assert_eq!(hit, ra, "vma readahead {vma}: and each was hit once");
        let c = m.mm.counters(m.cg).unwrap();
        assert_eq!(c.swapcache_hits, PAGES - majors);
        assert_eq!(m.mm.sys().stat().pswpin, PAGES, "each page read from the device once");
    }
}

/// Faults far apart, on pages nobody read ahead: with no hit and no adjacent fault the
/// window is 1, but it shrinks no faster than by half (8, 4, 2, 1), and once it is 1
/// each fault reads its own page only.
#[test]
fn random_faults_shrink_the_window_to_one_page() {
    for vma in [false, true] {
        let mut m = swapped_out(3, vma, false);
        // Multiples of 16 in a scrambled order: never adjacent, never in another's window.
        let pages: Vec<u64> = (0..PAGES / 16).map(|i| (i * 37 % (PAGES / 16)) * 16).collect();
        let windows = m.read(pages.iter().copied());
        assert_eq!(windows.len(), pages.len(), "every fault is a major one");
        assert_eq!(windows[..5], [8, 4, 2, 1, 1], "vma readahead {vma}: {windows:?}");
        assert!(windows[3..].iter().all(|&w| w == 1), "vma readahead {vma}: {windows:?}");
        let (ra, hit) = m.ra();
        assert_eq!(hit, 0);
        // 7 + 3 + 1 neighbours when the window is centred (8, 4, 2 pages), fewer at the
        // edge of the mapping or of a slot block.
        assert!(ra <= 11, "vma readahead {vma}: {ra} pages read ahead");
        assert_eq!(m.mm.sys().stat().pswpin, pages.len() as u64 + ra);
    }
}

/// `page-cluster` 0: a window of one page, however sequential the faults.
#[test]
fn page_cluster_zero_reads_the_faulting_page_only() {
    for vma in [false, true] {
        let mut m = swapped_out(0, vma, false);
        let windows = m.read(0..PAGES);
        assert_eq!(windows.len() as u64, PAGES);
        assert!(windows.iter().all(|&w| w == 0), "no window is ever computed: {:?}", &windows[..4]);
        assert_eq!(m.majors(), PAGES);
        assert_eq!(m.ra(), (0, 0));
        assert_eq!(m.mm.sys().stat().pswpin, PAGES);
    }
}

/// Every page read counts where it was read from — `pswpin` from the device, `zswpin`
/// from zswap (the entry freed, the page dirty) — the neighbours as much as the faulting
/// page, system-wide and in the memcg, while `pgmajfault` counts the faulting page only.
/// The neighbours are resident, unmapped (their swap PTEs and slots stay) and on the LRU:
/// reclaim drops a clean one (read from the device) without writing and stores a dirty
/// one (loaded from zswap) again.
#[test]
fn readahead_pages_count_in_pswpin_and_zswpin_as_the_kernel_counts_them() {
    for zswap in [false, true] {
        let mut m = swapped_out(3, false, zswap);
        let before = m.mm.sys().stat();
        m.read([0]);
        let (ra, _) = m.ra();
        assert_eq!((m.majors(), ra), (1, 7), "zswap {zswap}: one fault, a block of 8 slots");
        let after = m.mm.sys().stat();
        let id = m.mm.memcg_id(m.cg).unwrap();
        let s = m.mm.sys().memcg_stat(id).unwrap();
        if zswap {
            assert_eq!((after.zswpin - before.zswpin, after.pswpin), (8, 0));
            assert_eq!(s.zswpin, 8);
        } else {
            assert_eq!((after.pswpin - before.pswpin, after.zswpin), (8, 0));
            assert_eq!(s.pswpin, 8);
        }
        assert_eq!(m.mm.resident_pages(m.cg).unwrap(), 8);
        // Seven swap PTEs still hold their slots: only the faulting page was mapped.
        assert_eq!(m.mm.swapped_slots(m.cg).len() as u64, PAGES - 1);
        m.mm.check().unwrap();

        // Reclaim: the unreferenced neighbours go first.
        let out = m.mm.sys().stat();
        assert_eq!(m.mm.reclaim(m.cg, 7).unwrap(), 7);
        let again = m.mm.sys().stat();
        if zswap {
            assert_eq!(again.zswpout - out.zswpout, 7, "dirty: stored again");
        } else {
            assert_eq!(again.pswpout - out.pswpout, 0, "clean: dropped, the slot keeps the data");
        }
        assert_eq!(m.mm.resident_pages(m.cg).unwrap(), 1);
        m.mm.check().unwrap();
    }
}

/// A page read ahead and then faulted on is mapped from the swap cache: a minor fault
/// that counts a readahead hit, not a second major fault and not a second read.
#[test]
fn a_page_read_ahead_and_then_faulted_is_not_a_second_major_fault() {
    let mut m = swapped_out(3, false, true);
    m.read([0]);
    let zswpin = m.mm.sys().stat().zswpin;
    let windows = m.read(1..8);
    assert!(windows.is_empty(), "no major fault for a page read ahead");
    assert_eq!(m.majors(), 1);
    assert_eq!(m.ra(), (7, 7));
    assert_eq!(m.mm.sys().stat().zswpin, zswpin, "no page read twice");
    assert_eq!(m.mm.counters(m.cg).unwrap().swapcache_hits, 7);
    // Faulting a page again after its hit (still in the swap cache) counts no hit.
    m.access(Process::Parent, 3, false);
    assert_eq!(m.ra(), (7, 7));
    m.mm.check().unwrap();
}

/// VMA readahead places the window around the fault and keeps it inside the faulting
/// page's 512-page PMD: a first fault on page 509 reads 506..512 (centred, cut at the
/// PMD's end); a later fault on 512, not next to the previous fault (510) and with one
/// hit since, reads a window of 4 centred on it, cut at the PMD's start: 512..515. A
/// fault one page below the previous one reads the window that ends at it. Fork gives the child a copy of the mapping's readahead state (`vm_area_dup`).
#[test]
fn vma_readahead_stays_in_the_pmd_and_fork_copies_its_state() {
    let mut m = swapped_out(3, true, false);
    m.read([509]);
    assert_eq!(m.ra(), (5, 0), "506, 507, 508, 510, 511");
    m.read([510]);
    assert_eq!(m.ra(), (5, 1));
    let windows = m.read([512]);
    assert_eq!(windows, [4]);
    assert_eq!(m.ra(), (7, 1), "513, 514");
    assert_eq!(m.mm.resident_pages(m.cg).unwrap(), 9);
    // No hit and not adjacent: 1 page, but at least half the last window (2), centred
    // (1000..1002); then one page below it, adjacent, read backwards: 998..1000.
    assert_eq!(m.read([1000]), [2]);
    assert_eq!(m.ra(), (8, 1), "1001");
    assert_eq!(m.read([999]), [2]);
    assert_eq!(m.ra(), (9, 1), "998");
    assert!(m.read([998, 1001]).is_empty(), "both were read ahead");
    assert_eq!(m.ra(), (9, 3));
    m.mm.apply(m.task, &Event::Fork).unwrap();
    assert_eq!(m.mm.readahead_window(m.task, Process::Child), m.mm.readahead_window(m.task, Process::Parent));
    m.access(Process::Child, 100, false);
    m.mm.check().unwrap();
}
