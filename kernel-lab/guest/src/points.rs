//! Reading a point: /proc/vmstat, /sys/kernel/debug/zswap/* and each cgroup's
//! memory.current, memory.swap.current, memory.zswap.current, memory.peak, memory.stat,
//! memory.events and memory.swap.events.

use crate::plan::Plan;
use crate::result::{Memcg, Point};
use crate::setup::cgroup_dir;
use crate::sys::{read_trim, read_u64_dir, read_u64_kv};

/// zswap's debugfs directory (mm/zswap.c, `zswap_debugfs_init`).
pub const ZSWAP_DEBUGFS: &str = "/sys/kernel/debug/zswap";

/// Reads the counters now.
pub fn take(name: &str, plan: &Plan) -> Point {
    let mut p = Point {
        name: name.to_string(),
        vmstat: read_u64_kv("/proc/vmstat"),
        zswap: read_u64_dir(ZSWAP_DEBUGFS),
        memcg: Default::default(),
    };
    for c in &plan.cgroups {
        let dir = cgroup_dir(&c.path);
        // A file this kernel lacks reads as 0 (the schema's default).
        let int = |f: &str| read_trim(format!("{dir}/{f}")).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        let kv = |f: &str| read_u64_kv(format!("{dir}/{f}"));
        p.memcg.insert(
            c.path.clone(),
            Memcg {
                current: int("memory.current"),
                swap_current: int("memory.swap.current"),
                zswap_current: int("memory.zswap.current"),
                peak: int("memory.peak"),
                stat: kv("memory.stat"),
                events: kv("memory.events"),
                swap_events: kv("memory.swap.events"),
            },
        );
    }
    p
}
