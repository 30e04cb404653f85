//! Model (s): `swapoff_with` bringing a page into memory, racing with a fault and with an
//! eviction of the same slot.
//!
//! Protocol: for a swapped-out slot, swapoff claims it in the swap cache with the
//! reserved `FolioId::WRITEBACK` folio by a CAS from the Shadow word, re-checks that the
//! backend word still names its physical slot, reads the page and hands it to the sink,
//! clears the backend word, frees the physical slot and swaps the sink's folio in for its
//! own (count and Z kept). A fault spins while that folio is cached, else CASes the Shadow
//! word to its own folio and reads the backend it finds. For a slot already cached,
//! swapoff takes the slot's lock bit, CASes the backend word from its physical slot to
//! None and unlocks; `evict` checks "every page backed" under the same lock bit.
//!
//! Properties: (1) fault vs swapoff: either the fault wins (it reads the device and the
//! page stays in its folio, swapoff only frees the slot: `cache_unbacked`) or swapoff wins
//! (the sink's folio is cached and the fault is a cache hit); either way the page's bytes
//! reach memory once, the device is gone and nothing stays charged. (2) evict vs swapoff:
//! either the eviction wins (swapoff then reads the page into the sink's folio) or
//! swapoff wins (the eviction is refused with `NotBacked`); the slot never ends swapped
//! out with no backing.
#![cfg(loom)]

use loom::sync::Arc;
use loom::thread;
use vswap::{
    Backing, DeviceSpec, Error, FaultSource, FolioId, MemcgId, Page, Shadow, SlotState, SwapSystem, SwapoffPage, VSlot,
    Writeout,
};
use vswap_loom_tests::{Seen, pattern, tiny_config};

/// A system without zswap, a memory device of 4 pages, and a slot of the root holding
/// `data` on it, mapped once (count 1), still cached with folio 5.
fn written_to_device(data: &[u8]) -> (Arc<SwapSystem>, vswap::DeviceId, VSlot) {
    let mut cfg = tiny_config();
    cfg.zswap.enabled = false;
    let sys = Arc::new(SwapSystem::new(cfg).unwrap());
    let dev = sys.swapon(DeviceSpec::memory("swap0", 4)).unwrap();
    let slot = sys.alloc(0, MemcgId::ROOT, FolioId(5), 0).unwrap();
    assert_eq!(sys.dup(slot), Ok(1));
    assert_eq!(sys.writeout(slot, Page::Bytes(data)), Ok(Writeout::Device(dev)));
    (sys, dev, slot)
}

/// Run `swapoff_with` on a thread with a sink that gives folio 20 and keeps the bytes it
/// was handed.
fn swapoff_thread(
    sys: &Arc<SwapSystem>,
    dev: vswap::DeviceId,
) -> thread::JoinHandle<(Result<vswap::SwapoffReport, Error>, Option<Vec<u8>>)> {
    let sys = sys.clone();
    thread::spawn(move || {
        let mut got = None;
        let mut sink = |p: &SwapoffPage<'_>| {
            got = p.data.map(<[u8]>::to_vec);
            Some(FolioId(20))
        };
        let r = sys.swapoff_with(dev, &mut sink);
        (r, got)
    })
}

fn assert_gone(sys: &SwapSystem, dev: vswap::DeviceId) {
    assert_eq!(sys.device_stat(dev), Err(Error::InvalidDevice));
    assert_eq!(sys.memcg_stat(MemcgId::ROOT).unwrap().swap_current, 0);
    assert_eq!(sys.stat().pswpin, 1, "the page was read once");
    assert_eq!(sys.stat().vslots_in_use, 1);
}

#[test]
fn swapoff_read_back_races_fault() {
    let outcomes = Seen::new(&[
        "the fault reads the device first: swapoff only frees the slot",
        "swapoff reads the page first: the fault finds the sink's folio cached",
    ]);
    let seen = outcomes.clone();
    vswap_loom_tests::model(move || {
        let data = pattern(1);
        let (sys, dev, slot) = written_to_device(&data);
        sys.evict(slot, Shadow(3)).unwrap();

        let a = swapoff_thread(&sys, dev);
        let b = {
            let sys = sys.clone();
            thread::spawn(move || {
                let mut buf = vec![0u8; vswap::PAGE_SIZE];
                let f = sys.fault(0, slot, FolioId(7), Some(&mut buf));
                (f, buf)
            })
        };
        let (off, got) = a.join().unwrap();
        let (fault, buf) = b.join().unwrap();
        let report = off.expect("swapoff must succeed");
        let fault = fault.expect("the fault must succeed");
        match fault.source {
            FaultSource::Device(d) => {
                // The fault won: its folio holds the page, swapoff only freed the slot.
                seen.mark("the fault reads the device first: swapoff only frees the slot");
                assert_eq!(d, dev);
                assert!(buf == data, "the fault read stale bytes");
                assert_eq!((report.swapped_in, report.cache_unbacked, got), (0, 1, None));
                assert_eq!(sys.state(slot).unwrap(), SlotState::Cached { folio: FolioId(7), count: 1 });
            }
            FaultSource::Cache => {
                // swapoff won: the sink's folio is the page, the fault found it cached.
                seen.mark("swapoff reads the page first: the fault finds the sink's folio cached");
                assert!(got.as_deref() == Some(&data[..]), "the sink got stale bytes");
                assert_eq!((report.swapped_in, report.cache_unbacked), (1, 0));
                assert_eq!(sys.state(slot).unwrap(), SlotState::Cached { folio: FolioId(20), count: 1 });
            }
            other => panic!("fault from {other:?}"),
        }
        assert_eq!(sys.backing(slot), Ok(Backing::None));
        assert_gone(&sys, dev);
    });
    outcomes.check();
}

#[test]
fn swapoff_unbacking_races_evict() {
    let outcomes = Seen::new(&[
        "the eviction first: swapoff reads the page into the sink's folio",
        "swapoff first: the cached folio is the only copy and may not be evicted",
    ]);
    let seen = outcomes.clone();
    vswap_loom_tests::model(move || {
        let data = pattern(2);
        let (sys, dev, slot) = written_to_device(&data);

        let a = swapoff_thread(&sys, dev);
        let b = {
            let sys = sys.clone();
            thread::spawn(move || sys.evict(slot, Shadow(4)))
        };
        let (off, got) = a.join().unwrap();
        let evicted = b.join().unwrap();
        let report = off.expect("swapoff must succeed");
        match evicted {
            Ok(()) => {
                // The eviction won: swapoff read the page into the sink's folio.
                seen.mark("the eviction first: swapoff reads the page into the sink's folio");
                assert!(got.as_deref() == Some(&data[..]), "the sink got stale bytes");
                assert_eq!((report.swapped_in, report.cache_unbacked), (1, 0));
                assert_eq!(sys.state(slot).unwrap(), SlotState::Cached { folio: FolioId(20), count: 1 });
                assert_eq!(sys.stat().pswpin, 1);
            }
            Err(Error::NotBacked) => {
                // swapoff won: the cached folio is the only copy, so it may not leave.
                seen.mark("swapoff first: the cached folio is the only copy and may not be evicted");
                assert_eq!((report.swapped_in, report.cache_unbacked, got), (0, 1, None));
                assert_eq!(sys.state(slot).unwrap(), SlotState::Cached { folio: FolioId(5), count: 1 });
                assert_eq!(sys.stat().pswpin, 0);
            }
            Err(e) => panic!("evict failed with {e:?}"),
        }
        assert_eq!(sys.backing(slot), Ok(Backing::None));
        assert_eq!(sys.device_stat(dev), Err(Error::InvalidDevice));
        assert_eq!(sys.memcg_stat(MemcgId::ROOT).unwrap().swap_current, 0);
    });
    outcomes.check();
}
