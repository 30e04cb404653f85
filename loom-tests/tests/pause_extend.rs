//! Model (q): two events that pause the shrink worker's writeback, at the same time.
//!
//! Protocol: `writeback_pause` (the 2024 series' patch 6 and its correction). A rejected
//! store or a swap-in that read a device at tick `now` pauses the worker until
//! `now + pause`; a later event only extends the pause. `Shrink::pause` reads the
//! deadline first (relaxed) and skips the write when it is already at or past its own,
//! else raises it with `fetch_max`; the worker reads the deadline (acquire) before each
//! step and stops `Paused { until }` while the clock is below it.
//! Setup: `writeback_pause` of 5 ticks; one page of the root in zswap (the pool accepts
//! at 0 and starts the worker proactively, so the worker is pending); two pages of a
//! memcg with `memory.zswap.max` 0 on a device (their refused stores, at tick 0, paused
//! the worker until tick 5); then the clock reads 1. One thread advances the clock to 10
//! and faults the first device page (a pause until 15); the other faults the second
//! (until 6 or 15, by which tick it reads).
//! Property: whatever the order, the deadline ends at 15, the largest: a worker run at
//! tick 10 stops `Paused { until: 15 }` without writing, it stays pending, and a run at
//! tick 15 writes the root's page. A pause that stored its own deadline instead of the
//! maximum leaves 6 in the interleaving where the second fault read tick 1 and wrote
//! last.
//! Outcomes (from [`vswap_loom_tests::Span`]s of the calls; the second fault runs on the
//! model's thread right after the spawn, so it always begins first): it returned before
//! the first thread began (it paused until 6, then the first raised the deadline to 15),
//! or while the first thread ran, or the first thread ran entirely within it (the second
//! fault's pause came last: the header's interleaving when it had read tick 1).
//! Returning while the first thread runs takes two preemptions, so the model runs at
//! bound 2 (about a second).
// Only meaningful under `--cfg loom`: without it vswap runs on std atomics, which a
// loom model cannot schedule. `cargo test --workspace` builds these files as no tests.
#![cfg(loom)]

use loom::sync::Arc;
use loom::thread;
use vswap::{
    Backing, DeviceSpec, FaultSource, FolioId, Knob, Limit, MemcgId, Page, Shadow, ShrinkStop, SlotState, SwapSystem,
    Writeout,
};
use vswap_loom_tests::{Order, Seen, facade_preemptions, pattern, queued_worker_config, span};

#[test]
fn pauses_extend_to_the_latest_deadline() {
    let outcomes = Seen::new(&[
        "the second fault returned before the clock moved",
        "the second fault returned while the first thread ran",
        "the first thread ran within the second fault",
    ]);
    let seen = outcomes.clone();
    vswap_loom_tests::model_with_preemptions(facade_preemptions().max(2), move || {
        let mut cfg = queued_worker_config();
        cfg.zswap.writeback_pause = Some(5);
        let sys = Arc::new(SwapSystem::new(cfg).unwrap());
        let dev = sys.swapon(DeviceSpec::memory("swap0", 4)).unwrap();
        let a = sys.memcg_create(MemcgId::ROOT).unwrap();
        sys.memcg_set(a, Knob::ZswapMax(Limit::Bytes(0))).unwrap();
        let swap_out = |cg, i: u8| {
            let s = sys.alloc(0, cg, FolioId(20 + u64::from(i)), 0).unwrap();
            assert_eq!(sys.dup(s), Ok(1));
            let w = sys.writeout(s, Page::Bytes(&pattern(i))).unwrap();
            sys.evict(s, Shadow(2)).unwrap();
            (s, w)
        };
        let (kept, w) = swap_out(MemcgId::ROOT, 0);
        assert!(matches!(w, Writeout::Zswap { .. }), "{w:?}");
        let on_device: Vec<_> = (1..3u8)
            .map(|i| {
                let (s, w) = swap_out(a, i);
                assert_eq!(w, Writeout::Device(dev));
                s
            })
            .collect();
        assert!(sys.shrink_worker_pending());
        sys.set_tick(1).unwrap();

        let later = {
            let sys = sys.clone();
            let s = on_device[0];
            thread::spawn(move || {
                span(|| {
                    sys.set_tick(10).unwrap();
                    let mut buf = vec![0; vswap::PAGE_SIZE];
                    sys.fault(0, s, FolioId(40), Some(&mut buf)).map(|f| (f.source, buf))
                })
            })
        };
        let mut buf = vec![0; vswap::PAGE_SIZE];
        let (now, now_span) = span(|| sys.fault(1, on_device[1], FolioId(41), Some(&mut buf)).map(|f| f.source));
        let (later, later_span) = later.join().unwrap();
        seen.mark(match now_span.order(later_span) {
            Order::Before => "the second fault returned before the clock moved",
            Order::Overlaps => "the second fault returned while the first thread ran",
            Order::Contains => "the first thread ran within the second fault",
            _ => "the first thread began first",
        });

        // Both faults read the device and got their own bytes.
        assert_eq!(now, Ok(FaultSource::Device(dev)));
        assert!(buf == pattern(2), "the second fault's bytes");
        let (src, buf) = later.expect("the first fault");
        assert_eq!(src, FaultSource::Device(dev));
        assert!(buf == pattern(1), "the first fault's bytes");

        // The deadline is the later one, whatever the order.
        assert_eq!(sys.tick(), 10);
        let r = sys.run_shrink_worker();
        assert_eq!(r.stop, ShrinkStop::Paused { until: 15 }, "{r:?}");
        assert_eq!(r.written, 0, "{r:?}");
        assert!(sys.shrink_worker_pending(), "a paused worker stays queued");
        assert!(matches!(sys.state(kept), Ok(SlotState::SwappedOut { backing: Backing::Zswap, .. })));

        // At the deadline it writes again.
        sys.set_tick(15).unwrap();
        let r = sys.run_shrink_worker();
        assert_eq!(r.written, 1, "{r:?}");
        assert!(
            matches!(sys.state(kept), Ok(SlotState::SwappedOut { backing: Backing::Device(d), .. }) if d == dev),
            "the root's page is on the device now"
        );
    });
    outcomes.check();
}
