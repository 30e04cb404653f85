//! Compression of one page (`crypto_acomp` as zswap uses it, `zswap_compress` /
//! `zswap_decompress`): the page compressors ([`PageCompressor`]) and the registered
//! compression priorities (`Priorities`), each an algorithm at a priority 1..=4.
//!
//! Invariants:
//! * Compressors are deterministic: the same page gives the same bytes on every platform,
//!   so reports and tests do not depend on the machine.
//! * The registry is validated once, at `SwapSystem::new` (priorities in 1..=4, unique,
//!   1 present), and never changes afterwards: an entry's priority always names the
//!   compressor that can decompress it.
//! * Reusable compressor state is scratch: it never changes the output (each state is
//!   reset before use) and is not counted in the footprint.

use crate::PAGE_SIZE;
use crate::config::{Algorithm, CompressionPriority};
use crate::sync::{Mutex, lock};
use miniz_oxide::deflate::core::{
    CompressorOxide, TDEFLFlush, TDEFLStatus, compress as deflate, create_comp_flags_from_zip_params,
};

/// Why a page did not compress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompressError {
    /// The output did not fit in a page (-ENOSPC): counted as `reject_compress_poor`.
    NoSpace,
    /// Any other compressor failure: counted as `reject_compress_fail`.
    Failed,
}

/// A page compressor. Implementations must be deterministic: the same page gives the same
/// output on every platform.
pub trait PageCompressor: Send + Sync + std::fmt::Debug {
    /// The `zswap.compressor` name.
    fn name(&self) -> &'static str;
    /// Compress `page` (`PAGE_SIZE` bytes) into `dst` ([`DST_LEN`] bytes): the length used.
    /// A result of a page or more is a useless result, counted as `reject_compress_fail`
    /// (-EINVAL, as the kernel's lz4 reports output that does not fit); return
    /// `Err(NoSpace)` for -ENOSPC.
    fn compress(&self, page: &[u8], dst: &mut [u8]) -> Result<usize, CompressError>;
    /// Decompress `src` into `dst` (`PAGE_SIZE` bytes): the length produced.
    fn decompress(&self, src: &[u8], dst: &mut [u8]) -> Result<usize, CompressError>;
}

/// The destination buffer `PageCompressor::compress` gets: room for lz4's worst case.
pub const DST_LEN: usize = 2 * PAGE_SIZE;

/// lz4 block compression (`lz4`, the crate's default; pure Rust, `lz4_flex`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Lz4;

impl PageCompressor for Lz4 {
    fn name(&self) -> &'static str {
        "lz4"
    }
    fn compress(&self, page: &[u8], dst: &mut [u8]) -> Result<usize, CompressError> {
        lz4_flex::block::compress_into(page, dst).map_err(|_| CompressError::NoSpace)
    }
    fn decompress(&self, src: &[u8], dst: &mut [u8]) -> Result<usize, CompressError> {
        lz4_flex::block::decompress_into(src, dst).map_err(|_| CompressError::Failed)
    }
}

/// Raw deflate (`deflate`; pure Rust, `miniz_oxide`, no zlib header or checksum) at
/// `level` 1..=10: denser than lz4 on text and other redundant pages, and slower.
///
/// Its compressor state (`miniz_oxide`'s `CompressorOxide`, ~300 KiB of dictionary, hash
/// chains and code buffers) is reused: the kernel keeps one `crypto_acomp_ctx` per CPU
/// per `zswap_pool` (its `acomp_ctx`, taken under its mutex for each compression), made
/// once, not per store. The facade's stores name no CPU, so a registered priority keeps a small stack
/// of idle states instead: a compression pops one (or makes one when all are in use) and
/// pushes it back, so there are as many as stores ever ran at once with it. Each is reset
/// before use, so the output is that of a fresh compressor
/// (`miniz_oxide::deflate::compress_to_vec`), byte for byte, and is written straight into
/// the destination. The states are scratch, not metadata: `footprint()` leaves them out,
/// as it leaves out the kernel's per-CPU buffers.
pub struct Deflate {
    level: u8,
    /// The idle states, each made with `level`'s flags (raw deflate).
    idle: Mutex<Vec<Box<CompressorOxide>>>,
}

impl Deflate {
    /// Raw deflate at `level` (`miniz_oxide`'s numbering, 1..=10; others are clamped by
    /// it). No compressor state is made until the first compression.
    pub fn new(level: u8) -> Self {
        Self { level, idle: Mutex::new(Vec::new()) }
    }

    /// Its level.
    pub fn level(&self) -> u8 {
        self.level
    }

    /// An idle state, reset, or a new one: `compress_to_vec`'s flags for `level`.
    fn take(&self) -> Box<CompressorOxide> {
        let idle = lock(&self.idle).pop();
        match idle {
            Some(mut st) => {
                st.reset();
                st
            }
            None => Box::new(CompressorOxide::new(create_comp_flags_from_zip_params(self.level.into(), 0, 0))),
        }
    }
}

impl std::fmt::Debug for Deflate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deflate").field("level", &self.level).finish_non_exhaustive()
    }
}

impl PageCompressor for Deflate {
    fn name(&self) -> &'static str {
        "deflate"
    }
    fn compress(&self, page: &[u8], dst: &mut [u8]) -> Result<usize, CompressError> {
        let mut st = self.take();
        let (status, read, written) = deflate(&mut st, page, dst, TDEFLFlush::Finish);
        lock(&self.idle).push(st);
        match status {
            TDEFLStatus::Done if read == page.len() => Ok(written),
            // Everything read but not all written: `dst` is full (-ENOSPC).
            TDEFLStatus::Okay => Err(CompressError::NoSpace),
            _ => Err(CompressError::Failed),
        }
    }
    fn decompress(&self, src: &[u8], dst: &mut [u8]) -> Result<usize, CompressError> {
        miniz_oxide::inflate::decompress_slice_iter_to_slice(dst, std::iter::once(src), false, true)
            .map_err(|_| CompressError::Failed)
    }
}

/// The registered compression priorities, by priority (`ZswapConfig::compression_priorities`,
/// validated): what a store compresses with and a load decompresses with.
#[derive(Debug)]
pub(crate) struct Priorities {
    by_prio: [Option<Registered>; 4],
}

/// A registered tier and its compressor (with the compressor's reusable state).
#[derive(Debug)]
struct Registered {
    cfg: CompressionPriority,
    codec: Codec,
}

#[derive(Debug)]
enum Codec {
    Lz4(Lz4),
    Deflate(Deflate),
}

impl Registered {
    fn compressor(&self) -> &dyn PageCompressor {
        match &self.codec {
            Codec::Lz4(c) => c,
            Codec::Deflate(c) => c,
        }
    }
}

impl Priorities {
    /// Validate `tiers`: priorities in 1..=4, unique, 1 present; deflate levels 1..=10;
    /// `synthetic_permille` in 1..=1000.
    pub(crate) fn new(tiers: &[CompressionPriority]) -> Result<Self, crate::Error> {
        use crate::Error::Invalid;
        let mut by_prio = [const { None }; 4];
        for t in tiers {
            if !CompressionPriority::PRIORITIES.contains(&t.priority) {
                return Err(Invalid("compression priorities must be in 1..=4"));
            }
            let slot = &mut by_prio[usize::from(t.priority - 1)];
            if slot.is_some() {
                return Err(Invalid("two compression priorities with the same priority"));
            }
            let codec = match t.algorithm {
                Algorithm::Lz4 => Codec::Lz4(Lz4),
                Algorithm::Deflate { level } if (1..=10).contains(&level) => Codec::Deflate(Deflate::new(level)),
                Algorithm::Deflate { .. } => return Err(Invalid("deflate levels must be in 1..=10")),
            };
            if !(1..=1000).contains(&t.synthetic_permille) {
                return Err(Invalid("synthetic_permille must be in 1..=1000"));
            }
            *slot = Some(Registered { cfg: *t, codec });
        }
        if by_prio[0].is_none() {
            return Err(Invalid("compression priority 1 (the default) must be registered"));
        }
        Ok(Self { by_prio })
    }

    /// The tier registered at `priority`, if any.
    fn tier(&self, priority: u8) -> Option<&Registered> {
        self.by_prio.get(usize::from(priority).wrapping_sub(1))?.as_ref()
    }

    /// The configuration of the tier registered at `priority`, if any.
    pub(crate) fn get(&self, priority: u8) -> Option<&CompressionPriority> {
        self.tier(priority).map(|t| &t.cfg)
    }

    /// Whether a compressor is registered at `priority`.
    pub(crate) fn registered(&self, priority: u8) -> bool {
        self.get(priority).is_some()
    }

    /// Compress a page of real bytes with the tier at `priority` (registered).
    pub(crate) fn compress(&self, priority: u8, page: &[u8], dst: &mut [u8]) -> Result<usize, CompressError> {
        self.tier(priority).ok_or(CompressError::Failed)?.compressor().compress(page, dst)
    }

    /// Decompress an entry the tier at `priority` compressed.
    pub(crate) fn decompress(&self, priority: u8, src: &[u8], dst: &mut [u8]) -> Result<usize, CompressError> {
        self.tier(priority).ok_or(CompressError::Failed)?.compressor().decompress(src, dst)
    }

    /// The size the tier at `priority` gives a synthetic page stated at `compressed_len`:
    /// scaled by its `synthetic_permille` (rounded up) when it is a useful size (1 byte up
    /// to less than a page), unchanged otherwise.
    pub(crate) fn synthetic_len(&self, priority: u8, compressed_len: u32) -> u32 {
        let permille = self.get(priority).map_or(1000, |t| u32::from(t.synthetic_permille));
        if permille == 1000 || compressed_len == 0 || compressed_len as usize >= PAGE_SIZE {
            return compressed_len;
        }
        (compressed_len * permille).div_ceil(1000)
    }
}

/// `zswap_compress`'s verdict on one page: the stored length, or the reject counter.
/// `Err(NoSpace)` is `reject_compress_poor`, `Err(Failed)` is `reject_compress_fail`.
/// A page that does not compress (an error, 0 bytes, or `PAGE_SIZE` or more) is stored
/// as-is when `as_is` (writeback enabled and `ZswapConfig::reject_incompressible` off:
/// 7.2, 7.3) with `length == PAGE_SIZE`; otherwise (6.12 always) an error from the
/// compressor keeps its kind and a useless result is `Failed` (-EINVAL).
pub(crate) fn verdict(result: Result<usize, CompressError>, as_is: bool) -> Result<usize, CompressError> {
    match result {
        Ok(n) if n != 0 && n < PAGE_SIZE => Ok(n),
        _ if as_is => Ok(PAGE_SIZE),
        Ok(_) => Err(CompressError::Failed),
        Err(e) => Err(e),
    }
}

/// The compressor's answer for a synthetic page of `compressed_len` bytes: more than a
/// page did not fit (-ENOSPC); 0 or exactly a page is a useless result.
pub(crate) fn synthetic(compressed_len: u32) -> Result<usize, CompressError> {
    if compressed_len as usize > PAGE_SIZE { Err(CompressError::NoSpace) } else { Ok(compressed_len as usize) }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pages deflate sees differently: a short repeating pattern, zeros, text-like bytes
    /// and pseudo-random (incompressible: stored blocks, a little over a page). Under
    /// Miri the pattern alone: each deflate of a page costs Miri seconds.
    fn pages() -> Vec<Vec<u8>> {
        let pattern = (0..PAGE_SIZE).map(|i| (i % 7) as u8).collect();
        if cfg!(miri) {
            return vec![pattern];
        }
        let mut x = 0x9e37_79b9_7f4a_7c15_u64;
        let mut random = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let text = (0..PAGE_SIZE).map(|_| b"swap table cluster zswap "[(random() % 25) as usize]).collect();
        let noise = (0..PAGE_SIZE).map(|_| random() as u8).collect();
        vec![pattern, vec![0u8; PAGE_SIZE], text, noise]
    }

    /// Reusing a reset state gives the bytes a fresh one gives (`compress_to_vec`), at
    /// levels 1 and 9: after a compression that ran out of room (the state is left
    /// mid-stream), after a complete one of the same page, and after one of another page.
    /// Ignored under Miri: it compares safe code with itself on the same target, and costs
    /// ~13 s of Miri's clock on each of CI's three targets even with one page
    /// (`cargo miri test --lib deflate -- --ignored` runs it).
    #[test]
    #[cfg_attr(miri, ignore = "safe code compared with itself; ~13 s of Miri's clock")]
    fn deflate_reuse_matches_compress_to_vec() {
        for level in [1, 9] {
            let d = Deflate::new(level);
            let mut dst = vec![0u8; DST_LEN];
            for (i, p) in pages().iter().enumerate() {
                let want = miniz_oxide::deflate::compress_to_vec(p, level);
                if i == 0 {
                    assert_eq!(d.compress(p, &mut dst[..want.len() - 1]), Err(CompressError::NoSpace));
                }
                for round in 0..2 {
                    let n = d.compress(p, &mut dst).unwrap();
                    assert_eq!(&dst[..n], &want[..], "level {level}, page {i}, round {round}");
                }
                let mut back = vec![0u8; PAGE_SIZE];
                assert_eq!(d.decompress(&want, &mut back), Ok(PAGE_SIZE));
                assert!(back == *p, "level {level}, page {i}");
            }
            // One state served every compression, one at a time.
            assert_eq!(lock(&d.idle).len(), 1);
        }
    }
}
