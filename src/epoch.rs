//! Epoch-based reclamation with one `Collector` per system (never crossbeam's global one).
//!
//! Lock-free readers pin the system's collector before they dereference a cluster or an
//! extension table; writers unlink such memory and hand it to [`Reclaim::retire`], which
//! frees it once no pinned reader can still hold it (the kernel's `kfree_rcu`).
//!
//! Pinning needs a per-thread `LocalHandle`. Those are cached per thread in a small list
//! keyed by collector, so one pin costs a thread-local lookup plus crossbeam's pin. The
//! cache holds no semantic state: an entry whose system is gone is dropped at the next
//! registration on that thread. This is the only thread-local in the crate.

use crate::sync::{Arc, thread_local};
use crossbeam_epoch::{Collector, Guard, LocalHandle};
use std::cell::RefCell;
use std::sync::Weak;

/// A system's collector plus a liveness token for the per-thread handle cache.
pub(crate) struct Reclaim {
    collector: Collector,
    alive: std::sync::Arc<()>,
}

type HandleCache = RefCell<Vec<(Weak<()>, LocalHandle)>>;

thread_local! {
    static HANDLES: HandleCache = RefCell::new(Vec::new());
}

impl Reclaim {
    pub(crate) fn new() -> Self {
        Self { collector: Collector::new(), alive: std::sync::Arc::new(()) }
    }

    /// Pin the epoch on this thread (`rcu_read_lock`).
    pub(crate) fn pin(&self) -> Guard {
        HANDLES.with(|cache| {
            let mut cache = cache.borrow_mut();
            if let Some((_, h)) = cache.iter().find(|(_, h)| h.collector() == &self.collector) {
                return h.pin();
            }
            cache.retain(|(alive, _)| alive.strong_count() > 0);
            let handle = self.collector.register();
            let guard = handle.pin();
            cache.push((std::sync::Arc::downgrade(&self.alive), handle));
            guard
        })
    }

    /// Free `value` once every reader pinned now has unpinned, then run `after`
    /// (used to keep the footprint accounting exact).
    pub(crate) fn retire<T: Send + 'static>(&self, guard: &Guard, value: Box<T>, after: impl FnOnce() + Send + 'static) {
        // SAFETY: `value` is owned and was unlinked from every shared structure before this
        // call, so only readers pinned before now can reach it; the deferred closure runs
        // after all of them unpin.
        unsafe {
            guard.defer_unchecked(move || {
                drop(value);
                after();
            });
        }
    }
}

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
