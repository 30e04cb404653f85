//! The experiment file's specification, as tests.

use super::*;
use std::collections::BTreeMap;

/// A valid experiment using every key; the line numbers below refer to it.
const BASE: &str = r#"name = "t"
description = "every key"
kernels = ["7.3", "6.12"]
[machine]
ram_mib = 1024
cpus = 1
[[machine.swap]]
name = "fast"
mib = 512
priority = 10
[[machine.swap]]
name = "slow"
mib = 2048
[vm]
lru = "classic"
page_cluster = 0
swappiness = 60
[zswap]
enabled = true
compressor = "lz4"
max_pool_percent = 20
accept_threshold_percent = 90
shrinker_enabled = false
[[cgroup]]
path = "a"
memory_max = "64M"
memory_high = 50331648
[[cgroup]]
path = "a/b"
swap_max = "max"
zswap_max = "1G"
zswap_writeback = false
[[task]]
cgroup = "a/b"
workload = "w"
seed = 7
[[action]]
after_phase = "fill"
cgroup = "a"
file = "memory.reclaim"
value = "32M"
[expect."7.3"]
agree = ["zswpout", "zswpin"]
diverge = { zswpwb = "no readahead" }
"#;

const WORKLOAD: &str = r#"name = "w"
[[region]]
name = "data"
pages = 256
data = "zero-fraction:0.5"
[[phase]]
name = "fill"
ticks = 1
accesses_per_tick = 256
[[phase.stream]]
region = "data"
pattern = "sequential"
writes = 100
[[phase]]
name = "read"
ticks = 1
accesses_per_tick = 256
[[phase.stream]]
region = "data"
pattern = "sequential"
"#;

/// BASE with `from` (which must occur exactly once) replaced by `to`.
fn edit(from: &str, to: &str) -> String {
    assert_eq!(BASE.matches(from).count(), 1, "{from:?} must occur once");
    BASE.replacen(from, to, 1)
}

fn parse_with(text: &str, workload: &str) -> Result<Experiment, ExperimentError> {
    let w = workload.to_owned();
    Experiment::parse("t.toml", text, &mut |name| {
        if name == "w" { Ok(("workloads/w.toml".into(), w.clone())) } else { Err(format!("no workload {name}")) }
    })
}

fn parse(text: &str) -> Result<Experiment, ExperimentError> {
    parse_with(text, WORKLOAD)
}

fn assert_error(text: &str, line: usize, needle: &str) {
    let e = parse(text).expect_err("must fail");
    assert_eq!((e.line, e.file.as_str()), (line, "t.toml"), "{e}");
    assert!(e.to_string().contains(needle), "{e:?} does not contain {needle:?}");
}

#[test]
fn a_valid_file_parses_to_the_expected_experiment() {
    let e = parse(BASE).unwrap();
    assert_eq!(e.name, "t");
    assert_eq!(e.kernels, ["7.3", "6.12"]);
    assert_eq!(e.machine.ram_mib, 1024);
    assert_eq!(
        e.machine.swap[0],
        SwapDevice { name: "fast".into(), mib: 512, priority: Some(10), effective_priority: 10 }
    );
    assert_eq!(e.machine.swap[1].priority, None);
    assert_eq!(e.machine.swap[1].effective_priority, -2);
    assert_eq!(e.vm, Vm { lru: Some(Lru::Classic), page_cluster: Some(0), swappiness: Some(60) });
    assert_eq!(e.zswap.compressor.as_deref(), Some("lz4"));
    assert_eq!(e.zswap.shrinker_enabled, Some(false));
    assert_eq!(e.cgroups[0].memory_max, Some(Size::Bytes(64 << 20)));
    assert_eq!(e.cgroups[0].memory_high, Some(Size::Bytes(50331648)));
    assert_eq!(e.cgroups[1].swap_max, Some(Size::Max));
    assert_eq!(e.cgroups[1].zswap_max, Some(Size::Bytes(1 << 30)));
    assert_eq!(e.cgroups[1].zswap_writeback, Some(false));
    assert_eq!(e.tasks, [Task { cgroup: "a/b".into(), workload: "w".into(), seed: 7 }]);
    assert_eq!(e.actions[0].value, "32M");
    assert_eq!(e.expect["7.3"].agree, ["zswpout", "zswpin"]);
    assert_eq!(e.expect["7.3"].diverge, BTreeMap::from([("zswpwb".to_owned(), "no readahead".to_owned())]));
    assert_eq!(e.workloads["w"].pages(), 256);
    assert_eq!(e.point_names(), ["start", "fill", "read", "end"]);
    assert_eq!(e.leaf_cgroups(), ["a/b"]);
    assert_eq!(e.workload_pages(), 256);
}

#[test]
fn defaults_leave_the_kernel_as_booted() {
    let text = "name = \"t\"\nkernels = [\"7.3\"]\n[machine]\nram_mib = 512\n[[cgroup]]\npath = \"a\"\n\
                [[task]]\ncgroup = \"a\"\nworkload = \"w\"\n";
    let e = parse(text).unwrap();
    assert_eq!(e.machine.cpus, 1);
    assert!(e.machine.swap.is_empty());
    assert_eq!(e.vm, Vm::default());
    assert_eq!(e.zswap, Zswap::default());
    assert_eq!(e.tasks[0].seed, 1);
    assert!(e.expect.is_empty() && e.actions.is_empty() && e.description.is_empty());
}

#[test]
fn sizes_parse_as_memparse_does() {
    assert_eq!(Size::parse("max"), Some(Size::Max));
    assert_eq!(Size::parse("4096"), Some(Size::Bytes(4096)));
    assert_eq!(Size::parse("64k"), Some(Size::Bytes(64 << 10)));
    assert_eq!(Size::parse("64M"), Some(Size::Bytes(64 << 20)));
    assert_eq!(Size::parse("2G"), Some(Size::Bytes(2 << 30)));
    assert_eq!(Size::parse("1t"), Some(Size::Bytes(1 << 40)));
    for bad in ["", "M", "-1", "1.5M", "64 M", "64MB", "99999999999999999999", "16777216T", "maxi"] {
        assert_eq!(Size::parse(bad), None, "{bad:?}");
    }
    assert_eq!(Size::Bytes(5).to_kernel_string(), "5");
    assert_eq!(Size::Max.to_kernel_string(), "max");
}

#[test]
fn syntax_errors_and_unknown_keys_give_the_line() {
    assert_error(&edit("ram_mib = 1024", "ram_mib = = 1024"), 5, "");
    assert_error(&edit("cpus = 1", "cpus = 1\ncolour = 2"), 7, "unknown field `colour`");
    assert_error(&edit("seed = 7", "seed = 7\nnice = 1"), 37, "unknown field `nice`");
    assert_error(&edit("value = \"32M\"", "value = \"32M\"\nwhen = 1"), 42, "unknown field `when`");
    assert_error(&edit("diverge = {", "disagree = [\"a\"]\ndiverge = {"), 44, "unknown field `disagree`");
    assert_error(&edit("ram_mib = 1024", "ram_mib = \"lots\""), 5, "invalid type");
    assert_error(&edit("ram_mib = 1024\n", ""), 4, "missing field `ram_mib`");
    assert!(matches!(parse("name = 1").unwrap_err().kind, ErrorKind::Syntax(_)));
}

#[test]
fn values_are_checked_with_their_line() {
    assert_error(&edit("name = \"t\"", "name = \"u\""), 1, "name \"u\" is not the file's stem \"t\"");
    assert_error(&edit("name = \"t\"", "name = \"../t\""), 1, "is not 1..=64 of");
    assert_error(&edit("[\"7.3\", \"6.12\"]", "[]"), 3, "kernels is empty");
    assert_error(&edit("[\"7.3\", \"6.12\"]", "[\"7.3\", \"7.3\"]"), 3, "listed twice");
    assert_error(&edit("[\"7.3\", \"6.12\"]", "[\"latest\"]"), 3, "is not a version");
    assert_error(&edit("ram_mib = 1024", "ram_mib = 8"), 5, "ram_mib 8 is out of range");
    assert_error(&edit("cpus = 1", "cpus = 0"), 6, "cpus 0 is out of range");
    assert_error(&edit("name = \"slow\"", "name = \"fast\""), 12, "swap device \"fast\" is defined twice");
    assert_error(&edit("mib = 2048", "mib = 0"), 13, "swap mib 0 is out of range");
    assert_error(&edit("priority = 10", "priority = 40000"), 10, "priority 40000 is not 0..=32767");
    assert_error(&edit("priority = 10", "priority = -5"), 10, "(or -2, the kernel's own");
    // The kernel's own value, written out, is accepted and left to the kernel.
    let e = parse(&edit("priority = 10", "priority = -2")).unwrap();
    assert_eq!((e.machine.swap[0].priority, e.machine.swap[0].effective_priority), (None, -2));
    assert_eq!(e.machine.swap[1].effective_priority, -3);
    assert_error(&edit("\"classic\"", "\"lru2q\""), 15, "lru \"lru2q\" is not \"classic\" or \"mglru\"");
    assert_error(&edit("page_cluster = 0", "page_cluster = 32"), 16, "page_cluster 32 is out of range (0..=31)");
    assert_error(&edit("swappiness = 60", "swappiness = 201"), 17, "swappiness 201");
    assert_error(&edit("\"lz4\"", "\"gzip\""), 20, "compressor \"gzip\" is not one of");
    assert_error(&edit("max_pool_percent = 20", "max_pool_percent = 101"), 21, "max_pool_percent 101");
    assert_error(&edit("\"64M\"", "\"64 MiB\""), 26, "memory_max \"64 MiB\" is not a size");
    assert_error(&edit("path = \"a/b\"", "path = \"a/../b\""), 29, "is not names of");
    assert_error(&edit("path = \"a/b\"", "path = \"c/b\""), 29, "its parent \"c\" is not defined before it");
    assert_error(&edit("path = \"a/b\"", "path = \"a\""), 29, "cgroup \"a\" is defined twice");
    assert_error(&edit("cgroup = \"a/b\"", "cgroup = \"z\""), 34, "cgroup \"z\" is not defined (cgroups: a, a/b)");
    assert_error(&edit("after_phase = \"fill\"", "after_phase = \"warm\""), 38, "(phases: fill, read)");
    assert_error(&edit("file = \"memory.reclaim\"", "file = \"../../etc/passwd\""), 40, "is not a cgroup file name");
    assert_error(&edit("value = \"32M\"", "value = \"\""), 41, "value \"\" is empty");
    assert_error(&edit("[expect.\"7.3\"]", "[expect.\"5.4\"]"), 42, "not one of the kernels");
    assert_error(&edit("\"zswpin\"]", "\"zswpin\", \"pgscan\"]"), 43, "counter \"pgscan\" is not compared");
    assert_error(&edit("\"zswpin\"]", "\"zswpin\", \"zswpout\"]"), 43, "listed twice");
    assert_error(&edit("zswpwb = \"no readahead\"", "zswpin = \"x\""), 44, "both to agree and to diverge");
    assert_error(&edit("\"no readahead\"", "\" \""), 44, "give the reason");
    // An action's value may be a number.
    assert_eq!(parse(&edit("value = \"32M\"", "value = 4096")).unwrap().actions[0].value, "4096");
}

#[test]
fn workload_problems_are_located_at_the_task() {
    assert_error(&edit("workload = \"w\"", "workload = \"missing\""), 35, "no workload missing");
    let e = parse(&edit("workload = \"w\"", "workload = \"missing\"")).unwrap_err();
    assert!(matches!(e.kind, ErrorKind::Workload(_)), "{e:?}");
    assert_error(&edit("workload = \"w\"", "workload = \"../w\""), 35, "is not 1..=64 of");
    // The workload's own error keeps its file and line.
    let e = parse_with(BASE, &WORKLOAD.replace("pages = 256", "pages = 0")).unwrap_err();
    assert_eq!(e.line, 35);
    assert!(e.to_string().contains("workloads/w.toml:4: region \"data\" has 0 pages"), "{e}");
    // Synthetic page contents cannot be written by the guest.
    let e = parse_with(BASE, &WORKLOAD.replace("zero-fraction:0.5", "ratio:0.5")).unwrap_err();
    assert!(e.to_string().contains("region \"data\" has data \"ratio:0.5\", which no process can write"), "{e}");
    // Points are named by task 0's phases: names must be unique and not start/end.
    let e = parse_with(BASE, &WORKLOAD.replace("name = \"read\"", "name = \"fill\"")).unwrap_err();
    assert!(e.to_string().contains("two phases called \"fill\""), "{e}");
    let e = parse_with(BASE, &WORKLOAD.replace("name = \"read\"", "name = \"end\"")).unwrap_err();
    assert!(e.to_string().contains("\"start\" or \"end\""), "{e}");
    let e = parse_with(BASE, &WORKLOAD.replace("name = \"w\"", "name = \"v\"")).unwrap_err();
    assert!(e.to_string().contains("names itself \"v\""), "{e}");
    // No task at all.
    let text = "name = \"t\"\nkernels = [\"7.3\"]\n[machine]\nram_mib = 512\n";
    assert!(parse(text).unwrap_err().to_string().contains("no tasks"));
}

#[test]
fn load_reads_the_workloads_beside_the_experiments() {
    let dir = std::env::temp_dir().join(format!("vswap-exp-test-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("experiments")).unwrap();
    std::fs::create_dir_all(dir.join("workloads")).unwrap();
    std::fs::write(dir.join("experiments/t.toml"), BASE).unwrap();
    std::fs::write(dir.join("workloads/w.toml"), WORKLOAD).unwrap();
    let e = Experiment::load(&dir.join("experiments/t.toml")).unwrap();
    assert_eq!(e.workloads["w"].name, "w");
    let missing = Experiment::load(&dir.join("experiments/none.toml")).unwrap_err();
    assert_eq!(missing.line, 0);
    assert!(matches!(missing.kind, ErrorKind::Io(_)));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn every_experiment_in_the_lab_loads() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../kernel-lab/experiments");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|x| x == "toml") {
            if let Err(e) = Experiment::load(&path) {
                panic!("{e}");
            }
            n += 1;
        }
    }
    assert!(n >= 1, "kernel-lab/experiments has no .toml");
}

#[test]
fn results_round_trip_through_json() {
    let mut memcg = BTreeMap::new();
    memcg.insert(
        "a".to_owned(),
        MemcgPoint {
            current: 1,
            swap_current: 2,
            zswap_current: 3,
            peak: 4,
            stat: BTreeMap::from([("zswpout".to_owned(), 5)]),
            events: BTreeMap::from([("oom_kill".to_owned(), 0)]),
            swap_events: BTreeMap::from([("fail".to_owned(), 6)]),
        },
    );
    let r = ExperimentResult {
        experiment: "t".into(),
        source: Source::Kernel,
        kernel: "7.3.4+deb13-amd64".into(),
        settings: Settings::default(),
        runs: vec![Run {
            seconds: 1.5,
            ticks: None,
            seed: None,
            points: vec![Point {
                name: "start".into(),
                vmstat: BTreeMap::from([("zswpout".to_owned(), 7)]),
                zswap: BTreeMap::new(),
                memcg,
            }],
            tasks: vec![TaskOutcome { cgroup: "a".into(), killed: true }],
        }],
    };
    let json = r.to_json();
    assert!(json.contains("\"source\": \"kernel\"") && json.contains("\"memory.swap.events\""), "{json}");
    assert!(!json.contains("ticks"), "optional fields left out: {json}");
    assert_eq!(ExperimentResult::from_json(&json).unwrap(), r);
    let sim = json.replace("\"kernel\",", "\"vswap-sim\",");
    assert_eq!(ExperimentResult::from_json(&sim).unwrap().source, Source::VswapSim);
    // Missing files read as empty, so 6.12's recordings (fewer debugfs files) read too.
    let minimal = r#"{"experiment":"t","source":"kernel","kernel":"6.12","settings":{},"runs":[{"seconds":1,"points":[{"name":"start"}],"tasks":[]}]}"#;
    assert!(ExperimentResult::from_json(minimal).is_ok());
}

#[test]
fn counters_of_a_hostile_recording_do_not_overflow() {
    let exp = Experiment::load(std::path::Path::new("../kernel-lab/experiments/two-memcgs.toml")).unwrap();
    let point = |name: &str, oom: u64| {
        let cg = |oom| MemcgPoint { events: BTreeMap::from([("oom_kill".to_owned(), oom)]), ..MemcgPoint::default() };
        let memcg = BTreeMap::from([("p/a".to_owned(), cg(oom)), ("p/b".to_owned(), cg(oom))]);
        Point { name: name.into(), vmstat: BTreeMap::new(), zswap: BTreeMap::new(), memcg }
    };
    let run = Run {
        seconds: 1.0,
        ticks: None,
        seed: None,
        points: vec![point("start", 0), point("end", u64::MAX)],
        tasks: vec![],
    };
    // Two leaves at u64::MAX each: the sum saturates instead of overflowing.
    assert_eq!(compare::counter(&exp, &run, "oom_kill"), Some(u64::MAX as f64));
}
