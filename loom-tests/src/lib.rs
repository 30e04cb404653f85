//! Loom models of vswap's lock-free protocols: see `tests/`.
//!
//! Shared helpers for the models. Every model builds its system with [`tiny`]: 4-slot
//! clusters (`cluster_shift: 2`) and two CPUs, so one cluster fills after four slots and
//! the directory (fan-out 4 under `cfg(loom)`) stays a few nodes deep.

use vswap::{Config, SwapSystem};

/// The configuration every model uses: 4-slot clusters, two CPUs.
pub fn tiny_config() -> Config {
    Config { cluster_shift: 2, cpus: 2, ..Config::default() }
}

/// A fresh system with [`tiny_config`].
pub fn tiny() -> SwapSystem {
    SwapSystem::new(tiny_config()).expect("valid config")
}
