//! Reclaim: `try_charge_memcg`'s limit checks, `shrink_lruvec` with `shrink_slab`, and
//! `pageout` through the facade (see the parent module's doc for the rules).

use super::*;

/// What [`Mm::try_charge`] came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Charged {
    /// The page fits (or, for a task's charge, is granted with no task left to kill).
    Granted,
    /// The OOM kill took the charging task itself (`VM_FAULT_OOM`).
    KilledSelf,
    /// swapoff's charge: no room and no task to kill (-ENOMEM).
    Refused,
}

impl Mm {
    /// `try_charge_memcg` for one page of `task` in `cg`: global reclaim while RAM is
    /// full, then for `cg` and each ancestor with a `memory.max`, reclaim from that
    /// subtree until the page fits; after `MAX_RECLAIM_RETRIES` passes that free nothing,
    /// `mem_cgroup_out_of_memory` (`memory.events` `oom` at that memcg) kills a task of
    /// the subtree ([`Mm::oom_kill`]) and the charge retries. True: `task` itself was
    /// killed (the charge fails, `VM_FAULT_OOM`). With no task left to kill, the charge
    /// is granted (the kernel's `force:` path for a dying task).
    pub(super) fn charge(&mut self, p: &Pinned<'_>, cg: Cg, task: usize) -> Result<bool, Error> {
        Ok(matches!(self.try_charge(p, cg, Some(task))?, Charged::KilledSelf))
    }

    /// [`Mm::charge`] for `task`, or with None for swapoff's swap-in
    /// (`mem_cgroup_swapin_charge_folio` from `try_to_unuse`), which no task of the memcg
    /// makes: there, when the OOM killer finds no task to kill, the charge fails
    /// (`try_charge_memcg`'s `nomem`, -ENOMEM) where a fault's is granted.
    pub(super) fn try_charge(&mut self, p: &Pinned<'_>, cg: Cg, task: Option<usize>) -> Result<Charged, Error> {
        // Global: frames + the pool must leave room for one more frame.
        let used = |mm: &Mm| mm.memcgs[Self::ROOT].resident_tree + mm.pool_bytes.div_ceil(PAGE);
        let mut tries = 0;
        while used(self) >= self.ram_pages && tries < 8 {
            if self.reclaim_global(p, SWAP_CLUSTER_MAX)? == 0 {
                tries += 1;
            }
        }
        let mut up = Some(cg);
        while let Some(a) = up {
            if let Some(max) = self.memcgs[a].max {
                let mut idle = 0;
                while self.memcgs[a].current() + PAGE > max {
                    if self.reclaim_sweep(p, a)? > 0 {
                        idle = 0;
                        continue;
                    }
                    idle += 1;
                    if idle == MAX_RECLAIM_RETRIES {
                        self.memcgs[a].counters.oom += 1;
                        match self.oom_kill(p, a)? {
                            Some(victim) if Some(victim) == task => return Ok(Charged::KilledSelf),
                            Some(_) => idle = 0,
                            None if task.is_none() => return Ok(Charged::Refused),
                            None => break,
                        }
                    }
                }
            }
            if let Some(high) = self.memcgs[a].high {
                let over = (self.memcgs[a].current() + PAGE).saturating_sub(high).div_ceil(PAGE);
                if over > 0 {
                    self.reclaim_subtree(p, a, over.max(SWAP_CLUSTER_MAX))?;
                }
            }
            up = self.memcgs[a].parent;
        }
        Ok(Charged::Granted)
    }

    /// `mem_cgroup_out_of_memory` → `out_of_memory` → `select_bad_process` (over the
    /// subtree of `root`, `mem_cgroup_scan_tasks`) → `oom_kill_process`: the live task
    /// with the highest `oom_badness` (resident pages + swap entries of its processes,
    /// the later one on a tie as `oom_evaluate_task` keeps it) is killed, its
    /// `memory.events` `oom_kill` counted, and its memory torn down as
    /// `__oom_reap_task_mm` / `exit_mmap` do ([`Mm::unmap_all`]). None: no task to kill.
    pub(super) fn oom_kill(&mut self, p: &Pinned<'_>, root: Cg) -> Result<Option<usize>, Error> {
        let subtree = &self.memcgs[root].subtree;
        let badness = |t: &Task| t.ptes.iter().flatten().filter(|&&pte| pte & (PRESENT | SWAP) != 0).count();
        let victim = (self.tasks.iter().enumerate())
            .filter(|(_, t)| !t.killed && subtree.contains(&t.cg))
            .map(|(i, t)| (badness(t), i))
            .max_by_key(|&(b, i)| (b, i))
            .map(|(_, i)| i);
        let Some(v) = victim else { return Ok(None) };
        let cg = self.tasks[v].cg;
        self.memcgs[cg].counters.oom_kill += 1;
        self.tasks[v].killed = true;
        if self.tasks[v].child {
            self.tasks[v].child = false;
            self.unmap_all(p, v, Process::Child)?;
        }
        self.unmap_all(p, v, Process::Parent)?;
        self.refresh()?;
        Ok(Some(v))
    }

    /// `try_to_free_mem_cgroup_pages` → `do_try_to_free_pages` for a charge: passes at
    /// priority `DEF_PRIORITY` (12) down to 0, each scanning `lru >> priority` frames of
    /// each memcg of `root`'s subtree (at least `SWAP_CLUSTER_MAX`), until one reclaims
    /// something (its target is `SWAP_CLUSTER_MAX`). 0 only when the whole sweep,
    /// which scans every frame at priority 0, freed nothing: one of the charge's
    /// `MAX_RECLAIM_RETRIES`.
    pub(super) fn reclaim_sweep(&mut self, p: &Pinned<'_>, root: Cg) -> Result<u64, Error> {
        for prio in (0..=DEF_PRIORITY).rev() {
            let scan = (self.memcgs[root].resident_tree >> prio).max(SWAP_CLUSTER_MAX);
            let n = self.reclaim_subtree_to(p, root, scan, SWAP_CLUSTER_MAX)?;
            if n > 0 {
                return Ok(n);
            }
        }
        Ok(0)
    }

    /// Reclaim about `nr` frames from `root`'s subtree, memcg by memcg from its cursor.
    pub(super) fn reclaim_subtree(&mut self, p: &Pinned<'_>, root: Cg, nr: u64) -> Result<u64, Error> {
        self.reclaim_subtree_to(p, root, nr, nr)
    }

    /// Scan up to `scan` frames of each memcg of `root`'s subtree from its cursor,
    /// stopping once `want` are reclaimed; the number reclaimed.
    fn reclaim_subtree_to(&mut self, p: &Pinned<'_>, root: Cg, scan: u64, want: u64) -> Result<u64, Error> {
        let n = self.memcgs[root].subtree.len();
        let mut done = 0;
        for _ in 0..n {
            let i = self.memcgs[root].reclaim_cursor % n;
            self.memcgs[root].reclaim_cursor = (i + 1) % n;
            let cg = self.memcgs[root].subtree[i];
            done += self.shrink_lruvec_to(p, cg, scan.saturating_sub(done), want - done)?;
            if done >= want {
                break;
            }
        }
        Ok(done)
    }

    pub(super) fn reclaim_global(&mut self, p: &Pinned<'_>, nr: u64) -> Result<u64, Error> {
        let n = self.memcgs.len();
        let mut done = 0;
        for _ in 0..n {
            let cg = self.global_cursor % n;
            self.global_cursor = (cg + 1) % n;
            // A memcg with no frames has nothing to scan, and `shrink_lruvec` would do
            // nothing for it (no scan, so no `shrink_slab` either): skip the call.
            let lru = &self.memcgs[cg].lru;
            if lru[0].len == 0 && lru[1].len == 0 {
                continue;
            }
            done += self.shrink_lruvec(p, cg, nr - done)?;
            if done >= nr {
                break;
            }
        }
        Ok(done)
    }

    /// `shrink_lruvec` + `shrink_slab` for one memcg: scan up to `nr` inactive frames.
    pub(super) fn shrink_lruvec(&mut self, pin: &Pinned<'_>, cg: Cg, nr: u64) -> Result<u64, Error> {
        self.shrink_lruvec_to(pin, cg, nr, nr)
    }

    /// [`Mm::shrink_lruvec`] scanning up to `nr` frames and stopping once `want` are
    /// reclaimed (`nr_to_reclaim`).
    fn shrink_lruvec_to(&mut self, pin: &Pinned<'_>, cg: Cg, nr: u64, want: u64) -> Result<u64, Error> {
        // inactive_is_low: refill the inactive list from the active tail.
        let mut moved = 0;
        while self.memcgs[cg].lru[0].len < self.memcgs[cg].lru[1].len && moved < nr {
            let f = self.memcgs[cg].lru[1].tail;
            self.lru_del(f);
            self.frames[f as usize].flags &= !(ACTIVE | REFERENCED);
            self.lru_add(f, false);
            moved += 1;
        }
        let (mut scanned, mut reclaimed) = (0, 0);
        while scanned < nr && reclaimed < want && self.memcgs[cg].lru[0].len > 0 {
            scanned += 1;
            let f = self.memcgs[cg].lru[0].tail;
            self.lru_del(f);
            let fr = &mut self.frames[f as usize];
            if fr.flags & REFERENCED != 0 {
                fr.flags &= !REFERENCED;
                self.lru_add(f, true);
                continue;
            }
            if self.pageout(pin, f)? {
                reclaimed += 1;
            } else {
                self.lru_add(f, true);
            }
        }
        if self.shrinker && scanned > 0 {
            let id = self.memcgs[cg].id;
            let count = self.sys.shrinker_count(id);
            if count > 0 {
                let lru = self.memcgs[cg].lru[0].len + self.memcgs[cg].lru[1].len + 1;
                let want = (count * scanned).div_ceil(lru).min(count);
                self.sys.shrink_memcg(id, want)?;
            }
        }
        self.memcgs[cg].counters.reclaimed += reclaimed;
        Ok(reclaimed)
    }

    /// Swap one unlisted frame out; true when it was freed, false when kept.
    pub(super) fn pageout(&mut self, pin: &Pinned<'_>, f: u32) -> Result<bool, Error> {
        let fr = self.frames[f as usize];
        let (cg, task) = (fr.cg as usize, fr.task as usize);
        let mut slot = fr.slot;
        if slot == 0 {
            if self.swap_charge_refused(cg)? {
                self.memcgs[cg].counters.kept += 1;
                return Ok(false);
            }
            let pfn = FolioId(u64::from(f) + 1);
            match pin.alloc(self.cpu(task), self.memcgs[cg].id, pfn, 0) {
                Ok(s) => slot = s.raw(),
                Err(Error::DeviceFull) => {
                    self.memcgs[cg].counters.kept += 1;
                    return Ok(false);
                }
                Err(e) => return Err(e),
            }
            self.frames[f as usize].slot = slot;
            self.swapcache.insert(slot, f)?;
        }
        let vslot = VSlot::from_raw(slot);
        // try_to_unmap: every mapping becomes a swap PTE holding one count.
        for p in 0..2 {
            if fr.mappers & (1 << p) != 0 {
                self.tasks[task].ptes[p][fr.vpage as usize] = SWAP | slot;
                pin.dup(vslot)?;
            }
        }
        self.frames[f as usize].mappers = 0;
        if fr.flags & DIRTY != 0 || matches!(self.sys.backing(vslot)?, vswap::Backing::None) {
            let data = fr.data();
            let page = Page::Synthetic { compressed_len: data.compressed_len, zero: data.zero };
            match pin.writeout(vslot, page)? {
                Writeout::Kept(_) => {
                    self.memcgs[cg].counters.kept += 1;
                    return Ok(false);
                }
                Writeout::Zswap { compressed } => self.zswap_charged(cg, u64::from(compressed), true),
                Writeout::Zero | Writeout::Device(_) => {}
            }
            self.frames[f as usize].flags &= !DIRTY;
        }
        let shadow = Shadow(self.memcgs[cg].evictions).kept();
        pin.evict(vslot, shadow)?;
        self.memcgs[cg].evictions += 1;
        self.swapcache.remove(slot);
        self.free_frame(f);
        Ok(true)
    }

    /// `__mem_cgroup_try_charge_swap` as the lab kernels charge it at `folio_alloc_swap`:
    /// every entry, a zswapped one included, counts against `memory.swap.max` (given
    /// through [`Mm::memcg_set`]) of the memcg and its ancestors, where the library charges
    /// only device slots. True: a new entry would pass a limit, so the folio is kept
    /// (`add_to_swap` fails, the folio is activated).
    fn swap_charge_refused(&self, cg: Cg) -> Result<bool, Error> {
        let mut up = Some(cg);
        while let Some(a) = up.filter(|&a| a != Self::ROOT) {
            if let Some(max) = self.memcgs[a].swap_max {
                let s = self.sys.memcg_stat(self.memcgs[a].id)?;
                if s.swap_current / PAGE + s.zswapped.div_ceil(PAGE) + 1 > max {
                    return Ok(true);
                }
            }
            up = self.memcgs[a].parent;
        }
        Ok(false)
    }

    pub(super) fn zswap_charged(&mut self, cg: Cg, bytes: u64, add: bool) {
        if add {
            self.pool_bytes += bytes;
        } else {
            self.pool_bytes = self.pool_bytes.saturating_sub(bytes);
        }
        let mut up = Some(cg);
        while let Some(a) = up {
            let z = &mut self.memcgs[a].zswap_tree;
            *z = if add { *z + bytes } else { z.saturating_sub(bytes) };
            up = self.memcgs[a].parent;
        }
    }
}
