//! The swap table layer: clusters, the dynamic directory, the allocator, the swap count
//! and the swap cache (docs/kernel.md §1–§3). Everything here is lock-free except where the
//! kernel also locks: cluster creation and retirement and list moves (`si->lock`) and the
//! extension-table path of the swap count (`ci->lock`).

mod allocator;
mod bitmap;
mod cache;
pub(crate) mod cluster;
mod count;
pub(crate) mod space;

pub use bitmap::ClusterBitmap;

#[cfg(test)]
mod tests;
