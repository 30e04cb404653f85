//! From an experiment file (vswap-sim's `experiment::Experiment`, the same reader the
//! simulator uses) to the guest's [`Plan`]: which files get which values, in which order.

use crate::plan::{Action, Cgroup, Knob, Plan, Swap, Task};
use crate::setup::ZSWAP_PARAMS;
use std::path::Path;
use vswap_sim::experiment::{Experiment, Lru};

/// Reads an experiment and its workloads (`../workloads/<name>.toml` from the
/// experiment's directory) and resolves it.
pub fn load(path: &Path) -> Result<Plan, String> {
    let e = Experiment::load(path).map_err(|e| e.to_string())?;
    plan(&e)
}

fn bool_param(b: bool) -> String {
    (if b { "Y" } else { "N" }).to_string()
}

/// Resolves an experiment: the knobs as the kernel files take them, the workloads of the
/// tasks. Fails on a page content the guest cannot write (a synthetic `ratio:R` or
/// `incompressible` region), which the experiment reader refuses already.
pub fn plan(e: &Experiment) -> Result<Plan, String> {
    let mut vm = Vec::new();
    if let Some(lru) = e.vm.lru {
        let v = match lru {
            Lru::Classic => "n",
            Lru::Mglru => "y",
        };
        vm.push(Knob { path: "/sys/kernel/mm/lru_gen/enabled".into(), value: v.into() });
    }
    if let Some(pc) = e.vm.page_cluster {
        vm.push(Knob { path: "/proc/sys/vm/page-cluster".into(), value: pc.to_string() });
    }
    if let Some(s) = e.vm.swappiness {
        vm.push(Knob { path: "/proc/sys/vm/swappiness".into(), value: s.to_string() });
    }
    // The compressor and the limits first, `enabled` last: zswap starts with its
    // settings in place.
    let z = &e.zswap;
    let mut zswap = Vec::new();
    let mut param = |name: &str, value: String| zswap.push(Knob { path: format!("{ZSWAP_PARAMS}/{name}"), value });
    if let Some(c) = &z.compressor {
        param("compressor", c.clone());
    }
    if let Some(p) = z.max_pool_percent {
        param("max_pool_percent", p.to_string());
    }
    if let Some(p) = z.accept_threshold_percent {
        param("accept_threshold_percent", p.to_string());
    }
    if let Some(s) = z.shrinker_enabled {
        param("shrinker_enabled", bool_param(s));
    }
    if let Some(en) = z.enabled {
        param("enabled", bool_param(en));
    }
    let swaps = e
        .machine
        .swap
        .iter()
        .map(|s| Swap {
            name: s.name.clone(),
            mib: s.mib,
            priority: s.priority.map(i32::from),
            effective_priority: s.effective_priority,
        })
        .collect();
    let cgroups = e
        .cgroups
        .iter()
        .map(|c| {
            let mut knobs = Vec::new();
            let sizes = [
                ("memory.max", c.memory_max),
                ("memory.high", c.memory_high),
                ("memory.swap.max", c.swap_max),
                ("memory.zswap.max", c.zswap_max),
            ];
            for (file, size) in sizes {
                if let Some(s) = size {
                    knobs.push((file.to_string(), s.to_kernel_string()));
                }
            }
            if let Some(wb) = c.zswap_writeback {
                knobs.push(("memory.zswap.writeback".to_string(), (if wb { "1" } else { "0" }).to_string()));
            }
            Cgroup { path: c.path.clone(), knobs }
        })
        .collect();
    let mut tasks = Vec::new();
    for (i, t) in e.tasks.iter().enumerate() {
        let w = e.task_workload(i).ok_or_else(|| format!("task {i}: no workload {:?}", t.workload))?;
        if let Some(r) = w.regions.iter().find(|r| !r.data.is_byte_exact()) {
            return Err(format!(
                "task {i}: region {:?} of workload {:?} has data {} the guest cannot write",
                r.name, w.name, r.data
            ));
        }
        tasks.push(Task { cgroup: t.cgroup.clone(), workload: w.clone(), seed: t.seed });
    }
    let actions = e
        .actions
        .iter()
        .map(|a| Action {
            after_phase: a.after_phase.clone(),
            cgroup: a.cgroup.clone(),
            file: a.file.clone(),
            value: a.value.clone(),
        })
        .collect();
    Ok(Plan {
        name: e.name.clone(),
        kernels: e.kernels.clone(),
        ram_mib: e.machine.ram_mib,
        cpus: e.machine.cpus,
        vm,
        zswap,
        swaps,
        cgroups,
        tasks,
        actions,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn experiments() -> Vec<std::path::PathBuf> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../experiments");
        let mut v: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .collect();
        v.sort();
        v
    }

    #[test]
    fn every_experiment_of_the_suite_resolves() {
        let files = experiments();
        assert!(files.iter().any(|f| f.ends_with("smoke.toml")), "no smoke experiment among {files:?}");
        for f in files {
            let plan = load(&f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
            assert!(!plan.tasks.is_empty());
            assert_eq!(plan.phase_points().len(), plan.tasks[0].workload.phases.len());
            // zswap's `enabled` is written last, after the compressor.
            if let Some(i) = plan.zswap.iter().position(|k| k.path.ends_with("/enabled")) {
                assert_eq!(i, plan.zswap.len() - 1, "{}", f.display());
            }
            for c in &plan.cgroups {
                for (file, value) in &c.knobs {
                    assert!(file.starts_with("memory."), "{file}");
                    assert!(
                        value == "max" || value.parse::<u64>().is_ok() || file == "memory.zswap.writeback",
                        "{file} = {value}"
                    );
                }
            }
        }
    }

    #[test]
    fn smoke_resolves_to_its_files() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../experiments");
        let plan = load(&dir.join("smoke.toml")).unwrap();
        assert_eq!(plan.name, "smoke");
        let paths: Vec<(&str, &str)> =
            plan.vm.iter().chain(&plan.zswap).map(|k| (k.path.as_str(), k.value.as_str())).collect();
        assert!(paths.contains(&("/sys/kernel/mm/lru_gen/enabled", "n")));
        assert!(paths.contains(&("/proc/sys/vm/page-cluster", "0")));
        assert!(paths.contains(&("/sys/module/zswap/parameters/compressor", "lz4")));
        assert!(paths.contains(&("/sys/module/zswap/parameters/shrinker_enabled", "N")));
        assert_eq!(paths.last(), Some(&("/sys/module/zswap/parameters/enabled", "Y")));
        assert_eq!(plan.cgroups[0].knobs, vec![("memory.max".to_string(), (32u64 << 20).to_string())]);
        assert_eq!(plan.swaps.len(), 1);
        assert_eq!(plan.swaps[0].priority, None);
    }
}
