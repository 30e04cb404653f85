//! Helpers the backend and cgroup specifications share: small systems and pages.
// Each test crate uses a different subset.
#![allow(dead_code)]

use vswap::*;

pub const PAGE: u64 = PAGE_SIZE as u64;

pub fn config() -> Config {
    Config { cluster_shift: 3, ram_pages: 1 << 12, cpus: 2, ..Config::default() }
}

pub fn system() -> SwapSystem {
    SwapSystem::new(config()).unwrap()
}

pub fn system_with(f: impl FnOnce(&mut Config)) -> SwapSystem {
    let mut cfg = config();
    f(&mut cfg);
    SwapSystem::new(cfg).unwrap()
}

/// A system whose zswap is off, so every non-zero page goes to a device.
pub fn system_without_zswap() -> SwapSystem {
    system_with(|c| c.zswap.enabled = false)
}

/// A system with the synthetic compressor (`Page::Synthetic` only).
pub fn synthetic_system() -> SwapSystem {
    system_with(|c| c.zswap.compressor = CompressionMode::Synthetic)
}

/// A page lz4 compresses far below a page: a short pattern repeated (built once and
/// copied: a page-long iterator is most of a small test's time under Miri).
pub fn compressible(seed: u8) -> Vec<u8> {
    let pattern: Vec<u8> = (0..64u8).map(|i| i ^ seed | 1).collect();
    pattern.repeat(PAGE_SIZE / 64)
}

/// A page lz4 cannot shrink: xorshift64 output.
pub fn incompressible(seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(PAGE_SIZE);
    while out.len() < PAGE_SIZE {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out
}

pub fn zeros() -> Vec<u8> {
    vec![0; PAGE_SIZE]
}

/// `folio_alloc_swap` plus one PTE reference: a cached slot with count 1.
pub fn mapped(sys: &SwapSystem, cg: MemcgId, pfn: u64) -> VSlot {
    let s = sys.alloc(0, cg, FolioId(pfn), 0).unwrap();
    assert_eq!(sys.dup(s).unwrap(), 1);
    s
}

/// Write a mapped slot of `cg` out with `page`, which zswap must take, and evict it:
/// the slot and its compressed size.
pub fn stored(sys: &SwapSystem, cg: MemcgId, pfn: u64, page: Page<'_>) -> (VSlot, u32) {
    let s = mapped(sys, cg, pfn);
    let Ok(Writeout::Zswap { compressed }) = sys.writeout(s, page) else { panic!("pfn {pfn} not stored in zswap") };
    sys.evict(s, Shadow(pfn)).unwrap();
    (s, compressed)
}

/// Fault `s`, which zswap holds, back in: the bytes it returns.
pub fn zswap_load(sys: &SwapSystem, s: VSlot, pfn: u64) -> Vec<u8> {
    let mut out = vec![0xa5; PAGE_SIZE];
    let f = sys.fault(0, s, FolioId(pfn), Some(&mut out)).unwrap();
    assert_eq!(f.source, FaultSource::Zswap);
    out
}

/// `unique` bytes of words (`PAGE_SIZE` divides by it), repeated to fill a page.
pub fn words(seed: u64, unique: usize) -> Vec<u8> {
    const WORDS: [&str; 16] = [
        "the",
        "swap",
        "table",
        "cluster",
        "memory",
        "cgroup",
        "zswap",
        "entry",
        "is",
        "of",
        "and",
        "page",
        "slot",
        "writeback",
        "compressed",
        "virtual",
    ];
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(unique + 16);
    while out.len() < unique {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(WORDS[(x % 16) as usize].as_bytes());
        out.push(if x % 11 == 0 { b'.' } else { b' ' });
    }
    out.truncate(unique);
    out.repeat(PAGE_SIZE / unique)
}

/// Reclaim one mapped page of `cg`: write it out and, unless nothing took it, evict it.
pub fn swap_out(sys: &SwapSystem, cg: MemcgId, pfn: u64, page: Page<'_>) -> (VSlot, Writeout) {
    let s = mapped(sys, cg, pfn);
    let w = sys.writeout(s, page).unwrap();
    if !matches!(w, Writeout::Kept(_)) {
        sys.evict(s, Shadow(pfn)).unwrap();
    }
    (s, w)
}

/// Three incompressible pages of `cg` (pfns 8, 16, 24) swapped out, each of them to
/// `dev`: the pages and their slots.
pub fn three_on_device(sys: &SwapSystem, cg: MemcgId, dev: DeviceId) -> (Vec<Vec<u8>>, Vec<VSlot>) {
    let pages: Vec<Vec<u8>> = (1..4).map(incompressible).collect();
    let slots = (1u64..)
        .zip(&pages)
        .map(|(i, p)| {
            let (s, w) = swap_out(sys, cg, i * 8, Page::Bytes(p));
            assert_eq!(w, Writeout::Device(dev), "pfn {}", i * 8);
            s
        })
        .collect();
    (pages, slots)
}

/// The device's used slots (`/proc/swaps` Used, with its header slot).
pub fn used(sys: &SwapSystem, dev: DeviceId) -> u64 {
    sys.device_stat(dev).unwrap().used
}
