//! Reports: `GlobalStat`, `MemcgStat`, `Footprint` and the flows' reports (docs/api.md).

/// System-wide counters: zswap's debugfs counters, the vmstat swap events, and the
/// swap table's gauges. Event counters count pages, sizes are bytes.
#[derive(Debug, Clone, PartialEq, Default)]
///
/// The zswap counters are those of `/sys/kernel/debug/zswap/`, the events those of
/// `/proc/vmstat` (docs/kernel.md §5.9).
pub struct GlobalStat {
    /// zswap debugfs `pool_limit_hit`: stores refused because the pool was at
    /// `max_pool_percent` (or above it since, until it fell to the accept threshold).
    pub pool_limit_hit: u64,
    /// zswap debugfs `pool_total_size`: compressed bytes in the pool (a gauge).
    pub pool_total_size: u64,
    /// zswap debugfs `stored_pages`: pages in the pool (a gauge).
    pub stored_pages: u64,
    /// zswap debugfs `stored_incompressible_pages`: pages in the pool stored as-is
    /// because compression did not shrink them (a gauge).
    pub stored_incompressible_pages: u64,
    /// zswap debugfs `written_back_pages`: pages `zswap_writeback_entry` wrote to a
    /// device.
    pub written_back_pages: u64,
    /// zswap debugfs `reject_reclaim_fail`: stores refused because writeback could not
    /// make room.
    pub reject_reclaim_fail: u64,
    /// zswap debugfs `reject_alloc_fail`: stores refused because the pool could not
    /// allocate the compressed copy.
    pub reject_alloc_fail: u64,
    /// zswap debugfs `reject_compress_fail`: stores whose compressor returned an error.
    pub reject_compress_fail: u64,
    /// zswap debugfs `reject_compress_poor`: stores whose compressed copy was too large
    /// to keep.
    pub reject_compress_poor: u64,
    /// zswap debugfs `decompress_fail`: loads whose decompression failed.
    pub decompress_fail: u64,
    /// vmstat `zswpin`: pages loaded from zswap (`zswap_load`).
    pub zswpin: u64,
    /// vmstat `zswpout`: pages stored in zswap (`zswap_store`).
    pub zswpout: u64,
    /// vmstat `zswpwb`: pages written back from zswap to a device.
    pub zswpwb: u64,
    /// vmstat `pswpin`: pages read from a swap device (`swap_read_folio`).
    pub pswpin: u64,
    /// vmstat `pswpout`: pages written to a swap device (`swap_writeout`).
    pub pswpout: u64,
    /// vmstat `swpin_zero`: zero-filled pages swapped in without I/O (docs/kernel.md §1.5).
    pub swpin_zero: u64,
    /// vmstat `swpout_zero`: zero-filled pages swapped out without I/O (the Z flag).
    pub swpout_zero: u64,
    /// Allocated virtual slots (the sum of every live cluster's `count`).
    pub vslots_in_use: u64,
    /// Live clusters of the virtual space.
    pub clusters_live: u64,
    /// Entries `recompress` compressed again (zram's `mm_stat` has no split: the crate's
    /// own counters, as its `recompress` report sums them).
    pub recompress_attempted: u64,
    /// Of those, the ones whose smaller copy replaced the entry.
    pub recompressed_pages: u64,
    /// Compressed bytes recompression saved.
    pub recompress_saved_bytes: u64,
}

/// What one `recompress` call did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RecompressReport {
    /// Idle entries examined (taken off the idle-age index).
    pub examined: u64,
    /// Of those, the candidates compressed again (lower tier, above the threshold).
    pub attempted: u64,
    /// Of those, the ones replaced by their smaller copy.
    pub recompressed: u64,
    /// Compressed bytes saved.
    pub saved_bytes: u64,
}

/// Every byte of metadata the crate holds, counted from its own allocations.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Footprint {
    /// Heap bytes of metadata (clusters, tables, directory, lists, per-CPU caches),
    /// including clusters retired but not yet reclaimed.
    pub heap_bytes: u64,
    /// Allocated virtual slots.
    pub vslots_in_use: u64,
    /// Live clusters of the virtual space.
    pub clusters_live: u64,
    /// Of `heap_bytes`, the physical devices' tables (reverse map, bitmaps, headers).
    pub device_bytes: u64,
    /// Of `heap_bytes`, the zswap entries' index and LRU lists (`struct zswap_entry`'s
    /// part), which the
    /// kernel series leave out of their per-slot figures, as they leave out the
    /// compressed data (not counted here at all: see `GlobalStat::pool_total_size`).
    pub zswap_entry_bytes: u64,
}

/// One swap device, as `/proc/swaps` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceStat {
    /// `Filename`: the name given at `swapon`.
    pub name: String,
    /// `Priority`: the device's swap priority (higher is used first).
    pub priority: i16,
    /// Size in pages, the header slot included. `/proc/swaps` shows one page less
    /// (`si->pages = maxpages - 1` in `swapon`, 7.3).
    pub pages: u64,
    /// Slots in use, the header slot included: one more than the kernel's `inuse_pages`
    /// (`/proc/swaps` `Used`, `swap_usage_in_pages`), which leaves the header out.
    pub used: u64,
}

impl Footprint {
    /// Bytes per used slot as the kernel series count it: the slot's metadata (table,
    /// backend, memcg, reverse map, amortised headers), without zswap entries.
    pub fn slot_bytes_per_used_slot(&self) -> f64 {
        if self.vslots_in_use == 0 {
            0.0
        } else {
            (self.heap_bytes - self.zswap_entry_bytes) as f64 / self.vslots_in_use as f64
        }
    }

    /// `heap_bytes / vslots_in_use`, or 0.0 when nothing is in use.
    pub fn bytes_per_used_slot(&self) -> f64 {
        if self.vslots_in_use == 0 { 0.0 } else { self.heap_bytes as f64 / self.vslots_in_use as f64 }
    }
}

/// A memcg's `memory.stat` / `memory.swap.*` / `memory.zswap.*` view, hierarchical (the
/// memcg and its descendants, dead ones included, like `memory.stat`). Sizes are bytes,
/// events pages.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MemcgStat {
    /// `memory.swap.current`: physical swap slots held (the virtual-swap rule).
    pub swap_current: u64,
    /// `memory.swap.peak`.
    pub swap_peak: u64,
    /// `memory.zswap.current`: compressed bytes.
    pub zswap_current: u64,
    /// `zswapped`: original bytes of the pages in zswap.
    pub zswapped: u64,
    /// `zswap_incomp`: bytes of pages stored uncompressed.
    pub zswap_incomp: u64,
    /// `memory.stat` `zswpin`: pages loaded from zswap.
    pub zswpin: u64,
    /// `memory.stat` `zswpout`: pages stored in zswap.
    pub zswpout: u64,
    /// `memory.stat` `zswpwb`: pages written back from zswap to a device.
    pub zswpwb: u64,
    /// `zswpwb_proactive_b`: compressed bytes written back by proactive writeback.
    pub zswpwb_proactive_bytes: u64,
    /// `memory.stat` `pswpin`: pages read from a swap device.
    pub pswpin: u64,
    /// `memory.stat` `pswpout`: pages written to a swap device.
    pub pswpout: u64,
    /// `memory.stat` `swpin_zero`: zero-filled pages swapped in without I/O.
    pub swpin_zero: u64,
    /// `memory.stat` `swpout_zero`: zero-filled pages swapped out without I/O.
    pub swpout_zero: u64,
    /// `memory.swap.events` `high`.
    pub swap_events_high: u64,
    /// `memory.swap.events` `max`.
    pub swap_events_max: u64,
    /// `memory.swap.events` `fail`.
    pub swap_events_fail: u64,
    /// The zswap entries by compression priority: index `p - 1` is priority `p` (1..=4).
    /// Their `bytes` add up to `zswap_current` and their `entries` to `zswapped /
    /// PAGE_SIZE`. No kernel file has this (zswap keeps one `zswap_pool` current; zram's
    /// `mm_stat` is per device): the crate's own report, for comparing tiers.
    pub zswap_priorities: [ZswapPriorityStat; 4],
    /// The physical swap pages (`swap_current`) by swap tier, one row per configured tier
    /// in `SwapSystem::swap_tiers` order (highest first); empty while no tier is
    /// configured. With tiers configured every device is in one, so the rows add up to
    /// `swap_current`. Also the crate's own report: no kernel file breaks the charge down.
    pub swap_tiers: Vec<SwapTierStat>,
}

impl MemcgStat {
    /// The zswap entries of compression priority `priority` (1..=4), or None for another.
    pub fn zswap_priority(&self, priority: u8) -> Option<&ZswapPriorityStat> {
        self.zswap_priorities.get(usize::from(priority).checked_sub(1)?)
    }

    /// Deprecated name of [`MemcgStat::zswap_priority`].
    #[deprecated(since = "0.2.0", note = "renamed to `zswap_priority`")]
    pub fn zswap_tier(&self, priority: u8) -> Option<&ZswapPriorityStat> {
        self.zswap_priority(priority)
    }

    /// The physical swap pages on swap tier `name`, or None for a tier not configured.
    pub fn swap_tier(&self, name: &str) -> Option<&SwapTierStat> {
        self.swap_tiers.iter().find(|t| t.tier.name == name)
    }
}

/// One compression priority's share of a memcg's zswap entries (`MemcgStat::zswap_priorities`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ZswapPriorityStat {
    /// Entries it compressed (pages).
    pub entries: u64,
    /// Their compressed bytes (`PAGE_SIZE` each when stored as-is).
    pub bytes: u64,
}

/// One swap tier's share of a memcg's physical swap (`MemcgStat::swap_tiers`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SwapTierStat {
    /// The tier, as `SwapSystem::swap_tiers` lists it.
    pub tier: crate::SwapTier,
    /// Physical slots charged on its devices (pages).
    pub entries: u64,
    /// Their bytes (`PAGE_SIZE` each).
    pub bytes: u64,
}

/// What `swapoff` / `swapoff_with` did with the device's pages.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SwapoffReport {
    /// Pages moved to other devices.
    pub pages_moved: u64,
    /// Pages moved to each device, highest priority first.
    pub moved_to: Vec<(crate::DeviceId, u64)>,
    /// Of the pages moved, those whose virtual slot was cache-only (count 0, folio cached).
    pub cache_only: u64,
    /// `swapoff_with` only: swapped-out pages read into a folio the sink gave
    /// (`try_to_unuse`'s swap-in, counted in `pswpin`); each is in the swap cache now,
    /// with no backend.
    pub swapped_in: u64,
    /// `swapoff_with` only: pages whose folio was already in the swap cache; their device
    /// slot was freed (`try_to_unuse`'s `folio_free_swap`) and the folio is their only
    /// copy, with no backend.
    pub cache_unbacked: u64,
}

/// What one `shrink_memcg` walk achieved (the kernel's return value, plus the walk's
/// counts).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ShrinkOutcome {
    /// Written (0), nothing written (-EAGAIN) or not a candidate (-ENOENT).
    pub result: ShrinkResult,
    /// Live LRU entries the walk looked at.
    pub scanned: u64,
    /// Entries written back to a device (`written_back_pages`).
    pub written: u64,
    /// Their compressed bytes.
    pub written_bytes: u64,
    /// Referenced entries given a second chance (bit cleared, rotated).
    pub second_chances: u64,
    /// The walk stopped at a page already in the swap cache (-EEXIST: the warm region).
    /// Only the shrinker's walk (`shrink_memcg`) stops there; the worker's goes on.
    pub swap_cache_hit: bool,
    /// `LruPolicy::Protection` only: the walk refused to shrink into the protected region
    /// (`nr_protected >= lru_size - nr`, `SHRINK_STOP`).
    pub protected_stop: bool,
}

/// `shrink_memcg`'s return value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ShrinkResult {
    /// At least one entry was written back (0).
    Written,
    /// Candidates were walked but none was written (-EAGAIN).
    #[default]
    Again,
    /// Not a candidate (-ENOENT): writeback disabled, the memcg offline (its LRU
    /// reparented), or an empty LRU.
    NotCandidate,
}

/// What one run of the global shrink worker (`shrink_worker`) did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ShrinkReport {
    /// Pages written back.
    pub written: u64,
    /// Their compressed bytes.
    pub written_bytes: u64,
    /// Pages written back per memcg (the memcg whose LRU held them), in first-visit order.
    pub by_memcg: Vec<(crate::MemcgId, u64)>,
    /// `shrink_memcg` calls made.
    pub visits: u64,
    /// Failures counted (`MAX_RECLAIM_RETRIES` is 16).
    pub failures: u32,
    /// Why the worker stopped.
    pub stop: ShrinkStop,
}

/// Why `run_shrink_worker` returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ShrinkStop {
    /// Not queued: no store asked for it (the work item was not pending).
    #[default]
    Idle,
    /// The pool is at or below the accept threshold.
    BelowAccept,
    /// 16 failures (`MAX_RECLAIM_RETRIES`).
    Failures,
    /// `writeback_pause`: a rejection or device swap-in was too recent; the worker stays
    /// pending and may write again from this tick.
    Paused {
        /// The first tick at which the worker may write again.
        until: crate::Tick,
    },
    /// Legacy worker only: a memcg had writeback disabled (`shrink_memcg` gave -EINVAL).
    WritebackDisabled,
}

/// Deprecated name of [`ZswapPriorityStat`].
#[deprecated(since = "0.2.0", note = "renamed to `ZswapPriorityStat`")]
pub type ZswapTierStat = ZswapPriorityStat;
