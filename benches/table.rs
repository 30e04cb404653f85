//! The slot hot paths of `vswap` against what a user would otherwise pick, in one run:
//! `sharded_slab::Slab<u64>`, `DashMap<u64, u64>`, `Mutex<HashMap<u64, u64>>` and a
//! kernel-style table (`KernelTable` below: 512 `u64` slots per cluster behind one
//! `std::sync::Mutex` per cluster plus a free-slot search, as `swapfile.c` does under
//! `ci->lock`).
//!
//! Groups (each at 1 and 2 threads where it says so; thread `t` passes CPU index `t`):
//! * `alloc_release/*/{1,2}` — one order-0 `alloc` + `release` (count 0, so it frees)
//!   per iteration per thread, vs insert + remove / alloc + free.
//! * `state/*/1` — one lookup over a populated set of slots: `SwapSystem::state` (an
//!   epoch pin per call), `Pinned::state` (one pin per sample), and the baselines'
//!   lookups, with a plain `AtomicU64` array load as the floor.
//! * `dup_put/*/{1,2}` — `dup` + `put` on random slots of one shared set vs
//!   `DashMap::get_mut` increment + decrement and the locked equivalents.
//! * `cross_cpu_free/*/2` — thread 0 allocates on CPU 0, thread 1 frees what it
//!   allocated (handed over through std's bounded channel, the same for each structure): an iteration
//!   is one alloc on one thread and one free on the other.
//! * `mixed_dup_lookup_put/*/{1,2}` — `dup`, a lookup of another slot and `put`, on
//!   random slots of one shared set.
//!
//! Multi-threaded figures use `iter_custom`: every thread waits on a `Barrier`, does
//! `iters` operations and the slowest thread's time is the sample, so one iteration is
//! `threads` operations (criterion's throughput line is the aggregate rate).
//!
//! After criterion's own report, a Markdown summary (medians, aggregate ops/s, and the
//! ratios the targets are stated in) is printed; `BENCHMARKS.md` is built from it.
//!
//! Run: `CARGO_TARGET_DIR=target/bench cargo bench --bench table`.

use criterion::Criterion;
use crossbeam_utils::CachePadded;
use dashmap::DashMap;
use sharded_slab::Slab;
use std::collections::HashMap;
use std::hint::black_box;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::time::Duration;
use vswap::{Config, FolioId, MemcgId, SwapSystem, VSlot};

mod common;
use common::*;

const SAMPLES: usize = 20;
const CPUS: usize = 2;
/// Slots in the populated sets of the lookup and count benches (8 clusters of 512).
const SET: usize = 4096;
const THREADS: [usize; 2] = [1, 2];

// ---------------------------------------------------------------------------------------
// Measurement plumbing.

// (`benches/common`: Sample, RUNS, record, thread_cpu, on_threads, bench.)

/// A per-thread xorshift, for random indices into the shared sets.
#[derive(Clone, Copy)]
struct Rng(u64);

impl Rng {
    fn new(t: usize) -> Self {
        Self(0x9e37_79b9_7f4a_7c15 ^ ((t as u64 + 1) << 17))
    }
    #[inline]
    fn below(&mut self, n: usize) -> usize {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        (x % n as u64) as usize
    }
}

// ---------------------------------------------------------------------------------------
// The kernel-style table: what `swapfile.c` does, with `ci->lock` a `std::sync::Mutex`.

const KCLUSTER: usize = 512;

struct KCluster {
    /// One word per slot (the kernel's swap_map / swap table entry); 0 is free.
    map: Box<[u64; KCLUSTER]>,
    /// Used slots (`ci->count`).
    count: u32,
    /// Where the next free-slot search starts (the per-CPU `next` offset).
    next: u32,
}

/// Cache-line padding so two CPUs' clusters and cursors never share a line.
type Padded<T> = CachePadded<T>;

struct KernelTable {
    clusters: Box<[Padded<Mutex<KCluster>>]>,
    /// The cluster each CPU allocates from (`percpu_swap_cluster`).
    percpu: Box<[Padded<AtomicUsize>]>,
}

impl KernelTable {
    fn new(clusters: usize, cpus: usize) -> Self {
        Self {
            clusters: (0..clusters)
                .map(|_| CachePadded::new(Mutex::new(KCluster { map: Box::new([0; KCLUSTER]), count: 0, next: 0 })))
                .collect(),
            percpu: (0..cpus).map(|c| CachePadded::new(AtomicUsize::new(c % clusters))).collect(),
        }
    }

    /// `cluster_alloc_swap_entry` for order 0: lock the CPU's cluster, scan for a free
    /// slot from the cursor (wrapping), claim it; a full cluster moves the CPU on.
    #[inline]
    fn alloc(&self, cpu: usize, val: u64) -> Option<u64> {
        for _ in 0..self.clusters.len() {
            let ci = self.percpu[cpu].load(Ordering::Relaxed);
            {
                let mut c = self.clusters[ci].lock().unwrap();
                if (c.count as usize) < KCLUSTER {
                    let start = c.next as usize;
                    let off = (start..KCLUSTER).chain(0..start).find(|&i| c.map[i] == 0)?;
                    c.map[off] = val | 1;
                    c.count += 1;
                    c.next = ((off + 1) % KCLUSTER) as u32;
                    return Some((ci * KCLUSTER + off) as u64);
                }
            }
            let n = self.clusters.len();
            self.percpu[cpu].store((ci + self.percpu.len()) % n, Ordering::Relaxed);
        }
        None
    }

    /// `swap_entries_free`: lock the slot's cluster and clear it.
    #[inline]
    fn free(&self, slot: u64) {
        let mut c = self.clusters[slot as usize / KCLUSTER].lock().unwrap();
        let off = slot as usize % KCLUSTER;
        debug_assert_ne!(c.map[off], 0);
        c.map[off] = 0;
        c.count -= 1;
    }

    /// Add `delta` to the slot's count under the cluster lock (`__swap_duplicate`).
    #[inline]
    fn add(&self, slot: u64, delta: u64) -> u64 {
        let mut c = self.clusters[slot as usize / KCLUSTER].lock().unwrap();
        let off = slot as usize % KCLUSTER;
        c.map[off] = c.map[off].wrapping_add(delta);
        c.map[off]
    }

    /// Read a slot's word under the cluster lock.
    #[inline]
    fn get(&self, slot: u64) -> u64 {
        self.clusters[slot as usize / KCLUSTER].lock().unwrap().map[slot as usize % KCLUSTER]
    }
}

// ---------------------------------------------------------------------------------------
// The benchmarks.

fn system() -> SwapSystem {
    SwapSystem::new(Config { cpus: CPUS, ..Default::default() }).expect("config")
}

/// A system holding `SET` cached slots of count 1 (a PTE each), allocated on CPU 0.
fn populated() -> (SwapSystem, Vec<VSlot>) {
    let sys = system();
    let slots: Vec<VSlot> = (0..SET as u64)
        .map(|i| {
            let s = sys.alloc(0, MemcgId::ROOT, FolioId(i), 0).expect("alloc");
            sys.dup(s).expect("dup");
            s
        })
        .collect();
    (sys, slots)
}

/// A kernel-style table holding `SET` slots of count 1, allocated on CPU 0.
fn populated_kernel_table() -> KernelTable {
    let kt = KernelTable::new(SET / KCLUSTER, 1);
    for i in 0..SET as u64 {
        kt.alloc(0, i << 1).expect("kernel table full");
    }
    kt
}

fn alloc_release(c: &mut Criterion) {
    const G: &str = "alloc_release";
    for threads in THREADS {
        let sys = system();
        bench(c, G, "vswap", threads, |t, iters| {
            for i in 0..iters {
                let s = sys.alloc(t, MemcgId::ROOT, FolioId(i & 0xffff), 0).expect("alloc");
                assert!(sys.release(black_box(s)).expect("release"), "count 0: release frees");
            }
        });
        drop(sys);

        let slab: Slab<u64> = Slab::new();
        bench(c, G, "sharded_slab", threads, |_, iters| {
            for i in 0..iters {
                let k = slab.insert(i).expect("slab full");
                assert!(slab.remove(black_box(k)));
            }
        });
        drop(slab);

        let map: DashMap<u64, u64> = DashMap::new();
        bench(c, G, "dashmap", threads, |t, iters| {
            let base = (t as u64) << 48;
            for i in 0..iters {
                map.insert(base | i, i);
                black_box(map.remove(&(base | i)));
            }
        });
        drop(map);

        let map: Mutex<HashMap<u64, u64>> = Mutex::new(HashMap::new());
        bench(c, G, "mutex_hashmap", threads, |t, iters| {
            let base = (t as u64) << 48;
            for i in 0..iters {
                map.lock().unwrap().insert(base | i, i);
                black_box(map.lock().unwrap().remove(&(base | i)));
            }
        });
        drop(map);

        let kt = KernelTable::new(64, CPUS);
        bench(c, G, "kernel_table", threads, |t, iters| {
            for i in 0..iters {
                let s = kt.alloc(t, i << 1).expect("kernel table full");
                kt.free(black_box(s));
            }
        });
    }
}

fn state(c: &mut Criterion) {
    const G: &str = "state";
    let (sys, slots) = populated();
    bench(c, G, "vswap", 1, |t, iters| {
        let mut r = Rng::new(t);
        for _ in 0..iters {
            black_box(sys.state(slots[r.below(SET)]).expect("state"));
        }
    });
    bench(c, G, "vswap_pinned", 1, |t, iters| {
        let mut r = Rng::new(t);
        let pin = sys.pin();
        for _ in 0..iters {
            black_box(pin.state(slots[r.below(SET)]).expect("state"));
        }
    });
    drop(sys);

    let words: Box<[AtomicU64]> = (0..SET as u64).map(|i| AtomicU64::new(i << 1 | 1)).collect();
    bench(c, G, "atomic_load", 1, |t, iters| {
        let mut r = Rng::new(t);
        for _ in 0..iters {
            black_box(words[r.below(SET)].load(Ordering::Acquire));
        }
    });

    let slab: Slab<u64> = Slab::new();
    let keys: Vec<usize> = (0..SET as u64).map(|i| slab.insert(i).expect("slab full")).collect();
    bench(c, G, "sharded_slab", 1, |t, iters| {
        let mut r = Rng::new(t);
        for _ in 0..iters {
            black_box(*slab.get(keys[r.below(SET)]).expect("present"));
        }
    });
    drop(slab);

    let map: DashMap<u64, u64> = (0..SET as u64).map(|i| (i, i)).collect();
    bench(c, G, "dashmap", 1, |t, iters| {
        let mut r = Rng::new(t);
        for _ in 0..iters {
            black_box(*map.get(&(r.below(SET) as u64)).expect("present"));
        }
    });
    drop(map);

    let map: Mutex<HashMap<u64, u64>> = Mutex::new((0..SET as u64).map(|i| (i, i)).collect());
    bench(c, G, "mutex_hashmap", 1, |t, iters| {
        let mut r = Rng::new(t);
        for _ in 0..iters {
            black_box(*map.lock().unwrap().get(&(r.below(SET) as u64)).expect("present"));
        }
    });
    drop(map);

    let kt = populated_kernel_table();
    bench(c, G, "kernel_table", 1, |t, iters| {
        let mut r = Rng::new(t);
        for _ in 0..iters {
            black_box(kt.get(r.below(SET) as u64));
        }
    });
}

fn dup_put(c: &mut Criterion) {
    const G: &str = "dup_put";
    for threads in THREADS {
        let (sys, slots) = populated();
        bench(c, G, "vswap", threads, |t, iters| {
            let mut r = Rng::new(t);
            for _ in 0..iters {
                let s = slots[r.below(SET)];
                black_box(sys.dup(s).expect("dup"));
                black_box(sys.put(s).expect("put"));
            }
        });
        drop(sys);

        let map: DashMap<u64, u64> = (0..SET as u64).map(|i| (i, 1)).collect();
        bench(c, G, "dashmap", threads, |t, iters| {
            let mut r = Rng::new(t);
            for _ in 0..iters {
                let k = r.below(SET) as u64;
                *map.get_mut(&k).expect("present") += 1;
                let mut v = map.get_mut(&k).expect("present");
                *v -= 1;
                black_box(*v);
            }
        });
        drop(map);

        let map: Mutex<HashMap<u64, u64>> = Mutex::new((0..SET as u64).map(|i| (i, 1)).collect());
        bench(c, G, "mutex_hashmap", threads, |t, iters| {
            let mut r = Rng::new(t);
            for _ in 0..iters {
                let k = r.below(SET) as u64;
                *map.lock().unwrap().get_mut(&k).expect("present") += 1;
                let mut m = map.lock().unwrap();
                let v = m.get_mut(&k).expect("present");
                *v -= 1;
                black_box(*v);
            }
        });
        drop(map);

        let kt = populated_kernel_table();
        bench(c, G, "kernel_table", threads, |t, iters| {
            let mut r = Rng::new(t);
            for _ in 0..iters {
                let s = r.below(SET) as u64;
                kt.add(s, 2);
                black_box(kt.add(s, 2u64.wrapping_neg()));
            }
        });
    }
}

/// The cross-CPU benches' handoff from the allocating thread to the freeing one: std's
/// bounded channel (no protocol of our own to prove), the same for every structure.
struct Handoff {
    tx: SyncSender<u64>,
    rx: Mutex<Receiver<u64>>,
}

impl Handoff {
    fn new() -> Self {
        let (tx, rx) = sync_channel(256);
        Self { tx, rx: Mutex::new(rx) }
    }
}

/// Thread 0 allocates on CPU 0 and hands each slot over; thread 1 frees it: the frees of
/// a process that exits on another CPU, or after a migration. The kernel's design takes
/// the slot's cluster lock on both sides.
fn cross_cpu_free(c: &mut Criterion) {
    const G: &str = "cross_cpu_free";
    let sys = system();
    let handoff = Handoff::new();
    bench(c, G, "vswap", 2, |t, iters| {
        if t == 0 {
            let tx = handoff.tx.clone();
            for i in 0..iters {
                tx.send(sys.alloc(0, MemcgId::ROOT, FolioId(i & 0xffff), 0).expect("alloc").raw()).expect("send");
            }
        } else {
            let rx = handoff.rx.lock().unwrap();
            for _ in 0..iters {
                let s = VSlot::from_raw(rx.recv().expect("recv"));
                assert!(sys.release(s).expect("release"), "count 0: release frees");
            }
        }
    });
    drop(sys);

    let slab: Slab<u64> = Slab::new();
    bench(c, G, "sharded_slab", 2, |t, iters| {
        if t == 0 {
            let tx = handoff.tx.clone();
            for i in 0..iters {
                tx.send(slab.insert(i).expect("slab full") as u64).expect("send");
            }
        } else {
            let rx = handoff.rx.lock().unwrap();
            for _ in 0..iters {
                assert!(slab.remove(rx.recv().expect("recv") as usize));
            }
        }
    });
    drop(slab);

    let kt = KernelTable::new(64, CPUS);
    bench(c, G, "kernel_table", 2, |t, iters| {
        if t == 0 {
            let tx = handoff.tx.clone();
            for i in 0..iters {
                tx.send(kt.alloc(0, i << 1).expect("kernel table full")).expect("send");
            }
        } else {
            let rx = handoff.rx.lock().unwrap();
            for _ in 0..iters {
                kt.free(rx.recv().expect("recv"));
            }
        }
    });
}

/// On one shared set of slots, each thread in turn takes a reference (`dup`), looks up
/// another slot and drops the reference (`put`): page table copies, faults and unmaps
/// interleaved, as on a forking server.
fn mixed(c: &mut Criterion) {
    const G: &str = "mixed_dup_lookup_put";
    for threads in THREADS {
        let (sys, slots) = populated();
        bench(c, G, "vswap", threads, |t, iters| {
            let mut r = Rng::new(t);
            for _ in 0..iters {
                let (s, o) = (slots[r.below(SET)], slots[r.below(SET)]);
                black_box(sys.dup(s).expect("dup"));
                black_box(sys.state(o).expect("state"));
                black_box(sys.put(s).expect("put"));
            }
        });
        drop(sys);

        let map: DashMap<u64, u64> = (0..SET as u64).map(|i| (i, 1)).collect();
        bench(c, G, "dashmap", threads, |t, iters| {
            let mut r = Rng::new(t);
            for _ in 0..iters {
                let (k, o) = (r.below(SET) as u64, r.below(SET) as u64);
                *map.get_mut(&k).expect("present") += 1;
                black_box(*map.get(&o).expect("present"));
                let mut v = map.get_mut(&k).expect("present");
                *v -= 1;
                black_box(*v);
            }
        });
        drop(map);

        let kt = populated_kernel_table();
        bench(c, G, "kernel_table", threads, |t, iters| {
            let mut r = Rng::new(t);
            for _ in 0..iters {
                let (s, o) = (r.below(SET) as u64, r.below(SET) as u64);
                kt.add(s, 2);
                black_box(kt.get(o));
                black_box(kt.add(s, 2u64.wrapping_neg()));
            }
        });
    }
}

// ---------------------------------------------------------------------------------------
// The summary: criterion's median point estimate (the median of the samples' per-iteration
// times), recomputed from the recorded samples so no JSON has to be read back, next to the
// same median over on-CPU time.

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

/// Aggregate operations per second from ns per iteration (one op per thread per iteration).
fn ops(threads: usize, ns: f64) -> f64 {
    threads as f64 * 1e9 / ns
}

fn summary() {
    let figs = figures();
    if figs.is_empty() {
        return;
    }
    let get = |n: &str| figs.iter().find(|(name, _)| name == n).map(|(_, f)| f);
    println!("\n## Summary (median of {SAMPLES} samples; one iteration = one op on each thread)\n");
    println!(
        "| benchmark | threads | wall ns/iter | wall ops/s (aggregate) | on-CPU ns/iter | on-CPU ops/s (aggregate) |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
    for (name, f) in &figs {
        println!(
            "| {name} | {} | {:.2} | {:.2} M | {:.2} | {:.2} M |",
            f.threads,
            f.wall,
            ops(f.threads, f.wall) / 1e6,
            f.cpu,
            ops(f.threads, f.cpu) / 1e6
        );
    }
    println!("\n| target | wall | on-CPU | goal | met (wall / on-CPU) |");
    println!("|---|---:|---:|---:|:---:|");
    type Metric = fn(&Figure) -> f64;
    let metrics: [Metric; 2] = [|f| f.wall, |f| f.cpu];
    let check = |what: &str, value: &dyn Fn(Metric) -> Option<f64>, goal: f64, at_most: bool, unit: &str| {
        let v = metrics.map(value);
        let show = |x: Option<f64>| x.map_or("n/a".to_string(), |x| format!("{x:.2}{unit}"));
        let met = |x: Option<f64>| match x {
            Some(x) if if at_most { x <= goal } else { x >= goal } => "yes",
            Some(_) => "**no**",
            None => "-",
        };
        let rel = if at_most { "<=" } else { ">=" };
        println!("| {what} | {} | {} | {rel} {goal}{unit} | {} / {} |", show(v[0]), show(v[1]), met(v[0]), met(v[1]));
    };
    let rate = |n: &str, m: Metric| get(n).map(|f| ops(f.threads, m(f)));
    let ratio = |a: &str, b: &str, m: Metric| Some(rate(a, m)? / rate(b, m)?);
    check("alloc+release M pairs/s, 1 thread", &|m| rate("alloc_release/vswap/1", m).map(|o| o / 1e6), 30.0, false, "");
    check(
        "vswap / sharded_slab, 1 thread",
        &|m| ratio("alloc_release/vswap/1", "alloc_release/sharded_slab/1", m),
        1.3,
        false,
        "x",
    );
    check(
        "vswap / dashmap, 1 thread",
        &|m| ratio("alloc_release/vswap/1", "alloc_release/dashmap/1", m),
        0.9,
        false,
        "x",
    );
    check(
        "vswap / sharded_slab, 2 threads",
        &|m| ratio("alloc_release/vswap/2", "alloc_release/sharded_slab/2", m),
        2.0,
        false,
        "x",
    );
    check(
        "vswap / dashmap, 2 threads",
        &|m| ratio("alloc_release/vswap/2", "alloc_release/dashmap/2", m),
        2.0,
        false,
        "x",
    );
    check(
        "vswap 2 threads / 1 thread",
        &|m| ratio("alloc_release/vswap/2", "alloc_release/vswap/1", m),
        1.8,
        false,
        "x",
    );
    check("state per call, median ns", &|m| get("state/vswap/1").map(m), 15.0, true, "");
    check(
        "state pinned / plain atomic load (time)",
        &|m| Some(m(get("state/vswap_pinned/1")?) / m(get("state/atomic_load/1")?)),
        2.0,
        true,
        "x",
    );
    check("dup+put vswap / dashmap, 2 threads", &|m| ratio("dup_put/vswap/2", "dup_put/dashmap/2", m), 2.0, false, "x");
    check(
        "cross-CPU alloc/free vswap / kernel_table, 2 threads",
        &|m| ratio("cross_cpu_free/vswap/2", "cross_cpu_free/kernel_table/2", m),
        1.5,
        false,
        "x",
    );
    println!("\nOther ratios (wall / on-CPU):\n");
    for (a, b) in [
        ("alloc_release/vswap/1", "alloc_release/kernel_table/1"),
        ("alloc_release/vswap/2", "alloc_release/kernel_table/2"),
        ("alloc_release/vswap/2", "alloc_release/mutex_hashmap/2"),
        ("alloc_release/sharded_slab/2", "alloc_release/sharded_slab/1"),
        ("alloc_release/kernel_table/2", "alloc_release/kernel_table/1"),
        ("dup_put/vswap/1", "dup_put/dashmap/1"),
        ("dup_put/vswap/2", "dup_put/kernel_table/2"),
        ("dup_put/vswap/2", "dup_put/vswap/1"),
        ("cross_cpu_free/vswap/2", "cross_cpu_free/sharded_slab/2"),
        ("mixed_dup_lookup_put/vswap/1", "mixed_dup_lookup_put/kernel_table/1"),
        ("mixed_dup_lookup_put/vswap/2", "mixed_dup_lookup_put/kernel_table/2"),
        ("mixed_dup_lookup_put/vswap/2", "mixed_dup_lookup_put/dashmap/2"),
    ] {
        if let (Some(w), Some(c)) = (ratio(a, b, metrics[0]), ratio(a, b, metrics[1])) {
            println!("- {a} / {b}: {w:.2}x / {c:.2}x");
        }
    }
}

fn main() {
    let mut c = Criterion::default()
        .sample_size(SAMPLES)
        .warm_up_time(Duration::from_millis(700))
        .measurement_time(Duration::from_millis(1800))
        .configure_from_args();
    alloc_release(&mut c);
    state(&mut c);
    dup_put(&mut c);
    cross_cpu_free(&mut c);
    mixed(&mut c);
    c.final_summary();
    summary();
}
