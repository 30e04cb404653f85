//! Model (j): zswap writeback racing with a swap-in fault on the same evicted slot.
//!
//! Protocol: `writeback` adds its own folio (`FolioId::WRITEBACK`) to the swap cache by a
//! CAS from the Shadow word, writes the entry to a physical slot, switches the backend
//! word and restores the shadow; `fault` spins while that folio is cached, else CASes the
//! Shadow word to its own folio and loads from the backend it then finds (an exclusive
//! zswap load frees the entry). Whichever CAS wins first decides the outcome.
//! Property: either writeback returns `Ok` and the fault reads the device, or writeback
//! returns `InSwapCache`/`NotInZswap` and the fault loads from zswap; the fault's buffer always
//! holds the written bytes; afterwards the page is counted once at most (in a device
//! slot, charged to `swap.max`) and zswap holds nothing.
//! Outcomes: writeback holds the slot first (the fault reads the device); the fault's
//! folio is in the swap cache when writeback first looks at the slot (`InSwapCache`); the
//! whole fault runs between writeback's look at the slot and its read of the backend,
//! which the fault's exclusive load has emptied (`NotInZswap`). Only the last one needs
//! the two calls interleaved, not just ordered.
// Only meaningful under `--cfg loom`: without it vswap runs on std atomics, which a
// loom model cannot schedule. `cargo test --workspace` builds these files as no tests.
#![cfg(loom)]

use loom::sync::Arc;
use loom::thread;
use vswap::{Backing, Error, FaultSource, FolioId, MemcgId, Shadow, SlotState};
use vswap_loom_tests::{Seen, pattern, tiny};

#[test]
fn writeback_races_fault() {
    let outcomes = Seen::new(&[
        "writeback first: the fault reads the device",
        "the fault's folio is cached first: writeback gets InSwapCache",
        "the fault ran inside writeback's checks: writeback gets NotInZswap",
    ]);
    let seen = outcomes.clone();
    vswap_loom_tests::model(move || {
        let sys = Arc::new(tiny());
        let data = pattern(1);
        let (dev, slot) = vswap_loom_tests::evicted_to_zswap(&sys, &data);
        assert_eq!(sys.stat().stored_pages, 1);

        let a = {
            let sys = sys.clone();
            thread::spawn(move || sys.writeback(slot))
        };
        let b = {
            let sys = sys.clone();
            thread::spawn(move || {
                let mut buf = vec![0u8; vswap::PAGE_SIZE];
                let f = sys.fault(0, slot, FolioId(7), Some(&mut buf));
                (f, buf)
            })
        };
        let wb = a.join().unwrap();
        let (fault, buf) = b.join().unwrap();
        let fault = fault.expect("the fault must succeed");
        assert_eq!(fault.shadow, Some(Shadow(3)), "the fault saw writeback's shadow, not the slot's");
        match (&wb, fault.source) {
            (Ok(()), FaultSource::Device(d)) => {
                assert_eq!(d, dev);
                seen.mark("writeback first: the fault reads the device");
            }
            (Err(Error::InSwapCache), FaultSource::Zswap) => {
                seen.mark("the fault's folio is cached first: writeback gets InSwapCache");
            }
            (Err(Error::NotInZswap), FaultSource::Zswap) => {
                seen.mark("the fault ran inside writeback's checks: writeback gets NotInZswap");
            }
            other => panic!("inconsistent outcome: writeback {:?}, fault {:?}", other.0, other.1),
        }
        assert!(buf == data, "stale data: the fault's buffer is not the written page");

        // The slot is the faulting folio's now, count kept.
        assert_eq!(sys.state(slot).unwrap(), SlotState::Cached { folio: FolioId(7), count: 1 });
        let on_device = wb.is_ok();
        let st = sys.stat();
        let used = sys.device_stat(dev).unwrap().used - 1;
        assert_eq!(st.stored_pages, 0, "zswap entry left behind: {st:?}");
        assert_eq!(st.pool_total_size, 0);
        assert_eq!(used, u64::from(on_device), "device slots held: {used}");
        assert_eq!(st.written_back_pages, u64::from(on_device));
        assert_eq!(st.zswpin, u64::from(!on_device));
        assert_eq!(st.pswpin, u64::from(on_device));
        let root = sys.memcg_stat(MemcgId::ROOT).unwrap();
        assert_eq!(root.swap_current, 4096 * u64::from(on_device));
        assert_eq!(root.zswap_current, 0);
        assert_eq!(st.vslots_in_use, 1);

        // Dropping the folio and the reference frees everything.
        sys.swap_cache_del(slot, Shadow(4)).unwrap();
        let expect = if on_device { Backing::Device(dev) } else { Backing::None };
        assert!(
            matches!(sys.state(slot).unwrap(), SlotState::SwappedOut { count: 1, backing, .. } if backing == expect)
        );
        assert_eq!(sys.put(slot), Ok(0));
        assert_eq!(sys.device_stat(dev).unwrap().used, 1);
        assert_eq!(sys.memcg_stat(MemcgId::ROOT).unwrap().swap_current, 0);
    });
    outcomes.check();
}
