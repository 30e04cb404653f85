//! Model (k): zswap writeback racing with the slot's free and reuse.
//!
//! Protocol: `writeback` reads the slot's zswap handle, holds the slot with its own
//! swap-cache folio, then re-checks that the backend word still holds that handle and that
//! the entry still names the slot (the kernel's `xa_load(tree, offset) == entry`) before it
//! writes anything; a count that dropped to 0 while it held the slot frees the slot when it
//! lets go. Meanwhile the last `put` frees the slot (or, if writeback holds it, leaves it
//! to writeback), and a new folio is allocated (often the same slot id), written out with
//! other bytes and evicted.
//! Property: the new occupant's data is never replaced by the old page's (a fault of the
//! new slot returns its own bytes), the old slot ends free unless reused, no physical slot
//! leaks (a device holds exactly the slots still backing a live virtual slot), and
//! `swap_current` is 4096 times that number.
//! Outcomes: writeback wrote the old page before the put, and the freed slot was reused;
//! writeback held the slot through the put, wrote the old page and freed the slot, so the
//! new folio got another; writeback found the reused slot with the new occupant's entry
//! and wrote that (the identity re-check passes: the entry names the slot); writeback
//! failed on the reused slot, held by the new folio (`InSwapCache`), freed
//! (`NotAllocated`) or not yet written out (`NotInZswap`). Never: the new occupant in
//! another slot on the device (writeback only ever touches the old slot id).
// Only meaningful under `--cfg loom`: without it vswap runs on std atomics, which a
// loom model cannot schedule. `cargo test --workspace` builds these files as no tests.
#![cfg(loom)]

use loom::sync::Arc;
use loom::thread;
use vswap::{Backing, Error, FaultSource, FolioId, MemcgId, Page, Shadow, SlotState, Writeout};
use vswap_loom_tests::{Seen, pattern, tiny};

#[test]
fn writeback_races_free_and_reuse() {
    let outcomes = Seen::new(&[
        "writeback wrote the old page, then the slot was freed and reused",
        "writeback held the slot through the put: the new folio got another slot",
        "writeback wrote the new occupant's entry",
        "writeback failed: the new folio holds the slot (InSwapCache)",
        "writeback failed: the slot was free (NotAllocated)",
        "writeback failed: no zswap entry in the slot (NotInZswap)",
    ])
    .never(&["the new occupant in another slot was written back"]);
    let seen = outcomes.clone();
    vswap_loom_tests::model(move || {
        let sys = Arc::new(tiny());
        let old_data = pattern(1);
        let (dev, slot) = vswap_loom_tests::evicted_to_zswap(&sys, &old_data);

        let a = {
            let sys = sys.clone();
            thread::spawn(move || sys.writeback(slot))
        };
        let b = {
            let sys = sys.clone();
            thread::spawn(move || {
                assert_eq!(sys.put(slot), Ok(0));
                let new = sys.alloc(0, MemcgId::ROOT, FolioId(9), 0).unwrap();
                assert_eq!(sys.dup(new), Ok(1));
                let w = sys.writeout(new, Page::Bytes(&pattern(2))).unwrap();
                assert!(matches!(w, Writeout::Zswap { .. }), "new occupant's writeout: {w:?}");
                sys.evict(new, Shadow(6)).unwrap();
                new
            })
        };
        let wb = a.join().unwrap();
        let new = b.join().unwrap();
        assert!(
            matches!(wb, Ok(()) | Err(Error::InSwapCache | Error::NotInZswap | Error::NotAllocated)),
            "writeback: {wb:?}"
        );
        // The old slot is free unless it is the new occupant.
        let on_device = |s| matches!(sys.state(s).unwrap(), SlotState::SwappedOut { backing: Backing::Device(_), .. });
        if new != slot {
            assert_eq!(sys.state(slot).unwrap(), SlotState::Free, "the old slot leaked");
        }
        let held = u64::from(on_device(new));
        let outcome = match (&wb, new == slot, held == 1) {
            (Ok(()), true, false) => "writeback wrote the old page, then the slot was freed and reused",
            (Ok(()), false, false) => "writeback held the slot through the put: the new folio got another slot",
            (Ok(()), true, true) => "writeback wrote the new occupant's entry",
            (_, false, true) => "the new occupant in another slot was written back",
            (Err(Error::InSwapCache), ..) => "writeback failed: the new folio holds the slot (InSwapCache)",
            (Err(Error::NotAllocated), ..) => "writeback failed: the slot was free (NotAllocated)",
            _ => "writeback failed: no zswap entry in the slot (NotInZswap)",
        };
        seen.mark_with(outcome, || format!("writeback {wb:?}, new {new:?}, old {slot:?}, on the device: {held}"));
        match sys.state(new).unwrap() {
            SlotState::SwappedOut { shadow: Shadow(6), count: 1, backing: Backing::Zswap | Backing::Device(_) } => {}
            s => panic!("new occupant in state {s:?}"),
        }
        let st = sys.stat();
        assert_eq!(st.vslots_in_use, 1);
        assert_eq!(st.stored_pages, 1 - held, "zswap entries: {st:?}");
        assert_eq!(sys.device_stat(dev).unwrap().used, 1 + held, "a physical slot leaked");
        let root = sys.memcg_stat(MemcgId::ROOT).unwrap();
        assert_eq!(root.swap_current, 4096 * held);
        // The root's own entries are charged to no memcg: the pool holds the entry.
        assert_eq!(root.zswap_current, 0);
        assert_eq!(st.pool_total_size > 0, held == 0);

        // The identity re-check: the new occupant reads its own bytes, never the old page.
        let mut buf = vec![0u8; vswap::PAGE_SIZE];
        let f = sys.fault(0, new, FolioId(11), Some(&mut buf)).unwrap();
        assert_eq!(f.source, if held == 1 { FaultSource::Device(dev) } else { FaultSource::Zswap });
        assert!(buf != old_data, "the new occupant's data was overwritten with the old page");
        assert!(buf == pattern(2), "the new occupant's data is corrupt");
    });
    outcomes.check();
}
