//! The kernel lab's agreement test (issue 23, kernel-lab/README.md "Experiment files"):
//! every experiment in kernel-lab/experiments with a recording in kernel-lab/results is
//! simulated and compared with it, and the test fails on any BROKEN verdict (an expected
//! agreement broke) or STALE one (an expected divergence now agrees), printing the
//! tables. No QEMU: the recordings are the kernels' side.
//!
//! It cannot pass vacuously: it counts the recordings present and requires as many
//! comparisons. The verdict logic itself is specified below on hand-made recordings.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use vswap_sim::experiment::compare::{self, CompareError, Expected, Verdict, check_recording, load_recording};
use vswap_sim::experiment::{
    Experiment, ExperimentResult, KernelProfile, MemcgPoint, Point, Run, RunOptions, Settings, Source, TaskOutcome, run,
};

fn lab() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../kernel-lab")
}

fn files(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(rd) => {
            rd.map(|e| e.expect("dir entry").path()).filter(|p| p.extension().is_some_and(|x| x == ext)).collect()
        }
        Err(_) => Vec::new(),
    };
    v.sort();
    v
}

#[test]
#[cfg_attr(miri, ignore = "runs every experiment: minutes natively, days under Miri")]
fn every_recorded_experiment_agrees_as_expected() {
    // Every recording present: results/<name>/<kernel>.json.
    let mut recordings = 0;
    let results = lab().join("results");
    if let Ok(rd) = std::fs::read_dir(&results) {
        for d in rd {
            let d = d.expect("dir entry").path();
            if d.is_dir() {
                recordings += files(&d, "json").len();
            }
        }
    }
    let (mut compared, mut failed, mut tables) = (0, Vec::new(), String::new());
    for path in files(&lab().join("experiments"), "toml") {
        let exp = Experiment::load(&path).unwrap_or_else(|e| panic!("{e}"));
        // Each recorded kernel simulated with its own profile (once per distinct one).
        let kernels: Vec<String> =
            exp.kernels.iter().filter(|k| compare::recording_path(&path, &exp, k).exists()).cloned().collect();
        let sims = run::run_kernels(&exp, &kernels).unwrap_or_else(|e| panic!("{e}"));
        for (k, sim) in kernels.iter().zip(&sims) {
            let rp = compare::recording_path(&path, &exp, k);
            let rec = load_recording(&rp, &exp).unwrap_or_else(|e| panic!("{e}"));
            assert!(rec.runs.len() >= 2, "{}: a recording holds at least 2 runs", rp.display());
            assert_eq!(sim.settings.kernel_profile.as_deref(), Some(KernelProfile::for_kernel(k).0.name), "{k}");
            let c = compare::compare(&exp, k, &rec, sim);
            tables.push_str(&compare::render_table(&c));
            tables.push('\n');
            if c.fails() {
                failed.push(format!("{} on {k}", exp.name));
            }
            compared += 1;
        }
    }
    println!("{tables}");
    assert!(
        compared >= recordings,
        "{recordings} recordings in {} but only {compared} compared: a recording without its experiment \
         (or of a kernel the experiment does not list)",
        results.display()
    );
    assert!(failed.is_empty(), "BROKEN or STALE verdicts in {failed:?}:\n{tables}");
}

/// A small experiment: two cgroups (a parent and its leaf), one task.
const EXP: &str = r#"name = "v"
kernels = ["7.3", "6.12"]
[machine]
ram_mib = 256
[[machine.swap]]
name = "disk"
mib = 64
[zswap]
enabled = true
compressor = "lz4"
[[cgroup]]
path = "p"
[[cgroup]]
path = "p/a"
memory_max = "1M"
[[task]]
cgroup = "p/a"
workload = "w"
[expect."7.3"]
agree = ["zswpout", "pswpout", "zswap_current", "killed", "oom_kill", "swpout_zero"]
diverge = { zswpin = "a reason", zswpwb = "another" }
"#;

/// 10,000 pages: the tolerance's floor is 100 pages.
const WORKLOAD: &str = r#"name = "w"
[[region]]
name = "d"
pages = 10000
data = "zero-fraction:0.5"
[[phase]]
name = "fill"
ticks = 1
accesses_per_tick = 16
[[phase.stream]]
region = "d"
pattern = "sequential"
writes = 100
"#;

fn experiment() -> Experiment {
    Experiment::parse("v.toml", EXP, &mut |_| Ok(("w.toml".into(), WORKLOAD.into()))).expect("the test experiment")
}

/// A run whose `end` point has these vmstat values (and `start` all zero), leaf
/// `p/a`'s zswap.current `zswap`, and the tasks killed as given.
fn run_with(vm: &[(&str, u64)], zswap: u64, killed: bool) -> Run {
    let memcg = |z: u64, kills: u64| {
        let m = MemcgPoint {
            zswap_current: z,
            events: BTreeMap::from([("oom_kill".to_owned(), kills)]),
            ..MemcgPoint::default()
        };
        BTreeMap::from([("p".to_owned(), m.clone()), ("p/a".to_owned(), m)])
    };
    let zeros = vm.iter().map(|(k, _)| (k.to_string(), 0)).collect();
    let start = Point { name: "start".into(), vmstat: zeros, zswap: BTreeMap::new(), memcg: memcg(0, 0) };
    let end = Point {
        name: "end".into(),
        vmstat: vm.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
        zswap: BTreeMap::new(),
        memcg: memcg(zswap, u64::from(killed)),
    };
    Run {
        seconds: 1.0,
        ticks: None,
        seed: None,
        points: vec![start, end],
        tasks: vec![TaskOutcome { cgroup: "p/a".into(), killed }],
    }
}

fn result(source: Source, runs: Vec<Run>) -> ExperimentResult {
    ExperimentResult { experiment: "v".into(), source, kernel: "7.3.4".into(), settings: Settings::default(), runs }
}

fn row<'c>(c: &'c compare::Comparison, name: &str) -> &'c compare::Row {
    c.rows.iter().find(|r| r.counter == name).expect("row")
}

#[test]
fn verdicts_follow_the_expectations() {
    let e = experiment();
    let kernel = result(
        Source::Kernel,
        vec![
            run_with(
                &[("zswpout", 900), ("pswpout", 1000), ("zswpin", 1000), ("zswpwb", 1000), ("pswpin", 7)],
                0,
                false,
            ),
            run_with(
                &[("zswpout", 1100), ("pswpout", 1000), ("zswpin", 1000), ("zswpwb", 1000), ("pswpin", 7)],
                0,
                false,
            ),
        ],
    );
    // zswpout agrees (expected), pswpout diverges (expected to agree), zswpin agrees
    // (expected to diverge), zswpwb diverges (expected), pswpin is not listed.
    let sim = result(
        Source::VswapSim,
        vec![run_with(
            &[("zswpout", 1050), ("pswpout", 2000), ("zswpin", 1000), ("zswpwb", 5000), ("pswpin", 0)],
            0,
            false,
        )],
    );
    let c = compare::compare(&e, "7.3", &kernel, &sim);
    let v = |n| row(&c, n).verdict;
    assert_eq!(v("zswpout"), Verdict::Ok);
    assert_eq!(v("pswpout"), Verdict::Broken);
    assert_eq!(v("zswpin"), Verdict::Stale);
    assert_eq!(v("zswpwb"), Verdict::Ok);
    assert_eq!(v("pswpin"), Verdict::NotJudged);
    assert!(c.fails());
    // Mean, spread and ratio.
    let z = row(&c, "zswpout");
    assert_eq!((z.kernel, z.sim), (Some(1000.0), Some(1050.0)));
    assert!((z.spread.unwrap() - 0.2).abs() < 1e-12);
    assert!((z.ratio.unwrap() - 1.05).abs() < 1e-12);
    assert_eq!(row(&c, "zswpin").expected, Expected::Diverge("a reason".into()));
    // Another kernel without an [expect] table: nothing is judged, nothing fails.
    let other = compare::compare(&e, "6.12", &kernel, &sim);
    assert!(other.rows.iter().all(|r| r.verdict == Verdict::NotJudged) && !other.fails());
    // The table names every counter and the divergence reasons.
    let table = compare::render_table(&c);
    for needle in
        ["zswpout", "1,000 ± 20.0 %", "1,050", "1.050", "BROKEN", "STALE", "zswpin expected to diverge: a reason"]
    {
        assert!(table.contains(needle), "{needle:?} not in\n{table}");
    }
}

#[test]
fn the_tolerance_is_ten_percent_or_one_percent_of_the_pages() {
    let e = experiment();
    assert_eq!(e.workload_pages(), 10_000);
    let judge = |kernel: u64, sim: u64| {
        let k = result(Source::Kernel, vec![run_with(&[("zswpout", kernel)], 0, false); 2]);
        let s = result(Source::VswapSim, vec![run_with(&[("zswpout", sim)], 0, false)]);
        row(&compare::compare(&e, "7.3", &k, &s), "zswpout").verdict
    };
    // 10 % of 5,000 = 500: the edge agrees, one past it does not, on both sides.
    assert_eq!(judge(5000, 5500), Verdict::Ok);
    assert_eq!(judge(5000, 4500), Verdict::Ok);
    assert_eq!(judge(5000, 5501), Verdict::Broken);
    assert_eq!(judge(5000, 4499), Verdict::Broken);
    // Small values: the floor of 1 % of 10,000 pages = 100.
    assert_eq!(judge(10, 110), Verdict::Ok);
    assert_eq!(judge(10, 111), Verdict::Broken);
    assert_eq!(judge(0, 100), Verdict::Ok);
    assert_eq!(judge(0, 101), Verdict::Broken);
    // zswap_current is in bytes: the floor is 100 pages of 4096 bytes.
    let z = |kernel: u64, sim: u64| {
        let k = result(Source::Kernel, vec![run_with(&[], kernel, false); 2]);
        let s = result(Source::VswapSim, vec![run_with(&[], sim, false)]);
        row(&compare::compare(&e, "7.3", &k, &s), "zswap_current").verdict
    };
    assert_eq!(z(0, 409_600), Verdict::Ok);
    assert_eq!(z(0, 409_601), Verdict::Broken);
    assert_eq!(z(10_000_000, 11_000_000), Verdict::Ok);
    assert_eq!(z(10_000_000, 11_000_001), Verdict::Broken);
    // Kills are exact.
    let kill = |kernel: bool, sim: bool| {
        let k = result(Source::Kernel, vec![run_with(&[], 0, kernel); 2]);
        let s = result(Source::VswapSim, vec![run_with(&[], 0, sim)]);
        let c = compare::compare(&e, "7.3", &k, &s);
        (row(&c, "killed").verdict, row(&c, "oom_kill").verdict)
    };
    assert_eq!(kill(true, true), (Verdict::Ok, Verdict::Ok));
    assert_eq!(kill(false, false), (Verdict::Ok, Verdict::Ok));
    assert_eq!(kill(true, false), (Verdict::Broken, Verdict::Broken));
    assert_eq!(compare::tolerance("killed", 1000.0, 1 << 30), 0.0);
}

#[test]
fn a_counter_missing_from_a_recording_fails_only_if_judged() {
    let e = experiment();
    // No vmstat keys at all: swpout_zero (expected to agree) cannot be judged -> BROKEN;
    // pgmajfault (not listed) shows n/a.
    let k = result(Source::Kernel, vec![run_with(&[], 0, false); 2]);
    let s = result(Source::VswapSim, vec![run_with(&[("swpout_zero", 0)], 0, false)]);
    let c = compare::compare(&e, "7.3", &k, &s);
    assert_eq!(row(&c, "swpout_zero").kernel, None);
    assert_eq!(row(&c, "swpout_zero").verdict, Verdict::Broken);
    assert_eq!(row(&c, "pgmajfault").verdict, Verdict::NotJudged);
    assert!(compare::render_table(&c).contains("n/a"));
}

#[test]
fn malformed_and_missing_recordings_are_typed_errors() {
    let e = experiment();
    let good = result(Source::Kernel, vec![run_with(&[], 0, false); 2]);
    assert_eq!(check_recording(&good, &e), Ok(()));
    let mut other = good.clone();
    other.experiment = "w".into();
    assert!(check_recording(&other, &e).unwrap_err().contains("recording of \"w\""));
    let mut sim = good.clone();
    sim.source = Source::VswapSim;
    assert!(check_recording(&sim, &e).unwrap_err().contains("source"));
    let mut no_end = good.clone();
    no_end.runs[1].points.pop();
    assert!(check_recording(&no_end, &e).unwrap_err().contains("run 1 has no \"end\" point"));
    let mut empty = good.clone();
    empty.runs.clear();
    assert!(check_recording(&empty, &e).unwrap_err().contains("no runs"));
    let mut tasks = good.clone();
    tasks.runs[0].tasks.clear();
    assert!(check_recording(&tasks, &e).unwrap_err().contains("0 tasks"));

    let dir = std::env::temp_dir().join(format!("vswap-recordings-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let missing = load_recording(&dir.join("7.3.json"), &e).unwrap_err();
    assert!(matches!(missing, CompareError::Missing { .. }), "{missing}");
    std::fs::write(dir.join("bad.json"), "{\"experiment\": 1}").unwrap();
    let bad = load_recording(&dir.join("bad.json"), &e).unwrap_err();
    assert!(matches!(bad, CompareError::Malformed { .. }), "{bad}");
    std::fs::write(dir.join("ok.json"), good.to_json()).unwrap();
    assert_eq!(load_recording(&dir.join("ok.json"), &e).unwrap(), good);
    std::fs::write(dir.join("noend.json"), no_end.to_json()).unwrap();
    assert!(matches!(load_recording(&dir.join("noend.json"), &e), Err(CompareError::Malformed { .. })));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
#[cfg_attr(miri, ignore = "simulates 12,288 pages")]
fn the_smoke_experiment_runs_deterministically_and_agrees_with_itself() {
    let path = lab().join("experiments/smoke.toml");
    let exp = Experiment::load(&path).unwrap_or_else(|e| panic!("{e}"));
    let opts = RunOptions::default();
    let a = run::run(&exp, &opts).unwrap();
    let b = run::run(&exp, &opts).unwrap();
    assert_eq!(a.to_json(), b.to_json(), "same seeds, same bytes");
    let r = &a.runs[0];
    let names: Vec<&str> = r.points.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["start", "write", "read", "end"]);
    // 48 MiB into 32 MiB: zswap takes the excess, every page is read back once.
    let zswpout = compare::counter(&exp, r, "zswpout").unwrap();
    let zswpin = compare::counter(&exp, r, "zswpin").unwrap();
    assert!(zswpout >= 4096.0 && zswpin >= 4096.0, "{zswpout} {zswpin}");
    assert_eq!(compare::counter(&exp, r, "pswpout"), Some(0.0));
    // Half-zero pages take about half a page each in zswap.
    let end = r.point("end").unwrap();
    let m = &end.memcg["smoke"];
    let per_page = m.zswap_current as f64 / m.stat["zswapped"] as f64 * 4096.0;
    assert!((2048.0..2200.0).contains(&per_page), "{per_page}");
    assert!(m.peak >= m.current && m.peak > 0);
    // The simulation as a recording of itself (2 runs): every expectation holds.
    let mut rec = a.clone();
    rec.source = Source::Kernel;
    rec.runs.push(rec.runs[0].clone());
    for k in &exp.kernels {
        let c = compare::compare(&exp, k, &rec, &a);
        assert!(!c.fails(), "{}", compare::render_table(&c));
        assert!(c.rows.iter().all(|r| r.agrees == Some(true)), "{}", compare::render_table(&c));
    }
    // Run 1 adds 1 to the seeds: other page contents, so other compressed sizes.
    let other = run::run_once(&exp, 1).unwrap();
    assert_eq!(other.seed, Some(2));
    assert_ne!(other.point("end"), r.point("end"));
}

/// An experiment whose pages do not compress (`random`) or do (`zero-fraction:0.5`), in
/// a 2M memcg, on 7.3, 6.12 and a kernel without a profile; and optionally a
/// `memory.zswap.max`.
fn profiled(data: &str, zswap_max: Option<&str>) -> Experiment {
    let exp = format!(
        "name = \"p\"\nkernels = [\"7.3\", \"6.12\", \"5.15\"]\n[machine]\nram_mib = 256\n[[machine.swap]]\nname = \
         \"disk\"\nmib = 64\n[zswap]\nenabled = true\ncompressor = \"lz4\"\n[[cgroup]]\npath = \"a\"\nmemory_max = \
         \"2M\"\n{}[[task]]\ncgroup = \"a\"\nworkload = \"w\"\n",
        zswap_max.map_or(String::new(), |m| format!("zswap_max = \"{m}\"\n"))
    );
    let workload = format!(
        "name = \"w\"\n[[region]]\nname = \"d\"\npages = 1024\ndata = \"{data}\"\n[[phase]]\nname = \"fill\"\nticks = \
         4\naccesses_per_tick = 256\n[[phase.stream]]\nregion = \"d\"\npattern = \"sequential\"\nwrites = 100\n"
    );
    Experiment::parse("p.toml", &exp, &mut |_| Ok(("w.toml".into(), workload.clone()))).expect("the test experiment")
}

fn end_counter(r: &ExperimentResult, group: &str, name: &str) -> u64 {
    let p = r.runs[0].point("end").expect("end point");
    let m = if group == "vmstat" { &p.vmstat } else { &p.zswap };
    m[name]
}

/// The runner picks each kernel's profile: 7.3 stores the incompressible pages as-is,
/// 6.12 rejects them (`reject_compress_fail`) so they go to the disk, and a kernel
/// without a profile runs as mainline (the crate's defaults, here 7.3's storing) with a
/// note. `run` with `--kernel` and `run_kernels` agree; the settings name the profile.
#[test]
#[cfg_attr(miri, ignore = "simulates 1,024 pages three times")]
fn each_kernel_is_simulated_with_its_own_profile() {
    let exp = profiled("random", None);
    let kernels: Vec<String> = exp.kernels.clone();
    let sims = run::run_kernels(&exp, &kernels).unwrap();
    let profiles: Vec<_> = sims.iter().map(|s| s.settings.kernel_profile.as_deref().unwrap()).collect();
    assert_eq!(profiles, ["7.3", "6.12", "mainline"]);
    let [v73, v612, other] = &sims[..] else { unreachable!() };
    assert!(end_counter(v73, "vmstat", "zswpout") > 500);
    assert_eq!(end_counter(v73, "zswap", "reject_compress_fail"), 0);
    assert_eq!(end_counter(v612, "vmstat", "zswpout"), 0);
    assert!(end_counter(v612, "zswap", "reject_compress_fail") > 500);
    assert_eq!(end_counter(v612, "vmstat", "pswpout"), end_counter(v612, "zswap", "reject_compress_fail"));
    assert!(v73.settings.notes.iter().all(|n| !n.contains("profile")));
    assert!(other.settings.notes.iter().any(|n| n.contains("\"5.15\" has no kernel profile")), "{:?}", other.settings);
    assert_eq!(other.runs, v73.runs, "mainline stores incompressible pages as 7.3 does");
    for (k, sim) in kernels.iter().zip(&sims) {
        assert_eq!(sim.kernel, *k);
        let alone = run::run(&exp, &RunOptions { runs: 1, kernel: Some(k.clone()) }).unwrap();
        assert_eq!(&alone, sim, "{k}: run --kernel {k} is the same simulation");
    }
    // Without --kernel: the first kernel's profile.
    assert_eq!(run::run(&exp, &RunOptions::default()).unwrap().runs, v73.runs);
}

/// Kernels whose profiles cannot act differently on an experiment share one simulation:
/// compressible pages and no `memory.zswap.max` (neither switch can act), while a
/// `memory.zswap.max` of a page or more lets the store-time batch act, and 0 does not.
#[test]
fn profiles_that_cannot_act_differently_simulate_alike() {
    let (v73, v612, mainline) = (KernelProfile::v7_3(), KernelProfile::v6_12(), KernelProfile::mainline());
    let half = profiled("zero-fraction:0.5", None);
    assert!(v73.simulates_alike(&v612, &half) && v612.simulates_alike(&mainline, &half));
    let random = profiled("random", None);
    assert!(!v73.simulates_alike(&v612, &random) && v73.simulates_alike(&mainline, &random));
    let limited = profiled("zero-fraction:0.5", Some("1M"));
    assert!(!v73.simulates_alike(&v612, &limited) && v612.simulates_alike(&mainline, &limited));
    let zero = profiled("zero-fraction:0.5", Some("0"));
    assert!(v73.simulates_alike(&v612, &zero));
    let mut off = profiled("random", Some("1M"));
    off.zswap.enabled = Some(false);
    assert!(v73.simulates_alike(&v612, &off), "zswap off: no switch acts");
    // The lab's experiments: the three whose kernels differ are run twice.
    let mut twice = Vec::new();
    for path in files(&lab().join("experiments"), "toml") {
        let exp = Experiment::load(&path).unwrap_or_else(|e| panic!("{e}"));
        if !v73.simulates_alike(&v612, &exp) {
            twice.push(exp.name);
        }
    }
    twice.sort();
    assert_eq!(twice, ["incompressible", "incompressible-shrinker", "zswap-max-small"]);
}

/// Shared simulations are the same bytes under each kernel's name and profile.
#[test]
#[cfg_attr(miri, ignore = "simulates 1,024 pages")]
fn a_shared_simulation_stands_for_each_kernel() {
    let exp = profiled("zero-fraction:0.5", None);
    let sims = run::run_kernels(&exp, &exp.kernels).unwrap();
    assert_eq!(sims[0].runs, sims[1].runs);
    assert_eq!(sims[1].runs, sims[2].runs);
    assert_eq!((sims[0].kernel.as_str(), sims[1].kernel.as_str()), ("7.3", "6.12"));
    assert_eq!(sims[1].settings.kernel_profile.as_deref(), Some("6.12"));
}
