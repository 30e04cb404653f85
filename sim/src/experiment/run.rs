//! An experiment run on the simulator's memory manager ([`run`]): `vswap-sim run
//! FILE.toml`, in the result schema the lab's guest writes.
//!
//! Set-up, in the guest's order: the machine becomes an [`MmConfig`] (RAM in pages,
//! CPUs, zswap's parameters with the kernel's [`KernelProfile`] switches, one null swap
//! device per `[[machine.swap]]` with its effective priority), the cgroups are created in file order with their knobs
//! (`memory.max` / `memory.high` on the memory manager; `memory.swap.max`,
//! `memory.zswap.max`, `memory.zswap.writeback` through [`Mm::memcg_set`]),
//! and each task is spawned with its workload and seed.
//!
//! Then the tasks advance in lockstep: each tick every live task makes its tick's
//! accesses (task 0 first), then the clock ticks ([`Mm::tick`]: the shrink worker). A
//! page's size in zswap is lz4's length of its bytes ([`crate::workload::fill_page`]),
//! so both sides compress the same bytes. A charge that reclaim cannot make room for
//! OOM-kills a task of the memcg as the kernel does (crate::mm: `mem_cgroup_out_of_memory`
//! → `oom_kill_process`); a killed task makes no more accesses, the others go on, and
//! the run's `tasks[].killed` says so.
//!
//! Points: `start` after set-up, one after each phase of task 0 (after the tick that
//! ended it, the clock included), and `end` when every task has finished. The actions
//! named after a phase run right after that phase's point.
//!
//! Invariants: no clock and no global is read, so the same experiment and seeds give the
//! same result byte for byte (`seconds` is 0, the logical time is `ticks`); what the
//! simulator cannot honour (MGLRU, another compressor) is written in the
//! result's `settings.notes`, never silently dropped; an action it cannot perform is a
//! [`RunError`] before anything runs.

use super::format::{Action, Experiment, Lru, Size};
use super::profile::KernelProfile;
use super::result::{
    ExperimentResult, MachineSettings, MemcgPoint, Point, Run, Settings, Source, SwapSettings, TaskOutcome, VmSettings,
    ZswapSettings,
};
use crate::mm::{Cg, Mm, MmConfig};
use crate::workload::{Event, Generator};
use std::collections::BTreeMap;
use std::fmt;
use vswap::{CompressionMode, DeviceSpec, Knob, Limit, ZswapConfig};

const PAGE: u64 = vswap::PAGE_SIZE as u64;

/// How to run an experiment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunOptions {
    /// Runs to make (>= 1; 0 is taken as 1): run `r` adds `r` to every task's seed, so
    /// run 0 uses the file's seeds.
    pub runs: u32,
    /// The kernel the result stands for (its `kernel` field), simulated with its
    /// [`KernelProfile`]; None: the experiment's first kernel.
    pub kernel: Option<String>,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions { runs: 1, kernel: None }
    }
}

/// Why an experiment could not be run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunError {
    /// The library or the memory manager refused a step: what was being done, and its
    /// error.
    Sim {
        /// The step being done.
        what: String,
        /// The library's error.
        error: vswap::Error,
    },
    /// An action the simulator cannot perform (a cgroup file it does not model, or an
    /// argument such as `source=zswap`).
    UnsupportedAction {
        /// The action.
        action: Action,
        /// Why it cannot be done.
        why: String,
    },
    /// An action whose value does not parse.
    BadActionValue {
        /// The action.
        action: Action,
        /// What is wrong with its value.
        why: String,
    },
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let act =
            |a: &Action| format!("action after phase {:?}: {}/{} = {:?}", a.after_phase, a.cgroup, a.file, a.value);
        match self {
            RunError::Sim { what, error } => write!(f, "{what}: {error}"),
            RunError::UnsupportedAction { action, why } => {
                write!(f, "{}: the simulator cannot do this: {why}", act(action))
            }
            RunError::BadActionValue { action, why } => write!(f, "{}: {why}", act(action)),
        }
    }
}

impl std::error::Error for RunError {}

fn sim<T>(what: impl FnOnce() -> String, r: Result<T, vswap::Error>) -> Result<T, RunError> {
    r.map_err(|error| RunError::Sim { what: what(), error })
}

/// An action as the simulator performs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SimAction {
    /// `memory.reclaim`: reclaim this many bytes ([`Mm::reclaim`]).
    Reclaim(u64),
    /// `memory.max`: set it, then reclaim down to it (`memory_max_write`).
    Max(Size),
    /// `memory.high`: set it, then reclaim the excess once (`memory_high_write`).
    High(Size),
    /// A knob of [`vswap::SwapSystem::memcg_set`].
    Knob(Knob),
}

/// The action's file and value as a [`SimAction`], or why not.
fn sim_action(a: &Action) -> Result<SimAction, RunError> {
    let bad = |why: String| RunError::BadActionValue { action: a.clone(), why };
    let size = |v: &str| Size::parse(v).ok_or_else(|| bad(format!("{v:?} is not a size (bytes, \"64M\", \"max\")")));
    let limit = |v: &str| {
        size(v).map(|s| match s {
            Size::Bytes(b) => Limit::Bytes(b),
            Size::Max => Limit::Max,
        })
    };
    let v = a.value.trim();
    Ok(match a.file.as_str() {
        "memory.reclaim" => {
            let mut words = v.split_whitespace();
            let amount = match words.next().map(size).transpose()? {
                Some(Size::Bytes(b)) => b,
                _ => return Err(bad("memory.reclaim takes a size in bytes".into())),
            };
            for w in words {
                match w.split_once('=') {
                    // Anonymous pages only: reclaim takes anon at any swappiness but 0.
                    Some(("swappiness", s)) if s == "max" || s.parse::<u32>().is_ok_and(|n| (1..=200).contains(&n)) => {
                    }
                    Some(("swappiness", "0")) => {
                        return Err(RunError::UnsupportedAction {
                            action: a.clone(),
                            why: "swappiness=0 reclaims no anonymous memory and the simulator has no other".into(),
                        });
                    }
                    _ => {
                        return Err(RunError::UnsupportedAction {
                            action: a.clone(),
                            why: format!("memory.reclaim argument {w:?} (only swappiness=N is modelled)"),
                        });
                    }
                }
            }
            SimAction::Reclaim(amount)
        }
        "memory.max" => SimAction::Max(size(v)?),
        "memory.high" => SimAction::High(size(v)?),
        "memory.swap.max" => SimAction::Knob(Knob::SwapMax(limit(v)?)),
        "memory.swap.high" => SimAction::Knob(Knob::SwapHigh(limit(v)?)),
        "memory.zswap.max" => SimAction::Knob(Knob::ZswapMax(limit(v)?)),
        "memory.zswap.writeback" => match v {
            "0" => SimAction::Knob(Knob::ZswapWriteback(false)),
            "1" => SimAction::Knob(Knob::ZswapWriteback(true)),
            _ => return Err(bad("memory.zswap.writeback takes 0 or 1".into())),
        },
        other => {
            return Err(RunError::UnsupportedAction {
                action: a.clone(),
                why: format!(
                    "{other} is not modelled (memory.reclaim, memory.max, memory.high, memory.swap.max, \
                     memory.swap.high, memory.zswap.max and memory.zswap.writeback are)"
                ),
            });
        }
    })
}

/// The kernel's boot defaults the experiment leaves in place (the lab kernels): zswap off,
/// `lzo`, 20 %, 90 %, shrinker off; MGLRU on, `page-cluster` 3, `swappiness` 60.
const DEFAULT_MAX_POOL: u32 = 20;
const DEFAULT_ACCEPT: u32 = 90;
const DEFAULT_PAGE_CLUSTER: u32 = MmConfig::DEFAULT_PAGE_CLUSTER;
const DEFAULT_SWAPPINESS: u32 = 60;

/// The settings the simulator applies for `exp` as `kernel` (its [`KernelProfile`] in
/// `kernel_profile`), with a note for each it cannot honour.
pub fn settings(exp: &Experiment, kernel: &str) -> Settings {
    let mut notes = Vec::new();
    let (profile, note) = KernelProfile::for_kernel(kernel);
    notes.extend(note);
    let lru = exp.vm.lru.unwrap_or(Lru::Mglru);
    if lru == Lru::Mglru {
        let asked = if exp.vm.lru.is_some() { "lru = \"mglru\"" } else { "lru left as booted (MGLRU)" };
        notes.push(format!("{asked}: the simulator models the classic active/inactive LRU only"));
    }
    let page_cluster = exp.vm.page_cluster.unwrap_or(DEFAULT_PAGE_CLUSTER);
    let swappiness = exp.vm.swappiness.unwrap_or(DEFAULT_SWAPPINESS);
    if swappiness == 0 {
        notes.push("swappiness 0: the simulator reclaims anonymous pages at any swappiness".into());
    }
    let compressor = exp.zswap.compressor.clone().unwrap_or_else(|| "lzo".into());
    if compressor != "lz4" {
        notes.push(format!("compressor {compressor}: the simulator's sizes are lz4's"));
    }
    // As /proc/swaps shows them: the header page left out.
    let swap = (exp.machine.swap.iter())
        .map(|d| SwapSettings {
            name: d.name.clone(),
            size_kib: (d.mib * 1024).saturating_sub(4),
            priority: d.effective_priority,
        })
        .collect();
    let mut cgroups = BTreeMap::new();
    for c in &exp.cgroups {
        let mut files = BTreeMap::new();
        // Read back as the kernel shows them: bytes rounded down to pages.
        let shown = |s: Size| match s {
            Size::Bytes(b) => (b / PAGE * PAGE).to_string(),
            Size::Max => "max".to_owned(),
        };
        for (file, v) in [
            ("memory.max", c.memory_max),
            ("memory.high", c.memory_high),
            ("memory.swap.max", c.swap_max),
            ("memory.zswap.max", c.zswap_max),
        ] {
            if let Some(v) = v {
                files.insert(file.to_owned(), shown(v));
            }
        }
        if let Some(w) = c.zswap_writeback {
            files.insert("memory.zswap.writeback".to_owned(), if w { "1" } else { "0" }.to_owned());
        }
        cgroups.insert(c.path.clone(), files);
    }
    Settings {
        machine: MachineSettings { mem_total_kib: exp.machine.ram_mib * 1024, cpus: exp.machine.cpus, swap },
        vm: VmSettings { lru: Lru::Classic.as_str().into(), page_cluster, swappiness },
        zswap: ZswapSettings {
            enabled: exp.zswap.enabled.unwrap_or(false),
            compressor: "lz4".into(),
            max_pool_percent: exp.zswap.max_pool_percent.unwrap_or(DEFAULT_MAX_POOL),
            accept_threshold_percent: exp.zswap.accept_threshold_percent.unwrap_or(DEFAULT_ACCEPT),
            shrinker_enabled: exp.zswap.shrinker_enabled.unwrap_or(false),
        },
        cgroups,
        notes,
        kernel_profile: Some(profile.name.to_owned()),
    }
}

/// Runs `exp` `opts.runs` times on the simulator, as the kernel `opts.kernel` (the
/// experiment's first by default) with its [`KernelProfile`].
pub fn run(exp: &Experiment, opts: &RunOptions) -> Result<ExperimentResult, RunError> {
    let kernel = opts.kernel.clone().or_else(|| exp.kernels.first().cloned()).unwrap_or_default();
    let (profile, _) = KernelProfile::for_kernel(&kernel);
    let runs =
        (0..opts.runs.max(1)).map(|r| run_once_with(exp, u64::from(r), &profile)).collect::<Result<Vec<_>, _>>()?;
    Ok(ExperimentResult {
        experiment: exp.name.clone(),
        source: Source::VswapSim,
        settings: settings(exp, &kernel),
        kernel,
        runs,
    })
}

/// One simulation (run 0) of `exp` for each of `kernels`, as `compare` needs them: the
/// result at index `i` stands for `kernels[i]` (its `kernel`, its settings and profile).
/// Kernels whose profiles simulate `exp` alike ([`KernelProfile::simulates_alike`])
/// share one simulation, so an experiment whose switches cannot act is run once.
pub fn run_kernels(exp: &Experiment, kernels: &[String]) -> Result<Vec<ExperimentResult>, RunError> {
    let mut done: Vec<(KernelProfile, Run)> = Vec::new();
    let mut out = Vec::with_capacity(kernels.len());
    for k in kernels {
        let (profile, _) = KernelProfile::for_kernel(k);
        let run = match done.iter().find(|(p, _)| p.simulates_alike(&profile, exp)) {
            Some((_, r)) => r.clone(),
            None => {
                let r = run_once_with(exp, 0, &profile)?;
                done.push((profile, r.clone()));
                r
            }
        };
        out.push(ExperimentResult {
            experiment: exp.name.clone(),
            source: Source::VswapSim,
            settings: settings(exp, k),
            kernel: k.clone(),
            runs: vec![run],
        });
    }
    Ok(out)
}

/// The state of one run beside the memory manager: what the points report that the
/// memory manager does not count itself.
struct State {
    /// The memory manager's memcg of each experiment cgroup, in file order.
    cgs: Vec<Cg>,
    /// Each cgroup's subtree (itself and its descendants), as indices into `cgs`.
    subtrees: Vec<Vec<usize>>,
    /// Each cgroup's ancestors and itself, as indices.
    ancestry: Vec<Vec<usize>>,
    /// `memory.peak` per cgroup: the highest `memory.current` seen after any event.
    peak: Vec<u64>,
}

/// One run as the experiment's first kernel (with its [`KernelProfile`]): every task's
/// seed plus `offset`.
pub fn run_once(exp: &Experiment, offset: u64) -> Result<Run, RunError> {
    let (profile, _) = KernelProfile::for_kernel(exp.kernels.first().map_or("", String::as_str));
    run_once_with(exp, offset, &profile)
}

/// One run with `profile`'s switches: every task's seed plus `offset`.
pub fn run_once_with(exp: &Experiment, offset: u64, profile: &KernelProfile) -> Result<Run, RunError> {
    if exp.tasks.is_empty() {
        let error = vswap::Error::Invalid("sim: an experiment with no task");
        return Err(RunError::Sim { what: format!("experiment {:?}", exp.name), error });
    }
    let actions = exp.actions.iter().map(|a| Ok((a, sim_action(a)?))).collect::<Result<Vec<_>, RunError>>()?;
    let mut zswap = ZswapConfig {
        enabled: exp.zswap.enabled.unwrap_or(false),
        max_pool_percent: exp.zswap.max_pool_percent.unwrap_or(DEFAULT_MAX_POOL),
        accept_threshold_percent: exp.zswap.accept_threshold_percent.unwrap_or(DEFAULT_ACCEPT),
        shrinker_enabled: exp.zswap.shrinker_enabled.unwrap_or(false),
        compressor: CompressionMode::Lz4,
        ..ZswapConfig::default()
    };
    profile.apply(&mut zswap);
    let devices = (exp.machine.swap.iter())
        .map(|d| DeviceSpec::null(d.name.clone(), d.mib * (1 << 20) / PAGE).priority(d.effective_priority))
        .collect();
    // The lab's swap disks are virtio-blk, which the kernel swaps on as rotational (no
    // SWP_SOLIDSTATE), so swap readahead is cluster readahead (`swap_cluster_readahead`).
    let cfg = MmConfig {
        ram_pages: exp.machine.ram_mib * (1 << 20) / PAGE,
        cpus: exp.machine.cpus as usize,
        zswap,
        devices,
        page_cluster: exp.vm.page_cluster.unwrap_or(DEFAULT_PAGE_CLUSTER),
        vma_readahead: false,
    };
    let mut mm = sim(|| "machine set-up".into(), Mm::new(cfg))?;
    // swappiness 0 is noted in the settings and taken as the default.
    let swappiness = exp.vm.swappiness.filter(|&s| s != 0).unwrap_or(DEFAULT_SWAPPINESS);
    sim(|| "vm.swappiness".into(), mm.set_swappiness(swappiness))?;
    let index = |path: &str| exp.cgroups.iter().position(|c| c.path == path);
    let mut cgs = Vec::with_capacity(exp.cgroups.len());
    for c in &exp.cgroups {
        let parent = c.path.rsplit_once('/').and_then(|(p, _)| index(p)).map_or(Mm::ROOT, |i| cgs[i]);
        let cg = sim(|| format!("mkdir {}", c.path), mm.memcg_create(parent, &c.path))?;
        cgs.push(cg);
        if let Some(v) = c.memory_max {
            sim(|| format!("{}/memory.max", c.path), mm.set_memory_max(cg, v.bytes()))?;
        }
        if let Some(v) = c.memory_high {
            sim(|| format!("{}/memory.high", c.path), mm.set_memory_high(cg, v.bytes()))?;
        }
        let lim = |s: Size| s.bytes().map_or(Limit::Max, Limit::Bytes);
        let knobs = [
            ("memory.swap.max", c.swap_max.map(|s| Knob::SwapMax(lim(s)))),
            ("memory.zswap.max", c.zswap_max.map(|s| Knob::ZswapMax(lim(s)))),
            ("memory.zswap.writeback", c.zswap_writeback.map(Knob::ZswapWriteback)),
        ];
        for (file, knob) in knobs {
            if let Some(k) = knob {
                sim(|| format!("{}/{file}", c.path), mm.memcg_set(cg, k))?;
            }
        }
    }
    let under = |i: usize, j: usize| {
        let (p, q) = (&exp.cgroups[i].path, &exp.cgroups[j].path);
        q == p || (q.len() > p.len() && q.starts_with(p.as_str()) && q.as_bytes()[p.len()] == b'/')
    };
    let n = cgs.len();
    let mut st = State {
        subtrees: (0..n).map(|i| (0..n).filter(|&j| under(i, j)).collect()).collect(),
        ancestry: (0..n).map(|j| (0..n).filter(|&i| under(i, j)).collect()).collect(),
        cgs,
        peak: vec![0; n],
    };
    let mut tasks = Vec::with_capacity(exp.tasks.len());
    for (t, spec) in exp.tasks.iter().enumerate() {
        let w = exp.task_workload(t).ok_or_else(|| RunError::Sim {
            what: format!("task {t}: workload {:?}", spec.workload),
            error: vswap::Error::Invalid("sim: the experiment does not hold the workload"),
        })?;
        let ci = index(&spec.cgroup).ok_or_else(|| RunError::Sim {
            what: format!("task {t}: cgroup {:?}", spec.cgroup),
            error: vswap::Error::InvalidMemcg,
        })?;
        let seed = spec.seed.wrapping_add(offset);
        let id = sim(|| format!("task {t}: spawn"), mm.spawn(st.cgs[ci], w, seed))?;
        tasks.push(TaskRun { id, ci, events: Generator::new(w, seed), done: false });
    }
    let phases: Vec<String> =
        exp.task_workload(0).map(|w| w.phases.iter().map(|p| p.name.clone()).collect()).unwrap_or_default();
    let mut points = vec![point("start", &mm, exp, &st)?];
    let mut buf: Vec<Event> = Vec::new();
    while tasks.iter().any(|t| !t.done) {
        let phase_before = tasks.first().and_then(|t| t.events.phase_index());
        for (t, task) in tasks.iter_mut().enumerate() {
            if task.done {
                continue;
            }
            buf.clear();
            if !task.events.tick(&mut buf) {
                task.done = true;
                continue;
            }
            for ev in &buf {
                sim(|| format!("task {t}: {ev:?}"), mm.apply(task.id, ev))?;
                track_peaks(&mm, &mut st, task.ci)?;
                if mm.killed(task.id) {
                    break;
                }
            }
            // A task whose generator just ran out is done now (no empty tick later); a
            // killed one stops.
            task.done = task.events.phase_index().is_none() || mm.killed(task.id);
        }
        sim(|| "tick".into(), mm.tick())?;
        for ci in 0..st.cgs.len() {
            track_peaks(&mm, &mut st, ci)?;
        }
        let now = tasks.first().and_then(|t| t.events.phase_index());
        if let Some(ended) = phase_before.filter(|&p| now != Some(p)) {
            let name = phases.get(ended).map_or("?", String::as_str);
            points.push(point(name, &mm, exp, &st)?);
            for (a, act) in actions.iter().filter(|(a, _)| a.after_phase == name) {
                perform(&mut mm, &mut st, exp, a, *act)?;
            }
        }
    }
    points.push(point("end", &mm, exp, &st)?);
    Ok(Run {
        seconds: 0.0,
        ticks: Some(mm.now()),
        seed: exp.tasks.first().map(|t| t.seed.wrapping_add(offset)),
        points,
        tasks: (exp.tasks.iter().zip(&tasks))
            .map(|(spec, t)| TaskOutcome { cgroup: spec.cgroup.clone(), killed: mm.killed(t.id) })
            .collect(),
    })
}

/// A task in a run.
struct TaskRun<'w> {
    id: crate::mm::TaskId,
    /// Its cgroup, as an index.
    ci: usize,
    events: Generator<'w>,
    /// Its workload has finished.
    done: bool,
}

/// Raise the peaks of cgroup `ci` and its ancestors to their `memory.current`.
fn track_peaks(mm: &Mm, st: &mut State, ci: usize) -> Result<(), RunError> {
    for &a in &st.ancestry[ci] {
        let cur = sim(|| "memory.current".into(), mm.memory_current(st.cgs[a]))?;
        st.peak[a] = st.peak[a].max(cur);
    }
    Ok(())
}

/// Performs one action (see [`SimAction`]).
fn perform(mm: &mut Mm, st: &mut State, exp: &Experiment, a: &Action, act: SimAction) -> Result<(), RunError> {
    let ci = exp.cgroups.iter().position(|c| c.path == a.cgroup).ok_or_else(|| RunError::Sim {
        what: format!("action on {:?}", a.cgroup),
        error: vswap::Error::InvalidMemcg,
    })?;
    let cg = st.cgs[ci];
    let what = || format!("{}/{} = {:?}", a.cgroup, a.file, a.value);
    let excess = |mm: &Mm, limit: Option<u64>| -> Result<u64, RunError> {
        let cur = sim(what, mm.memory_current(cg))?;
        Ok(limit.map_or(0, |l| cur.saturating_sub(l).div_ceil(PAGE)))
    };
    match act {
        SimAction::Reclaim(bytes) => {
            sim(what, mm.reclaim(cg, bytes.div_ceil(PAGE)))?;
        }
        SimAction::Max(s) => {
            sim(what, mm.set_memory_max(cg, s.bytes()))?;
            let over = excess(mm, s.bytes())?;
            if over > 0 {
                sim(what, mm.reclaim(cg, over))?;
            }
        }
        SimAction::High(s) => {
            sim(what, mm.set_memory_high(cg, s.bytes()))?;
            let over = excess(mm, s.bytes())?;
            if over > 0 {
                sim(what, mm.reclaim(cg, over))?;
            }
        }
        SimAction::Knob(k) => {
            sim(what, mm.memcg_set(cg, k))?;
        }
    }
    for ci in 0..st.cgs.len() {
        track_peaks(mm, st, ci)?;
    }
    Ok(())
}

/// The counters at one point, named as the kernel's files name them. Each mapping, from
/// the library's [`vswap::GlobalStat`] / [`vswap::MemcgStat`] or the memory manager's
/// [`crate::mm::CgCounters`]:
///
/// * `vmstat` (`/proc/vmstat`): `zswpout`, `zswpin`, `zswpwb`, `pswpout`, `pswpin`,
///   `swpout_zero`, `swpin_zero` are the library's same-named events (`count_vm_event`
///   in zswap_store / zswap_load / zswap_writeback_entry / swap_writeout / swap_read_folio
///   / the zero-page checks); `pgmajfault` sums the memory manager's `major_faults`
///   (swap-ins that read zero, zswap or a device: `do_swap_page`'s `PGMAJFAULT`);
///   `swap_ra` / `swap_ra_hit` sum its readahead counters (`SWAP_RA`: pages readahead
///   read, `SWAP_RA_HIT`: faults that found one still marked);
///   `pgsteal_anon` sums `reclaimed` (`shrink_folio_list`); `workingset_activate_anon`
///   sums `refault_activate` (`workingset_refault`); `oom_kill` sums the memory
///   manager's `oom_kill` (`oom_kill_process`).
/// * `zswap` (`/sys/kernel/debug/zswap/*`): the library's same-named counters.
///   `pool_total_size` is the sum of the stored lengths, where the kernel's is zsmalloc's
///   pages (`zs_get_total_pages`), a little larger.
/// * per cgroup: `memory.current` is [`Mm::memory_current`] (resident pages + compressed
///   bytes, `page_counter` usage; the kernel's also holds page tables and slab);
///   `memory.swap.current` is the library's `swap_current` (physical slots only, the
///   virtual-swap rule; the kernel also charges a slot for each zswapped page);
///   `memory.zswap.current` its `zswap_current` (`obj_cgroup` zswap charge);
///   `memory.peak` the highest `memory.current` after any event; `memory.stat` `anon`
///   (resident pages), `zswap`, `zswapped`, `zswap_incomp`, `zswpin`, `zswpout`,
///   `zswpwb`, `pswpin`, `pswpout`, `swpin_zero`, `swpout_zero` (the library's
///   hierarchical `memcg_stat`), `pgmajfault`, `pgsteal`, `workingset_activate_anon`
///   (the memory manager's, summed over the subtree); `memory.events` `oom` (charges
///   reclaim could not make room for: `MEMCG_OOM`, counted at the memcg whose limit was
///   hit) and `oom_kill` (`MEMCG_OOM_KILL`, at the victim's memcg), both over the subtree
///   as the file is hierarchical; `memory.swap.events` `high`,
///   `max`, `fail` (`MEMCG_SWAP_HIGH` / `_MAX` / `_FAIL`).
fn point(name: &str, mm: &Mm, exp: &Experiment, st: &State) -> Result<Point, RunError> {
    let what = || format!("point {name}");
    let g = mm.sys().stat();
    let mut vmstat = BTreeMap::new();
    let (mut majflt, mut steal, mut activate, mut kills) = (0u64, 0u64, 0u64, 0u64);
    let (mut ra, mut ra_hit) = (0u64, 0u64);
    for cg in mm.memcgs() {
        let c = sim(what, mm.counters(cg))?;
        majflt += c.major_faults;
        ra += c.swap_ra;
        ra_hit += c.swap_ra_hit;
        steal += c.reclaimed;
        activate += c.refault_activate;
        kills += c.oom_kill;
    }
    for (k, v) in [
        ("zswpout", g.zswpout),
        ("zswpin", g.zswpin),
        ("zswpwb", g.zswpwb),
        ("pswpout", g.pswpout),
        ("pswpin", g.pswpin),
        ("swpout_zero", g.swpout_zero),
        ("swpin_zero", g.swpin_zero),
        ("pgmajfault", majflt),
        ("swap_ra", ra),
        ("swap_ra_hit", ra_hit),
        ("pgsteal_anon", steal),
        ("workingset_activate_anon", activate),
        ("oom_kill", kills),
    ] {
        vmstat.insert(k.to_owned(), v);
    }
    let zswap = [
        ("pool_limit_hit", g.pool_limit_hit),
        ("pool_total_size", g.pool_total_size),
        ("stored_pages", g.stored_pages),
        ("stored_incompressible_pages", g.stored_incompressible_pages),
        ("written_back_pages", g.written_back_pages),
        ("reject_reclaim_fail", g.reject_reclaim_fail),
        ("reject_alloc_fail", g.reject_alloc_fail),
        ("reject_compress_fail", g.reject_compress_fail),
        ("reject_compress_poor", g.reject_compress_poor),
        ("decompress_fail", g.decompress_fail),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let mut memcg = BTreeMap::new();
    for (i, c) in exp.cgroups.iter().enumerate() {
        let cg = st.cgs[i];
        let id = sim(what, mm.memcg_id(cg))?;
        let s = sim(what, mm.sys().memcg_stat(id))?;
        let (mut majflt, mut steal, mut activate, mut oom, mut kills) = (0, 0, 0, 0, 0);
        for &j in &st.subtrees[i] {
            let k = sim(what, mm.counters(st.cgs[j]))?;
            majflt += k.major_faults;
            steal += k.reclaimed;
            activate += k.refault_activate;
            oom += k.oom;
            kills += k.oom_kill;
        }
        let stat = [
            ("anon", sim(what, mm.resident_pages(cg))? * PAGE),
            ("zswap", s.zswap_current),
            ("zswapped", s.zswapped),
            ("zswap_incomp", s.zswap_incomp),
            ("zswpin", s.zswpin),
            ("zswpout", s.zswpout),
            ("zswpwb", s.zswpwb),
            ("pswpin", s.pswpin),
            ("pswpout", s.pswpout),
            ("swpin_zero", s.swpin_zero),
            ("swpout_zero", s.swpout_zero),
            ("pgmajfault", majflt),
            ("pgsteal", steal),
            ("workingset_activate_anon", activate),
        ];
        let m = MemcgPoint {
            current: sim(what, mm.memory_current(cg))?,
            swap_current: s.swap_current,
            zswap_current: s.zswap_current,
            peak: st.peak[i],
            stat: stat.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
            events: [("oom", oom), ("oom_kill", kills)].into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
            swap_events: [("high", s.swap_events_high), ("max", s.swap_events_max), ("fail", s.swap_events_fail)]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect(),
        };
        memcg.insert(c.path.clone(), m);
    }
    Ok(Point { name: name.to_owned(), vmstat, zswap, memcg })
}
