//! The simulator's specification: the scenarios reproduce the mailing-list results
//! qualitatively (docs/kernel.md Appendix B), reports are a pure function of the seed,
//! and the memory manager keeps its invariants through reclaim, faults, fork and exit.
//!
//! The scenarios run ~10^5 page events each: far too slow for Miri's interpreter, and
//! the simulator has no unsafe code of its own (the facade it drives is Miri-tested by
//! every other suite), so they are skipped under Miri; the memory-manager test runs
//! there at a small size.

use vswap::{CompressionMode, DeviceSpec, Error, ZswapConfig};
use vswap_sim::mm::{Cg, Mm, MmConfig};
use vswap_sim::report::{Report, to_json};
use vswap_sim::scenario::{Options, SimError, run};
use vswap_sim::workload::{Event, Generator, Process, Workload};

fn scenario(name: &str, opts: &Options) -> Report {
    run(name, opts, &mut |_| {}).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// The named column of the row for `memcg` in a run's first table.
fn cell(r: &Report, run: &str, memcg: &str, column: &str) -> i64 {
    let t = &r.runs.iter().find(|x| x.name == run).expect("run").tables[0];
    let c = t.columns.iter().position(|c| c == column).expect("column");
    let row = t.rows.iter().find(|row| row[0] == memcg).expect("row");
    row[c].parse().expect("a number")
}

fn delta(r: &Report, run: &str, counter: &str) -> i128 {
    let run = r.runs.iter().find(|x| x.name == run).expect("run");
    run.counters.iter().find(|c| c.name == counter).expect("counter").delta()
}

#[test]
#[cfg_attr(miri, ignore = "10^5 page events; no unsafe code of its own")]
fn proactive_shrinking_moves_the_active_memcgs_swapins_from_disk_to_zswap() {
    let r = scenario("proactive-shrink", &Options::default());
    let names: Vec<&str> = r.runs.iter().map(|x| x.name.as_str()).collect();
    assert_eq!(names, ["legacy", "hysteresis", "proactive"]);
    let (legacy_disk, pro_disk) = (cell(&r, "legacy", "active", "pswpin"), cell(&r, "proactive", "active", "pswpin"));
    assert!(legacy_disk >= 5 * pro_disk.max(1), "pswpin {legacy_disk} -> {pro_disk}: not 5x fewer");
    let (legacy_z, pro_z) = (cell(&r, "legacy", "active", "zswpin"), cell(&r, "proactive", "active", "zswpin"));
    assert!(pro_z > legacy_z, "zswpin {legacy_z} -> {pro_z} did not rise");
    // The legacy worker writes far less: 16 of the 20 idle services ahead of the
    // background memcg end each run; only its persistent cursor lets a later run (one
    // after each refused store) reach the background's entries, one per visit.
    assert!(delta(&r, "legacy", "zswpwb") * 3 < delta(&r, "proactive", "zswpwb"));
    // zswpwb is attributed to the cold background memcg, not to the active one.
    let bg = cell(&r, "proactive", "background", "zswpwb");
    assert!(bg > 2 * cell(&r, "proactive", "active", "zswpwb"), "background wrote back {bg}");
    assert!(r.findings.iter().any(|f| f.starts_with("today's worker with hysteresis")), "{:?}", r.findings);
}

#[test]
#[cfg_attr(miri, ignore = "10^5 page events; no unsafe code of its own")]
fn second_chance_gives_fewer_device_swapins_than_the_protection_scheme() {
    let r = scenario("second-chance", &Options::default());
    let (p, s) = (delta(&r, "protection", "pswpin"), delta(&r, "second-chance", "pswpin"));
    assert!(s < p, "pswpin: protection {p}, second chance {s}");
    assert!(delta(&r, "second-chance", "zswpwb") > 0, "the shrinker never wrote back");
}

#[test]
#[cfg_attr(miri, ignore = "10^5 page events; no unsafe code of its own")]
fn every_child_progresses_under_repeated_small_proactive_calls() {
    let r = scenario("proactive-writeback", &Options::default());
    let t = &r.runs[0].tables[0];
    let wb: Vec<i64> = t.rows.iter().map(|row| row[1].parse().expect("number")).collect();
    assert_eq!(wb.len(), 8);
    let (lo, hi) = (*wb.iter().min().unwrap(), *wb.iter().max().unwrap());
    assert!(lo > 0, "a child was never written back: {wb:?}");
    // One batch (PROACTIVE_BATCH entries) is the most the cursor may favour a child by.
    assert!(hi - lo <= 32, "shares {wb:?} differ by more than one batch");
}

#[test]
#[cfg_attr(miri, ignore = "10^5 page events; no unsafe code of its own")]
fn per_memcg_tiers_keep_the_batch_memcg_off_the_fast_device() {
    let r = scenario("tiers", &Options::default());
    // Columns: memcg, on fast, on slow, reads fast, reads slow, charged fast, charged
    // slow; rows: latency, batch.
    let cell = |run: usize, row: usize, col: usize| -> u64 { r.runs[run].tables[1].rows[row][col].parse().unwrap() };
    assert_eq!(r.runs[0].name, "one-priority-order");
    assert_eq!(r.runs[1].name, "per-memcg-tiers");
    assert!(cell(0, 1, 1) > 0, "under one priority order the batch memcg takes fast slots");
    assert_eq!((cell(1, 1, 1), cell(1, 1, 3)), (0, 0), "with its tiers it never touches the fast device");
    assert_eq!(cell(1, 1, 5), 0, "nor is any of its swap charge on the fast tier");
    assert!(cell(0, 1, 5) > 0 && cell(1, 1, 6) > 0, "the charge follows the pages");
    assert!(cell(1, 0, 5) >= cell(1, 0, 1), "the latency memcg's charge covers its pages on the fast device");
    assert!(cell(1, 0, 1) > cell(0, 0, 1), "the latency-sensitive memcg gets more of the fast device");
    // The share of its device swap-ins the fast device serves rises.
    let share = |run| cell(run, 0, 3) as f64 / (cell(run, 0, 3) + cell(run, 0, 4)).max(1) as f64;
    assert!(share(1) > share(0), "{} vs {}", share(1), share(0));
    assert!(delta(&r, "per-memcg-tiers", "pswpout") > 0);
}

#[test]
#[cfg_attr(miri, ignore = "10^5 page events; no unsafe code of its own")]
fn the_same_seed_gives_byte_identical_json_and_another_seed_differs() {
    let opts = Options { scale: 50, ..Options::default() };
    let a = to_json(&scenario("proactive-shrink", &opts));
    let b = to_json(&scenario("proactive-shrink", &opts));
    assert_eq!(a, b);
    let c = to_json(&scenario("proactive-shrink", &Options { seed: 2, ..opts }));
    assert_ne!(a, c);
}

#[test]
fn bad_options_get_typed_errors() {
    let e = run("no-such", &Options::default(), &mut |_| {}).unwrap_err();
    assert_eq!(e, SimError::UnknownScenario("no-such".into()));
    let e = run("proactive-shrink", &Options { scale: 0, ..Options::default() }, &mut |_| {}).unwrap_err();
    assert!(matches!(e, SimError::Invalid(_)), "{e:?}");
}

#[test]
fn a_workload_file_error_names_the_file_and_line() {
    let text = "name = \"x\"\n[[region]]\nname = \"r\"\npages = 0\ndata = \"zero\"\n\
                [[phase]]\nname = \"p\"\nticks = 1\naccesses_per_tick = 1\n\
                [[phase.stream]]\nregion = \"r\"\npattern = \"random\"\n";
    let e = Workload::parse("bad.toml", text).unwrap_err();
    let msg = e.to_string();
    assert!(msg.starts_with("bad.toml:4:"), "{msg}");
}

/// zswap with its shrinker, but not under Miri. There the memcg is 10 pages, which
/// zswap cannot serve: the compressed pool is charged to the memcg and fills it, and the
/// folios the shrinker writes back are charged past the limit while under writeback, so
/// the task is OOM-killed (as the kernel kills a memcg that small). A memcg that survives
/// zswap makes the run too long under Miri; the library's own tests run zswap there.
const ZSWAP: bool = !cfg!(miri);

/// The machine of the BGSAVE tests: RAM of 4 × `pages`, a null device of 8 × `pages`,
/// zswap with synthetic sizes (see [`ZSWAP`]), and a memcg "redis" limited to a third
/// of `pages`.
fn bgsave_mm(pages: u64, page_cluster: u32, vma_readahead: bool) -> (Mm, Cg) {
    let zswap = ZswapConfig {
        enabled: ZSWAP,
        compressor: CompressionMode::Synthetic,
        shrinker_enabled: ZSWAP,
        ..ZswapConfig::default()
    };
    let cfg = MmConfig {
        ram_pages: 4 * pages,
        cpus: 2,
        zswap,
        devices: vec![DeviceSpec::null("swap", 8 * pages)],
        page_cluster,
        vma_readahead,
    };
    let mut mm = Mm::new(cfg).unwrap();
    let cg = mm.memcg_create(Mm::ROOT, "redis").unwrap();
    mm.set_memory_max(cg, Some(pages / 3 * 4096)).unwrap();
    (mm, cg)
}

/// The builtin `bgsave` of `pages` pages; under Miri each phase a quarter as long (a tick
/// of reclaim costs seconds there), which still swaps, shares slots and exits the child.
fn bgsave(pages: u64) -> Workload {
    let mut w = Workload::builtin("bgsave", pages).unwrap();
    if cfg!(miri) {
        for p in &mut w.phases {
            p.ticks = p.ticks.div_ceil(4);
        }
    }
    w
}

/// BGSAVE (B4) on a memcg under pressure: the invariants hold at every step, shared
/// slots reach count 2, and no slot leaks after the child exits; with each kind of swap
/// readahead (`page-cluster` 3) and without.
#[test]
fn the_memory_manager_keeps_its_invariants_through_fork_and_exit() {
    // Under Miri, cluster readahead alone (the lab kernels' kind): each run takes minutes.
    let kinds: &[(u32, bool)] = if cfg!(miri) { &[(3, false)] } else { &[(0, false), (3, false), (3, true)] };
    for &(page_cluster, vma_readahead) in kinds {
        fork_and_exit(page_cluster, vma_readahead);
    }
}

fn fork_and_exit(page_cluster: u32, vma_readahead: bool) {
    let pages = if cfg!(miri) { 32 } else { 2048 };
    let (mut mm, cg) = bgsave_mm(pages, page_cluster, vma_readahead);
    let w = bgsave(pages);
    let task = mm.spawn(cg, &w, 7).unwrap();
    let mut g = Generator::new(&w, 7);
    let (mut buf, mut shared, mut forked, mut ticks) = (Vec::new(), 0, false, 0u64);
    while g.tick(&mut buf) {
        for ev in buf.drain(..) {
            forked |= ev == Event::Fork;
            mm.apply(task, &ev).unwrap();
        }
        mm.tick().unwrap();
        ticks += 1;
        if ticks % 8 == 0 {
            mm.check().unwrap_or_else(|e| panic!("tick {ticks}: {e}"));
        }
        if g.has_child() {
            shared = shared.max(mm.swapped_slots(cg).iter().filter(|&&s| count(&mm, s) == 2).count());
        }
    }
    mm.check().unwrap();
    // A memcg far smaller than this one is OOM-killed, as the kernel kills it: the
    // shrinker's written-back folios are charged past memory.max and stay under
    // writeback through the charge's retries.
    assert!(!mm.killed(task), "the OOM killer took the task");
    assert!(forked && !g.has_child());
    assert!(shared > 0, "no swap slot was ever shared by parent and child");
    assert!(mm.sys().stat().pswpout + mm.sys().stat().zswpout > 0, "nothing was swapped");
}

/// `apply_all` is `apply` for each event under one epoch pin: a tick's batch leaves the
/// same memory manager and facade behind as its events one by one, and a batch stops at
/// its first bad event with the ones before it applied.
#[test]
fn a_batch_of_events_does_what_the_events_do_one_by_one() {
    let pages = if cfg!(miri) { 32 } else { 512 };
    let new_mm = || bgsave_mm(pages, 0, false);
    let w = bgsave(pages);
    let ((mut one, cg), (mut batch, _)) = (new_mm(), new_mm());
    let (t1, t2) = (one.spawn(cg, &w, 7).unwrap(), batch.spawn(cg, &w, 7).unwrap());
    let (mut g, mut buf) = (Generator::new(&w, 7), Vec::new());
    while g.tick(&mut buf) {
        for ev in &buf {
            one.apply(t1, ev).unwrap();
        }
        batch.apply_all(t2, &buf).unwrap();
        buf.clear();
        one.tick().unwrap();
        batch.tick().unwrap();
    }
    batch.check().unwrap();
    assert!(batch.sys().stat().pswpout + batch.sys().stat().zswpout > 0, "nothing was swapped");
    assert_eq!(batch.counters(cg), one.counters(cg));
    assert_eq!(batch.sys().stat(), one.sys().stat());
    assert_eq!(batch.swapped_slots(cg), one.swapped_slots(cg));
    assert_eq!(batch.memory_current(cg), one.memory_current(cg));

    let (region, page) = (0, w.regions[0].pages);
    let good = Event::Access { process: Process::Parent, region, page: 0, write: false };
    let bad = Event::Access { process: Process::Parent, region, page, write: false };
    let accesses = batch.counters(cg).unwrap().accesses;
    assert!(!batch.killed(t2), "the OOM killer took the task");
    assert!(matches!(batch.apply_all(t2, &[good, bad, good]), Err(Error::Invalid(_))));
    assert_eq!(batch.counters(cg).unwrap().accesses, accesses + 1);
    assert!(matches!(batch.apply_all(t2 + 1, &[good]), Err(Error::Invalid(_))));
    assert_eq!(batch.counters(cg).unwrap().accesses, accesses + 1);
    batch.check().unwrap();
}

fn count(mm: &Mm, slot: vswap::VSlot) -> u32 {
    match mm.sys().state(slot).unwrap() {
        vswap::SlotState::SwappedOut { count, .. } | vswap::SlotState::Cached { count, .. } => count,
        vswap::SlotState::Free => 0,
    }
}

/// A memcg index or task this Mm did not give out, and an access outside the task's
/// regions or by a child that does not exist: typed errors, and the Mm is unchanged.
#[test]
fn foreign_handles_and_stray_accesses_get_typed_errors() {
    let zswap = ZswapConfig { compressor: CompressionMode::Synthetic, ..ZswapConfig::default() };
    let cfg = MmConfig { page_cluster: 0, ..MmConfig::new(64, 1, zswap, vec![DeviceSpec::null("swap", 64)]) };
    let mut mm = Mm::new(cfg).unwrap();
    let cg = mm.memcg_create(Mm::ROOT, "a").unwrap();
    let w = Workload::builtin("usemem", 16).unwrap();
    let task = mm.spawn(cg, &w, 1).unwrap();
    let (region, pages) = (0u32, w.regions[0].pages);
    let access = |region, page, process| Event::Access { process, region, page, write: false };
    mm.apply(task, &access(region, 0, Process::Parent)).unwrap();

    let foreign = cg + 1;
    assert_eq!(mm.memcg_id(foreign), Err(Error::InvalidMemcg));
    assert_eq!(mm.memcg_name(foreign), Err(Error::InvalidMemcg));
    assert_eq!(mm.counters(foreign), Err(Error::InvalidMemcg));
    assert_eq!(mm.resident_pages(foreign), Err(Error::InvalidMemcg));
    assert_eq!(mm.memory_current(foreign), Err(Error::InvalidMemcg));
    assert_eq!(mm.set_memory_max(foreign, Some(0)), Err(Error::InvalidMemcg));
    assert_eq!(mm.reclaim(foreign, 1), Err(Error::InvalidMemcg));
    assert!(mm.memcg_create(foreign, "b").is_err());
    assert!(mm.spawn(foreign, &w, 1).is_err());

    let before = (mm.counters(cg).unwrap().clone(), mm.resident_pages(cg).unwrap());
    for (t, ev) in [
        (task + 1, access(region, 0, Process::Parent)),
        (task, access(region, pages, Process::Parent)),
        (task, access(region + 1, 0, Process::Parent)),
        (task, access(u32::MAX, u64::MAX, Process::Parent)),
        (task, access(region, 1, Process::Child)),
        (task, Event::ChildExit),
    ] {
        assert!(matches!(mm.apply(t, &ev), Err(Error::Invalid(_))), "{t} {ev:?}");
    }
    assert_eq!((mm.counters(cg).unwrap().clone(), mm.resident_pages(cg).unwrap()), before);
    mm.check().unwrap();
}

/// After fork, a write to a page whose slot the other process still holds in a swap PTE
/// copies it (`do_swap_page` maps the folio read-only, as fork cleared the swap PTEs'
/// exclusive marker, and `do_wp_page` cannot reuse it while the swap count pins the
/// swap-cache folio): a write fault on a swapped-out shared page leaves two frames, the
/// swap-cache folio the child later maps without a read and the parent's copy; so does a
/// write after a read fault, and a write fault while the other process maps the folio,
/// which keeps its slot. Once no one else holds the slot, a write does not copy.
#[test]
fn a_write_to_a_page_the_other_process_holds_in_a_swap_pte_copies_it() {
    let zswap = ZswapConfig { compressor: CompressionMode::Synthetic, ..ZswapConfig::default() };
    let cfg = MmConfig { page_cluster: 0, ..MmConfig::new(1024, 1, zswap, vec![DeviceSpec::null("swap", 256)]) };
    let mut mm = Mm::new(cfg).unwrap();
    let cg = mm.memcg_create(Mm::ROOT, "a").unwrap();
    let w = Workload::builtin("usemem", 16).unwrap();
    let task = mm.spawn(cg, &w, 1).unwrap();
    let access = |process, page, write| Event::Access { process, region: 0, page, write };
    for page in 0..16 {
        mm.apply(task, &access(Process::Parent, page, true)).unwrap();
    }
    mm.apply(task, &Event::Fork).unwrap();
    assert_eq!(mm.reclaim(cg, 16).unwrap(), 16);
    assert_eq!(mm.resident_pages(cg).unwrap(), 0);
    let majors = |mm: &Mm| mm.counters(cg).unwrap().major_faults;

    mm.apply(task, &access(Process::Parent, 0, true)).unwrap();
    assert_eq!((majors(&mm), mm.resident_pages(cg).unwrap()), (1, 2), "the folio and the parent's copy");
    mm.apply(task, &access(Process::Child, 0, false)).unwrap();
    assert_eq!((majors(&mm), mm.resident_pages(cg).unwrap()), (1, 2), "the child maps the cached folio");

    mm.apply(task, &access(Process::Parent, 1, false)).unwrap();
    assert_eq!(mm.resident_pages(cg).unwrap(), 3);
    mm.apply(task, &access(Process::Parent, 1, true)).unwrap();
    assert_eq!(mm.resident_pages(cg).unwrap(), 4, "a write after the read copies too");
    mm.apply(task, &access(Process::Child, 1, false)).unwrap();
    assert_eq!((majors(&mm), mm.resident_pages(cg).unwrap()), (2, 4));
    mm.check().unwrap();

    // The child maps page 3 from swap; the parent's write fault through its swap PTE
    // copies the folio the child maps and leaves it its slot: `should_try_to_free_swap`
    // frees only for a write by the folio's only user.
    mm.apply(task, &access(Process::Child, 3, false)).unwrap();
    let slots = mm.sys().stat().vslots_in_use;
    mm.apply(task, &access(Process::Parent, 3, true)).unwrap();
    assert_eq!(mm.resident_pages(cg).unwrap(), 6);
    assert_eq!(mm.sys().stat().vslots_in_use, slots, "the child's folio keeps the slot");
    mm.check().unwrap();

    mm.apply(task, &Event::ChildExit).unwrap();
    mm.apply(task, &access(Process::Parent, 2, false)).unwrap();
    mm.apply(task, &access(Process::Parent, 2, true)).unwrap();
    assert_eq!(mm.resident_pages(cg).unwrap(), 4, "the child's frames went; page 2 was not copied");
    mm.check().unwrap();
}

/// `mem_cgroup_out_of_memory` → `oom_kill_process`: a memcg at `memory.max` with nothing
/// reclaimable (no swap device, zswap off) kills its task: `oom` and `oom_kill` counted,
/// every frame and slot of the task freed, later events ignored; a task of another memcg
/// goes on.
#[test]
fn a_charge_reclaim_cannot_satisfy_kills_the_memcgs_task_and_frees_its_memory() {
    let zswap = ZswapConfig { enabled: false, compressor: CompressionMode::Synthetic, ..ZswapConfig::default() };
    let cfg = MmConfig { ram_pages: 1024, cpus: 1, zswap, devices: vec![], page_cluster: 0, vma_readahead: false };
    let mut mm = Mm::new(cfg).unwrap();
    let (a, b) = (mm.memcg_create(Mm::ROOT, "a").unwrap(), mm.memcg_create(Mm::ROOT, "b").unwrap());
    mm.set_memory_max(a, Some(16 * 4096)).unwrap();
    let w = Workload::builtin("usemem", 64).unwrap();
    let (ta, tb) = (mm.spawn(a, &w, 1).unwrap(), mm.spawn(b, &w, 2).unwrap());
    let write = |page| Event::Access { process: Process::Parent, region: 0, page, write: true };
    for page in 0..16 {
        mm.apply(ta, &write(page)).unwrap();
        mm.apply(tb, &write(page)).unwrap();
    }
    assert!(!mm.killed(ta));
    assert_eq!(mm.resident_pages(a).unwrap(), 16);
    mm.apply(ta, &write(16)).unwrap();
    assert!(mm.killed(ta) && !mm.killed(tb));
    let c = mm.counters(a).unwrap();
    assert_eq!((c.oom, c.oom_kill), (1, 1));
    assert_eq!((mm.resident_pages(a).unwrap(), mm.memory_current(a).unwrap()), (0, 0));
    assert!(mm.swapped_slots(a).is_empty());
    mm.check().unwrap();
    // The killed task makes no more accesses; the other one goes on.
    let accesses = mm.counters(a).unwrap().accesses;
    mm.apply(ta, &write(17)).unwrap();
    assert_eq!((mm.counters(a).unwrap().accesses, mm.resident_pages(a).unwrap()), (accesses, 0));
    for page in 16..64 {
        mm.apply(tb, &write(page)).unwrap();
    }
    assert_eq!(mm.resident_pages(b).unwrap(), 64);
    assert_eq!(mm.sys().stat().vslots_in_use, 0, "the killed task's slots were not freed");
    mm.tick().unwrap();
    mm.check().unwrap();
}

/// `select_bad_process` over the memcg: of two tasks in the memcg at its limit, the one
/// with more pages (`oom_badness`) is killed, and the other's charge then succeeds.
#[test]
fn the_oom_killer_picks_the_memcgs_largest_task() {
    let zswap = ZswapConfig { enabled: false, compressor: CompressionMode::Synthetic, ..ZswapConfig::default() };
    let cfg = MmConfig { ram_pages: 1024, cpus: 1, zswap, devices: vec![], page_cluster: 0, vma_readahead: false };
    let mut mm = Mm::new(cfg).unwrap();
    let a = mm.memcg_create(Mm::ROOT, "a").unwrap();
    mm.set_memory_max(a, Some(16 * 4096)).unwrap();
    let w = Workload::builtin("usemem", 64).unwrap();
    let (big, small) = (mm.spawn(a, &w, 1).unwrap(), mm.spawn(a, &w, 2).unwrap());
    let write = |page| Event::Access { process: Process::Parent, region: 0, page, write: true };
    for page in 0..12 {
        mm.apply(big, &write(page)).unwrap();
    }
    for page in 0..5 {
        mm.apply(small, &write(page)).unwrap();
    }
    assert!(mm.killed(big) && !mm.killed(small));
    assert_eq!(mm.counters(a).unwrap().oom_kill, 1);
    assert_eq!(mm.resident_pages(a).unwrap(), 5);
    mm.check().unwrap();
}

/// `do_swap_page` → `should_try_to_free_swap`: a read fault from a device keeps the folio
/// in the swap cache with its slot, and reclaim drops it again without writing (no
/// `pswpout`); a write fault frees the slot, so the page is written at its next eviction.
/// With swap more than half full (`vm_swap_full`) a read fault frees the slot too.
#[test]
fn a_clean_swap_cache_page_keeps_its_slot_and_is_dropped_without_writing() {
    for (device_pages, full) in [(256, false), (48, true)] {
        let zswap = ZswapConfig { enabled: false, compressor: CompressionMode::Synthetic, ..ZswapConfig::default() };
        let cfg =
            MmConfig { page_cluster: 0, ..MmConfig::new(1024, 1, zswap, vec![DeviceSpec::null("swap", device_pages)]) };
        let mut mm = Mm::new(cfg).unwrap();
        let cg = mm.memcg_create(Mm::ROOT, "a").unwrap();
        let w = Workload::builtin("usemem", 32).unwrap();
        let task = mm.spawn(cg, &w, 1).unwrap();
        let access = |page, write| Event::Access { process: Process::Parent, region: 0, page, write };
        let evict_all = |mm: &mut Mm| {
            assert_eq!(mm.reclaim(cg, 32).unwrap(), 32);
            mm.tick().unwrap();
        };
        for page in 0..32 {
            mm.apply(task, &access(page, true)).unwrap();
        }
        evict_all(&mut mm);
        assert_eq!((mm.sys().stat().pswpout, mm.sys().stat().vslots_in_use), (32, 32));
        for page in 0..32 {
            mm.apply(task, &access(page, page >= 16)).unwrap();
        }
        let s = mm.sys().stat();
        assert_eq!(s.pswpin, 32);
        assert_eq!(s.vslots_in_use, if full { 0 } else { 16 }, "full: {full}");
        mm.check().unwrap();
        evict_all(&mut mm);
        let s = mm.sys().stat();
        assert_eq!(s.pswpout, if full { 64 } else { 48 }, "full: {full}");
        assert_eq!(s.vslots_in_use, 32);
        mm.check().unwrap();
    }
}

/// 7.3's `zswap_load` frees the entry and dirties the folio: a page read back from zswap
/// keeps its slot but is compressed again at its next eviction (`zswpout`).
#[test]
fn a_page_loaded_from_zswap_is_stored_again_at_its_next_eviction() {
    let zswap = ZswapConfig { compressor: CompressionMode::Synthetic, ..ZswapConfig::default() };
    let cfg = MmConfig { page_cluster: 0, ..MmConfig::new(1024, 1, zswap, vec![DeviceSpec::null("swap", 256)]) };
    let mut mm = Mm::new(cfg).unwrap();
    let cg = mm.memcg_create(Mm::ROOT, "a").unwrap();
    let w = Workload::builtin("usemem", 16).unwrap();
    let task = mm.spawn(cg, &w, 1).unwrap();
    let access = |page, write| Event::Access { process: Process::Parent, region: 0, page, write };
    for page in 0..16 {
        mm.apply(task, &access(page, true)).unwrap();
    }
    assert_eq!(mm.reclaim(cg, 16).unwrap(), 16);
    let stored = mm.sys().stat().zswpout;
    assert!(stored > 0);
    for page in 0..16 {
        mm.apply(task, &access(page, false)).unwrap();
    }
    assert_eq!(mm.sys().stat().zswpin, stored);
    assert_eq!(mm.sys().stat().vslots_in_use, 16);
    assert_eq!(mm.reclaim(cg, 16).unwrap(), 16);
    assert_eq!(mm.sys().stat().zswpout, 2 * stored);
    mm.check().unwrap();
}

/// The lab kernels charge every swap entry, a zswapped one included, to
/// `memory.swap.max` (`__mem_cgroup_try_charge_swap` at `folio_alloc_swap`): once the
/// memcg's zswap holds `swap.max`, nothing more can be swapped and the task is
/// OOM-killed at `memory.max`.
#[test]
#[cfg_attr(
    miri,
    ignore = "its OOM path runs 16 reclaim sweeps, over 8 minutes under Miri; no unsafe code of its own, the OOM kill runs under Miri in a_charge_reclaim_cannot_satisfy_kills_the_memcgs_task_and_frees_its_memory"
)]
fn zswapped_pages_count_against_swap_max_and_the_task_is_killed_at_the_limit() {
    let zswap = ZswapConfig { compressor: CompressionMode::Synthetic, ..ZswapConfig::default() };
    let cfg = MmConfig { page_cluster: 0, ..MmConfig::new(1024, 1, zswap, vec![DeviceSpec::null("swap", 1024)]) };
    let mut mm = Mm::new(cfg).unwrap();
    let cg = mm.memcg_create(Mm::ROOT, "a").unwrap();
    mm.set_memory_max(cg, Some(32 * 4096)).unwrap();
    mm.memcg_set(cg, vswap::Knob::SwapMax(vswap::Limit::Bytes(8 * 4096))).unwrap();
    let w = Workload::builtin("usemem", 128).unwrap();
    let task = mm.spawn(cg, &w, 1).unwrap();
    for page in 0..128 {
        mm.apply(task, &Event::Access { process: Process::Parent, region: 0, page, write: true }).unwrap();
    }
    assert!(mm.killed(task));
    let s = mm.sys().stat();
    assert_eq!((s.zswpout, s.pswpout), (8, 0));
    assert_eq!(s.vslots_in_use, 0);
    mm.check().unwrap();
}

/// A memcg of 512 pages writing 1,200 pages of ratio-0.3 data on a 1,000-page machine
/// whose pool holds at most 100 pages: reclaim fills the pool, stores are refused
/// (`pool_limit_hit`), and the global worker a refused store queues writes entries back.
/// It runs where the kernel's kworker gets the CPU, never left for the tick: after every
/// access it is no longer queued, under both preemption models. Running it right after
/// the refused store (`NextFolio`, 6.12) refuses fewer stores at the limit than running
/// it at the return to user space (`ReturnToUser`, 7.3), where the rest of the fault's
/// reclaim meets the full pool first (each with its kernel's walk: 1 and 32).
#[test]
#[cfg_attr(miri, ignore = "1,200 page events through reclaim")]
fn the_shrink_worker_runs_after_the_refused_store_not_at_the_tick() {
    use vswap_sim::mm::WorkerWake;
    let run = |wake: WorkerWake, worker_shrink_batch: u8| {
        let zswap = ZswapConfig {
            compressor: CompressionMode::Synthetic,
            max_pool_percent: 10,
            worker_shrink_batch,
            ..ZswapConfig::default()
        };
        let cfg = MmConfig { page_cluster: 0, ..MmConfig::new(1000, 1, zswap, vec![DeviceSpec::null("swap", 4096)]) };
        let mut mm = Mm::new(cfg).unwrap();
        mm.set_worker_wake(wake);
        let cg = mm.memcg_create(Mm::ROOT, "a").unwrap();
        mm.set_memory_max(cg, Some(512 * vswap::PAGE_SIZE as u64)).unwrap();
        let w = Workload::builtin("usemem", 1200).unwrap();
        let task = mm.spawn(cg, &w, 1).unwrap();
        for page in 0..1200 {
            mm.apply(task, &Event::Access { process: Process::Parent, region: 0, page, write: true }).unwrap();
            assert!(!mm.sys().shrink_worker_pending(), "{wake:?}: still queued after access {page}");
        }
        mm.check().unwrap();
        let s = mm.sys().stat();
        assert!(s.pool_limit_hit > 0 && s.written_back_pages > 0, "{wake:?}: {s:?}");
        assert_eq!(mm.counters(cg).unwrap().worker_written, s.written_back_pages, "{wake:?}");
        assert!(s.pool_total_size <= 100 * vswap::PAGE_SIZE as u64, "{wake:?}: the pool past its limit");
        s.pool_limit_hit
    };
    // Each lab kernel's pairing: 6.12 walks 1 entry per visit, 7.3 32.
    let next_folio = run(WorkerWake::NextFolio, ZswapConfig::SHRINK_BATCH_MAINLINE);
    let return_to_user = run(WorkerWake::ReturnToUser, ZswapConfig::SHRINK_BATCH_7_3);
    assert!(next_folio < return_to_user, "{next_folio} >= {return_to_user}");
}

/// `memory.swap.max` under the lab kernels' charge rule: a memcg of 64 pages with 40
/// pages of swap writes 200 pages. Reclaim swaps 32 out, then 8 in the next pass, whose
/// remaining folios find the limit: their charges are refused (`memory.swap.events`
/// `max` and `fail`, one each per folio). From then on `get_scan_count` scans no
/// anonymous page (`mem_cgroup_get_nr_swap_pages` is 0) and no charge is tried, so the
/// count stays within that one pass's scan (not one per folio per sweep, as when every
/// sweep tried every folio), and the task is OOM-killed.
#[test]
#[cfg_attr(miri, ignore = "200 page events through reclaim")]
fn swap_max_raises_max_and_fail_only_where_the_kernel_tries_a_charge() {
    use vswap::{Knob, Limit};
    let zswap = ZswapConfig { enabled: false, compressor: CompressionMode::Synthetic, ..ZswapConfig::default() };
    let cfg = MmConfig { page_cluster: 0, ..MmConfig::new(4096, 1, zswap, vec![DeviceSpec::null("swap", 4096)]) };
    let mut mm = Mm::new(cfg).unwrap();
    let cg = mm.memcg_create(Mm::ROOT, "a").unwrap();
    let page = vswap::PAGE_SIZE as u64;
    mm.set_memory_max(cg, Some(64 * page)).unwrap();
    mm.memcg_set(cg, Knob::SwapMax(Limit::Bytes(40 * page))).unwrap();
    let w = Workload::builtin("usemem", 200).unwrap();
    let task = mm.spawn(cg, &w, 1).unwrap();
    let id = mm.memcg_id(cg).unwrap();
    let mut swapped = 0;
    for page in 0..200 {
        mm.apply(task, &Event::Access { process: Process::Parent, region: 0, page, write: true }).unwrap();
        if !mm.killed(task) {
            swapped = mm.sys().memcg_stat(id).unwrap().swap_current / vswap::PAGE_SIZE as u64;
        }
    }
    assert!(mm.killed(task));
    assert_eq!(swapped, 40, "swapped out up to the limit");
    let c = mm.counters(cg).unwrap();
    assert_eq!(c.swap_max, c.swap_fail);
    assert!((1..=32).contains(&c.swap_max), "{} refused charges", c.swap_max);
    mm.check().unwrap();
}

/// `memory.swap.high` never refuses a swap charge; `high` is raised by the over-high
/// return path of a memory charge (`mem_cgroup_handle_over_high` →
/// `swap_find_max_overage`), once per round at each level over: a memcg of 64 pages
/// with `swap.high` 16 pages writing 200 pages swaps out all it must (nothing refused) and, at
/// its memory limit, every page charged after its swap passed 16 pages runs the handler:
/// one round while the penalty is small, 17 once it throttles. With `swap.high` above
/// what it swaps, nothing is raised.
#[test]
#[cfg_attr(miri, ignore = "200 page events through reclaim")]
fn swap_high_raises_high_on_memory_charges_over_it() {
    use vswap::{Knob, Limit};
    let run = |high_pages: u64| {
        let zswap = ZswapConfig { enabled: false, compressor: CompressionMode::Synthetic, ..ZswapConfig::default() };
        let cfg = MmConfig { page_cluster: 0, ..MmConfig::new(4096, 1, zswap, vec![DeviceSpec::null("swap", 4096)]) };
        let mut mm = Mm::new(cfg).unwrap();
        let cg = mm.memcg_create(Mm::ROOT, "a").unwrap();
        let page = vswap::PAGE_SIZE as u64;
        mm.set_memory_max(cg, Some(64 * page)).unwrap();
        mm.memcg_set(cg, Knob::SwapHigh(Limit::Bytes(high_pages * page))).unwrap();
        let w = Workload::builtin("usemem", 200).unwrap();
        let task = mm.spawn(cg, &w, 1).unwrap();
        for page in 0..200 {
            mm.apply(task, &Event::Access { process: Process::Parent, region: 0, page, write: true }).unwrap();
        }
        assert!(!mm.killed(task));
        let s = mm.sys().memcg_stat(mm.memcg_id(cg).unwrap()).unwrap();
        assert_eq!(s.swap_current / page + mm.resident_pages(cg).unwrap(), 200, "nothing refused");
        let c = mm.counters(cg).unwrap().clone();
        assert_eq!((c.swap_max, c.swap_fail), (0, 0));
        c.swap_high
    };
    let high = run(16);
    // At most 17 rounds for each of the (fewer than 200 − 16) charges after the crossing,
    // and at least one for each charge at the limit after it (over a hundred).
    assert!(high > 100 && high <= 17 * 184, "{high}");
    assert_eq!(run(1000), 0);
}

/// A task of `pages` pages in memcg "a", every page written, then reclaimed to the only
/// device (zswap off): the memory manager, the memcg, the task and the device.
fn swapped_to_the_only_device(pages: u64, zswap: bool) -> (Mm, usize, usize, vswap::DeviceId) {
    let zswap = ZswapConfig { enabled: zswap, compressor: CompressionMode::Synthetic, ..ZswapConfig::default() };
    let devices = vec![DeviceSpec::null("swap", 256)];
    // No readahead: the tests count the pages each fault reads.
    let cfg = MmConfig { page_cluster: 0, ..MmConfig::new(1024, 1, zswap.clone(), devices) };
    let mut mm = Mm::new(cfg).unwrap();
    let cg = mm.memcg_create(Mm::ROOT, "a").unwrap();
    let w = Workload::builtin("usemem", pages).unwrap();
    let task = mm.spawn(cg, &w, 1).unwrap();
    for page in 0..pages {
        mm.apply(task, &Event::Access { process: Process::Parent, region: 0, page, write: true }).unwrap();
    }
    if zswap.enabled {
        mm.sys().memcg_set(mm.memcg_id(cg).unwrap(), vswap::Knob::ZswapMax(vswap::Limit::Bytes(0))).unwrap();
    }
    assert_eq!(mm.reclaim(cg, pages).unwrap(), pages);
    assert_eq!(mm.sys().stat().pswpout, pages);
    if zswap.enabled {
        mm.sys().memcg_set(mm.memcg_id(cg).unwrap(), vswap::Knob::ZswapMax(vswap::Limit::Max)).unwrap();
    }
    let dev = mm.devices()[0];
    (mm, cg, task, dev)
}

/// `swapoff` of the only device (`try_to_unuse`): every page comes into a frame charged
/// to its memcg and every PTE maps it (shared ones after fork included), the slots are
/// freed, the device is gone; later accesses fault nothing.
#[test]
fn swapoff_of_the_only_device_maps_every_page_back() {
    let (mut mm, cg, task, dev) = swapped_to_the_only_device(32, false);
    let access = |page, process| Event::Access { process, region: 0, page, write: false };
    mm.apply(task, &Event::Fork).unwrap(); // the child shares every swap PTE
    for page in 0..8 {
        mm.apply(task, &access(page, Process::Parent)).unwrap(); // kept in the swap cache
    }
    let faults = mm.counters(cg).unwrap().major_faults;
    assert_eq!((faults, mm.resident_pages(cg).unwrap()), (8, 8));
    let report = mm.swapoff(dev).unwrap();
    assert_eq!((report.swapped_in, report.cache_unbacked, report.pages_moved), (24, 8, 0));
    assert_eq!(mm.sys().device_stat(dev), Err(Error::InvalidDevice));
    assert_eq!(mm.resident_pages(cg).unwrap(), 32);
    let s = mm.sys().stat();
    assert_eq!((s.pswpin, s.vslots_in_use), (8 + 24, 0), "every slot freed (folio_free_swap)");
    assert!(mm.swapped_slots(cg).is_empty());
    assert_eq!(mm.counters(cg).unwrap().device_reads, vec![32]);
    mm.check().unwrap();
    for page in 0..32 {
        mm.apply(task, &access(page, Process::Parent)).unwrap();
        mm.apply(task, &access(page, Process::Child)).unwrap();
    }
    let c = mm.counters(cg).unwrap();
    assert_eq!((c.major_faults, c.swapcache_hits), (faults, 0), "no fault after swapoff");
    mm.tick().unwrap();
    mm.check().unwrap();
}

/// With another device that has room, the pages move there as before: no frame taken.
#[test]
fn swapoff_with_room_elsewhere_moves_the_pages_and_takes_no_frame() {
    let zswap = ZswapConfig { enabled: false, compressor: CompressionMode::Synthetic, ..ZswapConfig::default() };
    let devices = vec![DeviceSpec::null("fast", 64).priority(10), DeviceSpec::null("slow", 64).priority(1)];
    let mut mm = Mm::new(MmConfig { page_cluster: 0, ..MmConfig::new(1024, 1, zswap, devices) }).unwrap();
    let cg = mm.memcg_create(Mm::ROOT, "a").unwrap();
    let task = mm.spawn(cg, &Workload::builtin("usemem", 16).unwrap(), 1).unwrap();
    for page in 0..16 {
        mm.apply(task, &Event::Access { process: Process::Parent, region: 0, page, write: true }).unwrap();
    }
    assert_eq!(mm.reclaim(cg, 16).unwrap(), 16);
    let (fast, slow) = (mm.devices()[0], mm.devices()[1]);
    let report = mm.swapoff(fast).unwrap();
    assert_eq!((report.pages_moved, report.moved_to.clone(), report.swapped_in), (16, vec![(slow, 16)], 0));
    assert_eq!((mm.resident_pages(cg).unwrap(), mm.swapped_slots(cg).len()), (0, 16));
    assert_eq!(mm.sys().device_stat(slow).unwrap().used, 17);
    mm.check().unwrap();
}

/// The swap-in charge reclaims as `try_charge_memcg` does: under a `memory.max` below the
/// task's size, the pages brought in first are stored in zswap again to make room, and
/// the swapoff completes.
#[test]
fn swapoff_reclaims_to_zswap_to_charge_what_it_brings_in() {
    let (mut mm, cg, task, dev) = swapped_to_the_only_device(32, true);
    mm.set_memory_max(cg, Some(16 * 4096)).unwrap();
    let report = mm.swapoff(dev).unwrap();
    assert_eq!(report.swapped_in, 32);
    assert!(!mm.killed(task));
    assert_eq!(mm.sys().device_stat(dev), Err(Error::InvalidDevice));
    assert!(mm.memory_current(cg).unwrap() <= 16 * 4096);
    let s = mm.sys().stat();
    assert!(s.zswpout > 0 && s.stored_pages > 0, "{s:?}");
    assert_eq!(mm.resident_pages(cg).unwrap() + s.stored_pages, 32);
    mm.check().unwrap();
}

/// The swap-in charge OOM-kills in the memcg as `try_charge_memcg` does: the task's death
/// frees its swap and the pages brought in, and the swapoff goes on.
#[test]
#[cfg_attr(miri, ignore = "16 reclaim sweeps before the OOM kill, minutes under Miri")]
fn a_swapoff_charge_over_memory_max_kills_the_memcgs_task() {
    let (mut mm, cg, task, dev) = swapped_to_the_only_device(16, false);
    mm.set_memory_max(cg, Some(8 * 4096)).unwrap();
    let report = mm.swapoff(dev).unwrap();
    assert_eq!(report.swapped_in, 9, "8 fit, the 9th after the kill");
    assert!(mm.killed(task));
    assert_eq!(mm.counters(cg).unwrap().oom_kill, 1);
    assert_eq!(mm.sys().device_stat(dev), Err(Error::InvalidDevice));
    assert_eq!((mm.resident_pages(cg).unwrap(), mm.sys().stat().vslots_in_use), (0, 0), "nothing maps the 9th");
    mm.check().unwrap();
}

/// When the charge finds no room and the OOM killer no task left, swapoff fails with
/// `NoMemory` (-ENOMEM) and the device stays on: at `memory.max` 0 the memcg's only
/// task is killed first, which frees its swap, so a second swapoff finds the device
/// empty.
#[test]
#[cfg_attr(miri, ignore = "32 reclaim sweeps before the OOM kill and the refusal, minutes under Miri")]
fn swapoff_fails_with_no_memory_when_no_task_is_left_to_kill() {
    let (mut mm, cg, task, dev) = swapped_to_the_only_device(16, false);
    mm.set_memory_max(cg, Some(0)).unwrap();
    assert_eq!(mm.swapoff(dev).unwrap_err(), Error::NoMemory);
    assert!(mm.killed(task));
    assert_eq!(mm.counters(cg).unwrap().oom_kill, 1);
    assert_eq!(mm.sys().device_stat(dev).unwrap().used, 1, "on, and empty");
    assert_eq!((mm.resident_pages(cg).unwrap(), mm.sys().stat().vslots_in_use), (0, 0));
    mm.check().unwrap();
    assert_eq!(mm.swapoff(dev).unwrap(), vswap::SwapoffReport::default());
    assert_eq!(mm.sys().device_stat(dev), Err(Error::InvalidDevice));
}
