//! Compression of one page (`crypto_acomp` as zswap uses it, `zswap_compress` /
//! `zswap_decompress`).

use crate::PAGE_SIZE;

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
