//! The kernel lab's experiments (kernel-lab/README.md, "Experiment files"): one TOML file
//! describes a machine, its swap devices, the vm and zswap knobs, a cgroup tree with its
//! limits, the tasks that run workloads in it and the cgroup files written between
//! phases. The same file drives the lab's guest program on a real kernel and the
//! simulator's memory manager, and both write the same result JSON.
//!
//! * [`format`](mod@format) — the experiment types and the TOML reader ([`Experiment::load`]), whose
//!   errors name the file and the line;
//! * [`result`] — the result JSON ([`ExperimentResult`]), written by both sides;
//! * [`profile`] — the kernel profiles: the library switches that give each lab kernel's
//!   own behaviour where the kernels differ ([`KernelProfile`]);
//! * [`run`] — the experiment on the simulator's memory manager ([`run::run`]);
//! * [`compare`] — the simulation against a kernel's recording, counter by counter, with
//!   the tolerance and the verdicts ([`compare::compare`]).
//!
//! Invariants: reading never panics, whatever the input (fuzz target `experiment`);
//! an experiment's workloads use only byte-exact page contents
//! ([`crate::workload::fill_page`]), so the guest can write the very bytes the
//! simulator compresses.

pub mod compare;
pub mod format;
pub mod profile;
pub mod result;
pub mod run;

pub use compare::{CompareError, Comparison, Expected, Row, Verdict};
pub use format::{
    Action, COMPRESSORS, COUNTERS, Cgroup, ErrorKind, Expect, Experiment, ExperimentError, Lru, Machine, Size,
    SwapDevice, Task, Vm, WorkloadSource, Zswap,
};
pub use profile::KernelProfile;
pub use result::{
    ExperimentResult, MachineSettings, MemcgPoint, Point, Run, Settings, Source, SwapSettings, TaskOutcome, VmSettings,
    ZswapSettings,
};
pub use run::{RunError, RunOptions};

#[cfg(test)]
mod tests;
