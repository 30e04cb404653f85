//! The public contract (docs/api.md): every name it lists still compiles, and every name
//! renamed since (CHANGELOG.md, "Renamed") still compiles as a deprecated alias that
//! means what the new name means.

use vswap::*;

/// Names the facade's items (types, methods, variants and fields) as docs/api.md lists
/// them: a compile-time check, run once for the values.
#[test]
fn every_name_of_the_contract_compiles() -> Result<(), Error> {
    let cfg = Config { ram_pages: 1 << 12, cpus: 2, ..Config::default() };
    let z: &ZswapConfig = &cfg.zswap;
    let _: (u32, u32, bool, bool) = (z.max_pool_percent, z.accept_threshold_percent, z.enabled, z.shrinker_enabled);
    let _: (ShrinkStart, ShrinkStart) = (ShrinkStart::PoolFull, ShrinkStart::Proactive);
    let _: (LruPolicy, LruPolicy) = (LruPolicy::SecondChance, LruPolicy::Protection);
    let _: Option<Tick> = z.writeback_pause;
    let _: [u8; 4] = [
        z.worker_shrink_batch,
        ZswapConfig::SHRINK_BATCH_MAINLINE,
        ZswapConfig::SHRINK_BATCH_7_3,
        ZswapConfig::SHRINK_BATCH_WB_PROPOSAL,
    ];
    let sys = SwapSystem::new(cfg)?;
    sys.set_tick(1)?;
    let dev: DeviceId = sys.swapon(DeviceSpec::memory("ssd", 64).priority(10))?;
    let _ = DeviceSpec::null("counting", 8);
    let _ = DeviceSpec::file("disk", std::path::PathBuf::from("vswap-api-contract-unused"), 8);
    let cg: MemcgId = sys.memcg_create(MemcgId::ROOT)?;
    sys.memcg_set(cg, Knob::SwapMax(Limit::Bytes(8 << 20)))?;
    sys.memcg_set(cg, Knob::SwapHigh(Limit::Max))?;
    sys.memcg_set(cg, Knob::ZswapMax(Limit::Max))?;
    sys.memcg_set(cg, Knob::ZswapWriteback(true))?;
    let s: MemcgStat = sys.memcg_stat(cg)?;
    let _: [u64; 16] = [
        s.swap_current,
        s.swap_peak,
        s.zswap_current,
        s.zswapped,
        s.zswap_incomp,
        s.zswpin,
        s.zswpout,
        s.zswpwb,
        s.zswpwb_proactive_bytes,
        s.pswpin,
        s.pswpout,
        s.swpin_zero,
        s.swpout_zero,
        s.swap_events_high,
        s.swap_events_max,
        s.swap_events_fail,
    ];
    let slot: VSlot = sys.alloc(0, cg, FolioId(64), 0)?;
    assert_eq!(VSlot::from_raw(slot.raw()), slot);
    assert_eq!(sys.dup(slot)?, 1);
    let page = vec![7u8; PAGE_SIZE];
    let w: Writeout = sys.writeout(slot, Page::Bytes(&page))?;
    assert!(matches!(w, Writeout::Zero | Writeout::Zswap { .. } | Writeout::Device(_) | Writeout::Kept(_)));
    sys.evict(slot, Shadow(3))?;
    assert!(matches!(sys.state(slot)?, SlotState::SwappedOut { backing: Backing::Zswap, .. }));
    let _: u32 = Shadow::BITS;
    sys.writeback(slot)?;
    let mut out = vec![0u8; PAGE_SIZE];
    let f: Fault = sys.fault(0, slot, FolioId(128), Some(&mut out))?;
    assert_eq!((f.source, f.shadow), (FaultSource::Device(dev), Some(Shadow(3))));
    assert_eq!(out, page);
    assert_eq!(sys.put(slot)?, 0);
    assert!(sys.release(slot)?);
    assert_eq!(sys.state(slot)?, SlotState::Free);
    let _: ShrinkOutcome = sys.shrink_memcg(cg, 1)?;
    let _: u64 = sys.shrinker_count(cg);
    let _: ShrinkReport = sys.run_shrink_worker();
    assert_eq!(sys.proactive_writeback(cg, 4096), Err(Error::Again { written: 0 }));
    let g: GlobalStat = sys.stat();
    let _: [u64; 19] = [
        g.pool_limit_hit,
        g.pool_total_size,
        g.stored_pages,
        g.stored_incompressible_pages,
        g.written_back_pages,
        g.reject_reclaim_fail,
        g.reject_alloc_fail,
        g.reject_compress_fail,
        g.reject_compress_poor,
        g.decompress_fail,
        g.zswpin,
        g.zswpout,
        g.zswpwb,
        g.pswpin,
        g.pswpout,
        g.swpin_zero,
        g.swpout_zero,
        g.vslots_in_use,
        g.clusters_live,
    ];
    let fp: Footprint = sys.footprint();
    let _ = (fp.heap_bytes, fp.vslots_in_use, fp.bytes_per_used_slot());
    sys.memcg_offline(cg)?;
    let r: SwapoffReport = sys.swapoff(dev)?;
    let _: (u64, &[(DeviceId, u64)], u64, u64, u64) =
        (r.pages_moved, &r.moved_to, r.cache_only, r.swapped_in, r.cache_unbacked);
    let dev = sys.swapon(DeviceSpec::memory("ssd", 64))?;
    let mut sink = |p: &SwapoffPage<'_>| -> Option<FolioId> {
        let _: (VSlot, MemcgId, u32, Shadow, DeviceId, Option<&[u8]>) =
            (p.slot, p.memcg, p.count, p.shadow, p.device, p.data);
        None
    };
    let _: &mut dyn SwapoffSink = &mut sink;
    let _: SwapoffReport = sys.swapoff_with(dev, &mut sink)?;
    let _: &[Error] = &[
        Error::InvalidSlot,
        Error::NotAllocated,
        Error::AlreadyCached,
        Error::NotCached,
        Error::NotBacked,
        Error::CountOverflow,
        Error::InvalidFolio,
        Error::InvalidMemcg,
        Error::MemcgOffline,
        Error::InvalidDevice,
        Error::DeviceFull,
        Error::BadPage,
        Error::ClockBackwards,
        Error::Again { written: 0 },
        Error::Invalid("x"),
        Error::NoMemory,
    ];
    let _: KeepReason = KeepReason::NoSpace;
    Ok(())
}

/// Every renamed public item, by its old name: still there, deprecated, and the same as
/// the new one.
#[test]
#[allow(deprecated)]
fn every_renamed_name_still_compiles_as_a_deprecated_alias() -> Result<(), Error> {
    // "Compressor", the config enum: `CompressionMode`. The field keeps its name.
    let mode: Compressor = Compressor::Synthetic;
    assert_eq!(mode, CompressionMode::Synthetic);
    let cfg =
        Config { zswap: ZswapConfig { compressor: Compressor::Lz4, ..ZswapConfig::default() }, ..Config::default() };
    assert_eq!(cfg.zswap.compressor, CompressionMode::Lz4);

    // "Compressor", the trait: `zswap::PageCompressor`.
    fn name_of(c: &dyn vswap::zswap::Compressor) -> &'static str {
        c.name()
    }
    assert_eq!(name_of(&vswap::zswap::Lz4), "lz4");

    // "compression tier": `CompressionPriority`, `ZswapPriorityStat`.
    let t: CompressionTier = CompressionTier::deflate(2, 6);
    assert_eq!(t, CompressionPriority::deflate(2, 6));
    assert_eq!(CompressionTier::PRIORITIES, 1..=4);
    let stat: ZswapTierStat = ZswapTierStat::default();
    assert_eq!(stat, ZswapPriorityStat::default());

    // The knob that holds a compression priority, and its reading.
    let cfg = Config {
        zswap: ZswapConfig {
            compression_priorities: vec![CompressionPriority::lz4(1), CompressionTier::deflate(2, 1)],
            ..ZswapConfig::default()
        },
        ..Config::default()
    };
    let sys = SwapSystem::new(cfg)?;
    let cg = sys.memcg_create(MemcgId::ROOT)?;
    assert_eq!(Knob::ZswapCompressor(Some(2)), Knob::ZswapCompressionPriority(Some(2)));
    sys.memcg_set(cg, Knob::ZswapCompressor(Some(2)))?;
    assert_eq!(sys.memcg_compressor(cg)?, 2);
    assert_eq!(sys.memcg_compression_priority(cg)?, 2);
    let s = sys.memcg_stat(cg)?;
    assert_eq!(s.zswap_tier(2), s.zswap_priority(2));

    // `Error::Busy`: still a variant (no call returns it), busy like its replacements.
    let old = Error::Busy;
    assert!(old.is_busy());
    assert_ne!(old, Error::NonUniformFolio);
    for e in [Error::NonUniformFolio, Error::WritebackInProgress, Error::InSwapCache, Error::SwapoffBusy] {
        assert!(e.is_busy(), "{e:?}");
    }
    assert!(!Error::AlreadyCached.is_busy() && !Error::TierBusy("x").is_busy());
    Ok(())
}
