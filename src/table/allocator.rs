//! Slot allocation (`folio_alloc_swap` → `cluster_alloc_swap_entry`), in the kernel's order
//! of preference (docs/kernel.md §2.3):
//!
//! 1. the calling CPU's cached cluster for the order (`percpu_swap_cluster`);
//! 2. every NONFULL cluster of that order;
//! 3. a FREE cluster (fixed space) or a new one (virtual space);
//! 4. one FRAG cluster of that order;
//! 5. for order 0 only, stealing: every FRAG then every NONFULL cluster of each higher order.
//!
//! The per-CPU cache is a pointer slot per (CPU, order). Taking it is a `swap` to null, so
//! two threads passing the same CPU index never share a cluster; putting it back is a CAS
//! from null, and a thread that loses that race disowns its cluster to the lists. The
//! cluster a per-CPU slot points at is owned (flag `NONE`) and cannot be retired.

use super::cluster::{Cluster, FRAG, FREE, NONFULL};
use super::space::Space;
use crate::sync::{Ordering, lock};
use crossbeam_epoch::Guard;

impl Space {
    /// Allocate `1 << order` aligned slots and write `word` (a Cached word) and `memcg`
    /// into each. The head slot number, or None when the space is full.
    pub(crate) fn alloc(&self, cpu: usize, order: u32, word: u64, memcg: u16) -> Option<u64> {
        let pcp = &self.percpu[cpu * self.orders() as usize + order as usize];
        let cached = pcp.swap(std::ptr::null_mut(), Ordering::Acquire);
        if !cached.is_null() {
            // SAFETY: a per-CPU pointer is an owned cluster (flag NONE), never retired; the
            // swap above made this thread its only user.
            let c = unsafe { &*cached };
            if let Some(off) = c.alloc_in(order) {
                self.fill(c, off, order, word, memcg);
                self.keep(pcp, c, order);
                return Some(self.slot(c, off));
            }
            let g = self.reclaim.pin();
            let after = c.disown(self.dynamic);
            self.after_free(c, after, &g);
        }
        let g = self.reclaim.pin();
        let (c, off) = self.alloc_slow(order, &g)?;
        self.fill(c, off, order, word, memcg);
        self.keep(pcp, c, order);
        Some(self.slot(c, off))
    }

    fn slot(&self, c: &Cluster, off: usize) -> u64 {
        (c.index << self.shift) | off as u64
    }

    fn fill(&self, c: &Cluster, off: usize, order: u32, word: u64, memcg: u16) {
        for i in off..off + (1 << order) {
            if let Some(m) = c.memcg.get(i) {
                m.store(memcg, Ordering::Relaxed);
            }
            debug_assert_eq!(c.table[i].load(Ordering::Relaxed), 0, "claimed slot not free");
            c.table[i].store(word, Ordering::Release);
        }
    }

    /// Cache `c` for this CPU and order, unless it is full or another thread got there.
    fn keep(&self, pcp: &crate::sync::AtomicPtr<Cluster>, c: &Cluster, _order: u32) {
        let full = c.meta().count == c.nr() as u64;
        let p = c as *const Cluster as *mut Cluster;
        if full || pcp.compare_exchange(std::ptr::null_mut(), p, Ordering::Release, Ordering::Relaxed).is_err() {
            let g = self.reclaim.pin();
            let after = c.disown(self.dynamic);
            self.after_free(c, after, &g);
        }
    }

    fn alloc_slow<'g>(&self, order: u32, g: &'g Guard) -> Option<(&'g Cluster, usize)> {
        let o = order as usize;
        if order < self.shift {
            while let Some(got) = self.try_list(g, |l| l.nonfull[o].pop_front(), NONFULL, Some(order), order) {
                if let Some(hit) = got {
                    return Some(hit);
                }
            }
        }
        if self.dynamic {
            if let Some(c) = self.create(g) {
                if let Some(off) = c.alloc_in(order) {
                    return Some((c, off));
                }
            }
        } else {
            while let Some(got) = self.try_list(g, |l| l.free.pop_front(), FREE, None, order) {
                if let Some(hit) = got {
                    return Some(hit);
                }
            }
        }
        if order < self.shift {
            if let Some(Some(hit)) = self.try_list(g, |l| l.frag[o].pop_front(), FRAG, Some(order), order) {
                return Some(hit);
            }
        }
        if order == 0 {
            for hi in 1..self.orders() as usize {
                for (list, flag) in [(true, FRAG), (false, NONFULL)] {
                    let pop = |l: &mut super::space::Lists| {
                        if list { l.frag[hi].pop_front() } else { l.nonfull[hi].pop_front() }
                    };
                    while let Some(got) = self.try_list(g, pop, flag, None, 0) {
                        if let Some(hit) = got {
                            return Some(hit);
                        }
                    }
                }
            }
        }
        if !self.dynamic {
            return self.steal_percpu(order, g);
        }
        None
    }

    /// A fixed space gets no new clusters, so free slots in clusters other CPUs hold in
    /// their caches must not read as "full" (the kernel's per-CPU cluster is only a hint,
    /// never hidden from the lists). Take each cached cluster in turn (the same swap to
    /// null that makes a per-CPU cluster this thread's) and allocate there if it serves
    /// the order (any order may lend one slot to order 0, as stealing does).
    fn steal_percpu<'g>(&self, order: u32, g: &'g Guard) -> Option<(&'g Cluster, usize)> {
        for pcp in self.percpu.iter() {
            let p = pcp.swap(std::ptr::null_mut(), Ordering::Acquire);
            if p.is_null() {
                continue;
            }
            // SAFETY: a per-CPU pointer is an owned cluster, never retired; the swap above
            // made this thread its only user.
            let c: &'g Cluster = unsafe { &*p };
            let m = c.meta();
            if order == 0 || m.count == 0 || m.order == u64::from(order) {
                if let Some(off) = c.alloc_in(order) {
                    return Some((c, off));
                }
            }
            let after = c.disown(self.dynamic);
            self.after_free(c, after, g);
        }
        None
    }

    /// Pop indices from a list until one isolates its cluster, and try to allocate there.
    /// None: the list is empty. Some(None): that candidate had no room. The lists are
    /// hints: an index whose cluster is gone, no longer has the list's flag, or serves
    /// another order now (it filled up, or was relisted elsewhere since) is dropped and
    /// the next one tried, as `isolate_lock_cluster` meets only clusters that are on the
    /// list now; so the single FRAG try of step 4 is never spent on a stale index.
    #[allow(clippy::option_option)]
    fn try_list<'g>(
        &self,
        g: &'g Guard,
        pop: impl Fn(&mut super::space::Lists) -> Option<u64>,
        flag: u64,
        want: Option<u32>,
        order: u32,
    ) -> Option<Option<(&'g Cluster, usize)>> {
        let c = loop {
            let idx = pop(&mut lock(&self.lists))?;
            if let Some(c) = self.get(idx, g).filter(|c| c.isolate(flag, want.map(u64::from))) {
                break c;
            }
        };
        match c.alloc_in(order) {
            Some(off) => Some(Some((c, off))),
            None => {
                let after = c.disown(self.dynamic);
                self.after_free(c, after, g);
                Some(None)
            }
        }
    }
}
