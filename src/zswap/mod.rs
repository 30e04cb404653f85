//! zswap: the compressed swap cache in front of the devices (`mm/zswap.c`, kernel-notes
//! §5). This part holds the pool, compression and the per-memcg LRU lists; the flows that store, load, invalidate
//! and write back entries are `SwapSystem::writeout`, `fault`, the free path and
//! `writeback`, which keep the kernel's order of checks (`zswap_store`).

mod compress;
#[cfg(test)]
mod lru_tests;
pub(crate) mod pool;

pub use compress::{CompressError, Compressor, DST_LEN, Deflate, Lz4};
pub(crate) use compress::{Tiers, synthetic, verdict};
