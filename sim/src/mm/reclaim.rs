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
        // The writes zswap writeback submitted during an earlier charge's reclaim have
        // completed by now; those of this charge's reclaim stay under writeback while it
        // runs (shrink_folio_list activates such a folio rather than wait for it).
        for m in &mut self.memcgs {
            m.wb_in_flight = 0;
        }
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

    /// `try_to_free_mem_cgroup_pages` → `do_try_to_free_pages` for a charge: a sweep
    /// with a target of `SWAP_CLUSTER_MAX` ([`Mm::reclaim_target`]). 0 only when the
    /// whole sweep, which scans every frame at priority 0, freed nothing: one of the
    /// charge's `MAX_RECLAIM_RETRIES`.
    pub(super) fn reclaim_sweep(&mut self, p: &Pinned<'_>, root: Cg) -> Result<u64, Error> {
        self.reclaim_target(p, root, SWAP_CLUSTER_MAX)
    }

    /// `do_try_to_free_pages` with `nr_to_reclaim = want` over `root`'s subtree: passes at
    /// priority `DEF_PRIORITY` (12) down to 0, each scanning `lru >> priority` frames of
    /// each memcg (at least `SWAP_CLUSTER_MAX`) from the subtree's cursor and calling its
    /// shrinker at that priority (`shrink_node_memcgs`: `shrink_lruvec` then
    /// `shrink_slab`), until `want` frames are reclaimed in all (the partial walk bails
    /// once the goal is reached). The number reclaimed.
    pub(super) fn reclaim_target(&mut self, p: &Pinned<'_>, root: Cg, want: u64) -> Result<u64, Error> {
        let mut done = 0;
        for prio in (0..=DEF_PRIORITY).rev() {
            done += self.reclaim_subtree_to(p, root, want - done, prio)?;
            if done >= want {
                break;
            }
        }
        Ok(done)
    }

    /// `get_scan_count` for one list of `len` anonymous frames at `prio` with no file
    /// pages: `len >> prio` scaled by anon's share of the pressure (`SCAN_FRACT`,
    /// `calculate_pressure_balance` with every reclaim cost on anon:
    /// `swappiness / (swappiness + 2 × (200 − swappiness))`, 0.18 at 60), the whole list at
    /// priority 0 (`SCAN_EQUAL`).
    pub(super) fn scan_count(&self, len: u64, prio: u32) -> u64 {
        if prio == 0 {
            return len;
        }
        let s = u64::from(self.swappiness);
        (len >> prio) * s / (s + 2 * (MAX_SWAPPINESS - s))
    }
    /// Reclaim about `nr` frames from `root`'s subtree (`memory.high`, `memory.reclaim`:
    /// `try_to_free_mem_cgroup_pages` with `nr_to_reclaim = nr`).
    pub(super) fn reclaim_subtree(&mut self, p: &Pinned<'_>, root: Cg, nr: u64) -> Result<u64, Error> {
        self.reclaim_target(p, root, nr)
    }

    /// One priority of `shrink_node_memcgs` over `root`'s subtree from its cursor: each
    /// memcg's lists scanned as [`Mm::scan_count`] gives, then its shrinker, stopping
    /// once `want` frames are reclaimed; the number reclaimed.
    fn reclaim_subtree_to(&mut self, p: &Pinned<'_>, root: Cg, want: u64, prio: u32) -> Result<u64, Error> {
        let n = self.memcgs[root].subtree.len();
        let mut done = 0;
        for _ in 0..n {
            let i = self.memcgs[root].reclaim_cursor % n;
            self.memcgs[root].reclaim_cursor = (i + 1) % n;
            let cg = self.memcgs[root].subtree[i];
            let m = &self.memcgs[cg];
            let [inactive, active] = [m.lru[0].len + m.wb_folios, m.lru[1].len].map(|l| self.scan_count(l, prio));
            done += self.shrink_lruvec_to(p, cg, inactive, active, want - done, prio)?;
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
            let m = &self.memcgs[cg];
            if m.lru[0].len == 0 && m.lru[1].len == 0 && m.wb_folios == 0 {
                continue;
            }
            done += self.shrink_lruvec_to(p, cg, nr - done, nr - done, nr - done, DEF_PRIORITY)?;
            if done >= nr {
                break;
            }
        }
        Ok(done)
    }

    /// `shrink_lruvec` + `shrink_slab` for one memcg at `prio`: deactivate up to `active`
    /// frames while the inactive list is low (`shrink_active_list`), scan up to `nr`
    /// inactive frames, stopping once `want` are reclaimed (`nr_to_reclaim`), then run
    /// zswap's shrinker ([`Mm::shrink_slab`]).
    pub(super) fn shrink_lruvec_to(
        &mut self,
        pin: &Pinned<'_>,
        cg: Cg,
        nr: u64,
        active: u64,
        want: u64,
        prio: u32,
    ) -> Result<u64, Error> {
        // inactive_is_low: refill the inactive list from the active tail.
        let mut moved = 0;
        while self.memcgs[cg].lru[0].len < self.memcgs[cg].lru[1].len && moved < active {
            let f = self.memcgs[cg].lru[1].tail;
            self.lru_del(f);
            self.frames[f as usize].flags &= !(ACTIVE | REFERENCED);
            self.lru_add(f, false);
            moved += 1;
        }
        // get_scan_count: no anon scan when the memcg can get no more swap
        // (can_reclaim_anon_pages); the shrinker still runs.
        if !self.can_reclaim_anon(cg)? {
            self.shrink_slab(cg, prio)?;
            return Ok(0);
        }
        // The written-back folios whose write completed sit at the inactive tail
        // (folio_rotate_reclaimable): freed first, without I/O.
        let m = &self.memcgs[cg];
        let wb = (m.wb_folios - m.wb_in_flight).min(nr).min(want);
        self.writeback_folios(cg, wb, false);
        let (mut scanned, mut reclaimed) = (wb, wb);
        while scanned < nr && reclaimed < want && self.memcgs[cg].lru[0].len > 0 {
            scanned += 1;
            let f = self.memcgs[cg].lru[0].tail;
            self.lru_del(f);
            let fr = &mut self.frames[f as usize];
            if fr.flags & REFERENCED != 0 {
                fr.flags &= !REFERENCED;
                self.activate(pin, cg, f)?;
                continue;
            }
            if self.pageout(pin, f)? {
                reclaimed += 1;
            } else {
                self.lru_add(f, true);
            }
        }
        self.shrink_slab(cg, prio)?;
        self.memcgs[cg].counters.reclaimed += reclaimed;
        Ok(reclaimed)
    }

    /// `shrink_folio_list`'s `activate_locked`: a swap-cache folio is first dropped from
    /// the swap cache when `mem_cgroup_swap_full` holds (`folio_free_swap`, which fails
    /// while a swap PTE holds the slot, and leaves the folio dirty), then activated.
    fn activate(&mut self, pin: &Pinned<'_>, cg: Cg, f: u32) -> Result<(), Error> {
        let slot = self.frames[f as usize].slot;
        if slot != 0 && self.swap_full(cg) && pin.release(VSlot::from_raw(slot))? {
            self.swapcache.remove(slot);
            let fr = &mut self.frames[f as usize];
            fr.slot = 0;
            fr.flags |= DIRTY;
        }
        self.lru_add(f, true);
        Ok(())
    }

    /// `can_reclaim_anon_pages` for memcg reclaim: swap space is left for `cg`
    /// (`mem_cgroup_get_nr_swap_pages`: the free device slots, every entry holding one as
    /// in the lab kernels, capped by `memory.swap.max` − usage of every level below the
    /// root, zswapped pages counted as usage).
    fn can_reclaim_anon(&self, cg: Cg) -> Result<bool, Error> {
        // With no device, zswap alone is swap space here (the virtual-swap design), where
        // the lab kernels have none.
        let free = self.total_swap_pages.saturating_sub(self.sys.stat().vslots_in_use);
        if free == 0 && (self.total_swap_pages > 0 || !self.sys.config().zswap.enabled) {
            return Ok(false);
        }
        let mut up = Some(cg);
        while let Some(a) = up.filter(|&a| a != Self::ROOT) {
            if let Some(max) = self.memcgs[a].swap_max {
                let s = self.sys.memcg_stat(self.memcgs[a].id)?;
                if s.swap_current / PAGE + s.zswapped.div_ceil(PAGE) >= max {
                    return Ok(false);
                }
            }
            up = self.memcgs[a].parent;
        }
        Ok(true)
    }

    /// `do_shrink_slab` for zswap's memcg-aware shrinker on `cg` at `prio`: `freeable` is
    /// `zswap_shrinker_count`; the new work is `delta = (freeable >> prio) × 4 / seeks`
    /// (`DEFAULT_SEEKS` = 2), the scan `total_scan = (nr_deferred >> prio) + delta`, at most
    /// twice `freeable`, walked in batches of `SHRINK_BATCH` (128) while at least a batch
    /// or all of `freeable` is left (`shrink_memcg`, the kernel's `zswap_shrinker_scan`).
    /// A batch that writes nothing back or meets a page in the swap cache ends the scan
    /// (`SHRINK_STOP`). The work not done is deferred to the memcg's next call
    /// (`nr + delta − scanned`, at most twice `freeable`: `add_nr_deferred_memcg`).
    pub(super) fn shrink_slab(&mut self, cg: Cg, prio: u32) -> Result<(), Error> {
        if !self.shrinker {
            return Ok(());
        }
        let id = self.memcgs[cg].id;
        let freeable = self.sys.shrinker_count(id);
        if freeable == 0 {
            return Ok(());
        }
        let nr = std::mem::take(&mut self.memcgs[cg].nr_deferred);
        let delta = (freeable >> prio) * 4 / DEFAULT_SEEKS;
        let mut total_scan = ((nr >> prio) + delta).min(2 * freeable);
        let mut scanned = 0;
        while total_scan >= SHRINK_BATCH || total_scan >= freeable {
            let n = total_scan.min(SHRINK_BATCH);
            let o = self.sys.shrink_memcg(id, n)?;
            self.writeback_folios(cg, o.written, true);
            self.zswap_charged(cg, o.written_bytes, false);
            if o.written == 0 || o.swap_cache_hit {
                break;
            }
            total_scan -= n;
            scanned += n;
        }
        self.memcgs[cg].nr_deferred = (nr + delta).saturating_sub(scanned).min(2 * freeable);
        Ok(())
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
            let written = pin.writeout(vslot, page)?;
            if self.worker_wake == WorkerWake::NextFolio {
                // `cond_resched` before the next folio: a worker the store queued runs.
                self.run_queued_worker()?;
            }
            match written {
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
    /// (`add_to_swap` fails, the folio is activated), and `memory.swap.events` `max` and
    /// `fail` are raised on the folio's memcg (`memcg_memory_event`, once per refused
    /// folio: reported summed over the subtree, as the file's events propagate up).
    fn swap_charge_refused(&mut self, cg: Cg) -> Result<bool, Error> {
        let mut up = Some(cg);
        while let Some(a) = up.filter(|&a| a != Self::ROOT) {
            if let Some(max) = self.memcgs[a].swap_max {
                if self.swap_usage(a)? + 1 > max {
                    let c = &mut self.memcgs[cg].counters;
                    c.swap_max += 1;
                    c.swap_fail += 1;
                    return Ok(true);
                }
            }
            up = self.memcgs[a].parent;
        }
        Ok(false)
    }

    /// A zswap entry of `cg` of `bytes` stored (`add`) or freed: the pool's size and the
    /// zswap charge of `cg` and its ancestors, none for the root's own entries
    /// (`obj_cgroup_charge_zswap` skips the root).
    pub(super) fn zswap_charged(&mut self, cg: Cg, bytes: u64, add: bool) {
        if add {
            self.pool_bytes += bytes;
        } else {
            self.pool_bytes = self.pool_bytes.saturating_sub(bytes);
        }
        let mut up = Some(cg).filter(|&c| c != Self::ROOT);
        while let Some(a) = up {
            let z = &mut self.memcgs[a].zswap_tree;
            *z = if add { *z + bytes } else { z.saturating_sub(bytes) };
            up = self.memcgs[a].parent;
        }
    }
}
