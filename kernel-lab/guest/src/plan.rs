//! What the guest does, resolved from an experiment file: the knobs to write, the swap
//! devices, the cgroups, the tasks with their workloads, the actions, and where the
//! points are taken.

use vswap_sim::workload::Workload;

/// One experiment, resolved for the guest.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The experiment's name.
    pub name: String,
    /// The kernels it is recorded on ("7.3", "6.12").
    pub kernels: Vec<String>,
    /// The guest's memory in MiB (QEMU's -m).
    pub ram_mib: u64,
    /// The guest's CPUs (QEMU's -smp).
    pub cpus: u32,
    /// vm knobs (`/sys/kernel/mm/lru_gen/enabled`, `/proc/sys/vm/...`), written in order.
    pub vm: Vec<Knob>,
    /// zswap module parameters (`/sys/module/zswap/parameters/...`), written in order
    /// (`enabled` last, once the compressor and the limits are in place).
    pub zswap: Vec<Knob>,
    /// The swap devices, swapon'd in this order.
    pub swaps: Vec<Swap>,
    /// The cgroups, created in this order (a parent before its children).
    pub cgroups: Vec<Cgroup>,
    /// The tasks, one process each; task 0's phases name the points.
    pub tasks: Vec<Task>,
    /// Cgroup file writes made after a phase of task 0.
    pub actions: Vec<Action>,
}

/// A file and the value written to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Knob {
    pub path: String,
    pub value: String,
}

/// A swap device of the experiment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Swap {
    /// The experiment's name for it.
    pub name: String,
    /// Its size (the boot script creates the disk; the guest checks /proc/swaps).
    pub mib: u64,
    /// swapon's priority; None keeps the kernel's default.
    pub priority: Option<i32>,
    /// The priority the experiment expects it to get (the kernel's own when None).
    pub effective_priority: i16,
}

/// A cgroup under /sys/fs/cgroup and its knobs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cgroup {
    /// Its path below the root, "a" or "a/b".
    pub path: String,
    /// (cgroup file, value) written after it is created, e.g. ("memory.max", "64M").
    pub knobs: Vec<(String, String)>,
}

/// One task: a process in a cgroup running a workload from a seed.
#[derive(Debug, Clone)]
pub struct Task {
    pub cgroup: String,
    pub workload: Workload,
    pub seed: u64,
}

/// A write to a cgroup file after a phase of task 0.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Action {
    pub after_phase: String,
    pub cgroup: String,
    pub file: String,
    pub value: String,
}

/// The cgroup files read back into the settings.
pub const MEMCG_KNOBS: &[&str] =
    &["memory.max", "memory.high", "memory.swap.max", "memory.zswap.max", "memory.zswap.writeback", "memory.oom.group"];

impl Plan {
    /// The points after the start, as (global tick after which it is taken, name): one
    /// per phase of task 0, at the end of that phase (phases of no ticks give a point at
    /// the same tick as the one before).
    pub fn phase_points(&self) -> Vec<(u64, String)> {
        let mut out = Vec::new();
        if let Some(t0) = self.tasks.first() {
            let mut at = 0u64;
            for p in &t0.workload.phases {
                at = at.saturating_add(p.ticks);
                out.push((at, p.name.clone()));
            }
        }
        out
    }

    /// The number of ticks the run lasts: the longest task's.
    pub fn ticks(&self) -> u64 {
        self.tasks.iter().map(|t| t.workload.ticks()).max().unwrap_or(0)
    }

    /// The cgroups that have children among the experiment's (their
    /// `cgroup.subtree_control` gets `+memory`).
    pub fn parents(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for c in &self.cgroups {
            let mut p = c.path.as_str();
            while let Some((parent, _)) = p.rsplit_once('/') {
                if !out.iter().any(|o| o == parent) {
                    out.push(parent.to_string());
                }
                p = parent;
            }
        }
        out.sort_by_key(|p| p.matches('/').count());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vswap_sim::workload::Workload;

    fn plan(cgroups: &[&str], phases: &[(&str, u64)]) -> Plan {
        let mut text = String::from("name = \"w\"\n[[region]]\nname = \"d\"\npages = 4\ndata = \"zero\"\n");
        for (name, ticks) in phases {
            text += &format!(
                "[[phase]]\nname = \"{name}\"\nticks = {ticks}\naccesses_per_tick = 1\n[[phase.stream]]\nregion = \"d\"\npattern = \"sequential\"\n"
            );
        }
        let w = Workload::parse("w.toml", &text).unwrap();
        Plan {
            name: "p".into(),
            kernels: vec![],
            ram_mib: 1024,
            cpus: 1,
            vm: vec![],
            zswap: vec![],
            swaps: vec![],
            cgroups: cgroups.iter().map(|c| Cgroup { path: (*c).into(), knobs: vec![] }).collect(),
            tasks: vec![
                Task { cgroup: cgroups[0].into(), workload: w.clone(), seed: 1 },
                Task { cgroup: cgroups[0].into(), workload: w, seed: 2 },
            ],
            actions: vec![],
        }
    }

    #[test]
    fn points_follow_task_zero_phases() {
        let p = plan(&["a"], &[("fill", 3), ("read", 2), ("again", 1)]);
        assert_eq!(p.phase_points(), vec![(3, "fill".to_string()), (5, "read".to_string()), (6, "again".to_string())]);
        assert_eq!(p.ticks(), 6);
    }

    #[test]
    fn parents_get_memory_enabled_outermost_first() {
        let p = plan(&["a", "a/b", "a/b/c", "d"], &[("x", 1)]);
        assert_eq!(p.parents(), vec!["a".to_string(), "a/b".to_string()]);
        assert!(plan(&["a", "d"], &[("x", 1)]).parents().is_empty());
    }
}
