//! A small memory manager around the facade: what `mm/memory.c` and `mm/vmscan.c` do to
//! anonymous pages, cut down to what swap sees.
//!
//! * **Frames** are page frames (the PFN is the index + 1); each belongs to one memcg and
//!   one task's address space, is mapped by the parent and/or the forked child (a
//!   two-bit mapper mask: the rmap), and sits on its memcg's active or inactive list.
//! * **Faults**: first touch allocates a frame (inactive list, like
//!   `lru_cache_add_inactive_or_unevictable`); a swap PTE faults through the swap cache
//!   or `SwapSystem::fault` → `put`.
//! * **Swap-cache retention** (`do_swap_page` → `should_try_to_free_swap`): once no PTE
//!   holds the slot, a write fault frees it (`folio_free_swap`), and so does any fault
//!   while `mem_cgroup_swap_full` holds (`vm_swap_full`: fewer than half the devices'
//!   slots free, every allocated entry, a zswap one included, holding one as in the lab
//!   kernels; or the memcg or an ancestor using half its `memory.swap.max` /
//!   `memory.swap.high`, zswapped pages counted; both read at each tick). A read fault
//!   otherwise keeps the folio in the swap cache with its slot: from a device the folio
//!   is clean and the slot keeps the data, so reclaim drops it without writing (no
//!   `pswpout`/`zswpout`, `pageout` skipped); from zswap, 7.3's `zswap_load` has freed
//!   the entry and dirtied the folio, so its next eviction stores it again. A later write
//!   to the mapped page only dirties it (the read fault mapped it writable, as
//!   `do_swap_page` does for an exclusive folio), and the next eviction writes it to the
//!   same slot. A refault whose shadow says it was evicted less than an
//!   active list ago is activated (`workingset_refault`); a write to a frame not exclusive
//!   to the writer since fork — the other process maps it, or holds its slot in a swap PTE
//!   — copies it (`do_wp_page` → `wp_page_copy`), and a write fault frees the slot only
//!   for the folio's only user.
//! * **Readahead** (`swapin_readahead`, [`MmConfig::page_cluster`]): a fault that misses
//!   the swap cache also reads a window of neighbours into it, each a new frame charged to
//!   the slot's memcg, on the inactive list (or active, by its shadow), unmapped, its
//!   slot kept and marked `PG_readahead` (`swap_ra`); a later fault on one is a swap-cache
//!   hit (a minor fault) that clears the mark and counts a hit (`swap_ra_hit`), which
//!   widens the next window (`__swapin_nr_pages`). The neighbours are the aligned block of
//!   slots around the faulting one (`swap_cluster_readahead`, the lab's rotational
//!   virtio disk) or, with [`MmConfig::vma_readahead`], the swap PTEs around the faulting
//!   address in its mapping and PMD (`swap_vma_readahead`); see `readahead.rs`.
//! * **Reclaim** (`shrink_lruvec`): age the active list when the inactive one is smaller,
//!   give referenced inactive frames a second trip, and page out the rest:
//!   `alloc` (`folio_alloc_swap`) → one `dup` per mapping (`try_to_unmap`) → `writeout`
//!   (`pageout`, skipped for a clean frame still backed) → `evict` (`__remove_mapping`,
//!   leaving a shadow). A `Kept` folio stays in the swap cache, unmapped, and is
//!   activated (dropping its swap cache first when `mem_cgroup_swap_full` holds). Each
//!   priority scans `lru >> priority` times anon's share of the pressure at
//!   `vm.swappiness` (`get_scan_count`; all of it at priority 0), and no anon at all once
//!   the memcg can get no more swap (`can_reclaim_anon_pages`).
//! * **zswap's shrinker** (`shrink_slab` → `do_shrink_slab`, after each memcg's LRU scan at
//!   each priority): `(freeable >> priority) × 4 / seeks` new work plus the memcg's
//!   deferred work, in batches of 128 `shrink_memcg` walks, stopped by a batch that
//!   writes nothing; what is not done is deferred. Each entry written back costs a page
//!   (the swap-cache folio `zswap_writeback_entry` allocates, charged to the memcg) until
//!   the next LRU scan after its write completed frees it.
//! * **Charging**: `memory.current` is resident frames plus the memcg's compressed zswap
//!   bytes (`obj_cgroup_charge_zswap`); a charge above `memory.max` of the memcg or an
//!   ancestor reclaims from that subtree first (`try_charge_memcg`), each attempt a
//!   sweep from priority `DEF_PRIORITY` down to 0 (`do_try_to_free_pages`) until
//!   `SWAP_CLUSTER_MAX` frames are reclaimed, one above `memory.high` reclaims the excess
//!   the same way, and RAM (frames + the zswap pool) is reclaimed
//!   globally round-robin when full.
//! * **OOM kill** (`mem_cgroup_out_of_memory` → `out_of_memory` → `select_bad_process`
//!   → `oom_kill_process`): after `MAX_RECLAIM_RETRIES` sweeps in a row free nothing
//!   (e.g. zswap full or refusing with writeback off, no swap space left), `memory.events`
//!   `oom` is counted at the memcg whose limit was hit, and the live task of its subtree
//!   with the highest `oom_badness` (resident + swapped pages) is killed: `oom_kill` is
//!   counted at its memcg, its page tables are torn down as `__oom_reap_task_mm` /
//!   `exit_mmap` do (frames freed, swap counts put, so unreferenced slots and their
//!   zswap entries are freed) and it makes no more accesses ([`Mm::killed`]). The charge
//!   then retries; if the charging task was the victim its fault fails (`VM_FAULT_OOM`).
//!   With no task left to kill the charge is granted.
//! * **Swap charge** (`__mem_cgroup_try_charge_swap` at `folio_alloc_swap`, the lab
//!   kernels' rule): a new swap entry counts against `memory.swap.max` of the memcg and
//!   its ancestors (given through [`Mm::memcg_set`]) whether it goes to zswap or a
//!   device; a folio whose entry would pass the limit is kept and activated. The
//!   library charges only device slots (the virtual-swap rule) and still does.
//! * **Global shrink worker**: a `writeout` whose zswap store is refused while the pool
//!   is full queues the worker (`queue_work`); the memory manager runs the queued work
//!   item where the kworker would get a CPU: right after the `writeout`, before reclaim
//!   goes on (another CPU, or one under `PREEMPT_VOLUNTARY`, 6.12: the next
//!   `cond_resched`), or at the task's return to user space after the access whose
//!   reclaim queued it (one CPU under `PREEMPT_LAZY`, 7.3) ([`WorkerWake`]); and at
//!   every tick if still queued (a paused
//!   worker). Each run loops until the pool is at or below the accept threshold or fails
//!   `MAX_RECLAIM_RETRIES` times (`Mm::run_queued_worker`).
//! * **Clock**: [`Mm::tick`] advances the facade's clock.
//!
//! Invariants ([`Mm::check`] verifies them): a frame is on exactly one LRU list of its
//! memcg while allocated; a PTE is `None`, `Present(frame)` with its bit in the frame's
//! mapper mask, or `Swap(slot)`, and a slot's swap count equals its swap PTEs; a frame
//! with a slot is in the swap-cache index under that slot, every indexed slot names a
//! frame holding it, and the facade has that slot `Cached` for that frame's folio; every
//! memcg's resident count is its frames.
//!
//! Deliberate differences from the kernel: no file pages, nodes or MGLRU; one frame per
//! folio (order 0); no `SWP_SYNCHRONOUS_IO` device (the lab's virtio disk is not one);
//! the swap-full tests lag by up to a tick; the global
//! (RAM) OOM killer is not modelled: a page allocation reclaim cannot make room for is
//! granted; a task's child dies with it.

mod cgroup;
mod charge;
mod check;
mod fault;
mod lru;
mod readahead;
mod reclaim;
mod swapcache;
mod swapoff;
#[cfg(test)]
mod tests;

use crate::workload::{Event, PageData, Process, Workload};
use rustc_hash::FxHashMap as HashMap;
use std::sync::Arc;
use vswap::Pinned;
use vswap::{
    Config, DeviceSpec, Error, FaultSource, FolioId, Knob, Limit, MemcgId, Page, Shadow, SwapSystem, Tick, VSlot,
    Writeout, ZswapConfig,
};

const PAGE: u64 = vswap::PAGE_SIZE as u64;
const NIL: u32 = u32::MAX;
/// `DEF_PRIORITY`: a reclaim sweep starts scanning `lru >> 12` and ends at the whole LRU.
pub const DEF_PRIORITY: u32 = 12;
/// `SWAP_CLUSTER_MAX`: pages per reclaim batch.
pub const SWAP_CLUSTER_MAX: u64 = 32;
/// `SHRINK_BATCH`: objects a shrinker scans per call.
pub const SHRINK_BATCH: u64 = 128;
/// `vm.swappiness`'s default.
pub const DEFAULT_SWAPPINESS: u32 = 60;
/// `MAX_SWAPPINESS`.
pub const MAX_SWAPPINESS: u64 = 200;
/// `DEFAULT_SEEKS`: zswap's shrinker's cost to recreate an object.
pub const DEFAULT_SEEKS: u64 = 2;
/// The largest address space a task may have, in pages (1 TiB; its page table is 2 GiB).
pub const MAX_TASK_PAGES: u64 = 1 << 28;
/// `MAX_RECLAIM_RETRIES`: reclaim passes in a row that may free nothing before a charge
/// is granted anyway (the kernel's OOM point) or `memory.reclaim` gives up.
pub const MAX_RECLAIM_RETRIES: u32 = 16;
/// `MEMCG_CHARGE_BATCH`: pages `try_charge_memcg` charges at once into the stock.
const MEMCG_CHARGE_BATCH: u64 = 64;
/// `HZ` of the lab kernels' configs (`CONFIG_HZ_250`).
const HZ: u64 = 250;

const ACTIVE: u8 = 1;
const REFERENCED: u8 = 2;
const DIRTY: u8 = 4;
/// The frame's page is zero-filled (`PageData::zero`).
const ZERO: u8 = 8;
/// `PG_readahead`: read by readahead and not faulted on since (`folio_set_readahead`).
const READAHEAD: u8 = 16;

const PRESENT: u64 = 1 << 63;
const SWAP: u64 = 1 << 62;
const PAYLOAD: u64 = SWAP - 1;

/// The machine and the swap configuration.
#[derive(Debug)]
pub struct MmConfig {
    /// RAM in pages: frames plus the zswap pool must fit.
    pub ram_pages: u64,
    /// CPUs (the facade's per-CPU caches); tasks are spread over them.
    pub cpus: usize,
    /// zswap's parameters.
    pub zswap: ZswapConfig,
    /// The swap devices, swapped on in order.
    pub devices: Vec<DeviceSpec>,
    /// `/proc/sys/vm/page-cluster`: swap readahead reads windows of up to `2^page_cluster`
    /// pages (`2^min(page_cluster, 5)` for VMA readahead); 0 reads the faulting page only.
    /// The kernel's default is [`MmConfig::DEFAULT_PAGE_CLUSTER`]; 0..=31.
    pub page_cluster: u32,
    /// `swap_use_vma_readahead()`: `/sys/kernel/mm/swap/vma_ra_enabled` (on by default)
    /// and no rotational swap device (`nr_rotate_swap` 0). False: the cluster readahead a
    /// rotational device gets (`swap_cluster_readahead`), as on the lab's virtio disks,
    /// which the kernel swaps on without `SWP_SOLIDSTATE`.
    pub vma_readahead: bool,
}

impl MmConfig {
    /// `page-cluster`'s boot value (`swap_setup`: 3, 2 below 16 MiB of RAM).
    pub const DEFAULT_PAGE_CLUSTER: u32 = 3;

    /// A machine as the lab's guest boots it: `page-cluster` 3 with cluster readahead (a
    /// rotational swap device).
    pub fn new(ram_pages: u64, cpus: usize, zswap: ZswapConfig, devices: Vec<DeviceSpec>) -> MmConfig {
        MmConfig { ram_pages, cpus, zswap, devices, page_cluster: Self::DEFAULT_PAGE_CLUSTER, vma_readahead: false }
    }
}

/// When the global shrink worker's work item, queued by a refused zswap store, runs. With
/// a second CPU the kworker `queue_work` wakes runs there at once; on one CPU (the lab's
/// guests) it waits for the reclaiming task to reschedule, which the kernel's preemption
/// model decides. [`Mm::new`] picks `NextFolio` for more than one CPU and
/// `ReturnToUser` for one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkerWake {
    /// Right after the `writeout` that queued it, before the next folio: another CPU, or
    /// one CPU under `PREEMPT_VOLUNTARY` (the lab's 6.12 config), where the wakeup sets
    /// `TIF_NEED_RESCHED` and the reclaimer yields at its next `cond_resched`, at the top
    /// of `shrink_folio_list`'s loop.
    NextFolio,
    /// One CPU under `PREEMPT_LAZY` (the lab's 7.3 config): the wakeup only sets
    /// `TIF_NEED_RESCHED_LAZY`, `cond_resched` does nothing, and the task reschedules on
    /// its return to user space: the worker runs once the fault (or the `memory.reclaim`
    /// write) whose reclaim queued it has finished.
    ReturnToUser,
}

/// A memcg of the simulation (an index into [`Mm`]'s table).
pub type Cg = usize;
/// A task (a process and, after fork, its child).
pub type TaskId = usize;

/// Per-memcg counters the memory manager keeps (the facade keeps the swap ones).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CgCounters {
    /// Page accesses.
    pub accesses: u64,
    /// First touches (frames allocated for untouched pages).
    pub first_touch: u64,
    /// Swap-ins that found the folio in the swap cache (no I/O).
    pub swapcache_hits: u64,
    /// Swap-ins that read zero, zswap or a device (`PGMAJFAULT`: the faulting page only,
    /// never its readahead).
    pub major_faults: u64,
    /// Pages readahead read into the swap cache for this memcg (`SWAP_RA`).
    pub swap_ra: u64,
    /// Faults that found a page readahead had read, still marked (`SWAP_RA_HIT`).
    pub swap_ra_hit: u64,
    /// Swap-ins read from a device, by device number (`pswpin` split by device).
    pub device_reads: Vec<u64>,
    /// Refaults activated by their shadow (`workingset_activate`).
    pub refault_activate: u64,
    /// Frames reclaimed (`pgsteal`).
    pub reclaimed: u64,
    /// Folios `writeout` kept (zswap and swap refused them).
    pub kept: u64,
    /// `memory.events` `oom` (`MEMCG_OOM`, counted at the memcg whose `memory.max` was
    /// hit): charges reclaim could not make room for (`mem_cgroup_out_of_memory`).
    pub oom: u64,
    /// `memory.events` `oom_kill` (`MEMCG_OOM_KILL`, counted at the victim's memcg by
    /// `__oom_kill_process`): tasks of this memcg the OOM killer killed.
    pub oom_kill: u64,
    /// Pages written back from this memcg's zswap LRU by the global shrink worker.
    pub worker_written: u64,
    /// `memory.swap.events` `max` raised here (`MEMCG_SWAP_MAX`): swap charges of this
    /// memcg's folios refused by its or an ancestor's `memory.swap.max`
    /// (`__mem_cgroup_try_charge_swap`, [`Mm`]'s lab-kernel charge rule). Local: the file
    /// sums the subtree.
    pub swap_max: u64,
    /// `memory.swap.events` `fail` raised here (`MEMCG_SWAP_FAIL`): the refused charges
    /// above. (A slot allocation that fails raises it in the library.)
    pub swap_fail: u64,
    /// `memory.swap.events` `high` raised here (`MEMCG_SWAP_HIGH`): times a memory charge
    /// batch of the subtree found this memcg's swap usage above its `memory.swap.high`
    /// (`swap_find_max_overage` in the over-high return path). Local.
    pub swap_high: u64,
}

/// 32 bytes, two to a cache line: the LRU walks touch a frame and its neighbours.
#[derive(Debug, Clone, Copy)]
struct Frame {
    prev: u32,
    next: u32,
    task: u32,
    cg: u32,
    slot: u64,
    /// Below `MAX_TASK_PAGES` (2^28).
    vpage: u32,
    /// `PageData::compressed_len` (at most `PAGE_SIZE`); `ZERO` in `flags` is its `zero`.
    compressed_len: u16,
    mappers: u8,
    flags: u8,
}

const _: () = assert!(std::mem::size_of::<Frame>() == 32);

impl Frame {
    fn data(&self) -> PageData {
        PageData { zero: self.flags & ZERO != 0, compressed_len: u32::from(self.compressed_len) }
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct List {
    head: u32,
    tail: u32,
    len: u64,
}

#[derive(Debug)]
struct Memcg {
    id: MemcgId,
    name: String,
    parent: Option<Cg>,
    /// Itself and every descendant, in creation order (the subtree reclaim walks).
    subtree: Vec<Cg>,
    max: Option<u64>,
    high: Option<u64>,
    /// `memory.swap.max` / `memory.swap.high` in pages (None: `max`), for
    /// `mem_cgroup_swap_full`.
    swap_max: Option<u64>,
    swap_high: Option<u64>,
    /// `mem_cgroup_swap_full`'s test for this memcg alone (its swap usage at least half its
    /// `swap.max` or `swap.high`), refreshed every tick.
    swap_half_full: bool,
    /// Frames charged here.
    resident: u64,
    /// Frames charged here or below.
    resident_tree: u64,
    /// `memory.zswap.current` of the subtree, refreshed every tick and kept up to date
    /// between ticks from the writeouts and loads seen here.
    zswap_tree: u64,
    lru: [List; 2],
    /// Evictions so far (the shadow's clock: `lruvec->nonresident_age`).
    evictions: u64,
    /// Where the next subtree reclaim starts (`mem_cgroup_reclaim_cookie`).
    reclaim_cursor: usize,
    /// Pages charged ahead (`memcg_stock`; one stock per memcg, where the kernel keeps one
    /// per CPU): a charge that finds some takes one without `try_charge_memcg`'s checks.
    stock: u64,
    /// Folios zswap writeback allocated for this memcg's entries and not yet reclaimed
    /// (charged and on the inactive list's tail; see [`Mm::writeback_folios`]).
    wb_folios: u64,
    /// Those of `wb_folios` whose write has not completed: written back since the last
    /// tick (the simulator's I/O completes at the tick).
    wb_in_flight: u64,
    /// zswap's shrinker work deferred to this memcg's next `shrink_slab`
    /// (`shrinker_info`'s `nr_deferred`).
    nr_deferred: u64,
    counters: CgCounters,
}

#[derive(Debug)]
struct Task {
    cg: Cg,
    workload: Workload,
    seed: u64,
    /// `workload.region_base(i)` for each region `i`, computed once at spawn (the
    /// workload cannot change afterwards).
    bases: Vec<u64>,
    /// Page tables: the parent's and the child's.
    ptes: [Vec<u64>; 2],
    /// `vma->swap_readahead_info` of the parent's and the child's mapping (the lab's guest
    /// maps every region as one anonymous mapping: one VMA per process).
    ra: [readahead::VmaRa; 2],
    child: bool,
    /// Killed by the OOM killer (`oom_kill_process`): its memory is freed and it makes
    /// no more accesses.
    killed: bool,
}

/// The memory manager: frames, memcgs, tasks and the facade they swap through.
#[derive(Debug)]
pub struct Mm {
    /// Shared so that a fault can hold one epoch pin ([`Pinned`]) for all its facade
    /// calls while `&mut self` runs.
    sys: Arc<SwapSystem>,
    devices: Vec<vswap::DeviceId>,
    ram_pages: u64,
    cpus: usize,
    shrinker: bool,
    /// `vm.swappiness` (0..=200): anon's share of reclaim pressure.
    swappiness: u32,
    frames: Vec<Frame>,
    free: Vec<u32>,
    memcgs: Vec<Memcg>,
    by_id: HashMap<MemcgId, Cg>,
    tasks: Vec<Task>,
    /// The swap-cache folios the memory manager holds: slot → frame.
    swapcache: swapcache::SlotIndex,
    /// The zswap pool in bytes (refreshed every tick, tracked between).
    pool_bytes: u64,
    /// `total_swap_pages`: the devices' pages without their header slots.
    total_swap_pages: u64,
    /// `vm_swap_full`: fewer than half of `total_swap_pages` free, refreshed every tick.
    vm_swap_full: bool,
    global_cursor: usize,
    tick: Tick,
    /// When a queued shrink worker runs.
    worker_wake: WorkerWake,
    /// [`MmConfig::page_cluster`].
    page_cluster: u32,
    /// [`MmConfig::vma_readahead`].
    vma_readahead: bool,
    /// `swapin_nr_pages`'s global state, for cluster readahead.
    cluster_ra: readahead::ClusterRa,
}

fn lru_of(flags: u8) -> usize {
    usize::from(flags & ACTIVE != 0)
}

fn bit(p: Process) -> u8 {
    match p {
        Process::Parent => 1,
        Process::Child => 2,
    }
}

fn sim_bug(what: &'static str) -> Error {
    Error::Invalid(what)
}

impl Mm {
    /// A machine with `cfg.ram_pages` of RAM, the devices swapped on, and the root memcg.
    pub fn new(cfg: MmConfig) -> Result<Mm, Error> {
        let sys = SwapSystem::new(Config {
            ram_pages: cfg.ram_pages,
            cpus: cfg.cpus,
            zswap: cfg.zswap.clone(),
            ..Config::default()
        })?;
        let devices = cfg.devices.into_iter().map(|d| sys.swapon(d)).collect::<Result<Vec<_>, _>>()?;
        let total_swap_pages =
            devices.iter().map(|&d| Ok(sys.device_stat(d)?.pages.saturating_sub(1))).sum::<Result<u64, Error>>()?;
        let mut root = Memcg::new(MemcgId::ROOT, "/".into(), None);
        root.subtree.push(0);
        Ok(Mm {
            sys: Arc::new(sys),
            devices,
            ram_pages: cfg.ram_pages,
            cpus: cfg.cpus,
            shrinker: cfg.zswap.shrinker_enabled,
            swappiness: DEFAULT_SWAPPINESS,
            frames: Vec::new(),
            free: Vec::new(),
            memcgs: vec![root],
            by_id: HashMap::from_iter([(MemcgId::ROOT, 0)]),
            tasks: Vec::new(),
            swapcache: swapcache::SlotIndex::default(),
            pool_bytes: 0,
            total_swap_pages,
            vm_swap_full: false,
            global_cursor: 0,
            tick: 0,
            worker_wake: if cfg.cpus > 1 { WorkerWake::NextFolio } else { WorkerWake::ReturnToUser },
            page_cluster: cfg.page_cluster.min(31),
            vma_readahead: cfg.vma_readahead,
            cluster_ra: readahead::ClusterRa::default(),
        })
    }

    /// When a shrink worker queued by a refused store runs (by default `NextFolio` with
    /// more than one CPU, `ReturnToUser` with one).
    pub fn set_worker_wake(&mut self, wake: WorkerWake) {
        self.worker_wake = wake;
    }

    /// The facade, for counters and knobs.
    pub fn sys(&self) -> &SwapSystem {
        &self.sys
    }

    /// The devices of [`MmConfig::devices`], in that order.
    pub fn devices(&self) -> &[vswap::DeviceId] {
        &self.devices
    }

    /// The root memcg.
    pub const ROOT: Cg = 0;

    /// The logical clock.
    pub fn now(&self) -> Tick {
        self.tick
    }

    /// Start a task running `workload` in `cg`; `seed` decides its pages' contents.
    pub fn spawn(&mut self, cg: Cg, workload: &Workload, seed: u64) -> Result<TaskId, Error> {
        if cg >= self.memcgs.len() {
            return Err(Error::InvalidMemcg);
        }
        if workload.pages() > MAX_TASK_PAGES {
            return Err(Error::Invalid("sim: a workload of more than 2^28 pages"));
        }
        workload.validate().map_err(|_| Error::Invalid("sim: an invalid workload"))?;
        let pages = workload.pages() as usize;
        self.tasks.push(Task {
            cg,
            workload: workload.clone(),
            seed,
            bases: (0..workload.regions.len()).map(|i| workload.region_base(i)).collect(),
            ptes: [vec![0; pages], Vec::new()],
            ra: [readahead::VmaRa::default(); 2],
            child: false,
            killed: false,
        });
        Ok(self.tasks.len() - 1)
    }

    /// Whether the OOM killer killed `task` (`oom_kill_process`); false for a task this
    /// Mm did not spawn.
    pub fn killed(&self, task: TaskId) -> bool {
        self.tasks.get(task).is_some_and(|t| t.killed)
    }

    /// Apply one workload event of `task` (nothing for a killed task: it stopped).
    pub fn apply(&mut self, task: TaskId, ev: &Event) -> Result<(), Error> {
        self.apply_all(task, std::slice::from_ref(ev))
    }

    /// Apply `task`'s events in order, stopping at the first error, under one epoch pin
    /// (one `rcu_read_lock` section for the batch, where [`Mm::apply`] takes one per event:
    /// the results are the same, only the pin count differs).
    pub fn apply_all(&mut self, task: TaskId, evs: &[Event]) -> Result<(), Error> {
        if task >= self.tasks.len() {
            return Err(Error::Invalid("sim: no such task"));
        }
        let sys = Arc::clone(&self.sys);
        let p = sys.pin();
        evs.iter().try_for_each(|ev| {
            self.apply_pinned(&p, task, ev)?;
            // The return to user space: the shrink worker a refused store queued runs now.
            self.run_queued_worker()
        })
    }

    /// [`Mm::apply`] for a task known to exist, under the caller's pin.
    fn apply_pinned(&mut self, p: &Pinned<'_>, task: TaskId, ev: &Event) -> Result<(), Error> {
        if self.tasks[task].killed {
            return Ok(());
        }
        match *ev {
            Event::Access { process, region, page, write } => {
                let t = &self.tasks[task];
                let pi = usize::from(bit(process) - 1);
                let outside = Error::Invalid("sim: an access outside the task's regions");
                let r = t.workload.regions.get(region as usize).ok_or(outside.clone())?;
                if page >= r.pages {
                    return Err(outside);
                }
                let vpage = t.bases[region as usize] + page;
                let Some(&pte) = t.ptes[pi].get(vpage as usize) else {
                    return Err(Error::Invalid("sim: an access by a process that does not exist"));
                };
                self.memcgs[t.cg].counters.accesses += 1;
                if pte & PRESENT != 0 {
                    let f = (pte & PAYLOAD) as usize;
                    self.frames[f].flags |= REFERENCED;
                    if write {
                        if self.shared(p, f)? {
                            return self.cow(p, task, process, vpage, f);
                        }
                        self.frames[f].flags |= DIRTY;
                    }
                    return Ok(());
                }
                if pte & SWAP != 0 {
                    self.swapin(p, task, process, vpage, VSlot::from_raw(pte & PAYLOAD), write)
                } else {
                    let t = &self.tasks[task];
                    let data = t.workload.page_data(region as usize, page, t.seed).ok_or(outside)?;
                    self.memcgs[t.cg].counters.first_touch += 1;
                    let Some(f) = self.new_frame(p, task, vpage, data)? else { return Ok(()) };
                    self.map(task, process, vpage, f);
                    self.frames[f as usize].flags |= DIRTY;
                    Ok(())
                }
            }
            Event::Fork => self.fork(p, task),
            Event::ChildExit => self.child_exit(p, task),
        }
    }

    /// Advance the clock one tick (and run the shrink worker if it is still queued, as a
    /// paused one stays).
    pub fn tick(&mut self) -> Result<(), Error> {
        self.tick += 1;
        self.sys.set_tick(self.tick)?;
        self.run_queued_worker()?;
        self.refresh()
    }

    /// The global shrink worker's work item (`shrink_worker`), run here when a store
    /// queued it (`queue_work(shrink_wq, &zswap_shrink_work)`: `zswap_store` failed while
    /// `zswap_pool_reached_full`; queueing a pending item does nothing). Called where the
    /// kworker gets the CPU ([`WorkerWake`]): after every access (the return to user
    /// space), at the end of `memory.reclaim`, after every `writeout` under
    /// [`WorkerWake::NextFolio`], and at every tick (a paused worker stays queued). The
    /// run loops until the pool is at or below the accept threshold or 16 failures
    /// ([`SwapSystem::run_shrink_worker`]); each entry written back costs its memcg a
    /// folio until reclaimed ([`Mm::writeback_folios`]), and the pool size and the
    /// memcgs' zswap bytes are re-read after it.
    pub(super) fn run_queued_worker(&mut self) -> Result<(), Error> {
        if !self.sys.shrink_worker_pending() {
            return Ok(());
        }
        let r = self.sys.run_shrink_worker();
        if r.written == 0 {
            return Ok(());
        }
        for (id, n) in r.by_memcg {
            if let Some(&cg) = self.by_id.get(&id) {
                self.memcgs[cg].counters.worker_written += n;
                self.writeback_folios(cg, n, true);
            }
        }
        self.pool_bytes = self.sys.pool_total_size();
        for m in &mut self.memcgs {
            m.zswap_tree = self.sys.memcg_zswap_current(m.id)?;
        }
        Ok(())
    }

    /// `memory.reclaim`: reclaim up to `pages` frames from `cg`'s subtree, giving up
    /// after `MAX_RECLAIM_RETRIES` passes in a row that free nothing; the number
    /// reclaimed.
    pub fn reclaim(&mut self, cg: Cg, pages: u64) -> Result<u64, Error> {
        if cg >= self.memcgs.len() {
            return Err(Error::InvalidMemcg);
        }
        let sys = Arc::clone(&self.sys);
        let p = sys.pin();
        let (mut done, mut idle) = (0, 0);
        while done < pages && idle < MAX_RECLAIM_RETRIES {
            let want = (pages - done).min(self.memcgs[cg].resident_tree.max(SWAP_CLUSTER_MAX));
            match self.reclaim_subtree(&p, cg, want)? {
                0 => idle += 1,
                n => (done, idle) = (done + n, 0),
            }
        }
        // The write returns to user space: a shrink worker queued meanwhile runs now.
        self.run_queued_worker()?;
        Ok(done)
    }

    /// Re-read the pool size and every memcg's zswap bytes from the facade, and the swap
    /// usage `vm_swap_full` / `mem_cgroup_swap_full` test.
    fn refresh(&mut self) -> Result<(), Error> {
        self.pool_bytes = self.sys.pool_total_size();
        for m in &mut self.memcgs {
            m.zswap_tree = self.sys.memcg_zswap_current(m.id)?;
            if m.swap_max.is_some() || m.swap_high.is_some() {
                // The lab kernels charge `memory.swap.current` for every entry, a zswapped
                // page included (docs/kernel.md §3.3); the library only for a device slot.
                let s = self.sys.memcg_stat(m.id)?;
                let usage = s.swap_current / PAGE + s.zswapped / PAGE;
                let half = |l: Option<u64>| l.is_some_and(|l| usage * 2 >= l);
                m.swap_half_full = half(m.swap_max) || half(m.swap_high);
            }
        }
        if self.total_swap_pages > 0 {
            // Every allocated entry holds a device slot in the lab kernels, a zswap one too.
            let free = self.total_swap_pages.saturating_sub(self.sys.stat().vslots_in_use);
            self.vm_swap_full = free * 2 < self.total_swap_pages;
        }
        Ok(())
    }

    /// `mem_cgroup_swap_full`: `vm_swap_full`, or `cg` or an ancestor below the root uses
    /// at least half its `memory.swap.max` or `memory.swap.high` (as of the last tick).
    fn swap_full(&self, cg: Cg) -> bool {
        let mut up = Some(cg);
        while let Some(a) = up.filter(|&a| a != Self::ROOT) {
            if self.memcgs[a].swap_half_full {
                return true;
            }
            up = self.memcgs[a].parent;
        }
        self.vm_swap_full
    }

    fn cpu(&self, task: usize) -> usize {
        task % self.cpus
    }

    /// Charge one frame to `cg` (reclaiming first as `try_charge_memcg` and the page
    /// allocator would), then take a frame. None: the charge OOM-killed `task` itself
    /// (its fault fails with `VM_FAULT_OOM`; the caller stops).
    fn new_frame(&mut self, p: &Pinned<'_>, task: usize, vpage: u64, data: PageData) -> Result<Option<u32>, Error> {
        let cg = self.tasks[task].cg;
        let vpage = u32::try_from(vpage).map_err(|_| sim_bug("sim: a page past MAX_TASK_PAGES"))?;
        let compressed_len =
            u16::try_from(data.compressed_len).map_err(|_| sim_bug("sim: a compressed length past 64 KiB"))?;
        if self.charge(p, cg, task)? {
            return Ok(None);
        }
        self.charge_done(cg)?;
        let flags = if data.zero { REFERENCED | ZERO } else { REFERENCED };
        self.alloc_frame(task, cg, vpage, compressed_len, flags).map(Some)
    }

    /// Take a frame for page `vpage` of `task`, charged (already) to `cg`, on its inactive
    /// list.
    fn alloc_frame(&mut self, task: usize, cg: Cg, vpage: u32, compressed_len: u16, flags: u8) -> Result<u32, Error> {
        let f = match self.free.pop() {
            Some(f) => f,
            None => {
                let f = u32::try_from(self.frames.len()).map_err(|_| Error::Invalid("sim: out of frames"))?;
                self.frames.push(Frame::EMPTY);
                f
            }
        };
        self.frames[f as usize] = Frame {
            prev: NIL,
            next: NIL,
            task: task as u32,
            cg: cg as u32,
            slot: 0,
            vpage,
            compressed_len,
            mappers: 0,
            flags,
        };
        self.lru_add(f, false);
        let mut up = Some(cg);
        self.memcgs[cg].resident += 1;
        while let Some(a) = up {
            self.memcgs[a].resident_tree += 1;
            up = self.memcgs[a].parent;
        }
        Ok(f)
    }

    fn free_frame(&mut self, f: u32) {
        let fr = self.frames[f as usize];
        if fr.slot != 0 {
            // Evicted with its slot kept: the slot's page, for cluster readahead.
            self.swapcache.set_owner(fr.slot, fr.task, fr.vpage);
        }
        let cg = fr.cg as usize;
        self.frames[f as usize] = Frame::EMPTY;
        self.free.push(f);
        self.memcgs[cg].resident -= 1;
        let mut up = Some(cg);
        while let Some(a) = up {
            self.memcgs[a].resident_tree -= 1;
            up = self.memcgs[a].parent;
        }
    }
}

impl Frame {
    const EMPTY: Frame =
        Frame { prev: NIL, next: NIL, task: 0, cg: 0, slot: 0, vpage: 0, compressed_len: 0, mappers: 0, flags: 0 };
}

impl Memcg {
    fn new(id: MemcgId, name: String, parent: Option<Cg>) -> Memcg {
        Memcg {
            id,
            name,
            parent,
            subtree: Vec::new(),
            max: None,
            high: None,
            swap_max: None,
            swap_high: None,
            swap_half_full: false,
            resident: 0,
            resident_tree: 0,
            zswap_tree: 0,
            lru: [List { head: NIL, tail: NIL, len: 0 }; 2],
            evictions: 0,
            reclaim_cursor: 0,
            stock: 0,
            nr_deferred: 0,
            wb_folios: 0,
            wb_in_flight: 0,
            counters: CgCounters::default(),
        }
    }

    /// `memory.current` in bytes.
    fn current(&self) -> u64 {
        self.resident_tree * PAGE + self.zswap_tree
    }
}
