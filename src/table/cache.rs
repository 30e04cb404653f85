//! The swap cache on top of the table (`mm/swap_state.c`, docs/kernel.md §3.1–§3.3).
//!
//! A cached slot holds a Cached word: the folio's PFN (the same in every slot of a large
//! folio) and order, with the count and zero flag kept from the word before. Lookup is a
//! lock-free load. Single-slot transitions are one CAS. A large folio's transitions take
//! the crate's per-slot lock bit on each of its slots in ascending order (the kernel holds
//! the folio lock and `ci->lock`); count operations on a locked slot wait, so the folio
//! changes as one step; `cache_del_if` takes the bit on an order-0 folio too, so that
//! its check and the deletion are one step against swapoff (which drops a cached folio's
//! device slot under the bit). Invariants checked after every transition (debug builds):
//! count 0 ⇒ cached; a shadow has count >= 1; Free is exactly 0.

use super::cluster::Cluster;
use super::space::Space;
use crate::entry::word;
use crate::error::Error;
use crate::sync::{AtomicU64, Ordering, spin_loop};
use crossbeam_epoch::Guard;

/// Debug check of the §3.3 invariants on a word just written.
fn check(w: u64) {
    debug_assert!(w == 0 || !word::is_locked(w), "lock bit left set");
    debug_assert!(!(word::is_shadow(w) && word::count(w) == 0), "shadow with count 0");
    debug_assert!(w == 0 || word::count(w) != 0 || word::is_cached(w), "count 0 not cached");
}

impl Space {
    /// Lock `nr` slots from `head` for a large-folio transition, each passing `ok`.
    fn lock_range(
        &self,
        c: &Cluster,
        head: usize,
        nr: usize,
        ok: impl Fn(u64) -> Result<(), Error>,
    ) -> Result<(), Error> {
        for i in head..head + nr {
            loop {
                let w = c.table[i].load(Ordering::Acquire);
                if word::is_locked(w) {
                    spin_loop();
                    continue;
                }
                if let Err(e) = ok(w) {
                    for j in head..i {
                        c.table[j].fetch_and(!word::locked(0), Ordering::Release);
                    }
                    return Err(e);
                }
                if c.table[i].compare_exchange_weak(w, word::locked(w), Ordering::AcqRel, Ordering::Acquire).is_ok() {
                    break;
                }
            }
        }
        Ok(())
    }

    /// `swap_cache_add_folio`: put a folio of `1 << order` pages in the cache at the
    /// aligned range from `off`. Every slot must be swapped out (count > 0, else
    /// `NotAllocated`; cached, `AlreadyCached`); a large folio needs the same zero flag
    /// and memcg on every slot (`__swap_cache_add_check`, else `NonUniformFolio`).
    pub(crate) fn cache_add(&self, c: &Cluster, off: usize, pfn: u64, order: u32) -> Result<(), Error> {
        let nr = 1usize << order;
        debug_assert_eq!(off % nr, 0);
        let single = |w: u64| -> Result<(), Error> {
            if w == 0 {
                Err(Error::NotAllocated)
            } else if word::is_cached(w) {
                Err(Error::AlreadyCached)
            } else if !word::is_shadow(w) {
                Err(Error::InvalidSlot)
            } else {
                Ok(())
            }
        };
        if nr == 1 {
            let mut w = c.table[off].load(Ordering::Acquire);
            loop {
                single(w)?;
                let new = word::cached_from(w, pfn, 0);
                match c.table[off].compare_exchange_weak(w, new, Ordering::AcqRel, Ordering::Acquire) {
                    Ok(_) => {
                        check(new);
                        return Ok(());
                    }
                    Err(now) => w = now,
                }
            }
        }
        // A large folio: each slot goes Shadow -> Cached+locked in ascending order, then
        // all are unlocked. A slot that does not fit restores the ones taken.
        single(c.table[off].load(Ordering::Acquire))?;
        let memcg = c.memcg[off].load(Ordering::Relaxed);
        let zero = word::zero(c.table[off].load(Ordering::Acquire));
        let mut taken: Vec<u64> = Vec::with_capacity(nr);
        for i in off..off + nr {
            loop {
                let w = c.table[i].load(Ordering::Acquire);
                if word::is_locked(w) {
                    spin_loop();
                    continue;
                }
                let fits = single(w).is_ok() && word::zero(w) == zero && c.memcg[i].load(Ordering::Relaxed) == memcg;
                if !fits {
                    for (j, &old) in taken.iter().enumerate() {
                        c.table[off + j].store(old, Ordering::Release);
                    }
                    return Err(if i == off {
                        single(w).err().unwrap_or(Error::NonUniformFolio)
                    } else {
                        Error::NonUniformFolio
                    });
                }
                let new = word::locked(word::cached_from(w, pfn, order as u8));
                if c.table[i].compare_exchange_weak(w, new, Ordering::AcqRel, Ordering::Acquire).is_ok() {
                    taken.push(w);
                    break;
                }
            }
        }
        for i in off..off + nr {
            let new = c.table[i].fetch_and(!word::locked(0), Ordering::Release) & !word::locked(0);
            check(new);
        }
        Ok(())
    }

    /// The cached folio covering slot `off`: (head offset, order, pfn).
    fn folio_at(c: &Cluster, off: usize) -> Result<(usize, u32, u64), Error> {
        let w = c.table[off].load(Ordering::Acquire);
        if w == 0 {
            return Err(Error::NotAllocated);
        }
        if !word::is_cached(w) {
            return Err(if word::is_shadow(w) { Error::NotCached } else { Error::InvalidSlot });
        }
        let order = u32::from(word::order(w));
        if order > c.shift {
            return Err(Error::InvalidSlot);
        }
        Ok((off & !((1usize << order) - 1), order, word::pfn(w)))
    }

    /// `__swap_cache_del_folio`: take the folio covering `off` out of the cache, leaving
    /// `shadow` (count and zero flag kept) in slots with count > 0 and freeing the others.
    pub(crate) fn cache_del(&self, c: &Cluster, off: usize, shadow: u64, g: &Guard) -> Result<(), Error> {
        let (head, order, pfn) = Self::folio_at(c, off)?;
        let to = |w: u64| if word::count(w) == 0 { 0 } else { word::shadow_from(w, shadow) };
        if order == 0 {
            loop {
                let w = settled_cached(&c.table[head])?;
                let new = to(w);
                if c.table[head].compare_exchange_weak(w, new, Ordering::AcqRel, Ordering::Acquire).is_ok() {
                    check(new);
                    if new == 0 {
                        self.free_range(c, head, 0, g);
                    }
                    return Ok(());
                }
            }
        }
        let nr = 1usize << order;
        self.lock_range(c, head, nr, |w| same_folio(w, pfn, order))?;
        let mut all_free = true;
        for i in head..head + nr {
            let w = word::unlocked(c.table[i].load(Ordering::Acquire));
            all_free &= word::count(w) == 0;
        }
        for i in head..head + nr {
            let w = word::unlocked(c.table[i].load(Ordering::Acquire));
            let new = to(w);
            c.table[i].store(new, Ordering::Release);
            check(new);
            if new == 0 && !all_free {
                self.free_range(c, i, 0, g);
            }
        }
        if all_free {
            self.free_range(c, head, order, g);
        }
        Ok(())
    }

    /// `cache_del` that first checks `ok` on every slot of the folio while holding their
    /// lock bits (order 0 included), so nothing that changes a slot under its lock bit
    /// (swapoff dropping a cached folio's device backing) slips between the check and the
    /// deletion. `evict`'s "every page is backed" goes here.
    pub(crate) fn cache_del_if(
        &self,
        c: &Cluster,
        off: usize,
        shadow: u64,
        g: &Guard,
        ok: impl Fn(usize) -> Result<(), Error>,
    ) -> Result<(), Error> {
        let (head, order, pfn) = Self::folio_at(c, off)?;
        let nr = 1usize << order;
        if order == 0 {
            loop {
                let w = settled_cached(&c.table[head])?;
                if c.table[head].compare_exchange_weak(w, word::locked(w), Ordering::AcqRel, Ordering::Acquire).is_ok()
                {
                    break;
                }
            }
        } else {
            self.lock_range(c, head, nr, |w| same_folio(w, pfn, order))?;
        }
        if let Err(e) = (head..head + nr).try_for_each(&ok) {
            for i in head..head + nr {
                c.table[i].fetch_and(!word::locked(0), Ordering::Release);
            }
            return Err(e);
        }
        let to = |w: u64| if word::count(w) == 0 { 0 } else { word::shadow_from(w, shadow) };
        let all_free = (head..head + nr).all(|i| word::count(c.table[i].load(Ordering::Acquire)) == 0);
        for i in head..head + nr {
            let new = to(word::unlocked(c.table[i].load(Ordering::Acquire)));
            c.table[i].store(new, Ordering::Release);
            check(new);
            if new == 0 && !all_free {
                self.free_range(c, i, 0, g);
            }
        }
        if all_free {
            self.free_range(c, head, order, g);
        }
        Ok(())
    }

    /// `folio_free_swap`: free the folio covering `off` from the cache if no slot of it
    /// has a count. Ok(true): freed; Ok(false): some slot is still referenced.
    pub(crate) fn release(&self, c: &Cluster, off: usize, g: &Guard) -> Result<bool, Error> {
        let (head, order, pfn) = Self::folio_at(c, off)?;
        if order == 0 {
            loop {
                let w = settled_cached(&c.table[head])?;
                if word::count(w) != 0 {
                    return Ok(false);
                }
                if c.table[head].compare_exchange_weak(w, 0, Ordering::AcqRel, Ordering::Acquire).is_ok() {
                    self.free_range(c, head, 0, g);
                    return Ok(true);
                }
            }
        }
        let nr = 1usize << order;
        self.lock_range(c, head, nr, |w| same_folio(w, pfn, order))?;
        if (head..head + nr).any(|i| word::count(c.table[i].load(Ordering::Acquire)) != 0) {
            for i in head..head + nr {
                c.table[i].fetch_and(!word::locked(0), Ordering::Release);
            }
            return Ok(false);
        }
        for i in head..head + nr {
            c.table[i].store(0, Ordering::Release);
        }
        self.free_range(c, head, order, g);
        Ok(true)
    }
}

/// A cached slot's word once no large-folio transition holds it; else the error for
/// what the slot is instead.
fn settled_cached(slot: &AtomicU64) -> Result<u64, Error> {
    loop {
        let w = slot.load(Ordering::Acquire);
        if !word::is_cached(w) {
            return Err(if w == 0 { Error::NotAllocated } else { Error::NotCached });
        }
        if !word::is_locked(w) {
            return Ok(w);
        }
        spin_loop();
    }
}

fn same_folio(w: u64, pfn: u64, order: u32) -> Result<(), Error> {
    if word::is_cached(w) && word::pfn(w) == pfn && u32::from(word::order(w)) == order {
        Ok(())
    } else {
        Err(Error::NotCached)
    }
}
