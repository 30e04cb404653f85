//! Recompression's cost is O(entries examined), not O(pool size): the idle-age index
//! gives the oldest entries first and the walk stops at the first young one.
//!
//! * `recompress_idle/{10000,1000000}` — one `recompress` of 64 idle entries (synthetic,
//!   tier 1 → tier 2 at half the size, all kept) from a memcg whose LRU holds N entries.
//!   A call consumes its 64 (they leave the idle index); when fewer than 64 are left the
//!   system is rebuilt, untimed. The time per call should not grow with N.
//! * `recompress_young/{10000,1000000}` — one `recompress` that finds only young entries
//!   (N of them, stored 5 ticks ago, the threshold 6): it looks at one and stops.
//!
//! Run: `CARGO_TARGET_DIR=target/bench cargo bench --bench recompress`.

use criterion::{BenchmarkId, Criterion};
use std::time::{Duration, Instant};
use vswap::{
    CompressionMode, CompressionPriority, Config, FolioId, MemcgId, Page, RecompressSpec, Shadow, SwapSystem, Writeout,
    ZswapConfig,
};

const SIZES: [u64; 2] = [10_000, 1_000_000];
const PER_CALL: u64 = 64;

/// A system whose pool holds `n` synthetic entries of 1000 bytes, stored at tick `at`,
/// in one memcg; the clock at 10.
fn filled(n: u64, at: u64) -> (SwapSystem, MemcgId) {
    let sys = SwapSystem::new(Config {
        ram_pages: 1 << 24,
        cpus: 2,
        zswap: ZswapConfig {
            compressor: CompressionMode::Synthetic,
            max_pool_percent: 100,
            compression_priorities: vec![
                CompressionPriority::lz4(1),
                CompressionPriority::deflate(2, 6).with_synthetic_permille(500),
            ],
            ..ZswapConfig::default()
        },
        ..Config::default()
    })
    .expect("config");
    let cg = sys.memcg_create(MemcgId::ROOT).expect("memcg");
    sys.set_tick(at).expect("tick");
    for i in 0..n {
        let s = sys.alloc((i & 1) as usize, cg, FolioId(i + 1), 0).expect("alloc");
        sys.dup(s).expect("dup");
        let w = sys.writeout(s, Page::Synthetic { compressed_len: 1000, zero: false }).expect("writeout");
        assert!(matches!(w, Writeout::Zswap { .. }), "{w:?}");
        sys.evict(s, Shadow(i)).expect("evict");
    }
    sys.set_tick(10).expect("tick");
    (sys, cg)
}

fn spec(min_age: u64) -> RecompressSpec {
    RecompressSpec { min_age, threshold: 0, max_pages: PER_CALL, priority: 2 }
}

fn idle(c: &mut Criterion) {
    let mut g = c.benchmark_group("recompress_idle");
    for n in SIZES {
        let mut state = filled(n, 0);
        let mut left = n;
        g.bench_function(BenchmarkId::from_parameter(n), |b| {
            b.iter_custom(|iters| {
                let mut t = Duration::ZERO;
                for _ in 0..iters {
                    if left < PER_CALL {
                        state = filled(n, 0);
                        left = n;
                    }
                    let start = Instant::now();
                    let r = state.0.recompress(state.1, spec(5)).expect("recompress");
                    t += start.elapsed();
                    assert_eq!(r.recompressed, PER_CALL);
                    left -= PER_CALL;
                }
                t
            })
        });
    }
    g.finish();
}

fn young(c: &mut Criterion) {
    let mut g = c.benchmark_group("recompress_young");
    for n in SIZES {
        let (sys, cg) = filled(n, 5);
        g.bench_function(BenchmarkId::from_parameter(n), |b| {
            b.iter(|| {
                let r = sys.recompress(cg, spec(6)).expect("recompress");
                assert_eq!(r.examined, 0);
            })
        });
    }
    g.finish();
}

fn main() {
    let mut c = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_millis(1500))
        .configure_from_args();
    idle(&mut c);
    young(&mut c);
    c.final_summary();
}
