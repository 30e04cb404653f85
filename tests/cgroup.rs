//! Memory cgroups as specifications: swap charging under virtual swap, `swap.max`,
//! `swap.high`, `swap.peak`, `zswap.max`, `zswap.writeback`, and the memcg tree (create,
//! offline, id reuse). Each test checks one rule of docs/kernel.md §4.3 "Charging", §5.7,
//! §6.2, §6.3 or Appendix A through the public facade only.

use vswap::*;

mod common;
use common::*;

/// Reclaim one mapped page: write it out and, if a backend took it, evict it.
fn swap_out(sys: &SwapSystem, cg: MemcgId, pfn: u64, page: &[u8]) -> (VSlot, Writeout) {
    let s = mapped(sys, cg, pfn);
    let w = sys.writeout(s, Page::Bytes(page)).unwrap();
    if !matches!(w, Writeout::Kept(_)) {
        sys.evict(s, Shadow(pfn)).unwrap();
    }
    (s, w)
}

fn stat(sys: &SwapSystem, cg: MemcgId) -> MemcgStat {
    sys.memcg_stat(cg).unwrap()
}

// ---------------------------------------------------------------------------------------
// Swap charging: only physical slots (docs/kernel.md §4.3 "Charging", §6.2)
// ---------------------------------------------------------------------------------------

/// Allocating a virtual slot and storing it in zswap charges nothing to `swap.current`;
/// the compressed bytes go to `zswap.current` instead.
#[test]
fn zswap_backed_slots_are_not_charged_to_swap() {
    let sys = system();
    sys.swapon(DeviceSpec::memory("ssd", 16)).unwrap();
    let cg = sys.memcg_create(MemcgId::ROOT).unwrap();
    let s = mapped(&sys, cg, 8);
    assert_eq!(stat(&sys, cg).swap_current, 0, "folio_alloc_swap charges nothing under vswap");
    let w = sys.writeout(s, Page::Bytes(&compressible(1))).unwrap();
    let Writeout::Zswap { compressed } = w else { panic!("{w:?}") };
    let m = stat(&sys, cg);
    assert_eq!((m.swap_current, m.swap_peak, m.zswap_current), (0, 0, u64::from(compressed)));
}

/// A physical slot is charged to the memcg and every ancestor (hierarchical counter).
#[test]
fn a_device_slot_is_charged_to_the_memcg_and_its_ancestors() {
    let sys = system_without_zswap();
    sys.swapon(DeviceSpec::memory("ssd", 16)).unwrap();
    let parent = sys.memcg_create(MemcgId::ROOT).unwrap();
    let child = sys.memcg_create(parent).unwrap();
    swap_out(&sys, child, 8, &compressible(1));
    swap_out(&sys, parent, 16, &compressible(2));
    assert_eq!(stat(&sys, child).swap_current, PAGE);
    assert_eq!(stat(&sys, parent).swap_current, 2 * PAGE);
    assert_eq!(stat(&sys, MemcgId::ROOT).swap_current, 2 * PAGE);
    assert_eq!((stat(&sys, child).pswpout, stat(&sys, parent).pswpout), (1, 2), "memory.stat is hierarchical");
}

/// `swap.max` refuses the physical slot: the folio is kept (`SwapMax`), `swap.events max`
/// and `fail` rise on the memcg and show in its parent's hierarchical view.
#[test]
fn swap_max_refuses_a_physical_slot_and_raises_max_and_fail() {
    let sys = system_without_zswap();
    let dev = sys.swapon(DeviceSpec::memory("ssd", 16)).unwrap();
    let parent = sys.memcg_create(MemcgId::ROOT).unwrap();
    let cg = sys.memcg_create(parent).unwrap();
    sys.memcg_set(cg, Knob::SwapMax(Limit::Bytes(PAGE))).unwrap();
    assert_eq!(swap_out(&sys, cg, 8, &compressible(1)).1, Writeout::Device(dev));
    let (s, w) = swap_out(&sys, cg, 16, &compressible(2));
    assert_eq!(w, Writeout::Kept(KeepReason::SwapMax));
    assert_eq!(sys.state(s).unwrap(), SlotState::Cached { folio: FolioId(16), count: 1 });
    assert_eq!(sys.evict(s, Shadow(1)), Err(Error::NotBacked));
    let m = stat(&sys, cg);
    assert_eq!((m.swap_current, m.swap_events_max, m.swap_events_fail), (PAGE, 1, 1));
    let p = stat(&sys, parent);
    assert_eq!((p.swap_current, p.swap_events_max, p.swap_events_fail), (PAGE, 1, 1));
    assert_eq!(sys.device_stat(dev).unwrap().used, 2);
}

/// A limit is rounded down to whole pages (`page_counter_memparse`).
#[test]
fn swap_max_is_rounded_down_to_whole_pages() {
    let sys = system_without_zswap();
    sys.swapon(DeviceSpec::memory("ssd", 16)).unwrap();
    let cg = sys.memcg_create(MemcgId::ROOT).unwrap();
    sys.memcg_set(cg, Knob::SwapMax(Limit::Bytes(PAGE - 1))).unwrap();
    assert_eq!(swap_out(&sys, cg, 8, &compressible(1)).1, Writeout::Kept(KeepReason::SwapMax));
}

/// `swap.max` of an ancestor refuses a child's charge (every level is checked).
#[test]
fn swap_max_on_a_parent_refuses_a_child() {
    let sys = system_without_zswap();
    sys.swapon(DeviceSpec::memory("ssd", 16)).unwrap();
    let parent = sys.memcg_create(MemcgId::ROOT).unwrap();
    let child = sys.memcg_create(parent).unwrap();
    sys.memcg_set(parent, Knob::SwapMax(Limit::Bytes(0))).unwrap();
    assert_eq!(swap_out(&sys, child, 8, &compressible(1)).1, Writeout::Kept(KeepReason::SwapMax));
    let c = stat(&sys, child);
    assert_eq!((c.swap_current, c.swap_events_max, c.swap_events_fail), (0, 1, 1));
    assert_eq!(stat(&sys, parent).swap_current, 0);
    assert_eq!(stat(&sys, MemcgId::ROOT).swap_current, 0, "the unwound charge left no trace");
}

/// `swap.peak` is a high-water mark: it stays after the slots are uncharged.
#[test]
fn swap_peak_keeps_the_high_water_mark_after_uncharge() {
    let sys = system_without_zswap();
    sys.swapon(DeviceSpec::memory("ssd", 16)).unwrap();
    let cg = sys.memcg_create(MemcgId::ROOT).unwrap();
    let slots: Vec<VSlot> = (1..4).map(|i| swap_out(&sys, cg, i * 8, &compressible(i as u8)).0).collect();
    for s in &slots[..2] {
        assert_eq!(sys.put(*s).unwrap(), 0);
    }
    let m = stat(&sys, cg);
    assert_eq!((m.swap_current, m.swap_peak), (PAGE, 3 * PAGE));
}

/// Swap usage going over `swap.high` raises `swap.events high`; at the limit it does not.
#[test]
fn exceeding_swap_high_raises_the_high_event() {
    let sys = system_without_zswap();
    let dev = sys.swapon(DeviceSpec::memory("ssd", 16)).unwrap();
    let cg = sys.memcg_create(MemcgId::ROOT).unwrap();
    sys.memcg_set(cg, Knob::SwapHigh(Limit::Bytes(PAGE))).unwrap();
    assert_eq!(swap_out(&sys, cg, 8, &compressible(1)).1, Writeout::Device(dev));
    assert_eq!(stat(&sys, cg).swap_events_high, 0, "at swap.high, not over it");
    assert_eq!(swap_out(&sys, cg, 16, &compressible(2)).1, Writeout::Device(dev), "high only throttles");
    let m = stat(&sys, cg);
    assert_eq!((m.swap_events_high, m.swap_events_max, m.swap_events_fail), (1, 0, 0));
}

// ---------------------------------------------------------------------------------------
// zswap.max (docs/kernel.md §5.2 step 2, §5.7)
// ---------------------------------------------------------------------------------------

/// `zswap.max` 0 refuses every store; the page goes to the device instead.
#[test]
fn zswap_max_zero_sends_pages_to_the_device() {
    let sys = system();
    let dev = sys.swapon(DeviceSpec::memory("ssd", 16)).unwrap();
    let cg = sys.memcg_create(MemcgId::ROOT).unwrap();
    sys.memcg_set(cg, Knob::ZswapMax(Limit::Bytes(0))).unwrap();
    assert_eq!(swap_out(&sys, cg, 8, &compressible(1)).1, Writeout::Device(dev));
    let m = stat(&sys, cg);
    assert_eq!((m.zswpout, m.zswap_current, m.pswpout, m.swap_current), (0, 0, 1, PAGE));
    assert_eq!(sys.stat().stored_pages, 0);
}

/// `zswap.max` is hierarchical: a parent's limit refuses its child's stores.
#[test]
fn zswap_max_on_a_parent_limits_a_child() {
    let sys = system();
    let dev = sys.swapon(DeviceSpec::memory("ssd", 16)).unwrap();
    let parent = sys.memcg_create(MemcgId::ROOT).unwrap();
    let child = sys.memcg_create(parent).unwrap();
    sys.memcg_set(parent, Knob::ZswapMax(Limit::Bytes(0))).unwrap();
    assert_eq!(swap_out(&sys, child, 8, &compressible(1)).1, Writeout::Device(dev));
    let sibling = sys.memcg_create(MemcgId::ROOT).unwrap();
    assert!(matches!(swap_out(&sys, sibling, 16, &compressible(2)).1, Writeout::Zswap { .. }));
}

/// `obj_cgroup_charge_zswap` charges nothing for the root's own entries (7.3:
/// `obj_cgroup_is_root`; 6.12: a root folio has no objcg): the root's `memory.stat`
/// counts its descendants' entries only, while the pool holds both; freeing the root's
/// entry uncharges nothing either.
#[test]
fn the_root_is_never_charged_for_its_own_zswap_entries() {
    let sys = system();
    let cg = sys.memcg_create(MemcgId::ROOT).unwrap();
    let (rs, w) = swap_out(&sys, MemcgId::ROOT, 8, &compressible(1));
    let Writeout::Zswap { compressed: at_root } = w else { panic!("{w:?}") };
    let Writeout::Zswap { compressed } = swap_out(&sys, cg, 16, &incompressible(2)).1 else { panic!() };
    assert_eq!(compressed, PAGE_SIZE as u32);
    assert_eq!(sys.stat().pool_total_size, u64::from(at_root) + PAGE, "the pool holds both");
    let (r, c) = (stat(&sys, MemcgId::ROOT), stat(&sys, cg));
    assert_eq!((r.zswap_current, r.zswapped, r.zswap_incomp), (PAGE, PAGE, PAGE), "the child's only");
    assert_eq!((c.zswap_current, c.zswapped, c.zswap_incomp), (PAGE, PAGE, PAGE));
    assert_eq!(r.zswpout, 2, "events still count at the root");
    sys.fault(0, rs, FolioId(8), None).unwrap();
    assert_eq!(stat(&sys, MemcgId::ROOT).zswap_current, PAGE, "nothing to uncharge");
    assert_eq!(sys.stat().pool_total_size, PAGE);
}

/// `obj_cgroup_may_zswap` compares usage in whole pages before the store: with a limit
/// of one page, a store is accepted while usage is under a page, even if it then goes
/// over; the next one is refused. (No device: the kernel's attempt to shrink the memcg
/// first cannot write anything back, so the refusal does not depend on it.)
#[test]
fn zswap_max_is_compared_in_whole_pages_before_the_store() {
    let sys = system();
    let cg = sys.memcg_create(MemcgId::ROOT).unwrap();
    sys.memcg_set(cg, Knob::ZswapMax(Limit::Bytes(PAGE + 100))).unwrap();
    let Writeout::Zswap { compressed } = swap_out(&sys, cg, 8, &compressible(1)).1 else { panic!() };
    assert_eq!(swap_out(&sys, cg, 16, &incompressible(2)).1, Writeout::Zswap { compressed: PAGE_SIZE as u32 });
    assert_eq!(stat(&sys, cg).zswap_current, u64::from(compressed) + PAGE, "over the limit now");
    assert_eq!(swap_out(&sys, cg, 24, &compressible(3)).1, Writeout::Kept(KeepReason::NoSpace));
    let m = stat(&sys, cg);
    assert_eq!((m.zswpout, m.zswap_current), (2, u64::from(compressed) + PAGE));
}

/// A store over `zswap.max` first walks `ZswapConfig::store_shrink_batch` of the
/// memcg's own oldest entries (`zswap_store` → `shrink_memcg`): one up to 7.2, 32
/// (`SWAP_CLUSTER_MAX`) in 7.3. Once the shrinker's scan has cleared their referenced
/// bits, the walk writes that many back to the device and the store goes on; the limit
/// is not checked again.
#[test]
fn a_store_over_zswap_max_writes_back_store_shrink_batch_entries_first() {
    // (store_shrink_batch, pages written back, the limit in pages). Under Miri, where lz4
    // costs about a second a page, the one-entry batch alone at a 4-page limit.
    let cases: &[(u8, u64, u64)] = if cfg!(miri) { &[(1, 1, 4)] } else { &[(1, 1, 40), (32, 32, 40)] };
    for &(batch, written, limit) in cases {
        let sys = system_with(|c| c.zswap.store_shrink_batch = batch);
        let dev = sys.swapon(DeviceSpec::memory("ssd", 64)).unwrap();
        let cg = sys.memcg_create(MemcgId::ROOT).unwrap();
        // `limit` pages stored as-is, a page each: at the limit.
        sys.memcg_set(cg, Knob::ZswapMax(Limit::Bytes(limit * PAGE))).unwrap();
        for i in 0..limit {
            assert_eq!(
                swap_out(&sys, cg, 8 * (i + 1), &incompressible(i + 1)).1,
                Writeout::Zswap { compressed: PAGE_SIZE as u32 }
            );
        }
        let o = sys.shrink_memcg(cg, limit).unwrap();
        assert_eq!((o.second_chances, o.written), (limit, 0), "batch {batch}: every bit cleared, nothing written");
        let oldest: Vec<VSlot> = sys.zswap_lru(cg).unwrap().into_iter().take(written as usize).collect();
        let (s, w) = swap_out(&sys, cg, 8 * (limit + 1), &compressible(1));
        let Writeout::Zswap { compressed } = w else { panic!("batch {batch}: the store was refused: {w:?}") };
        let m = stat(&sys, cg);
        assert_eq!((m.zswpwb, m.pswpout, m.zswpout), (written, written, limit + 1), "batch {batch}");
        assert_eq!(m.zswap_current, (limit - written) * PAGE + u64::from(compressed), "batch {batch}");
        assert_eq!(
            sys.device_stat(dev).unwrap().used,
            written + 1,
            "batch {batch}: the header slot and the entries written"
        );
        assert_eq!(sys.stat().written_back_pages, written, "batch {batch}");
        for o in oldest {
            assert_eq!(sys.backing(o).unwrap(), Backing::Device(dev), "batch {batch}: the oldest went first");
        }
        assert_eq!(sys.backing(s).unwrap(), Backing::Zswap);
    }
}

/// With every entry still referenced, a store over `zswap.max` only gives them second
/// chances, up to `store_shrink_batch` of them (the walk never passes the LRU's length):
/// nothing is written back and the store is refused, so the page goes to the device.
#[test]
fn a_store_over_zswap_max_that_writes_nothing_back_is_refused() {
    for batch in [1u8, 32] {
        let sys = system_with(|c| c.zswap.store_shrink_batch = batch);
        let dev = sys.swapon(DeviceSpec::memory("ssd", 64)).unwrap();
        let cg = sys.memcg_create(MemcgId::ROOT).unwrap();
        sys.memcg_set(cg, Knob::ZswapMax(Limit::Bytes(4 * PAGE))).unwrap();
        for i in 0..4u64 {
            swap_out(&sys, cg, 8 * (i + 1), &incompressible(i + 1));
        }
        let lru = sys.zswap_lru(cg).unwrap();
        assert_eq!(swap_out(&sys, cg, 8 * 5, &compressible(1)).1, Writeout::Device(dev), "batch {batch}");
        let m = stat(&sys, cg);
        assert_eq!((m.zswpwb, m.pswpout, m.zswpout, m.zswap_current), (0, 1, 4, 4 * PAGE), "batch {batch}");
        // The walked entries were rotated to the tail, oldest first.
        let walked = (batch as usize).min(4);
        let mut want = lru[walked..].to_vec();
        want.extend_from_slice(&lru[..walked]);
        assert_eq!(sys.zswap_lru(cg).unwrap(), want, "batch {batch}");
    }
}

/// `store_shrink_batch` 0 walks nothing and is refused at construction.
#[test]
fn a_store_shrink_batch_of_zero_is_refused() {
    let mut cfg = config();
    cfg.zswap.store_shrink_batch = 0;
    assert!(matches!(SwapSystem::new(cfg), Err(Error::Invalid(_))));
}

// ---------------------------------------------------------------------------------------
// zswap.writeback and writeback's charge (docs/kernel.md §5.3, §5.7)
// ---------------------------------------------------------------------------------------

/// Writeback needs `memory.zswap.writeback` on the slot's memcg and every ancestor (an
/// AND); refused with `Invalid`, the entry stays and nothing changes.
#[test]
fn writeback_is_refused_when_any_ancestor_disables_zswap_writeback() {
    let sys = system();
    sys.swapon(DeviceSpec::memory("ssd", 16)).unwrap();
    let parent = sys.memcg_create(MemcgId::ROOT).unwrap();
    let child = sys.memcg_create(parent).unwrap();
    let (s, _) = swap_out(&sys, child, 8, &compressible(1));
    for (who, other) in [(child, parent), (parent, child)] {
        sys.memcg_set(who, Knob::ZswapWriteback(false)).unwrap();
        sys.memcg_set(other, Knob::ZswapWriteback(true)).unwrap();
        let before = (sys.state(s), sys.stat(), stat(&sys, child), stat(&sys, parent));
        assert!(matches!(sys.writeback(s), Err(Error::Invalid(_))), "disabled on {who:?}");
        assert_eq!((sys.state(s), sys.stat(), stat(&sys, child), stat(&sys, parent)), before);
    }
    sys.memcg_set(parent, Knob::ZswapWriteback(true)).unwrap();
    sys.writeback(s).unwrap();
}

/// Writeback takes a physical slot, so `swap.max` applies: a refusal is an error with
/// `swap.events max` and `fail`, and the entry stays in zswap.
#[test]
fn writeback_over_swap_max_is_refused_and_raises_events() {
    let sys = system();
    let dev = sys.swapon(DeviceSpec::memory("ssd", 16)).unwrap();
    let cg = sys.memcg_create(MemcgId::ROOT).unwrap();
    let page = compressible(1);
    let (s, _) = swap_out(&sys, cg, 8, &page);
    sys.memcg_set(cg, Knob::SwapMax(Limit::Bytes(0))).unwrap();
    let (state, global, before) = (sys.state(s).unwrap(), sys.stat(), stat(&sys, cg));
    assert_eq!(sys.writeback(s), Err(Error::DeviceFull));
    assert_eq!(sys.state(s).unwrap(), state);
    assert_eq!(sys.stat(), global);
    let after = stat(&sys, cg);
    assert_eq!((after.swap_events_max, after.swap_events_fail), (1, 1));
    assert_eq!(MemcgStat { swap_events_max: 0, swap_events_fail: 0, ..after }, before);
    assert_eq!(sys.device_stat(dev).unwrap().used, 1);
    let mut out = vec![0; PAGE_SIZE];
    assert_eq!(sys.fault(0, s, FolioId(16), Some(&mut out)).unwrap().source, FaultSource::Zswap);
    assert_eq!(out, page);
}

// ---------------------------------------------------------------------------------------
// The memcg tree (docs/kernel.md §6.1, §6.2; Appendix A)
// ---------------------------------------------------------------------------------------

/// `mkdir` under an online parent gives a new online memcg with empty statistics.
#[test]
fn memcg_create_makes_a_child_of_an_online_parent() {
    let sys = system();
    let a = sys.memcg_create(MemcgId::ROOT).unwrap();
    let b = sys.memcg_create(a).unwrap();
    assert!(a != MemcgId::ROOT && b != a);
    assert_eq!(stat(&sys, b), MemcgStat::default());
    let s = sys.alloc(0, b, FolioId(8), 0).unwrap();
    assert_eq!(sys.memcg_of(s).unwrap(), Some(b));
}

/// An offline memcg takes no file writes, no stat reads, no children and no new slots.
#[test]
fn an_offline_memcg_refuses_stat_set_create_and_alloc() {
    let sys = system();
    let cg = sys.memcg_create(MemcgId::ROOT).unwrap();
    let keep = mapped(&sys, cg, 8);
    sys.memcg_offline(cg).unwrap();
    let before = (sys.state(keep), sys.stat());
    assert_eq!(sys.memcg_stat(cg), Err(Error::MemcgOffline));
    assert_eq!(sys.memcg_set(cg, Knob::SwapMax(Limit::Max)), Err(Error::MemcgOffline));
    assert_eq!(sys.memcg_create(cg), Err(Error::MemcgOffline));
    assert_eq!(sys.alloc(0, cg, FolioId(16), 0), Err(Error::MemcgOffline));
    assert_eq!(sys.memcg_offline(cg), Err(Error::MemcgOffline));
    assert_eq!((sys.state(keep), sys.stat()), before);
}

/// The root cannot go offline.
#[test]
fn the_root_memcg_cannot_go_offline() {
    let sys = system();
    assert!(matches!(sys.memcg_offline(MemcgId::ROOT), Err(Error::Invalid(_))));
    assert!(sys.memcg_stat(MemcgId::ROOT).is_ok());
    sys.alloc(0, MemcgId::ROOT, FolioId(8), 0).unwrap();
}

/// An offline memcg's charges stay counted in its parent's hierarchical view until the
/// slots are freed, and are then uncharged exactly.
#[test]
fn an_offline_memcgs_charges_stay_in_its_parent() {
    let sys = system();
    let dev = sys.swapon(DeviceSpec::memory("ssd", 16)).unwrap();
    let parent = sys.memcg_create(MemcgId::ROOT).unwrap();
    let cg = sys.memcg_create(parent).unwrap();
    sys.memcg_set(cg, Knob::ZswapMax(Limit::Bytes(0))).unwrap();
    let (on_dev, w) = swap_out(&sys, cg, 8, &compressible(1));
    assert_eq!(w, Writeout::Device(dev));
    sys.memcg_set(cg, Knob::ZswapMax(Limit::Max)).unwrap();
    let (in_zswap, w) = swap_out(&sys, cg, 16, &compressible(2));
    let Writeout::Zswap { compressed } = w else { panic!("{w:?}") };
    sys.memcg_offline(cg).unwrap();
    let p = stat(&sys, parent);
    assert_eq!((p.swap_current, p.zswap_current, p.zswapped), (PAGE, u64::from(compressed), PAGE));
    assert_eq!((p.pswpout, p.zswpout), (1, 1));
    sys.put(on_dev).unwrap();
    sys.put(in_zswap).unwrap();
    let p = stat(&sys, parent);
    assert_eq!((p.swap_current, p.zswap_current, p.zswapped), (0, 0, 0));
    assert_eq!((p.pswpout, p.zswpout), (1, 1), "event counts survive the dead child");
    assert_eq!(sys.memcg_stat(cg), Err(Error::InvalidMemcg), "the last reference removed it");
}

/// A dead memcg's id is not reused while a slot still records it; once its last slot is
/// freed, the id is free again and `mkdir` takes the lowest free id.
#[test]
fn an_offline_memcg_id_is_reused_only_after_its_last_slot_is_freed() {
    let sys = system();
    let dead = sys.memcg_create(MemcgId::ROOT).unwrap();
    let s = mapped(&sys, dead, 8);
    sys.memcg_offline(dead).unwrap();
    let other = sys.memcg_create(MemcgId::ROOT).unwrap();
    assert_ne!(other, dead, "a slot still records the dead id");
    assert_eq!(sys.memcg_of(s).unwrap(), Some(dead));
    sys.swap_cache_del(s, Shadow(1)).unwrap();
    assert_eq!(sys.put(s).unwrap(), 0);
    assert_eq!(sys.state(s).unwrap(), SlotState::Free);
    assert_eq!(sys.memcg_create(MemcgId::ROOT).unwrap(), dead, "the lowest free id");
}

/// An id with no memcg behind it is `InvalidMemcg` everywhere, and nothing changes.
#[test]
fn unknown_memcg_ids_are_refused() {
    let sys = system();
    let ghost = MemcgId::from_raw(999);
    let before = sys.stat();
    assert_eq!(sys.memcg_stat(ghost), Err(Error::InvalidMemcg));
    assert_eq!(sys.memcg_set(ghost, Knob::ZswapWriteback(false)), Err(Error::InvalidMemcg));
    assert_eq!(sys.memcg_create(ghost), Err(Error::InvalidMemcg));
    assert_eq!(sys.memcg_offline(ghost), Err(Error::InvalidMemcg));
    assert_eq!(sys.alloc(0, ghost, FolioId(8), 0), Err(Error::InvalidMemcg));
    assert_eq!(sys.memcg_stat(MemcgId::from_raw(0)), Err(Error::InvalidMemcg), "0 means no memcg");
    assert_eq!(sys.stat(), before);
}

/// A page of an offline memcg that takes a physical slot is charged to the nearest online
/// ancestor (`mem_cgroup_id_get_online`) and re-recorded there, so the dead memcg's id is
/// free for reuse once nothing else refers to it.
#[test]
fn a_physical_slot_for_an_offline_memcgs_page_is_charged_to_its_online_parent() {
    let sys = system();
    sys.swapon(DeviceSpec::memory("ssd", 64)).unwrap();
    let parent = sys.memcg_create(MemcgId::ROOT).unwrap();
    let child = sys.memcg_create(parent).unwrap();
    sys.memcg_set(child, Knob::SwapMax(Limit::Bytes(0))).unwrap();
    let (slot, w) = swap_out(&sys, child, 16, &compressible(3));
    assert!(matches!(w, Writeout::Zswap { .. }));
    sys.memcg_offline(child).unwrap();
    // The child's swap.max of 0 no longer applies: the charge lands on the parent.
    sys.writeback(slot).unwrap();
    assert_eq!(stat(&sys, parent).swap_current, PAGE);
    assert_eq!(sys.memcg_of(slot).unwrap(), Some(parent));
    // Nothing refers to the child any more: its id is the lowest free one again.
    assert_eq!(sys.memcg_create(MemcgId::ROOT).unwrap(), child);
    assert_eq!(sys.put(slot).unwrap(), 0);
    assert_eq!(stat(&sys, parent).swap_current, 0);
}
