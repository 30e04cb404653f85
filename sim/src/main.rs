//! `vswap-sim`: the crate's driver.
//!
//! * `vswap-sim [run] [SCENARIO] [--seed N] [--scale PCT] [--workload FILE] [--json | --csv]
//!   [--plot DIR] [--bench]` runs a scenario (by default the first of
//!   `scenario::SCENARIOS`, `proactive-shrink`) and prints its report on stdout: a table,
//!   or JSON / CSV. `--plot DIR` writes the SVG timelines and names them on stderr;
//!   `--bench` prints the simulated events per second of wall time on stderr.
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
    /// Run a scenario and print its report (the default command).
    Run(RunArgs),
    /// List the scenarios and the built-in workloads.
    List,
    /// Print the metadata footprint of a virtual swap space.
    Footprint(FootprintArgs),
}

#[derive(Args)]
struct RunArgs {
    /// The scenario to run (`vswap-sim list` names them) [default: the first listed]
    scenario: Option<String>,
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
