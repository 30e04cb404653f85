//! `vswap-sim`'s speed (issue 5, "Performance" and "Verification"): every scenario run
//! whole, as `cargo run --release --bin vswap-sim -- run <name>` runs it (no rendering).
//! One iteration is one scenario; the throughput is in simulated page events (every
//! page access of every run, pre-fill included), so criterion's `elem/s` is the
//! events-per-second figure. The claims: the default scenario (`proactive-shrink`)
//! takes well under 60 s, at >= 5 M events/s on one core (the simulator is
//! single-threaded).
//!
//! Run: `CARGO_TARGET_DIR=target/bench cargo bench --bench sim`.

use criterion::{Criterion, Throughput};
use std::time::Duration;
use vswap_sim::scenario::{Options, SCENARIOS, run};

/// The binary's allocator (src/bin/vswap-sim.rs, which also counts the bytes for its
/// footprint report), so these figures are the binary's but for that count.
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let mut c = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(4))
        .configure_from_args();
    let mut g = c.benchmark_group("sim");
    let opts = Options::default();
    for &(name, _) in SCENARIOS.iter().filter(|(n, _)| *n != "footprint") {
        let first = run(name, &opts, &mut |_| {}).expect("scenario");
        let events: u64 = first.runs.iter().map(|r| r.events).sum();
        g.throughput(Throughput::Elements(events));
        g.bench_function(name, |b| b.iter(|| run(name, &opts, &mut |_| {}).expect("scenario")));
    }
    g.finish();
    c.final_summary();
}
