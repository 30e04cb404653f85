//! The memcg-aware zswap LRU (`crate::memcg::lru`) against a real pool: lazy deletion
//! and compaction keep exactly the live entries, in order.

use super::pool::{Entry, Pool};
use crate::memcg::lru::LruList;
use std::collections::VecDeque;

fn pool() -> Pool {
    Pool::new(1 << 20, 100, 90, false)
}

/// Store one entry in `pool` and on `l`: its `(handle, seq)`.
fn store(pool: &Pool, l: &mut LruList, slot: u64) -> (u32, u64) {
    let e = Entry { slot, data: None, length: 1000, memcg: 1, tier: 1, stored: slot, referenced: true, seq: 0 };
    let (h, seq) = pool.insert(e, slot as usize, |_| {}).expect("room");
    l.add(h, seq, false);
    (h, seq)
}

/// Free the entry `(h, seq)` as `Backends::free_entry` does.
fn free(pool: &Pool, l: &mut LruList, (h, seq): (u32, u64)) {
    pool.take(h, |_, _| {}).expect("live");
    l.del(h, seq, pool);
}

#[test]
fn compaction_keeps_exactly_the_live_elements_in_order_whatever_their_shards() {
    let pool = pool();
    let insert = |hint: usize, slot: u64| {
        let e = Entry { slot, data: None, length: 1000, memcg: 1, tier: 1, stored: 0, referenced: true, seq: 0 };
        pool.insert(e, hint, |_| {}).expect("room")
    };
    // Runs in one shard, then shards alternating element by element.
    let mut q: VecDeque<(u32, u64)> = (0..40).map(|i| insert(i / 8, i as u64)).collect();
    q.extend((40..80).map(|i| insert(i % 3, i as u64)));
    // Free every third; a freed handle reused takes a new seq, so its old element
    // must go while the new one (added at the back) stays.
    let all: Vec<_> = q.iter().copied().collect();
    for (i, &(h, _)) in all.iter().enumerate() {
        if i % 3 == 0 {
            pool.take(h, |_, _| {}).expect("live");
        }
    }
    for i in 0..10 {
        q.push_back(insert(i % 5, 100 + i as u64));
    }
    let want: Vec<_> = q.iter().copied().filter(|&(h, seq)| pool.seq_of(h) == Some(seq)).collect();
    assert!(want.len() < q.len() && want.len() > q.len() / 2, "{} of {}", want.len(), q.len());
    pool.retain_live(&mut q);
    assert_eq!(q.into_iter().collect::<Vec<_>>(), want);
}

#[test]
fn writing_back_in_lru_order_leaves_no_dead_element() {
    let (pool, mut l) = (pool(), LruList::default());
    for s in 0..100 {
        store(&pool, &mut l, s);
    }
    // The worker's step: rotate the oldest to the tail, write it back (free it), while
    // stores keep arriving behind it.
    // Ten times round the 100 entries natively, four under Miri.
    for s in 100..if cfg!(miri) { 500 } else { 1100 } {
        let x = l.items.pop_front().expect("an element");
        l.items.push_back(x);
        store(&pool, &mut l, s);
        free(&pool, &mut l, x);
        assert_eq!((l.items.len() as u64, l.idle.len() as u64), (l.live, l.live));
    }
    assert_eq!(l.live, 100);
}

#[test]
fn freeing_in_store_order_leaves_no_dead_element() {
    let (pool, mut l) = (pool(), LruList::default());
    let mut ring: VecDeque<(u32, u64)> = (0..64).map(|s| store(&pool, &mut l, s)).collect();
    // Fifteen times round the 64 entries natively, six under Miri.
    for s in 64..if cfg!(miri) { 450 } else { 1000 } {
        ring.push_back(store(&pool, &mut l, s));
        free(&pool, &mut l, ring.pop_front().expect("ring"));
        assert_eq!((l.items.len() as u64, l.idle.len() as u64), (l.live, l.live));
    }
    assert_eq!(l.items, ring);
    assert_eq!(l.idle, ring);
}

#[test]
fn a_free_in_the_middle_stays_behind_until_compacted() {
    let (pool, mut l) = (pool(), LruList::default());
    let all: Vec<(u32, u64)> = (0..400).map(|s| store(&pool, &mut l, s)).collect();
    // Far from both ends: the element stays, dead, and the order of the rest holds.
    free(&pool, &mut l, all[200]);
    assert_eq!((l.live, l.items.len()), (399, 400));
    let live = |q: &VecDeque<(u32, u64)>| -> Vec<(u32, u64)> {
        q.iter().copied().filter(|&(h, seq)| pool.seq_of(h) == Some(seq)).collect()
    };
    let mut want = all.clone();
    want.remove(200);
    assert_eq!(live(&l.items), want);
    // Once the dead outnumber the live (+64), compaction drops them all.
    for &x in &all[20..380] {
        if x != all[200] {
            free(&pool, &mut l, x);
        }
    }
    assert_eq!(l.live, 40);
    assert!(l.items.len() as u64 <= 2 * l.live + 64, "{} elements for {} live", l.items.len(), l.live);
    assert!(l.idle.len() as u64 <= 2 * l.live + 64);
    let want: Vec<_> = all[..20].iter().chain(&all[380..]).copied().collect();
    assert_eq!(live(&l.items), want);
    assert_eq!(live(&l.idle), want);
}
