//! Compression priorities (issue 6, part 1): several compressors registered by priority, a
//! per-memcg `Knob::ZswapCompressionPriority` inherited from the nearest ancestor that sets it,
//! each zswap entry loaded with the tier that stored it, and per-tier statistics.
//! Runs under Miri with fewer pages.

mod common;

use common::*;
use vswap::zswap::PageCompressor as _;
use vswap::*;

/// lz4 at 1 (the default), deflate at levels 1 and 9 at 2 and 3; nothing at 4.
fn tiers() -> Vec<CompressionPriority> {
    vec![CompressionPriority::lz4(1), CompressionPriority::deflate(2, 1), CompressionPriority::deflate(3, 9)]
}

fn tiered() -> SwapSystem {
    system_with(|c| c.zswap.compression_priorities = tiers())
}

/// Synthetic sizes: tier 1 as stated, tier 2 at half, tier 3 at a third (rounded up).
fn synthetic_tiered() -> SwapSystem {
    system_with(|c| {
        c.zswap.compressor = CompressionMode::Synthetic;
        c.zswap.compression_priorities = vec![
            CompressionPriority::lz4(1),
            CompressionPriority::deflate(2, 1).with_synthetic_permille(500),
            CompressionPriority::deflate(3, 9).with_synthetic_permille(333),
        ];
    })
}

/// A page of English-like text: words from a small vocabulary in a pseudo-random order,
/// redundant enough for both, with room for deflate's entropy coding to win. Under Miri
/// half a page of it, twice: lz4 and deflate cost Miri about a second per kilobyte they
/// search, and deflate (levels 1 and 9) still beats lz4 on it (as for every seed in
/// 0..200).
fn text(seed: u64) -> Vec<u8> {
    words(seed, if cfg!(miri) { PAGE_SIZE / 2 } else { PAGE_SIZE })
}

/// A compressible page for round trips that compare no densities: `text(seed)` natively,
/// 256 bytes of it repeated under Miri (deflate level 1 need not beat lz4 on it).
fn page(seed: u64) -> Vec<u8> {
    words(seed, if cfg!(miri) { 256 } else { PAGE_SIZE })
}

fn tier(st: &MemcgStat, p: u8) -> (u64, u64) {
    let t = st.zswap_priority(p).unwrap();
    (t.entries, t.bytes)
}

#[test]
fn the_default_is_one_lz4_tier_at_priority_1() {
    let cfg = ZswapConfig::default();
    assert_eq!(
        cfg.compression_priorities,
        vec![CompressionPriority { priority: 1, algorithm: Algorithm::Lz4, synthetic_permille: 1000 }]
    );
    let sys = system();
    let cg = sys.memcg_create(MemcgId::ROOT).unwrap();
    assert_eq!(sys.memcg_compression_priority(cg), Ok(1));
    let page = compressible(3);
    let (s, compressed) = stored(&sys, cg, 8, Page::Bytes(&page));
    let mut buf = vec![0; zswap::DST_LEN];
    assert_eq!(Ok(compressed as usize), zswap::Lz4.compress(&page, &mut buf), "lz4, as before tiers");
    assert_eq!(tier(&sys.memcg_stat(cg).unwrap(), 1), (1, u64::from(compressed)));
    // Only priority 1 is registered: the knob accepts it (root included) and nothing else.
    assert_eq!(sys.memcg_set(MemcgId::ROOT, Knob::ZswapCompressionPriority(Some(1))), Ok(()));
    assert!(matches!(sys.memcg_set(cg, Knob::ZswapCompressionPriority(Some(2))), Err(Error::Invalid(_))));
    assert_eq!(zswap_load(&sys, s, 8), page);
}

#[test]
fn a_child_follows_the_nearest_ancestor_that_sets_a_tier() {
    let sys = tiered();
    let parent = sys.memcg_create(MemcgId::ROOT).unwrap();
    let child = sys.memcg_create(parent).unwrap();
    let grandchild = sys.memcg_create(child).unwrap();
    let all = [MemcgId::ROOT, parent, child, grandchild];
    let eff = || all.map(|cg| sys.memcg_compression_priority(cg).unwrap());
    assert_eq!(eff(), [1, 1, 1, 1], "unset everywhere: priority 1");

    sys.memcg_set(parent, Knob::ZswapCompressionPriority(Some(2))).unwrap();
    assert_eq!(eff(), [1, 2, 2, 2], "set on a parent: its subtree follows");

    sys.memcg_set(child, Knob::ZswapCompressionPriority(Some(3))).unwrap();
    assert_eq!(eff(), [1, 2, 3, 3], "a child's own setting wins below it");

    sys.memcg_set(MemcgId::ROOT, Knob::ZswapCompressionPriority(Some(3))).unwrap();
    sys.memcg_set(parent, Knob::ZswapCompressionPriority(None)).unwrap();
    assert_eq!(eff(), [3, 3, 3, 3], "unset goes back to inheriting (here the root's)");

    sys.memcg_set(child, Knob::ZswapCompressionPriority(None)).unwrap();
    sys.memcg_set(MemcgId::ROOT, Knob::ZswapCompressionPriority(None)).unwrap();
    assert_eq!(eff(), [1, 1, 1, 1]);

    // Stores follow the effective value: the grandchild's entry is counted on the tier
    // its parent picked.
    sys.memcg_set(parent, Knob::ZswapCompressionPriority(Some(2))).unwrap();
    let page = page(7);
    let (_, compressed) = stored(&sys, grandchild, 8, Page::Bytes(&page));
    let st = sys.memcg_stat(grandchild).unwrap();
    assert_eq!((tier(&st, 1), tier(&st, 2)), ((0, 0), (1, u64::from(compressed))));
}

#[test]
fn a_tier_change_leaves_stored_entries_with_their_own_compressor() {
    let sys = tiered();
    let cg = sys.memcg_create(MemcgId::ROOT).unwrap();
    let n: u64 = if cfg!(miri) { 1 } else { 8 };
    let mut entries = Vec::new();
    // Round 1 with lz4, round 2 with deflate 9, round 3 with deflate 1: each round's
    // entries keep their size, tier and bytes whatever the knob says later.
    for (round, p) in [1u8, 3, 2].into_iter().enumerate() {
        sys.memcg_set(cg, Knob::ZswapCompressionPriority(Some(p))).unwrap();
        for i in 0..n {
            let pfn = 8 * (round as u64 * n + i + 1);
            let page = page(pfn);
            let (s, len) = stored(&sys, cg, pfn, Page::Bytes(&page));
            entries.push((s, pfn, page, p, len));
        }
    }
    let st = sys.memcg_stat(cg).unwrap();
    for p in 1..=3u8 {
        let bytes: u64 = entries.iter().filter(|e| e.3 == p).map(|e| u64::from(e.4)).sum();
        assert_eq!(tier(&st, p), (n, bytes), "tier {p}");
    }
    // Reload with the knob now at yet another tier: every page comes back exact.
    sys.memcg_set(cg, Knob::ZswapCompressionPriority(Some(1))).unwrap();
    for (s, pfn, page, _, _) in &entries {
        assert_eq!(&zswap_load(&sys, *s, *pfn), page);
    }
    let st = sys.memcg_stat(cg).unwrap();
    assert_eq!(st.zswap_priorities, [ZswapPriorityStat::default(); 4]);
    assert_eq!(st.zswap_current, 0);
}

#[test]
fn real_bytes_round_trip_through_every_tier_and_deflate_is_denser_on_text() {
    let sys = tiered();
    let cg = sys.memcg_create(MemcgId::ROOT).unwrap();
    let pages = if cfg!(miri) { 1 } else { 6 };
    for seed in 0..pages {
        let page = text(seed + 100);
        let mut sizes = [0u32; 3];
        for p in 1..=3u8 {
            sys.memcg_set(cg, Knob::ZswapCompressionPriority(Some(p))).unwrap();
            let pfn = 8 * (u64::from(p) + 4 * seed);
            let (s, len) = stored(&sys, cg, pfn, Page::Bytes(&page));
            sizes[usize::from(p) - 1] = len;
            assert_eq!(zswap_load(&sys, s, pfn), page, "tier {p}, page {seed}");
        }
        assert!(sizes[1] < sizes[0] && sizes[2] < sizes[0], "deflate beats lz4 on text: {sizes:?}");
        assert!(sizes[2] <= sizes[1], "level 9 is at least as dense as level 1: {sizes:?}");
    }
    // A page no tier can shrink is stored as-is, on the tier that tried. Under Miri that
    // is lz4 (deflate searches the whole random page, ~10 s of Miri's time at level 9;
    // lz4 skips ahead on misses).
    let p = if cfg!(miri) { 1 } else { 3 };
    sys.memcg_set(cg, Knob::ZswapCompressionPriority(Some(p))).unwrap();
    let page = incompressible(9);
    let (s, len) = stored(&sys, cg, 8 * 1000, Page::Bytes(&page));
    assert_eq!(len as usize, PAGE_SIZE);
    assert_eq!(tier(&sys.memcg_stat(cg).unwrap(), p), (1, PAGE));
    assert_eq!(zswap_load(&sys, s, 8 * 1000), page);
}

#[test]
fn a_written_back_entry_is_decompressed_with_its_tier() {
    let sys = tiered();
    sys.swapon(DeviceSpec::memory("ssd", 64)).unwrap();
    let cg = sys.memcg_create(MemcgId::ROOT).unwrap();
    sys.memcg_set(cg, Knob::ZswapCompressionPriority(Some(3))).unwrap();
    let page = page(5);
    let (s, _) = stored(&sys, cg, 8, Page::Bytes(&page));
    sys.memcg_set(cg, Knob::ZswapCompressionPriority(Some(1))).unwrap();
    sys.writeback(s).unwrap();
    assert_eq!(sys.memcg_stat(cg).unwrap().zswap_priorities, [ZswapPriorityStat::default(); 4]);
    let mut out = vec![0; PAGE_SIZE];
    let f = sys.fault(0, s, FolioId(8), Some(&mut out)).unwrap();
    assert!(matches!(f.source, FaultSource::Device(_)));
    assert_eq!(out, page);
}

#[test]
fn synthetic_pages_are_scaled_by_their_tier_ratio() {
    let sys = synthetic_tiered();
    let cg = sys.memcg_create(MemcgId::ROOT).unwrap();
    let page = |compressed_len| Page::Synthetic { compressed_len, zero: false };
    let mut pfn = 0;
    let mut go = |p: u8, stated: u32| {
        sys.memcg_set(cg, Knob::ZswapCompressionPriority(Some(p))).unwrap();
        pfn += 8;
        stored(&sys, cg, pfn, page(stated)).1
    };
    assert_eq!(go(1, 1001), 1001, "tier 1: as stated");
    assert_eq!(go(2, 1001), 501, "tier 2: half, rounded up");
    assert_eq!(go(3, 1001), 334, "tier 3: a third (333 per mille), rounded up");
    assert_eq!(go(3, 1), 1, "never below a byte");
    assert_eq!(go(2, 0), PAGE_SIZE as u32, "0 stays incompressible (stored as-is)");
    assert_eq!(go(3, PAGE_SIZE as u32), PAGE_SIZE as u32, "a page stays incompressible");
    let st = sys.memcg_stat(cg).unwrap();
    assert_eq!(tier(&st, 1), (1, 1001));
    assert_eq!(tier(&st, 2), (2, 501 + PAGE));
    assert_eq!(tier(&st, 3), (3, 334 + 1 + PAGE));
    assert_eq!(st.zswap_current, 1001 + 501 + PAGE + 334 + 1 + PAGE);
    // More than a page is still -ENOSPC (`reject_compress_poor`) on a scaled tier.
    sys.memcg_set(cg, Knob::ZswapCompressionPriority(Some(2))).unwrap();
    sys.memcg_set(cg, Knob::ZswapWriteback(false)).unwrap();
    let s = mapped(&sys, cg, 800);
    let before = sys.stat().reject_compress_poor;
    assert_eq!(sys.writeout(s, page(PAGE_SIZE as u32 + 1)), Ok(Writeout::Kept(KeepReason::WritebackDisabled)));
    assert_eq!(sys.stat().reject_compress_poor, before + 1);
}

/// Everything a knob write could change: each memcg's effective tier and statistics,
/// and the global counters.
fn snapshot(sys: &SwapSystem, cgs: &[MemcgId]) -> Vec<(Result<u8, Error>, Result<MemcgStat, Error>)> {
    cgs.iter().map(|&cg| (sys.memcg_compression_priority(cg), sys.memcg_stat(cg))).collect()
}

#[test]
fn bad_tier_settings_are_typed_errors_and_change_nothing() {
    let sys = tiered();
    let a = sys.memcg_create(MemcgId::ROOT).unwrap();
    let b = sys.memcg_create(a).unwrap();
    let gone = sys.memcg_create(a).unwrap();
    // A zombie: offline, kept by the entry charged to it.
    stored(&sys, gone, 16, Page::Bytes(&page(2)));
    sys.memcg_offline(gone).unwrap();
    sys.memcg_set(a, Knob::ZswapCompressionPriority(Some(2))).unwrap();
    stored(&sys, b, 8, Page::Bytes(&page(1)));
    let cgs = [MemcgId::ROOT, a, b, gone];
    let before = (snapshot(&sys, &cgs), sys.stat());
    let cases = [
        (b, Some(4), "a priority with no compressor registered"),
        (b, Some(0), "priority 0"),
        (b, Some(5), "priority 5"),
        (MemcgId::ROOT, Some(255), "priority 255 on the root"),
    ];
    for (cg, p, what) in cases {
        let r = sys.memcg_set(cg, Knob::ZswapCompressionPriority(p));
        assert!(matches!(r, Err(Error::Invalid(_))), "{what}: {r:?}");
        assert_eq!((snapshot(&sys, &cgs), sys.stat()), before, "{what} changed the state");
    }
    assert_eq!(sys.memcg_set(gone, Knob::ZswapCompressionPriority(Some(3))), Err(Error::MemcgOffline));
    assert_eq!(
        sys.memcg_set(MemcgId::from_raw(999), Knob::ZswapCompressionPriority(Some(3))),
        Err(Error::InvalidMemcg)
    );
    assert_eq!(sys.memcg_set(MemcgId::from_raw(999), Knob::ZswapCompressionPriority(None)), Err(Error::InvalidMemcg));
    assert_eq!(sys.memcg_compression_priority(gone), Err(Error::MemcgOffline));
    assert_eq!(sys.memcg_compression_priority(MemcgId::from_raw(999)), Err(Error::InvalidMemcg));
    assert_eq!((snapshot(&sys, &cgs), sys.stat()), before);
}

#[test]
fn invalid_tier_configurations_are_refused() {
    let bad: [(Vec<CompressionPriority>, &str); 8] = [
        (vec![], "no tier"),
        (vec![CompressionPriority::deflate(2, 6)], "no priority 1"),
        (vec![CompressionPriority::lz4(1), CompressionPriority::deflate(1, 6)], "priority 1 twice"),
        (vec![CompressionPriority::lz4(0)], "priority 0"),
        (vec![CompressionPriority::lz4(1), CompressionPriority::lz4(5)], "priority 5"),
        (vec![CompressionPriority::lz4(1), CompressionPriority::deflate(2, 0)], "deflate level 0"),
        (vec![CompressionPriority::lz4(1), CompressionPriority::deflate(2, 11)], "deflate level 11"),
        (vec![CompressionPriority::lz4(1).with_synthetic_permille(1001)], "a ratio above 1"),
    ];
    for (tiers, what) in bad {
        let mut cfg = config();
        cfg.zswap.compression_priorities = tiers;
        assert!(matches!(SwapSystem::new(cfg), Err(Error::Invalid(_))), "{what}");
    }
    let mut cfg = config();
    cfg.zswap.compression_priorities = vec![CompressionPriority::lz4(1).with_synthetic_permille(0)];
    assert!(matches!(SwapSystem::new(cfg), Err(Error::Invalid(_))), "a ratio of 0");
    let mut cfg = config();
    cfg.zswap.compression_priorities = (1..=4).rev().map(|p| CompressionPriority::deflate(p, p * 2)).collect();
    assert!(SwapSystem::new(cfg).is_ok(), "four tiers in any order");
}

#[test]
fn per_tier_statistics_add_up_over_the_hierarchy() {
    let sys = synthetic_tiered();
    let parent = sys.memcg_create(MemcgId::ROOT).unwrap();
    let kids = [sys.memcg_create(parent).unwrap(), sys.memcg_create(parent).unwrap()];
    sys.memcg_set(kids[1], Knob::ZswapCompressionPriority(Some(3))).unwrap();
    let n = if cfg!(miri) { 6 } else { 60 };
    let mut live = Vec::new();
    for i in 0..n {
        let cg = [parent, kids[0], kids[1]][i % 3];
        if i % 7 == 3 {
            sys.memcg_set(parent, Knob::ZswapCompressionPriority(Some(1 + (i % 2) as u8))).unwrap();
        }
        let len = [0, 700, 1500, 3000, PAGE_SIZE as u32][i % 5];
        let pfn = 8 * (i as u64 + 1);
        live.push((stored(&sys, cg, pfn, Page::Synthetic { compressed_len: len, zero: false }).0, pfn));
        if i % 4 == 1 {
            let (s, pfn) = live.swap_remove(i % live.len());
            let mut out = vec![0; PAGE_SIZE];
            sys.fault(0, s, FolioId(pfn), Some(&mut out)).unwrap();
        }
        let check = |cg: MemcgId| {
            let st = sys.memcg_stat(cg).unwrap();
            let entries: u64 = st.zswap_priorities.iter().map(|t| t.entries).sum();
            let bytes: u64 = st.zswap_priorities.iter().map(|t| t.bytes).sum();
            assert_eq!(bytes, st.zswap_current, "memcg {cg:?}");
            assert_eq!(entries * PAGE, st.zswapped, "memcg {cg:?}");
            assert_eq!(st.zswap_priority(4), Some(&ZswapPriorityStat::default()), "nothing registered at 4");
            st
        };
        let (p, k0, k1) = (check(parent), check(kids[0]), check(kids[1]));
        check(MemcgId::ROOT);
        for t in 0..4 {
            assert!(p.zswap_priorities[t].entries >= k0.zswap_priorities[t].entries + k1.zswap_priorities[t].entries);
        }
        assert_eq!(k1.zswap_priority(3).unwrap().entries * PAGE, k1.zswapped, "kid 1 only uses tier 3");
    }
    // A child taken offline and emptied: its statistics fold into the parent's, exactly.
    let before = sys.memcg_stat(parent).unwrap();
    sys.memcg_offline(kids[0]).unwrap();
    assert_eq!(sys.memcg_stat(parent).unwrap().zswap_priorities, before.zswap_priorities);
    for (s, pfn) in live {
        let mut out = vec![0; PAGE_SIZE];
        sys.fault(0, s, FolioId(pfn), Some(&mut out)).unwrap();
    }
    let st = sys.memcg_stat(MemcgId::ROOT).unwrap();
    assert_eq!((st.zswap_priorities, st.zswap_current), ([ZswapPriorityStat::default(); 4], 0));
}
