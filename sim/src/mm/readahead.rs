//! Swap readahead (`swapin_readahead`, mm/swap_state.c): the window a fault that missed
//! the swap cache reads around the faulting page, and the hits that size the next window.
//!
//! * **Which readahead.** `swap_use_vma_readahead()` holds when
//!   `/sys/kernel/mm/swap/vma_ra_enabled` (on by default) and no rotational swap device is
//!   on (`nr_rotate_swap` 0, counted at `swapon` for a device without
//!   `SWP_SOLIDSTATE`). The lab's virtio disks are swapped on without it (no `SS` in
//!   the `Adding … swap` line), so the lab kernels take `swap_cluster_readahead`;
//!   [`MmConfig::vma_readahead`](super::MmConfig::vma_readahead) selects
//!   `swap_vma_readahead` instead.
//! * **Window size** (`__swapin_nr_pages`): `hits + 2` rounded up to a power of two (at
//!   least 4) when readahead pages were hit since the last window; with no hit, 2 when
//!   the fault is next to the previous one and 1 otherwise; at most the maximum
//!   (`2^page_cluster`, `2^min(page_cluster, 5)` for VMA readahead) and never below half
//!   the previous window. A window of 1 reads the faulting page only.
//! * **Cluster readahead** (`swapin_nr_pages`, `swap_cluster_readahead`): one global
//!   state (`swapin_readahead_hits`, starting at 4; the previous offset, kept only while
//!   there are no hits; the last window), and the window is the aligned block of
//!   `win` slots holding the faulting slot. The library's slot ids stand for the lab
//!   kernels' swap offsets: both are handed out cluster by cluster in allocation order
//!   (the kernels give every entry, a zswapped one included, a device slot at
//!   `folio_alloc_swap`), so neighbours by id are neighbours by time of eviction.
//! * **VMA readahead** (`swap_vma_ra_win`, `swap_vma_readahead`): per mapping
//!   (`vma->swap_readahead_info`: previous fault page, window, hits; hits start at 4,
//!   and fork copies it), the window placed from the faulting page when the fault is
//!   one past the previous one, ending at it when one before, centred otherwise, and
//!   clipped to the mapping and its 512-page PMD (the guest's mapping is one VMA of the
//!   task's pages, PMD-aligned when it is a multiple of 2 MiB as `__get_unmapped_area`
//!   aligns it; the simulator takes it as aligned in every case). Only swap PTEs of the
//!   faulting process's page table in the window are read.
//! * **Each page read** (`swap_cache_read_folio` / `__read_swap_cache_async`): a slot
//!   already in the swap cache or no longer allocated is skipped; otherwise a new folio
//!   charged to the slot's memcg (`mem_cgroup_swapin_charge_folio`, which may reclaim or
//!   OOM-kill like any charge) enters the swap cache, is checked against its shadow
//!   (`workingset_refault`), goes on the LRU (`folio_add_lru`: inactive unless the shadow
//!   activates it) and is read (`swap_read_folio`: `pswpin` from a device, `zswpin` from
//!   zswap, whose entry is freed and the folio dirtied, `swpin_zero` for a zero slot);
//!   every page but the faulting one is marked `PG_readahead` and counts `swap_ra`. It is
//!   not mapped and keeps its slot and swap count.
//! * **Hits** (`swap_update_readahead`, at a fault that finds the folio in the swap
//!   cache): a marked folio loses the mark and counts `swap_ra_hit`, and a hit for the
//!   next window (the VMA's, or the global one); under VMA readahead the fault's page also
//!   becomes the mapping's previous fault.
//!
//! Differences: the kernel reads the faulting page in address (offset) order among its
//! neighbours and maps it after the loop; the simulator reads the neighbours below it,
//! then faults and maps it, then reads those above, so that reclaim run by a neighbour's
//! charge sees the faulting page mapped rather than as an unmapped swap-cache page. New
//! folios wait in a per-CPU batch before the LRU in the kernel (6.12 drains it after the
//! readahead loop, 7.3 does not); the simulator lists them at once.

use super::*;

/// `SWAP_RA_ORDER_CEILING`: VMA readahead's window is at most `2^5` pages.
const SWAP_RA_ORDER_CEILING: u32 = 5;
/// `SWAP_RA_HITS_MAX`: the hits `swap_readahead_info` holds at most.
const SWAP_RA_HITS_MAX: u64 = 63;
/// `PMD_SIZE` in pages: a VMA readahead window stays in the faulting page's PMD.
const PMD_PAGES: u64 = 512;

/// `vma->swap_readahead_info` of one process's mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct VmaRa {
    /// The page of the previous fault (`SWAP_RA_ADDR`); None before the first.
    prev: Option<u64>,
    /// The last window (`SWAP_RA_WIN`).
    win: u64,
    /// Readahead hits since the last window (`SWAP_RA_HITS`).
    hits: u64,
}

impl Default for VmaRa {
    /// `GET_SWAP_RA_VAL`: an unset value reads as 4 hits, to start with a small window.
    fn default() -> Self {
        VmaRa { prev: None, win: 0, hits: 4 }
    }
}

/// `swapin_nr_pages`'s globals, for cluster readahead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct ClusterRa {
    /// `swapin_readahead_hits` (`ATOMIC_INIT(4)`).
    hits: u64,
    /// `prev_offset`, updated only by a window computed without hits.
    prev_offset: u64,
    /// `last_readahead_pages`.
    last_pages: u64,
}

impl Default for ClusterRa {
    fn default() -> Self {
        ClusterRa { hits: 4, prev_offset: 0, last_pages: 0 }
    }
}

/// The neighbours a fault reads: a range of pages of the faulting process (VMA
/// readahead) or of slot ids (cluster readahead), end excluded, holding the faulting one.
#[derive(Debug, Clone, Copy)]
pub(super) enum Window {
    Pages { start: u64, end: u64 },
    Slots { start: u64, end: u64 },
}

/// `__swapin_nr_pages`: the next window from the previous position, the hits since the
/// last window, the maximum and the last window.
fn nr_pages(prev: Option<u64>, at: u64, hits: u64, max: u64, prev_win: u64) -> u64 {
    let mut pages = hits.saturating_add(2);
    if pages == 2 {
        let adjacent = prev.is_some_and(|p| at == p.wrapping_add(1) || at == p.wrapping_sub(1));
        if !adjacent {
            pages = 1;
        }
    } else {
        pages = pages.max(4).checked_next_power_of_two().unwrap_or(u64::MAX);
    }
    pages.min(max).max(prev_win / 2)
}

impl Mm {
    /// The readahead window the next fault-time decision would start from, for tests and
    /// reports: under VMA readahead the last window of `process`'s mapping in `task`
    /// (`SWAP_RA_WIN`), else the global `last_readahead_pages`. 0 before the first
    /// window; None for a task this Mm did not spawn.
    pub fn readahead_window(&self, task: TaskId, process: Process) -> Option<u64> {
        let t = self.tasks.get(task)?;
        Some(if self.vma_readahead { t.ra[usize::from(bit(process) - 1)].win } else { self.cluster_ra.last_pages })
    }

    /// `swap_vma_ra_win` / `swapin_nr_pages`: size and place the window for a fault of
    /// process `pi` of `task` on `vpage`, whose swap PTE holds `slot`, updating the
    /// readahead state. None: read the faulting page only (a window of 1, or
    /// `page-cluster` 0, which leaves the state alone).
    pub(super) fn readahead_window_for(&mut self, task: usize, pi: usize, vpage: u64, slot: u64) -> Option<Window> {
        if self.vma_readahead {
            let max = 1u64 << self.page_cluster.min(SWAP_RA_ORDER_CEILING);
            if max == 1 {
                return None;
            }
            let t = &mut self.tasks[task];
            let ra = t.ra[pi];
            let win = nr_pages(ra.prev, vpage, ra.hits, max, ra.win);
            t.ra[pi] = VmaRa { prev: Some(vpage), win, hits: 0 };
            if win == 1 {
                return None;
            }
            let left = if ra.prev.is_some_and(|p| vpage == p + 1) {
                vpage
            } else if ra.prev == Some(vpage + 1) {
                (vpage + 1).saturating_sub(win)
            } else {
                vpage.saturating_sub((win - 1) / 2)
            };
            let pmd = vpage & !(PMD_PAGES - 1);
            let start = left.max(pmd);
            let end = (left + win).min(pmd + PMD_PAGES).min(t.ptes[pi].len() as u64);
            Some(Window::Pages { start, end })
        } else {
            let max = 1u64 << self.page_cluster;
            if max <= 1 {
                return None;
            }
            let ra = &mut self.cluster_ra;
            let hits = std::mem::take(&mut ra.hits);
            let win = nr_pages(Some(ra.prev_offset), slot, hits, max, ra.last_pages);
            if hits == 0 {
                ra.prev_offset = slot;
            }
            ra.last_pages = win;
            let mask = win - 1;
            if mask == 0 {
                return None;
            }
            // The first slot of a device is its header; past the highest slot ever
            // evicted nothing is swapped out (`si->max`).
            let start = (slot & !mask).max(1);
            let end = (slot | mask).saturating_add(1).min(self.swapcache.owner_limit().max(slot + 1));
            Some(Window::Slots { start, end })
        }
    }

    /// `swap_update_readahead`: a fault of process `pi` of `task` on `vpage` found `f` in
    /// the swap cache.
    pub(super) fn swap_update_readahead(&mut self, task: usize, pi: usize, vpage: u64, f: u32) {
        let fr = &mut self.frames[f as usize];
        let readahead = fr.flags & READAHEAD != 0;
        fr.flags &= !READAHEAD;
        let cg = fr.cg as usize;
        if self.vma_readahead {
            let ra = &mut self.tasks[task].ra[pi];
            ra.prev = Some(vpage);
            if readahead {
                ra.hits = (ra.hits + 1).min(SWAP_RA_HITS_MAX);
            }
        }
        if readahead {
            self.memcgs[cg].counters.swap_ra_hit += 1;
            if !self.vma_readahead {
                self.cluster_ra.hits += 1;
            }
        }
    }

    /// Read the part `range` of `w` for a fault of process `pi` of `task` (the faulting
    /// page itself is never in `range`). False: `task` was OOM-killed by a charge, and
    /// the fault ends.
    pub(super) fn read_ahead(
        &mut self,
        pin: &Pinned<'_>,
        task: usize,
        pi: usize,
        w: Window,
        range: std::ops::Range<u64>,
    ) -> Result<bool, Error> {
        for at in range {
            let target = match w {
                Window::Pages { .. } => {
                    let Some(&pte) = self.tasks[task].ptes[pi].get(at as usize) else { break };
                    (pte & SWAP != 0).then_some((task, at, pte & PAYLOAD))
                }
                Window::Slots { .. } => {
                    self.swapcache.owner(at).filter(|&(t, v)| self.holds(t, v, at)).map(|(t, v)| (t, v, at))
                }
            };
            if let Some((owner, vpage, slot)) = target {
                if !self.read_ahead_one(pin, task, owner, vpage, slot)? {
                    return Ok(false);
                }
            }
        }
        Ok(!self.tasks[task].killed)
    }

    /// Whether a swap PTE of `task` at `vpage` (the parent's or the child's) holds `slot`.
    fn holds(&self, task: usize, vpage: u64, slot: u64) -> bool {
        let Some(t) = self.tasks.get(task) else { return false };
        t.ptes.iter().any(|p| p.get(vpage as usize) == Some(&(SWAP | slot)))
    }

    /// `swap_cache_read_folio` for one neighbour: read `slot`, held by page `vpage` of
    /// `owner`, into a new swap-cache frame marked `PG_readahead`, unless it is cached
    /// already or no longer swapped out. False: the faulting `task` was OOM-killed.
    fn read_ahead_one(
        &mut self,
        pin: &Pinned<'_>,
        task: usize,
        owner: usize,
        vpage: u64,
        slot: u64,
    ) -> Result<bool, Error> {
        let swapped_out = |mm: &Mm| -> Result<bool, Error> {
            Ok(mm.swapcache.get(slot).is_none()
                && mm.holds(owner, vpage, slot)
                && matches!(pin.state(VSlot::from_raw(slot))?, vswap::SlotState::SwappedOut { count: 1.., .. }))
        };
        if !swapped_out(self)? {
            return Ok(true);
        }
        let data = self.data_of(owner, vpage)?;
        let f = self.new_frame(pin, owner, vpage, data)?;
        // The charge may have reclaimed or OOM-killed: the faulting task, or the owner
        // (whose slot is then freed).
        let Some(f) = f.filter(|_| !self.tasks[task].killed) else {
            if let Some(f) = f {
                self.lru_del(f);
                self.free_frame(f);
            }
            return Ok(!self.tasks[task].killed);
        };
        if !swapped_out(self)? {
            self.lru_del(f);
            self.free_frame(f);
            return Ok(true);
        }
        self.read_into(pin, task, f, VSlot::from_raw(slot))?;
        let fr = &mut self.frames[f as usize];
        fr.flags = (fr.flags & !REFERENCED) | READAHEAD;
        let cg = fr.cg as usize;
        self.memcgs[cg].counters.swap_ra += 1;
        Ok(true)
    }
}
