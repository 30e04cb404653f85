//! Reading a point: /proc/vmstat, /sys/kernel/debug/zswap/* and each cgroup's
//! memory.current, memory.swap.current, memory.zswap.current, memory.peak, memory.stat,
//! memory.events and memory.swap.events.

use crate::plan::Plan;
use crate::result::{Memcg, Point};
use crate::setup::cgroup_dir;
use crate::sys::{read_int_dir, read_kv, read_trim};

/// zswap's debugfs directory (mm/zswap.c, `zswap_debugfs_init`).
pub const ZSWAP_DEBUGFS: &str = "/sys/kernel/debug/zswap";

/// Reads the counters now.
pub fn take(name: &str, plan: &Plan) -> Point {
    let mut p = Point {
        name: name.to_string(),
        vmstat: read_kv("/proc/vmstat").unwrap_or_default(),
        zswap: read_int_dir(ZSWAP_DEBUGFS),
        memcg: Default::default(),
    };
    for c in &plan.cgroups {
        let dir = cgroup_dir(&c.path);
        let int = |f: &str| read_trim(format!("{dir}/{f}")).and_then(|v| v.parse::<i64>().ok());
        let kv = |f: &str| read_kv(format!("{dir}/{f}")).unwrap_or_default();
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
