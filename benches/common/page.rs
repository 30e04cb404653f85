//! The real page the `-lz4` store benchmarks write.

/// One incompressible page (splitmix64 of each byte's index): lz4 cannot shrink it, so
/// zswap stores it as-is (`PAGE_SIZE` long) and the pool holds as many entries as with
/// synthetic pages.
pub(crate) fn incompressible() -> Vec<u8> {
    (1..=vswap::PAGE_SIZE as u64)
        .map(|i| {
            let z = i.wrapping_mul(0x9e37_79b9_7f4a_7c15);
            let z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            let z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            (z ^ (z >> 31)) as u8
        })
        .collect()
}
