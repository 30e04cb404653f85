//! The result JSON (`kernel-lab/results/<name>/<kernel>.json`): written by the lab's
//! guest program from a real kernel and by `vswap-sim run FILE.toml --json` from the
//! simulator, in the same schema, read back by `vswap-sim compare`.
//!
//! Invariants: every map is a `BTreeMap`, so the same result serialises to the same
//! bytes; every field a reader may lack is `#[serde(default)]`, so a recording with
//! fewer files (6.12 has no `decompress_fail`) still reads.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Who produced a result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Source {
    /// A real kernel in the lab's QEMU guest.
    Kernel,
    /// `vswap-sim run`.
    VswapSim,
}

/// One experiment's result: one or more runs of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExperimentResult {
    /// The experiment's name.
    pub experiment: String,
    /// Who produced it: a kernel in the lab, or `vswap-sim`.
    pub source: Source,
    /// The kernel: its release (`uname -r`, `7.3.4+deb13-amd64`) from the guest; the
    /// kernel version the simulation stands for (`7.3`) from `vswap-sim`.
    pub kernel: String,
    /// The set-up as read back after it was written.
    pub settings: Settings,
    /// The runs (a recording has at least 2).
    pub runs: Vec<Run>,
}

/// The experiment's set-up as applied: read back from the kernel's files by the guest,
/// as resolved by the simulator.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Settings {
    /// The machine.
    #[serde(default)]
    pub machine: MachineSettings,
    /// The vm knobs.
    #[serde(default)]
    pub vm: VmSettings,
    /// zswap's parameters.
    #[serde(default)]
    pub zswap: ZswapSettings,
    /// Per cgroup path: file name (`memory.max`, …) → its contents as read back
    /// (`67108864`, `max`, `1`).
    #[serde(default)]
    pub cgroups: BTreeMap<String, BTreeMap<String, String>>,
    /// What the producer could not honour, one sentence each (e.g. the simulator has
    /// no MGLRU). Empty when everything was applied as asked.
    #[serde(default)]
    pub notes: Vec<String>,
    /// The simulator only: the kernel profile it simulated (`7.3`, `6.12`, `mainline`;
    /// `vswap_sim::experiment::KernelProfile`). Absent from a kernel's recording.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel_profile: Option<String>,
}

/// The machine: RAM and CPUs as the guest sees them (`MemTotal`, `nproc`; the
/// simulator gives the experiment's) and `/proc/swaps`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct MachineSettings {
    /// `MemTotal` in KiB from the guest; the experiment's RAM in KiB from the simulator.
    #[serde(default)]
    pub mem_total_kib: u64,
    /// CPUs (`nproc` in the guest).
    #[serde(default)]
    pub cpus: u32,
    /// The swap devices, as `/proc/swaps` lists them.
    #[serde(default)]
    pub swap: Vec<SwapSettings>,
}

/// One line of `/proc/swaps`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SwapSettings {
    /// The experiment's device name.
    pub name: String,
    /// Size in KiB as `/proc/swaps` gives it (the header page left out).
    pub size_kib: u64,
    /// Its swap priority (`swapon -p`).
    pub priority: i16,
}

/// The vm knobs as read back.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct VmSettings {
    /// `classic` or `mglru` (`/sys/kernel/mm/lru_gen/enabled`: `0x0000` is classic).
    #[serde(default)]
    pub lru: String,
    /// `/proc/sys/vm/page-cluster` (readahead of 2^n pages).
    #[serde(default)]
    pub page_cluster: u32,
    /// `/proc/sys/vm/swappiness`.
    #[serde(default)]
    pub swappiness: u32,
}

/// `/sys/module/zswap/parameters/*` as read back.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ZswapSettings {
    /// `enabled`.
    #[serde(default)]
    pub enabled: bool,
    /// `compressor` (`lz4`).
    #[serde(default)]
    pub compressor: String,
    /// `max_pool_percent`.
    #[serde(default)]
    pub max_pool_percent: u32,
    /// `accept_threshold_percent`.
    #[serde(default)]
    pub accept_threshold_percent: u32,
    /// `shrinker_enabled`.
    #[serde(default)]
    pub shrinker_enabled: bool,
}

/// One run: counters at each point, and what happened to each task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Run {
    /// Wall time from `start` to `end` (the guest's clock); 0 from the simulator, whose
    /// output reads no clock (its logical time is `ticks`).
    pub seconds: f64,
    /// Logical ticks simulated (the simulator only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticks: Option<u64>,
    /// The seed of task 0 in this run (the simulator only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// `start`, one per phase of task 0, `end`, in that order.
    pub points: Vec<Point>,
    /// One per task, in the experiment's order.
    pub tasks: Vec<TaskOutcome>,
}

/// The counters read at one point.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Point {
    /// `start`, a phase name of task 0, or `end`.
    pub name: String,
    /// `/proc/vmstat`, every key (the simulator: the keys it models).
    #[serde(default)]
    pub vmstat: BTreeMap<String, u64>,
    /// `/sys/kernel/debug/zswap/*`, every file.
    #[serde(default)]
    pub zswap: BTreeMap<String, u64>,
    /// Per cgroup path (the experiment's cgroups).
    #[serde(default)]
    pub memcg: BTreeMap<String, MemcgPoint>,
}

/// One cgroup's files at one point. Sizes in bytes, events in counts.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct MemcgPoint {
    /// `memory.current`.
    #[serde(rename = "memory.current", default)]
    pub current: u64,
    /// `memory.swap.current`.
    #[serde(rename = "memory.swap.current", default)]
    pub swap_current: u64,
    /// `memory.zswap.current`.
    #[serde(rename = "memory.zswap.current", default)]
    pub zswap_current: u64,
    /// `memory.peak`.
    #[serde(rename = "memory.peak", default)]
    pub peak: u64,
    /// `memory.stat`, every key.
    #[serde(rename = "memory.stat", default)]
    pub stat: BTreeMap<String, u64>,
    /// `memory.events` (`low high max oom oom_kill oom_group_kill`).
    #[serde(rename = "memory.events", default)]
    pub events: BTreeMap<String, u64>,
    /// `memory.swap.events` (`high max fail`).
    #[serde(rename = "memory.swap.events", default)]
    pub swap_events: BTreeMap<String, u64>,
}

/// What happened to one task.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TaskOutcome {
    /// Its cgroup's path.
    pub cgroup: String,
    /// Killed by the OOM killer (it stopped; the others went on).
    pub killed: bool,
}

impl ExperimentResult {
    /// The result as pretty JSON, with a final newline.
    pub fn to_json(&self) -> String {
        // Serialising plain maps, strings and numbers cannot fail; a NaN `seconds`
        // becomes `null`, which serde_json writes without an error.
        let mut s = serde_json::to_string_pretty(self).unwrap_or_default();
        s.push('\n');
        s
    }

    /// Reads a result from JSON.
    pub fn from_json(text: &str) -> Result<ExperimentResult, serde_json::Error> {
        serde_json::from_str(text)
    }
}

impl Run {
    /// The point called `name`.
    pub fn point(&self, name: &str) -> Option<&Point> {
        self.points.iter().find(|p| p.name == name)
    }
}
