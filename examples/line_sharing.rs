//! What a cache line that the reclaimer touched costs the storing thread on this
//! machine, with no vswap code in the loop: the floor under `store_under_reclaim`.
//!
//! A producer writes `K` cache lines of entry `i % 8192` per operation, as a store
//! writes its entry, its slot and the LRU; in `worker` mode a consumer trails it by half
//! the ring and rewrites the same `K` lines of each entry it reaches (a writeback frees
//! the entry, rewrites the slot, rotates the LRU), so each line the producer writes next
//! was last written on the other core. `alone` has no consumer: the producer rewrites its
//! own lines. The consumer learns the producer's position from one counter published
//! every 64 operations. With `H` > 0 there are also `H` hot lines: both threads add to
//! the same `H` counters on every operation, as both take a memcg's LRU lock and change
//! the pool size and the charge counters.
//!
//! Each line of output gives the producer's nanoseconds per operation for one case
//! (K = 0, 1, 2, 4, 8 with no hot line; then H = 1, 2, 4 with K = 1), and the handoff
//! latency (`benches/common/handoff.rs`) probed right after it, which says where the host
//! had the two vCPUs. Streamed lines cost the producer little, as the hardware fetches
//! the next entries ahead; a hot line costs about one handoff.
//!
//! `cargo run --release --example line_sharing -- worker`

#[path = "../benches/common/handoff.rs"]
mod handoff;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

const RING: usize = 8192;
const OPS: u64 = 4_000_000;

/// One cache line. 64-byte aligned, unlike the probe's 128-byte `Line`: an entry's lines
/// lie next to each other, as the crate's tables and pool entries do, so the streamed
/// cases get the adjacent-line prefetch a real store gets. The probe's line sits alone on
/// its 128-byte pair so that no prefetch of a neighbour touches it.
#[repr(align(64))]
struct Line(AtomicU64);

fn main() {
    let mode = std::env::args().nth(1).unwrap_or_else(|| "worker".into());
    if mode != "alone" && mode != "worker" {
        eprintln!("mode must be alone or worker, not {mode:?}");
        std::process::exit(2);
    }
    let cases = [(0usize, 0usize), (1, 0), (2, 0), (4, 0), (8, 0), (1, 1), (1, 2), (1, 4)];
    for (k, h) in cases {
        let ns = run(k, h, mode == "worker");
        let probe = handoff::handoff_ns(5, 20_000);
        println!("{mode} K={k} H={h}: {ns:.1} ns per operation, handoff {probe:.0} ns");
    }
}

/// The producer's nanoseconds per operation with `k` lines per entry and `h` hot lines.
fn run(k: usize, h: usize, worker: bool) -> f64 {
    let lines: Vec<Line> = (0..RING * k.max(1)).map(|_| Line(AtomicU64::new(0))).collect();
    let hot: Vec<Line> = (0..h).map(|_| Line(AtomicU64::new(0))).collect();
    let (published, stop) = (AtomicU64::new(0), AtomicBool::new(false));
    let touch = |entry: usize, v: u64| {
        for l in &lines[entry * k..(entry + 1) * k] {
            l.0.store(l.0.load(Ordering::Relaxed).wrapping_add(v), Ordering::Relaxed);
        }
        for l in &hot {
            l.0.fetch_add(v, Ordering::AcqRel);
        }
    };
    std::thread::scope(|s| {
        if worker {
            s.spawn(|| {
                let mut next = 0u64;
                while !stop.load(Ordering::Acquire) {
                    let upto = published.load(Ordering::Acquire).saturating_sub(RING as u64 / 2);
                    if next >= upto {
                        std::hint::spin_loop();
                        continue;
                    }
                    while next < upto {
                        touch(next as usize % RING, 1);
                        next += 1;
                    }
                }
            });
        }
        let start = Instant::now();
        for i in 0..OPS {
            touch(i as usize % RING, 1);
            if i % 64 == 63 {
                published.store(i + 1, Ordering::Release);
            }
        }
        let ns = start.elapsed().as_nanos() as f64 / OPS as f64;
        stop.store(true, Ordering::Release);
        ns
    })
}
