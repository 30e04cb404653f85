//! The simulator's input surface: any text given to `Workload::parse` (a workload file)
//! gets a `WorkloadError` with a line inside the text, or a valid workload that
//! survives `to_toml` → `parse` unchanged; a valid workload of a small size then runs
//! through `Generator` and the memory manager (`vswap_sim::mm`) under memory pressure
//! without an error, and the memory manager's invariants hold at the end.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vswap::{CompressionMode, DeviceSpec, ZswapConfig};
use vswap_sim::mm::{Mm, MmConfig};
use vswap_sim::workload::{Generator, Workload};

/// Runs stop after this many events, so one input stays fast.
const EVENTS: usize = 20_000;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let w = match Workload::parse("fuzz.toml", &text) {
        Ok(w) => w,
        Err(e) => {
            assert!(e.line <= text.lines().count().max(1), "{e} points past the text");
            assert!(!e.message.is_empty());
            return;
        }
    };
    assert_eq!(w.validate(), Ok(()));
    let again = Workload::parse("again.toml", &w.to_toml()).expect("to_toml gives a parsable file");
    assert_eq!(again, w, "to_toml -> parse changed the workload");
    // Small runs only: this target is about inputs, not sizes.
    if w.pages() > 4096 || w.phases.iter().any(|p| p.accesses_per_tick > 4096) {
        return;
    }
    let zswap =
        ZswapConfig { compressor: CompressionMode::Synthetic, shrinker_enabled: true, ..ZswapConfig::default() };
    // page-cluster 3, cluster readahead: the lab guest's defaults.
    let cfg = MmConfig::new(512, 2, zswap, vec![DeviceSpec::null("swap", 1024)]);
    let mut mm = Mm::new(cfg).expect("machine");
    let cg = mm.memcg_create(Mm::ROOT, "fuzz").expect("memcg");
    mm.set_memory_max(cg, Some(64 * 4096)).expect("memory.max");
    let task = mm.spawn(cg, &w, 1).expect("a valid small workload spawns");
    let mut g = Generator::new(&w, 1);
    let (mut buf, mut n) = (Vec::new(), 0);
    while n < EVENTS && g.tick(&mut buf) {
        for ev in buf.drain(..) {
            mm.apply(task, &ev).expect("every generated event applies");
            n += 1;
        }
        mm.tick().expect("tick");
    }
    mm.check().expect("the memory manager's invariants");
});
