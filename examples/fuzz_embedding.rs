//! Embedding vswap in a fuzz campaign (features `arbitrary` and `model`).
//!
//! A downstream fuzzer turns its input bytes into `vswap::op::Op`s with `arbitrary`,
//! runs them through `vswap::model::Harness` (the real system and the reference model in
//! lock step) and treats any divergence as a crash. In a libFuzzer target the body of
//! `run` is the `fuzz_target!` closure; here it runs on a few fixed seeds. A divergence
//! is a `vswap::model::Divergence`: the step, the operation, which observation differed
//! and both values; its `Display` is a one-line report.
//!
//! `cargo run --example fuzz_embedding --features model,arbitrary`

use arbitrary::{Arbitrary, Unstructured};
use vswap::Config;
use vswap::model::{Divergence, Harness};
use vswap::op::Op;

fn run(data: &[u8]) -> Result<usize, Divergence> {
    let mut u = Unstructured::new(data);
    let mut h = Harness::new(Config { cluster_shift: 3, cpus: 2, ..Config::default() }).expect("a valid config");
    let mut steps = 0;
    // `arbitrary` keeps producing values from an exhausted input: stop at its end.
    while !u.is_empty() {
        let Ok(op) = Op::arbitrary(&mut u) else { break };
        // The inner result is the system's answer, which the model has already agreed with.
        let _answer = h.step(&op)?;
        steps += 1;
    }
    Ok(steps)
}

fn main() {
    // Deterministic pseudo-random seeds (a fuzzer would supply these).
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for seed in 0..8 {
        let bytes: Vec<u8> = (0..4096)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        match run(&bytes) {
            Ok(steps) => println!("seed {seed}: {steps} operations, system and model agree"),
            Err(divergence) => {
                eprintln!(
                    "seed {seed}: divergence at step {} in {:?}: {divergence}",
                    divergence.step, divergence.observation
                );
                std::process::exit(1);
            }
        }
    }
}
