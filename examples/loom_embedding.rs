//! Embedding vswap in a downstream loom model (feature `loom`).
//!
//! Build the downstream crate with vswap's `loom` feature and
//! `RUSTFLAGS="--cfg loom --cfg crossbeam_loom"`: vswap's atomics, locks and epoch
//! reclamation then run on loom, so the model explores vswap's interleavings along with
//! the caller's. `--cfg loom` without the feature leaves vswap on `std` atomics.
//!
//! ```text
//! RUSTFLAGS="--cfg loom --cfg crossbeam_loom" \
//!   cargo run --release --example loom_embedding --features loom
//! ```
//! Without those flags the same program runs once on real threads.

#[cfg(all(loom, feature = "loom"))]
use loom::{sync::Arc, thread};
#[cfg(not(all(loom, feature = "loom")))]
use std::{sync::Arc, thread};
use vswap::{Config, FolioId, MemcgId, Shadow, SlotState, SwapSystem};

/// A simulator's "fork while swapped out": two tasks drop their references to a shared
/// swapped-out slot at once; exactly one put sees the count reach 0 and the slot is freed.
fn model() {
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

fn main() {
    #[cfg(all(loom, feature = "loom"))]
    loom::model(model);
    #[cfg(not(all(loom, feature = "loom")))]
    model();
    println!("loom_embedding: model passed");
}
