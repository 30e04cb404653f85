//! Model (u): a physical slot freed while another thread takes it for a new page.
//!
//! Protocol: freeing a physical slot (`free_phys`) discards its data on the device first
//! and only then hands the slot back to the device's allocator, as the kernel discards a
//! free cluster before it can be allocated again. Meanwhile a writeout that falls back to
//! the device allocates a slot and writes its page there.
//! Property: the new page reads back whole: the old slot's discard never lands after the
//! new owner's write (the real-thread stress test found a fault returning zeros when the
//! discard came second). No physical slot leaks, and `swap_current` counts the slots held.
//! Outcomes: the new page took the slot the put freed (the device has one data slot);
//! the device was still full, so the new page was kept in memory (`Kept(NoSpace)`).
// Only meaningful under `--cfg loom`: without it vswap runs on std atomics, which a
// loom model cannot schedule. `cargo test --workspace` builds these files as no tests.
#![cfg(loom)]

use loom::sync::Arc;
use loom::thread;
use vswap::{
    DeviceSpec, FaultSource, FolioId, KeepReason, MemcgId, Page, Shadow, SlotState, SwapSystem, Writeout, ZswapConfig,
};
use vswap_loom_tests::{Seen, pattern, tiny_config};

#[test]
fn a_freed_physical_slot_is_discarded_before_it_is_reused() {
    let outcomes =
        Seen::new(&["the new page took the slot the put freed", "the device was still full: the new page was kept"]);
    let seen = outcomes.clone();
    vswap_loom_tests::model(move || {
        let cfg = vswap::Config { zswap: ZswapConfig { enabled: false, ..ZswapConfig::default() }, ..tiny_config() };
        let sys = Arc::new(SwapSystem::new(cfg).unwrap());
        // The header and one data slot.
        let dev = sys.swapon(DeviceSpec::memory("swap0", 2)).unwrap();
        let old = sys.alloc(0, MemcgId::ROOT, FolioId(1), 0).unwrap();
        assert_eq!(sys.dup(old), Ok(1));
        assert_eq!(sys.writeout(old, Page::Bytes(&pattern(1))), Ok(Writeout::Device(dev)));
        sys.evict(old, Shadow(3)).unwrap();

        let a = {
            let sys = sys.clone();
            thread::spawn(move || assert_eq!(sys.put(old), Ok(0)))
        };
        let b = {
            let sys = sys.clone();
            thread::spawn(move || {
                let new = sys.alloc(1, MemcgId::ROOT, FolioId(2), 0).unwrap();
                assert_eq!(sys.dup(new), Ok(1));
                let w = sys.writeout(new, Page::Bytes(&pattern(2))).unwrap();
                if w == Writeout::Device(dev) {
                    sys.evict(new, Shadow(4)).unwrap();
                }
                (new, w)
            })
        };
        a.join().unwrap();
        let (new, w) = b.join().unwrap();
        if new != old {
            assert_eq!(sys.state(old).unwrap(), SlotState::Free, "the old slot leaked");
        }
        match w {
            Writeout::Device(d) => {
                assert_eq!(d, dev);
                seen.mark("the new page took the slot the put freed");
                assert_eq!(sys.device_stat(dev).unwrap().used, 2, "the header and the new page");
                assert_eq!(sys.memcg_stat(MemcgId::ROOT).unwrap().swap_current, 4096);
                let mut buf = vec![0u8; vswap::PAGE_SIZE];
                let f = sys.fault(0, new, FolioId(3), Some(&mut buf)).unwrap();
                assert_eq!(f.source, FaultSource::Device(dev));
                assert!(buf.iter().any(|&b| b != 0), "the freed slot's discard erased the new page");
                assert!(buf == pattern(2), "the new page is corrupt");
            }
            Writeout::Kept(KeepReason::NoSpace) => {
                seen.mark("the device was still full: the new page was kept");
                assert_eq!(sys.device_stat(dev).unwrap().used, 1, "only the header");
                assert_eq!(sys.memcg_stat(MemcgId::ROOT).unwrap().swap_current, 0);
            }
            w => panic!("writeout: {w:?}"),
        }
    });
    outcomes.check();
}
