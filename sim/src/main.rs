//! `vswap-sim`: the crate's driver.
//!
//! * `vswap-sim [run] [SCENARIO] [--seed N] [--scale PCT] [--workload FILE] [--json | --csv]
//!   [--plot DIR] [--bench]` runs a scenario (by default the first of
//!   `scenario::SCENARIOS`, `proactive-shrink`) and prints its report on stdout: a table,
//!   or JSON / CSV. `--plot DIR` writes the SVG timelines and names them on stderr;
//!   `--bench` prints the simulated events per second of wall time on stderr.
//! * `vswap-sim run FILE.toml [--runs N] [--kernel K] [--json]` runs a kernel-lab
//!   experiment (kernel-lab/README.md, "Experiment files") on the memory manager, as
//!   kernel K with its kernel profile (kernel-lab/experiments/README.md, "Kernel
//!   profiles"), and prints a summary table or the result JSON (the lab's schema).
//! * `vswap-sim compare FILE.toml [--kernel K] [--json]` runs it and compares it with the
//!   kernels' recordings (`kernel-lab/results/<name>/<kernel>.json`), each kernel
//!   simulated with its own profile: per counter the kernel's mean ± spread, the
//!   simulation, the ratio and the verdict; exit status 1 on a BROKEN or STALE verdict.
//! * `vswap-sim list` names the scenarios and the built-in workloads.
//! * `vswap-sim footprint [--slots N] [--cpus N]` prints the metadata footprint report.
//!
//! Invariants: stdout carries only the report, so it can be piped; the progress bars,
//! the plot paths and the bench line go to stderr, and the bars are drawn only on a
//! terminal and only for runs that last over a second. The wall clock is read here and
//! never in the library, so a report stays a function of its scenario, options and seed.
//! Errors print `vswap-sim: <error>` and exit 1; usage errors exit 2.

use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::alloc::{GlobalAlloc, Layout};
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use vswap_sim::scenario::{self, Options, Progress};
use vswap_sim::workload::Workload;
use vswap_sim::{plot, report};

/// The allocator under the counting one: mimalloc where Cargo.toml declares it (Linux on
/// x86_64), for the simulator's speed (docs/notes/simulator-throughput.md, "The binary's
/// allocator"); the system allocator elsewhere. The counts do not depend on it: they are
/// the sizes asked.
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
const INNER: mimalloc::MiMalloc = mimalloc::MiMalloc;
#[cfg(not(all(target_os = "linux", target_arch = "x86_64")))]
const INNER: std::alloc::System = std::alloc::System;

/// Counts live heap bytes, to check the crate's own accounting against the allocator.
struct Counting;
static LIVE: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to `INNER` unchanged; only counts sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract; passed through.
        unsafe { INNER.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: `ptr` came from `alloc` above with this layout.
        unsafe { INNER.dealloc(ptr, layout) }
    }
    // Forwarded too, so that zeroed and grown blocks keep the inner allocator's fast paths
    // (fresh pages need no zeroing; a block can grow in place) instead of the defaults'
    // allocate, copy or zero, and free.
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        // SAFETY: as in `alloc`.
        unsafe { INNER.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller upholds `GlobalAlloc::realloc`'s contract (`ptr` came from this
        // allocator with `layout`); passed through.
        let p = unsafe { INNER.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            // One change by the difference, so a reading never sees both sizes counted.
            let old = layout.size();
            if new_size >= old {
                LIVE.fetch_add(new_size - old, Ordering::Relaxed);
            } else {
                LIVE.fetch_sub(old - new_size, Ordering::Relaxed);
            }
        }
        p
    }
}

// Not under Miri: on i686-pc-windows-msvc, Miri (tree borrows) reports UB inside std's
// Windows `System::dealloc` (`HeapFree` of an over-aligned block freed by libtest's mpmc
// channel) as soon as any `#[global_allocator]` routes through `System`. This binary has
// no tests; the counting allocator only serves the native footprint report.
#[cfg_attr(not(miri), global_allocator)]
static ALLOC: Counting = Counting;

/// The command line. Without a subcommand, the `run` options apply to the default
/// command, so `vswap-sim`, `vswap-sim SCENARIO` and `vswap-sim --json` all run.
#[derive(Parser)]
#[command(
    name = "vswap-sim",
    version,
    about = "Reclaim simulator and metadata footprint report for the vswap crate",
    args_conflicts_with_subcommands = true,
    args_override_self = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Run a scenario, or an experiment file (`*.toml`), and print its report (the
    /// default command).
    Run(RunArgs),
    /// Compare an experiment's simulation with its kernel recordings.
    Compare(CompareArgs),
    /// List the scenarios and the built-in workloads.
    List,
    /// Print the metadata footprint of a virtual swap space.
    Footprint(FootprintArgs),
}

#[derive(Args)]
struct RunArgs {
    /// The scenario to run (`vswap-sim list` names them), or an experiment file ending in
    /// `.toml` (kernel-lab/experiments) [default: the first scenario listed]
    scenario: Option<String>,
    /// Experiments: runs to make, run r adding r to every task's seed [default: 1]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=100))]
    runs: Option<u32>,
    /// Experiments: the kernel the result stands for, simulated with its kernel profile
    /// [default: the experiment's first]
    #[arg(long, value_name = "K")]
    kernel: Option<String>,
    /// Seed every generator is derived from [default: 1]
    #[arg(long, value_name = "N")]
    seed: Option<u64>,
    /// Size of the run, percent of the scenario's default size [default: 100]
    #[arg(long, value_name = "PCT", value_parser = clap::value_parser!(u32).range(1..=1000))]
    scale: Option<u32>,
    /// A workload file (TOML) replacing the scenario's active workload
    #[arg(long, value_name = "FILE")]
    workload: Option<PathBuf>,
    /// Print the report as JSON
    #[arg(long, conflicts_with = "csv")]
    json: bool,
    /// Print the report as CSV (scenario,run,table,row,column,value)
    #[arg(long)]
    csv: bool,
    /// Write the timelines as SVG files into DIR (`<run>-<plot>.svg`)
    #[arg(long, value_name = "DIR")]
    plot: Option<PathBuf>,
    /// Print simulated events per second of wall time on stderr
    #[arg(long)]
    bench: bool,
}

#[derive(Args)]
struct CompareArgs {
    /// The experiment file (kernel-lab/experiments/NAME.toml)
    experiment: PathBuf,
    /// Compare with this kernel's recording only [default: every kernel recorded]
    #[arg(long, value_name = "K")]
    kernel: Option<String>,
    /// Print the comparison as JSON
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct FootprintArgs {
    /// Virtual swap slots (the default: a 32 GB swap of 4 KiB pages)
    #[arg(long, value_name = "N", default_value_t = 8_388_608)]
    slots: u64,
    /// CPUs (per-CPU allocation caches), clamped to 1..=4096
    #[arg(long, value_name = "N", default_value_t = 1)]
    cpus: u64,
}

/// A failure, printed as `vswap-sim: <message>`.
type Failure = Box<dyn std::error::Error>;

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        None => run(cli.run),
        Some(Command::Run(args)) => run(args),
        Some(Command::Compare(args)) => compare(&args),
        Some(Command::List) => Ok(list()),
        Some(Command::Footprint(args)) => footprint(&args),
    };
    match result.and_then(|text| emit(&text)) {
        Ok(()) => {}
        Err(e) => {
            eprintln!("vswap-sim: {e}");
            std::process::exit(1);
        }
    }
    if FAILED_VERDICTS.load(Ordering::Relaxed) {
        std::process::exit(1);
    }
}

/// Set by `compare` when a verdict is BROKEN or STALE: the table is printed, then the
/// exit status is 1.
static FAILED_VERDICTS: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// `vswap-sim run FILE.toml`: the experiment on the memory manager.
fn run_experiment(path: &std::path::Path, args: &RunArgs) -> Result<String, Failure> {
    use vswap_sim::experiment::{Experiment, RunOptions, run};
    let scenario_only = [
        ("--seed", args.seed.is_some()),
        ("--scale", args.scale.is_some()),
        ("--workload", args.workload.is_some()),
        ("--csv", args.csv),
        ("--plot", args.plot.is_some()),
    ];
    if let Some((flag, _)) = scenario_only.iter().find(|(_, set)| *set) {
        return Err(
            format!("{flag} applies to scenarios; an experiment takes its seeds from its file (--runs N)").into()
        );
    }
    let exp = Experiment::load(path)?;
    let opts = RunOptions { runs: args.runs.unwrap_or(1), kernel: args.kernel.clone() };
    let start = Instant::now();
    let result = run::run(&exp, &opts)?;
    if args.bench {
        let ticks: u64 = result.runs.iter().filter_map(|r| r.ticks).sum();
        eprintln!("ticks: {ticks}, wall: {:.3} s", start.elapsed().as_secs_f64());
    }
    Ok(if args.json { result.to_json() } else { experiment_summary(&exp, &result) })
}

/// The summary table of an experiment's result: per point of the first run, the vmstat
/// swap counters and each cgroup's memory.current / zswap.current, then the notes.
fn experiment_summary(exp: &vswap_sim::experiment::Experiment, r: &vswap_sim::experiment::ExperimentResult) -> String {
    let mut out = format!(
        "{} (vswap-sim, as kernel {}): {}
",
        r.experiment, r.kernel, exp.description
    );
    let (profile, _) = vswap_sim::experiment::KernelProfile::for_kernel(&r.kernel);
    out.push_str(&format!("kernel profile {}\n", profile.describe()));
    for (i, run) in r.runs.iter().enumerate() {
        out.push_str(&format!("\nrun {i} (seed {}, {} ticks)\n", run.seed.unwrap_or(0), run.ticks.unwrap_or(0)));
        let vm = ["zswpout", "zswpin", "zswpwb", "pswpout", "pswpin", "swpout_zero", "pgmajfault"];
        let mut head: Vec<String> = vec!["point".into()];
        head.extend(vm.iter().map(|s| s.to_string()));
        head.push("pool_limit_hit".into());
        for c in &exp.cgroups {
            head.push(format!("{} current", c.path));
            head.push(format!("{} zswap", c.path));
            head.push(format!("{} oom", c.path));
        }
        let mut rows = vec![head];
        for p in &run.points {
            let mut row = vec![p.name.clone()];
            row.extend(vm.iter().map(|k| p.vmstat.get(*k).map_or("-".into(), u64::to_string)));
            row.push(p.zswap.get("pool_limit_hit").map_or("-".into(), u64::to_string));
            for c in &exp.cgroups {
                let m = p.memcg.get(&c.path);
                row.push(m.map_or("-".into(), |m| m.current.to_string()));
                row.push(m.map_or("-".into(), |m| m.zswap_current.to_string()));
                row.push(m.and_then(|m| m.events.get("oom")).map_or("-".into(), u64::to_string));
            }
            rows.push(row);
        }
        let cols = rows[0].len();
        let width: Vec<usize> = (0..cols).map(|i| rows.iter().map(|r| r[i].len()).max().unwrap_or(0)).collect();
        for row in &rows {
            let cells: Vec<String> = (row.iter().enumerate())
                .map(|(i, c)| if i == 0 { format!("{c:<w$}", w = width[i]) } else { format!("{c:>w$}", w = width[i]) })
                .collect();
            out.push_str(cells.join("  ").trim_end());
            out.push('\n');
        }
    }
    if !r.settings.notes.is_empty() {
        out.push_str("\nnot honoured by the simulator:\n");
        for n in &r.settings.notes {
            out.push_str(&format!("  - {n}\n"));
        }
    }
    out
}

/// `vswap-sim compare FILE.toml`: the simulation against every recording (or `--kernel`'s).
fn compare(args: &CompareArgs) -> Result<String, Failure> {
    use vswap_sim::experiment::compare::{self as cmp, CompareError};
    use vswap_sim::experiment::{Experiment, run};
    let exp = Experiment::load(&args.experiment)?;
    let kernels: Vec<String> = match &args.kernel {
        Some(k) => vec![k.clone()],
        None => {
            exp.kernels.iter().filter(|k| cmp::recording_path(&args.experiment, &exp, k).exists()).cloned().collect()
        }
    };
    if kernels.is_empty() {
        let dir = cmp::recording_path(&args.experiment, &exp, "K");
        let dir = dir.parent().map_or(String::new(), |d| d.display().to_string());
        return Err(CompareError::NoRecording { experiment: exp.name.clone(), dir }.into());
    }
    let recordings = (kernels.iter())
        .map(|k| Ok((k, cmp::load_recording(&cmp::recording_path(&args.experiment, &exp, k), &exp)?)))
        .collect::<Result<Vec<_>, CompareError>>()?;
    // Each kernel simulated with its own profile, once per profile that acts differently.
    let sims = run::run_kernels(&exp, &kernels)?;
    let comparisons: Vec<_> =
        recordings.iter().zip(&sims).map(|((k, rec), sim)| cmp::compare(&exp, k, rec, sim)).collect();
    if comparisons.iter().any(cmp::Comparison::fails) {
        FAILED_VERDICTS.store(true, Ordering::Relaxed);
    }
    Ok(if args.json {
        let mut s = serde_json::to_string_pretty(&comparisons)?;
        s.push('\n');
        s
    } else {
        comparisons.iter().map(cmp::render_table).collect::<Vec<_>>().join("\n")
    })
}

/// Write the report to stdout; a closed pipe (`| head`) ends the program quietly.
fn emit(text: &str) -> Result<(), Failure> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        r => Ok(r?),
    }
}

/// The footprint report, as before the simulator: the fill levels and the backends.
fn footprint(args: &FootprintArgs) -> Result<String, Failure> {
    let (slots, cpus) = (args.slots, args.cpus.clamp(1, 4096) as usize);
    let heap = || Some(LIVE.load(Ordering::Relaxed) as u64);
    use vswap_sim::footprint::{Backend, measure, measure_backend, render, render_backends};
    let report = measure(slots, cpus, &heap)?;
    let backed = [measure_backend(slots, cpus, Backend::Zswap)?, measure_backend(slots, cpus, Backend::Device)?];
    Ok(render(slots, &report) + &render_backends(&backed))
}

/// The scenarios and the built-in workloads, names aligned.
fn list() -> String {
    let width = scenario::SCENARIOS.iter().chain(Workload::BUILTINS).map(|(n, _)| n.len()).max().unwrap_or(0);
    let mut out = String::from("scenarios (vswap-sim run SCENARIO; the first is the default):\n");
    for (name, about) in scenario::SCENARIOS {
        out.push_str(&format!("  {name:<width$}  {about}\n"));
    }
    out.push_str("\nbuilt-in workloads (the scenarios' own; --workload FILE replaces the active one):\n");
    for (name, about) in Workload::BUILTINS {
        out.push_str(&format!("  {name:<width$}  {about}\n"));
    }
    out
}

/// Run a scenario with a progress bar and render its report.
fn run(args: RunArgs) -> Result<String, Failure> {
    if let Some(path) = args.scenario.as_deref().filter(|s| s.ends_with(".toml")) {
        return run_experiment(std::path::Path::new(path), &args);
    }
    for (flag, set) in [("--runs", args.runs.is_some()), ("--kernel", args.kernel.is_some())] {
        if set {
            return Err(format!("{flag} applies to experiment files (FILE.toml)").into());
        }
    }
    let defaults = Options::default();
    let name = args.scenario.as_deref().or(scenario::SCENARIOS.first().map(|s| s.0)).unwrap_or("proactive-shrink");
    let workload = match &args.workload {
        // `file:line: message` as the workload module words it.
        Some(path) => Some(Workload::load(path)?),
        None => None,
    };
    let opts =
        Options { seed: args.seed.unwrap_or(defaults.seed), scale: args.scale.unwrap_or(defaults.scale), workload };
    let mut bars = Bars::default();
    let start = Instant::now();
    let result = scenario::run(name, &opts, &mut |p| bars.update(p));
    let wall = start.elapsed();
    bars.finish();
    let r = result?;
    if let Some(dir) = &args.plot {
        let paths = plot::write_svgs(&r, dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        for p in paths {
            eprintln!("{}", p.display());
        }
    }
    if args.bench {
        let events: u64 = r.runs.iter().map(|run| run.events).sum();
        let secs = wall.as_secs_f64();
        let rate = if secs > 0.0 { events as f64 / secs } else { 0.0 };
        eprintln!("events: {events}, wall: {secs:.3} s, events/s: {rate:.0}");
    }
    Ok(if args.json {
        report::to_json(&r)
    } else if args.csv {
        report::to_csv(&r)
    } else {
        report::render_table(&r)
    })
}

/// One progress bar per run on stderr, made visible only once its run has lasted a
/// second (and drawn only on a terminal: `ProgressDrawTarget::stderr` draws nothing
/// otherwise), and updated at most every 1 % of the run's ticks.
#[derive(Default)]
struct Bars {
    current: Option<Bar>,
}

/// The bar of the run in progress.
struct Bar {
    run: String,
    bar: ProgressBar,
    started: Instant,
    /// The tick count at which to update the bar next.
    next: u64,
    shown: bool,
}

impl Bars {
    /// The scenario's progress callback: cheap (two comparisons) between updates.
    fn update(&mut self, p: &Progress) {
        if self.current.as_ref().is_none_or(|b| b.run != p.run) {
            self.finish();
            let bar = ProgressBar::with_draw_target(Some(p.total), ProgressDrawTarget::hidden());
            let style =
                ProgressStyle::with_template("{prefix:>12} [{bar:40}] {percent:>3}% {pos}/{len} ticks, eta {eta}")
                    .map(|s| s.progress_chars("=> "));
            if let Ok(style) = style {
                bar.set_style(style);
            }
            bar.set_prefix(p.run.clone());
            self.current = Some(Bar { run: p.run.clone(), bar, started: Instant::now(), next: 0, shown: false });
        }
        let Some(b) = self.current.as_mut() else { return };
        if p.done < b.next && p.done < p.total {
            return;
        }
        b.next = p.done.saturating_add((p.total / 100).max(1));
        if !b.shown && b.started.elapsed() >= Duration::from_secs(1) {
            b.bar.set_draw_target(ProgressDrawTarget::stderr());
            b.shown = true;
        }
        b.bar.set_length(p.total);
        b.bar.set_position(p.done);
    }

    /// Leave the finished run's bar on screen (if it was shown).
    fn finish(&mut self) {
        if let Some(b) = self.current.take() {
            if b.shown {
                b.bar.finish();
            }
        }
    }
}
