//! The store loop of `benches/reclaim.rs` (`store/{alone,limited,worker,proactive}/1`)
//! as a plain program, one process per run: on this 2-core VM the issue-4 figures move
//! between two levels with where the host places the two vCPUs, so comparing two builds
//! takes many seconds of each, grouped by the handoff probe below, which a criterion run
//! (one summary per benchmark) cannot give.
//!
//! One thread stores pages of one memcg (`alloc`, `dup`, `writeout`, `evict`; a ring of
//! 8192 slots drops the oldest with `put`). `alone` has no pool limit in reach and no
//! reclaim; the other modes have a 4096-page pool. In `worker` mode a second thread runs
//! the shrink worker whenever a store queued it; in `proactive` mode it calls
//! `proactive_writeback(parent, 16 pages)`; idle, it sleeps 20 µs. `limited` has the
//! pool and no second thread: once the pool is full, zswap refuses every store and the
//! page goes to the device, as without a shrinker. Pages are synthetic (4 KiB, no bytes)
//! unless the third argument is `lz4`: then one incompressible page of real bytes, which
//! lz4 tries and zswap stores as-is, as the bench's `-lz4` variants.
//!
//! Each second after the first (warm-up) prints the stores per second, how many stores
//! zswap refused, and the cache-line handoff latency (`benches/common/handoff.rs`)
//! measured right after that second with the reclaimer paused. On this VM that latency
//! moves between ~40 ns and ~220 ns as the host places the two vCPUs, for seconds at a
//! time, and the `worker` figures move with it.
//!
//! `cargo run --release --example store_under_reclaim -- worker 3 lz4`
//! (modes `alone`, `limited`, `worker`, `proactive`; the number is the measured seconds).

#[path = "../benches/common/handoff.rs"]
mod handoff;
#[path = "../benches/common/page.rs"]
mod page;

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::time::{Duration, Instant};
use vswap::{
    CompressionMode, Config, DeviceSpec, FolioId, MemcgId, Page, Shadow, ShrinkStart, SwapSystem, Writeout, ZswapConfig,
};

const RING: usize = 8192;

fn main() {
    let mut args = std::env::args().skip(1);
    let mode = args.next().unwrap_or_else(|| "worker".into());
    if !["alone", "limited", "worker", "proactive"].contains(&mode.as_str()) {
        eprintln!("mode must be alone, limited, worker or proactive, not {mode:?}");
        std::process::exit(2);
    }
    let Ok(secs) = args.next().map_or(Ok(3), |s| s.parse::<u64>()) else {
        eprintln!("the second argument is the number of seconds to measure");
        std::process::exit(2);
    };
    let real = match args.next().as_deref() {
        None | Some("synthetic") => false,
        Some("lz4") => true,
        Some(other) => {
            eprintln!("the third argument is synthetic or lz4, not {other:?}");
            std::process::exit(2);
        }
    };
    let compressor = if real { CompressionMode::Lz4 } else { CompressionMode::Synthetic };
    let z = ZswapConfig { shrink_start: ShrinkStart::Proactive, compressor, ..Default::default() };
    let bytes = page::incompressible();
    let page = if real { Page::Bytes(&bytes) } else { Page::Synthetic { compressed_len: 4096, zero: false } };
    // As the bench: a 4096-page pool (20 % of 20480) against 8192 live slots, or no limit.
    let ram_pages = if mode == "alone" { 1 << 24 } else { 20_480 };
    let sys = SwapSystem::new(Config { ram_pages, cpus: 2, zswap: z, ..Config::default() }).expect("config");
    sys.swapon(DeviceSpec::null("null", 1 << 26)).expect("swapon");
    let parent = sys.memcg_create(MemcgId::ROOT).expect("mkdir");
    let cg = sys.memcg_create(parent).expect("mkdir");
    let stop = AtomicBool::new(false);
    // The reclaimer's state: RUN, PAUSE (asked to stop for a probe), PAUSED.
    let state = AtomicU8::new(RUN);
    let reclaimer = mode == "worker" || mode == "proactive";
    let probe = || {
        if reclaimer {
            state.store(PAUSE, Ordering::Release);
            while state.load(Ordering::Acquire) != PAUSED {
                std::thread::yield_now();
            }
        }
        let ns = handoff::handoff_ns(5, 20_000);
        state.store(RUN, Ordering::Release);
        ns
    };
    std::thread::scope(|s| {
        if reclaimer {
            s.spawn(|| {
                while !stop.load(Ordering::Acquire) {
                    if state.load(Ordering::Acquire) != RUN {
                        // Only from PAUSE: a probe that has already set RUN again wins.
                        let _ = state.compare_exchange(PAUSE, PAUSED, Ordering::AcqRel, Ordering::Acquire);
                        std::thread::sleep(Duration::from_micros(20));
                        continue;
                    }
                    let busy = match mode.as_str() {
                        "worker" => sys.shrink_worker_pending() && sys.run_shrink_worker().written > 0,
                        _ => sys.proactive_writeback(parent, 16 * 4096).is_ok(),
                    };
                    if !busy {
                        std::thread::sleep(Duration::from_micros(20));
                    }
                }
            });
        }
        let mut ring = VecDeque::with_capacity(RING + 1);
        let mut next = 0u64;
        for second in 0..=secs {
            let (start, mut stores, mut refused) = (Instant::now(), 0u64, 0u64);
            while start.elapsed() < Duration::from_secs(1) {
                for _ in 0..1000 {
                    next += 1;
                    let slot = sys.alloc(0, cg, FolioId(next & 0xffff), 0).expect("alloc");
                    sys.dup(slot).expect("dup");
                    if !matches!(sys.writeout(slot, page).expect("writeout"), Writeout::Zswap { .. }) {
                        refused += 1;
                    }
                    sys.evict(slot, Shadow(next & 0xff)).expect("evict");
                    ring.push_back(slot);
                    if ring.len() > RING {
                        sys.put(ring.pop_front().expect("ring")).expect("put");
                    }
                }
                stores += 1000;
            }
            if second > 0 {
                let rate = stores as f64 / start.elapsed().as_secs_f64();
                println!("{mode}: {rate:.0} stores/s, {refused} refused by zswap, handoff {:.0} ns", probe());
            }
        }
        stop.store(true, Ordering::Release);
    });
}

const RUN: u8 = 0;
const PAUSE: u8 = 1;
const PAUSED: u8 = 2;
