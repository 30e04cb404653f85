//! `Config` and `ZswapConfig` (`API.md`, "Construction and configuration").

/// Whole-system configuration. Plain data with public fields and `Default`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Pages of RAM the simulated machine has (sizes the zswap pool limit).
    pub ram_pages: u64,
    /// CPU indices callers may pass: `0..cpus` (per-CPU allocation caches).
    pub cpus: usize,
    /// log2 of the slots per cluster: 9 (512, `SWAPFILE_CLUSTER` with THP_SWAP on x86_64)
    /// by default; 2..=9 accepted, smaller for tests and loom models.
    pub cluster_shift: u32,
    /// The zswap module parameters.
    pub zswap: ZswapConfig,
}

impl Default for Config {
    fn default() -> Self {
        Self { ram_pages: 1 << 18, cpus: 4, cluster_shift: 9, zswap: ZswapConfig::default() }
    }
}

/// zswap's module parameters (`/sys/module/zswap/parameters/*`). They take effect with
/// the zswap backend; `SwapSystem::new` validates them now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZswapConfig {
    /// `max_pool_percent`: the pool limit as a percentage of RAM (default 20).
    pub max_pool_percent: u32,
    /// `accept_threshold_percent`: after a full pool, accept stores again below this
    /// percentage of the limit (default 90; 100 disables the hysteresis).
    pub accept_threshold_percent: u32,
    /// `enabled` (default true).
    pub enabled: bool,
    /// `shrinker_enabled` (default false, as without `CONFIG_ZSWAP_SHRINKER_DEFAULT_ON`).
    pub shrinker_enabled: bool,
    /// When the global shrink worker starts.
    pub shrink_start: ShrinkStart,
    /// The LRU aging policy of the memcg-aware shrinker.
    pub lru: LruPolicy,
    /// How pages are compressed.
    pub compressor: Compressor,
    /// Pause the global shrink worker this long after a rejected store or a device
    /// swap-in (the 2024 series' patch 6); None by default.
    pub writeback_pause: Option<crate::Tick>,
    /// Run the global shrink worker as it was before the 2024 fixes (v6.8): one entry per
    /// visit, an offline memcg or an empty one counts as a failure, an offline one
    /// restarts the walk from the root, a writeback-disabled one ends it. Default false.
    pub legacy_worker: bool,
}

impl Default for ZswapConfig {
    fn default() -> Self {
        Self {
            max_pool_percent: 20,
            accept_threshold_percent: 90,
            enabled: true,
            shrinker_enabled: false,
            shrink_start: ShrinkStart::PoolFull,
            lru: LruPolicy::SecondChance,
            compressor: Compressor::Lz4,
            writeback_pause: None,
            legacy_worker: false,
        }
    }
}

/// When the global shrink worker is queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum ShrinkStart {
    /// Mainline: when a store hits the pool limit; stores are refused until the pool is
    /// below the accept threshold (hysteresis).
    #[default]
    PoolFull,
    /// The 2024 "proactive shrink" series: start at accept + 1 %, shrink to accept, keep
    /// accepting stores meanwhile.
    Proactive,
}

/// The zswap LRU's protection of recently stored entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum LruPolicy {
    /// A referenced bit per entry and second chance on scan (mainline since 2024).
    #[default]
    SecondChance,
    /// The 2023 protection scheme (`nr_zswap_protected`), for comparison.
    Protection,
}

/// How zswap compresses pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum Compressor {
    /// lz4 on real page bytes.
    #[default]
    Lz4,
    /// The caller states each page's compressed size (`Page::Synthetic`).
    Synthetic,
}
