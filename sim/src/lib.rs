//! `vswap-sim`'s library side: a small memory manager that drives the
//! facade the way mm/vmscan.c and mm/memory.c drive the kernel's swap code, workload
//! generators, the scenarios that replay the mailing-list experiments, and their reports.
//!
//! Layers, bottom up:
//! * [`workload`] — regions, phases and access patterns (from a TOML file or built in),
//!   turned into a seeded, reproducible stream of page accesses;
//! * [`mm`] — resident pages per memcg with `memory.max` / `memory.high`, an
//!   active/inactive LRU, reclaim through `alloc` → `dup` → `writeout` → `evict`, faults
//!   through `fault` → `put`, fork, and the logical clock that drives the shrink worker;
//! * [`scenario`] — the experiments (docs/kernel.md Appendix B), each run one or more ways;
//! * [`report`] and `plot` (feature `cli`) — the terminal table, JSON, CSV and SVG
//!   timelines;
//! * [`experiment`] — the kernel lab's experiment files and result JSON (kernel-lab/),
//!   run on the memory manager and compared with the kernels' recordings.
//!
//! Invariants: nothing here reads the wall clock or a global; a scenario is a pure
//! function of its name, its options and its seed, so the same seed gives the same
//! report byte for byte.

#![deny(missing_docs)]

pub mod experiment;
pub mod footprint;
pub mod mm;
#[cfg(feature = "cli")]
pub mod plot;
pub mod report;
pub mod scenario;
pub mod workload;
