//! The scenarios: each builds a machine with [`Mm`], runs one or more configurations
//! of it on seeded workloads, and returns a [`Report`] whose counters are the kernel's.
//!
//! The `Driver` is the simulation loop every scenario shares: per tick, every job's
//! generator emits its events, the memory manager applies them, the clock advances (the
//! shrink worker runs if queued), a scenario hook may act (proactive writeback), and
//! every `sample` ticks the timelines get a point.
//!
//! Invariants: a scenario reads no wall clock and no global state; its report is a pure
//! function of (name, [`Options`]), so equal options give byte-identical JSON.

mod proactive_shrink;
mod proactive_writeback;
mod second_chance;
mod tiers;

use crate::mm::{Cg, Mm, TaskId};
use crate::report::{Counter, Mark, Plot, Report, Run, Series, Table};
use crate::workload::{Event, Generator, Workload, WorkloadError};
use std::fmt;
use vswap::{GlobalStat, MemcgStat, Tick};

/// What a caller may vary in a scenario.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    /// Every generator's seed derives from it.
    pub seed: u64,
    /// Size of the machine and the workloads, in percent of the default (1..=1000).
    pub scale: u32,
    /// Replaces the active workload of a scenario that has one.
    pub workload: Option<Workload>,
}

impl Default for Options {
    fn default() -> Self {
        Options { seed: 1, scale: 100, workload: None }
    }
}

/// Progress of the current run, in ticks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Progress {
    /// The run's name.
    pub run: String,
    /// Ticks done.
    pub done: u64,
    /// Ticks the run will take.
    pub total: u64,
}

/// The scenarios: (name, one-line description); the first is the default.
pub const SCENARIOS: &[(&str, &str)] = &[
    ("proactive-shrink", "2024 global shrinker fix: legacy worker vs hysteresis vs proactive shrinking (B1)"),
    ("second-chance", "the 2023 protection scheme vs second chance under store bursts with re-reads (B3)"),
    ("proactive-writeback", "repeated small memory.reclaim source=zswap calls on a parent: per-child progress"),
    ("footprint", "metadata per slot of a 32 GB virtual swap space beside the published figures"),
    ("tiers", "two swap devices at different priorities, where a latency-sensitive and a batch memcg land"),
];

/// Why a scenario could not run.
#[derive(Debug, Clone, PartialEq)]
pub enum SimError {
    /// No scenario has this name.
    UnknownScenario(String),
    /// A workload file was wrong.
    Workload(WorkloadError),
    /// The facade refused an operation (a bug in the simulator if it happens).
    Swap(vswap::Error),
    /// The options do not fit the scenario.
    Invalid(String),
}

impl fmt::Display for SimError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SimError::UnknownScenario(s) => write!(f, "unknown scenario `{s}` (`vswap-sim list` shows them)"),
            SimError::Workload(e) => write!(f, "{e}"),
            SimError::Swap(e) => write!(f, "swap: {e}"),
            SimError::Invalid(s) => write!(f, "{s}"),
        }
    }
}

impl std::error::Error for SimError {}

impl From<vswap::Error> for SimError {
    fn from(e: vswap::Error) -> Self {
        SimError::Swap(e)
    }
}

impl From<WorkloadError> for SimError {
    fn from(e: WorkloadError) -> Self {
        SimError::Workload(e)
    }
}

/// Run scenario `name`; `progress` hears about every tick.
pub fn run(name: &str, opts: &Options, progress: &mut dyn FnMut(&Progress)) -> Result<Report, SimError> {
    if !(1..=1000).contains(&opts.scale) {
        return Err(SimError::Invalid(format!("scale {} is outside 1..=1000 (percent)", opts.scale)));
    }
    if let Some(w) = &opts.workload {
        w.validate()?;
    }
    match name {
        "proactive-shrink" => proactive_shrink::run(opts, progress),
        "second-chance" => second_chance::run(opts, progress),
        "proactive-writeback" => proactive_writeback::run(opts, progress),
        "tiers" => tiers::run(opts, progress),
        "footprint" => {
            let slots = scaled(8_388_608, opts.scale);
            let mut r = crate::footprint::report(slots, 1, &|| None)?;
            r.seed = opts.seed;
            Ok(r)
        }
        _ => Err(SimError::UnknownScenario(name.into())),
    }
}

/// `n * scale / 100`, at least 1.
fn scaled(n: u64, scale: u32) -> u64 {
    (n * u64::from(scale) / 100).max(1)
}

/// A seed for the `k`th generator of a run (SplitMix64 of the scenario seed).
fn seed_of(seed: u64, k: u64) -> u64 {
    let mut z = seed.wrapping_add(k.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A task and the generator that feeds it.
struct Job<'w> {
    task: TaskId,
    source: Generator<'w>,
    done: bool,
}

/// A timeline column: a value sampled every `sample` ticks.
type Probe = Box<dyn Fn(&Mm, &GlobalStat) -> Result<f64, vswap::Error>>;

/// The simulation loop.
struct Driver<'w> {
    mm: Mm,
    jobs: Vec<Job<'w>>,
    events: u64,
    buf: Vec<Event>,
    /// (series name, probe, rate: plot the change per tick instead of the value).
    probes: Vec<(String, Probe, bool)>,
    points: Vec<Vec<(u64, f64)>>,
    last: Vec<f64>,
    sample: u64,
}

impl<'w> Driver<'w> {
    fn new(mm: Mm) -> Self {
        Driver {
            mm,
            jobs: Vec::new(),
            events: 0,
            buf: Vec::new(),
            probes: Vec::new(),
            points: Vec::new(),
            last: Vec::new(),
            sample: 1,
        }
    }

    /// Start `w` in `cg` with the `k`th seed of `seed`.
    fn spawn(&mut self, cg: Cg, w: &'w Workload, seed: u64, k: u64) -> Result<TaskId, vswap::Error> {
        let s = seed_of(seed, k);
        let task = self.mm.spawn(cg, w, s)?;
        self.jobs.push(Job { task, source: Generator::new(w, s), done: false });
        Ok(task)
    }

    fn probe(&mut self, name: &str, rate: bool, p: Probe) {
        self.probes.push((name.into(), p, rate));
        self.points.push(Vec::new());
        self.last.push(0.0);
    }

    /// One tick: every live job's events, then the clock.
    fn step(&mut self) -> Result<(), vswap::Error> {
        for j in &mut self.jobs {
            if j.done {
                continue;
            }
            self.buf.clear();
            if !j.source.tick(&mut self.buf) {
                j.done = true;
                continue;
            }
            self.mm.apply_all(j.task, &self.buf)?;
            self.events += self.buf.len() as u64;
        }
        self.mm.tick()?;
        let now = self.mm.now();
        if now % self.sample == 0 {
            self.take_sample(now)?;
        }
        Ok(())
    }

    fn take_sample(&mut self, now: Tick) -> Result<(), vswap::Error> {
        let g = self.mm.sys().stat();
        for (i, (_, p, rate)) in self.probes.iter().enumerate() {
            let v = p(&self.mm, &g)?;
            let y = if *rate { (v - self.last[i]) / self.sample as f64 } else { v };
            self.last[i] = v;
            self.points[i].push((now, y));
        }
        Ok(())
    }

    /// Run until every job in `watch` (job indices; all jobs when empty) has finished,
    /// at most `max_ticks` ticks; `hook` runs after every tick. `total` is what the
    /// progress callback is told the run will take.
    fn run_until(
        &mut self,
        name: &str,
        watch: &[usize],
        (total, max_ticks): (u64, u64),
        progress: &mut dyn FnMut(&Progress),
        hook: &mut dyn FnMut(&mut Mm) -> Result<(), vswap::Error>,
    ) -> Result<u64, vswap::Error> {
        let start = self.mm.now();
        let live = |d: &Self| match watch {
            [] => d.jobs.iter().any(|j| !j.done),
            w => w.iter().any(|&i| !d.jobs[i].done),
        };
        while self.mm.now() - start < max_ticks && live(self) {
            self.step()?;
            hook(&mut self.mm)?;
            progress(&Progress { run: name.into(), done: (self.mm.now() - start).min(total), total });
        }
        Ok(self.mm.now() - start)
    }

    /// Reset the timelines (the measured phase starts now) and sample every `sample`.
    fn start_timelines(&mut self, sample: u64) -> Result<(), vswap::Error> {
        self.sample = sample.max(1);
        let g = self.mm.sys().stat();
        for (i, (_, p, _)) in self.probes.iter().enumerate() {
            self.last[i] = p(&self.mm, &g)?;
            self.points[i].clear();
        }
        Ok(())
    }

    /// The "zswpin/tick" and "pswpin/tick" probes as the `swapins` plot of `run`.
    fn swapins_plot(&self, run: &str) -> Plot {
        let names = ["zswpin/tick", "pswpin/tick"];
        self.plot("swapins", &format!("{run}: swap-ins per tick"), "pages/tick", &names, vec![])
    }

    /// The sampled series named in `names`, as one plot.
    fn plot(&self, id: &str, title: &str, y_label: &str, names: &[&str], marks: Vec<Mark>) -> Plot {
        let series = (self.probes.iter().zip(&self.points))
            .filter(|((n, _, _), _)| names.contains(&n.as_str()))
            .map(|((n, _, _), pts)| Series { name: n.clone(), points: pts.clone() })
            .collect();
        Plot { id: id.into(), title: title.into(), y_label: y_label.into(), series, marks }
    }
}

/// The zswap debugfs and vmstat counters of B1's table, start and end.
fn global_counters(a: &GlobalStat, b: &GlobalStat) -> Vec<Counter> {
    let f = |name: &str, x: fn(&GlobalStat) -> u64| Counter { name: name.into(), start: x(a), end: x(b) };
    vec![
        f("pool_limit_hit", |s| s.pool_limit_hit),
        f("pool_total_size", |s| s.pool_total_size),
        f("stored_pages", |s| s.stored_pages),
        f("written_back_pages", |s| s.written_back_pages),
        f("reject_reclaim_fail", |s| s.reject_reclaim_fail),
        f("pswpin", |s| s.pswpin),
        f("pswpout", |s| s.pswpout),
        f("zswpin", |s| s.zswpin),
        f("zswpout", |s| s.zswpout),
        f("zswpwb", |s| s.zswpwb),
    ]
}

/// The value of counter `name` in `run` (its delta).
fn delta(run: &Run, name: &str) -> i128 {
    run.counters.iter().find(|c| c.name == name).map_or(0, Counter::delta)
}

/// One row per memcg: `memory.stat` deltas over the measured phase and where it stands.
fn memcg_table(mm: &Mm, cgs: &[Cg], start: &[MemcgStat]) -> Result<Table, vswap::Error> {
    let columns = ["memcg", "resident", "zswap_KiB", "zswpout", "zswpin", "zswpwb", "pswpout", "pswpin", "kept", "oom"];
    let mut rows = Vec::new();
    for (i, &cg) in cgs.iter().enumerate() {
        let s = mm.sys().memcg_stat(mm.memcg_id(cg)?)?;
        let a = &start[i];
        let c = mm.counters(cg)?;
        rows.push(vec![
            mm.memcg_name(cg)?.to_string(),
            mm.resident_pages(cg)?.to_string(),
            (s.zswap_current / 1024).to_string(),
            (s.zswpout - a.zswpout).to_string(),
            (s.zswpin - a.zswpin).to_string(),
            (s.zswpwb - a.zswpwb).to_string(),
            (s.pswpout - a.pswpout).to_string(),
            (s.pswpin - a.pswpin).to_string(),
            c.kept.to_string(),
            c.oom.to_string(),
        ]);
    }
    Ok(Table {
        title: "per memcg over the measured phase (resident pages and zswap KiB at the end)".into(),
        columns: columns.iter().map(|c| c.to_string()).collect(),
        rows,
    })
}

fn memcg_stats(mm: &Mm, cgs: &[Cg]) -> Result<Vec<MemcgStat>, vswap::Error> {
    cgs.iter().map(|&cg| mm.sys().memcg_stat(mm.memcg_id(cg)?)).collect()
}

/// "a / b" as "N.Nx", or "inf" when b is 0.
fn ratio(a: i128, b: i128) -> String {
    if b == 0 { if a == 0 { "1.0x".into() } else { "inf".into() } } else { format!("{:.1}x", a as f64 / b as f64) }
}

/// A table of the counters' deltas, one column per run.
fn compare_table(title: &str, runs: &[Run]) -> Table {
    let mut columns = vec!["counter".to_string()];
    columns.extend(runs.iter().map(|r| r.name.clone()));
    let rows = (runs.first().map_or(&[][..], |r| &r.counters[..]).iter())
        .map(|c| {
            let mut row = vec![c.name.clone()];
            row.extend(runs.iter().map(|r| format!("{:+}", delta(r, &c.name))));
            row
        })
        .collect();
    Table { title: title.into(), columns, rows }
}
