//! The workload module's specification, as tests.

use super::*;

/// A valid file using every key; the line numbers below refer to it.
const BASE: &str = r#"name = "t"
[[region]]
name = "hot"
pages = 64
data = "ratio:0.35"
[[region]]
name = "cold"
pages = 192
data = "zero"
[[phase]]
name = "warm"
ticks = 10
accesses_per_tick = 100
[[phase.stream]]
region = "hot"
pattern = "random"
weight = 3
writes = 30
[[phase.stream]]
region = "cold"
pattern = "sequential"
[[phase]]
name = "save"
ticks = 5
accesses_per_tick = 100
fork = true
child_exit = true
[[phase.stream]]
region = "cold"
pattern = "stride:3"
process = "child"
"#;

/// BASE with `from` (which must occur exactly once) replaced by `to`.
fn edit(from: &str, to: &str) -> String {
    assert_eq!(BASE.matches(from).count(), 1, "{from:?} must occur once in BASE");
    BASE.replace(from, to)
}

/// The error `text` must give: at `line`, with a message containing `needle`.
#[track_caller]
fn assert_error(text: &str, line: usize, needle: &str) {
    let e = Workload::parse("t.toml", text).expect_err("the file must be rejected");
    assert_eq!(e.file, "t.toml");
    assert!(e.message.contains(needle), "message {:?} should contain {needle:?}", e.message);
    assert_eq!(e.line, line, "line of {:?}", e.message);
    assert!(!e.message.contains('\n'), "one line: {:?}", e.message);
}

fn parent(region: usize, pattern: Pattern, weight: u32, write_percent: u8) -> Stream {
    Stream { region, process: Process::Parent, pattern, weight, write_percent }
}

fn child(region: usize, pattern: Pattern) -> Stream {
    Stream { region, process: Process::Child, pattern, weight: 1, write_percent: 0 }
}

fn phase(name: &str, ticks: u64, accesses_per_tick: u32, streams: Vec<Stream>) -> Phase {
    Phase { name: name.into(), ticks, accesses_per_tick, fork: false, child_exit: false, streams }
}

/// A workload of one region of `pages` pages and one phase with `streams`.
fn one_phase(pages: u64, ticks: u64, accesses_per_tick: u32, streams: Vec<Stream>) -> Workload {
    Workload {
        name: "w".into(),
        regions: vec![Region { name: "r".into(), pages, data: Data::Ratio(0.5) }],
        phases: vec![phase("p", ticks, accesses_per_tick, streams)],
    }
}

/// All the events of a run, tick by tick.
fn run(w: &Workload, seed: u64) -> Vec<Vec<Event>> {
    let mut g = Generator::new(w, seed);
    let mut ticks = Vec::new();
    loop {
        let mut out = Vec::new();
        if !g.tick(&mut out) {
            assert!(out.is_empty(), "a finished generator appends nothing");
            return ticks;
        }
        ticks.push(out);
    }
}

/// The pages of the accesses of a run, in order.
fn pages_of(w: &Workload, seed: u64) -> Vec<u64> {
    run(w, seed)
        .into_iter()
        .flatten()
        .filter_map(|e| match e {
            Event::Access { page, .. } => Some(page),
            _ => None,
        })
        .collect()
}

fn accesses(events: &[Event]) -> impl Iterator<Item = (Process, u32, u64, bool)> + '_ {
    events.iter().filter_map(|e| match *e {
        Event::Access { process, region, page, write } => Some((process, region, page, write)),
        _ => None,
    })
}

// ---- the file format ------------------------------------------------------------------

#[test]
fn a_valid_file_parses_to_the_expected_workload() {
    let w = Workload::parse("t.toml", BASE).unwrap();
    let mut save = phase("save", 5, 100, vec![child(1, Pattern::Stride(3))]);
    save.fork = true;
    save.child_exit = true;
    let expected = Workload {
        name: "t".into(),
        regions: vec![
            Region { name: "hot".into(), pages: 64, data: Data::Ratio(0.35) },
            Region { name: "cold".into(), pages: 192, data: Data::Zero },
        ],
        phases: vec![
            // weight 1, writes 0 and process parent are the defaults.
            phase("warm", 10, 100, vec![parent(0, Pattern::Random, 3, 30), parent(1, Pattern::Sequential, 1, 0)]),
            save,
        ],
    };
    assert_eq!(w, expected);
    assert_eq!(w.pages(), 256);
    assert_eq!(w.region_base(0), 0);
    assert_eq!(w.region_base(1), 64);
    assert_eq!(w.ticks(), 15);
    assert_eq!(w.accesses(), 1500);
    assert_eq!(w.region_of(0), Some((0, 0)));
    assert_eq!(w.region_of(63), Some((0, 63)));
    assert_eq!(w.region_of(64), Some((1, 0)));
    assert_eq!(w.region_of(255), Some((1, 191)));
    assert_eq!(w.region_of(256), None);
    assert_eq!(w.region_index("cold"), Some(1));
    assert_eq!(w.region_index("warm"), None);
}

#[test]
#[cfg_attr(miri, ignore = "dozens of TOML parses take minutes under Miri; safe code, run natively and fuzzed")]
fn every_data_and_pattern_spelling_parses() {
    let w = Workload::parse("t.toml", &edit("\"zero\"", "\"incompressible\"")).unwrap();
    assert_eq!(w.regions[1].data, Data::Incompressible);
    let w = Workload::parse("t.toml", &edit("\"ratio:0.35\"", "\"ratio:1\"")).unwrap();
    assert_eq!(w.regions[0].data, Data::Ratio(1.0));
    for (text, data) in [
        ("random", Data::Random),
        ("text", Data::Text),
        ("zero-fraction:0.5", Data::ZeroFraction(0.5)),
        ("zero-fraction:0", Data::ZeroFraction(0.0)),
        ("zero-fraction:1", Data::ZeroFraction(1.0)),
    ] {
        let w = Workload::parse("t.toml", &edit("\"zero\"", &format!("\"{text}\""))).unwrap();
        assert_eq!(w.regions[1].data, data);
        assert_eq!(Workload::parse("again", &w.to_toml()).unwrap(), w, "{text}");
    }
    let w = Workload::parse("t.toml", &edit("\"stride:3\"", "\"stride:1000\"")).unwrap();
    assert_eq!(w.phases[1].streams[0].pattern, Pattern::Stride(1000));
    let w = Workload::parse("t.toml", &edit("process = \"child\"", "process = \"parent\"")).unwrap();
    assert_eq!(w.phases[1].streams[0].process, Process::Parent);
}

#[test]
#[cfg_attr(miri, ignore = "dozens of TOML parses take minutes under Miri; safe code, run natively and fuzzed")]
fn to_toml_gives_back_the_same_workload() {
    let w = Workload::parse("t.toml", BASE).unwrap();
    assert_eq!(Workload::parse("again", &w.to_toml()).unwrap(), w);
    for &(name, _) in if cfg!(miri) { &Workload::BUILTINS[..1] } else { Workload::BUILTINS } {
        let w = Workload::builtin(name, 1000).unwrap();
        assert_eq!(Workload::parse(name, &w.to_toml()).unwrap(), w, "{name}");
    }
}

/// The sample files, compiled in (Miri's isolation forbids reading them at run time).
const SAMPLES: [(&str, &str); 3] = [
    ("example", include_str!("../../workloads/example.toml")),
    ("kernel-build-like", include_str!("../../workloads/kernel-build-like.toml")),
    ("bgsave", include_str!("../../workloads/bgsave.toml")),
];

#[test]
fn the_sample_files_parse() {
    for (name, text) in if cfg!(miri) { &SAMPLES[..1] } else { &SAMPLES[..] } {
        if let Err(e) = Workload::parse(&format!("workloads/{name}.toml"), text) {
            panic!("{e}");
        }
    }
    let example = Workload::parse("example", SAMPLES[0].1).unwrap();
    assert_eq!(example.regions.len(), 4);
    assert!(example.phases.iter().any(|p| p.fork && p.child_exit));
    // The written-out builtins are the builtins at 65536 pages (the 250-line
    // kernel-build-like file takes Miri a while: bgsave only there).
    for (name, text) in if cfg!(miri) { &SAMPLES[2..] } else { &SAMPLES[1..] } {
        let file = Workload::parse(name, text).unwrap();
        assert_eq!(Some(file), Workload::builtin(name, 65536), "workloads/{name}.toml is stale");
    }
}

#[test]
#[cfg_attr(miri, ignore = "reads files")]
fn every_file_in_workloads_loads() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("workloads");
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    paths.sort();
    assert!(paths.len() >= SAMPLES.len(), "{paths:?}");
    for path in &paths {
        if let Err(e) = Workload::load(path) {
            panic!("{e}");
        }
    }
}

#[test]
#[cfg_attr(miri, ignore = "dozens of TOML parses take minutes under Miri; safe code, run natively and fuzzed")]
fn syntax_errors_give_the_line() {
    assert_error(&edit("pages = 64", "pages = = 64"), 4, "extra `=`");
    assert_error(&edit("ticks = 5", "ticks = 5 5"), 24, "string values must be quoted");
    assert_error(&edit("name = \"t\"", "name = \"t\"\nname = \"u\""), 2, "duplicate key");
    // Unclosed at the end of the text: the line that opened it, never past the text.
    assert_error("name = \"t\"\nregion = [\n\n", 2, "unclosed array, expected `]`");
}

#[test]
#[cfg_attr(miri, ignore = "dozens of TOML parses take minutes under Miri; safe code, run natively and fuzzed")]
fn unknown_keys_are_named() {
    assert_error(&edit("name = \"t\"", "name = \"t\"\ncolour = 1"), 2, "unknown field `colour`");
    assert_error(&edit("pages = 64", "pages = 64\nsize = 1"), 5, "unknown field `size`");
    assert_error(&edit("ticks = 10", "ticks = 10\nrepeat = 2"), 13, "unknown field `repeat`");
    assert_error(&edit("weight = 3", "weight = 3\nwrite = 3"), 18, "unknown field `write`");
    assert_error(&edit("[[phase.stream]]\nregion = \"hot\"", "[[phase.streams]]\nregion = \"hot\""), 14, "`streams`");
}

#[test]
#[cfg_attr(miri, ignore = "dozens of TOML parses take minutes under Miri; safe code, run natively and fuzzed")]
fn wrong_types_and_missing_keys_are_named() {
    assert_error(&edit("pages = 64", "pages = \"many\""), 4, "invalid type: string \"many\", expected u64");
    assert_error(&edit("pages = 64", "pages = -1"), 4, "expected u64");
    assert_error(&edit("fork = true", "fork = 1"), 26, "expected a boolean");
    assert_error(&edit("weight = 3", "weight = 2.5"), 17, "invalid type: floating point");
    assert_error(&edit("pages = 64\n", ""), 2, "missing field `pages`");
    assert_error(&edit("pattern = \"sequential\"\n", ""), 19, "missing field `pattern`");
    assert_error("", 1, "missing field `name`");
}

#[test]
#[cfg_attr(miri, ignore = "dozens of TOML parses take minutes under Miri; safe code, run natively and fuzzed")]
fn region_values_are_checked() {
    assert_error(&edit("name = \"cold\"", "name = \"hot\""), 7, "region \"hot\" is defined twice (first at line 3)");
    assert_error(&edit("pages = 192", "pages = 0"), 8, "region \"cold\" has 0 pages");
    assert_error(&edit("pages = 192", "pages = 68719476737"), 8, "more than 2^36");
    Workload::parse("t.toml", &edit("pages = 192", "pages = 68719476736")).unwrap();
    assert_error(&edit("ratio:0.35", "ratio:1.5"), 5, "ratio 1.5 is out of range (0 < R <= 1)");
    assert_error(&edit("ratio:0.35", "ratio:0"), 5, "ratio 0 is out of range");
    assert_error(&edit("ratio:0.35", "ratio:-0.5"), 5, "ratio -0.5 is out of range");
    assert_error(&edit("ratio:0.35", "ratio:nan"), 5, "ratio NaN is out of range");
    assert_error(&edit("ratio:0.35", "ratio:lots"), 5, "ratio \"lots\" is not a number");
    assert_error(
        &edit("ratio:0.35", "gzip"),
        5,
        "data \"gzip\" is not \"zero\", \"incompressible\", \"ratio:R\", \"random\", \"text\" or \"zero-fraction:F\"",
    );
    assert_error(&edit("ratio:0.35", "zero-fraction:1.5"), 5, "zero-fraction 1.5 is out of range (0 <= F <= 1)");
    assert_error(&edit("ratio:0.35", "zero-fraction:-0.1"), 5, "zero-fraction -0.1 is out of range");
    assert_error(&edit("ratio:0.35", "zero-fraction:nan"), 5, "zero-fraction NaN is out of range");
    assert_error(&edit("ratio:0.35", "zero-fraction:half"), 5, "zero-fraction \"half\" is not a number");
}

#[test]
#[cfg_attr(miri, ignore = "dozens of TOML parses take minutes under Miri; safe code, run natively and fuzzed")]
fn phase_values_are_checked() {
    assert_error(&edit("ticks = 10", "ticks = 0"), 12, "phase \"warm\" has 0 ticks");
    assert_error(&edit("accesses_per_tick = 100\nfork", "accesses_per_tick = 0\nfork"), 25, "0 accesses_per_tick");
    assert_error(
        &edit("accesses_per_tick = 100\nfork", "accesses_per_tick = 4294967296\nfork"),
        25,
        "accesses_per_tick 4294967296 is too large",
    );
    let streamless = edit("[[phase.stream]]\nregion = \"cold\"\npattern = \"stride:3\"\nprocess = \"child\"\n", "");
    assert_error(&streamless, 23, "phase \"save\" has no streams");
}

#[test]
#[cfg_attr(miri, ignore = "dozens of TOML parses take minutes under Miri; safe code, run natively and fuzzed")]
fn stream_values_are_checked() {
    assert_error(
        &edit("region = \"hot\"", "region = \"hott\""),
        15,
        "stream region \"hott\" is not defined (regions: hot, cold)",
    );
    assert_error(
        &edit("\"random\"", "\"zipf\""),
        16,
        "pattern \"zipf\" is not \"random\", \"sequential\" or \"stride:K\"",
    );
    assert_error(&edit("stride:3", "stride:0"), 30, "stride 0");
    assert_error(&edit("stride:3", "stride:-1"), 30, "stride \"-1\" is not a whole number");
    assert_error(&edit("weight = 3", "weight = 0"), 17, "weight 0");
    assert_error(&edit("weight = 3", "weight = 4294967296"), 17, "weight 4294967296 is too large");
    assert_error(&edit("writes = 30", "writes = 101"), 18, "writes 101 is over 100");
    assert_error(&edit("writes = 30", "writes = 300"), 18, "writes 300 is over 100");
    Workload::parse("t.toml", &edit("writes = 30", "writes = 100")).unwrap();
    assert_error(&edit("\"child\"", "\"kid\""), 31, "process \"kid\" is not \"parent\" or \"child\"");
}

#[test]
fn a_workload_needs_regions_and_phases() {
    assert_error("name = \"t\"\n", 1, "no regions");
    let regions_only = &BASE[..BASE.find("[[phase]]").unwrap()];
    assert_error(regions_only, 1, "no phases");
}

#[test]
#[cfg_attr(miri, ignore = "dozens of TOML parses take minutes under Miri; safe code, run natively and fuzzed")]
fn child_streams_need_a_living_child() {
    // No fork: the child stream is refused at its `process` line.
    assert_error(&edit("fork = true\n", ""), 30, "child stream in phase \"save\", where no child exists");
    // After the child exited, in a later phase.
    let late = "[[phase]]\nname = \"late\"\nticks = 1\naccesses_per_tick = 1\n[[phase.stream]]\n\
                region = \"hot\"\npattern = \"random\"\nprocess = \"child\"\n";
    assert_error(&format!("{BASE}{late}"), 39, "child stream in phase \"late\"");
    // Without the exit, the child lives on into the next phase.
    let kept = edit("child_exit = true\n", "");
    Workload::parse("t.toml", &format!("{kept}{late}")).unwrap();
    // A second fork while the child lives; an exit without a child.
    let refork = "[[phase]]\nname = \"again\"\nticks = 1\naccesses_per_tick = 1\nfork = true\n";
    assert_error(&format!("{kept}{refork}"), 35, "fork while the child forked in phase \"save\" still exists");
    let orphan = edit("fork = true", "fork = false").replace("\"child\"", "\"parent\"");
    assert_error(&orphan, 27, "child_exit in phase \"save\", where no child exists");
}

#[test]
fn errors_display_as_file_line_message() {
    let e = Workload::parse("dir/t.toml", &edit("pages = 192", "pages = 0")).unwrap_err();
    assert_eq!(e.to_string(), "dir/t.toml:8: region \"cold\" has 0 pages");
    let boxed: Box<dyn std::error::Error> = Box::new(e);
    assert!(boxed.to_string().starts_with("dir/t.toml:8:"));
}

#[test]
#[cfg_attr(miri, ignore = "reads files")]
fn load_reports_io_errors_at_line_0() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("workloads/does-not-exist.toml");
    let e = Workload::load(&path).unwrap_err();
    assert_eq!(e.line, 0);
    assert!(e.file.ends_with("does-not-exist.toml"), "{e}");
}

#[test]
fn validate_checks_built_workloads_and_says_where() {
    let mut w = one_phase(8, 1, 1, vec![parent(0, Pattern::Random, 1, 0)]);
    assert_eq!(w.validate(), Ok(()));
    w.phases[0].streams[0].write_percent = 101;
    let e = w.validate().unwrap_err();
    assert_eq!((e.file.as_str(), e.line), ("w", 0));
    assert_eq!(e.message, "phase \"p\" stream 1: writes 101 is over 100 (a percent)");
    w.phases[0].streams[0] = parent(1, Pattern::Random, 1, 0);
    assert!(w.validate().unwrap_err().message.contains("stream region 1 is out of range"));
    w.phases[0].streams[0] = child(0, Pattern::Random);
    assert!(w.validate().unwrap_err().message.contains("no child exists"));
    w.regions[0].data = Data::Ratio(f64::INFINITY);
    assert_eq!(w.validate().unwrap_err().message, "region \"r\": ratio inf is out of range (0 < R <= 1)");
}

#[test]
#[cfg_attr(miri, ignore = "dozens of TOML parses take minutes under Miri; safe code, run natively and fuzzed")]
fn sizes_are_checked_against_overflow() {
    let half = Region { name: "a".into(), pages: u64::MAX / 2 + 1, data: Data::Zero };
    let mut w = one_phase(1, 1, 1, vec![parent(0, Pattern::Random, 1, 0)]);
    w.regions = vec![half.clone(), Region { name: "b".into(), ..half }];
    assert_eq!(w.region_base(1), u64::MAX / 2 + 1);
    assert_eq!(w.pages(), u64::MAX, "saturates instead of panicking");
    assert_eq!(w.region_base(9), u64::MAX, "a region past the end saturates too");
    w.phases.push(w.phases[0].clone());
    w.phases[0].ticks = u64::MAX;
    assert_eq!(w.ticks(), u64::MAX);
    assert!(w.validate().is_err());
}

// ---- builtins -------------------------------------------------------------------------

#[test]
fn builtins_are_valid_and_add_up_to_their_size() {
    for &(name, description) in Workload::BUILTINS {
        assert!(!description.is_empty());
        for pages in [16, 17, 100, 1000, 65536, 1 << 20, 1 << 36] {
            let w = Workload::builtin(name, pages).unwrap_or_else(|| panic!("{name} at {pages}"));
            assert_eq!(w.name, name);
            assert_eq!(w.validate(), Ok(()), "{name} at {pages}");
            assert_eq!(w.pages(), pages, "{name} at {pages}");
            assert!(w.phases.iter().all(|p| p.accesses_per_tick <= 4096));
        }
        assert_eq!(Workload::builtin(name, 15), None, "too small");
        assert_eq!(Workload::builtin(name, (1 << 36) + 1), None, "too large");
    }
    assert_eq!(Workload::builtin("kernel-build", 1024), None);
}

#[test]
fn builtin_phases_scale_with_the_size() {
    for &(name, _) in Workload::BUILTINS {
        let small = Workload::builtin(name, 1 << 16).unwrap();
        let large = Workload::builtin(name, 1 << 20).unwrap();
        assert!(large.accesses() >= 15 * small.accesses(), "{name}");
        assert!(large.ticks() > small.ticks(), "{name}");
    }
}

#[test]
fn builtins_have_their_documented_shape() {
    let pages = 1 << 16;
    let usemem = Workload::builtin("usemem", pages).unwrap();
    assert_eq!(usemem.regions[0].data, Data::Ratio(0.3));
    let [write, read] = &usemem.phases[..] else { panic!() };
    assert_eq!(write.streams, [parent(0, Pattern::Sequential, 1, 100)]);
    assert_eq!(read.streams, [parent(0, Pattern::Sequential, 1, 0)]);
    assert_eq!(u64::from(write.accesses_per_tick) * write.ticks, pages, "one write pass");
    assert_eq!(read.ticks, 3 * write.ticks, "three read passes");

    let kb = Workload::builtin("kernel-build-like", pages).unwrap();
    let hot = kb.region_index("hot").unwrap();
    assert_eq!(kb.regions[hot].pages, pages / 4);
    assert_eq!(kb.regions[hot].data, Data::Ratio(0.35));
    assert!(kb.regions.iter().filter(|r| r.name != "hot").all(|r| r.data == Data::Ratio(0.3)));
    let bursts = kb.phases.iter().filter(|p| p.name.starts_with("burst-")).count();
    let rereads = kb.phases.iter().filter(|p| p.name.starts_with("reread-")).count();
    assert_eq!((bursts, rereads), (6, 6));
    for p in kb.phases.iter().filter(|p| p.name != "tmpfs" && p.name != "warm") {
        let hot_stream = |s: &Stream| s.region == hot && s.pattern == Pattern::Random && s.write_percent == 30;
        assert!(p.streams.iter().any(hot_stream), "the hot set is busy in {}", p.name);
    }

    let bg = Workload::builtin("bgsave", pages).unwrap();
    let forks: Vec<&Phase> = bg.phases.iter().filter(|p| p.fork).collect();
    assert_eq!(forks.len(), 1);
    assert!(forks[0].child_exit);
    assert!(forks[0].streams.contains(&child(0, Pattern::Sequential)));
    assert!(forks[0].streams.iter().any(|s| s.process == Process::Parent && s.write_percent > 0));

    let side = Workload::builtin("cold-sidecar", pages).unwrap();
    let [init, idle] = &side.phases[..] else { panic!() };
    assert_eq!(u64::from(init.accesses_per_tick) * init.ticks, pages, "touches everything once");
    assert_eq!(idle.accesses_per_tick, 1, "then a trickle");
    assert!(idle.ticks * 4 < pages, "that touches a small fraction of it");
}

#[test]
fn builtins_generate_exactly_their_accesses() {
    let pages = if cfg!(miri) { 64 } else { 1024 };
    for &(name, _) in Workload::BUILTINS {
        let w = Workload::builtin(name, pages).unwrap();
        let ticks = run(&w, 1);
        assert_eq!(ticks.len() as u64, w.ticks(), "{name}");
        let n = ticks.iter().map(|t| accesses(t).count() as u64).sum::<u64>();
        assert_eq!(n, w.accesses(), "{name}");
        for (_, region, page, _) in ticks.iter().flat_map(|t| accesses(t)) {
            assert!(page < w.regions[region as usize].pages);
        }
    }
}

// ---- the generator --------------------------------------------------------------------

#[test]
fn the_same_seed_gives_the_same_events_and_another_seed_others() {
    let w = Workload::parse("t.toml", BASE).unwrap();
    assert_eq!(run(&w, 42), run(&w, 42));
    assert_ne!(run(&w, 42), run(&w, 43));
    assert_ne!(pages_of(&w, 0), pages_of(&w, 1));
}

#[test]
fn each_tick_makes_exactly_accesses_per_tick_accesses() {
    let w = Workload::parse("t.toml", BASE).unwrap();
    let ticks = run(&w, 7);
    assert_eq!(ticks.len(), 15);
    assert!(ticks.iter().all(|t| accesses(t).count() == 100));
    let mut g = Generator::new(&w, 7);
    let mut out = Vec::new();
    while g.tick(&mut out) {}
    assert_eq!(g.ticks_done(), 15);
    assert_eq!(g.phase_index(), None);
    let n = out.len();
    assert!(!g.tick(&mut out), "still finished");
    assert_eq!(out.len(), n, "and appends nothing");
}

#[test]
fn sequential_visits_every_page_in_order_and_wraps() {
    let w = one_phase(10, 3, 7, vec![parent(0, Pattern::Sequential, 1, 0)]);
    let expected: Vec<u64> = (0..21).map(|i| i % 10).collect();
    assert_eq!(pages_of(&w, 0), expected);
    // A single page.
    assert_eq!(pages_of(&one_phase(1, 1, 3, vec![parent(0, Pattern::Sequential, 1, 0)]), 0), [0, 0, 0]);
}

#[test]
fn cursors_restart_at_each_phase() {
    let mut w = one_phase(10, 1, 4, vec![parent(0, Pattern::Sequential, 1, 0)]);
    w.phases.push(w.phases[0].clone());
    assert_eq!(pages_of(&w, 0), [0, 1, 2, 3, 0, 1, 2, 3]);
}

#[test]
fn stride_visits_every_page_once_per_lap() {
    for (pages, k) in [(10, 3), (12, 4), (12, 6), (16, 8), (9, 9), (7, 10), (5, 1), (1, 3), (30, 12)] {
        let laps = 3;
        let w = one_phase(pages, laps, pages as u32, vec![parent(0, Pattern::Stride(k), 1, 0)]);
        let seen = pages_of(&w, 0);
        let first = &seen[..pages as usize];
        assert_eq!(first[0], 0);
        if pages > 1 {
            let step = if k % pages == 0 { 1 } else { k % pages }; // a step of 0 moves on at once
            assert_eq!(first[1], step, "advances by k");
        }
        let mut sorted = first.to_vec();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..pages).collect::<Vec<_>>(), "pages {pages} stride {k}: {first:?}");
        for lap in seen.chunks(pages as usize) {
            assert_eq!(lap, first, "every lap repeats the order");
        }
    }
    let w = one_phase(10, 1, 10, vec![parent(0, Pattern::Stride(4), 1, 0)]);
    assert_eq!(pages_of(&w, 0), [0, 4, 8, 2, 6, 1, 5, 9, 3, 7]);
    let seq = one_phase(10, 2, 10, vec![parent(0, Pattern::Sequential, 1, 0)]);
    let one = one_phase(10, 2, 10, vec![parent(0, Pattern::Stride(1), 1, 0)]);
    assert_eq!(pages_of(&seq, 0), pages_of(&one, 0), "stride 1 is sequential");
}

#[test]
fn random_pages_stay_in_the_region_and_cover_it() {
    let w = one_phase(50, 10, 200, vec![parent(0, Pattern::Random, 1, 0)]);
    let mut hits = [0u32; 50];
    for p in pages_of(&w, 3) {
        hits[p as usize] += 1;
    }
    // 2000 draws over 50 pages: 40 each on average.
    assert!(hits.iter().all(|&h| (15..=70).contains(&h)), "{hits:?}");
}

#[test]
fn weights_give_proportional_shares() {
    let ticks = if cfg!(miri) { 2 } else { 10 }; // of 1000 accesses
    let mut w = one_phase(100, ticks, 1000, vec![]);
    w.regions.push(Region { name: "s".into(), pages: 100, data: Data::Zero });
    w.regions.push(Region { name: "t".into(), pages: 100, data: Data::Zero });
    w.phases[0].streams =
        vec![parent(0, Pattern::Random, 1, 0), parent(1, Pattern::Sequential, 3, 0), parent(2, Pattern::Random, 6, 0)];
    let mut counts = [0u32; 3];
    for (_, region, _, _) in run(&w, 11).iter().flat_map(|t| accesses(t)) {
        counts[region as usize] += 1;
    }
    // Shares of 1/10, 3/10 and 6/10, within 15 % of each (over 3 sigma at 10^4).
    for (count, tenths) in counts.into_iter().zip([1, 3, 6]) {
        let expected = f64::from(tenths) * ticks as f64 * 100.0;
        assert!((f64::from(count) - expected).abs() <= 0.15 * expected, "{counts:?}");
    }
}

#[test]
fn write_percent_gives_the_share_of_writes() {
    let n = if cfg!(miri) { 500 } else { 2000 };
    let share = |percent| {
        let w = one_phase(100, n / 100, 100, vec![parent(0, Pattern::Random, 1, percent)]);
        run(&w, 5).iter().flat_map(|t| accesses(t)).filter(|a| a.3).count() as u64
    };
    assert_eq!(share(0), 0);
    assert_eq!(share(100), n);
    let s = share(30);
    assert!((n * 24 / 100..=n * 36 / 100).contains(&s), "{s} writes of {n} at 30 %");
}

#[test]
fn fork_comes_first_and_child_exit_last_in_their_ticks() {
    let mut w = one_phase(20, 2, 5, vec![parent(0, Pattern::Random, 1, 10)]);
    let mut forked = phase("forked", 3, 5, vec![parent(0, Pattern::Random, 1, 0), child(0, Pattern::Sequential)]);
    forked.fork = true;
    let mut exiting = phase("exiting", 2, 5, vec![child(0, Pattern::Sequential)]);
    exiting.child_exit = true;
    let after = phase("after", 1, 5, vec![parent(0, Pattern::Sequential, 1, 0)]);
    w.phases.extend([forked, exiting, after]);
    assert_eq!(w.validate(), Ok(()));

    let mut g = Generator::new(&w, 9);
    let mut ticks = Vec::new();
    let mut out = Vec::new();
    while {
        out.clear();
        g.tick(&mut out)
    } {
        ticks.push((out.clone(), g.has_child()));
    }
    assert_eq!(ticks.len(), 8);
    let position = |e: Event| -> Vec<(usize, usize)> {
        let mut at = Vec::new();
        for (t, (events, _)) in ticks.iter().enumerate() {
            at.extend(events.iter().enumerate().filter(|&(_, &x)| x == e).map(|(i, _)| (t, i)));
        }
        at
    };
    assert_eq!(position(Event::Fork), [(2, 0)], "first event of the forking phase");
    assert_eq!(position(Event::ChildExit), [(6, 5)], "after the last access of the exiting phase");
    for (t, (events, has_child)) in ticks.iter().enumerate() {
        assert_eq!(accesses(events).count(), 5);
        let children = accesses(events).filter(|a| a.0 == Process::Child).count();
        assert_eq!(*has_child, (2..6).contains(&t), "tick {t}");
        if !(2..=6).contains(&t) {
            assert_eq!(children, 0, "tick {t}: no child, no child access");
        }
    }
    // The exiting phase has only the child's stream; the child reads where it is.
    assert!(ticks[5].0.iter().all(|e| matches!(e, Event::Access { process: Process::Child, .. })));
}

#[test]
fn fork_and_exit_in_one_phase_of_one_tick() {
    let mut w = one_phase(4, 1, 2, vec![child(0, Pattern::Sequential)]);
    w.phases[0].fork = true;
    w.phases[0].child_exit = true;
    let a = |page| Event::Access { process: Process::Child, region: 0, page, write: false };
    assert_eq!(run(&w, 0), [vec![Event::Fork, a(0), a(1), Event::ChildExit]]);
}

#[test]
fn child_streams_are_silent_without_a_child() {
    // Not a valid workload (validate refuses it), but the generator copes.
    let w = one_phase(8, 4, 50, vec![parent(0, Pattern::Random, 1, 0), child(0, Pattern::Random)]);
    assert!(w.validate().is_err());
    let ticks = run(&w, 2);
    assert_eq!(ticks.len(), 4);
    for t in &ticks {
        assert_eq!(accesses(t).count(), 50, "the parent's stream takes every access");
        assert!(accesses(t).all(|a| a.0 == Process::Parent));
    }
    let only_child = one_phase(8, 3, 50, vec![child(0, Pattern::Random)]);
    assert_eq!(run(&only_child, 2), vec![Vec::<Event>::new(); 3], "ticks pass, nothing is accessed");
}

#[test]
fn accesses_name_the_region_and_a_page_within_it() {
    let w = Workload::parse("t.toml", BASE).unwrap();
    for (process, region, page, _) in run(&w, 4).iter().flat_map(|t| accesses(t)) {
        let r = &w.regions[region as usize];
        assert!(page < r.pages, "{page} in {}", r.name);
        assert!(process == Process::Parent || region == 1);
    }
}

#[test]
fn a_generator_skips_a_stream_of_a_missing_region() {
    let w = one_phase(8, 1, 4, vec![parent(3, Pattern::Random, 1, 0), parent(0, Pattern::Sequential, 1, 0)]);
    let mut g = Generator::new(&w, 0);
    let mut out = Vec::new();
    assert!(g.tick(&mut out));
    assert_eq!(out.len(), 4, "the valid stream takes every access");
    assert!(out.iter().all(|e| matches!(e, Event::Access { region: 0, .. })), "{out:?}");
}

#[test]
fn cursors_do_not_overflow_on_huge_regions() {
    // Past MAX_REGION_PAGES (validate refuses it); the generator still wraps correctly.
    let w = one_phase(u64::MAX, 1, 3, vec![parent(0, Pattern::Stride(u64::MAX - 1), 1, 0)]);
    assert_eq!(pages_of(&w, 0), [0, u64::MAX - 1, u64::MAX - 2]);
    let w = one_phase(u64::MAX, 1, 3, vec![parent(0, Pattern::Random, 1, 0)]);
    assert_eq!(pages_of(&w, 0).len(), 3);
}

#[test]
fn the_generator_reports_where_it_is() {
    let w = Workload::parse("t.toml", BASE).unwrap();
    let mut g = Generator::new(&w, 0);
    assert_eq!((g.phase_index(), g.ticks_done(), g.has_child()), (Some(0), 0, false));
    let mut out = Vec::new();
    for _ in 0..10 {
        assert!(g.tick(&mut out));
    }
    assert_eq!((g.phase_index(), g.ticks_done(), g.has_child()), (Some(1), 10, false));
    assert!(g.tick(&mut out));
    assert_eq!((g.phase_index(), g.ticks_done(), g.has_child()), (Some(1), 11, true));
    assert!(std::ptr::eq(g.workload(), &w));
}

/// A page of `data` (version `version`, seed 1, region 0, page `page`).
mod page_data;
