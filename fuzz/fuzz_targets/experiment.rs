//! The kernel lab's input surface: any bytes, read as an experiment file followed by
//! workload files (parts separated by a line `%%`; a task's workload is the next unused
//! part, or a small built-in one when the parts run out), give an `ExperimentError` with
//! a line inside the experiment's text, or a valid experiment. A valid experiment of a
//! small size then runs on the simulator (`experiment::run`) without a panic (an
//! unsupported action is a `RunError`), twice with the same bytes out, and compares
//! with its own result as a recording with no verdict BROKEN.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vswap_sim::experiment::compare;
use vswap_sim::experiment::{Experiment, RunOptions, Source, run};

/// The workload a task gets when the input has no part left for it (its name is put in).
const FALLBACK: &str = "[[region]]\nname = \"d\"\npages = 64\ndata = \"zero-fraction:0.5\"\n\
    [[phase]]\nname = \"fill\"\nticks = 2\naccesses_per_tick = 64\n[[phase.stream]]\nregion = \"d\"\n\
    pattern = \"sequential\"\nwrites = 100\n[[phase]]\nname = \"read\"\nticks = 2\naccesses_per_tick = 64\n\
    [[phase.stream]]\nregion = \"d\"\npattern = \"random\"\n";

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut parts = text.split("\n%%\n");
    let exp_text = parts.next().unwrap_or_default();
    let mut rest = parts.map(str::to_owned);
    let parsed = Experiment::parse("fuzz", exp_text, &mut |name| {
        let body = rest.next().unwrap_or_else(|| format!("name = {:?}\n{FALLBACK}", name));
        Ok((format!("{name}.toml"), body))
    });
    let exp = match parsed {
        Ok(e) => e,
        Err(e) => {
            assert!(e.line >= 1 && e.line <= exp_text.lines().count().max(1), "{e} points outside the text");
            assert!(!e.to_string().is_empty());
            return;
        }
    };
    assert!(!exp.tasks.is_empty() && !exp.kernels.is_empty());
    assert!(exp.tasks.iter().all(|t| exp.workloads.contains_key(&t.workload)));
    assert_eq!(exp.point_names().len(), exp.task_workload(0).map_or(0, |w| w.phases.len()) + 2);
    // Small runs only: this target is about inputs, not sizes.
    let accesses: u64 = exp.workloads.values().map(|w| w.accesses()).sum();
    if exp.workload_pages() > 4096 || accesses > 50_000 || exp.machine.ram_mib > 4096 || exp.tasks.len() > 8 {
        return;
    }
    let opts = RunOptions::default();
    let Ok(a) = run::run(&exp, &opts) else { return };
    let b = run::run(&exp, &opts).expect("a run that succeeded once succeeds again");
    assert_eq!(a.to_json(), b.to_json(), "the same experiment gave two results");
    let mut rec = a.clone();
    rec.source = Source::Kernel;
    compare::check_recording(&rec, &exp).expect("the simulator's result is a well-formed recording");
    for k in &exp.kernels {
        // Equal values agree: nothing is BROKEN (an expected divergence is STALE here).
        let c = compare::compare(&exp, k, &rec, &a);
        assert!(c.rows.iter().all(|r| r.verdict != compare::Verdict::Broken), "{}", compare::render_table(&c));
    }
});
