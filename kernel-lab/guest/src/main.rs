//! `vswap-lab-guest`: the kernel lab's guest program (kernel-lab/README.md).
//!
//! In the QEMU guest (kernel-lab/boot runs it as `/lab/program /lab/input`):
//! `vswap-lab-guest EXPERIMENT` (a file, or a directory holding `experiments/NAME.toml`
//! and `workloads/`) reads the experiment and its workloads with vswap-sim's own types,
//! sets the kernel up (vm and zswap knobs, swap devices with their priorities, the
//! cgroup tree), runs one process per task on real memory with the generator's events
//! and `fill_page`'s bytes, and prints the result JSON of one run. It refuses to touch
//! any knob unless `KERNEL_LAB_GUEST=1` (set by the guest's init only).
//!
//! On the host (used by kernel-lab/run and kernel-lab/smoke; reads files only):
//! * `merge FILE...` — one recording with every run of the files (same experiment, same
//!   kernel), on stdout;
//! * `summary FILE` — the compared counters per run, their mean and spread;
//! * `check EXPERIMENT RECORDING NEW` — NEW's compared counters against RECORDING's,
//!   within the comparison's tolerance (max(10 % of the recording, 1 % of the
//!   experiment's pages); `killed` exact); exit status 1 when one is outside.
//! * `machine EXPERIMENT` — `key=value` lines for kernel-lab/run: the experiment's name,
//!   its swap disks (`NAME:MIB` words), RAM and CPUs.

mod experiment;
mod plan;
mod points;
mod result;
mod run;
mod setup;
mod sys;
mod task;

use result::{Recording, compared, mean_spread};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Bytes in a page.
pub const PAGE: usize = 4096;

const USAGE: &str = "usage: vswap-lab-guest EXPERIMENT            (in the kernel-lab guest)
       vswap-lab-guest merge FILE...
       vswap-lab-guest summary FILE
       vswap-lab-guest check EXPERIMENT RECORDING NEW
       vswap-lab-guest machine EXPERIMENT";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let r = match args.first().map(String::as_str) {
        Some("merge") if args.len() >= 2 => merge(&args[1..]),
        Some("summary") if args.len() == 2 => summary(&args[1]),
        Some("check") if args.len() == 4 => check(&args[1], &args[2], &args[3]),
        Some("machine") if args.len() == 2 => machine(&args[1]),
        Some("-h" | "--help") => {
            println!("{USAGE}");
            Ok(true)
        }
        Some(path) if args.len() == 1 && !["merge", "summary", "check", "machine"].contains(&path) => guest(path),
        _ => Err(USAGE.to_string()),
    };
    match r {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("vswap-lab-guest: {e}");
            ExitCode::from(2)
        }
    }
}

/// The experiment file of a path: the file itself, or the single `experiments/*.toml`
/// of a directory (the bundle kernel-lab/run puts into the guest).
fn experiment_file(path: &str) -> Result<PathBuf, String> {
    let p = Path::new(path);
    if !p.is_dir() {
        return Ok(p.to_path_buf());
    }
    let dir = p.join("experiments");
    let files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .flatten()
        .map(|e| e.path())
        .filter(|f| f.extension().is_some_and(|x| x == "toml"))
        .collect();
    match files.as_slice() {
        [f] => Ok(f.clone()),
        _ => Err(format!("{} must hold exactly one experiment, found {}", dir.display(), files.len())),
    }
}

fn guest(path: &str) -> Result<bool, String> {
    let plan = experiment::load(&experiment_file(path)?)?;
    // The knobs are meant for the lab's QEMU guest only (zswap, swap devices, cgroup
    // limits): refuse them anywhere else (kernel-lab/boot's init sets KERNEL_LAB_GUEST=1).
    if std::env::var("KERNEL_LAB_GUEST").as_deref() != Ok("1") {
        return Err("refusing to touch kernel knobs outside the kernel-lab guest (KERNEL_LAB_GUEST != 1)".into());
    }
    let rec = run::run(&plan)?;
    print!("{}", rec.to_json());
    Ok(true)
}

fn read_recording(path: &str) -> Result<Recording, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    Recording::from_json(&text).map_err(|e| format!("{path}: {e}"))
}

fn merge(files: &[String]) -> Result<bool, String> {
    let recs = files.iter().map(|f| read_recording(f)).collect::<Result<Vec<_>, _>>()?;
    let rec = result::merge(recs)?;
    print!("{}", rec.to_json());
    Ok(true)
}

/// Per counter: the values of each run.
fn per_counter(rec: &Recording) -> Result<BTreeMap<&'static str, Vec<f64>>, String> {
    let mut out: BTreeMap<&'static str, Vec<f64>> = BTreeMap::new();
    for (i, run) in rec.runs.iter().enumerate() {
        let c = compared(run).ok_or_else(|| format!("run {} has no start or end point", i + 1))?;
        for (k, v) in c {
            out.entry(k).or_default().push(v);
        }
    }
    Ok(out)
}

/// The compared counters in their print order.
fn counter_order() -> Vec<&'static str> {
    let mut v: Vec<&'static str> = result::VMSTAT_COMPARED.to_vec();
    v.extend(["pool_limit_hit", "zswap_current", "oom_kill", "killed"]);
    v
}

fn summary(path: &str) -> Result<bool, String> {
    let rec = read_recording(path)?;
    let c = per_counter(&rec)?;
    let secs: Vec<String> = rec.runs.iter().map(|r| format!("{:.1}", r.seconds)).collect();
    println!("{} on {}: {} runs ({} s)", rec.experiment, rec.kernel, rec.runs.len(), secs.join(" / "));
    println!("  {:<15} {:>14} {:>8}  runs", "counter", "mean", "spread");
    for k in counter_order() {
        let v = &c[k];
        let (mean, spread) = mean_spread(v);
        let runs: Vec<String> = v.iter().map(|x| format!("{x:.0}")).collect();
        println!("  {k:<15} {mean:>14.1} {:>7.2}%  {}", spread * 100.0, runs.join(" / "));
    }
    Ok(true)
}

fn check(experiment: &str, recording: &str, new: &str) -> Result<bool, String> {
    let plan = experiment::load(&experiment_file(experiment)?)?;
    let pages: u64 = plan.tasks.iter().map(|t| t.workload.pages()).sum();
    let (old, new) = (read_recording(recording)?, read_recording(new)?);
    for r in [&old, &new] {
        if r.experiment != plan.name {
            return Err(format!("a recording of {:?} is not one of {:?}", r.experiment, plan.name));
        }
    }
    let (a, b) = (per_counter(&old)?, per_counter(&new)?);
    let mut ok = true;
    println!(
        "{}: {} ({} runs) against the recording on {} ({} runs)",
        plan.name,
        new.kernel,
        new.runs.len(),
        old.kernel,
        old.runs.len()
    );
    for k in counter_order() {
        let (rec_mean, spread) = mean_spread(&a[k]);
        let (now, _) = mean_spread(&b[k]);
        // 1 % of the pages, in bytes for zswap_current; killed is exact.
        let unit = if k == "zswap_current" { PAGE as f64 } else { 1.0 };
        let tolerance = if k == "killed" { 0.0 } else { (0.1 * rec_mean.abs()).max(0.01 * pages as f64 * unit) };
        // pgmajfault is shown, not judged (informative only, as in `vswap-sim compare`).
        let judged = k != "pgmajfault";
        let within = (now - rec_mean).abs() <= tolerance;
        let verdict = match (judged, within) {
            (false, _) => "-",
            (true, true) => "ok",
            (true, false) => "OUTSIDE",
        };
        ok &= !judged || within;
        println!(
            "  {k:<15} recorded {rec_mean:>12.1} ±{:>5.1}%  now {now:>12.1}  (±{tolerance:.0})  {verdict}",
            spread * 100.0
        );
    }
    Ok(ok)
}

fn machine(path: &str) -> Result<bool, String> {
    let plan = experiment::load(&experiment_file(path)?)?;
    let disks: Vec<String> = plan.swaps.iter().map(|s| format!("{}:{}", s.name, s.mib)).collect();
    println!("name={}", plan.name);
    println!("swap_disks={}", disks.join(" "));
    println!("ram_mib={}", plan.ram_mib);
    println!("cpus={}", plan.cpus);
    println!("kernels={}", plan.kernels.join(" "));
    Ok(true)
}
