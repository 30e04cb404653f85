//! The swap count (`folio_dup_swap` / `swap_put_entries_direct`, phase III+ semantics).
//!
//! Inline counts below `COUNT_MAX - 1` move by one CAS on the table word, lock-free. The
//! crossing into and out of the extension table, and every change while the inline field
//! holds the `COUNT_MAX` sentinel, run under the cluster lock (`ci->lock`), exactly where
//! the kernel takes it. Invariants (docs/kernel.md §1.4):
//! * `ext[off] != 0` ⇔ inline == `COUNT_MAX`, and then `ext[off] >= COUNT_MAX` is the count;
//! * the extension table exists ⇔ some slot of the cluster has `ext[off] != 0`; it is
//!   retired through the epoch when its last such slot leaves it;
//! * dup from 0 only while cached (a Shadow always has count >= 1); a put that takes an
//!   uncached slot to 0 frees it.
//!
//! Lock-free readers take the sentinel, read `ext[off]` under the epoch, and re-check the
//! word; a torn pair is retried.

use super::cluster::{Cluster, ExtTable};
use super::space::Space;
use crate::entry::{COUNT_MAX, word};
use crate::error::Error;
use crate::sync::{AtomicU32, AtomicU64, Ordering, lock, spin_loop};
use crossbeam_epoch::{Guard, Owned, Shared};

/// Classify a word for a count operation.
fn countable(w: u64) -> Result<(), Error> {
    if w == 0 {
        Err(Error::NotAllocated)
    } else if !word::is_cached(w) && !word::is_shadow(w) {
        Err(Error::InvalidSlot)
    } else {
        Ok(())
    }
}

/// The slot's word once no large-folio transition holds it (the lock bit), checked
/// countable. Count operations wait out the lock as the kernel waits for the folio lock.
fn settled(slot: &AtomicU64) -> Result<u64, Error> {
    loop {
        let w = slot.load(Ordering::Acquire);
        countable(w)?;
        if !word::is_locked(w) {
            return Ok(w);
        }
        spin_loop();
    }
}

impl Space {
    /// The real count of slot `off`, given its current word.
    pub(crate) fn count_of(&self, c: &Cluster, off: usize, g: &Guard) -> (u64, u32) {
        loop {
            let w = c.table[off].load(Ordering::Acquire);
            let inline = word::count(w);
            if inline != COUNT_MAX || w == 0 || !(word::is_cached(w) || word::is_shadow(w)) {
                return (w, u32::from(inline));
            }
            // SAFETY: the extension table is retired through the epoch `g` pins.
            let ext = unsafe { c.ext.load(Ordering::Acquire, g).as_ref() };
            let e = ext.map_or(0, |t| t.counts[off].load(Ordering::Acquire));
            if e >= u32::from(COUNT_MAX) && c.table[off].load(Ordering::Acquire) == w {
                return (w, e);
            }
            spin_loop();
        }
    }

    /// `folio_dup_swap` for one slot: count + 1, the new count.
    pub(crate) fn dup(&self, c: &Cluster, off: usize, g: &Guard) -> Result<u32, Error> {
        let slot = &c.table[off];
        loop {
            let w = settled(slot)?;
            let n = word::count(w);
            if n + 1 >= COUNT_MAX {
                return self.dup_ext(c, off, g);
            }
            if slot.compare_exchange_weak(w, word::with_count(w, n + 1), Ordering::AcqRel, Ordering::Acquire).is_ok() {
                return Ok(u32::from(n) + 1);
            }
        }
    }

    fn dup_ext(&self, c: &Cluster, off: usize, g: &Guard) -> Result<u32, Error> {
        let _ci = lock(&c.lock);
        let slot = &c.table[off];
        loop {
            let w = settled(slot)?;
            let n = word::count(w);
            if n + 1 < COUNT_MAX {
                if slot.compare_exchange(w, word::with_count(w, n + 1), Ordering::AcqRel, Ordering::Acquire).is_ok() {
                    return Ok(u32::from(n) + 1);
                }
                continue;
            }
            let ext = self.ext_table(c, g);
            if n == COUNT_MAX {
                let e = ext.counts[off].load(Ordering::Relaxed);
                if e == u32::MAX {
                    return Err(Error::CountOverflow);
                }
                ext.counts[off].store(e + 1, Ordering::Release);
                return Ok(e + 1);
            }
            // n == COUNT_MAX - 1: move into the extension table.
            ext.counts[off].store(u32::from(COUNT_MAX), Ordering::Release);
            match slot.compare_exchange(w, word::with_count(w, COUNT_MAX), Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => {
                    ext.used.fetch_add(1, Ordering::Relaxed);
                    return Ok(u32::from(COUNT_MAX));
                }
                Err(_) => {
                    ext.counts[off].store(0, Ordering::Release);
                    self.ext_maybe_free(c, g);
                }
            }
        }
    }

    /// The cluster's extension table, allocated if missing (cluster lock held).
    fn ext_table<'g>(&self, c: &Cluster, g: &'g Guard) -> &'g ExtTable {
        let p = c.ext.load(Ordering::Acquire, g);
        // SAFETY: installed and removed only under the cluster lock, which the caller holds.
        if let Some(t) = unsafe { p.as_ref() } {
            return t;
        }
        let t = ExtTable { counts: crate::sync::zeroed(c.nr()), used: AtomicU32::new(0) };
        self.bytes.add(ext_bytes(c.nr()));
        let p = Owned::new(t).into_shared(g);
        c.ext.store(p, Ordering::Release);
        // SAFETY: just installed; only this lock holder could remove it.
        unsafe { p.deref() }
    }

    /// Retire the extension table if no slot uses it (cluster lock held).
    fn ext_maybe_free(&self, c: &Cluster, g: &Guard) {
        let p = c.ext.load(Ordering::Acquire, g);
        // SAFETY: as in `ext_table`.
        let Some(t) = (unsafe { p.as_ref() }) else { return };
        if t.used.load(Ordering::Relaxed) != 0 {
            return;
        }
        c.ext.store(Shared::null(), Ordering::Release);
        let bytes = self.bytes.clone();
        let nr = c.nr();
        // SAFETY: unlinked under the cluster lock; readers that loaded it are pinned.
        let owned = unsafe { p.into_owned() }.into_box();
        self.reclaim.retire(g, owned, move || bytes.sub(ext_bytes(nr)));
    }

    /// One reference dropped: count - 1, the count left. An uncached slot reaching 0 is
    /// freed (`swap_put_entries_direct`); a cached one stays cached for `release`.
    pub(crate) fn put(&self, c: &Cluster, off: usize, g: &Guard) -> Result<u32, Error> {
        let slot = &c.table[off];
        loop {
            let w = settled(slot)?;
            let n = word::count(w);
            if n == 0 {
                return Err(Error::CountUnderflow);
            }
            if n == COUNT_MAX {
                return self.put_ext(c, off, g);
            }
            let new = if n == 1 && word::is_shadow(w) { 0 } else { word::with_count(w, n - 1) };
            if slot.compare_exchange_weak(w, new, Ordering::AcqRel, Ordering::Acquire).is_ok() {
                if new == 0 {
                    self.free_range(c, off, 0, g);
                }
                return Ok(u32::from(n) - 1);
            }
        }
    }

    fn put_ext(&self, c: &Cluster, off: usize, g: &Guard) -> Result<u32, Error> {
        let guard = lock(&c.lock);
        let w = c.table[off].load(Ordering::Acquire);
        if word::count(w) != COUNT_MAX || word::is_locked(w) {
            drop(guard);
            return self.put(c, off, g);
        }
        let ext = self.ext_table(c, g);
        let e = ext.counts[off].load(Ordering::Relaxed);
        debug_assert!(e >= u32::from(COUNT_MAX));
        if e > u32::from(COUNT_MAX) {
            ext.counts[off].store(e - 1, Ordering::Release);
            return Ok(e - 1);
        }
        // Leave the extension table: inline COUNT_MAX - 1. Only cache transitions change
        // the word meanwhile, and they keep the count.
        loop {
            let w = c.table[off].load(Ordering::Acquire);
            debug_assert_eq!(word::count(w), COUNT_MAX);
            if word::is_locked(w) {
                spin_loop();
                continue;
            }
            let new = word::with_count(w, COUNT_MAX - 1);
            if c.table[off].compare_exchange(w, new, Ordering::AcqRel, Ordering::Acquire).is_ok() {
                break;
            }
        }
        ext.counts[off].store(0, Ordering::Release);
        ext.used.fetch_sub(1, Ordering::Relaxed);
        self.ext_maybe_free(c, g);
        Ok(u32::from(COUNT_MAX) - 1)
    }

    /// The words of `1 << order` slots at `off` were just set Free: release the rest.
    /// Each slot's memcg id and backend go to the space's `OnFree` hook first.
    pub(crate) fn free_range(&self, c: &Cluster, off: usize, order: u32, g: &Guard) {
        for i in off..off + (1usize << order) {
            let (memcg, backend) = c.take_slot(i, g);
            if let Some(h) = &self.on_free {
                h.freed((c.index << self.shift) | i as u64, memcg, backend, g);
            }
        }
        let after = c.free_slots(off, order, self.dynamic);
        self.after_free(c, after, g);
    }
}

fn ext_bytes(nr: usize) -> usize {
    std::mem::size_of::<ExtTable>() + nr * 4
}

/// The lock-side paths that only a race reaches in the public flows (docs/kernel.md
/// §1.4), forced here by calling them in the state the race leaves: the loom model
/// `loom-tests/tests/count_ext.rs` explores the races themselves.
#[cfg(test)]
mod race_paths {
    use super::*;
    use crate::entry::TableEntry;
    use crate::ledger::Bytes;
    use crate::sync::Arc;

    /// A space with one cached slot of count `n`; `f` gets its cluster and offset.
    fn with_count(n: u32, f: impl FnOnce(&Space, &Cluster, usize, &Guard)) {
        let s = Space::dynamic(3, 1, Arc::new(Bytes::default()));
        let w = TableEntry::Cached { pfn: 1, order: 0, count: 0, zero: false, locked: false }.encode().unwrap();
        let slot = s.alloc(0, 0, w, 1).unwrap();
        let g = s.reclaim.pin();
        let c = s.get(slot >> s.shift, &g).unwrap();
        let off = (slot & ((1 << s.shift) - 1)) as usize;
        for i in 1..=n {
            assert_eq!(s.dup(c, off, &g), Ok(i));
        }
        f(&s, c, off, &g);
    }

    /// `dup` saw `COUNT_MAX - 1` and went for the cluster lock; a lock-free `put` took the
    /// count down before `dup_ext` held it. `dup_ext` then moves the inline count up by one
    /// and allocates no extension table (count_ext.rs: `dup_and_put_at_14`).
    #[test]
    fn dup_under_the_lock_after_a_racing_put_stays_inline() {
        let below = u32::from(COUNT_MAX) - 2;
        with_count(below, |s, c, off, g| {
            assert_eq!(s.dup_ext(c, off, g), Ok(below + 1));
            let (w, n) = s.count_of(c, off, g);
            assert_eq!((word::count(w), n), (COUNT_MAX - 1, below + 1));
            assert!(c.ext.load(Ordering::Acquire, g).is_null(), "no extension table below the sentinel");
        });
    }

    /// `put` saw the sentinel and went for the cluster lock; another `put` took the slot
    /// out of the extension table first. `put_ext` sees an inline count and retries as a
    /// plain `put` (count_ext.rs: `two_puts_from_15`).
    #[test]
    fn put_under_the_lock_after_a_racing_put_retries_inline() {
        let n = u32::from(COUNT_MAX) - 1;
        with_count(n, |s, c, off, g| {
            assert_eq!(s.put_ext(c, off, g), Ok(n - 1));
            assert_eq!(s.count_of(c, off, g).1, n - 1);
            assert!(c.ext.load(Ordering::Acquire, g).is_null(), "the retry allocated no extension table");
        });
    }
}
