//! Swap tiers (issue 6, part 2): named priority ranges written as batches
//! (`/sys/kernel/mm/swap/tiers`), per-memcg `memory.swap.tiers.max`, and physical slot
//! allocation only from the tiers a memcg and its ancestors allow. The first group
//! replays the series' selftests (`tools/testing/selftests/mm/swap_tier.c` and
//! `cgroup/test_swap_tiers.c`); the rest covers writeback, swapoff and bad input.

mod common;

use common::*;
use vswap::*;

fn write(sys: &SwapSystem, cmds: &str) -> Result<(), Error> {
    sys.swap_tiers_write(&SwapTierOp::parse(cmds)?)
}

/// Each tier as (name, start, end), highest first.
fn ranges(sys: &SwapSystem) -> Vec<(String, i16, i16)> {
    sys.swap_tiers().into_iter().map(|t| (t.name, t.start, t.end)).collect()
}

fn r(name: &str, start: i16, end: i16) -> (String, i16, i16) {
    (name.into(), start, end)
}

fn idx(sys: &SwapSystem, name: &str) -> u8 {
    sys.swap_tiers().into_iter().find(|t| t.name == name).unwrap().idx
}

fn synthetic() -> Page<'static> {
    Page::Synthetic { compressed_len: PAGE_SIZE as u32, zero: false }
}

/// A mapped page of `cg` written out: where it went.
fn swap_out(sys: &SwapSystem, cg: MemcgId, pfn: u64) -> (VSlot, Writeout) {
    let s = mapped(sys, cg, pfn);
    (s, sys.writeout(s, synthetic()).unwrap())
}

/// zswap off; `fast` (priority 10, 64 pages) and `slow` (priority 0, 64 pages) null
/// devices in tiers of those names, as the cgroup selftest sets them up.
fn two_tiers() -> (SwapSystem, DeviceId, DeviceId) {
    let sys = system_with(|c| {
        c.zswap.enabled = false;
        c.zswap.compressor = CompressionMode::Synthetic;
    });
    write(&sys, "+slow:-1 +fast:10").unwrap();
    let fast = sys.swapon(DeviceSpec::null("fast", 64).priority(10)).unwrap();
    let slow = sys.swapon(DeviceSpec::null("slow", 64).priority(0)).unwrap();
    (sys, fast, slow)
}

#[test]
fn no_tier_exists_until_one_is_written_and_the_first_must_cover_minus_one() {
    let sys = system();
    assert!(sys.swap_tiers().is_empty());
    assert_eq!(write(&sys, "+orphan:100"), Err(Error::Invalid("the lowest swap tier must start at -1")));
    assert!(sys.swap_tiers().is_empty());
}

#[test]
fn adding_splits_the_range_that_holds_the_new_start() {
    let sys = system();
    write(&sys, "+lo:-1 +hi:50").unwrap();
    assert_eq!(ranges(&sys), [r("hi", 50, i16::MAX), r("lo", -1, 49)]);
    write(&sys, "+mid:100").unwrap();
    assert_eq!(ranges(&sys), [r("mid", 100, i16::MAX), r("hi", 50, 99), r("lo", -1, 49)]);
}

#[test]
fn removing_grows_the_tier_below_up_or_the_one_above_down_to_minus_one() {
    let sys = system();
    write(&sys, "+lo:-1, +hi:50\t+mid:100\n").unwrap();
    write(&sys, "-mid").unwrap();
    assert_eq!(ranges(&sys), [r("hi", 50, i16::MAX), r("lo", -1, 49)]);
    write(&sys, "-lo").unwrap();
    assert_eq!(ranges(&sys), [r("hi", -1, i16::MAX)]);
    write(&sys, "-hi").unwrap();
    assert!(sys.swap_tiers().is_empty(), "removing the only tier leaves none");
}

#[test]
fn configuration_errors_are_the_kernels() {
    let sys = system();
    write(&sys, "+hi:-1").unwrap();
    assert_eq!(write(&sys, "+hi:100"), Err(Error::TierExists));
    assert!(matches!(write(&sys, "+bad.name:100"), Err(Error::Invalid(_))));
    assert!(matches!(write(&sys, "+sixteen_chars_xx:100"), Err(Error::Invalid(_))));
    assert!(matches!(write(&sys, "+:100"), Err(Error::Invalid(_))));
    assert!(matches!(write(&sys, "+dup:-1"), Err(Error::TierBusy(_))));
    assert!(matches!(write(&sys, "+low:-2"), Err(Error::Invalid(_))));
    assert!(matches!(write(&sys, "-nosuch"), Err(Error::Invalid(_))));
    assert!(matches!(SwapTierOp::parse("+big:32768"), Err(Error::Invalid(_))));
    assert!(matches!(SwapTierOp::parse("+nocolon"), Err(Error::Invalid(_))));
    assert!(matches!(SwapTierOp::parse("hi"), Err(Error::Invalid(_))));
    assert_eq!(ranges(&sys), [r("hi", -1, i16::MAX)], "no error changed anything");
}

#[test]
fn a_batch_is_all_or_nothing() {
    let sys = system();
    write(&sys, "+hi:-1").unwrap();
    assert_eq!(write(&sys, "+a:50 +a:60"), Err(Error::TierExists));
    assert_eq!(ranges(&sys), [r("hi", -1, i16::MAX)]);
    // A batch that only fails its final check (no tier at -1) changes nothing either.
    assert!(matches!(write(&sys, "-hi +b:20"), Err(Error::Invalid(_))));
    assert_eq!(ranges(&sys), [r("hi", -1, i16::MAX)]);
    // Within a batch each command sees the state the previous one left.
    write(&sys, "-hi +b:20 +c:-1").unwrap();
    assert_eq!(ranges(&sys), [r("b", 20, i16::MAX), r("c", -1, 19)]);
    // Removing the tier at -1 first lets the one above it grow down to -1.
    write(&sys, "-c").unwrap();
    assert_eq!(ranges(&sys), [r("b", -1, i16::MAX)]);
    assert_eq!(write(&sys, ""), Ok(()), "an empty write is a no-op");
}

#[test]
fn at_most_nr_swap_tiers_exist() {
    let sys = system_with(|c| c.nr_swap_tiers = 2);
    write(&sys, "+a:-1 +b:10").unwrap();
    assert_eq!(write(&sys, "+c:20"), Err(Error::TooManyTiers));
    assert!(matches!(SwapSystem::new(Config { nr_swap_tiers: 0, ..config() }), Err(Error::Invalid(_))));
    assert!(matches!(SwapSystem::new(Config { nr_swap_tiers: 32, ..config() }), Err(Error::Invalid(_))));
    assert!(SwapSystem::new(Config { nr_swap_tiers: 31, ..config() }).is_ok());
}

#[test]
fn a_swapped_on_device_pins_its_tier() {
    let sys = system();
    write(&sys, "+base:-1 +top:50").unwrap();
    let dev = sys.swapon(DeviceSpec::null("zram", 16).priority(60)).unwrap();
    assert_eq!(sys.device_swap_tier(dev).unwrap().map(|t| t.name), Some("top".into()));
    assert!(matches!(write(&sys, "-top"), Err(Error::TierBusy(_))));
    // A split at or below the device's priority would move it; one above it does not.
    assert!(matches!(write(&sys, "+ssd:60"), Err(Error::TierBusy(_))));
    assert!(matches!(write(&sys, "+ssd:55"), Err(Error::TierBusy(_))));
    write(&sys, "+ssd:100").unwrap();
    assert_eq!(sys.device_swap_tier(dev).unwrap().map(|t| t.name), Some("top".into()));
    // Removing a tier below it is fine: the device keeps its tier.
    write(&sys, "+mid:10 -mid").unwrap();
    sys.swapoff(dev).unwrap();
    write(&sys, "-top").unwrap();
    assert_eq!(ranges(&sys), [r("ssd", 100, i16::MAX), r("base", -1, 99)]);
}

#[test]
fn devices_swapped_on_before_any_tier_join_one_when_tiers_are_written() {
    let sys = system();
    let dev = sys.swapon(DeviceSpec::null("zram", 16).priority(60)).unwrap();
    assert_eq!(sys.device_swap_tier(dev).unwrap(), None);
    // A tier-less device does not pin anything: a split anywhere is allowed.
    write(&sys, "+lo:-1 +hi:50").unwrap();
    assert_eq!(sys.device_swap_tier(dev).unwrap().map(|t| t.name), Some("hi".into()));
    assert!(matches!(write(&sys, "+top:60"), Err(Error::TierBusy(_))));
}

#[test]
fn a_new_memcg_allows_every_tier_and_a_write_toggles_one() {
    let (sys, _, _) = two_tiers();
    let cg = sys.memcg_create(MemcgId::ROOT).unwrap();
    let read = |sys: &SwapSystem| -> Vec<(String, bool)> {
        sys.memcg_swap_tiers(cg).unwrap().into_iter().map(|(t, on)| (t.name, on)).collect()
    };
    assert_eq!(read(&sys), [("fast".into(), true), ("slow".into(), true)]);
    let fast = idx(&sys, "fast");
    sys.memcg_set(cg, Knob::SwapTierMax { tier: fast, enabled: false }).unwrap();
    assert_eq!(read(&sys), [("fast".into(), false), ("slow".into(), true)]);
    sys.memcg_set(cg, Knob::SwapTierMax { tier: fast, enabled: true }).unwrap();
    assert_eq!(read(&sys), [("fast".into(), true), ("slow".into(), true)]);
}

#[test]
fn memcg_tier_errors_change_nothing() {
    let (sys, _, _) = two_tiers();
    let cg = sys.memcg_create(MemcgId::ROOT).unwrap();
    let before = sys.memcg_swap_tiers(cg).unwrap();
    let unused = (0..31).find(|&i| sys.swap_tiers().iter().all(|t| t.idx != i)).unwrap();
    for tier in [unused, 31, 32, 255] {
        assert!(matches!(sys.memcg_set(cg, Knob::SwapTierMax { tier, enabled: false }), Err(Error::Invalid(_))));
    }
    let off = |name| Knob::SwapTierMax { tier: idx(&sys, name), enabled: false };
    assert!(matches!(sys.memcg_set(MemcgId::ROOT, off("fast")), Err(Error::Invalid(_))));
    assert!(matches!(sys.memcg_swap_tiers(MemcgId::ROOT), Err(Error::Invalid(_))));
    assert_eq!(sys.memcg_set(MemcgId::from_raw(999), off("fast")), Err(Error::InvalidMemcg));
    // A mask that allows nothing: the last tier of the memcg, or of a descendant.
    let child = sys.memcg_create(cg).unwrap();
    sys.memcg_set(child, off("slow")).unwrap();
    assert!(matches!(sys.memcg_set(cg, off("fast")), Err(Error::Invalid(_))), "child would keep no tier");
    sys.memcg_set(cg, off("slow")).unwrap();
    assert!(matches!(sys.memcg_set(cg, off("fast")), Err(Error::Invalid(_))));
    assert_eq!(sys.memcg_swap_tiers(child).unwrap().iter().filter(|(_, on)| *on).count(), 1);
    assert_eq!(before.len(), 2);
}

#[test]
fn a_removed_tier_is_allowed_again_when_recreated() {
    let (sys, _, _) = two_tiers();
    let cg = sys.memcg_create(MemcgId::ROOT).unwrap();
    let bigger = sys.memcg_create(MemcgId::ROOT).unwrap();
    write(&sys, "+spare:100").unwrap();
    sys.memcg_set(cg, Knob::SwapTierMax { tier: idx(&sys, "spare"), enabled: false }).unwrap();
    write(&sys, "-spare +spare:100").unwrap();
    assert!(sys.memcg_swap_tiers(cg).unwrap().iter().all(|(_, on)| *on));
    assert!(sys.memcg_swap_tiers(bigger).unwrap().iter().all(|(_, on)| *on));
}

#[test]
fn pages_go_only_to_the_tiers_a_memcg_allows() {
    let (sys, fast, slow) = two_tiers();
    let cg = sys.memcg_create(MemcgId::ROOT).unwrap();
    assert_eq!(swap_out(&sys, cg, 1).1, Writeout::Device(fast), "fast first by priority");
    sys.memcg_set(cg, Knob::SwapTierMax { tier: idx(&sys, "fast"), enabled: false }).unwrap();
    for pfn in 2..10 {
        assert_eq!(swap_out(&sys, cg, pfn).1, Writeout::Device(slow));
    }
    assert_eq!(sys.device_stat(fast).unwrap().used, 2, "the header and the first page");
    let names: Vec<String> = sys.memcg_swap_tiers_effective(cg).unwrap().into_iter().map(|t| t.name).collect();
    assert_eq!(names, ["slow"]);
}

#[test]
fn a_parents_zero_wins_over_a_childs_max() {
    let (sys, fast, slow) = two_tiers();
    let parent = sys.memcg_create(MemcgId::ROOT).unwrap();
    let child = sys.memcg_create(parent).unwrap();
    let f = idx(&sys, "fast");
    sys.memcg_set(parent, Knob::SwapTierMax { tier: f, enabled: false }).unwrap();
    sys.memcg_set(child, Knob::SwapTierMax { tier: f, enabled: true }).unwrap();
    assert_eq!(swap_out(&sys, child, 1).1, Writeout::Device(slow));
    // A child restricting itself leaves its parent as it was.
    sys.memcg_set(parent, Knob::SwapTierMax { tier: f, enabled: true }).unwrap();
    sys.memcg_set(child, Knob::SwapTierMax { tier: idx(&sys, "slow"), enabled: false }).unwrap();
    assert_eq!(swap_out(&sys, child, 2).1, Writeout::Device(fast));
    assert_eq!(swap_out(&sys, parent, 3).1, Writeout::Device(fast));
}

#[test]
fn a_full_allowed_tier_keeps_the_folio_rather_than_spill_into_a_forbidden_one() {
    let (sys, fast, slow) = two_tiers();
    let cg = sys.memcg_create(MemcgId::ROOT).unwrap();
    sys.memcg_set(cg, Knob::SwapTierMax { tier: idx(&sys, "slow"), enabled: false }).unwrap();
    // 63 usable slots on `fast` (slot 0 is the header).
    for pfn in 1..64 {
        assert_eq!(swap_out(&sys, cg, pfn).1, Writeout::Device(fast));
    }
    let (_, w) = swap_out(&sys, cg, 64);
    assert_eq!(w, Writeout::Kept(KeepReason::NoSpace));
    assert_eq!(sys.device_stat(slow).unwrap().used, 1, "the header only");
    assert_eq!(sys.memcg_stat(cg).unwrap().swap_events_fail, 1);
}

#[test]
fn the_root_and_unrestricted_memcgs_use_every_tier_in_priority_order() {
    let (sys, fast, slow) = two_tiers();
    for pfn in 1..64 {
        assert_eq!(swap_out(&sys, MemcgId::ROOT, pfn).1, Writeout::Device(fast));
    }
    assert_eq!(swap_out(&sys, MemcgId::ROOT, 64).1, Writeout::Device(slow), "then the next tier");
}

#[test]
fn zswap_writeback_takes_its_slot_from_an_allowed_tier() {
    let sys = synthetic_system();
    write(&sys, "+slow:-1 +fast:10").unwrap();
    let fast = sys.swapon(DeviceSpec::null("fast", 64).priority(10)).unwrap();
    let slow = sys.swapon(DeviceSpec::null("slow", 64).priority(0)).unwrap();
    let cg = sys.memcg_create(MemcgId::ROOT).unwrap();
    sys.memcg_set(cg, Knob::SwapTierMax { tier: idx(&sys, "fast"), enabled: false }).unwrap();
    let s = mapped(&sys, cg, 1);
    let w = sys.writeout(s, Page::Synthetic { compressed_len: 1000, zero: false }).unwrap();
    assert!(matches!(w, Writeout::Zswap { .. }));
    sys.swap_cache_del(s, Shadow(0)).unwrap();
    sys.writeback(s).unwrap();
    assert_eq!(sys.backing(s).unwrap(), Backing::Device(slow));
    assert_eq!(sys.device_stat(fast).unwrap().used, 1, "the header only");
}

#[test]
fn swapoff_moves_pages_only_within_their_memcgs_tiers() {
    let (sys, fast, slow) = two_tiers();
    let spare_fast = sys.swapon(DeviceSpec::null("fast2", 64).priority(20)).unwrap();
    let cg = sys.memcg_create(MemcgId::ROOT).unwrap();
    let (a, _) = swap_out(&sys, cg, 1);
    assert_eq!(sys.backing(a).unwrap(), Backing::Device(spare_fast));
    sys.memcg_set(cg, Knob::SwapTierMax { tier: idx(&sys, "fast"), enabled: false }).unwrap();
    // `fast` and `fast2` would take it by priority, but the memcg now allows only `slow`.
    sys.swapoff(spare_fast).unwrap();
    assert_eq!(sys.backing(a).unwrap(), Backing::Device(slow));
    assert_eq!(sys.device_stat(fast).unwrap().used, 1, "the header only");
    // With `slow` gone too, nothing allowed has room: the swapoff fails, nothing moved.
    let b = sys.swapon(DeviceSpec::null("fast3", 64).priority(30)).unwrap();
    assert_eq!(sys.swapoff(slow), Err(Error::DeviceFull));
    assert_eq!(sys.backing(a).unwrap(), Backing::Device(slow));
    assert_eq!(sys.device_stat(b).unwrap().used, 1, "the header only");
}

/// zswap on, with `fast` and `slow` tiers and devices, and a memcg under the root.
fn zswap_two_tiers() -> (SwapSystem, DeviceId, DeviceId, MemcgId) {
    let sys = synthetic_system();
    write(&sys, "+slow:-1 +fast:10").unwrap();
    let fast = sys.swapon(DeviceSpec::null("fast", 8).priority(10)).unwrap();
    let slow = sys.swapon(DeviceSpec::null("slow", 64).priority(0)).unwrap();
    let cg = sys.memcg_create(MemcgId::ROOT).unwrap();
    (sys, fast, slow, cg)
}

/// A page of `cg` stored in zswap and written back: the device it went to.
fn written_back(sys: &SwapSystem, cg: MemcgId, pfn: u64) -> Result<Backing, Error> {
    let s = mapped(sys, cg, pfn);
    let w = sys.writeout(s, Page::Synthetic { compressed_len: 1000, zero: false }).unwrap();
    assert!(matches!(w, Writeout::Zswap { .. }));
    sys.swap_cache_del(s, Shadow(0)).unwrap();
    sys.writeback(s)?;
    sys.backing(s)
}

#[test]
fn writeback_tries_the_memcgs_writeback_tier_first() {
    let (sys, fast, slow, cg) = zswap_two_tiers();
    assert_eq!(written_back(&sys, cg, 1), Ok(Backing::Device(fast)), "by priority when unset");
    let slow_tier = idx(&sys, "slow");
    sys.memcg_set(cg, Knob::ZswapWritebackTier(Some(slow_tier))).unwrap();
    assert_eq!(sys.memcg_writeback_tier(cg).unwrap().map(|t| t.name), Some("slow".into()));
    assert_eq!(written_back(&sys, cg, 2), Ok(Backing::Device(slow)));
    // A writeout that zswap refuses still goes by priority: the knob orders writeback only.
    sys.memcg_set(cg, Knob::ZswapMax(Limit::Bytes(0))).unwrap();
    let s = mapped(&sys, cg, 3);
    assert_eq!(sys.writeout(s, synthetic()).unwrap(), Writeout::Device(fast));
}

#[test]
fn the_writeback_tier_is_inherited_and_a_child_may_override_it() {
    let (sys, fast, slow, parent) = zswap_two_tiers();
    let child = sys.memcg_create(parent).unwrap();
    sys.memcg_set(parent, Knob::ZswapWritebackTier(Some(idx(&sys, "slow")))).unwrap();
    assert_eq!(written_back(&sys, child, 1), Ok(Backing::Device(slow)));
    sys.memcg_set(child, Knob::ZswapWritebackTier(Some(idx(&sys, "fast")))).unwrap();
    assert_eq!(written_back(&sys, child, 2), Ok(Backing::Device(fast)));
    sys.memcg_set(child, Knob::ZswapWritebackTier(None)).unwrap();
    assert_eq!(written_back(&sys, child, 3), Ok(Backing::Device(slow)), "None inherits again");
    // The root sets the system-wide default.
    sys.memcg_set(parent, Knob::ZswapWritebackTier(None)).unwrap();
    sys.memcg_set(MemcgId::ROOT, Knob::ZswapWritebackTier(Some(idx(&sys, "slow")))).unwrap();
    assert_eq!(written_back(&sys, child, 4), Ok(Backing::Device(slow)));
}

#[test]
fn a_full_or_forbidden_writeback_tier_falls_back_to_the_allowed_ones_by_priority() {
    let (sys, fast, slow, cg) = zswap_two_tiers();
    sys.memcg_set(cg, Knob::ZswapWritebackTier(Some(idx(&sys, "fast")))).unwrap();
    // 7 usable slots on `fast`.
    for pfn in 1..8 {
        assert_eq!(written_back(&sys, cg, pfn), Ok(Backing::Device(fast)));
    }
    assert_eq!(written_back(&sys, cg, 8), Ok(Backing::Device(slow)), "fast is full");
    // `memory.swap.tiers.max` wins over the writeback tier.
    let (sys, _, slow, cg) = zswap_two_tiers();
    sys.memcg_set(cg, Knob::ZswapWritebackTier(Some(idx(&sys, "fast")))).unwrap();
    sys.memcg_set(cg, Knob::SwapTierMax { tier: idx(&sys, "fast"), enabled: false }).unwrap();
    assert_eq!(written_back(&sys, cg, 1), Ok(Backing::Device(slow)));
}

#[test]
fn removing_a_tier_unsets_every_writeback_tier_naming_it() {
    let (sys, _, _, cg) = zswap_two_tiers();
    write(&sys, "+spare:100").unwrap();
    let spare = idx(&sys, "spare");
    sys.memcg_set(cg, Knob::ZswapWritebackTier(Some(spare))).unwrap();
    write(&sys, "-spare").unwrap();
    assert_eq!(sys.memcg_writeback_tier(cg).unwrap(), None);
    assert!(matches!(sys.memcg_set(cg, Knob::ZswapWritebackTier(Some(spare))), Err(Error::Invalid(_))));
    assert!(matches!(sys.memcg_set(cg, Knob::ZswapWritebackTier(Some(200))), Err(Error::Invalid(_))));
    assert_eq!(sys.memcg_writeback_tier(cg).unwrap(), None, "errors changed nothing");
}

// ---------------------------------------------------------------------------------------
// The per-swap-tier breakdown of `memcg_stat` (issue 6 part 5)
// ---------------------------------------------------------------------------------------

/// `memcg_stat(cg).swap_tiers` as (name, entries), checking each row's bytes and that the
/// rows add up to `swap_current`.
fn by_tier(sys: &SwapSystem, cg: MemcgId) -> Vec<(String, u64)> {
    let st = sys.memcg_stat(cg).unwrap();
    for t in &st.swap_tiers {
        assert_eq!(t.bytes, t.entries * PAGE_SIZE as u64, "{}: a page per entry", t.tier.name);
    }
    if !st.swap_tiers.is_empty() {
        let total: u64 = st.swap_tiers.iter().map(|t| t.bytes).sum();
        assert_eq!(total, st.swap_current, "with tiers configured every page is in one");
    }
    st.swap_tiers.into_iter().map(|t| (t.tier.name, t.entries)).collect()
}

fn n(name: &str, entries: u64) -> (String, u64) {
    (name.into(), entries)
}

#[test]
fn memcg_stat_breaks_physical_swap_down_by_tier_up_the_hierarchy() {
    let (sys, _, _) = two_tiers();
    let parent = sys.memcg_create(MemcgId::ROOT).unwrap();
    let batch = sys.memcg_create(parent).unwrap();
    let latency = sys.memcg_create(parent).unwrap();
    sys.memcg_set(batch, Knob::SwapTierMax { tier: idx(&sys, "fast"), enabled: false }).unwrap();
    for pfn in 1..4 {
        swap_out(&sys, batch, pfn);
    }
    for pfn in 4..6 {
        swap_out(&sys, latency, pfn);
    }
    assert_eq!(by_tier(&sys, batch), [n("fast", 0), n("slow", 3)]);
    assert_eq!(by_tier(&sys, latency), [n("fast", 2), n("slow", 0)]);
    assert_eq!(by_tier(&sys, parent), [n("fast", 2), n("slow", 3)]);
    assert_eq!(sys.memcg_stat(parent).unwrap().swap_tier("slow").map(|t| t.entries), Some(3));
    assert_eq!(sys.memcg_stat(parent).unwrap().swap_tier("nosuch"), None);
}

#[test]
fn no_row_exists_until_a_tier_is_configured_and_then_every_page_has_one() {
    let sys = system_with(|c| c.zswap.enabled = false);
    let dev = sys.swapon(DeviceSpec::null("zram", 64).priority(60)).unwrap();
    let cg = sys.memcg_create(MemcgId::ROOT).unwrap();
    assert_eq!(swap_out(&sys, cg, 1).1, Writeout::Device(dev));
    assert!(by_tier(&sys, cg).is_empty());
    write(&sys, "+lo:-1 +hi:50").unwrap();
    assert_eq!(by_tier(&sys, cg), [n("hi", 1), n("lo", 0)], "the device joined `hi`");
}

#[test]
fn freeing_a_page_takes_it_off_its_tier_and_a_dead_childs_pages_stay_in_the_parents() {
    let (sys, _, _) = two_tiers();
    let parent = sys.memcg_create(MemcgId::ROOT).unwrap();
    let child = sys.memcg_create(parent).unwrap();
    let (a, _) = swap_out(&sys, child, 1);
    swap_out(&sys, child, 2);
    sys.swap_cache_del(a, Shadow(1)).unwrap();
    assert_eq!(sys.put(a).unwrap(), 0);
    assert_eq!(by_tier(&sys, child), [n("fast", 1), n("slow", 0)]);
    sys.memcg_offline(child).unwrap();
    assert_eq!(by_tier(&sys, parent), [n("fast", 1), n("slow", 0)], "the charge stays in the subtree");
}

#[test]
fn zswap_writeback_and_swapoff_move_a_page_between_tiers_in_the_report() {
    let (sys, fast, slow, cg) = zswap_two_tiers();
    let s = mapped(&sys, cg, 1);
    assert!(matches!(
        sys.writeout(s, Page::Synthetic { compressed_len: 1000, zero: false }),
        Ok(Writeout::Zswap { .. })
    ));
    assert_eq!(by_tier(&sys, cg), [n("fast", 0), n("slow", 0)], "zswap entries hold no slot");
    sys.swap_cache_del(s, Shadow(0)).unwrap();
    sys.writeback(s).unwrap();
    assert_eq!(sys.backing(s).unwrap(), Backing::Device(fast));
    assert_eq!(by_tier(&sys, cg), [n("fast", 1), n("slow", 0)]);
    sys.swapoff(fast).unwrap();
    assert_eq!(sys.backing(s).unwrap(), Backing::Device(slow));
    assert_eq!(by_tier(&sys, cg), [n("fast", 0), n("slow", 1)]);
    assert_eq!(by_tier(&sys, MemcgId::ROOT), [n("fast", 0), n("slow", 1)]);
}

#[test]
fn swapoff_reserves_for_the_most_restricted_memcg_first() {
    let (sys, fast, slow) = two_tiers();
    // `fast` keeps room for two pages only.
    let filler = sys.memcg_create(MemcgId::ROOT).unwrap();
    for pfn in 100..161 {
        assert_eq!(swap_out(&sys, filler, pfn).1, Writeout::Device(fast));
    }
    let top = sys.swapon(DeviceSpec::null("top", 16).priority(20)).unwrap();
    let free = sys.memcg_create(MemcgId::ROOT).unwrap();
    let only_fast = sys.memcg_create(MemcgId::ROOT).unwrap();
    sys.memcg_set(only_fast, Knob::SwapTierMax { tier: idx(&sys, "slow"), enabled: false }).unwrap();
    // The unrestricted memcg's pages come first on `top`: reserved in that order they
    // would take `fast`'s two free slots and leave the restricted pages nowhere to go.
    let free_pages = [swap_out(&sys, free, 1).0, swap_out(&sys, free, 2).0];
    let fast_pages = [swap_out(&sys, only_fast, 3).0, swap_out(&sys, only_fast, 4).0];
    for s in free_pages.iter().chain(&fast_pages) {
        assert_eq!(sys.backing(*s).unwrap(), Backing::Device(top));
    }
    let r = sys.swapoff(top).unwrap();
    assert_eq!(r.pages_moved, 4);
    for s in fast_pages {
        assert_eq!(sys.backing(s).unwrap(), Backing::Device(fast));
    }
    for s in free_pages {
        assert_eq!(sys.backing(s).unwrap(), Backing::Device(slow));
    }
    assert_eq!(by_tier(&sys, only_fast), [n("fast", 2), n("slow", 0)]);
    assert_eq!(by_tier(&sys, free), [n("fast", 0), n("slow", 2)]);
}
