//! Specifications of the table layer, read as the kernel behaviours they model.

use super::cluster::{FRAG, FULL, NONE, NONFULL};
use super::space::Space;
use crate::entry::{COUNT_MAX, TableEntry};
use crate::error::Error;
use crate::ledger::{Bytes, SharedBytes};
use crate::sync::{Arc, Ordering};

fn bytes() -> SharedBytes {
    Arc::new(Bytes::default())
}

fn cached(pfn: u64, order: u8) -> u64 {
    TableEntry::Cached { pfn, order, count: 0, zero: false, locked: false }.encode().unwrap()
}

fn word(s: &Space, slot: u64) -> TableEntry {
    let g = s.reclaim.pin();
    let c = s.get(slot >> s.shift, &g).unwrap();
    TableEntry::decode(c.table[(slot & ((1 << s.shift) - 1)) as usize].load(Ordering::Acquire)).unwrap()
}

fn flag(s: &Space, idx: u64) -> u64 {
    let g = s.reclaim.pin();
    s.get(idx, &g).unwrap().meta().flag
}

/// Run `f` on the cluster and offset of `slot`.
fn on<R>(s: &Space, slot: u64, f: impl FnOnce(&super::cluster::Cluster, usize, &crossbeam_epoch::Guard) -> R) -> R {
    let g = s.reclaim.pin();
    let c = s.get(slot >> s.shift, &g).unwrap();
    f(c, (slot & ((1 << s.shift) - 1)) as usize, &g)
}

#[test]
fn the_virtual_space_never_uses_cluster_zero_and_reuses_the_lowest_index() {
    let s = Space::dynamic(2, 1, bytes());
    let a = s.alloc(0, 2, cached(0, 2), 1).unwrap();
    assert_eq!(a, 4, "cluster 0 is reserved; a whole-cluster folio takes cluster 1");
    let b = s.alloc(0, 2, cached(4, 2), 1).unwrap();
    assert_eq!(b, 8);
    on(&s, a, |c, off, g| assert_eq!(s.release(c, off, g), Ok(true)));
    assert!(s.get(1, &s.reclaim.pin()).is_none(), "an emptied, unowned cluster is retired");
    let c = s.alloc(0, 2, cached(8, 2), 1).unwrap();
    assert_eq!(c, 4, "index 1 is reused first");
}

#[test]
fn the_per_cpu_cluster_is_preferred_and_kept_off_the_lists() {
    let s = Space::dynamic(3, 2, bytes());
    let a = s.alloc(0, 0, cached(1, 0), 1).unwrap();
    let b = s.alloc(0, 0, cached(2, 0), 1).unwrap();
    assert_eq!(a >> 3, b >> 3, "CPU 0 keeps allocating from its cached cluster");
    assert_eq!(flag(&s, a >> 3), NONE, "a per-CPU cluster is isolated");
    let c = s.alloc(1, 0, cached(3, 0), 1).unwrap();
    assert_ne!(c >> 3, a >> 3, "CPU 1 gets its own cluster");
}

#[test]
fn a_full_cluster_leaves_the_cpu_and_a_free_puts_it_on_nonfull_which_is_preferred() {
    let s = Space::dynamic(2, 1, bytes());
    let slots: Vec<u64> = (0..4).map(|i| s.alloc(0, 0, cached(i, 0), 1).unwrap()).collect();
    let idx = slots[0] >> 2;
    assert!(slots.iter().all(|x| x >> 2 == idx));
    assert_eq!(flag(&s, idx), FULL);
    on(&s, slots[1], |c, off, g| assert_eq!(s.release(c, off, g), Ok(true)));
    assert_eq!(flag(&s, idx), NONFULL);
    let again = s.alloc(0, 0, cached(9, 0), 1).unwrap();
    assert_eq!(again, slots[1], "NONFULL of the order comes before a new cluster");
}

#[test]
fn a_disowned_partial_cluster_goes_to_frag_and_is_tried_once() {
    let s = Space::dynamic(2, 1, bytes());
    let a = s.alloc(0, 0, cached(1, 0), 1).unwrap();
    s.drain_percpu();
    assert_eq!(flag(&s, a >> 2), FRAG);
    // Order 0 in the virtual space: a new cluster comes before FRAG (kernel order).
    let b = s.alloc(0, 0, cached(2, 0), 1).unwrap();
    assert_ne!(b >> 2, a >> 2);
}

/// The lists are hints that may name a cluster which left them since (here one that
/// went FRAG, then NONFULL, then FULL): such an index is not the single FRAG try of
/// docs/kernel.md §2.3, whose list holds only the clusters that are FRAG now. Spending the
/// try on it made a fixed space read as full with free slots in a FRAG cluster, so
/// writeout and zswap writeback went to a lower-priority device, or failed.
#[test]
fn a_stale_frag_index_does_not_use_up_the_single_frag_try() {
    // Two 4-slot clusters: 0 holds the header (NONFULL), 1 is FREE.
    let s = Space::fixed(2, 1, 8, bytes());
    assert_eq!(s.alloc(0, 0, cached(1, 0), 1), Some(1));
    s.drain_percpu();
    assert_eq!(flag(&s, 0), FRAG, "frag[0] names cluster 0");
    on(&s, 1, |c, off, g| assert_eq!(s.release(c, off, g), Ok(true)));
    assert_eq!(flag(&s, 0), NONFULL);
    let full: Vec<u64> = (1..4).map(|i| s.alloc(0, 0, cached(i, 0), 1).unwrap()).collect();
    assert_eq!((full, flag(&s, 0)), (vec![1, 2, 3], FULL), "frag[0] still names cluster 0");
    assert_eq!(s.alloc(0, 0, cached(4, 0), 1), Some(4), "the free cluster");
    s.drain_percpu();
    assert_eq!(flag(&s, 1), FRAG, "frag[0] names clusters 0 (stale) and 1");
    assert_eq!(s.alloc(0, 0, cached(5, 0), 1), Some(5), "the FRAG cluster behind the stale index");
}

#[test]
fn order_zero_steals_from_higher_orders_when_nothing_else_is_left() {
    // A fixed space of two 4-slot clusters: slot 0 is the Bad header.
    let s = Space::fixed(2, 1, 8, bytes());
    assert_eq!(word(&s, 0), TableEntry::Bad);
    let small: Vec<u64> = (1..4).map(|i| s.alloc(0, 0, cached(i, 0), 1).unwrap()).collect();
    assert_eq!(small, [1, 2, 3], "the header cluster serves order 0 first (NONFULL[0])");
    assert_eq!(flag(&s, 0), FULL);
    assert_eq!(s.alloc(0, 1, cached(4, 1), 1), Some(4), "order 1 takes the free cluster");
    s.drain_percpu();
    assert_eq!(flag(&s, 1), FRAG);
    assert_eq!(s.alloc(0, 1, cached(8, 1), 1), Some(6), "FRAG[1] is tried once for order 1");
    on(&s, 6, |c, off, g| assert_eq!(s.release(c, off, g), Ok(true)));
    s.drain_percpu();
    assert_eq!(s.alloc(0, 0, cached(9, 0), 1), Some(6), "order 0 steals from an order-1 cluster");
    assert_eq!(s.alloc(0, 2, cached(8, 2), 1), None, "no whole cluster is free");
}

#[test]
fn a_fixed_space_returns_empty_clusters_to_the_free_list() {
    let s = Space::fixed(2, 1, 12, bytes());
    let a = s.alloc(0, 2, cached(0, 2), 1).unwrap();
    assert_eq!(a >> 2, 1, "cluster 0 has the header; the first free cluster is 1");
    on(&s, a, |c, off, g| assert_eq!(s.release(c, off, g), Ok(true)));
    assert_eq!(flag(&s, 1), super::cluster::FREE);
    assert!(s.get(1, &s.reclaim.pin()).is_some(), "fixed clusters are never retired");
}

#[test]
fn the_count_spills_into_the_extension_table_and_it_is_freed_when_unused() {
    let b = bytes();
    let s = Space::dynamic(3, 1, b.clone());
    let slot = s.alloc(0, 0, cached(1, 0), 1).unwrap();
    let before = b.get();
    let max = u32::from(COUNT_MAX);
    on(&s, slot, |c, off, g| {
        for n in 1..=max + 3 {
            assert_eq!(s.dup(c, off, g), Ok(n));
            assert_eq!(s.count_of(c, off, g).1, n);
        }
        assert!(!c.ext.load(Ordering::Acquire, g).is_null(), "count >= COUNT_MAX lives in ext");
        assert_eq!(crate::entry::word::count(c.table[off].load(Ordering::Acquire)), COUNT_MAX);
        for n in (0..max + 3).rev() {
            assert_eq!(s.put(c, off, g), Ok(n));
            assert_eq!(s.count_of(c, off, g).1, n);
        }
        assert!(c.ext.load(Ordering::Acquire, g).is_null(), "no slot needs ext: it is gone");
        assert_eq!(s.put(c, off, g), Err(Error::CountUnderflow));
    });
    // Retired memory is accounted until its grace period ends; flush a few epochs.
    for _ in 0..256 {
        s.reclaim.pin().flush();
    }
    assert_eq!(b.get(), before, "the extension table's bytes are returned");
}

#[test]
fn count_overflow_past_u32_max_is_refused_and_changes_nothing() {
    let s = Space::dynamic(3, 1, bytes());
    let slot = s.alloc(0, 0, cached(1, 0), 1).unwrap();
    on(&s, slot, |c, off, g| {
        for _ in 0..COUNT_MAX {
            s.dup(c, off, g).unwrap();
        }
        // Jump the extension entry to the top instead of 4 billion dups.
        let ext = c.ext.load(Ordering::Acquire, g);
        // SAFETY: pinned by `g`; the table exists while a slot's inline count is COUNT_MAX.
        unsafe { ext.deref() }.counts[off].store(u32::MAX, Ordering::Release);
        assert_eq!(s.dup(c, off, g), Err(Error::CountOverflow));
        assert_eq!(s.count_of(c, off, g).1, u32::MAX);
        assert_eq!(s.put(c, off, g), Ok(u32::MAX - 1));
    });
}

#[test]
fn a_large_folio_needs_a_uniform_range_to_enter_the_cache() {
    let s = Space::dynamic(3, 1, bytes());
    let head = s.alloc(0, 2, cached(8, 2), 1).unwrap();
    on(&s, head, |c, off, g| {
        for i in 0..4 {
            s.dup(c, off + i, g).unwrap();
        }
        assert_eq!(s.cache_del(c, off + 1, 77, g), Ok(()), "any slot names the whole folio");
        for i in 0..4 {
            assert!(matches!(
                TableEntry::decode(c.table[off + i].load(Ordering::Acquire)),
                Ok(TableEntry::Shadow { shadow: 77, count: 1, .. })
            ));
        }
        s.cache_add(c, off + 2, 5, 0).unwrap();
        assert_eq!(s.cache_add(c, off, 16, 2), Err(Error::NonUniformFolio), "slot 2 is cached: not uniform");
        for i in [0, 1, 3] {
            assert!(
                matches!(
                    TableEntry::decode(c.table[off + i].load(Ordering::Acquire)),
                    Ok(TableEntry::Shadow { shadow: 77, .. })
                ),
                "rolled back"
            );
        }
        s.cache_del(c, off + 2, 78, g).unwrap();
        assert_eq!(s.cache_add(c, off, 16, 2), Ok(()));
        assert_eq!(s.release(c, off + 3, g), Ok(false), "counts remain");
        for i in 0..4 {
            s.put(c, off + i, g).unwrap();
        }
        assert_eq!(s.release(c, off, g), Ok(true));
    });
}

#[test]
fn deleting_a_large_folio_frees_only_its_unreferenced_slots() {
    let s = Space::dynamic(3, 1, bytes());
    let head = s.alloc(0, 2, cached(8, 2), 1).unwrap();
    on(&s, head, |c, off, g| {
        s.dup(c, off + 1, g).unwrap();
        s.cache_del(c, off, 5, g).unwrap();
        let kinds: Vec<_> =
            (0..4).map(|i| TableEntry::decode(c.table[off + i].load(Ordering::Acquire)).unwrap()).collect();
        assert_eq!(kinds[0], TableEntry::Free);
        assert!(matches!(kinds[1], TableEntry::Shadow { shadow: 5, count: 1, .. }));
        assert_eq!((kinds[2], kinds[3]), (TableEntry::Free, TableEntry::Free));
        assert_eq!(c.meta().count, 1);
        assert!(!c.bitmap.is_set(off) && c.bitmap.is_set(off + 1));
    });
}

#[test]
fn a_fixed_space_is_full_only_when_no_cpu_cache_holds_a_free_slot() {
    // Three usable slots in one 4-slot cluster (slot 0 is the header), two CPUs.
    let s = Space::fixed(2, 2, 4, bytes());
    assert_eq!(s.alloc(0, 0, cached(1, 0), 1), Some(1), "CPU 0 now caches the only cluster");
    assert_eq!(s.alloc(1, 0, cached(2, 0), 1), Some(2), "CPU 1 takes a slot from CPU 0's cache");
    assert_eq!(s.alloc(0, 0, cached(3, 0), 1), Some(3));
    assert_eq!(s.alloc(1, 0, cached(4, 0), 1), None, "every slot is in use");
    assert_eq!(s.alloc(0, 1, cached(4, 1), 1), None, "no order-1 run is free either");
}

/// `for_each` walks only the indices handed out, across leaf boundaries and holes: it
/// visits exactly the linked clusters.
#[test]
fn for_each_visits_every_linked_cluster_and_nothing_else() {
    let visited = |s: &Space| {
        let mut v = Vec::new();
        s.for_each(&s.reclaim.pin(), |c| v.push(c.index));
        v
    };
    let fan = 1u64 << super::space::FAN_BITS;
    // Past the first leaf (Miri: a few clusters; the bound arithmetic is checked natively).
    let n = if cfg!(miri) { 10 } else { 2 * fan + 3 };
    let s = Space::dynamic(0, 1, bytes());
    let slots: Vec<u64> = (0..n).map(|i| s.alloc(0, 0, cached(i, 0), 1).unwrap()).collect();
    assert_eq!(visited(&s), (1..=n).collect::<Vec<_>>(), "cluster 0 is never used");
    // Holes: free every third cluster (a cluster of one slot empties at once).
    for &slot in slots.iter().step_by(3) {
        on(&s, slot, |c, off, g| assert_eq!(s.release(c, off, g), Ok(true)));
    }
    let want: Vec<u64> = (1..=n).filter(|i| (i - 1) % 3 != 0).collect();
    assert_eq!(visited(&s), want);
    assert_eq!(s.live(), want.len() as u64);
    // A fixed space: every cluster from index 0.
    let d = Space::fixed(2, 1, 4 * n + 1, bytes());
    assert_eq!(visited(&d), (0..=n).collect::<Vec<_>>());
}

/// The extension table is charged to the space's footprint (`Bytes`) while it exists, at
/// its real size: the header plus one `u32` per slot of the cluster.
#[test]
fn the_extension_table_is_charged_at_its_size_while_it_exists() {
    let b = bytes();
    let s = Space::dynamic(3, 1, b.clone());
    let slot = s.alloc(0, 0, cached(1, 0), 1).unwrap();
    let before = b.get();
    on(&s, slot, |c, off, g| {
        for _ in 0..COUNT_MAX {
            s.dup(c, off, g).unwrap();
        }
        assert!(!c.ext.load(Ordering::Acquire, g).is_null());
        let want = std::mem::size_of::<super::cluster::ExtTable>() + c.nr() * 4;
        assert_eq!(b.get() - before, want, "the table's header and 8 counts of 4 bytes");
    });
}

/// `swap_range_free`: every slot freed reaches the owner's hook under its own number
/// (cluster index and offset), with the memcg id it was charged to.
#[test]
fn a_put_that_frees_a_slot_names_it_to_the_free_hook() {
    struct Record(std::sync::Mutex<Vec<(u64, u16)>>);
    impl super::space::OnFree for Arc<Record> {
        fn freed(&self, slot: u64, memcg: u16, _backend: u32, _g: &crossbeam_epoch::Guard) {
            self.0.lock().unwrap().push((slot, memcg));
        }
    }
    let seen = Arc::new(Record(std::sync::Mutex::new(Vec::new())));
    let s = Space::dynamic_with(2, 1, bytes(), Box::new(seen.clone()));
    // Cluster 0 is reserved: slots 4.. are cluster 1. Take offsets 0..3 of it.
    let slots: Vec<u64> = (0..3).map(|i| s.alloc(0, 0, cached(i, 0), 1).unwrap()).collect();
    assert_eq!(slots, [4, 5, 6]);
    let freed = slots[2];
    on(&s, freed, |c, off, g| {
        s.dup(c, off, g).unwrap();
        s.cache_del(c, off, 9, g).unwrap();
        assert_eq!(s.put(c, off, g), Ok(0), "the last reference of an uncached slot");
    });
    assert_eq!(word(&s, freed), TableEntry::Free);
    let got = seen.0.lock().unwrap().clone();
    assert_eq!(got, [(freed, 1)], "slot 6 (not its offset 2), charged to memcg 1");
}

/// A word that is neither cached nor a shadow (the header's Bad word has every count bit
/// set) is not a count: `count_of` returns it as it is, without looking for an extension
/// table entry the slot cannot have.
#[test]
fn count_of_returns_a_bad_word_at_once() {
    let s = Space::fixed(2, 1, 8, bytes());
    on(&s, 0, |c, off, g| {
        let (w, n) = s.count_of(c, off, g);
        assert_eq!((TableEntry::decode(w), n), (Ok(TableEntry::Bad), u32::from(COUNT_MAX)));
    });
}
