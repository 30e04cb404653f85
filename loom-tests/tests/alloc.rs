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
// Only meaningful under `--cfg loom`: without it vswap runs on std atomics, which a
// loom model cannot schedule. `cargo test --workspace` builds these files as no tests.
#![cfg(loom)]

use loom::sync::Arc;
use loom::thread;
use vswap::{FolioId, MemcgId, SlotState, VSlot};
use vswap_loom_tests::tiny;

fn run(cpus: [usize; 2], warm: bool) {
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
                thread::spawn(move || (sys.alloc(cpu, MemcgId::ROOT, FolioId(folio), 0).unwrap(), folio))
            })
            .collect();
        for h in hs {
            slots.push(h.join().unwrap());
        }
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
}

#[test]
fn same_cpu_empty_system() {
    run([0, 0], false);
}

#[test]
fn different_cpus_empty_system() {
    run([0, 1], false);
}

#[test]
fn same_cpu_warm_cluster() {
    run([0, 0], true);
}

#[test]
fn different_cpus_warm_cluster() {
    run([0, 1], true);
}
