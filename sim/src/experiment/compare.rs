//! The simulation against a kernel's recording (`vswap-sim compare FILE.toml`): per
//! compared counter ([`COUNTERS`]), the kernel's mean over its runs with the spread,
//! the simulator's value, their ratio and a verdict against the experiment's
//! `[expect.KERNEL]` lists.
//!
//! The counters (kernel-lab/README.md, "Experiment files"):
//! * `zswpout zswpin zswpwb pswpout pswpin swpout_zero pgmajfault`: `/proc/vmstat`
//!   deltas, `end` − `start` (`pgmajfault` is there to be read, it is rarely judged: the
//!   guest's own faults are in it);
//! * `pool_limit_hit`: the debugfs delta, `end` − `start`;
//! * `zswap_current`: `memory.zswap.current` summed over the leaf cgroups at `end`
//!   (bytes);
//! * `oom_kill`: `memory.events` `oom_kill` summed over the leaf cgroups, `end` − `start`;
//! * `killed`: the number of killed tasks.
//!
//! Tolerance: a value agrees when |sim − kernel| <= max(10 % of kernel, 1 % of the
//! workload's pages) — in bytes for `zswap_current` (the pages times 4096); `killed` and
//! `oom_kill` (counts of processes) must be equal. Verdicts: `ok` (agrees and was
//! expected to, or diverges and was expected to), `BROKEN` (expected to agree,
//! diverges), `STALE` (expected to diverge, agrees), `-` (not judged).
//!
//! Invariants: a recording that lacks what a judged counter needs is a
//! [`CompareError`], never a panic or a silent 0.

use super::format::{COUNTERS, Experiment};
use super::result::{ExperimentResult, Point, Run, Source};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::{Path, PathBuf};

/// Why a comparison could not be made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CompareError {
    /// No recording at `path` (or it could not be read).
    Missing {
        /// The recording's path.
        path: String,
        /// The I/O error.
        why: String,
    },
    /// The recording is not a usable result.
    Malformed {
        /// The recording's path.
        path: String,
        /// What is wrong with it.
        why: String,
    },
    /// The experiment has no recording for any of its kernels.
    NoRecording {
        /// The experiment's name.
        experiment: String,
        /// The directory searched (`kernel-lab/results/<name>`).
        dir: String,
    },
}

impl fmt::Display for CompareError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CompareError::Missing { path, why } => write!(f, "{path}: no recording ({why})"),
            CompareError::Malformed { path, why } => write!(f, "{path}: malformed recording: {why}"),
            CompareError::NoRecording { experiment, dir } => {
                write!(f, "experiment {experiment:?} has no recording in {dir} (for any of its kernels)")
            }
        }
    }
}

impl std::error::Error for CompareError {}

/// What the experiment expects of a counter on one kernel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Expected {
    /// Expected to agree within the tolerance.
    Agree,
    /// Expected to diverge, for this reason.
    Diverge(String),
    /// Not listed: not judged.
    NotJudged,
}

/// The verdict on one counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Verdict {
    /// As expected.
    #[serde(rename = "ok")]
    Ok,
    /// Expected to agree, diverges.
    #[serde(rename = "BROKEN")]
    Broken,
    /// Expected to diverge, agrees: the expectation is out of date.
    #[serde(rename = "STALE")]
    Stale,
    /// Not judged.
    #[serde(rename = "-")]
    NotJudged,
}

impl Verdict {
    /// The verdict of a value that `agrees` (or not) under `expected`.
    pub fn of(expected: &Expected, agrees: bool) -> Verdict {
        match (expected, agrees) {
            (Expected::Agree, true) | (Expected::Diverge(_), false) => Verdict::Ok,
            (Expected::Agree, false) => Verdict::Broken,
            (Expected::Diverge(_), true) => Verdict::Stale,
            (Expected::NotJudged, _) => Verdict::NotJudged,
        }
    }

    /// `ok`, `BROKEN`, `STALE` or `-`.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Ok => "ok",
            Verdict::Broken => "BROKEN",
            Verdict::Stale => "STALE",
            Verdict::NotJudged => "-",
        }
    }

    /// BROKEN or STALE: `compare` exits 1, the agreement test fails.
    pub fn fails(self) -> bool {
        matches!(self, Verdict::Broken | Verdict::Stale)
    }
}

/// One counter compared.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Row {
    /// The counter (`zswpout`, `oom_kill`, …; kernel-lab/README.md lists them).
    pub counter: String,
    /// The kernel's mean over its runs; None when the recording lacks it (not judged).
    pub kernel: Option<f64>,
    /// (max − min) / mean over the kernel's runs (0 when the mean is 0).
    pub spread: Option<f64>,
    /// The simulator's value (None when the simulation lacks it).
    pub sim: Option<f64>,
    /// sim / kernel; None when either is missing or the kernel's is 0.
    pub ratio: Option<f64>,
    /// The largest difference that still agrees.
    pub tolerance: Option<f64>,
    /// Whether |sim − kernel| is within the tolerance; None when not judged.
    pub agrees: Option<bool>,
    /// What the experiment file expects of this counter.
    pub expected: Expected,
    /// `agrees` against `expected`.
    pub verdict: Verdict,
}

/// A comparison with one kernel's recording.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    /// The experiment's name.
    pub experiment: String,
    /// The kernel as the experiment names it (`7.3`).
    pub kernel: String,
    /// The recording's kernel release (`7.3.4+deb13-amd64`).
    pub release: String,
    /// The kernel profile the simulation ran with (`7.3`, `6.12`, `mainline`: its
    /// settings' `kernel_profile`; `mainline` when it names none).
    #[serde(default)]
    pub profile: String,
    /// Runs in the recording.
    pub runs: usize,
    /// The workload's pages (all tasks): 1 % of them is the tolerance's floor.
    pub workload_pages: u64,
    /// One row per compared counter.
    pub rows: Vec<Row>,
}

impl Comparison {
    /// Whether any verdict is BROKEN or STALE.
    pub fn fails(&self) -> bool {
        self.rows.iter().any(|r| r.verdict.fails())
    }
}

/// Where the recording of `exp` (read from `exp_path`) on `kernel` lives:
/// `../results/<name>/<kernel>.json` relative to the experiment's directory.
pub fn recording_path(exp_path: &Path, exp: &Experiment, kernel: &str) -> PathBuf {
    let dir = exp_path.parent().unwrap_or(Path::new("."));
    dir.join("../results").join(&exp.name).join(format!("{kernel}.json"))
}

/// Reads and checks a recording: a kernel's result of this experiment, with at least
/// one run, each with a `start` and an `end` point.
pub fn load_recording(path: &Path, exp: &Experiment) -> Result<ExperimentResult, CompareError> {
    let p = path.display().to_string();
    let text =
        std::fs::read_to_string(path).map_err(|e| CompareError::Missing { path: p.clone(), why: e.to_string() })?;
    let r = ExperimentResult::from_json(&text)
        .map_err(|e| CompareError::Malformed { path: p.clone(), why: e.to_string() })?;
    check_recording(&r, exp).map_err(|why| CompareError::Malformed { path: p, why })?;
    Ok(r)
}

/// The checks of [`load_recording`] on a parsed result.
pub fn check_recording(r: &ExperimentResult, exp: &Experiment) -> Result<(), String> {
    if r.experiment != exp.name {
        return Err(format!("it is a recording of {:?}, not {:?}", r.experiment, exp.name));
    }
    if r.source != Source::Kernel {
        return Err("its source is not \"kernel\"".into());
    }
    if r.runs.is_empty() {
        return Err("it has no runs".into());
    }
    for (i, run) in r.runs.iter().enumerate() {
        for p in ["start", "end"] {
            if run.point(p).is_none() {
                return Err(format!("run {i} has no {p:?} point"));
            }
        }
        if run.tasks.len() != exp.tasks.len() {
            return Err(format!("run {i} has {} tasks, the experiment {}", run.tasks.len(), exp.tasks.len()));
        }
    }
    Ok(())
}

/// A counter's value in one run; None when the run lacks it.
pub fn counter(exp: &Experiment, run: &Run, name: &str) -> Option<f64> {
    let (start, end) = (run.point("start")?, run.point("end")?);
    let delta = |get: &dyn Fn(&Point) -> Option<u64>| Some(get(end)? as f64 - get(start)? as f64);
    let leaves = exp.leaf_cgroups();
    match name {
        "zswpout" | "zswpin" | "zswpwb" | "pswpout" | "pswpin" | "swpout_zero" | "pgmajfault" => {
            delta(&|p| p.vmstat.get(name).copied())
        }
        "pool_limit_hit" => delta(&|p| p.zswap.get(name).copied()),
        "zswap_current" => leaves.iter().try_fold(0.0, |s, c| Some(s + end.memcg.get(*c)?.zswap_current as f64)),
        "oom_kill" => delta(&|p| {
            leaves.iter().try_fold(0u64, |s, c| Some(s.saturating_add(*p.memcg.get(*c)?.events.get("oom_kill")?)))
        }),
        "killed" => Some(run.tasks.iter().filter(|t| t.killed).count() as f64),
        _ => None,
    }
}

/// The largest |sim − kernel| that agrees for `name`, given the kernel's mean.
pub fn tolerance(name: &str, kernel: f64, workload_pages: u64) -> f64 {
    match name {
        "killed" | "oom_kill" => 0.0,
        _ => {
            let floor = workload_pages as f64 * 0.01;
            let floor = if name == "zswap_current" { floor * f64::from(vswap::PAGE_SIZE as u32) } else { floor };
            (kernel.abs() * 0.10).max(floor)
        }
    }
}

/// Compares the simulator's result `sim` (its first run) with the kernel's recording
/// `rec` of `exp` on `kernel`. `sim` should be a simulation of that kernel's profile
/// ([`super::run::run_kernels`]); the comparison names the profile it had.
pub fn compare(exp: &Experiment, kernel: &str, rec: &ExperimentResult, sim: &ExperimentResult) -> Comparison {
    let pages = exp.workload_pages();
    let expect = exp.expect.get(kernel);
    let rows = COUNTERS
        .iter()
        .map(|&name| {
            let values: Option<Vec<f64>> = rec.runs.iter().map(|r| counter(exp, r, name)).collect();
            let values = values.filter(|v| !v.is_empty());
            let mean = values.as_ref().map(|v| v.iter().sum::<f64>() / v.len() as f64);
            let spread = values.as_ref().zip(mean).map(|(v, m)| {
                let (lo, hi) = v.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), &x| (l.min(x), h.max(x)));
                if m == 0.0 { 0.0 } else { (hi - lo) / m.abs() }
            });
            let s = sim.runs.first().and_then(|r| counter(exp, r, name));
            let tol = mean.map(|k| tolerance(name, k, pages));
            let agrees = match (mean, s, tol) {
                (Some(k), Some(s), Some(t)) => Some((s - k).abs() <= t),
                _ => None,
            };
            let expected = match expect {
                Some(e) if e.agree.iter().any(|a| a == name) => Expected::Agree,
                Some(e) => e.diverge.get(name).map_or(Expected::NotJudged, |why| Expected::Diverge(why.clone())),
                None => Expected::NotJudged,
            };
            // A value missing on either side cannot be judged: it fails an expectation.
            let verdict = match agrees {
                Some(a) => Verdict::of(&expected, a),
                None if expected == Expected::NotJudged => Verdict::NotJudged,
                None => Verdict::Broken,
            };
            let ratio = match (s, mean) {
                (Some(s), Some(k)) if k != 0.0 => Some(s / k),
                _ => None,
            };
            Row {
                counter: name.to_owned(),
                kernel: mean,
                spread,
                sim: s,
                ratio,
                tolerance: tol,
                agrees,
                expected,
                verdict,
            }
        })
        .collect();
    Comparison {
        experiment: exp.name.clone(),
        kernel: kernel.to_owned(),
        release: rec.kernel.clone(),
        profile: sim.settings.kernel_profile.clone().unwrap_or_else(|| "mainline".into()),
        runs: rec.runs.len(),
        workload_pages: pages,
        rows,
    }
}

/// A number with thousands separators (`12,345`), or `12.3` style below 1000 when it has
/// a fraction.
fn num(x: f64) -> String {
    if !x.is_finite() {
        return "-".into();
    }
    let r = x.round();
    if (x - r).abs() > 1e-9 && x.abs() < 1000.0 {
        return format!("{x:.1}");
    }
    let digits = format!("{}", r.abs() as u64);
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if r < 0.0 { format!("-{out}") } else { out }
}

/// The comparison as a terminal table, then the reasons of the expected divergences.
pub fn render_table(c: &Comparison) -> String {
    let mut out = format!(
        "{} vs kernel {} ({}, {} run{}; simulated with kernel profile {}); tolerance: 10 % or {} pages (1 % of {})\n",
        c.experiment,
        c.kernel,
        c.release,
        c.runs,
        if c.runs == 1 { "" } else { "s" },
        c.profile,
        num(c.workload_pages as f64 * 0.01),
        num(c.workload_pages as f64)
    );
    let rows: Vec<[String; 5]> = c
        .rows
        .iter()
        .map(|r| {
            let kernel = match (r.kernel, r.spread) {
                (Some(k), Some(s)) => format!("{} ± {:.1} %", num(k), s * 100.0),
                _ => "n/a".into(),
            };
            let sim = r.sim.map_or("n/a".into(), num);
            let ratio = r.ratio.map_or("-".into(), |x| format!("{x:.3}"));
            [r.counter.clone(), kernel, sim, ratio, r.verdict.as_str().to_owned()]
        })
        .collect();
    let head = ["counter", "kernel ± spread", "sim", "ratio", "verdict"];
    let mut w = head.map(|h| h.chars().count());
    for r in &rows {
        for (i, cell) in r.iter().enumerate() {
            w[i] = w[i].max(cell.chars().count());
        }
    }
    let line = |cells: [&str; 5]| {
        let pad = |s: &str, n: usize| " ".repeat(n.saturating_sub(s.chars().count()));
        format!(
            "{}{}  {}{}  {}{}  {}{}  {}\n",
            cells[0],
            pad(cells[0], w[0]),
            pad(cells[1], w[1]),
            cells[1],
            pad(cells[2], w[2]),
            cells[2],
            pad(cells[3], w[3]),
            cells[3],
            cells[4]
        )
    };
    out.push_str(&line(head));
    for r in &rows {
        out.push_str(&line([&r[0], &r[1], &r[2], &r[3], &r[4]]));
    }
    for r in &c.rows {
        if let Expected::Diverge(why) = &r.expected {
            out.push_str(&format!("  {} expected to diverge: {why}\n", r.counter));
        }
    }
    out
}
