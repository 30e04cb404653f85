//! The footprint ledger: the bytes of metadata the crate allocates, counted where they
//! are allocated and freed (`SwapSystem::footprint`, docs/api.md "Footprint").
//!
//! Invariants:
//! * Every owner of crate metadata (clusters and their tables, memcgs, devices) adds its
//!   bytes when it allocates them and subtracts the same amount when they are freed; for
//!   memory retired through the epoch, the subtraction runs in the deferred free, so
//!   retired memory counts until it is really freed.
//! * One ledger per system, shared by `Arc` ([`SharedBytes`]) with the parts that
//!   allocate; relaxed counts, exact once the changes stop.

use crate::sync::Arc;

/// Shared accounting of the bytes the crate allocates for metadata (`Footprint`).
#[derive(Default)]
pub(crate) struct Bytes(crate::sync::AtomicUsize);

impl Bytes {
    pub(crate) fn add(&self, n: usize) {
        self.0.fetch_add(n, crate::sync::Ordering::Relaxed);
    }
    pub(crate) fn sub(&self, n: usize) {
        self.0.fetch_sub(n, crate::sync::Ordering::Relaxed);
    }
    pub(crate) fn get(&self) -> usize {
        self.0.load(crate::sync::Ordering::Relaxed)
    }
}

pub(crate) type SharedBytes = Arc<Bytes>;
