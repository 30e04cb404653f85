//! The backend flows of `vswap` (writeout, evict, fault through zswap or a device) in one
//! run, with the costs they are held to:
//!
//! * `lz4_raw/lz4_flex/1` — the floor: `lz4_flex::block::compress_into` +
//!   `decompress_into` of one 4 KiB page of log text ([`text_page`], lz4 ratio about 2.5x),
//!   nothing else.
//! * `lz4_cycle/core/1` — the same page through zswap with the default lz4 compressor:
//!   `writeout(Page::Bytes)` + `evict` + `fault(Some(out))` on one slot that stays
//!   allocated with count 1 (alloc/dup/put/release **excluded**: after the exclusive zswap
//!   load the slot is cached again, so the next writeout starts from the same state).
//! * `lz4_cycle/full/1` — the same, with `alloc` + `dup` before and `put` + `release`
//!   after (alloc/dup/put/release **included**: the slot is freed every iteration).
//! * `lz4_paired/{core,full}/1` — the ratio the lz4 target is stated in, robust to a
//!   shared machine: each iteration runs one lz4_flex round trip and one cycle
//!   alternately, each between its own pair of `Instant::now()` calls; per sample the
//!   median of each, and the summary reports the median over samples of cycle/lz4_flex.
//!   Separate runs (`lz4_raw` vs `lz4_cycle`) see whatever load the machine had at the time.
//! * `synthetic_cycle/zswap/{1,2}` — the full cycle `alloc`, `dup`,
//!   `writeout(Page::Synthetic { compressed_len: 1500, zero: false })` to zswap
//!   (`CompressionMode::Synthetic`), `evict`, `fault(None)`, `put`, `release`, on one system;
//!   thread `t` passes CPU index `t`. `ram_pages` is 2^24, so the pool limit is never hit
//!   (every entry is freed by the exclusive load anyway).
//! * `synthetic_cycle/zswap_separate/2` — control: the same cycle with one system per
//!   thread, so nothing of `vswap` is shared; its 2-thread/1-thread ratio is the machine's
//!   own ceiling for this loop.
//! * `device_cycle/memory/{1,2}` — informational: the same cycle with zswap disabled, so
//!   writeout takes a physical slot on a memory device (charged to `swap.max`) and the
//!   fault reads it (synthetic pages: no data moves).
//!
//! * `tier_select/{one,four}/1` — the per-store cost of compression-tier selection: the
//!   synthetic store alone (`writeout(Page::Synthetic { compressed_len: 1500 })` to zswap,
//!   `CompressionMode::Synthetic`) from a memcg two levels below the root, on a system with one
//!   tier (the default) and on one with four ([`four_tiers`]) whose middle memcg sets
//!   `Knob::ZswapCompressionPriority(Some(3))`, so the store inherits tier 3 and scales its size.
//!   The stores go in batches of [`BATCH`] held slots; each batch is timed alone, and the
//!   `evict` + `fault(None)` that undo it are not timed.
//! * `tier_paired/store/1` — the ratio the tier target is stated in, robust to a shared
//!   machine: each iteration stores a batch on each system alternately, each batch timed
//!   on its own; per sample the median per store of each, and the summary reports the
//!   median over samples of four/one.
//!
//! Multi-threaded figures use `iter_custom`: every thread waits on a `Barrier`, runs
//! `iters` cycles and the slowest thread's time is the sample, so one iteration is
//! `threads` cycles (criterion's throughput line is the aggregate rate).
//!
//! After criterion's report a Markdown summary (medians, aggregate cycles/s, the ratios
//! the targets are stated in, pass/fail) is printed.
//!
//! Run: `CARGO_TARGET_DIR=target/bench cargo bench --bench backends`.

use criterion::{BenchmarkId, Criterion, Throughput};
use std::hint::black_box;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use vswap::{
    CompressionMode, CompressionPriority, Config, DeviceSpec, FaultSource, FolioId, Knob, MemcgId, PAGE_SIZE, Page,
    Shadow, SwapSystem, VSlot, Writeout, ZswapConfig,
};

mod common;
use common::*;

const SAMPLES: usize = 20;
const CPUS: usize = 2;
const THREADS: [usize; 2] = [1, 2];
/// `ram_pages` of the synthetic systems: a pool limit (20 %) no cycle comes near.
const RAM_PAGES: u64 = 1 << 24;
const SYNTH: Page<'static> = Page::Synthetic { compressed_len: 1500, zero: false };

// ---------------------------------------------------------------------------------------
// Measurement plumbing (as in `benches/table.rs`).

static PAIRS: Mutex<Vec<Pair>> = Mutex::new(Vec::new());
/// `tier_paired`'s (one tier ns, four tiers ns) per store, per sample.
static TIER_PAIRS: Mutex<Vec<Pair>> = Mutex::new(Vec::new());

/// A paired benchmark's name and its (baseline ns, measured ns) per sample: (lz4_flex,
/// cycle) in `PAIRS`, (one tier, four tiers) in `TIER_PAIRS`.
type Pair = (String, Vec<(f64, f64)>);

/// Record a paired sample: the medians of its per-iteration baseline and measured times.
fn record_pair(pairs: &Mutex<Vec<Pair>>, name: &str, base: Vec<f64>, measured: Vec<f64>) {
    let mut pairs = pairs.lock().unwrap();
    let (base, measured) = (median(base), median(measured));
    match pairs.iter_mut().find(|(n, _)| n == name) {
        Some((_, v)) => v.push((base, measured)),
        None => pairs.push((name.to_string(), vec![(base, measured)])),
    }
}

// ---------------------------------------------------------------------------------------
// The page and the systems.

/// A deterministic text-like page: log lines from one template (timestamp, level, module
/// and message words from a small vocabulary, a slot number and a CPU), chosen by a
/// xorshift, so lz4 finds the repeated parts but not the numbers (about 2.5x; the
/// summary prints the exact ratio).
fn text_page() -> Vec<u8> {
    const WORDS: [&str; 16] = [
        "swap",
        "slot",
        "cluster",
        "folio",
        "memcg",
        "zswap",
        "entry",
        "device",
        "page",
        "fault",
        "writeback",
        "shrinker",
        "pool",
        "count",
        "cache",
        "shadow",
    ];
    const LEVELS: [&str; 3] = ["INFO", "WARN", "DEBUG"];
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut p = Vec::with_capacity(PAGE_SIZE + 128);
    while p.len() < PAGE_SIZE {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let r = x;
        let line = format!(
            "2026-11-22 02:{:02}:{:02} {} vswap::{}: {} slot={} cpu={}\n",
            (r >> 24) % 60,
            (r >> 30) % 60,
            LEVELS[(r % 3) as usize],
            WORDS[((r >> 8) % 16) as usize],
            WORDS[((r >> 16) % 16) as usize],
            (r >> 36) % 100_000,
            (r >> 50) % 4
        );
        p.extend_from_slice(line.as_bytes());
    }
    p.truncate(PAGE_SIZE);
    p
}

/// lz4's compressed size of `page` (for the summary).
fn lz4_len(page: &[u8]) -> usize {
    let mut dst = vec![0u8; vswap::zswap::DST_LEN];
    lz4_flex::block::compress_into(page, &mut dst).expect("lz4")
}

fn lz4_system() -> SwapSystem {
    SwapSystem::new(Config { cpus: CPUS, ..Default::default() }).expect("config")
}

fn synthetic_system() -> SwapSystem {
    SwapSystem::new(Config {
        ram_pages: RAM_PAGES,
        cpus: CPUS,
        zswap: ZswapConfig { compressor: CompressionMode::Synthetic, ..Default::default() },
        ..Default::default()
    })
    .expect("config")
}

fn device_system() -> SwapSystem {
    let sys = SwapSystem::new(Config {
        ram_pages: RAM_PAGES,
        cpus: CPUS,
        zswap: ZswapConfig { enabled: false, compressor: CompressionMode::Synthetic, ..Default::default() },
        ..Default::default()
    })
    .expect("config");
    sys.swapon(DeviceSpec::memory("mem", 1 << 16)).expect("swapon");
    sys
}

/// The full synthetic cycle on `cpu`: alloc, dup, writeout, evict, fault(None), put,
/// release. `zswap` says which backend the writeout must pick.
#[inline]
fn synthetic_cycle(sys: &SwapSystem, cpu: usize, i: u64, zswap: bool) {
    let s = sys.alloc(cpu, MemcgId::ROOT, FolioId(i & 0xffff), 0).expect("alloc");
    sys.dup(s).expect("dup");
    let w = sys.writeout(s, SYNTH).expect("writeout");
    assert!(if zswap { matches!(w, Writeout::Zswap { .. }) } else { matches!(w, Writeout::Device(_)) }, "{w:?}");
    sys.evict(s, Shadow(i & 0xff)).expect("evict");
    let f = sys.fault(cpu, s, FolioId((i + 1) & 0xffff), None).expect("fault");
    assert!(if zswap { f.source == FaultSource::Zswap } else { matches!(f.source, FaultSource::Device(_)) });
    assert_eq!(sys.put(s).expect("put"), 0);
    assert!(sys.release(black_box(s)).expect("release"), "count 0 and cached: release frees");
}

// ---------------------------------------------------------------------------------------
// The benchmarks.

/// lz4_flex alone: compress `page` into `dst` and decompress it into `out`.
#[inline]
fn lz4_round_trip(page: &[u8], dst: &mut [u8], out: &mut [u8]) {
    let n = lz4_flex::block::compress_into(black_box(page), dst).expect("compress");
    let m = lz4_flex::block::decompress_into(&dst[..n], out).expect("decompress");
    assert_eq!(m, PAGE_SIZE);
    black_box(&out);
}

/// The lz4 cycle through zswap: writeout + evict + fault on `held` (a slot kept cached
/// with count 1, reused every iteration), or with `held` None on a new slot with alloc +
/// dup before and put + release after.
#[inline]
fn lz4_cycle(sys: &SwapSystem, held: Option<VSlot>, page: &[u8], out: &mut [u8], i: u64) {
    let s = match held {
        Some(s) => s,
        None => {
            let s = sys.alloc(0, MemcgId::ROOT, FolioId(i & 0xffff), 0).expect("alloc");
            sys.dup(s).expect("dup");
            s
        }
    };
    let w = sys.writeout(s, Page::Bytes(black_box(page))).expect("writeout");
    assert!(matches!(w, Writeout::Zswap { .. }), "{w:?}");
    sys.evict(s, Shadow(i & 0xff)).expect("evict");
    let f = sys.fault(0, s, FolioId((i + 1) & 0xffff), Some(out)).expect("fault");
    assert_eq!(f.source, FaultSource::Zswap);
    black_box(&out);
    if held.is_none() {
        assert_eq!(sys.put(s).expect("put"), 0);
        assert!(sys.release(s).expect("release"), "count 0 and cached: release frees");
    }
}

/// `lz4_paired/{core,full}/1`: one iteration is one lz4_flex round trip and one cycle,
/// alternately, each timed on its own; the sample's medians go to `PAIRS` (criterion's
/// own figure is their sum).
fn lz4_paired(c: &mut Criterion, name: &str, sys: &SwapSystem, held: Option<VSlot>, page: &[u8]) {
    let full = format!("lz4_paired/{name}/1");
    let mut g = c.benchmark_group("lz4_paired");
    g.throughput(Throughput::Elements(1));
    g.bench_function(BenchmarkId::new(name, 1), |b| {
        b.iter_custom(|iters| {
            let mut dst = vec![0u8; vswap::zswap::DST_LEN];
            let mut out = vec![0u8; PAGE_SIZE];
            let (mut raw, mut cyc) = (Vec::with_capacity(iters as usize), Vec::with_capacity(iters as usize));
            let start = Instant::now();
            for i in 0..iters {
                let t0 = Instant::now();
                lz4_round_trip(page, &mut dst, &mut out);
                let t1 = Instant::now();
                lz4_cycle(sys, held, page, &mut out, i);
                let t2 = Instant::now();
                raw.push((t1 - t0).as_nanos() as f64);
                cyc.push((t2 - t1).as_nanos() as f64);
            }
            let total = start.elapsed();
            record_pair(&PAIRS, &full, raw, cyc);
            total
        })
    });
    g.finish();
}

fn lz4(c: &mut Criterion, page: &[u8]) {
    bench(c, "lz4_raw", "lz4_flex", 1, |_, iters| {
        let mut dst = vec![0u8; vswap::zswap::DST_LEN];
        let mut out = vec![0u8; PAGE_SIZE];
        for _ in 0..iters {
            lz4_round_trip(page, &mut dst, &mut out);
        }
    });

    let sys = lz4_system();
    let slot = sys.alloc(0, MemcgId::ROOT, FolioId(1), 0).expect("alloc");
    sys.dup(slot).expect("dup");
    let mut out = vec![0u8; PAGE_SIZE];
    lz4_cycle(&sys, Some(slot), page, &mut out, 0);
    assert_eq!(out, page, "zswap round trip");
    bench(c, "lz4_cycle", "core", 1, |_, iters| {
        let mut out = vec![0u8; PAGE_SIZE];
        for i in 0..iters {
            lz4_cycle(&sys, Some(slot), page, &mut out, i);
        }
    });
    lz4_paired(c, "core", &sys, Some(slot), page);
    drop(sys);

    let sys = lz4_system();
    bench(c, "lz4_cycle", "full", 1, |_, iters| {
        let mut out = vec![0u8; PAGE_SIZE];
        for i in 0..iters {
            lz4_cycle(&sys, None, page, &mut out, i);
        }
    });
    lz4_paired(c, "full", &sys, None, page);
}

fn synthetic(c: &mut Criterion) {
    for threads in THREADS {
        let sys = synthetic_system();
        bench(c, "synthetic_cycle", "zswap", threads, |t, iters| {
            for i in 0..iters {
                synthetic_cycle(&sys, t, i, true);
            }
        });
        let st = sys.stat();
        assert_eq!(st.pool_limit_hit, 0, "the pool limit was hit");
        assert_eq!(st.stored_pages, 0, "every entry was loaded back");
    }
    let systems: Vec<SwapSystem> = (0..2).map(|_| synthetic_system()).collect();
    bench(c, "synthetic_cycle", "zswap_separate", 2, |t, iters| {
        for i in 0..iters {
            synthetic_cycle(&systems[t], t, i, true);
        }
    });
}

/// Held slots a `tier_select` batch stores: enough that the two clock reads around a
/// batch are under 1 % of it.
const BATCH: usize = 256;

/// The four tiers of `tier_select/four`: lz4 and deflate at levels 1, 6 and 9, with
/// synthetic ratios 1000, 700, 500 and 333 per mille.
fn four_tiers() -> Vec<CompressionPriority> {
    vec![
        CompressionPriority::lz4(1),
        CompressionPriority::deflate(2, 1).with_synthetic_permille(700),
        CompressionPriority::deflate(3, 6).with_synthetic_permille(500),
        CompressionPriority::deflate(4, 9).with_synthetic_permille(333),
    ]
}

/// A synthetic system with `tiers`, and `BATCH` slots of a memcg two levels down,
/// allocated and mapped (count 1, cached). With more than one tier the middle memcg sets
/// tier 3, which the stores inherit.
struct TierBench {
    sys: SwapSystem,
    slots: Vec<VSlot>,
    /// The compressed size every store must report.
    compressed: u32,
}

impl TierBench {
    fn new(tiers: Vec<CompressionPriority>) -> Self {
        let four = tiers.len() > 1;
        let sys = SwapSystem::new(Config {
            ram_pages: RAM_PAGES,
            cpus: CPUS,
            zswap: ZswapConfig {
                compressor: CompressionMode::Synthetic,
                compression_priorities: tiers,
                ..Default::default()
            },
            ..Default::default()
        })
        .expect("config");
        let parent = sys.memcg_create(MemcgId::ROOT).expect("memcg");
        let cg = sys.memcg_create(parent).expect("memcg");
        if four {
            sys.memcg_set(parent, Knob::ZswapCompressionPriority(Some(3))).expect("tier 3");
        }
        let slots = (0..BATCH as u64)
            .map(|i| {
                let s = sys.alloc(0, cg, FolioId(i), 0).expect("alloc");
                sys.dup(s).expect("dup");
                s
            })
            .collect();
        let compressed = if four { 750 } else { 1500 };
        Self { sys, slots, compressed }
    }

    /// Store the first `n` held slots (timed: the stores alone), then evict each and
    /// fault it back (not timed), so every slot is cached again. The stores' wall and
    /// on-CPU time.
    fn stores(&self, n: usize, i: u64) -> (Duration, Duration) {
        let slots = &self.slots[..n];
        let mut sizes = [0u32; BATCH];
        let (cpu, start) = (thread_cpu(), Instant::now());
        for (size, &s) in sizes.iter_mut().zip(slots) {
            if let Ok(Writeout::Zswap { compressed }) = self.sys.writeout(s, black_box(SYNTH)) {
                *size = compressed;
            }
        }
        let t = (start.elapsed(), thread_cpu().saturating_sub(cpu));
        assert!(sizes[..n].iter().all(|&z| z == self.compressed), "every store went to zswap, with its tier's size");
        for (k, &s) in slots.iter().enumerate() {
            self.sys.evict(s, Shadow(i & 0xff)).expect("evict");
            let f = self.sys.fault(0, s, FolioId(BATCH as u64 + k as u64), None).expect("fault");
            assert_eq!(f.source, FaultSource::Zswap);
        }
        t
    }

    /// `iters` stores in batches, each batch timed apart (`each` gets its size and wall
    /// time): their wall and on-CPU time.
    fn run(&self, iters: u64, mut each: impl FnMut(usize, Duration)) -> Sample {
        let (mut left, mut total) = (iters, Sample { iters, wall: Duration::ZERO, cpu: Duration::ZERO });
        while left > 0 {
            let n = left.min(BATCH as u64) as usize;
            let (wall, cpu) = self.stores(n, left);
            each(n, wall);
            total.wall += wall;
            total.cpu += cpu;
            left -= n as u64;
        }
        total
    }
}

fn tier_select(c: &mut Criterion) {
    let one = TierBench::new(vec![CompressionPriority::default()]);
    let four = TierBench::new(four_tiers());
    for (name, sys) in [("one", &one), ("four", &four)] {
        let full = format!("tier_select/{name}/1");
        let mut g = c.benchmark_group("tier_select");
        g.throughput(Throughput::Elements(1));
        g.bench_function(BenchmarkId::new(name, 1), |b| {
            b.iter_custom(|iters| {
                let s = sys.run(iters, |_, _| ());
                record(&full, 1, s);
                s.wall
            })
        });
        g.finish();
    }

    let full = "tier_paired/store/1";
    let mut g = c.benchmark_group("tier_paired");
    g.throughput(Throughput::Elements(1));
    g.bench_function(BenchmarkId::new("store", 1), |b| {
        b.iter_custom(|iters| {
            let (mut base, mut measured) = (Vec::new(), Vec::new());
            let mut total = Duration::ZERO;
            // One batch on each per step; which goes first alternates.
            for (k, done) in (0..iters).step_by(BATCH).enumerate() {
                let n = (iters - done).min(BATCH as u64);
                total += if k % 2 == 0 {
                    one.run(n, per_store(&mut base)).wall + four.run(n, per_store(&mut measured)).wall
                } else {
                    four.run(n, per_store(&mut measured)).wall + one.run(n, per_store(&mut base)).wall
                };
            }
            record_pair(&TIER_PAIRS, full, base, measured);
            total
        })
    });
    g.finish();
    for t in [&one, &four] {
        assert_eq!(t.sys.stat().stored_pages, 0, "every entry was loaded back");
    }
}

/// A batch's time per store, pushed to `v`.
fn per_store(v: &mut Vec<f64>) -> impl FnMut(usize, Duration) + '_ {
    move |n, t| v.push(t.as_nanos() as f64 / n as f64)
}

fn device(c: &mut Criterion) {
    for threads in THREADS {
        let sys = device_system();
        bench(c, "device_cycle", "memory", threads, |t, iters| {
            for i in 0..iters {
                synthetic_cycle(&sys, t, i, false);
            }
        });
        assert_eq!(sys.stat().zswpout, 0, "zswap is off");
    }
}

// ---------------------------------------------------------------------------------------
// The summary: criterion's median point estimate (the median of the samples' per-iteration
// times), recomputed from the recorded samples, next to the same median over on-CPU time.

struct Figure {
    /// Median wall ns per iteration (criterion's figure).
    wall: f64,
    /// Median on-CPU ns per iteration (the busiest thread).
    cpu: f64,
    threads: usize,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    if v.len() % 2 == 0 { (v[mid - 1] + v[mid]) / 2.0 } else { v[mid] }
}

fn figures() -> Vec<(String, Figure)> {
    let runs = RUNS.lock().unwrap();
    runs.iter()
        .filter(|(_, _, v)| v.len() >= SAMPLES)
        .map(|(name, threads, v)| {
            let last = &v[v.len() - SAMPLES..];
            let per = |d: fn(&Sample) -> Duration| {
                median(last.iter().map(|s| d(s).as_nanos() as f64 / s.iters as f64).collect())
            };
            (name.clone(), Figure { wall: per(|s| s.wall), cpu: per(|s| s.cpu), threads: *threads })
        })
        .collect()
}

/// Aggregate cycles per second from ns per iteration (one cycle per thread per iteration).
fn ops(threads: usize, ns: f64) -> f64 {
    threads as f64 * 1e9 / ns
}

fn summary(page: &[u8]) {
    let figs = figures();
    if figs.is_empty() {
        return;
    }
    let get = |n: &str| figs.iter().find(|(name, _)| name == n).map(|(_, f)| f);
    let clen = lz4_len(page);
    println!(
        "\n## Summary (median of {SAMPLES} samples; one iteration = one cycle on each thread; \
         lz4 page: {PAGE_SIZE} B -> {clen} B, {:.2}x)\n",
        PAGE_SIZE as f64 / clen as f64
    );
    println!(
        "| benchmark | threads | wall ns/iter | wall cycles/s (aggregate) | on-CPU ns/iter | on-CPU cycles/s (aggregate) |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
    for (name, f) in &figs {
        println!(
            "| {name} | {} | {:.1} | {:.3} M | {:.1} | {:.3} M |",
            f.threads,
            f.wall,
            ops(f.threads, f.wall) / 1e6,
            f.cpu,
            ops(f.threads, f.cpu) / 1e6
        );
    }
    let pairs = paired(&PAIRS);
    if !pairs.is_empty() {
        println!(
            "\nlz4 paired (a lz4_flex round trip and a cycle alternately in one loop; medians per sample, \
             then the median over samples):\n"
        );
        println!("| benchmark | lz4_flex ns | cycle ns | cycle / lz4_flex | overhead ns |");
        println!("|---|---:|---:|---:|---:|");
        for (name, (raw, cyc, r)) in &pairs {
            println!("| {name} | {raw:.0} | {cyc:.0} | {r:.3}x | {:.0} |", cyc - raw);
        }
    }
    let tier_pairs = paired(&TIER_PAIRS);
    if !tier_pairs.is_empty() {
        println!(
            "\ncompression-tier selection paired (a batch of {BATCH} synthetic stores on each system \
             alternately; medians per store per sample, then the median over samples):\n"
        );
        println!("| benchmark | one tier ns/store | four tiers ns/store | four / one | overhead ns |");
        println!("|---|---:|---:|---:|---:|");
        for (name, (one, four, r)) in &tier_pairs {
            println!("| {name} | {one:.1} | {four:.1} | {r:.3}x | {:.1} |", four - one);
        }
    }
    let pair = |n: &str| pairs.iter().chain(&tier_pairs).find(|(name, _)| name == n).map(|(_, p)| p.2);

    println!("\n| target | wall | on-CPU | goal | met (wall / on-CPU) |");
    println!("|---|---:|---:|---:|:---:|");
    type Metric = fn(&Figure) -> f64;
    let metrics: [Metric; 2] = [|f| f.wall, |f| f.cpu];
    let row = |what: &str, v: [Option<f64>; 2], goal: f64, at_most: bool, unit: &str| {
        let show = |x: Option<f64>| x.map_or("n/a".to_string(), |x| format!("{x:.2}{unit}"));
        let met = |x: Option<f64>| match x {
            Some(x) if if at_most { x <= goal } else { x >= goal } => "yes",
            Some(_) => "**no**",
            None => "-",
        };
        let rel = if at_most { "<=" } else { ">=" };
        println!("| {what} | {} | {} | {rel} {goal}{unit} | {} / {} |", show(v[0]), show(v[1]), met(v[0]), met(v[1]));
    };
    let check = |what: &str, value: &dyn Fn(Metric) -> Option<f64>, goal: f64, at_most: bool, unit: &str| {
        row(what, metrics.map(value), goal, at_most, unit)
    };
    let rate = |n: &str, m: Metric| get(n).map(|f| ops(f.threads, m(f)));
    let ratio = |a: &str, b: &str, m: Metric| Some(rate(a, m)? / rate(b, m)?);
    let time = |a: &str, b: &str, m: Metric| Some(m(get(a)?) / m(get(b)?));
    const CORE: &str = "lz4 cycle writeout+evict+fault (alloc/dup/put/release excluded) / lz4_flex";
    const FULL: &str = "lz4 cycle with alloc+dup+put+release (included) / lz4_flex";
    const TIER: &str = "synthetic store, four compression tiers (tier 3 inherited) / one tier";
    // A target stated as a time ratio: the paired figure, then separate runs' `a / b`.
    let time_target = |what: &str, paired: &str, (a, b): (&str, &str), goal: f64| {
        row(&format!("{what}, paired, time"), [pair(paired), None], goal, true, "x");
        check(&format!("{what}, separate runs, time"), &|m| time(a, b, m), goal, true, "x");
    };
    time_target(CORE, "lz4_paired/core/1", ("lz4_cycle/core/1", "lz4_raw/lz4_flex/1"), 1.3);
    time_target(FULL, "lz4_paired/full/1", ("lz4_cycle/full/1", "lz4_raw/lz4_flex/1"), 1.3);
    time_target(TIER, "tier_paired/store/1", ("tier_select/four/1", "tier_select/one/1"), 1.05);
    check(
        "synthetic zswap cycle, M cycles/s, 1 thread",
        &|m| rate("synthetic_cycle/zswap/1", m).map(|o| o / 1e6),
        3.0,
        false,
        "",
    );
    check(
        "synthetic zswap cycle, 2 threads / 1 thread",
        &|m| ratio("synthetic_cycle/zswap/2", "synthetic_cycle/zswap/1", m),
        1.8,
        false,
        "x",
    );
    println!("\nInformational (cycles/s ratios, wall / on-CPU):\n");
    for (a, b) in [
        ("synthetic_cycle/zswap_separate/2", "synthetic_cycle/zswap/1"),
        ("synthetic_cycle/zswap/2", "synthetic_cycle/zswap_separate/2"),
        ("device_cycle/memory/2", "device_cycle/memory/1"),
        ("device_cycle/memory/1", "synthetic_cycle/zswap/1"),
    ] {
        if let (Some(w), Some(c)) = (ratio(a, b, metrics[0]), ratio(a, b, metrics[1])) {
            println!("- {a} / {b}: {w:.2}x / {c:.2}x");
        }
    }
}

/// Per paired benchmark: the medians over the measured samples of the baseline time, the
/// measured time and their per-sample ratio.
fn paired(pairs: &Mutex<Vec<Pair>>) -> Vec<(String, (f64, f64, f64))> {
    let pairs = pairs.lock().unwrap();
    pairs
        .iter()
        .filter(|(_, v)| v.len() >= SAMPLES)
        .map(|(name, v)| {
            let last = &v[v.len() - SAMPLES..];
            let raw = median(last.iter().map(|p| p.0).collect());
            let cyc = median(last.iter().map(|p| p.1).collect());
            let r = median(last.iter().map(|p| p.1 / p.0).collect());
            (name.clone(), (raw, cyc, r))
        })
        .collect()
}

fn main() {
    let page = text_page();
    assert_eq!(page.len(), PAGE_SIZE);
    let mut c = Criterion::default()
        .sample_size(SAMPLES)
        .warm_up_time(Duration::from_millis(700))
        .measurement_time(Duration::from_millis(1800))
        .configure_from_args();
    lz4(&mut c, &page);
    synthetic(&mut c);
    tier_select(&mut c);
    device(&mut c);
    c.final_summary();
    summary(&page);
}
