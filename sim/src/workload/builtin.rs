//! The built-in workloads, sized by their total in pages. Phase lengths are counted in
//! passes: a pass is the ticks it takes `accesses_per_tick` accesses to touch every page
//! of a region once, and `accesses_per_tick` is pages / 64 clamped to 1..=2048, so a
//! pass over the whole workload lasts about 64 ticks up to 128 Ki pages and grows
//! linearly beyond.

use super::{Data, MAX_REGION_PAGES, Pattern, Phase, Process, Region, Stream, Workload};

/// (name, one-line description) of each builtin.
pub(super) const BUILTINS: &[(&str, &str)] = &[
    (
        "usemem",
        "vm-scalability usemem: one region (ratio 0.3) written sequentially once, then read sequentially 3 times",
    ),
    (
        "kernel-build-like",
        "a kernel build beside tmpfs cold data (B2/B3): a random hot set (25 %, 30 % writes), cold data touched once \
         (45 %), and 6 bursts that each write a new batch of objects (5 % each) then re-read it, then a link",
    ),
    (
        "bgsave",
        "Redis BGSAVE (B4): the parent loads and serves its dataset, forks a child that reads it all sequentially \
         while the parent keeps writing randomly, and the child exits",
    ),
    ("cold-sidecar", "a TMO-style co-tenant: touches all its memory once, then a trickle of 1 random read per tick"),
];

/// The smallest size a builtin accepts, in pages.
const MIN_PAGES: u64 = 16;

/// The builtin `name` of `pages` pages (see [`Workload::builtin`]).
pub(super) fn builtin(name: &str, pages: u64) -> Option<Workload> {
    if !(MIN_PAGES..=MAX_REGION_PAGES).contains(&pages) {
        return None;
    }
    let apt = (pages / 64).clamp(1, 2048);
    let b = Builder { apt };
    let w = match name {
        "usemem" => b.usemem(pages),
        "kernel-build-like" => b.kernel_build_like(pages),
        "bgsave" => b.bgsave(pages),
        "cold-sidecar" => b.cold_sidecar(pages),
        _ => return None,
    };
    debug_assert_eq!(w.pages(), pages);
    debug_assert_eq!(w.validate(), Ok(()));
    Some(w)
}

fn region(name: &str, pages: u64, data: Data) -> Region {
    Region { name: name.to_owned(), pages, data }
}

/// A parent stream.
fn stream(region: usize, pattern: Pattern, weight: u32, write_percent: u8) -> Stream {
    Stream { region, process: Process::Parent, pattern, weight, write_percent }
}

struct Builder {
    /// Accesses per tick.
    apt: u64,
}

impl Builder {
    /// The ticks it takes to make `accesses` accesses (at least 1).
    fn pass(&self, accesses: u64) -> u64 {
        accesses.div_ceil(self.apt).max(1)
    }

    fn phase(&self, name: &str, ticks: u64, streams: Vec<Stream>) -> Phase {
        Phase {
            name: name.to_owned(),
            ticks,
            accesses_per_tick: self.apt as u32,
            fork: false,
            child_exit: false,
            streams,
        }
    }

    fn usemem(&self, pages: u64) -> Workload {
        Workload {
            name: "usemem".into(),
            regions: vec![region("mem", pages, Data::Ratio(0.3))],
            phases: vec![
                self.phase("write", self.pass(pages), vec![stream(0, Pattern::Sequential, 1, 100)]),
                self.phase("read", 3 * self.pass(pages), vec![stream(0, Pattern::Sequential, 1, 0)]),
            ],
        }
    }

    /// Regions: 0 hot, 1 cold, 2.. the object batches.
    fn kernel_build_like(&self, pages: u64) -> Workload {
        const BATCHES: u64 = 6;
        let hot = pages / 4;
        let batch = (pages / 20).max(1);
        let cold = pages - hot - BATCHES * batch; // >= 6 from MIN_PAGES = 16 up
        let mut regions = vec![region("hot", hot, Data::Ratio(0.35)), region("cold", cold, Data::Ratio(0.3))];
        let mut phases = vec![
            self.phase("tmpfs", self.pass(cold), vec![stream(1, Pattern::Sequential, 1, 100)]),
            self.phase("warm", self.pass(hot), vec![stream(0, Pattern::Sequential, 1, 100)]),
        ];
        let mut link = vec![stream(0, Pattern::Random, BATCHES as u32, 30)];
        for i in 1..=BATCHES {
            let r = regions.len();
            regions.push(region(&format!("objects-{i}"), batch, Data::Ratio(0.3)));
            // 3/4 of the accesses write the new batch once over, 1/4 go to the hot set.
            phases.push(self.phase(
                &format!("burst-{i}"),
                self.pass(batch * 4 / 3),
                vec![stream(r, Pattern::Sequential, 3, 100), stream(0, Pattern::Random, 1, 30)],
            ));
            // The batch just written is read about twice over (16/50 of the accesses),
            // beside the hot set (33/50) and a rare touch of the cold data (1/50).
            phases.push(self.phase(
                &format!("reread-{i}"),
                self.pass(batch * 2 * 50 / 16),
                vec![
                    stream(r, Pattern::Random, 16, 0),
                    stream(0, Pattern::Random, 33, 30),
                    stream(1, Pattern::Random, 1, 0),
                ],
            ));
            link.push(stream(r, Pattern::Random, 1, 0));
        }
        // The link reads every batch about once over, half of the accesses.
        phases.push(self.phase("link", self.pass(2 * BATCHES * batch), link));
        Workload { name: "kernel-build-like".into(), regions, phases }
    }

    fn bgsave(&self, pages: u64) -> Workload {
        let mut save = self.phase(
            "bgsave",
            self.pass(2 * pages),
            vec![
                Stream {
                    region: 0,
                    process: Process::Child,
                    pattern: Pattern::Sequential,
                    weight: 1,
                    write_percent: 0,
                },
                stream(0, Pattern::Random, 1, 70),
            ],
        );
        save.fork = true;
        save.child_exit = true;
        Workload {
            name: "bgsave".into(),
            regions: vec![region("dataset", pages, Data::Ratio(0.4))],
            phases: vec![
                self.phase("load", self.pass(pages), vec![stream(0, Pattern::Sequential, 1, 100)]),
                self.phase("serve", self.pass(pages), vec![stream(0, Pattern::Random, 1, 50)]),
                save,
                self.phase("after", self.pass(pages), vec![stream(0, Pattern::Random, 1, 50)]),
            ],
        }
    }

    fn cold_sidecar(&self, pages: u64) -> Workload {
        let mut idle = self.phase("idle", 32 * self.pass(pages), vec![stream(0, Pattern::Random, 1, 0)]);
        idle.accesses_per_tick = 1;
        Workload {
            name: "cold-sidecar".into(),
            regions: vec![region("sidecar", pages, Data::Ratio(0.3))],
            phases: vec![self.phase("init", self.pass(pages), vec![stream(0, Pattern::Sequential, 1, 100)]), idle],
        }
    }
}
