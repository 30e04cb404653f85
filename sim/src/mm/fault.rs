//! Faults, fork and exit: `do_swap_page`, `workingset_refault`, `wp_page_copy`,
//! `copy_pte_range` and `exit_mmap` (see the parent module's doc for the rules).

use super::readahead::Window;
use super::*;

impl Mm {
    /// `do_swap_page`: map the page behind a swap PTE, from the swap cache or a read
    /// (`swapin_readahead`: with its window of neighbours, see `readahead.rs`).
    pub(super) fn swapin(
        &mut self,
        pin: &Pinned<'_>,
        task: usize,
        p: Process,
        vpage: u64,
        slot: VSlot,
        write: bool,
    ) -> Result<(), Error> {
        let cg = self.tasks[task].cg;
        let pi = usize::from(bit(p) - 1);
        let (f, above) = match self.swapcache.get(slot.raw()) {
            Some(f) => {
                self.memcgs[cg].counters.swapcache_hits += 1;
                self.frames[f as usize].flags |= REFERENCED;
                self.swap_update_readahead(task, pi, vpage, f);
                (f, None)
            }
            None => {
                // The window, split at the faulting page (or slot): the part below is read
                // first, the part above after the fault is mapped.
                let split = self.readahead_window_for(task, pi, vpage, slot.raw()).map(|w| match w {
                    Window::Pages { start, end } => (w, start, vpage, end),
                    Window::Slots { start, end } => (w, start, slot.raw(), end),
                });
                if let Some((w, start, at, _)) = split {
                    if !self.read_ahead(pin, task, pi, w, start..at)? {
                        return Ok(());
                    }
                }
                let data = self.data_of(task, vpage)?;
                let Some(f) = self.new_frame(pin, task, vpage, data)? else { return Ok(()) };
                self.read_into(pin, task, f, slot)?;
                self.memcgs[cg].counters.major_faults += 1;
                (f, split.map(|(w, _, at, end)| (w, at + 1..end)))
            }
        };
        self.map(task, p, vpage, f);
        // should_try_to_free_swap: a write fault by the folio's only user (no other
        // process maps it: the kernel's exclusive marker / reference count), or swap at
        // least half full, frees the slot (`folio_free_swap`, which fails while another
        // PTE holds it); a read fault keeps the folio in the swap cache with its slot, so
        // that reclaim can drop it without writing while the slot still holds its data.
        let left = pin.put(slot)?;
        let exclusive = self.frames[f as usize].mappers == bit(p);
        if left == 0 && ((write && exclusive) || self.swap_full(cg)) && pin.release(slot)? {
            self.swapcache.remove(slot.raw());
            let fr = &mut self.frames[f as usize];
            fr.slot = 0;
            fr.flags |= DIRTY;
        }
        if write {
            // The other process of a fork still maps the folio, or still holds its slot in
            // a swap PTE: the folio is not exclusive (fork cleared the swap PTEs'
            // exclusive marker), so do_swap_page maps it read-only and do_wp_page copies
            // it (`wp_can_reuse_anon_folio` fails while the swap count holds the folio).
            if self.frames[f as usize].mappers == 3 || left > 0 {
                self.cow(pin, task, p, vpage, f as usize)?;
            } else {
                self.frames[f as usize].flags |= DIRTY;
            }
        }
        if let Some((w, range)) = above {
            if !self.tasks[task].killed {
                self.read_ahead(pin, task, pi, w, range)?;
            }
        }
        Ok(())
    }

    /// `swap_read_folio` into the new frame `f` (not yet in the swap cache) for a fault of
    /// `task`: the facade's `fault` reads the slot (`pswpin`, `zswpin` with the entry
    /// freed and the frame dirtied, or `swpin_zero`), then the frame enters the swap
    /// cache and is checked against the slot's shadow (`workingset_refault`).
    pub(super) fn read_into(&mut self, pin: &Pinned<'_>, task: usize, f: u32, slot: VSlot) -> Result<(), Error> {
        let fault = pin.fault(self.cpu(task), slot, FolioId(u64::from(f) + 1), None)?;
        let fr = &mut self.frames[f as usize];
        let cg = fr.cg as usize;
        fr.slot = slot.raw();
        match fault.source {
            FaultSource::Zswap => {
                fr.flags |= DIRTY;
                let len = u64::from(fr.data().compressed_len.clamp(1, vswap::PAGE_SIZE as u32));
                self.zswap_charged(cg, len, false);
            }
            FaultSource::Cache => return Err(sim_bug("sim: a swap-cache folio the mm does not know")),
            FaultSource::Device(d) => {
                let reads = &mut self.memcgs[cg].counters.device_reads;
                let i = usize::from(d.raw());
                if reads.len() <= i {
                    reads.resize(i + 1, 0);
                }
                reads[i] += 1;
            }
            FaultSource::Zero => {}
        }
        self.swapcache.insert(slot.raw(), f)?;
        if let Some(s) = fault.shadow {
            self.workingset_refault(cg, f, s);
        }
        Ok(())
    }

    /// `workingset_refault`: activate a refault evicted less than an active list ago.
    pub(super) fn workingset_refault(&mut self, cg: Cg, f: u32, shadow: Shadow) {
        let m = &mut self.memcgs[cg];
        let mask = (1u64 << Shadow::BITS) - 1;
        let distance = m.evictions.wrapping_sub(shadow.0) & mask;
        if distance <= m.lru[1].len {
            m.counters.refault_activate += 1;
            self.lru_del(f);
            self.lru_add(f, true);
        }
    }

    pub(super) fn data_of(&self, task: usize, vpage: u64) -> Result<PageData, Error> {
        let t = &self.tasks[task];
        let (r, page) = t.workload.region_of(vpage).ok_or(sim_bug("sim: a page outside every region"))?;
        t.workload.page_data(r, page, t.seed).ok_or(sim_bug("sim: a page outside every region"))
    }

    pub(super) fn map(&mut self, task: usize, p: Process, vpage: u64, f: u32) {
        self.tasks[task].ptes[usize::from(bit(p) - 1)][vpage as usize] = PRESENT | u64::from(f);
        self.frames[f as usize].mappers |= bit(p);
    }

    /// Whether a write by a process mapping `f` must copy it (`do_wp_page` →
    /// `wp_can_reuse_anon_folio` false): the other process of the fork maps it too, or
    /// holds its slot in a swap PTE (the swap count pins the swap-cache folio, so
    /// `folio_free_swap` fails and the reference count stays above 1).
    pub(super) fn shared(&self, pin: &Pinned<'_>, f: usize) -> Result<bool, Error> {
        let fr = &self.frames[f];
        if fr.mappers == 3 {
            return Ok(true);
        }
        if fr.slot == 0 {
            return Ok(false);
        }
        Ok(match pin.state(VSlot::from_raw(fr.slot))? {
            vswap::SlotState::Cached { count, .. } => count > 0,
            _ => false,
        })
    }

    /// `wp_page_copy`: a write to a frame that is not exclusive to the writer (see
    /// [`Mm::shared`]) gives the writer a copy; the old frame stays with the other
    /// process, mapped or in the swap cache, and loses the young bit of the writer's PTE.
    pub(super) fn cow(
        &mut self,
        pin: &Pinned<'_>,
        task: usize,
        p: Process,
        vpage: u64,
        old: usize,
    ) -> Result<(), Error> {
        let data = self.frames[old].data();
        self.frames[old].mappers &= !bit(p);
        if self.frames[old].mappers == 0 {
            self.frames[old].flags &= !REFERENCED;
        }
        // Unmapped while the charge runs: reclaim may free `old`, and an OOM kill of this
        // task must not see a PTE naming it.
        self.tasks[task].ptes[usize::from(bit(p) - 1)][vpage as usize] = 0;
        let Some(f) = self.new_frame(pin, task, vpage, data)? else { return Ok(()) };
        self.map(task, p, vpage, f);
        self.frames[f as usize].flags |= DIRTY;
        Ok(())
    }

    /// `copy_pte_range`: the child maps every present frame and duplicates every swap
    /// PTE (`swap_duplicate`: count + 1).
    pub(super) fn fork(&mut self, pin: &Pinned<'_>, task: usize) -> Result<(), Error> {
        if self.tasks[task].child {
            return Err(Error::Invalid("sim: the task already has a child"));
        }
        let ptes = self.tasks[task].ptes[0].clone();
        for &pte in &ptes {
            if pte & PRESENT != 0 {
                self.frames[(pte & PAYLOAD) as usize].mappers |= 2;
            } else if pte & SWAP != 0 {
                pin.dup(VSlot::from_raw(pte & PAYLOAD))?;
            }
        }
        let t = &mut self.tasks[task];
        t.ptes[1] = ptes;
        // vm_area_dup copies the VMA, its swap_readahead_info included.
        t.ra[1] = t.ra[0];
        t.child = true;
        Ok(())
    }

    /// `exit_mmap` of the child: unmap its frames, drop its swap counts.
    pub(super) fn child_exit(&mut self, pin: &Pinned<'_>, task: usize) -> Result<(), Error> {
        if !self.tasks[task].child {
            return Err(Error::Invalid("sim: the task has no child"));
        }
        self.tasks[task].child = false;
        self.unmap_all(pin, task, Process::Child)
    }

    /// `exit_mmap` / `__oom_reap_task_mm` for one process of `task`: every present frame
    /// unmapped (freed once nobody maps it and no swap PTE holds its slot), every swap
    /// PTE's count dropped (`swap_put_entries_direct`: a slot no one holds is freed with
    /// its zswap entry or device slot).
    pub(super) fn unmap_all(&mut self, pin: &Pinned<'_>, task: usize, p: Process) -> Result<(), Error> {
        let b = bit(p);
        let ptes = std::mem::take(&mut self.tasks[task].ptes[usize::from(b - 1)]);
        for pte in ptes {
            if pte & PRESENT != 0 {
                let f = (pte & PAYLOAD) as u32;
                self.frames[f as usize].mappers &= !b;
                self.drop_if_unused(pin, f)?;
            } else if pte & SWAP != 0 {
                let slot = VSlot::from_raw(pte & PAYLOAD);
                let left = pin.put(slot)?;
                if let Some(f) = self.swapcache.get(slot.raw()) {
                    if left == 0 {
                        self.drop_if_unused(pin, f)?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Free a frame nobody maps, or release the slot of a mapped one that no swap PTE
    /// holds any more.
    pub(super) fn drop_if_unused(&mut self, pin: &Pinned<'_>, f: u32) -> Result<(), Error> {
        let fr = self.frames[f as usize];
        if fr.mappers != 0 {
            if fr.slot != 0 && pin.release(VSlot::from_raw(fr.slot))? {
                self.swapcache.remove(fr.slot);
                let fr = &mut self.frames[f as usize];
                fr.slot = 0;
                fr.flags |= DIRTY;
            }
            return Ok(());
        }
        if fr.slot != 0 {
            if !pin.release(VSlot::from_raw(fr.slot))? {
                return Ok(()); // a swap PTE still holds it: the folio stays cached
            }
            self.swapcache.remove(fr.slot);
        }
        self.lru_del(f);
        self.free_frame(f);
        Ok(())
    }
}
