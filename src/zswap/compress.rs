//! Compression of one page (`crypto_acomp` as zswap uses it, `zswap_compress` /
//! `zswap_decompress`).

use crate::PAGE_SIZE;
use crate::config::{Algorithm, CompressionTier};

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
pub trait Compressor: Send + Sync + std::fmt::Debug {
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

/// The destination buffer `Compressor::compress` gets: room for lz4's worst case.
pub const DST_LEN: usize = 2 * PAGE_SIZE;

/// lz4 block compression (`lz4`, the crate's default; pure Rust, `lz4_flex`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Lz4;

impl Compressor for Lz4 {
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
#[derive(Debug, Clone, Copy)]
pub struct Deflate {
    /// `miniz_oxide`'s level, 1..=10 (others are clamped by it).
    pub level: u8,
}

impl Compressor for Deflate {
    fn name(&self) -> &'static str {
        "deflate"
    }
    fn compress(&self, page: &[u8], dst: &mut [u8]) -> Result<usize, CompressError> {
        let out = miniz_oxide::deflate::compress_to_vec(page, self.level);
        let d = dst.get_mut(..out.len()).ok_or(CompressError::NoSpace)?;
        d.copy_from_slice(&out);
        Ok(out.len())
    }
    fn decompress(&self, src: &[u8], dst: &mut [u8]) -> Result<usize, CompressError> {
        miniz_oxide::inflate::decompress_slice_iter_to_slice(dst, std::iter::once(src), false, true)
            .map_err(|_| CompressError::Failed)
    }
}

/// The registered compression tiers, by priority (`ZswapConfig::compression_tiers`,
/// validated): what a store compresses with and a load decompresses with.
#[derive(Debug, Clone)]
pub(crate) struct Tiers {
    by_prio: [Option<CompressionTier>; 4],
}

impl Tiers {
    /// Validate `tiers`: priorities in 1..=4, unique, 1 present; deflate levels 1..=10;
    /// `synthetic_permille` in 1..=1000.
    pub(crate) fn new(tiers: &[CompressionTier]) -> Result<Self, crate::Error> {
        use crate::Error::Invalid;
        let mut by_prio = [None; 4];
        for t in tiers {
            if !CompressionTier::PRIORITIES.contains(&t.priority) {
                return Err(Invalid("compression tier priorities must be in 1..=4"));
            }
            let slot = &mut by_prio[usize::from(t.priority - 1)];
            if slot.is_some() {
                return Err(Invalid("two compression tiers with the same priority"));
            }
            if let Algorithm::Deflate { level } = t.algorithm {
                if !(1..=10).contains(&level) {
                    return Err(Invalid("deflate levels must be in 1..=10"));
                }
            }
            if !(1..=1000).contains(&t.synthetic_permille) {
                return Err(Invalid("synthetic_permille must be in 1..=1000"));
            }
            *slot = Some(*t);
        }
        if by_prio[0].is_none() {
            return Err(Invalid("compression tier priority 1 (the default) must be registered"));
        }
        Ok(Self { by_prio })
    }

    /// The tier registered at `priority`, if any.
    pub(crate) fn get(&self, priority: u8) -> Option<&CompressionTier> {
        self.by_prio.get(usize::from(priority).wrapping_sub(1))?.as_ref()
    }

    /// Whether a compressor is registered at `priority`.
    pub(crate) fn registered(&self, priority: u8) -> bool {
        self.get(priority).is_some()
    }

    /// Compress a page of real bytes with the tier at `priority` (registered).
    pub(crate) fn compress(&self, priority: u8, page: &[u8], dst: &mut [u8]) -> Result<usize, CompressError> {
        match self.get(priority).map(|t| t.algorithm) {
            Some(Algorithm::Lz4) => Lz4.compress(page, dst),
            Some(Algorithm::Deflate { level }) => Deflate { level }.compress(page, dst),
            None => Err(CompressError::Failed),
        }
    }

    /// Decompress an entry the tier at `priority` compressed.
    pub(crate) fn decompress(&self, priority: u8, src: &[u8], dst: &mut [u8]) -> Result<usize, CompressError> {
        match self.get(priority).map(|t| t.algorithm) {
            Some(Algorithm::Lz4) => Lz4.decompress(src, dst),
            Some(Algorithm::Deflate { level }) => Deflate { level }.decompress(src, dst),
            None => Err(CompressError::Failed),
        }
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
/// as-is when `writeback` allows it (`length == PAGE_SIZE`); otherwise an error from the
/// compressor keeps its kind and a useless result is `Failed` (-EINVAL).
pub(crate) fn verdict(result: Result<usize, CompressError>, writeback: bool) -> Result<usize, CompressError> {
    match result {
        Ok(n) if n != 0 && n < PAGE_SIZE => Ok(n),
        _ if writeback => Ok(PAGE_SIZE),
        Ok(_) => Err(CompressError::Failed),
        Err(e) => Err(e),
    }
}

/// The compressor's answer for a synthetic page of `compressed_len` bytes: more than a
/// page did not fit (-ENOSPC); 0 or exactly a page is a useless result.
pub(crate) fn synthetic(compressed_len: u32) -> Result<usize, CompressError> {
    if compressed_len as usize > PAGE_SIZE { Err(CompressError::NoSpace) } else { Ok(compressed_len as usize) }
}
