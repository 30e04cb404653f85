//! Loom models of vswap's lock-free protocols: see `tests/`.
//!
//! Shared helpers for the models. Every model builds its system with [`tiny`]: 4-slot
//! clusters (`cluster_shift: 2`) and two CPUs, so one cluster fills after four slots and
//! the directory (fan-out 4 under `cfg(loom)`) stays a few nodes deep.
//!
//! Every race model also declares the outcomes its race allows ([`Seen`]) and checks,
//! once `loom::model` has explored every interleaving, that each one occurred: a model
//! whose race was serialised by mistake fails instead of passing vacuously.

mod outcomes;

pub use outcomes::{Order, Seen, Span, span};

use vswap::{Config, SwapSystem};

/// The configuration every model uses: 4-slot clusters, two CPUs.
pub fn tiny_config() -> Config {
    Config { cluster_shift: 2, cpus: 2, ..Config::default() }
}

/// [`tiny_config`] with a zswap pool of 2 pages (50 % of 4 pages of RAM) that accepts
/// again at 0 and starts the worker proactively: the first store queues the worker, and
/// the worker writes until the pool is empty.
pub fn queued_worker_config() -> Config {
    let mut cfg = tiny_config();
    cfg.ram_pages = 4;
    cfg.zswap.max_pool_percent = 50;
    cfg.zswap.accept_threshold_percent = 0;
    cfg.zswap.shrink_start = vswap::ShrinkStart::Proactive;
    cfg
}

/// A fresh system with [`tiny_config`].
pub fn tiny() -> SwapSystem {
    SwapSystem::new(tiny_config()).expect("valid config")
}

/// Preemption bound of the facade-level models (`VSWAP_LOOM_FACADE_PREEMPTIONS`, default 1).
///
/// Every facade call pins a crossbeam-epoch collector whose own atomics (handle
/// registration, the SeqCst pin, the collection a handle's first pin runs, the bag pushed
/// when a thread exits) are loom-modelled too, so a two-thread facade model already has
/// hundreds of branch points. At bound 2 the alloc, cache-add, put/release and large
/// release models pass but take 0.5-4 minutes each on 2 cores; at bound 1 the suite
/// finishes in well under a minute. The bitmap model (no epoch) keeps
/// `LOOM_MAX_PREEMPTIONS`.
pub fn facade_preemptions() -> usize {
    std::env::var("VSWAP_LOOM_FACADE_PREEMPTIONS").ok().and_then(|v| v.parse().ok()).unwrap_or(1)
}

/// Run a facade-level model with [`facade_preemptions`] and room for the long
/// single-threaded setups (a count pushed to 16 is 16 pinned calls).
pub fn model<F>(f: F)
where
    F: Fn() + Sync + Send + 'static,
{
    model_with_preemptions(facade_preemptions(), f);
}

/// [`model`] with preemption bound `bound`: for the few facade models small enough to
/// explore at 2 in about a second, whose race needs a second preemption to reach all of
/// its outcomes (pass `facade_preemptions().max(2)`).
pub fn model_with_preemptions<F>(bound: usize, f: F)
where
    F: Fn() + Sync + Send + 'static,
{
    let mut b = loom::model::Builder::new();
    b.preemption_bound = Some(bound);
    b.max_branches = 50_000;
    b.check(f);
}

/// A distinctive page of `vswap::PAGE_SIZE` bytes for `seed`: no two seeds give the same
/// page and none is zero-filled (so `writeout` stores it rather than setting Z).
pub fn pattern(seed: u8) -> Vec<u8> {
    (0..vswap::PAGE_SIZE).map(|i| (i as u8).wrapping_mul(31) ^ ((i >> 8) as u8) ^ seed ^ 0x5a).collect()
}

/// The usual starting point of a writeback model: a memory device of 4 pages, and a slot
/// of `vswap::MemcgId::ROOT` holding `data` in zswap, evicted with shadow 3 and mapped
/// once (count 1). Returns the device and the slot.
pub fn evicted_to_zswap(sys: &SwapSystem, data: &[u8]) -> (vswap::DeviceId, vswap::VSlot) {
    use vswap::{DeviceSpec, FolioId, MemcgId, Page, Shadow, Writeout};
    let dev = sys.swapon(DeviceSpec::memory("swap0", 4)).unwrap();
    let slot = sys.alloc(0, MemcgId::ROOT, FolioId(5), 0).unwrap();
    assert_eq!(sys.dup(slot), Ok(1));
    assert!(matches!(sys.writeout(slot, Page::Bytes(data)), Ok(Writeout::Zswap { .. })));
    sys.evict(slot, Shadow(3)).unwrap();
    (dev, slot)
}

/// A model thread with room for deflate: loom's coroutine stacks are small, and deflate's
/// decompressor state (~11 KiB), its compressor state's first build (a 64 KiB code buffer
/// made on the stack, then boxed) and a store's 8 KiB buffer overflow them. The model's
/// main thread keeps loom's default stack, so deflate work goes on threads made here.
pub fn big_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> loom::thread::JoinHandle<T> {
    loom::thread::Builder::new().stack_size(1 << 20).spawn(f).expect("spawn")
}

/// [`tiny_config`] with two compression priorities, lz4 at priority 1 and deflate level 1 at
/// 2, and the compressed lengths of `data` under each. deflate's comes from a fresh
/// compressor: the crate's `Deflate` keeps its states in a (loom) mutex, which cannot be
/// made outside a model.
pub fn lz4_and_deflate(data: &[u8]) -> (Config, u64, u64) {
    use vswap::zswap::PageCompressor as _;
    let mut cfg = tiny_config();
    cfg.zswap.compression_priorities =
        vec![vswap::CompressionPriority::lz4(1), vswap::CompressionPriority::deflate(2, 1)];
    let mut buf = vec![0u8; vswap::zswap::DST_LEN];
    let lz4 = vswap::zswap::Lz4.compress(data, &mut buf).expect("lz4") as u64;
    (cfg, lz4, miniz_oxide::deflate::compress_to_vec(data, 1).len() as u64)
}
