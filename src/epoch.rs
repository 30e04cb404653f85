//! Epoch-based reclamation with one `Collector` per system (never crossbeam's global one).
//!
//! Lock-free readers pin the system's collector before they dereference a cluster or an
//! extension table; writers unlink such memory and hand it to [`Reclaim::retire`], which
//! frees it once no pinned reader can still hold it (the kernel's `kfree_rcu`).
//!
//! Pinning needs a per-thread `LocalHandle`. Those are cached per thread in a small list
//! keyed by collector, so one pin costs a thread-local lookup plus crossbeam's pin. The
//! cache holds no semantic state: an entry whose system is gone is dropped at the next
//! registration on that thread (and the dropping thread's own entry when the system is
//! dropped). This is the only thread-local in the crate.
//!
//! Each entry also holds a clone of its `Collector`, dropped *after* the handle, so the
//! last reference to a collector is never the one inside a `LocalHandle`: when it is,
//! crossbeam's `Local::finalize(&self)` frees the `Global` (and so the `Local` that
//! `&self` points to) while `&self` is live, which Miri reports as undefined behaviour.
//!
//! Invariants: memory handed to [`retire`] is unlinked from every shared structure
//! first, and is freed (then its `after` runs) only once every reader pinned before the
//! retirement has unpinned; the handle cache holds no semantic state.

use crate::sync::thread_local;
use crossbeam_epoch::{Collector, Guard, LocalHandle};
use std::cell::RefCell;
use std::sync::Weak;

/// A system's collector plus a liveness token for the per-thread handle cache.
pub(crate) struct Reclaim {
    collector: Collector,
    alive: std::sync::Arc<()>,
}

/// Liveness token, handle, collector: tuple fields drop in order, so the handle is
/// released while the collector clone still keeps the `Global` alive (see the module doc).
type HandleCache = RefCell<Vec<(Weak<()>, LocalHandle, Collector)>>;

thread_local! {
    // Not `const { .. }`: loom's `thread_local!` does not take that form.
    #[allow(clippy::missing_const_for_thread_local)]
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
            // The key is the liveness token's address: the entry's `Weak` keeps that
            // allocation alive, so no other system can have the same address meanwhile.
            let key = std::sync::Arc::as_ptr(&self.alive);
            if let Some((_, h, _)) = cache.iter().find(|(alive, _, _)| std::ptr::eq(alive.as_ptr(), key)) {
                return h.pin();
            }
            cache.retain(|(alive, _, _)| alive.strong_count() > 0);
            let handle = self.collector.register();
            let guard = handle.pin();
            cache.push((std::sync::Arc::downgrade(&self.alive), handle, self.collector.clone()));
            guard
        })
    }

    /// Free `value` once every reader pinned now has unpinned, then run `after`
    /// (used to keep the footprint accounting exact).
    pub(crate) fn retire<T: Send + 'static>(
        &self,
        guard: &Guard,
        value: Box<T>,
        after: impl FnOnce() + Send + 'static,
    ) {
        retire(guard, value, after);
    }
}

/// `Reclaim::retire` through the collector `guard` belongs to.
pub(crate) fn retire<T: Send + 'static>(guard: &Guard, value: Box<T>, after: impl FnOnce() + Send + 'static) {
    {
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

impl Drop for Reclaim {
    /// Drop this thread's cached handle now rather than at its next registration, so a
    /// system used from one thread frees its retired memory when it is dropped. Other
    /// threads' entries go at their next registration or thread exit.
    fn drop(&mut self) {
        // `try_with`: the system may itself be dropped by a TLS destructor; `try_borrow_mut`:
        // never panic in drop (nothing here re-enters `pin`, but a drop must not assume it).
        let _ = HANDLES.try_with(|cache| {
            let taken = match cache.try_borrow_mut() {
                Ok(mut cache) => {
                    let at = cache.iter().position(|(_, h, _)| h.collector() == &self.collector);
                    at.map(|i| cache.swap_remove(i))
                }
                Err(_) => None,
            };
            // Dropped outside the borrow: releasing the handle may run deferred functions.
            drop(taken);
        });
    }
}
