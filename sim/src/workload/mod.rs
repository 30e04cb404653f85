//! Workloads: regions of anonymous memory and the phases that access them, read from a
//! TOML file ([`Workload::parse`], [`Workload::load`]) or built in ([`Workload::builtin`]),
//! and turned by a [`Generator`] into a seeded, reproducible stream of page [`Event`]s.
//!
//! What it models: one process (the *parent*) that maps its regions one after another
//! ([`Workload::region_base`]), and at most one forked *child* sharing them (Redis
//! BGSAVE, docs/kernel.md Appendix B4). A phase lasts a number of logical ticks; each tick
//! it makes `accesses_per_tick` page accesses, each drawn from one of its streams with
//! probability weight / sum of weights. A stream walks one region randomly,
//! sequentially or by a stride, and writes with probability `write_percent` / 100.
//! What a page holds ([`Data`]) decides what zswap makes of it
//! ([`Workload::page_data`]).
//!
//! Invariants:
//! * a workload that passed [`Workload::validate`] (every parsed and built-in one has)
//!   has at least one region and one phase, regions of 1..=[`MAX_REGION_PAGES`] pages
//!   with distinct names, phases of at least one tick and one access per tick, at least
//!   one stream per phase, weights >= 1, `write_percent` <= 100, strides >= 1, totals
//!   (pages, ticks) that fit a `u64`, and child streams only while a child exists (it
//!   is forked at the start of a `fork` phase and exits at the end of a `child_exit`
//!   phase; at most one at a time);
//! * the event stream is a pure function of the workload and the seed
//!   (xoshiro256++ seeded through SplitMix64): no global state, no wall clock;
//! * [`Workload::page_data`] is a pure function of (seed, region, page).

mod builtin;
mod bytes;
mod parse;
#[cfg(test)]
mod tests;

pub use bytes::{NotByteExact, PAGE_BYTES, fill_page, page_data_of, zero_prefix};
use rand_core::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use std::fmt;

/// The largest region, in pages (2^36 pages: 256 TiB of 4 KiB pages).
pub const MAX_REGION_PAGES: u64 = 1 << 36;

/// The most accesses a phase may make per tick (a tick's events are buffered).
pub const MAX_ACCESSES_PER_TICK: u32 = 1 << 24;

/// The page size the compressed lengths of [`PageData`] are relative to.
pub const PAGE_SIZE: u32 = 4096;

/// A workload: regions of anonymous memory and phases that access them.
#[derive(Debug, Clone, PartialEq)]
pub struct Workload {
    /// Its name (from the file, or the builtin's).
    pub name: String,
    /// The regions, laid out one after another in the address space.
    pub regions: Vec<Region>,
    /// The phases, run in order.
    pub phases: Vec<Phase>,
}

/// A region of anonymous memory.
#[derive(Debug, Clone, PartialEq)]
pub struct Region {
    /// Its name, unique in the workload.
    pub name: String,
    /// Its size in pages (1..=[`MAX_REGION_PAGES`]).
    pub pages: u64,
    /// What its pages hold.
    pub data: Data,
}

/// What the pages hold, which decides what zswap makes of them.
///
/// `Ratio` and `Incompressible` are synthetic: they state a compressed size. `Zero`,
/// `Random`, `Text` and `ZeroFraction` are byte-exact ([`Data::is_byte_exact`]): their
/// bytes come from [`fill_page`], and their compressed size is lz4's on those bytes; only
/// they may be used by the kernel lab's experiments, whose guest writes the same bytes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Data {
    /// Zero-filled pages (stored as zero pages, no compression).
    Zero,
    /// Compressible pages: compressed size / original size, in (0, 1].
    Ratio(f64),
    /// Pages that do not compress (zswap stores them as-is).
    Incompressible,
    /// Random bytes (file syntax `random`): lz4 cannot shrink them.
    Random,
    /// Text-like bytes (`text`): numbered lines of English words.
    Text,
    /// The first round(F * 4096) bytes zero, the rest random (`zero-fraction:F`,
    /// 0 <= F <= 1).
    ZeroFraction(f64),
}

/// A stretch of the workload with fixed streams.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Phase {
    /// Its name (for reports).
    pub name: String,
    /// Its duration in logical ticks (>= 1).
    pub ticks: u64,
    /// Page accesses generated per tick, across all streams (>= 1).
    pub accesses_per_tick: u32,
    /// At the phase start the parent forks a child (Redis BGSAVE).
    pub fork: bool,
    /// At the phase end the child exits.
    pub child_exit: bool,
    /// The access streams (at least one).
    pub streams: Vec<Stream>,
}

/// Which process makes an access.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Process {
    /// The workload's process.
    Parent,
    /// Its forked child, between a `fork` phase's start and a `child_exit` phase's end.
    Child,
}

/// One source of accesses within a phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stream {
    /// The region it accesses (an index into [`Workload::regions`]).
    pub region: usize,
    /// The process making the accesses.
    pub process: Process,
    /// How it walks the region.
    pub pattern: Pattern,
    /// Its share of the phase's accesses is weight / sum of the active weights (>= 1).
    pub weight: u32,
    /// Percent of its accesses that are writes (0..=100).
    pub write_percent: u8,
}

/// How a stream walks its region. Cursors start at page 0 at the start of each phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Pattern {
    /// A uniformly random page each access.
    Random,
    /// Pages 0, 1, …, pages - 1, then again from 0.
    Sequential,
    /// The cursor advances by k (>= 1) modulo the region size; when it comes back to
    /// where it started before the lap is done (k and the size share a factor g) it
    /// moves on to the next page, so each lap of `pages` accesses visits every page
    /// once: 0, k, 2k, …, then 1, 1 + k, …, up to g - 1 + …, and the next lap repeats
    /// the order from 0.
    Stride(u64),
}

/// One generated event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// A page access. `page` is relative to the region (add
    /// [`Workload::region_base`] for the page in the address space).
    Access {
        /// The process that touches the page (the parent, or the child after a fork).
        process: Process,
        /// The region's index in the workload.
        region: u32,
        /// The page's index within the region.
        page: u64,
        /// A store (the PTE becomes dirty) rather than a load.
        write: bool,
    },
    /// The parent forks a child that shares all its pages.
    Fork,
    /// The child exits, dropping its references.
    ChildExit,
}

/// What one page holds, as zswap sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageData {
    /// A zero-filled page.
    pub zero: bool,
    /// Its compressed length in bytes (0 for a zero page, [`PAGE_SIZE`] when it does not
    /// compress, otherwise 64..=[`PAGE_SIZE`]).
    pub compressed_len: u32,
}

/// A workload that could not be read: where, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkloadError {
    /// The file (as given to [`Workload::parse`]), or the workload's name.
    pub file: String,
    /// The 1-based line of the problem; 0 when it has none (I/O, built structures).
    pub line: usize,
    /// What is wrong, in a few words.
    pub message: String,
}

impl fmt::Display for WorkloadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.line, self.message)
    }
}

impl std::error::Error for WorkloadError {}

impl fmt::Display for Data {
    /// The file syntax: `zero`, `incompressible`, `ratio:R`, `random`, `text` or
    /// `zero-fraction:F`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Data::Zero => f.write_str("zero"),
            Data::Ratio(r) => write!(f, "ratio:{r}"),
            Data::Incompressible => f.write_str("incompressible"),
            Data::Random => f.write_str("random"),
            Data::Text => f.write_str("text"),
            Data::ZeroFraction(z) => write!(f, "zero-fraction:{z}"),
        }
    }
}

impl fmt::Display for Pattern {
    /// The file syntax: `random`, `sequential` or `stride:K`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Pattern::Random => f.write_str("random"),
            Pattern::Sequential => f.write_str("sequential"),
            Pattern::Stride(k) => write!(f, "stride:{k}"),
        }
    }
}

impl fmt::Display for Process {
    /// The file syntax: `parent` or `child`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Process::Parent => "parent",
            Process::Child => "child",
        })
    }
}

impl Workload {
    /// The built-in workloads: (name, one-line description).
    pub const BUILTINS: &'static [(&'static str, &'static str)] = builtin::BUILTINS;

    /// Parses a workload file. `file` is only used in errors, which carry the 1-based
    /// line of the offending value.
    pub fn parse(file: &str, text: &str) -> Result<Workload, WorkloadError> {
        parse::parse(file, text)
    }

    /// Reads and parses a workload file (an I/O error has line 0).
    pub fn load(path: &std::path::Path) -> Result<Workload, WorkloadError> {
        let file = path.display().to_string();
        match std::fs::read_to_string(path) {
            Ok(text) => Workload::parse(&file, &text),
            Err(e) => Err(WorkloadError { file, line: 0, message: e.to_string() }),
        }
    }

    /// A built-in workload of `pages` pages in total, its phases scaled to the size;
    /// None for an unknown name or a size outside 16..=[`MAX_REGION_PAGES`].
    pub fn builtin(name: &str, pages: u64) -> Option<Workload> {
        builtin::builtin(name, pages)
    }

    /// Checks the invariants listed in the module doc (the checks [`Workload::parse`]
    /// makes on the values, for a workload built in code). The error has line 0 and
    /// names the workload as its file.
    pub fn validate(&self) -> Result<(), WorkloadError> {
        parse::check(self).map_err(|(site, message)| WorkloadError {
            file: self.name.clone(),
            line: 0,
            message: format!("{}: {message}", site.describe(self)),
        })
    }

    /// The index of the region called `name`.
    pub fn region_index(&self, name: &str) -> Option<usize> {
        self.regions.iter().position(|r| r.name == name)
    }

    /// The total size in pages, saturating at `u64::MAX` (never reached by a valid
    /// workload).
    pub fn pages(&self) -> u64 {
        self.regions.iter().fold(0u64, |sum, r| sum.saturating_add(r.pages))
    }

    /// The first page of region `region` in the address space, the regions laid out in
    /// order from page 0. A `region` past the end gives the total size; saturating (never for
    /// a valid workload).
    pub fn region_base(&self, region: usize) -> u64 {
        self.regions[..region.min(self.regions.len())].iter().fold(0u64, |sum, r| sum.saturating_add(r.pages))
    }

    /// The region holding page `vpage` of the address space, and the page within it
    /// (the inverse of [`Workload::region_base`]); None past the last region.
    pub fn region_of(&self, vpage: u64) -> Option<(usize, u64)> {
        let mut rest = vpage;
        for (i, r) in self.regions.iter().enumerate() {
            if rest < r.pages {
                return Some((i, rest));
            }
            rest -= r.pages;
        }
        None
    }

    /// The total duration in ticks, saturating at `u64::MAX` (never reached by a valid
    /// workload).
    pub fn ticks(&self) -> u64 {
        self.phases.iter().fold(0u64, |sum, p| sum.saturating_add(p.ticks))
    }

    /// The total number of accesses the workload generates (saturating).
    pub fn accesses(&self) -> u64 {
        self.phases.iter().fold(0u64, |sum, p| sum.saturating_add(p.ticks.saturating_mul(p.accesses_per_tick.into())))
    }

    /// What page `page` of region `region` holds under `seed`: a pure function of the
    /// three. `Ratio(r)` gives a compressed length of r * 4096 with a ±25 % jitter,
    /// clamped to 64..=4096. The byte-exact kinds (`Random`, `Text`, `ZeroFraction`) give
    /// what [`page_data_of`] makes of the page's first version ([`fill_page`] with
    /// version 0): its zero-ness and its real lz4 length. Later versions (rewrites) are
    /// taken to compress the same: random bytes always compress to the same length, and
    /// text pages' lengths vary by a few percent around the same mean. None if `region`
    /// is out of range (the page within it is not checked: the contents are defined for
    /// any page number).
    pub fn page_data(&self, region: usize, page: u64, seed: u64) -> Option<PageData> {
        Some(match self.regions.get(region)?.data {
            Data::Zero => PageData { zero: true, compressed_len: 0 },
            Data::Incompressible => PageData { zero: false, compressed_len: PAGE_SIZE },
            d @ (Data::Random | Data::Text | Data::ZeroFraction(_)) => {
                let mut bytes = [0u8; PAGE_BYTES];
                fill_page(d, seed, region, page, 0, &mut bytes).ok()?;
                page_data_of(&bytes)
            }
            Data::Ratio(r) => {
                let h = mix64(mix64(mix64(seed ^ 0x5157_4150_5041_4745) ^ region as u64) ^ page);
                // Rounded to nearest; `as` saturates (NaN and negatives give 0), and `min`
                // keeps the product below from overflowing.
                let base = ((r * f64::from(PAGE_SIZE) + 0.5) as u64).min(u64::from(PAGE_SIZE));
                let len = base * (768 + below(h, 513)) / 1024; // 75 % ..= 125 %
                PageData { zero: false, compressed_len: len.clamp(64, u64::from(PAGE_SIZE)) as u32 }
            }
        })
    }
}

/// The SplitMix64 finaliser: a bijective 64-bit mix.
fn mix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// The greatest common divisor (gcd(0, n) = n).
fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// Maps a uniform `x` to `0..n` (Lemire's multiply-shift; bias below n / 2^64).
#[inline]
fn below(x: u64, n: u64) -> u64 {
    ((u128::from(x) * u128::from(n)) >> 64) as u64
}

/// Produces a workload's events tick by tick, from a seed.
#[derive(Debug, Clone)]
pub struct Generator<'w> {
    workload: &'w Workload,
    rng: Xoshiro256PlusPlus,
    /// The phase the next tick belongs to (`phases.len()` when finished).
    phase: usize,
    /// Ticks of it already generated.
    tick_in_phase: u64,
    /// Ticks generated in total.
    ticks_done: u64,
    /// Whether a child exists.
    child: bool,
    /// The current phase's active streams (rebuilt at each phase start).
    active: Vec<Cursor>,
    /// The sum of their weights.
    total_weight: u64,
}

/// A stream's state within the current phase.
#[derive(Debug, Clone)]
struct Cursor {
    /// Upper bound (exclusive) of its slice of the cumulative weights.
    until: u64,
    process: Process,
    region: u32,
    pages: u64,
    random: bool,
    /// The step modulo `pages` (1 for Sequential).
    step: u64,
    /// The next page (Sequential, Stride).
    next: u64,
    /// Where the current orbit of the stride started (0..cosets).
    start: u64,
    /// gcd(step, pages): the orbits of a lap.
    cosets: u64,
    write_percent: u8,
}

impl Cursor {
    #[inline]
    fn page(&mut self, rng: &mut Xoshiro256PlusPlus) -> u64 {
        if self.random {
            return below(rng.next_u64(), self.pages);
        }
        let page = self.next;
        // (page + step) mod pages, without overflow for any size.
        let gap = self.pages - self.step;
        let mut next = if page >= gap { page - gap } else { page + self.step };
        if next == self.start {
            self.start = if self.start + 1 == self.cosets { 0 } else { self.start + 1 };
            next = self.start;
        }
        self.next = next;
        page
    }
}

impl<'w> Generator<'w> {
    /// A generator at the start of `w`, seeded with `seed`.
    ///
    /// It expects a valid workload ([`Workload::validate`]) but copes with an invalid
    /// one (the fields are public): child streams without a child and streams of weight
    /// 0 or of a missing or empty region are skipped (a tick with no stream left makes no
    /// accesses), and phases of 0 ticks are skipped along with their Fork and ChildExit.
    pub fn new(w: &'w Workload, seed: u64) -> Self {
        Generator {
            workload: w,
            rng: Xoshiro256PlusPlus::seed_from_u64(seed),
            phase: 0,
            tick_in_phase: 0,
            ticks_done: 0,
            child: false,
            active: Vec::new(),
            total_weight: 0,
        }
    }

    /// The workload it generates.
    pub fn workload(&self) -> &'w Workload {
        self.workload
    }

    /// The index of the phase the next tick belongs to; None when finished.
    pub fn phase_index(&self) -> Option<usize> {
        self.skip_empty_phases_from(self.phase)
    }

    /// Ticks generated so far.
    pub fn ticks_done(&self) -> u64 {
        self.ticks_done
    }

    /// Whether the child exists (after a Fork, before the ChildExit).
    pub fn has_child(&self) -> bool {
        self.child
    }

    fn skip_empty_phases_from(&self, mut phase: usize) -> Option<usize> {
        let phases = &self.workload.phases;
        while phase < phases.len() && phases[phase].ticks == 0 {
            phase += 1;
        }
        (phase < phases.len()).then_some(phase)
    }

    /// Sets up phase `self.phase` (its first tick is next).
    fn enter_phase(&mut self, out: &mut Vec<Event>) {
        let w = self.workload;
        let phase = &w.phases[self.phase];
        if phase.fork {
            out.push(Event::Fork);
            self.child = true;
        }
        self.active.clear();
        self.total_weight = 0;
        for s in &phase.streams {
            let empty = w.regions.get(s.region).is_none_or(|r| r.pages == 0);
            if empty || s.weight == 0 || (s.process == Process::Child && !self.child) {
                continue;
            }
            let pages = w.regions[s.region].pages;
            let (random, step) = match s.pattern {
                Pattern::Random => (true, 0),
                Pattern::Sequential => (false, 1 % pages),
                Pattern::Stride(k) => (false, k % pages),
            };
            self.total_weight += u64::from(s.weight);
            self.active.push(Cursor {
                until: self.total_weight,
                process: s.process,
                region: s.region as u32,
                pages,
                random,
                step,
                next: 0,
                start: 0,
                cosets: gcd(step, pages),
                write_percent: s.write_percent,
            });
        }
    }

    /// Appends the next tick's events to `out`: a Fork first at the start of a forking
    /// phase, then the tick's accesses, then a ChildExit after the last access of a
    /// `child_exit` phase. Returns false, appending nothing, when the workload has
    /// finished.
    pub fn tick(&mut self, out: &mut Vec<Event>) -> bool {
        if self.tick_in_phase == 0 {
            match self.skip_empty_phases_from(self.phase) {
                Some(p) => self.phase = p,
                None => {
                    self.phase = self.workload.phases.len();
                    return false;
                }
            }
            self.enter_phase(out);
        }
        let phase = &self.workload.phases[self.phase];
        if self.total_weight > 0 {
            let (rng, active, total) = (&mut self.rng, &mut self.active[..], self.total_weight);
            let single = active.len() == 1;
            // An exact-size iterator: `extend` reserves once and writes without checks.
            out.extend((0..phase.accesses_per_tick).map(|_| {
                let c = if single {
                    &mut active[0]
                } else {
                    let r = below(rng.next_u64(), total);
                    // Few streams: a linear scan beats a binary search.
                    let i = active.iter().position(|c| r < c.until).unwrap_or(0);
                    &mut active[i]
                };
                let page = c.page(rng);
                let write = match c.write_percent {
                    0 => false,
                    p if p >= 100 => true,
                    p => below(rng.next_u64(), 100) < u64::from(p),
                };
                Event::Access { process: c.process, region: c.region, page, write }
            }));
        }
        self.tick_in_phase += 1;
        self.ticks_done += 1;
        if self.tick_in_phase == phase.ticks {
            if phase.child_exit && self.child {
                out.push(Event::ChildExit);
                self.child = false;
            }
            self.tick_in_phase = 0;
            self.phase += 1;
        }
        true
    }
}
