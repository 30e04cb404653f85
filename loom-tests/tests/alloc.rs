//! Model (a2): `SwapSystem::alloc` from two threads.
//!
//! Protocol: `alloc` takes the per-CPU cluster pointer with a `swap` to null (so two
//! threads passing the same CPU index never share it), claims bits in the owned cluster
//! (CAS on the bitmap word, then a CAS on the cluster's meta word), and otherwise falls
//! back to the lists / a new cluster under the lists lock; a thread that loses the race
//! to put its cluster back in the per-CPU slot disowns it to the lists.
//! Property: the two threads get distinct slots, each slot reads back as its own folio in
//! the cache with count 0, `vslots_in_use` counts exactly the allocated slots, and after
//! releasing every slot and draining the CPU caches nothing is in use and no cluster is live.
//! Run on an empty system (both threads create clusters) and on a warm one (CPU 0 already
//! caches a cluster with three free slots, so one thread wins it and the other goes slow).
//! Outcomes (slots are numbered by cluster, clusters in creation order, so the lower slot
//! is the first allocation): on one CPU, the second thread either swaps the CPU's cache
//! slot after the first put its cluster back (both slots in one cluster) or while the
//! first holds it (null: it goes slow, and one of the two disowns its cluster to the
//! lists); on two CPUs, the caches are apart, so the threads never share a cluster
//! (empty: each creates one, in either order; warm: CPU 0's thread always gets the warm
//! cluster, and the two calls run in either order or overlap).
// Only meaningful under `--cfg loom`: without it vswap runs on std atomics, which a
// loom model cannot schedule. `cargo test --workspace` builds these files as no tests.
#![cfg(loom)]

use loom::sync::Arc;
use loom::thread;
use vswap::{FolioId, MemcgId, SlotState, VSlot};
use vswap_loom_tests::{Order, Seen, span, tiny};

fn run(cpus: [usize; 2], warm: bool, outcomes: Seen) {
    let seen = outcomes.clone();
    vswap_loom_tests::model(move || {
        let sys = Arc::new(tiny());
        let mut slots: Vec<(VSlot, u64)> = Vec::new();
        if warm {
            slots.push((sys.alloc(0, MemcgId::ROOT, FolioId(7), 0).unwrap(), 7));
        }
        let hs: Vec<_> = cpus
            .iter()
            .enumerate()
            .map(|(i, &cpu)| {
                let sys = sys.clone();
                let folio = 100 + i as u64;
                thread::spawn(move || span(|| (sys.alloc(cpu, MemcgId::ROOT, FolioId(folio), 0).unwrap(), folio)))
            })
            .collect();
        let mut spans = Vec::new();
        for h in hs {
            let (got, s) = h.join().unwrap();
            slots.push(got);
            spans.push(s);
        }
        seen.mark(outcome(cpus, warm, &slots, [spans[0], spans[1]]));
        let mut raw: Vec<u64> = slots.iter().map(|(s, _)| s.raw()).collect();
        raw.sort_unstable();
        raw.dedup();
        assert_eq!(raw.len(), slots.len(), "two allocations returned the same slot: {slots:?}");
        for &(s, f) in &slots {
            assert_eq!(sys.state(s).unwrap(), SlotState::Cached { folio: FolioId(f), count: 0 }, "slot {s:?}");
        }
        assert_eq!(sys.stat().vslots_in_use, slots.len() as u64);
        for &(s, _) in &slots {
            assert_eq!(sys.release(s), Ok(true));
        }
        assert_eq!(sys.stat().vslots_in_use, 0);
        sys.drain_cpu_caches();
        assert_eq!(sys.stat().clusters_live, 0, "empty clusters left after drain");
    });
    outcomes.check();
}

/// The outcome of one execution: which thread allocated first (the lower slot), and in
/// which clusters (the warm one is the cluster of the slot allocated before the race).
fn outcome(cpus: [usize; 2], warm: bool, slots: &[(VSlot, u64)], spans: [vswap_loom_tests::Span; 2]) -> &'static str {
    let cluster = |s: VSlot| s.raw() >> 2;
    let (t0, t1) = (slots[slots.len() - 2].0, slots[slots.len() - 1].0);
    let first = if t0 < t1 { 0 } else { 1 };
    let shared = cluster(t0) == cluster(t1);
    match (cpus[0] == cpus[1], warm) {
        (true, false) => match (first, shared) {
            (0, true) => "thread 0 first, thread 1 took its cluster from the CPU cache",
            (1, true) => "thread 1 first, thread 0 took its cluster from the CPU cache",
            (0, false) => "thread 0 first, thread 1 found the CPU cache taken and made a cluster",
            _ => "thread 1 first, thread 0 found the CPU cache taken and made a cluster",
        },
        (false, false) if shared => "the two CPUs shared a cluster",
        (false, false) => ["thread 0 made the first cluster", "thread 1 made the first cluster"][first],
        (same_cpu, true) => {
            let w = cluster(slots[0].0);
            match (cluster(t0) == w, cluster(t1) == w) {
                (false, false) => "neither thread got the warm cluster",
                (true, true) if same_cpu => {
                    ["both in the warm cluster, thread 0 first", "both in the warm cluster, thread 1 first"][first]
                }
                (true, false) if same_cpu => "thread 0 in the warm cluster, thread 1 made a cluster",
                (false, true) if same_cpu => "thread 1 in the warm cluster, thread 0 made a cluster",
                (true, false) => match spans[0].order(spans[1]) {
                    Order::Before => "CPU 0's thread in the warm cluster, returned before CPU 1's began",
                    Order::After => "CPU 0's thread in the warm cluster, began after CPU 1's returned",
                    _ => "CPU 0's thread in the warm cluster, overlapping CPU 1's",
                },
                _ => "CPU 1's thread got a slot of CPU 0's cached cluster",
            }
        }
    }
}

#[test]
fn same_cpu_empty_system() {
    let outcomes = Seen::new(&[
        "thread 0 first, thread 1 took its cluster from the CPU cache",
        "thread 1 first, thread 0 took its cluster from the CPU cache",
        "thread 0 first, thread 1 found the CPU cache taken and made a cluster",
        "thread 1 first, thread 0 found the CPU cache taken and made a cluster",
    ]);
    run([0, 0], false, outcomes);
}

#[test]
fn different_cpus_empty_system() {
    let outcomes = Seen::new(&["thread 0 made the first cluster", "thread 1 made the first cluster"])
        .never(&["the two CPUs shared a cluster"]);
    run([0, 1], false, outcomes);
}

#[test]
fn same_cpu_warm_cluster() {
    let outcomes = Seen::new(&[
        "both in the warm cluster, thread 0 first",
        "both in the warm cluster, thread 1 first",
        "thread 0 in the warm cluster, thread 1 made a cluster",
        "thread 1 in the warm cluster, thread 0 made a cluster",
    ])
    .never(&["neither thread got the warm cluster"]);
    run([0, 0], true, outcomes);
}

#[test]
fn different_cpus_warm_cluster() {
    let outcomes = Seen::new(&[
        "CPU 0's thread in the warm cluster, returned before CPU 1's began",
        "CPU 0's thread in the warm cluster, began after CPU 1's returned",
        "CPU 0's thread in the warm cluster, overlapping CPU 1's",
    ])
    .never(&["neither thread got the warm cluster", "CPU 1's thread got a slot of CPU 0's cached cluster"]);
    run([0, 1], true, outcomes);
}
