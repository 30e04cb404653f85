//! Model (l): two writeouts racing for the last free slot of the highest-priority device.
//!
//! Protocol: with zswap off, `writeout` charges `swap.max` and takes a physical slot by
//! tier (`alloc_phys`): each device of the highest priority first, through the device's
//! own cluster allocator (per-CPU cluster caches, then the lists), skipping a full one.
//! Here the high-priority device has exactly one free slot (two pages: slot 0 is the
//! header), the low-priority one has room for both.
//! Property: the slot is given once: one writeout lands on each device, neither is
//! `Kept`, each device counts one used slot besides its header, the two virtual slots
//! are backed by distinct devices, and `swap_current` is two pages.
//! Outcomes: either writeout gets the high-priority slot.
// Only meaningful under `--cfg loom`: without it vswap runs on std atomics, which a
// loom model cannot schedule. `cargo test --workspace` builds these files as no tests.
#![cfg(loom)]

use loom::sync::Arc;
use loom::thread;
use vswap::{Backing, Config, DeviceSpec, FolioId, MemcgId, Page, Shadow, SlotState, SwapSystem, Writeout};
use vswap_loom_tests::{Seen, tiny_config};

/// `same_cpu`: one CPU, so both folios' slots are in one virtual cluster and both
/// writeouts use that CPU's device cluster cache; otherwise two CPUs' caches.
fn run(same_cpu: bool) {
    let outcomes = Seen::new(&["thread 0 got the high-priority slot", "thread 1 got the high-priority slot"])
        .never(&["the high-priority slot was given twice", "the high-priority slot went unused"]);
    let seen = outcomes.clone();
    vswap_loom_tests::model(move || {
        let mut cfg: Config = tiny_config();
        cfg.cpus = if same_cpu { 1 } else { 2 };
        cfg.zswap.enabled = false;
        let sys = Arc::new(SwapSystem::new(cfg).unwrap());
        let hi = sys.swapon(DeviceSpec::null("hi", 2).priority(10)).unwrap();
        let lo = sys.swapon(DeviceSpec::null("lo", 4).priority(0)).unwrap();
        // Unmapped folios: each slot's count is 1 (a PTE holds the entry).
        let slots: Vec<_> = (0..2)
            .map(|i| {
                let s = sys.alloc(if same_cpu { 0 } else { i }, MemcgId::ROOT, FolioId(10 + i as u64), 0).unwrap();
                assert_eq!(sys.dup(s), Ok(1));
                s
            })
            .collect();
        assert_eq!(slots[0].raw() >> 2 == slots[1].raw() >> 2, same_cpu);

        let hs: Vec<_> = slots
            .iter()
            .map(|&s| {
                let sys = sys.clone();
                thread::spawn(move || sys.writeout(s, Page::Synthetic { compressed_len: 0, zero: false }))
            })
            .collect();
        let res: Vec<_> = hs.into_iter().map(|h| h.join().unwrap().unwrap()).collect();
        let mut devs: Vec<_> = res
            .iter()
            .map(|w| match w {
                Writeout::Device(d) => *d,
                w => panic!("a writeout was not written to a device: {res:?} ({w:?})"),
            })
            .collect();
        let outcome = match (devs[0] == hi, devs[1] == hi) {
            (true, false) => "thread 0 got the high-priority slot",
            (false, true) => "thread 1 got the high-priority slot",
            (true, true) => "the high-priority slot was given twice",
            (false, false) => "the high-priority slot went unused",
        };
        seen.mark_with(outcome, || format!("{res:?}"));
        devs.sort();
        assert_eq!(devs, [hi, lo], "the one free slot of the high-priority device was given twice: {res:?}");
        for (&s, w) in slots.iter().zip(&res) {
            let Writeout::Device(d) = *w else { unreachable!() };
            sys.evict(s, Shadow(1)).unwrap();
            assert_eq!(
                sys.state(s).unwrap(),
                SlotState::SwappedOut { shadow: Shadow(1), count: 1, backing: Backing::Device(d) }
            );
        }
        assert_eq!(sys.device_stat(hi).unwrap().used, 2, "high-priority device use");
        assert_eq!(sys.device_stat(lo).unwrap().used, 2, "low-priority device use");
        assert_eq!(sys.memcg_stat(MemcgId::ROOT).unwrap().swap_current, 2 * 4096);
        assert_eq!(sys.stat().pswpout, 2);
    });
    outcomes.check();
}

#[test]
fn two_writeouts_race_for_the_last_slot_one_cpu() {
    run(true);
}

#[test]
fn two_writeouts_race_for_the_last_slot_two_cpus() {
    run(false);
}
