//! The experiment file (`kernel-lab/experiments/<name>.toml`): its types and its reader.
//!
//! Reading goes as for workload files: serde fills raw structs whose values keep their
//! byte spans (`toml::Spanned`), which catches syntax errors, unknown keys and wrong
//! types; then every value is checked and converted, and a failure names the file and
//! the 1-based line of the value. The workloads the tasks name are read through a
//! resolver ([`Experiment::parse`]); [`Experiment::load`] reads them from
//! `../workloads/<name>.toml` beside the experiment's directory.

use crate::workload::{Workload, WorkloadError};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;
use std::path::Path;
use toml::Spanned;

/// The counters `vswap-sim compare` judges (kernel-lab/README.md, "Experiment files"),
/// in table order. An experiment's `[expect.KERNEL]` lists may name only these.
pub const COUNTERS: &[&str] = &[
    "zswpout",
    "zswpin",
    "zswpwb",
    "pswpout",
    "pswpin",
    "swpout_zero",
    "pgmajfault",
    "pool_limit_hit",
    "zswap_current",
    "oom_kill",
    "killed",
];

/// One experiment: a machine, its knobs, a cgroup tree and the tasks run in it.
#[derive(Debug, Clone, PartialEq)]
pub struct Experiment {
    /// Its name: the file stem.
    pub name: String,
    /// What it shows, in a sentence or two.
    pub description: String,
    /// The kernels it is recorded on / expected to run on (`7.3`, `6.12`), at least one.
    pub kernels: Vec<String>,
    /// `[machine]`: RAM, CPUs and swap devices.
    pub machine: Machine,
    /// `[vm]`: the LRU kind, `page-cluster` and `swappiness`.
    pub vm: Vm,
    /// `[zswap]`: zswap's module parameters.
    pub zswap: Zswap,
    /// The cgroups, created in this order (a parent before its children).
    pub cgroups: Vec<Cgroup>,
    /// The tasks, one process each, at least one. Task 0's phases name the points.
    pub tasks: Vec<Task>,
    /// Cgroup file writes between phases, in file order.
    pub actions: Vec<Action>,
    /// Per kernel: which counters are expected to agree and which to diverge.
    pub expect: BTreeMap<String, Expect>,
    /// The workloads the tasks name, by name.
    pub workloads: BTreeMap<String, Workload>,
}

/// `[machine]`: the guest (QEMU `-m`, `-smp`) and its swap devices.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Machine {
    /// RAM in MiB (>= 64).
    pub ram_mib: u64,
    /// CPUs (1..=64).
    pub cpus: u32,
    /// The swap devices, swapped on in this order.
    pub swap: Vec<SwapDevice>,
}

/// `[[machine.swap]]`: one swap device (`swapon`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SwapDevice {
    /// Unique among the devices.
    pub name: String,
    /// Size in MiB (>= 1).
    pub mib: u64,
    /// The priority as written (`swapon -p`), None when left to the kernel.
    pub priority: Option<i16>,
    /// The priority the device gets: the written one, or the kernel's automatic one
    /// (-2 for the first device without one, then -3, …: `swapon` without
    /// `SWAP_FLAG_PREFER`, `--least_priority`).
    pub effective_priority: i16,
}

/// The LRU kind (`/sys/kernel/mm/lru_gen/enabled`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lru {
    /// The active/inactive lists (`lru_gen/enabled` = `n`).
    Classic,
    /// The multi-generational LRU (`y`; the lab kernels' default).
    Mglru,
}

impl Lru {
    /// The file syntax: `classic` or `mglru`.
    pub fn as_str(self) -> &'static str {
        match self {
            Lru::Classic => "classic",
            Lru::Mglru => "mglru",
        }
    }
}

/// `[vm]`: each None is left as the kernel booted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Vm {
    /// The LRU kind (kernel default: MGLRU).
    pub lru: Option<Lru>,
    /// `/proc/sys/vm/page-cluster`, 0..=31 (kernel default 3: readahead of 8 pages).
    pub page_cluster: Option<u32>,
    /// `/proc/sys/vm/swappiness`, 0..=200 (kernel default 60).
    pub swappiness: Option<u32>,
}

/// `[zswap]`: `/sys/module/zswap/parameters/*`; each None is left as the kernel booted.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Zswap {
    /// `enabled` (the lab kernels boot with zswap off).
    pub enabled: Option<bool>,
    /// `compressor` (the lab kernels boot with `lzo`).
    pub compressor: Option<String>,
    /// `max_pool_percent`, 0..=100 (default 20).
    pub max_pool_percent: Option<u32>,
    /// `accept_threshold_percent`, 0..=100 (default 90).
    pub accept_threshold_percent: Option<u32>,
    /// `shrinker_enabled` (default off).
    pub shrinker_enabled: Option<bool>,
}

/// The compressors `[zswap] compressor` accepts (the kernel's crypto names).
pub const COMPRESSORS: &[&str] = &["lz4", "lz4hc", "lzo", "lzo-rle", "zstd", "deflate", "842"];

/// A memory size as cgroup files take it: bytes or `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Size {
    /// A size in bytes.
    Bytes(u64),
    /// `max`: no limit.
    Max,
}

impl Size {
    /// Parses a size the way `memparse` reads cgroup files: a whole number with an
    /// optional `K`, `M`, `G` or `T` suffix (any case, powers of 1024), or `max`.
    pub fn parse(text: &str) -> Option<Size> {
        let t = text.trim();
        if t == "max" {
            return Some(Size::Max);
        }
        let (digits, shift) = match t.as_bytes().last()? {
            b'k' | b'K' => (&t[..t.len() - 1], 10),
            b'm' | b'M' => (&t[..t.len() - 1], 20),
            b'g' | b'G' => (&t[..t.len() - 1], 30),
            b't' | b'T' => (&t[..t.len() - 1], 40),
            _ => (t, 0),
        };
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let n: u64 = digits.parse().ok()?;
        n.checked_mul(1u64 << shift).map(Size::Bytes)
    }

    /// What the guest writes to the file: the bytes in decimal, or `max`.
    pub fn to_kernel_string(self) -> String {
        match self {
            Size::Bytes(b) => b.to_string(),
            Size::Max => "max".to_owned(),
        }
    }

    /// The bytes, None for `max`.
    pub fn bytes(self) -> Option<u64> {
        match self {
            Size::Bytes(b) => Some(b),
            Size::Max => None,
        }
    }
}

/// `[[cgroup]]`: a cgroup under `/sys/fs/cgroup` and the knobs written to it at set-up.
/// Each None is left untouched (the kernel's default, `max` / 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cgroup {
    /// `a` or `a/b` (the parent listed before).
    pub path: String,
    /// `memory.max`.
    pub memory_max: Option<Size>,
    /// `memory.high`.
    pub memory_high: Option<Size>,
    /// `memory.swap.max`.
    pub swap_max: Option<Size>,
    /// `memory.zswap.max`.
    pub zswap_max: Option<Size>,
    /// `memory.zswap.writeback`.
    pub zswap_writeback: Option<bool>,
}

/// `[[task]]`: one process running a workload in a cgroup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Task {
    /// The cgroup's path (one of [`Experiment::cgroups`]).
    pub cgroup: String,
    /// The workload's name (`kernel-lab/workloads/<name>.toml`).
    pub workload: String,
    /// The generator's seed (default 1).
    pub seed: u64,
}

/// `[[action]]`: a cgroup file written after a phase of task 0 (after that point's
/// counters were read).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Action {
    /// A phase name of task 0's workload.
    pub after_phase: String,
    /// The cgroup's path.
    pub cgroup: String,
    /// A cgroup file name (`memory.reclaim`, `memory.max`, …).
    pub file: String,
    /// What is written, as written.
    pub value: String,
}

/// `[expect.KERNEL]`: what a comparison with that kernel's recording expects.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Expect {
    /// Counters expected to agree within the tolerance.
    pub agree: Vec<String>,
    /// Counters expected to diverge, with the reason.
    pub diverge: BTreeMap<String, String>,
}

/// Where [`Experiment::parse`] gets workloads: given a workload's name, its file name
/// (for errors) and text, or why it cannot be read.
pub type WorkloadSource<'a> = dyn FnMut(&str) -> Result<(String, String), String> + 'a;

/// Why an experiment could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorKind {
    /// The file could not be read.
    Io(String),
    /// Not TOML, an unknown key, a missing key or a value of the wrong type.
    Syntax(String),
    /// A value out of range or naming something that does not exist.
    Invalid(String),
    /// A workload a task names could not be read or may not be used.
    Workload(WorkloadError),
}

/// An experiment that could not be read: where, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExperimentError {
    /// The experiment file, as given.
    pub file: String,
    /// The 1-based line of the problem (0 for an I/O error).
    pub line: usize,
    /// What is wrong.
    pub kind: ErrorKind,
}

impl fmt::Display for ExperimentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: ", self.file, self.line)?;
        match &self.kind {
            ErrorKind::Io(m) | ErrorKind::Syntax(m) | ErrorKind::Invalid(m) => f.write_str(m),
            ErrorKind::Workload(e) => write!(f, "workload: {e}"),
        }
    }
}

impl std::error::Error for ExperimentError {}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExperiment {
    name: Spanned<String>,
    #[serde(default)]
    description: String,
    kernels: Spanned<Vec<Spanned<String>>>,
    machine: Spanned<RawMachine>,
    #[serde(default)]
    vm: RawVm,
    #[serde(default)]
    zswap: RawZswap,
    #[serde(default)]
    cgroup: Vec<RawCgroup>,
    #[serde(default)]
    task: Vec<RawTask>,
    #[serde(default)]
    action: Vec<RawAction>,
    #[serde(default)]
    expect: BTreeMap<Spanned<String>, RawExpect>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMachine {
    ram_mib: Spanned<u64>,
    cpus: Option<Spanned<u32>>,
    #[serde(default)]
    swap: Vec<RawSwap>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSwap {
    name: Spanned<String>,
    mib: Spanned<u64>,
    priority: Option<Spanned<i64>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawVm {
    lru: Option<Spanned<String>>,
    page_cluster: Option<Spanned<u64>>,
    swappiness: Option<Spanned<u64>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawZswap {
    enabled: Option<bool>,
    compressor: Option<Spanned<String>>,
    max_pool_percent: Option<Spanned<u64>>,
    accept_threshold_percent: Option<Spanned<u64>>,
    shrinker_enabled: Option<bool>,
}

/// A size written as a number of bytes or as a string (`"64M"`, `"max"`).
#[derive(Deserialize)]
#[serde(untagged)]
enum RawSize {
    Int(u64),
    Text(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCgroup {
    path: Spanned<String>,
    memory_max: Option<Spanned<RawSize>>,
    memory_high: Option<Spanned<RawSize>>,
    swap_max: Option<Spanned<RawSize>>,
    zswap_max: Option<Spanned<RawSize>>,
    zswap_writeback: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTask {
    cgroup: Spanned<String>,
    workload: Spanned<String>,
    seed: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAction {
    after_phase: Spanned<String>,
    cgroup: Spanned<String>,
    file: Spanned<String>,
    value: Spanned<RawSize>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExpect {
    #[serde(default)]
    agree: Vec<Spanned<String>>,
    #[serde(default)]
    diverge: BTreeMap<Spanned<String>, Spanned<String>>,
}

/// The 1-based line of byte `offset` of `text` (an offset at the very end is put on the
/// last line).
fn line_of(text: &str, offset: usize) -> usize {
    let offset = offset.min(text.len());
    let line = text.as_bytes()[..offset].iter().filter(|&&b| b == b'\n').count() + 1;
    line.min(text.lines().count().max(1))
}

/// A name that is safe as a file name and in a path: 1..=64 of `A-Za-z0-9._-`, not
/// starting with a dot.
pub(crate) fn is_plain_name(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && !s.starts_with('.')
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// A failed check: the span of the value and the message.
type Fail = (Range<usize>, ErrorKind);

fn invalid<T>(span: Range<usize>, message: impl Into<String>) -> Result<T, Fail> {
    Err((span, ErrorKind::Invalid(message.into())))
}

fn size_of(raw: &Spanned<RawSize>, what: &str) -> Result<Size, Fail> {
    match raw.get_ref() {
        RawSize::Int(n) => Ok(Size::Bytes(*n)),
        RawSize::Text(t) => match Size::parse(t) {
            Some(s) => Ok(s),
            None => invalid(raw.span(), format!("{what} {t:?} is not a size (bytes, \"64M\", \"1G\" or \"max\")")),
        },
    }
}

impl Experiment {
    /// Parses an experiment file. `file` is only used in errors (and, when it ends in
    /// `.toml`, its stem must equal `name`); `workload` gives the file name and text of
    /// the workload called `name`, or an error message (e.g. the I/O error).
    pub fn parse(file: &str, text: &str, workload: &mut WorkloadSource<'_>) -> Result<Experiment, ExperimentError> {
        let error = |span: Option<Range<usize>>, kind: ErrorKind| ExperimentError {
            file: file.to_owned(),
            line: span.map_or(1, |s| line_of(text, s.start)),
            kind,
        };
        let raw: RawExperiment = toml::from_str(text).map_err(|e| {
            let lines: Vec<&str> = e.message().lines().map(str::trim).filter(|l| !l.is_empty()).collect();
            let message = if lines.is_empty() { "invalid TOML".to_owned() } else { lines.join(": ") };
            error(e.span(), ErrorKind::Syntax(message))
        })?;
        convert(file, &raw, workload).map_err(|(span, kind)| error(Some(span), kind))
    }

    /// Reads `path` and the workloads its tasks name from `../workloads/<name>.toml`
    /// relative to the experiment's directory (kernel-lab/experiments → kernel-lab/workloads).
    pub fn load(path: &Path) -> Result<Experiment, ExperimentError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ExperimentError {
            file: file.clone(),
            line: 0,
            kind: ErrorKind::Io(e.to_string()),
        })?;
        let dir = path.parent().unwrap_or(Path::new(".")).join("../workloads");
        Experiment::parse(&file, &text, &mut |name| {
            let p = dir.join(format!("{name}.toml"));
            match std::fs::read_to_string(&p) {
                Ok(t) => Ok((p.display().to_string(), t)),
                Err(e) => Err(format!("{}: {e}", p.display())),
            }
        })
    }

    /// The workload of task `task`.
    pub fn task_workload(&self, task: usize) -> Option<&Workload> {
        self.workloads.get(&self.tasks.get(task)?.workload)
    }

    /// The pages of all the tasks' workloads together (the base of the tolerance's
    /// "1 % of the workload's pages").
    pub fn workload_pages(&self) -> u64 {
        (0..self.tasks.len()).filter_map(|t| self.task_workload(t)).fold(0u64, |s, w| s.saturating_add(w.pages()))
    }

    /// The point names in order: `start`, each phase of task 0, `end`.
    pub fn point_names(&self) -> Vec<String> {
        let mut v = vec!["start".to_owned()];
        if let Some(w) = self.task_workload(0) {
            v.extend(w.phases.iter().map(|p| p.name.clone()));
        }
        v.push("end".to_owned());
        v
    }

    /// The cgroups with no child among [`Experiment::cgroups`] (the leaves, whose
    /// counters `compare` sums).
    pub fn leaf_cgroups(&self) -> Vec<&str> {
        let cgs = &self.cgroups;
        cgs.iter()
            .map(|c| c.path.as_str())
            .filter(|p| {
                !cgs.iter()
                    .any(|o| o.path.len() > p.len() && o.path.starts_with(p) && o.path.as_bytes()[p.len()] == b'/')
            })
            .collect()
    }
}

fn convert(file: &str, raw: &RawExperiment, resolve: &mut WorkloadSource<'_>) -> Result<Experiment, Fail> {
    let name = raw.name.get_ref();
    if !is_plain_name(name) {
        return invalid(
            raw.name.span(),
            format!("name {name:?} is not 1..=64 of A-Za-z0-9._- (not starting with a dot)"),
        );
    }
    if let Some(stem) = file.strip_suffix(".toml").map(|f| Path::new(f).file_name().map(|s| s.to_string_lossy())) {
        if stem.as_deref() != Some(name.as_str()) {
            return invalid(
                raw.name.span(),
                format!("name {name:?} is not the file's stem {:?}", stem.unwrap_or_default()),
            );
        }
    }
    // kernels
    let mut kernels = Vec::new();
    if raw.kernels.get_ref().is_empty() {
        return invalid(raw.kernels.span(), "kernels is empty (name at least one, e.g. [\"7.3\"])");
    }
    for k in raw.kernels.get_ref() {
        let s = k.get_ref();
        if !is_plain_name(s) || !s.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
            return invalid(k.span(), format!("kernel {s:?} is not a version such as \"7.3\" or \"6.12\""));
        }
        if kernels.contains(s) {
            return invalid(k.span(), format!("kernel {s:?} is listed twice"));
        }
        kernels.push(s.clone());
    }
    // machine
    let m = raw.machine.get_ref();
    let ram_mib = *m.ram_mib.get_ref();
    if !(64..=1 << 20).contains(&ram_mib) {
        return invalid(m.ram_mib.span(), format!("ram_mib {ram_mib} is out of range (64..=1048576)"));
    }
    let cpus = match &m.cpus {
        None => 1,
        Some(c) if (1..=64).contains(c.get_ref()) => *c.get_ref(),
        Some(c) => return invalid(c.span(), format!("cpus {} is out of range (1..=64)", c.get_ref())),
    };
    let mut swap: Vec<SwapDevice> = Vec::new();
    let mut least = -1i16;
    for s in &m.swap {
        let n = s.name.get_ref();
        if !is_plain_name(n) {
            return invalid(s.name.span(), format!("swap name {n:?} is not 1..=64 of A-Za-z0-9._-"));
        }
        if swap.iter().any(|d| &d.name == n) {
            return invalid(s.name.span(), format!("swap device {n:?} is defined twice"));
        }
        let mib = *s.mib.get_ref();
        if !(1..=1 << 24).contains(&mib) {
            return invalid(s.mib.span(), format!("swap mib {mib} is out of range (1..=16777216)"));
        }
        let (priority, effective) = match &s.priority {
            None => {
                least -= 1;
                (None, least)
            }
            // swapon(2) takes 0..=32767 (SWAP_FLAG_PRIO_MASK); a negative one only as
            // the value the kernel would give anyway, so the guest leaves it to it.
            Some(p) => match i16::try_from(*p.get_ref()) {
                Ok(v) if v >= 0 => (Some(v), v),
                Ok(v) if v == least - 1 => {
                    least -= 1;
                    (None, v)
                }
                _ => {
                    return invalid(
                        p.span(),
                        format!(
                            "priority {} is not 0..=32767 (or {}, the kernel's own for this device)",
                            p.get_ref(),
                            least - 1
                        ),
                    );
                }
            },
        };
        swap.push(SwapDevice { name: n.clone(), mib, priority, effective_priority: effective });
    }
    let machine = Machine { ram_mib, cpus, swap };
    // vm
    let lru = match &raw.vm.lru {
        None => None,
        Some(l) => match l.get_ref().as_str() {
            "classic" => Some(Lru::Classic),
            "mglru" => Some(Lru::Mglru),
            other => return invalid(l.span(), format!("lru {other:?} is not \"classic\" or \"mglru\"")),
        },
    };
    let ranged = |v: &Option<Spanned<u64>>, what: &str, max: u64| -> Result<Option<u32>, Fail> {
        match v {
            None => Ok(None),
            Some(x) if *x.get_ref() <= max => Ok(Some(*x.get_ref() as u32)),
            Some(x) => invalid(x.span(), format!("{what} {} is out of range (0..={max})", x.get_ref())),
        }
    };
    let vm = Vm {
        lru,
        page_cluster: ranged(&raw.vm.page_cluster, "page_cluster", 31)?,
        swappiness: ranged(&raw.vm.swappiness, "swappiness", 200)?,
    };
    // zswap
    let z = &raw.zswap;
    let compressor = match &z.compressor {
        None => None,
        Some(c) if COMPRESSORS.contains(&c.get_ref().as_str()) => Some(c.get_ref().clone()),
        Some(c) => {
            return invalid(c.span(), format!("compressor {:?} is not one of {}", c.get_ref(), COMPRESSORS.join(", ")));
        }
    };
    let zswap = Zswap {
        enabled: z.enabled,
        compressor,
        max_pool_percent: ranged(&z.max_pool_percent, "max_pool_percent", 100)?,
        accept_threshold_percent: ranged(&z.accept_threshold_percent, "accept_threshold_percent", 100)?,
        shrinker_enabled: z.shrinker_enabled,
    };
    // cgroups
    let mut cgroups: Vec<Cgroup> = Vec::new();
    for c in &raw.cgroup {
        let p = c.path.get_ref();
        let parts: Vec<&str> = p.split('/').collect();
        if p.len() > 255 || parts.iter().any(|s| !is_plain_name(s)) {
            return invalid(c.path.span(), format!("cgroup path {p:?} is not names of A-Za-z0-9._- joined by /"));
        }
        if cgroups.iter().any(|o| &o.path == p) {
            return invalid(c.path.span(), format!("cgroup {p:?} is defined twice"));
        }
        if let Some((parent, _)) = p.rsplit_once('/') {
            if !cgroups.iter().any(|o| o.path == parent) {
                return invalid(c.path.span(), format!("cgroup {p:?}: its parent {parent:?} is not defined before it"));
            }
        }
        let opt = |v: &Option<Spanned<RawSize>>, what: &str| v.as_ref().map(|s| size_of(s, what)).transpose();
        cgroups.push(Cgroup {
            path: p.clone(),
            memory_max: opt(&c.memory_max, "memory_max")?,
            memory_high: opt(&c.memory_high, "memory_high")?,
            swap_max: opt(&c.swap_max, "swap_max")?,
            zswap_max: opt(&c.zswap_max, "zswap_max")?,
            zswap_writeback: c.zswap_writeback,
        });
    }
    let cgroup_exists = |s: &Spanned<String>| -> Result<String, Fail> {
        let p = s.get_ref();
        if cgroups.iter().any(|c| &c.path == p) {
            Ok(p.clone())
        } else {
            let names: Vec<&str> = cgroups.iter().map(|c| c.path.as_str()).collect();
            invalid(s.span(), format!("cgroup {p:?} is not defined (cgroups: {})", names.join(", ")))
        }
    };
    // tasks and their workloads
    if raw.task.is_empty() {
        return invalid(raw.name.span(), "no tasks (add a [[task]] table)");
    }
    let mut tasks = Vec::new();
    let mut workloads = BTreeMap::new();
    for t in &raw.task {
        let cgroup = cgroup_exists(&t.cgroup)?;
        let wname = t.workload.get_ref();
        if !is_plain_name(wname) {
            return invalid(t.workload.span(), format!("workload {wname:?} is not 1..=64 of A-Za-z0-9._-"));
        }
        if !workloads.contains_key(wname) {
            let werr = |e: WorkloadError| (t.workload.span(), ErrorKind::Workload(e));
            let (wfile, wtext) =
                resolve(wname).map_err(|m| werr(WorkloadError { file: wname.clone(), line: 0, message: m }))?;
            let w = Workload::parse(&wfile, &wtext).map_err(werr)?;
            if let Some(r) = w.regions.iter().find(|r| !r.data.is_byte_exact()) {
                return invalid(
                    t.workload.span(),
                    format!(
                        "workload {wname:?}: region {:?} has data {:?}, which no process can write (use zero, \
                         random, text or zero-fraction:F)",
                        r.name,
                        r.data.to_string()
                    ),
                );
            }
            if w.pages() > crate::mm::MAX_TASK_PAGES {
                return invalid(t.workload.span(), format!("workload {wname:?} has more than 2^28 pages"));
            }
            if w.name != *wname {
                return invalid(t.workload.span(), format!("workload file {wname:?} names itself {:?}", w.name));
            }
            workloads.insert(wname.clone(), w);
        }
        tasks.push(Task { cgroup, workload: wname.clone(), seed: t.seed.unwrap_or(1) });
    }
    let w0 = &workloads[&tasks[0].workload];
    if let Some((_, p)) = w0.phases.iter().enumerate().find(|(i, p)| w0.phases[..*i].iter().any(|o| o.name == p.name)) {
        return invalid(
            raw.task[0].workload.span(),
            format!("task 0's workload has two phases called {:?}: points are named by phase", p.name),
        );
    }
    if w0.phases.iter().any(|p| p.name == "start" || p.name == "end") {
        return invalid(
            raw.task[0].workload.span(),
            "task 0's workload has a phase called \"start\" or \"end\" (point names)",
        );
    }
    // actions
    let mut actions = Vec::new();
    for a in &raw.action {
        let ph = a.after_phase.get_ref();
        if !w0.phases.iter().any(|p| &p.name == ph) {
            let names: Vec<&str> = w0.phases.iter().map(|p| p.name.as_str()).collect();
            return invalid(
                a.after_phase.span(),
                format!("after_phase {ph:?} is not a phase of task 0's workload (phases: {})", names.join(", ")),
            );
        }
        let cgroup = cgroup_exists(&a.cgroup)?;
        let f = a.file.get_ref();
        let known = f.split('.').count() >= 2
            && f.split('.')
                .all(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'));
        if !known || f.len() > 64 {
            return invalid(a.file.span(), format!("file {f:?} is not a cgroup file name (such as memory.reclaim)"));
        }
        let value = match a.value.get_ref() {
            RawSize::Int(n) => n.to_string(),
            RawSize::Text(t) if !t.trim().is_empty() && t.len() <= 256 && !t.contains(['\n', '\r', '\0']) => t.clone(),
            RawSize::Text(t) => {
                return invalid(a.value.span(), format!("value {t:?} is empty, too long or has a line break"));
            }
        };
        actions.push(Action { after_phase: ph.clone(), cgroup, file: f.clone(), value });
    }
    // expect
    let mut expect = BTreeMap::new();
    for (k, e) in &raw.expect {
        if !kernels.contains(k.get_ref()) {
            return invalid(
                k.span(),
                format!("expect.{:?}: not one of the kernels ({})", k.get_ref(), kernels.join(", ")),
            );
        }
        let mut out = Expect::default();
        let counter = |s: &Spanned<String>| -> Result<String, Fail> {
            if COUNTERS.contains(&s.get_ref().as_str()) {
                Ok(s.get_ref().clone())
            } else {
                invalid(
                    s.span(),
                    format!("counter {:?} is not compared (counters: {})", s.get_ref(), COUNTERS.join(", ")),
                )
            }
        };
        for a in &e.agree {
            let c = counter(a)?;
            if out.agree.contains(&c) {
                return invalid(a.span(), format!("counter {c:?} is listed twice"));
            }
            out.agree.push(c);
        }
        for (c, why) in &e.diverge {
            let name = counter(c)?;
            if out.agree.contains(&name) {
                return invalid(c.span(), format!("counter {name:?} is expected both to agree and to diverge"));
            }
            if why.get_ref().trim().is_empty() {
                return invalid(why.span(), format!("diverge.{name}: give the reason"));
            }
            out.diverge.insert(name, why.get_ref().clone());
        }
        expect.insert(k.get_ref().clone(), out);
    }
    Ok(Experiment {
        name: name.clone(),
        description: raw.description.clone(),
        kernels,
        machine,
        vm,
        zswap,
        cgroups,
        tasks,
        actions,
        expect,
        workloads,
    })
}
