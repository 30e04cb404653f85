//! `swapoff(2)` → `try_to_unuse`: a device goes off and what the other devices have no
//! room for comes into frames (see the parent module's doc).

use super::reclaim::Charged;
use super::*;
use vswap::{Backing, DeviceId, SwapoffPage, SwapoffReport};

impl Mm {
    /// `swapoff(2)` of `dev` (one of [`Mm::devices`]): `try_to_unuse`. The library moves
    /// the device's pages to the other devices while they have room
    /// ([`SwapSystem::swapoff_with`]); each page left comes into memory:
    /// * a swapped-out page gets a frame charged to its memcg
    ///   (`mem_cgroup_swapin_charge_folio`), reclaiming first as the charge and the page
    ///   allocator would, and OOM-killing in the memcg as `try_charge_memcg` does; the
    ///   read counts in `pswpin` and [`CgCounters::device_reads`] (not as a fault), and a
    ///   shadow young enough activates the frame (`workingset_refault`);
    /// * then (`unuse_pte`) every PTE holding such a slot, or one whose folio was already
    ///   in the swap cache, maps the frame, and the slot is freed (`folio_free_swap`): no
    ///   fault follows, and the page is dirty (its only copy is in memory).
    ///
    /// Errors: [`Error::NoMemory`] when a charge finds no room and no task to kill (the
    /// kernel's -ENOMEM): the device stays on, the pages already brought in stay mapped,
    /// the rest stay on the device. The device's id stays in [`Mm::devices`] (its place
    /// there is its place in [`MmConfig::devices`]) but names no device once it is off.
    pub fn swapoff(&mut self, dev: DeviceId) -> Result<SwapoffReport, Error> {
        let sys = Arc::clone(&self.sys);
        let p = sys.pin();
        let dev_pages = sys.device_stat(dev)?.pages;
        // `unuse_mm`'s walk, done once: who holds each slot (a swap PTE, or a frame in the
        // swap cache, which reclaim may turn into swap PTEs while swapoff runs).
        let mut owner: HashMap<u64, (usize, u32)> = HashMap::default();
        for (t, task) in self.tasks.iter().enumerate() {
            for ptes in &task.ptes {
                for (v, &pte) in ptes.iter().enumerate() {
                    if pte & SWAP != 0 {
                        owner.entry(pte & PAYLOAD).or_insert((t, v as u32));
                    }
                }
            }
        }
        for s in self.swapcache.slots() {
            if let Some(f) = self.swapcache.get(s) {
                let fr = &self.frames[f as usize];
                owner.insert(s, (fr.task as usize, fr.vpage));
            }
        }
        let mut on_dev: Vec<u64> = owner.keys().copied().filter(|&s| on(&sys, s, dev)).collect();
        on_dev.sort_unstable();
        let mut failed = None;
        let result = {
            let mut sink = |page: &SwapoffPage<'_>| -> Option<FolioId> {
                let frame = match owner.get(&page.slot.raw()) {
                    Some(&(task, vpage)) => self.swapoff_frame(&p, task, vpage, page),
                    None => Err(sim_bug("sim: swapoff met a slot no task holds")),
                };
                match frame {
                    Ok(f) => f.map(|f| FolioId(u64::from(f) + 1)),
                    Err(e) => {
                        failed = Some(e);
                        None
                    }
                }
            };
            sys.swapoff_with(dev, &mut sink)
        };
        // What came into memory is mapped, whether or not the swapoff finished.
        self.unuse_ptes(&p, &on_dev)?;
        if let Some(e) = failed {
            return Err(e);
        }
        let report = result?;
        self.total_swap_pages = self.total_swap_pages.saturating_sub(dev_pages.saturating_sub(1));
        self.refresh()?;
        Ok(report)
    }

    /// The sink's half of a swap-in: charge `task`'s memcg for a frame (None: no room and
    /// no task to kill), take it for page `vpage`, in the swap cache at the page's slot.
    fn swapoff_frame(
        &mut self,
        p: &Pinned<'_>,
        task: usize,
        vpage: u32,
        page: &SwapoffPage<'_>,
    ) -> Result<Option<u32>, Error> {
        // The recorded memcg, which the sim never takes offline: the task's.
        let cg = self.by_id.get(&page.memcg).copied().unwrap_or(self.tasks[task].cg);
        if self.try_charge(p, cg, None)? == Charged::Refused {
            return Ok(None);
        }
        self.charge_done(cg)?;
        let data = self.data_of(task, u64::from(vpage))?;
        let len = u16::try_from(data.compressed_len).map_err(|_| sim_bug("sim: a compressed length past 64 KiB"))?;
        // Not referenced (`unuse_pte` maps it old) and dirty: the device copy goes.
        let flags = if data.zero { DIRTY | ZERO } else { DIRTY };
        let f = self.alloc_frame(task, cg, vpage, len, flags)?;
        self.frames[f as usize].slot = page.slot.raw();
        self.swapcache.insert(page.slot.raw(), f)?;
        let reads = &mut self.memcgs[cg].counters.device_reads;
        let i = usize::from(page.device.raw());
        if reads.len() <= i {
            reads.resize(i + 1, 0);
        }
        reads[i] += 1;
        self.workingset_refault(cg, f, page.shadow);
        Ok(Some(f))
    }

    /// `unuse_pte` + `folio_free_swap` for the slots of `slots` now in memory only (no
    /// backend): every swap PTE holding one maps its frame and drops its count, then the
    /// slot is freed (a frame no PTE maps goes with it).
    fn unuse_ptes(&mut self, p: &Pinned<'_>, slots: &[u64]) -> Result<(), Error> {
        for &s in slots {
            let v = VSlot::from_raw(s);
            if self.sys.backing(v) != Ok(Backing::None) {
                continue; // still on a device (moved, or not reached), or freed
            }
            let Some(f) = self.swapcache.get(s) else { continue };
            let (task, vpage) = (self.frames[f as usize].task as usize, self.frames[f as usize].vpage as usize);
            for process in [Process::Parent, Process::Child] {
                let pi = usize::from(bit(process) - 1);
                if self.tasks[task].ptes[pi].get(vpage) == Some(&(SWAP | s)) {
                    self.map(task, process, vpage as u64, f);
                    p.put(v)?;
                }
            }
            self.drop_if_unused(p, f)?;
        }
        Ok(())
    }
}

/// Whether the data of slot `s` is on device `dev`.
fn on(sys: &SwapSystem, s: u64, dev: DeviceId) -> bool {
    sys.backing(VSlot::from_raw(s)) == Ok(Backing::Device(dev))
}
