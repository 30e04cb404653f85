//! `Config` and `ZswapConfig` (`docs/api.md`, "Construction and configuration").

/// Whole-system configuration. Plain data with public fields and `Default`.
///
/// `Config::default()`: 1 GiB of RAM (`ram_pages` 262144), 4 CPUs, 512-slot clusters
/// (`cluster_shift` 9), [`ZswapConfig::default()`], 4 swap tiers at most.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Pages of RAM the simulated machine has: `totalram_pages`, which sizes the zswap
    /// pool limit (docs/kernel.md §5.4). Default `1 << 18` (262144 pages, 1 GiB).
    pub ram_pages: u64,
    /// CPU indices callers may pass: `0..cpus` (per-CPU allocation caches,
    /// `percpu_swap_cluster`). Default 4.
    pub cpus: usize,
    /// log2 of the slots per cluster: 9 (512, `SWAPFILE_CLUSTER` with THP_SWAP on x86_64)
    /// by default; 2..=9 accepted, smaller for tests and loom models.
    pub cluster_shift: u32,
    /// The zswap module parameters.
    pub zswap: ZswapConfig,
    /// `CONFIG_NR_SWAP_TIERS`: how many swap tiers may exist at once (1..=31, default 4).
    pub nr_swap_tiers: u8,
}

impl Default for Config {
    fn default() -> Self {
        Self { ram_pages: 1 << 18, cpus: 4, cluster_shift: 9, zswap: ZswapConfig::default(), nr_swap_tiers: 4 }
    }
}

/// zswap's module parameters (`/sys/module/zswap/parameters/*`). They take effect with
/// the zswap backend; `SwapSystem::new` validates them now.
///
/// `ZswapConfig::default()`: a pool of at most 20 % of RAM accepting again below 90 % of
/// that, enabled, shrinker off, the worker started on a full pool, second-chance LRU, lz4
/// with one compression priority (1, lz4), no writeback pause, the current worker,
/// incompressible pages stored as-is and a store over `memory.zswap.max` walking one entry
/// (the kernel behaviours where the lab kernels differ: 7.2's, see
/// `reject_incompressible` and `store_shrink_batch`).
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
    /// When the global shrink worker starts (default [`ShrinkStart::PoolFull`]).
    pub shrink_start: ShrinkStart,
    /// The LRU aging policy of the memcg-aware shrinker (default
    /// [`LruPolicy::SecondChance`]).
    pub lru: LruPolicy,
    /// How pages are compressed: real bytes ([`CompressionMode::Lz4`], which then means "with
    /// each page's compression priority") or synthetic sizes. Default [`CompressionMode::Lz4`].
    pub compressor: CompressionMode,
    /// The registered compression priorities (zswap's per-compressor `zswap_pool`s, held at
    /// once). Priority 1 must be present: it is the default tier of every memcg that
    /// neither it nor an ancestor sets [`Knob::ZswapCompressionPriority`](crate::Knob) for.
    /// Default: one tier, priority 1, lz4, synthetic sizes as stated (today's behaviour).
    pub compression_priorities: Vec<CompressionPriority>,
    /// Pause the global shrink worker this long after a rejected store or a device
    /// swap-in (the 2024 series' patch 6); None by default.
    pub writeback_pause: Option<crate::Tick>,
    /// Run the global shrink worker as it was before the 2024 fixes (v6.8): one entry per
    /// visit, an offline memcg or an empty one counts as a failure, an offline one
    /// restarts the walk from the root, a writeback-disabled one ends it. Default false.
    pub legacy_worker: bool,
    /// Reject a page that does not compress instead of storing it as-is (`zswap_compress`,
    /// docs/kernel.md §5.2 step 5). A page does not compress when the compressor fails or
    /// gives 0 bytes or `PAGE_SIZE` or more.
    ///
    /// * false (default; 7.2 and 7.3, zswap.c:zswap_compress): while writeback is enabled
    ///   for the memcg the page is stored uncompressed, `PAGE_SIZE` bytes charged to the
    ///   memcg, counted in `stored_incompressible_pages` and the memcg's `zswap_incomp`, so
    ///   it keeps its LRU place for writeback; with writeback disabled it is rejected.
    /// * true (6.12, zswap.c:zswap_compress, which has no as-is case): it is always
    ///   rejected, `reject_compress_poor` when the compressor ran out of room (-ENOSPC),
    ///   `reject_compress_fail` otherwise (lz4's output not fitting the page is -EINVAL),
    ///   and the folio goes to a swap device (or stays resident without writeback).
    ///   6.12 would store a compressor result of exactly `PAGE_SIZE` bytes as an entry of
    ///   that length; the crate rejects it with the others.
    pub reject_incompressible: bool,
    /// How many entries of the memcg's own zswap LRU a store walks when the memcg is over
    /// `memory.zswap.max` somewhere up the tree (`zswap_store` → `shrink_memcg(memcg)`,
    /// docs/kernel.md §5.2 step 2); the store goes on if at least one was written back,
    /// and is refused otherwise. As in every crate walk, referenced entries get a second
    /// chance and the walk never visits more entries than the LRU holds.
    ///
    /// * 1 (default; 6.12 to 7.2, zswap.c:shrink_memcg: `nr_to_walk = 1` per node), so a
    ///   store over the limit writes back at most one entry, after its referenced bit has
    ///   been cleared by an earlier walk;
    /// * 32 (7.3, zswap.c:shrink_memcg: `SWAP_CLUSTER_MAX` per node): a store over the
    ///   limit writes back up to 32 of the memcg's oldest entries.
    ///
    /// 7.3's global worker walks the same 32 per visit; the crate's worker has its own
    /// batch (see `legacy_worker`). 1..=255: `SwapSystem::new` refuses 0 (a `u8`, so the
    /// field fits the struct's padding and the system's footprint stays as it was).
    pub store_shrink_batch: u8,
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
            compressor: CompressionMode::Lz4,
            compression_priorities: vec![CompressionPriority::default()],
            writeback_pause: None,
            legacy_worker: false,
            reject_incompressible: false,
            store_shrink_batch: 1,
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

/// How zswap gets each page's compressed size: by compressing the real bytes or as the
/// caller states it. (Which algorithm compresses real bytes is a
/// [`CompressionPriority`]'s.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum CompressionMode {
    /// lz4 on real page bytes.
    #[default]
    Lz4,
    /// The caller states each page's compressed size (`Page::Synthetic`).
    Synthetic,
}

/// A compression priority: a compression algorithm registered at a priority (1..=4),
/// zram's `comp_algorithm` / `recomp_algorithm ... priority=N`. (Formerly "compression
/// tier"; a *swap tier* is a [`crate::SwapTier`], a range of device priorities.)
///
/// Kernel counterparts: zswap's `zswap_pool` (one per compressor; mainline keeps several
/// only while an old one drains after a `zswap.compressor` change, and stores always go to
/// the newest) and zram's multi-stream compression (`comp_algorithm` at priority 0 and up
/// to three `recomp_algorithm` entries at priorities 1..=3). The crate keeps every tier
/// live at once and lets each memcg pick one for new stores (the out-of-tree `zram.prio`
/// hack, done per memcg on zswap); it numbers priorities 1..=4, 1 being the primary
/// (zram's 0). Every entry remembers the tier that compressed it and is always loaded with
/// it, as a `zswap_entry` keeps its `pool`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct CompressionPriority {
    /// 1..=4; unique among the registered tiers. Higher is meant to be denser and slower
    /// (zram's recompression goes up in priority).
    pub priority: u8,
    /// The compressor for real page bytes.
    pub algorithm: Algorithm,
    /// Synthetic pages ([`CompressionMode::Synthetic`], or [`crate::Page::Synthetic`] with
    /// real-byte compressors): a page the caller states compresses to `n` bytes is stored
    /// in `ceil(n * synthetic_permille / 1000)` bytes (1..=1000; 1000, the default,
    /// stores `n`). Incompressible sizes (0, or a page or more) stay incompressible.
    pub synthetic_permille: u16,
}

impl Default for CompressionPriority {
    /// Priority 1, lz4, synthetic sizes as stated.
    fn default() -> Self {
        Self::lz4(1)
    }
}

impl CompressionPriority {
    /// lz4 at `priority`, synthetic sizes as stated.
    pub const fn lz4(priority: u8) -> Self {
        Self { priority, algorithm: Algorithm::Lz4, synthetic_permille: 1000 }
    }

    /// Raw deflate at `level` (1..=10, as `miniz_oxide` numbers them) at `priority`,
    /// synthetic sizes as stated.
    pub const fn deflate(priority: u8, level: u8) -> Self {
        Self { priority, algorithm: Algorithm::Deflate { level }, synthetic_permille: 1000 }
    }

    /// The same tier with synthetic sizes scaled by `permille / 1000`.
    pub const fn with_synthetic_permille(self, permille: u16) -> Self {
        Self { synthetic_permille: permille, ..self }
    }

    /// The lowest and highest tier priority (`1..=4`; zram's `ZRAM_MAX_COMPS` is 4).
    pub const PRIORITIES: std::ops::RangeInclusive<u8> = 1..=4;
}

/// A compressor for real page bytes. Pure Rust, deterministic on every platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[non_exhaustive]
pub enum Algorithm {
    /// lz4 block format (`lz4_flex`): the fast default (the kernel's `lz4`).
    #[default]
    Lz4,
    /// Raw deflate (`miniz_oxide`, no zlib header) at `level` 1..=10: denser and slower
    /// (the kernel's `deflate` crypto compressor; zram users pick `zstd` or `deflate` as a
    /// recompression algorithm).
    Deflate {
        /// The compression level, 1 (fastest) ..= 10 (densest).
        level: u8,
    },
}

/// Deprecated name of [`CompressionMode`] (the config enum; the compressor trait is
/// [`crate::zswap::PageCompressor`]).
#[deprecated(since = "0.2.0", note = "renamed to `CompressionMode`")]
pub type Compressor = CompressionMode;

/// Deprecated name of [`CompressionPriority`] ("tier" now means a swap tier only).
#[deprecated(since = "0.2.0", note = "renamed to `CompressionPriority`")]
pub type CompressionTier = CompressionPriority;
