//! Byte-exact page contents ([`fill_page`]): the kinds of [`Data`] a real process can
//! write (`zero`, `random`, `text`, `zero-fraction:F`), produced by the same code in the
//! kernel lab's guest program, which writes them into real memory, and in the simulator,
//! which compresses them with the library's lz4 ([`vswap::zswap::Lz4`], zswap's
//! `zswap_compress` with the `lz4` crypto compressor) to get each page's compressed size.
//!
//! Invariants: [`fill_page`] is a pure function of (kind, seed, region, page, version):
//! no I/O, no global state, no allocation, the same bytes on every platform (every
//! multi-byte value is written little-endian).

use super::{Data, PAGE_SIZE, PageData, mix64};
use vswap::zswap::{Compressor, DST_LEN, Lz4};

/// Bytes in a page ([`PAGE_SIZE`] as a length).
pub const PAGE_BYTES: usize = PAGE_SIZE as usize;

/// [`fill_page`] was asked for a synthetic kind (`ratio:R`, `incompressible`): those
/// state a compressed size and have no bytes a process could write.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NotByteExact(pub Data);

impl std::fmt::Display for NotByteExact {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "data {:?} has no byte-exact contents (use zero, random, text or zero-fraction:F)",
            self.0.to_string()
        )
    }
}

impl std::error::Error for NotByteExact {}

impl Data {
    /// Whether [`fill_page`] can produce this kind's bytes (the kinds an experiment of
    /// the kernel lab may use).
    pub fn is_byte_exact(&self) -> bool {
        matches!(self, Data::Zero | Data::Random | Data::Text | Data::ZeroFraction(_))
    }
}

/// The number of leading zero bytes of a `zero-fraction:F` page: round(F * 4096),
/// clamped to 0..=4096 (NaN gives 0).
pub fn zero_prefix(fraction: f64) -> usize {
    // `as` saturates: NaN and negatives give 0.
    ((fraction * PAGE_SIZE as f64).round() as usize).min(PAGE_BYTES)
}

/// The key of one version of one page: every byte of it derives from this.
fn page_key(seed: u64, region: usize, page: u64, version: u64) -> u64 {
    mix64(mix64(mix64(mix64(seed ^ 0x4C41_4250_4147_4521) ^ region as u64) ^ page) ^ version)
}

/// Random bytes from `key` into `out`: word i is mix64(key + i), little-endian (a
/// counter-mode SplitMix64 stream).
fn fill_random(key: u64, out: &mut [u8]) {
    for (i, chunk) in out.chunks_mut(8).enumerate() {
        let w = mix64(key.wrapping_add(i as u64)).to_le_bytes();
        chunk.copy_from_slice(&w[..chunk.len()]);
    }
}

/// The words text pages are made of: common English words, so that lz4 finds repeats
/// the way it does in logs and prose (lz4 keeps about 60 % of a page).
const WORDS: [&str; 64] = [
    "the",
    "of",
    "and",
    "to",
    "in",
    "is",
    "that",
    "for",
    "it",
    "as",
    "was",
    "with",
    "be",
    "by",
    "on",
    "not",
    "he",
    "this",
    "are",
    "or",
    "his",
    "from",
    "at",
    "which",
    "but",
    "have",
    "an",
    "had",
    "they",
    "you",
    "were",
    "their",
    "one",
    "all",
    "we",
    "can",
    "her",
    "has",
    "there",
    "been",
    "if",
    "more",
    "when",
    "will",
    "would",
    "who",
    "so",
    "no",
    "memory",
    "page",
    "swap",
    "kernel",
    "cgroup",
    "reclaim",
    "writeback",
    "compressed",
    "process",
    "limit",
    "pool",
    "device",
    "fault",
    "cache",
    "number",
    "value",
];

/// Text-like bytes from `key` into `out`: words drawn from [`WORDS`], separated by a
/// space, a line break after every 8 to 15 words, and a line number (decimal) at the
/// start of each line; the last word is cut at the end of the page.
fn fill_text(key: u64, out: &mut [u8]) {
    let mut pos = 0;
    let mut n = 0u64; // draws so far
    let mut line = 0u64;
    let mut draw = || {
        n += 1;
        mix64(key.wrapping_add(n))
    };
    fn put(out: &mut [u8], pos: &mut usize, bytes: &[u8]) {
        let take = bytes.len().min(out.len() - *pos);
        out[*pos..*pos + take].copy_from_slice(&bytes[..take]);
        *pos += take;
    }
    while pos < out.len() {
        line += 1;
        let mut digits = [0u8; 20];
        let mut d = digits.len();
        let mut v = line;
        loop {
            d -= 1;
            digits[d] = b'0' + (v % 10) as u8;
            v /= 10;
            if v == 0 {
                break;
            }
        }
        put(out, &mut pos, &digits[d..]);
        let words = 8 + draw() % 8;
        for _ in 0..words {
            put(out, &mut pos, b" ");
            put(out, &mut pos, WORDS[(draw() % WORDS.len() as u64) as usize].as_bytes());
        }
        put(out, &mut pos, b"\n");
    }
}

/// Writes version `version` of page `page` of region `region` under `seed`, of kind
/// `data`, into `out`: the bytes a lab workload's process writes there.
///
/// * `zero`: every byte 0;
/// * `random`: a SplitMix64 stream (incompressible: lz4 makes it a little larger);
/// * `text`: numbered lines of common English words (lz4 keeps about 60 %);
/// * `zero-fraction:F`: the first round(F * 4096) bytes 0, the rest random.
///
/// `version` counts the writes to the page: the first access writes version 0, each
/// later write version + 1, whose random and text bytes differ from the previous ones.
/// Synthetic kinds (`ratio:R`, `incompressible`) give [`NotByteExact`], `out` untouched.
pub fn fill_page(
    data: Data,
    seed: u64,
    region: usize,
    page: u64,
    version: u64,
    out: &mut [u8; PAGE_BYTES],
) -> Result<(), NotByteExact> {
    let key = page_key(seed, region, page, version);
    match data {
        Data::Zero => out.fill(0),
        Data::Random => fill_random(key, out),
        Data::Text => fill_text(key, out),
        Data::ZeroFraction(f) => {
            let zeros = zero_prefix(f);
            out[..zeros].fill(0);
            fill_random(key, &mut out[zeros..]);
        }
        Data::Ratio(_) | Data::Incompressible => return Err(NotByteExact(data)),
    }
    Ok(())
}

/// What zswap makes of `bytes`: zero when every byte is 0 (`zswap_is_folio_same_filled`
/// / the swap-out zero check, `swpout_zero`), otherwise its lz4 length, or
/// [`PAGE_SIZE`] when lz4's output is a page or more (stored as-is by 7.3,
/// `stored_incompressible_pages`; rejected by 6.12).
pub fn page_data_of(bytes: &[u8; PAGE_BYTES]) -> PageData {
    if bytes.iter().all(|&b| b == 0) {
        return PageData { zero: true, compressed_len: 0 };
    }
    let mut dst = [0u8; DST_LEN];
    let len = match Lz4.compress(bytes, &mut dst) {
        Ok(n) if n < PAGE_BYTES => n.max(1) as u32,
        _ => PAGE_SIZE,
    };
    PageData { zero: false, compressed_len: len }
}
