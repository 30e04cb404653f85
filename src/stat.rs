//! Reports: `GlobalStat` and `Footprint` (`API.md`).

/// System-wide counters: zswap's debugfs counters, the vmstat swap events, and the
/// swap table's gauges. Event counters count pages, sizes are bytes.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct GlobalStat {
    pub pool_limit_hit: u64,
    pub pool_total_size: u64,
    pub stored_pages: u64,
    pub stored_incompressible_pages: u64,
    pub written_back_pages: u64,
    pub reject_reclaim_fail: u64,
    pub reject_alloc_fail: u64,
    pub reject_compress_fail: u64,
    pub reject_compress_poor: u64,
    pub decompress_fail: u64,
    pub zswpin: u64,
    pub zswpout: u64,
    pub zswpwb: u64,
    pub pswpin: u64,
    pub pswpout: u64,
    pub swpin_zero: u64,
    pub swpout_zero: u64,
    /// Allocated virtual slots (the sum of every live cluster's `count`).
    pub vslots_in_use: u64,
    /// Live clusters of the virtual space.
    pub clusters_live: u64,
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
}

impl Footprint {
    /// `heap_bytes / vslots_in_use`, or 0.0 when nothing is in use.
    pub fn bytes_per_used_slot(&self) -> f64 {
        if self.vslots_in_use == 0 { 0.0 } else { self.heap_bytes as f64 / self.vslots_in_use as f64 }
    }
}
