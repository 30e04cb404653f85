//! The `std` / `loom` facade: every atomic, lock and thread-local the crate uses comes
//! from here, so the same code runs on real atomics and inside a loom model.
//!
//! Invariant: nothing outside this module names `std::sync` or `loom` directly, and the
//! loom predicate, `all(loom, feature = "loom")`, is written once: in `cfg_loom!`. Other
//! modules that differ under loom read the [`LOOM`] constant (or get the macro with a
//! `pub(crate) use cfg_loom;` here, for items).
//!
//! A downstream crate building its own loom models with `--cfg loom` does not flip this
//! crate unless it asks for the `loom` feature. Reclamation (`crossbeam-epoch`) follows
//! `--cfg crossbeam_loom` instead, so with the feature the two cfgs must come together:
//! either one alone is a `compile_error!` (below). Without that check, `--cfg loom` alone
//! put this crate on loom but left crossbeam-epoch on `std`, and a model "passed" after a
//! single iteration; `--cfg crossbeam_loom` alone did the reverse.

#[cfg(all(feature = "loom", loom, not(crossbeam_loom)))]
compile_error!(
    "vswap's `loom` feature is built with `--cfg loom` but without `--cfg crossbeam_loom`: \
     crossbeam-epoch would stay on std atomics and a loom model would stop after one \
     iteration. Add `--cfg crossbeam_loom`: RUSTFLAGS=\"--cfg loom --cfg crossbeam_loom\""
);
#[cfg(all(feature = "loom", crossbeam_loom, not(loom)))]
compile_error!(
    "vswap's `loom` feature is built with `--cfg crossbeam_loom` but without `--cfg loom`: \
     crossbeam-epoch would run on loom and vswap on std atomics. \
     Add `--cfg loom`: RUSTFLAGS=\"--cfg loom --cfg crossbeam_loom\""
);

/// `cfg_loom! { loom: { ITEMS } std: { ITEMS } }`: the first items under loom, the others
/// otherwise. The one place the crate writes its loom predicate: loom with the `loom`
/// feature (`--cfg loom` alone, as a downstream loom build sets it, leaves this crate on
/// `std`).
macro_rules! cfg_loom {
    (loom: { $($l:item)* } std: { $($s:item)* }) => {
        $( #[cfg(all(loom, feature = "loom"))] $l )*
        $( #[cfg(not(all(loom, feature = "loom")))] $s )*
    };
}
cfg_loom! {
    loom: {
        /// Whether the crate runs on loom (see `cfg_loom!`): for values that differ,
        /// such as the directory's fan-out.
        pub(crate) const LOOM: bool = true;
    }
    std: {
        /// Whether the crate runs on loom (see `cfg_loom!`): for values that differ,
        /// such as the directory's fan-out.
        pub(crate) const LOOM: bool = false;
    }
}

cfg_loom! {
    loom: {
        mod imp {
            pub(crate) use loom::sync::atomic::{
                AtomicBool, AtomicPtr, AtomicU8, AtomicU16, AtomicU32, AtomicU64, AtomicUsize, Ordering, fence,
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

            /// `n` atomics set to 0. Loom tracks each atomic, so each is made by `new`.
            pub(crate) fn zeroed<T: super::Zero>(n: usize) -> Box<[T]> {
                (0..n).map(|_| T::zero()).collect()
            }

            /// An array of null epoch pointers.
            pub(crate) fn nulls<T, const N: usize>() -> [crossbeam_epoch::Atomic<T>; N] {
                std::array::from_fn(|_| crossbeam_epoch::Atomic::null())
            }
        }

    }
    std: {
        mod imp {
            pub(crate) use std::sync::atomic::{
                AtomicBool, AtomicPtr, AtomicU8, AtomicU16, AtomicU32, AtomicU64, AtomicUsize, Ordering, fence,
            };
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

            /// `n` atomics set to 0, allocated zeroed in one step (a loop of `new(0)` is the
            /// slowest part of building a cluster under Miri).
            pub(crate) fn zeroed<T: super::Zero>(n: usize) -> Box<[T]> {
                let layout = std::alloc::Layout::array::<T>(n).expect("a slice the address space can hold");
                if layout.size() == 0 {
                    // No bytes to allocate: build the (zero-sized or absent) values one by one.
                    return (0..n).map(|_| T::zero()).collect();
                }
                // SAFETY: the layout has a non-zero size. `Zero` is implemented only for types
                // whose all-zero bytes are a valid value (integer atomics, which have the layout
                // of their integer, and arrays and padded wrappers of them), so the zeroed block
                // is `n` valid `T`s, allocated with the layout `Box<[T]>` frees with.
                unsafe {
                    let p = std::alloc::alloc_zeroed(layout).cast::<T>();
                    if p.is_null() {
                        std::alloc::handle_alloc_error(layout);
                    }
                    Box::from_raw(std::ptr::slice_from_raw_parts_mut(p, n))
                }
            }

            /// An array of null epoch pointers, from a constant.
            pub(crate) fn nulls<T, const N: usize>() -> [crossbeam_epoch::Atomic<T>; N] {
                [const { crossbeam_epoch::Atomic::null() }; N]
            }
        }
    }
}

/// Types whose all-zero bytes are a valid value equal to `zero()`.
///
/// # Safety
/// Implement only for such types.
pub(crate) unsafe trait Zero: Sized {
    /// The zero value, built (loom's `zeroed` uses it; std's allocates zeroed bytes and
    /// builds values only when there are no bytes to allocate).
    fn zero() -> Self;
}

// SAFETY: an integer atomic has the in-memory representation of its integer (std docs);
// under loom `zeroed` never reads bytes, it calls `zero`.
unsafe impl Zero for AtomicU64 {
    fn zero() -> Self {
        AtomicU64::new(0)
    }
}
// SAFETY: as above.
unsafe impl Zero for AtomicU32 {
    fn zero() -> Self {
        AtomicU32::new(0)
    }
}
// SAFETY: as above.
unsafe impl Zero for AtomicU16 {
    fn zero() -> Self {
        AtomicU16::new(0)
    }
}
// SAFETY: an array of `Zero` values is zero bytes throughout.
unsafe impl<T: Zero, const N: usize> Zero for [T; N] {
    fn zero() -> Self {
        std::array::from_fn(|_| T::zero())
    }
}

pub(crate) use imp::*;
