//! Measurement plumbing both criterion benches share: samples with wall and on-CPU time,
//! the record of every sample, and a benchmark whose iteration runs on N threads.
// Each bench uses what it needs of this.
#![allow(dead_code)]

pub(crate) mod handoff;
pub(crate) mod page;

use criterion::{BenchmarkId, Criterion, Throughput};
use std::sync::{Barrier, Mutex};
use std::time::{Duration, Instant};

/// One sample: iterations, the slowest thread's wall time, the largest per-thread on-CPU
/// time.
#[derive(Clone, Copy)]
pub(crate) struct Sample {
    pub iters: u64,
    pub wall: Duration,
    pub cpu: Duration,
}

/// A benchmark's name, thread count and samples.
pub(crate) type Run = (String, usize, Vec<Sample>);

/// Every sample criterion asked for, per benchmark, warm-up included; the last `SAMPLES`
/// entries are the measured samples.
pub(crate) static RUNS: Mutex<Vec<Run>> = Mutex::new(Vec::new());

pub(crate) fn record(name: &str, threads: usize, s: Sample) {
    let mut runs = RUNS.lock().unwrap();
    match runs.iter_mut().find(|(n, ..)| n == name) {
        Some((.., v)) => v.push(s),
        None => runs.push((name.to_string(), threads, vec![s])),
    }
}

/// This thread's CPU time (`CLOCK_THREAD_CPUTIME_ID`): on a shared machine it leaves out
/// the time the thread sat preempted, which wall time (criterion's figure) includes.
#[cfg(target_os = "linux")]
pub(crate) fn thread_cpu() -> Duration {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable `struct timespec` of the platform's layout (libc's
    // definition, so 32-bit targets get their own), and the clock id is libc's constant.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

#[cfg(not(target_os = "linux"))]
pub(crate) fn thread_cpu() -> Duration {
    Duration::ZERO
}

/// Run `f(thread, iters)` on `threads` scoped threads released together by a barrier;
/// the slowest thread's own wall time (and the largest on-CPU time).
pub(crate) fn on_threads<F: Fn(usize, u64) + Sync>(threads: usize, iters: u64, f: &F) -> Sample {
    let barrier = Barrier::new(threads);
    std::thread::scope(|s| {
        let hs: Vec<_> = (0..threads)
            .map(|t| {
                let barrier = &barrier;
                s.spawn(move || {
                    barrier.wait();
                    let (start, cpu) = (Instant::now(), thread_cpu());
                    f(t, iters);
                    (start.elapsed(), thread_cpu().saturating_sub(cpu))
                })
            })
            .collect();
        let mut out = Sample { iters, wall: Duration::ZERO, cpu: Duration::ZERO };
        for h in hs {
            let (wall, cpu) = h.join().expect("bench thread panicked");
            out.wall = out.wall.max(wall);
            out.cpu = out.cpu.max(cpu);
        }
        out
    })
}

/// One benchmark `group/name/threads` whose iteration is one operation on each thread.
pub(crate) fn bench<F: Fn(usize, u64) + Sync>(c: &mut Criterion, group: &str, name: &str, threads: usize, f: F) {
    let mut g = c.benchmark_group(group);
    g.throughput(Throughput::Elements(threads as u64));
    let full = format!("{group}/{name}/{threads}");
    g.bench_with_input(BenchmarkId::new(name, threads), &threads, |b, &threads| {
        b.iter_custom(|iters| {
            let s = on_threads(threads, iters, &f);
            record(&full, threads, s);
            s.wall
        })
    });
    g.finish();
}
