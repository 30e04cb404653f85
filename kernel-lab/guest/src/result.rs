//! The result JSON (vswap-sim's `experiment::result`, the schema both sides write) and,
//! for the host's `summary` and `check`, the counters `vswap-sim compare` judges.

pub use vswap_sim::experiment::{ExperimentResult as Recording, MemcgPoint as Memcg, Point, Run, TaskOutcome};

/// The vmstat counters compared as deltas end - start.
pub const VMSTAT_COMPARED: &[&str] = &["zswpout", "zswpin", "zswpwb", "pswpout", "pswpin", "swpout_zero", "pgmajfault"];

/// The compared counters of one run, in a fixed order: the vmstat deltas, the debugfs
/// `pool_limit_hit` delta, `zswap_current` (memory.zswap.current summed over the leaf
/// cgroups at `end`, bytes), `oom_kill` (memory.events oom_kill of the leaf cgroups,
/// delta) and `killed` (tasks). None when the run has no `start` or `end` point.
pub fn compared(run: &Run) -> Option<Vec<(&'static str, f64)>> {
    let start = run.points.iter().find(|p| p.name == "start")?;
    let end = run.points.iter().rev().find(|p| p.name == "end")?;
    let vm = |p: &Point, k: &str| p.vmstat.get(k).copied().unwrap_or(0) as f64;
    let mut out: Vec<(&'static str, f64)> = VMSTAT_COMPARED.iter().map(|k| (*k, vm(end, k) - vm(start, k))).collect();
    let zs = |p: &Point| p.zswap.get("pool_limit_hit").copied().unwrap_or(0) as f64;
    out.push(("pool_limit_hit", zs(end) - zs(start)));
    let leaves = leaves(end.memcg.keys().map(String::as_str));
    let zswap_current: u64 = leaves.iter().map(|c| end.memcg[*c].zswap_current).sum();
    out.push(("zswap_current", zswap_current as f64));
    let oom = |p: &Point| -> f64 {
        leaves.iter().filter_map(|c| p.memcg.get(*c)?.events.get("oom_kill").copied()).sum::<u64>() as f64
    };
    out.push(("oom_kill", oom(end) - oom(start)));
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
            return Err(format!("sources differ: {:?} and {:?}", first.source, r.source));
        }
        first.runs.extend(r.runs);
    }
    Ok(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::collections::BTreeMap;
    use vswap_sim::experiment::{Settings, Source};

    fn point(name: &str, zswpout: u64, zcur: u64, oom_kill: u64) -> Point {
        let mut p = Point { name: name.into(), ..Point::default() };
        p.vmstat.insert("zswpout".into(), zswpout);
        p.zswap.insert("pool_limit_hit".into(), 1);
        for (c, z) in [("a", zcur), ("a/b", zcur), ("c", 0)] {
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
            ticks: None,
            seed: None,
            points: vec![point("start", 10, 0, 0), point("fill", 50, 5, 0), point("end", 110, 7, 2)],
            tasks: vec![
                TaskOutcome { cgroup: "a/b".into(), killed: true },
                TaskOutcome { cgroup: "c".into(), killed: false },
            ],
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
            source: Source::Kernel,
            kernel: k.into(),
            settings: Settings::default(),
            runs: vec![Run { seconds: 1.0, ticks: None, seed: None, points: vec![], tasks: vec![] }; n],
        };
        assert_eq!(merge(vec![rec("7.3.4", 1), rec("7.3.4", 2)]).unwrap().runs.len(), 3);
        assert!(merge(vec![rec("7.3.4", 1), rec("6.12", 1)]).is_err());
        assert!(merge(vec![]).is_err());
    }
}
