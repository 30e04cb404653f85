//! The result JSON of the lab (docs: kernel-lab/README.md, "Result JSON"): one
//! recording, its runs, their points, and the counters `vswap-sim compare` judges.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// A recording: the result of one or more runs of an experiment on one kernel.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Recording {
    pub experiment: String,
    /// "kernel" (this program) or "vswap-sim".
    pub source: String,
    /// The full `uname -r` of the guest kernel.
    pub kernel: String,
    /// The settings as read back from the kernel.
    pub settings: Value,
    pub runs: Vec<Run>,
}

/// One boot's run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Run {
    /// Wall seconds from the start point to the end point (in the guest, TCG).
    pub seconds: f64,
    pub points: Vec<Point>,
    pub tasks: Vec<TaskOutcome>,
}

/// The counters at one point of a run.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Point {
    /// `start`, a phase name of task 0, or `end`.
    pub name: String,
    /// Every key of /proc/vmstat.
    pub vmstat: BTreeMap<String, i64>,
    /// Every file of /sys/kernel/debug/zswap.
    pub zswap: BTreeMap<String, i64>,
    /// Each cgroup of the experiment, by its path.
    pub memcg: BTreeMap<String, Memcg>,
}

/// One memory cgroup's counters at a point (absent files are left out).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Memcg {
    #[serde(rename = "memory.current", skip_serializing_if = "Option::is_none", default)]
    pub current: Option<i64>,
    #[serde(rename = "memory.swap.current", skip_serializing_if = "Option::is_none", default)]
    pub swap_current: Option<i64>,
    #[serde(rename = "memory.zswap.current", skip_serializing_if = "Option::is_none", default)]
    pub zswap_current: Option<i64>,
    #[serde(rename = "memory.peak", skip_serializing_if = "Option::is_none", default)]
    pub peak: Option<i64>,
    #[serde(rename = "memory.stat", default)]
    pub stat: BTreeMap<String, i64>,
    #[serde(rename = "memory.events", default)]
    pub events: BTreeMap<String, i64>,
    #[serde(rename = "memory.swap.events", default)]
    pub swap_events: BTreeMap<String, i64>,
}

/// What became of a task.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TaskOutcome {
    pub cgroup: String,
    /// Killed by SIGKILL (the OOM killer).
    pub killed: bool,
}

/// The vmstat counters compared as deltas end - start.
pub const VMSTAT_COMPARED: &[&str] = &["zswpout", "zswpin", "zswpwb", "pswpout", "pswpin", "swpout_zero", "pgmajfault"];

/// The compared counters of one run, in a fixed order: the vmstat deltas, the debugfs
/// `pool_limit_hit` delta, `zswap_current` (memory.zswap.current summed over the leaf
/// cgroups at `end`, bytes), `oom_kill` (memory.events oom_kill of the leaf cgroups,
/// delta) and `killed` (tasks). None when the run has no `start` or `end` point.
pub fn compared(run: &Run) -> Option<Vec<(&'static str, f64)>> {
    let start = run.points.iter().find(|p| p.name == "start")?;
    let end = run.points.iter().rev().find(|p| p.name == "end")?;
    let vm = |p: &Point, k: &str| p.vmstat.get(k).copied().unwrap_or(0);
    let mut out: Vec<(&'static str, f64)> = VMSTAT_COMPARED.iter().map(|k| (*k, (vm(end, k) - vm(start, k)) as f64)).collect();
    let zs = |p: &Point| p.zswap.get("pool_limit_hit").copied().unwrap_or(0);
    out.push(("pool_limit_hit", (zs(end) - zs(start)) as f64));
    let leaves = leaves(end.memcg.keys().map(String::as_str));
    let zswap_current: i64 = leaves.iter().filter_map(|c| end.memcg[*c].zswap_current).sum();
    out.push(("zswap_current", zswap_current as f64));
    let oom = |p: &Point| -> i64 { leaves.iter().filter_map(|c| p.memcg.get(*c)?.events.get("oom_kill").copied()).sum() };
    out.push(("oom_kill", (oom(end) - oom(start)) as f64));
    out.push(("killed", run.tasks.iter().filter(|t| t.killed).count() as f64));
    Some(out)
}

/// The leaf cgroups among `paths`: those no other path lies below.
pub fn leaves<'a>(paths: impl Iterator<Item = &'a str> + Clone) -> Vec<&'a str> {
    paths.clone().filter(|c| !paths.clone().any(|d| d.starts_with(c) && d[c.len()..].starts_with('/'))).collect()
}

/// Mean and spread ((max - min) / mean, 0 when the mean is 0) of some values.
pub fn mean_spread(values: &[f64]) -> (f64, f64) {
    if values.is_empty() {
        return (0.0, 0.0);
    }
    let mean = values.iter().sum::<f64>() / values.len() as f64;
    let max = values.iter().copied().fold(f64::MIN, f64::max);
    let min = values.iter().copied().fold(f64::MAX, f64::min);
    let spread = if mean == 0.0 { 0.0 } else { (max - min) / mean.abs() };
    (mean, spread)
}

/// Merges recordings of the same experiment on the same kernel: the first one's header
/// and settings, every run in order.
pub fn merge(recs: Vec<Recording>) -> Result<Recording, String> {
    let mut it = recs.into_iter();
    let mut first = it.next().ok_or("nothing to merge")?;
    for r in it {
        if r.experiment != first.experiment {
            return Err(format!("experiments differ: {} and {}", first.experiment, r.experiment));
        }
        if r.kernel != first.kernel {
            return Err(format!("kernels differ: {} and {}", first.kernel, r.kernel));
        }
        if r.source != first.source {
            return Err(format!("sources differ: {} and {}", first.source, r.source));
        }
        first.runs.extend(r.runs);
    }
    Ok(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(name: &str, zswpout: i64, zcur: i64, oom_kill: i64) -> Point {
        let mut p = Point { name: name.into(), ..Point::default() };
        p.vmstat.insert("zswpout".into(), zswpout);
        p.zswap.insert("pool_limit_hit".into(), 1);
        for (c, z) in [("a", Some(zcur)), ("a/b", Some(zcur)), ("c", None)] {
            let mut m = Memcg { zswap_current: z, ..Memcg::default() };
            m.events.insert("oom_kill".into(), oom_kill);
            p.memcg.insert(c.into(), m);
        }
        p
    }

    #[test]
    fn compared_takes_deltas_and_leaf_sums() {
        let run = Run {
            seconds: 1.0,
            points: vec![point("start", 10, 0, 0), point("fill", 50, 5, 0), point("end", 110, 7, 2)],
            tasks: vec![TaskOutcome { cgroup: "a/b".into(), killed: true }, TaskOutcome { cgroup: "c".into(), killed: false }],
        };
        let c: BTreeMap<_, _> = compared(&run).unwrap().into_iter().collect();
        assert_eq!(c["zswpout"], 100.0);
        assert_eq!(c["zswpin"], 0.0);
        assert_eq!(c["pool_limit_hit"], 0.0);
        // Leaves are a/b and c: 7 + nothing.
        assert_eq!(c["zswap_current"], 7.0);
        assert_eq!(c["oom_kill"], 4.0);
        assert_eq!(c["killed"], 1.0);
    }

    #[test]
    fn leaves_skip_parents_not_prefixes() {
        let l = leaves(["a", "a/b", "ab", "c/d"].into_iter());
        assert_eq!(l, vec!["a/b", "ab", "c/d"]);
    }

    #[test]
    fn spread_is_range_over_mean() {
        let (m, s) = mean_spread(&[90.0, 110.0]);
        assert_eq!(m, 100.0);
        assert!((s - 0.2).abs() < 1e-12);
        assert_eq!(mean_spread(&[0.0, 0.0]), (0.0, 0.0));
    }

    #[test]
    fn merge_checks_identity_and_appends_runs() {
        let rec = |k: &str, n: usize| Recording {
            experiment: "e".into(),
            source: "kernel".into(),
            kernel: k.into(),
            settings: Value::Null,
            runs: vec![Run { seconds: 1.0, points: vec![], tasks: vec![] }; n],
        };
        assert_eq!(merge(vec![rec("7.3.4", 1), rec("7.3.4", 2)]).unwrap().runs.len(), 3);
        assert!(merge(vec![rec("7.3.4", 1), rec("6.12", 1)]).is_err());
        assert!(merge(vec![]).is_err());
    }
}
