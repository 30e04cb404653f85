//! The machine's cache-line handoff latency: two threads pass one cache line back and
//! forth, and the time per one-way pass is what any line written by one thread and then
//! touched by the other costs. On this VM it is not a constant: the host places the two
//! vCPUs near each other (~40 ns) or far apart (~220 ns) for seconds at a time, and every
//! figure that depends on two threads sharing data moves with it, so the store benches
//! print it next to their figures.

use crossbeam_utils::CachePadded;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// Median one-way handoff over `runs` runs of `passes` passes each, in nanoseconds.
pub(crate) fn handoff_ns(runs: usize, passes: u64) -> f64 {
    let mut v: Vec<f64> = (0..runs).map(|_| one_run(passes)).collect();
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// One run: the two threads take turns, each waiting for the other's value.
fn one_run(passes: u64) -> f64 {
    let line = CachePadded::new(AtomicU64::new(0));
    let turn = |first: u64| {
        let mut i = first;
        while i < passes {
            while line.load(Ordering::Acquire) != i {
                std::hint::spin_loop();
            }
            line.store(i + 1, Ordering::Release);
            i += 2;
        }
    };
    let start = Instant::now();
    std::thread::scope(|s| {
        s.spawn(|| turn(1));
        turn(0);
    });
    start.elapsed().as_nanos() as f64 / passes as f64
}
