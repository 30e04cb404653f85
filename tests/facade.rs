//! The facade's contract (`docs/api.md`): kernel slot lifecycle, and every bad input answered
//! with its typed error while the system stays exactly as it was.

use vswap::*;

fn sys() -> SwapSystem {
    SwapSystem::new(Config { cluster_shift: 3, cpus: 2, ..Config::default() }).unwrap()
}

/// Everything observable about `slots`, for before/after comparisons.
fn snapshot(sys: &SwapSystem, slots: &[VSlot]) -> (Vec<Result<SlotState, Error>>, u64, u64) {
    let st = sys.stat();
    (slots.iter().map(|&s| sys.state(s)).collect(), st.vslots_in_use, st.clusters_live)
}

#[test]
fn bad_arguments_get_typed_errors_and_change_nothing() {
    let sys = sys();
    let cached = sys.alloc(0, MemcgId::ROOT, FolioId(8), 0).unwrap();
    let out = sys.alloc(0, MemcgId::ROOT, FolioId(16), 0).unwrap();
    sys.dup(out).unwrap();
    sys.swap_cache_del(out, Shadow(4)).unwrap();
    let never = VSlot::from_raw(cached.raw() + 5);
    let far = VSlot::from_raw(1 << 26);
    let all = [cached, out, never, far];
    let before = snapshot(&sys, &all);
    let cases: Vec<(&str, Result<(), Error>, Error)> = vec![
        ("slot 0", sys.dup(VSlot::from_raw(0)).map(drop), Error::InvalidSlot),
        ("cluster 0", sys.put(VSlot::from_raw(3)).map(drop), Error::InvalidSlot),
        ("past the space", sys.state(VSlot::from_raw(u64::MAX)).map(drop), Error::InvalidSlot),
        ("never allocated", sys.dup(never).map(drop), Error::NotAllocated),
        ("missing cluster", sys.put(far).map(drop), Error::NotAllocated),
        ("put below 0", sys.put(cached).map(drop), Error::CountUnderflow),
        ("release uncached", sys.release(out).map(drop), Error::NotCached),
        ("release free", sys.release(never).map(drop), Error::NotAllocated),
        ("add cached", sys.swap_cache_add(cached, FolioId(1)), Error::AlreadyCached),
        ("add free", sys.swap_cache_add(never, FolioId(1)), Error::NotAllocated),
        ("add huge pfn", sys.swap_cache_add(out, FolioId(FolioId::MAX + 1)), Error::InvalidFolio),
        ("del uncached", sys.swap_cache_del(out, Shadow(1)), Error::NotCached),
        ("cpu", sys.alloc(2, MemcgId::ROOT, FolioId(0), 0).map(drop), Error::Invalid("cpu index out of range")),
        ("order", sys.alloc(0, MemcgId::ROOT, FolioId(0), 4).map(drop), Error::Invalid("order above the maximum")),
        ("pfn", sys.alloc(0, MemcgId::ROOT, FolioId(1 << 40), 0).map(drop), Error::InvalidFolio),
        ("unaligned", sys.alloc(0, MemcgId::ROOT, FolioId(2), 2).map(drop), Error::InvalidFolio),
        ("memcg", sys.alloc(0, MemcgId::from_raw(9), FolioId(0), 0).map(drop), Error::InvalidMemcg),
    ];
    for (what, got, want) in cases {
        assert_eq!(got, Err(want), "{what}");
        assert_eq!(snapshot(&sys, &all), before, "{what} changed the state");
    }
}

#[test]
fn the_clock_never_moves_backwards() {
    let sys = sys();
    sys.set_tick(10).unwrap();
    assert_eq!(sys.set_tick(9), Err(Error::ClockBackwards));
    assert_eq!(sys.tick(), 10);
    sys.set_tick(10).unwrap();
}

#[test]
fn invalid_configurations_are_refused() {
    for cfg in [
        Config { cluster_shift: 1, ..Config::default() },
        Config { cluster_shift: 10, ..Config::default() },
        Config { cpus: 0, ..Config::default() },
        Config { zswap: ZswapConfig { max_pool_percent: 101, ..ZswapConfig::default() }, ..Config::default() },
        Config { zswap: ZswapConfig { accept_threshold_percent: 101, ..ZswapConfig::default() }, ..Config::default() },
        Config { zswap: ZswapConfig { worker_shrink_batch: 0, ..ZswapConfig::default() }, ..Config::default() },
    ] {
        assert!(matches!(SwapSystem::new(cfg), Err(Error::Invalid(_))));
    }
}

#[test]
fn a_swapped_out_slot_keeps_count_shadow_and_memcg_until_its_last_put() {
    let sys = sys();
    let s = sys.alloc(1, MemcgId::ROOT, FolioId(40), 0).unwrap();
    assert_eq!(sys.state(s).unwrap(), SlotState::Cached { folio: FolioId(40), count: 0 });
    assert_eq!(sys.memcg_of(s).unwrap(), Some(MemcgId::ROOT));
    for n in 1..=20 {
        assert_eq!(sys.dup(s).unwrap(), n, "fork: the count passes the inline maximum");
    }
    sys.swap_cache_del(s, Shadow(u64::MAX)).unwrap();
    let kept = Shadow(u64::MAX).kept();
    assert_eq!(sys.state(s).unwrap(), SlotState::SwappedOut { shadow: kept, count: 20, backing: Backing::None });
    sys.swap_cache_add(s, FolioId(41)).unwrap();
    sys.swap_cache_del(s, Shadow(3)).unwrap();
    for n in (1..20).rev() {
        assert_eq!(sys.put(s).unwrap(), n);
    }
    assert_eq!(sys.put(s).unwrap(), 0);
    assert_eq!(sys.state(s).unwrap(), SlotState::Free);
    assert_eq!(sys.memcg_of(s).unwrap(), None);
    assert_eq!(sys.put(s), Err(Error::NotAllocated), "a double put");
}

#[test]
fn an_emptied_space_costs_only_its_fixed_header() {
    let sys = SwapSystem::new(Config::default()).unwrap();
    let empty = sys.footprint().heap_bytes;
    // Miri: 2 clusters keep the run short; the per-slot bound below needs 64 to amortise
    // the fixed header (and is calibrated for 64-bit targets).
    let clusters: u64 = if cfg!(miri) { 2 } else { 64 };
    let slots: Vec<_> = (0..clusters * 512).map(|i| sys.alloc(0, MemcgId::ROOT, FolioId(i), 0).unwrap()).collect();
    let full = sys.footprint();
    assert_eq!((full.vslots_in_use, full.clusters_live), (clusters * 512, clusters));
    // 8 B table word + 2 B memcg id per slot, plus the cluster header and directory,
    // over the fixed cost of an empty system (the memcg table, the directory's top).
    if !cfg!(miri) {
        let per_slot = (full.heap_bytes - empty) as f64 / full.vslots_in_use as f64;
        assert!(per_slot < 10.5, "{per_slot} B/slot: {full:?}");
    }
    for s in slots {
        assert!(sys.release(s).unwrap());
    }
    sys.drain_cpu_caches();
    assert_eq!(sys.stat().clusters_live, 0);
    sys.rcu_barrier();
    assert_eq!(sys.footprint().heap_bytes, empty, "retired clusters and directory nodes are given back");
}

#[test]
fn a_pinned_batch_reads_the_same_as_single_lookups() {
    let sys = sys();
    let slots: Vec<_> = (0..50).map(|i| sys.alloc(0, MemcgId::ROOT, FolioId(i), 0).unwrap()).collect();
    let pin = sys.pin();
    for &s in &slots {
        assert_eq!(pin.state(s), sys.state(s));
    }
}

#[test]
fn the_system_is_shared_across_threads() {
    fn shared<T: Send + Sync>() {}
    shared::<SwapSystem>();
    let sys = std::sync::Arc::new(SwapSystem::new(Config { cpus: 2, ..Config::default() }).unwrap());
    let n = if cfg!(miri) { 20 } else { 2000 };
    let alloc = |cpu: usize| {
        let sys = sys.clone();
        std::thread::spawn(move || -> Vec<VSlot> {
            (0..n).map(|i| sys.alloc(cpu, MemcgId::ROOT, FolioId(i), 0).unwrap()).collect()
        })
    };
    let (a, b) = (alloc(0), alloc(1));
    let mut held: Vec<VSlot> = a.join().unwrap().into_iter().chain(b.join().unwrap()).collect();
    held.sort();
    held.dedup();
    assert_eq!(held.len() as u64, 2 * n, "no slot handed out twice");
    assert_eq!(sys.stat().vslots_in_use, 2 * n);
    let free = |part: Vec<VSlot>| {
        let sys = sys.clone();
        std::thread::spawn(move || {
            for s in part {
                assert_eq!(sys.dup(s).unwrap(), 1);
                assert_eq!(sys.put(s).unwrap(), 0);
                assert!(sys.release(s).unwrap());
            }
        })
    };
    let odd: Vec<VSlot> = held.iter().copied().skip(1).step_by(2).collect();
    let even: Vec<VSlot> = held.iter().copied().step_by(2).collect();
    let (x, y) = (free(odd), free(even));
    x.join().unwrap();
    y.join().unwrap();
    assert_eq!(sys.stat().vslots_in_use, 0);
}

#[test]
fn count_operations_under_one_pin_match_the_single_calls() {
    let sys = sys();
    let slots: Vec<_> = (0..20).map(|i| sys.alloc(0, MemcgId::ROOT, FolioId(i), 0).unwrap()).collect();
    {
        let pin = sys.pin();
        for &s in &slots {
            assert_eq!(pin.dup(s), Ok(1));
            assert_eq!(pin.put(s), Ok(0));
            assert_eq!(pin.put(s), Err(Error::CountUnderflow));
            assert_eq!(pin.release(s), Ok(true));
            assert_eq!(pin.state(s), Ok(SlotState::Free));
            assert_eq!(pin.dup(s), Err(Error::NotAllocated));
        }
        assert_eq!(pin.dup(VSlot::from_raw(0)), Err(Error::InvalidSlot));
    }
    assert_eq!(sys.stat().vslots_in_use, 0);
}

/// A whole swap-out and swap-in under one pin (a simulator's reclaim pass and fault) gives
/// the same results, slot states and counters as the single calls on a twin system,
/// including the errors for misuse.
#[test]
fn a_lifecycle_under_one_pin_matches_the_single_calls() {
    let (a, b) = (sys(), sys());
    let zswap = |len, zero| Page::Synthetic { compressed_len: len, zero };
    for (i, page) in [zswap(1000, false), zswap(0, true), zswap(4096, false)].into_iter().enumerate() {
        let folio = FolioId(i as u64);
        let pin = a.pin();
        let (s, t) = (pin.alloc(0, MemcgId::ROOT, folio, 0).unwrap(), b.alloc(0, MemcgId::ROOT, folio, 0).unwrap());
        assert_eq!(s, t);
        assert_eq!(pin.dup(s), b.dup(t));
        assert_eq!(pin.writeout(s, page), b.writeout(t, page));
        assert_eq!(pin.evict(s, Shadow(7)), b.evict(t, Shadow(7)));
        assert_eq!(pin.evict(s, Shadow(7)), b.evict(t, Shadow(7)), "a second evict is refused alike");
        assert_eq!(pin.state(s), b.state(t));
        let (fa, fb) = (pin.fault(1, s, FolioId(99), None), b.fault(1, t, FolioId(99), None));
        assert_eq!(fa, fb);
        assert_eq!(pin.put(s), b.put(t));
        assert_eq!(pin.release(s), b.release(t));
        assert_eq!(pin.state(s), b.state(t));
        assert_eq!(pin.fault(1, s, FolioId(99), None), b.fault(1, t, FolioId(99), None), "a freed slot");
    }
    assert_eq!(a.stat(), b.stat());
    assert_eq!(a.memcg_stat(MemcgId::ROOT), b.memcg_stat(MemcgId::ROOT));
    assert_eq!(a.pin().alloc(9, MemcgId::ROOT, FolioId(0), 0), b.alloc(9, MemcgId::ROOT, FolioId(0), 0), "a bad CPU");
}
