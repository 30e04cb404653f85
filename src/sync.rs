//! The `std` / `loom` facade: every atomic, lock and thread-local the crate uses comes
//! from here, so the same code runs on real atomics and inside a loom model.
//!
//! Invariant: nothing outside this module names `std::sync` or `loom` directly.
//! The loom side is chosen by `cfg(all(loom, any(test, feature = "loom")))`: a
//! downstream crate building its own loom models with `--cfg loom` does not flip this
//! crate unless it asks for the `loom` feature. Reclamation (`crossbeam-epoch`) follows
//! `--cfg crossbeam_loom`, which loom builds of this crate must set as well.

#[cfg(all(loom, any(test, feature = "loom")))]
mod imp {
    pub(crate) use loom::sync::atomic::{
        AtomicBool, AtomicPtr, AtomicU16, AtomicU32, AtomicU64, AtomicUsize, Ordering,
    };
    pub(crate) use loom::sync::{Arc, Mutex, MutexGuard};
    pub(crate) use loom::thread_local;

    /// A busy-wait step: under loom it yields so the model can schedule the holder.
    pub(crate) fn spin_loop() {
        loom::thread::yield_now();
    }

    /// Lock a mutex. Loom's locks never poison.
    pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
        m.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(not(all(loom, any(test, feature = "loom"))))]
mod imp {
    pub(crate) use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU16, AtomicU32, AtomicU64, AtomicUsize, Ordering};
    pub(crate) use std::sync::{Arc, Mutex, MutexGuard};
    pub(crate) use std::thread_local;

    /// A busy-wait step.
    pub(crate) fn spin_loop() {
        std::hint::spin_loop();
    }

    /// Lock a mutex, ignoring poison: every critical section in this crate leaves its
    /// data consistent before it can panic, so a poisoned lock holds valid state.
    pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
        m.lock().unwrap_or_else(|e| e.into_inner())
    }
}

pub(crate) use imp::*;
