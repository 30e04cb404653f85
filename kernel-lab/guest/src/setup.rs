//! Puts the guest kernel in the experiment's state: vm and zswap knobs, swap devices
//! (mkswap + swapon(2) with their priorities), the cgroup tree with its knobs; and
//! reads all of it back for the result's `settings`.

use crate::plan::{MEMCG_KNOBS, Plan};
use crate::sys::{read_str_dir, read_trim, swapon, write_file};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use vswap_sim::experiment::{MachineSettings, Settings, SwapSettings, VmSettings, ZswapSettings};

/// The cgroup2 mount of the guest (kernel-lab/boot's init mounts it and enables
/// `+memory` in the root's `cgroup.subtree_control`).
pub const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// The zswap module parameters (`/sys/module/zswap/parameters/*`).
pub const ZSWAP_PARAMS: &str = "/sys/module/zswap/parameters";

/// The list of swap block devices kernel-lab/boot writes, one per line, in the order of
/// the experiment's `[[machine.swap]]`.
pub const SWAPDEVS: &str = "/lab/swapdevs";

/// The path of cgroup `cg` (a path below the root).
pub fn cgroup_dir(cg: &str) -> String {
    format!("{CGROUP_ROOT}/{cg}")
}

/// Writes the knobs, swapons the devices and creates the cgroups. `devices` are the
/// block devices for `plan.swaps`, in order. Stops at the first write the kernel
/// refuses: an experiment that did not get its settings must not be recorded.
pub fn apply(plan: &Plan, devices: &[String]) -> Result<(), String> {
    for k in plan.vm.iter().chain(&plan.zswap) {
        write_file(&k.path, &k.value)?;
    }
    if devices.len() < plan.swaps.len() {
        return Err(format!(
            "the experiment has {} swap devices, the guest {} ({SWAPDEVS}); boot with LAB_SWAP_DISKS",
            plan.swaps.len(),
            devices.len()
        ));
    }
    for (s, dev) in plan.swaps.iter().zip(devices) {
        let out = Command::new("mkswap").arg(dev).output().map_err(|e| format!("mkswap {dev}: {e}"))?;
        if !out.status.success() {
            return Err(format!("mkswap {dev} ({}): {}", s.name, String::from_utf8_lossy(&out.stderr).trim()));
        }
        // swapon(2) takes priorities 0..=32767; a negative one is the kernel's own
        // (-2, -3, ... in swapon order), which is what it gets without the flag.
        swapon(dev, s.priority.filter(|&p| p >= 0))?;
    }
    for parent in plan.parents() {
        let dir = cgroup_dir(&parent);
        if !Path::new(&dir).is_dir() {
            std::fs::create_dir(&dir).map_err(|e| format!("mkdir {dir}: {e}"))?;
        }
        write_file(format!("{dir}/cgroup.subtree_control"), "+memory")?;
    }
    for c in &plan.cgroups {
        let dir = cgroup_dir(&c.path);
        if !Path::new(&dir).is_dir() {
            std::fs::create_dir(&dir).map_err(|e| format!("mkdir {dir}: {e}"))?;
        }
        for (file, value) in &c.knobs {
            write_file(format!("{dir}/{file}"), value)?;
        }
    }
    Ok(())
}

/// The block devices kernel-lab/boot attached for swap, in order (none when the file is
/// missing).
pub fn swap_devices() -> Vec<String> {
    read_trim(SWAPDEVS)
        .map(|t| t.lines().map(str::trim).filter(|l| !l.is_empty()).map(String::from).collect())
        .unwrap_or_default()
}

/// The settings as the kernel reports them after [`apply`]: machine (memory, CPUs, the
/// swap devices from /proc/swaps with the experiment's names), vm knobs, zswap
/// parameters, and each cgroup's knobs; `notes` says where the kernel did not give what
/// the experiment asked for.
pub fn read_back(plan: &Plan, devices: &[String]) -> Settings {
    let mut notes = Vec::new();
    // "MemTotal:       1004132 kB"
    let mem_total_kib = read_trim("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:")?.split_whitespace().next()?.parse::<u64>().ok())
        .unwrap_or(0);
    let mut swap = Vec::new();
    // Filename Type Size Used Priority (sizes in KiB).
    for line in read_trim("/proc/swaps").unwrap_or_default().lines().skip(1) {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 5 {
            continue;
        }
        let i = devices.iter().position(|d| d == f[0]);
        let name = i.and_then(|i| plan.swaps.get(i)).map_or_else(|| f[0].to_string(), |s| s.name.clone());
        let priority = f[4].parse::<i16>().unwrap_or(0);
        if let Some(want) = i.and_then(|i| plan.swaps.get(i)).map(|s| s.effective_priority) {
            if want != priority {
                notes.push(format!("swap {name}: priority {priority}, the experiment expects {want}"));
            }
        }
        swap.push(SwapSettings { name, size_kib: f[2].parse().unwrap_or(0), priority });
    }
    let lru_gen = read_trim("/sys/kernel/mm/lru_gen/enabled").unwrap_or_default();
    // Bit 0 (LRU_GEN_CORE) on is MGLRU; no file (no CONFIG_LRU_GEN) is the classic LRU.
    let mglru = u32::from_str_radix(lru_gen.trim_start_matches("0x"), 16).is_ok_and(|v| v & 1 == 1);
    let num = |p: &str| read_trim(p).and_then(|v| v.parse::<u32>().ok()).unwrap_or(0);
    let params = read_str_dir(ZSWAP_PARAMS);
    let param = |k: &str| params.get(k).cloned().unwrap_or_default();
    let yes = |k: &str| matches!(param(k).as_str(), "Y" | "y" | "1");
    let zswap = ZswapSettings {
        enabled: yes("enabled"),
        compressor: param("compressor"),
        max_pool_percent: param("max_pool_percent").parse().unwrap_or(0),
        accept_threshold_percent: param("accept_threshold_percent").parse().unwrap_or(0),
        shrinker_enabled: yes("shrinker_enabled"),
    };
    let mut cgroups = BTreeMap::new();
    for c in &plan.cgroups {
        let dir = cgroup_dir(&c.path);
        let mut m = BTreeMap::new();
        for f in MEMCG_KNOBS {
            if let Some(v) = read_trim(format!("{dir}/{f}")) {
                m.insert((*f).to_string(), v);
            }
        }
        cgroups.insert(c.path.clone(), m);
    }
    Settings {
        machine: MachineSettings { mem_total_kib, cpus: crate::sys::cpus(), swap },
        vm: VmSettings {
            lru: (if mglru { "mglru" } else { "classic" }).to_string(),
            page_cluster: num("/proc/sys/vm/page-cluster"),
            swappiness: num("/proc/sys/vm/swappiness"),
        },
        zswap,
        cgroups,
        notes,
        // The simulator's only: a kernel is itself.
        kernel_profile: None,
    }
}
