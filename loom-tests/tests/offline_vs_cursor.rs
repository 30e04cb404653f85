//! Model (o): a memcg going offline while a walk advances the root's cursor.
//!
//! Protocol: `advance` takes the cursor lock, steps the root's cursor in pre-order and
//! stores only a memcg it found online under that lock; the walker then walks that
//! memcg's LRU without the lock, and a walk stops as soon as it sees the memcg offline or
//! its list reparented (`moved_to`). `memcg_offline` clears the online flag and splices
//! the LRU to the parent's under the tree lock, then runs the offline hook
//! (`offline_cursors`, `zswap_memcg_offline_cleanup`): under the cursor lock it moves
//! every ancestor's cursor resting on the dying memcg to the next online one.
//! Setup: root with children A and B, one synthetic 4096-byte zswap entry each; a pool
//! of 2 pages accepting at 1 and started proactively, so the second store queued the
//! worker, which stops once the pool is at or below 1 page. A walk visits root (its own
//! list empty), A, B in that order. One thread runs the global worker (first and third
//! tests) or `proactive_writeback(ROOT, 4096)`, which steps the same cursor (second
//! test); the other takes A offline and, in the third test, then faults B's page back in
//! (freeing its entry), so the pool can fall below accept after any step of the worker:
//! only `advance`'s online check then keeps A out of a cursor the worker stops on.
//! Property (docs/kernel.md §5.6, §6.4: a missed memcg is tolerated, a cursor left on an
//! offline memcg is not): once `memcg_offline` returns, and at the end, the root's
//! cursor is not A. First two tests: exactly one entry is written, exactly once (stats,
//! device, slot states), and who wrote it is one of: A's own walk, which then picked A
//! under the cursor lock while A was online, so the hook moved the cursor on to B; the
//! root's walk, which can only have found A's entry spliced onto the root's list (the
//! cursor stays on the root); B's walk, writing B's entry. Third test: at most one entry
//! written, B's page back in its folio from zswap or (written first) the device, and the
//! pool size the worker's thread reads while the fault frees B's entry never exceeds what
//! was stored (`Batched::sum` counted the decrement being folded twice and wrapped
//! below 0 to 2^64 - 4096). In all, the entries left in zswap are exactly the ones on the
//! online LRUs, A's on the root's list.
//! Outcomes: first two tests, each of the three writers above. Third test, where the
//! worker stops with the pool below accept: nothing written (B's load got there first)
//! with the cursor not yet set, on the root or on B; A's entry written by A's own walk
//! (cursor on B) or by the root's (cursor on the root); B's entry written (cursor on B).
//! Never 16 failures with nothing written (which the model tolerated before): every
//! entry gets one second chance at most, and A's entry is on a list the worker walks
//! (A's while A is online, the root's once spliced), so while the fault holds B's slot
//! the worker writes A's entry within two rounds, and that takes the pool below accept.
// Only meaningful under `--cfg loom`: without it vswap runs on std atomics, which a
// loom model cannot schedule. `cargo test --workspace` builds these files as no tests.
#![cfg(loom)]

use loom::sync::Arc;
use loom::thread;
use vswap::{
    Backing, CompressionMode, DeviceId, DeviceSpec, FaultSource, FolioId, MemcgId, Page, Shadow, ShrinkStart,
    ShrinkStop, SlotState, SwapSystem, VSlot, Writeout,
};
use vswap_loom_tests::{Seen, tiny_config};

const PAGE: Page<'static> = Page::Synthetic { compressed_len: 4096, zero: false };

/// The system after setup, before the race.
struct Setup {
    sys: Arc<SwapSystem>,
    dev: DeviceId,
    a: MemcgId,
    b: MemcgId,
    sa: VSlot,
    sb: VSlot,
}

fn stored(sys: &SwapSystem, cg: MemcgId, folio: u64) -> VSlot {
    let s = sys.alloc(0, cg, FolioId(folio), 0).unwrap();
    assert_eq!(sys.dup(s), Ok(1));
    assert_eq!(sys.writeout(s, PAGE), Ok(Writeout::Zswap { compressed: 4096 }));
    sys.evict(s, Shadow(2)).unwrap();
    s
}

fn setup() -> Setup {
    let mut cfg = tiny_config();
    // A pool of 2 pages (50 % of 4) accepting at 1; the worker starts above 1.
    cfg.ram_pages = 4;
    cfg.zswap.max_pool_percent = 50;
    cfg.zswap.accept_threshold_percent = 50;
    cfg.zswap.shrink_start = ShrinkStart::Proactive;
    cfg.zswap.compressor = CompressionMode::Synthetic;
    let sys = Arc::new(SwapSystem::new(cfg).unwrap());
    let dev = sys.swapon(DeviceSpec::memory("swap0", 4)).unwrap();
    let a = sys.memcg_create(MemcgId::ROOT).unwrap();
    let b = sys.memcg_create(MemcgId::ROOT).unwrap();
    let sa = stored(&sys, a, 20);
    let sb = stored(&sys, b, 21);
    assert!(sys.shrink_worker_pending());
    assert_eq!(sys.shrink_cursor(MemcgId::ROOT), Ok(None));
    Setup { sys, dev, a, b, sa, sb }
}

/// Run `walker` against `memcg_offline(A)` followed by `then`; the walker's result and
/// the root's cursor.
fn race<R: Send + 'static>(
    s: &Setup,
    walker: fn(&SwapSystem) -> R,
    then: impl FnOnce(&SwapSystem) + Send + 'static,
) -> (R, Option<MemcgId>) {
    let w = {
        let sys = s.sys.clone();
        thread::spawn(move || walker(&sys))
    };
    let off = {
        let (sys, a) = (s.sys.clone(), s.a);
        thread::spawn(move || {
            assert_eq!(sys.memcg_offline(a), Ok(()));
            // The hook has run: whatever the walker does from now on, it stores only
            // memcgs it finds online.
            let c = sys.shrink_cursor(MemcgId::ROOT).unwrap();
            assert_ne!(c, Some(a), "the cursor was left on the offline memcg");
            then(&sys);
        })
    };
    let r = w.join().unwrap();
    off.join().unwrap();
    let cursor = s.sys.shrink_cursor(MemcgId::ROOT).unwrap();
    assert_ne!(cursor, Some(s.a), "the cursor was left on the offline memcg");
    (r, cursor)
}

/// The common end state: `written` went to the device once, the other slot is in zswap
/// on the right online LRU, the counters agree.
fn check_end(s: &Setup, written: VSlot) {
    let (sys, dev, sa, sb) = (&s.sys, s.dev, s.sa, s.sb);
    let kept = if written == sa { sb } else { sa };
    match sys.state(written).unwrap() {
        SlotState::SwappedOut { backing: Backing::Device(d), count: 1, .. } if d == dev => {}
        st => panic!("written slot in state {st:?}"),
    }
    match sys.state(kept).unwrap() {
        SlotState::SwappedOut { backing: Backing::Zswap, count: 1, .. } => {}
        st => panic!("kept slot in state {st:?}"),
    }
    let st = sys.stat();
    assert_eq!((st.stored_pages, st.written_back_pages, st.zswpwb, st.pswpout), (1, 1, 1, 1), "{st:?}");
    // The device's header page and the written slot.
    assert_eq!(sys.device_stat(dev).unwrap().used, 2);
    // Every live entry is on exactly one online LRU: A's on the root's, B's on B's.
    let on_root = sys.zswap_lru(MemcgId::ROOT).unwrap();
    let on_b = sys.zswap_lru(s.b).unwrap();
    if kept == sa {
        assert_eq!((on_root, on_b), (vec![sa], vec![]));
    } else {
        assert_eq!((on_root, on_b), (vec![], vec![sb]));
    }
    let root = sys.memcg_stat(MemcgId::ROOT).unwrap();
    assert_eq!((root.zswpwb, root.zswap_current, root.swap_current), (1, 4096, 4096), "{root:?}");
}

/// Who wrote the one entry the first two tests write.
const WRITERS: &[&str] = &[
    "A's own walk wrote A's entry, then the hook moved the cursor on to B",
    "the root's walk wrote A's entry, reparented to the root",
    "B's walk wrote B's entry",
];

#[test]
fn offline_races_worker_cursor() {
    let outcomes = Seen::new(WRITERS);
    let seen = outcomes.clone();
    vswap_loom_tests::model(move || {
        let s = setup();
        let (r, cursor) = race(&s, SwapSystem::run_shrink_worker, |_| ());
        assert_eq!(r.stop, ShrinkStop::BelowAccept, "{r:?}");
        assert_eq!((r.written, r.written_bytes), (1, 4096), "{r:?}");
        let [(by, 1)] = r.by_memcg[..] else { panic!("{r:?}") };
        let written = match by {
            // A's walk picked A while it was online: the hook then moved the cursor on.
            x if x == s.a => {
                assert_eq!(cursor, Some(s.b), "A was written from its own list, then went offline: {r:?}");
                seen.mark(WRITERS[0]);
                s.sa
            }
            // The root's own list was empty: its walk found A's entry reparented there.
            MemcgId::ROOT => {
                assert_eq!(cursor, Some(MemcgId::ROOT), "{r:?}");
                seen.mark(WRITERS[1]);
                s.sa
            }
            x if x == s.b => {
                assert_eq!(cursor, Some(s.b), "{r:?}");
                seen.mark(WRITERS[2]);
                s.sb
            }
            x => panic!("written from an unknown memcg {x:?}"),
        };
        check_end(&s, written);
    });
    outcomes.check();
}

#[test]
fn offline_races_proactive_root_cursor() {
    let outcomes = Seen::new(WRITERS);
    let seen = outcomes.clone();
    vswap_loom_tests::model(move || {
        let s = setup();
        let (r, cursor) = race(&s, |sys| sys.proactive_writeback(MemcgId::ROOT, 4096), |_| ());
        assert_eq!(r, Ok(4096));
        // B's entry only from B's walk; A's from the root's (cursor on the root) or from
        // A's own, after which the hook moved the cursor from A to B.
        let written = if s.sys.backing(s.sa).unwrap() == Backing::Zswap { s.sb } else { s.sa };
        if written == s.sb {
            assert_eq!(cursor, Some(s.b));
            seen.mark(WRITERS[2]);
        } else {
            assert!(matches!(cursor, Some(c) if c == MemcgId::ROOT || c == s.b), "cursor {cursor:?}");
            seen.mark(if cursor == Some(MemcgId::ROOT) { WRITERS[1] } else { WRITERS[0] });
        }
        check_end(&s, written);
        let root = s.sys.memcg_stat(MemcgId::ROOT).unwrap();
        assert_eq!(root.zswpwb_proactive_bytes, 4096, "{root:?}");
    });
    outcomes.check();
}

/// The worker stops after whichever step it is at when the pool falls below accept, so
/// its cursor stays on any memcg it just visited: here B's entry is loaded back (a
/// fault frees it) right after A goes offline, and the worker may stop right after
/// stepping onto A. `advance` must not have stored A, offline by then. The pool size is
/// read while the fault frees B's entry: it never shows more than was stored (a
/// decrement being folded is counted twice for a moment; the sum must not wrap).
#[test]
fn offline_and_load_race_worker_cursor() {
    let outcomes = Seen::new(&[
        "nothing written, the cursor not set",
        "nothing written, the cursor on the root",
        "nothing written, the cursor on B",
        "A's own walk wrote A's entry, the cursor on B",
        "the root's walk wrote A's entry, the cursor on the root",
        "B's walk wrote B's entry, the cursor on B",
    ])
    .never(&["nothing written, 16 failures on B's slot"]);
    let seen = outcomes.clone();
    vswap_loom_tests::model(move || {
        let s = setup();
        let sb = s.sb;
        let (r, cursor) = race(
            &s,
            |sys| {
                let r = sys.run_shrink_worker();
                let size = sys.stat().pool_total_size;
                assert!(size <= 8192, "pool_total_size {size} with 2 pages stored at most");
                r
            },
            move |sys| {
                let f = sys.fault(0, sb, FolioId(30), None).unwrap();
                assert!(matches!(f.source, FaultSource::Zswap | FaultSource::Device(_)), "{f:?}");
            },
        );
        let sys = &s.sys;
        // 16 failures: marked below, an outcome the protocol rules out.
        assert!(matches!(r.stop, ShrinkStop::BelowAccept | ShrinkStop::Failures), "worker: {r:?}");
        // Written: nothing (B's load took the pool below accept first) or one entry. The
        // cursor is anywhere but A: the pool read racing the fault's free may be above
        // accept for a moment (the fold being counted), so the worker may step on.
        assert_ne!(cursor, Some(s.a));
        let written = match r.by_memcg[..] {
            [] => {
                assert_eq!(r.written, 0, "{r:?}");
                None
            }
            [(by, 1)] => {
                assert_eq!(r.written, 1, "{r:?}");
                match by {
                    x if x == s.a || x == MemcgId::ROOT => Some(s.sa),
                    x if x == s.b => Some(s.sb),
                    x => panic!("written from an unknown memcg {x:?}"),
                }
            }
            _ => panic!("worker: {r:?}"),
        };
        let who = match r.by_memcg[..] {
            [] => "nothing written",
            [(by, _)] if by == s.a => "A's own walk wrote A's entry",
            [(by, _)] if by == s.b => "B's walk wrote B's entry",
            _ => "the root's walk wrote A's entry",
        };
        let at = match cursor {
            None => "the cursor not set",
            Some(c) if c == MemcgId::ROOT => "the cursor on the root",
            _ => "the cursor on B",
        };
        if r.stop == ShrinkStop::Failures {
            seen.mark(&format!("{who}, 16 failures on B's slot"));
        } else {
            seen.mark(&format!("{who}, {at}"));
        }
        // B's page is back in its folio: from zswap (entry freed) or, if the worker wrote
        // it first, from the device (which keeps the slot).
        assert_eq!(sys.state(sb).unwrap(), SlotState::Cached { folio: FolioId(30), count: 1 });
        let b_backing = sys.backing(sb).unwrap();
        if written == Some(sb) {
            assert_eq!(b_backing, Backing::Device(s.dev));
        } else {
            assert_eq!(b_backing, Backing::None);
        }
        let a_in_zswap = written != Some(s.sa);
        let want = if a_in_zswap { Backing::Zswap } else { Backing::Device(s.dev) };
        assert!(matches!(sys.state(s.sa).unwrap(), SlotState::SwappedOut { backing, count: 1, .. } if backing == want));
        let st = sys.stat();
        assert_eq!((st.stored_pages, st.written_back_pages, st.zswpwb), (u64::from(a_in_zswap), r.written, r.written));
        assert_eq!(st.pool_total_size, 4096 * u64::from(a_in_zswap));
        assert_eq!(sys.device_stat(s.dev).unwrap().used, 1 + r.written);
        let on_root = sys.zswap_lru(MemcgId::ROOT).unwrap();
        assert_eq!(on_root, if a_in_zswap { vec![s.sa] } else { vec![] });
        assert_eq!(sys.zswap_lru(s.b).unwrap(), []);
    });
    outcomes.check();
}
