//! Embedding vswap in a downstream loom model (feature `loom`).
//!
//! A loom model of code that calls vswap's public API. Build it with vswap's `loom`
//! feature and both cfgs: vswap's atomics and locks follow `--cfg loom`, its epoch
//! reclamation (crossbeam-epoch) follows `--cfg crossbeam_loom`, and the model then
//! explores vswap's interleavings along with the caller's. With the feature, one cfg
//! without the other is a `compile_error!` that names the missing one.
//!
//! ```text
//! RUSTFLAGS="--cfg loom --cfg crossbeam_loom" CARGO_TARGET_DIR=target/loom \
//!   LOOM_MAX_PREEMPTIONS=2 cargo run --release --example loom_embedding --features loom
//! ```
//!
//! * **Bound the preemptions.** Every vswap call pins a crossbeam-epoch collector whose own
//!   atomics loom explores too, so even a two-thread model has hundreds of branch points.
//!   Unbounded, two models of this size took 302 s; with `LOOM_MAX_PREEMPTIONS=2`, 0.29 s.
//!   [`check`] sets 2 when the variable is unset.
//! * **Give loom models a crate of their own** (as this repository's `loom-tests/`), with
//!   `vswap = { features = ["loom"] }` in its dependencies and `#![cfg(loom)]` on its
//!   tests, **and a target directory of their own** (`CARGO_TARGET_DIR=target/loom`):
//!   `RUSTFLAGS` apply to every crate of the build, so ordinary tests built with them would
//!   run on loom's types outside a model (loom panics there), and sharing `target/` with
//!   the ordinary build makes each rebuild everything the other built.
//!
//! Without the cfgs (as `cargo test` and `cargo clippy --all-targets` build it) the same
//! program runs the model once on real threads.

#[cfg(all(loom, feature = "loom"))]
use loom::{sync::Arc, thread};
#[cfg(not(all(loom, feature = "loom")))]
use std::{sync::Arc, thread};
use vswap::{Config, FolioId, MemcgId, Shadow, SlotState, SwapSystem};

/// A simulator's "fork while swapped out": two tasks drop their references to a shared
/// swapped-out slot at once; exactly one put sees the count reach 0 and the slot is freed.
fn model() {
    // Small clusters and two CPUs keep the state loom explores small.
    let sys = Arc::new(SwapSystem::new(Config { cluster_shift: 2, cpus: 2, ..Config::default() }).unwrap());
    let slot = sys.alloc(0, MemcgId::ROOT, FolioId(4), 0).unwrap();
    sys.dup(slot).unwrap();
    sys.dup(slot).unwrap();
    sys.swap_cache_del(slot, Shadow(1)).unwrap();
    let other = {
        let sys = sys.clone();
        thread::spawn(move || sys.put(slot).unwrap())
    };
    let mine = sys.put(slot).unwrap();
    let theirs = other.join().unwrap();
    assert_eq!(mine.min(theirs), 0, "one put leaves 0");
    assert_eq!(mine.max(theirs), 1, "the other leaves 1");
    assert_eq!(sys.state(slot).unwrap(), SlotState::Free);
}

/// The preemption bound when `LOOM_MAX_PREEMPTIONS` is unset.
#[cfg(all(loom, feature = "loom"))]
const DEFAULT_PREEMPTIONS: usize = 2;

/// Explore every interleaving of `f` up to the preemption bound: `LOOM_MAX_PREEMPTIONS`,
/// or [`DEFAULT_PREEMPTIONS`] (loom's own default is unbounded).
#[cfg(all(loom, feature = "loom"))]
fn check(f: impl Fn() + Sync + Send + 'static) {
    let mut b = loom::model::Builder::new(); // reads LOOM_MAX_PREEMPTIONS
    b.preemption_bound = b.preemption_bound.or(Some(DEFAULT_PREEMPTIONS));
    b.check(f);
}

/// Without loom: one run on real threads.
#[cfg(not(all(loom, feature = "loom")))]
fn check(f: impl Fn() + Sync + Send + 'static) {
    f();
}

fn main() {
    check(model);
    println!("loom_embedding: model passed");
}
