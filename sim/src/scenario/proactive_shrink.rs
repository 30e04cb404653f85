//! `proactive-shrink` (docs/kernel.md Appendix B1): "mm: zswap: global shrinker fix and
//! proactive shrink" (2024). A pool pre-filled by cold background services, then an
//! active memcg under a small `memory.max` swapping hard, run three ways: the v6.8
//! worker (`legacy_worker`), mainline's worker with hysteresis (`ShrinkStart::PoolFull`)
//! and proactive shrinking (`ShrinkStart::Proactive`).

use super::*;
use crate::mm::MmConfig;
use crate::workload::{Data, Pattern, Phase, Process, Region, Stream};
use vswap::{DeviceSpec, PAGE_SIZE, ShrinkStart, ZswapConfig};

/// Small systemd services: more than `MAX_RECLAIM_RETRIES` memcgs with no zswap pages.
const SERVICES: usize = 20;

fn stream(region: usize, pattern: Pattern, weight: u32, write_percent: u8) -> Stream {
    Stream { region, process: Process::Parent, pattern, weight, write_percent }
}

fn phase(name: &str, ticks: u64, accesses_per_tick: u32, streams: Vec<Stream>) -> Phase {
    Phase { name: name.into(), ticks, accesses_per_tick, fork: false, child_exit: false, streams }
}

/// A small service: 64 pages it keeps touching.
fn service(ticks: u64) -> Workload {
    Workload {
        name: "service".into(),
        regions: vec![Region { name: "heap".into(), pages: 64, data: Data::Ratio(0.3) }],
        phases: vec![phase("serve", ticks, 16, vec![stream(0, Pattern::Random, 1, 10)])],
    }
}

/// The ~1.5 GB allocation of B1: written once, then hardly touched.
fn background(pages: u64, ticks: u64) -> Workload {
    let fill = pages.div_ceil(2048);
    Workload {
        name: "background".into(),
        regions: vec![Region { name: "cold".into(), pages, data: Data::Ratio(0.3) }],
        phases: vec![
            phase("fill", fill, 2048, vec![stream(0, Pattern::Sequential, 1, 100)]),
            phase("idle", ticks, 1, vec![stream(0, Pattern::Random, 1, 0)]),
        ],
    }
}

/// `apt -qq update`, ten times: a sequential pass over package lists larger than the
/// memcg, plus a small hot heap.
pub(super) fn apt_update(pages: u64) -> Workload {
    let lists = pages * 6 / 7;
    let per_run = lists * 4 / 3 / 256 + 1;
    Workload {
        name: "apt-update-x10".into(),
        regions: vec![
            Region { name: "lists".into(), pages: lists, data: Data::Ratio(0.35) },
            Region { name: "heap".into(), pages: pages - lists, data: Data::Ratio(0.5) },
        ],
        phases: (0..10)
            .map(|i| {
                let s = vec![stream(0, Pattern::Sequential, 3, 20), stream(1, Pattern::Random, 1, 30)];
                phase(&format!("run{i}"), per_run, 256, s)
            })
            .collect(),
    }
}

pub(super) fn run(opts: &Options, progress: &mut dyn FnMut(&Progress)) -> Result<Report, SimError> {
    let ram = scaled(32_768, opts.scale);
    let active_w = opts.workload.clone().unwrap_or_else(|| apt_update(scaled(3_584, opts.scale)));
    let active_max = scaled(2_048, opts.scale) * PAGE_SIZE as u64;
    let bg_w = background(2 * ram, u64::MAX / 4);
    let svc_w = service(u64::MAX / 4);
    let ways = [
        ("legacy", ShrinkStart::PoolFull, true),
        ("hysteresis", ShrinkStart::PoolFull, false),
        ("proactive", ShrinkStart::Proactive, false),
    ];
    let mut runs = Vec::new();
    for (name, start, legacy) in ways {
        let zswap = ZswapConfig {
            max_pool_percent: 20,
            accept_threshold_percent: 50,
            shrink_start: start,
            legacy_worker: legacy,
            compressor: vswap::CompressionMode::Synthetic,
            ..ZswapConfig::default()
        };
        let cfg = MmConfig { page_cluster: 0, ..MmConfig::new(ram, 2, zswap, vec![DeviceSpec::null("swap", 4 * ram)]) };
        let mut d = Driver::new(Mm::new(cfg)?);
        let system = d.mm.memcg_create(Mm::ROOT, "system.slice")?;
        let mut k = 0;
        for i in 0..SERVICES {
            let cg = d.mm.memcg_create(system, &format!("svc-{i:02}"))?;
            d.spawn(cg, &svc_w, opts.seed, k)?;
            k += 1;
        }
        let bg = d.mm.memcg_create(system, "background")?;
        d.spawn(bg, &bg_w, opts.seed, k)?;
        let user = d.mm.memcg_create(Mm::ROOT, "user.slice")?;
        let active = d.mm.memcg_create(user, "active")?;
        d.mm.set_memory_max(active, Some(active_max))?;

        // Pre-fill: the background writes its memory once; the pool fills up.
        let fill = bg_w.phases[0].ticks + 16;
        d.run_until(&format!("{name} (pre-fill)"), &[], (fill, fill), progress, &mut |_| Ok(()))?;

        let limit = ram * PAGE_SIZE as u64 / 5;
        let probes: [(&str, bool, Probe); 6] = [
            ("pool KiB", false, Box::new(|_, g| Ok(g.pool_total_size as f64 / 1024.0))),
            ("zswpin/tick", true, Box::new(|_, g| Ok(g.zswpin as f64))),
            ("pswpin/tick", true, Box::new(|_, g| Ok(g.pswpin as f64))),
            (
                "background zswpwb/tick",
                true,
                Box::new(move |mm, _| Ok(mm.sys().memcg_stat(mm.memcg_id(bg)?)?.zswpwb as f64)),
            ),
            (
                "active zswpwb/tick",
                true,
                Box::new(move |mm, _| Ok(mm.sys().memcg_stat(mm.memcg_id(active)?)?.zswpwb as f64)),
            ),
            (
                "services zswpwb/tick",
                true,
                Box::new(move |mm, g| {
                    let all = g.zswpwb as f64;
                    let b = mm.sys().memcg_stat(mm.memcg_id(bg)?)?.zswpwb as f64;
                    let a = mm.sys().memcg_stat(mm.memcg_id(active)?)?.zswpwb as f64;
                    Ok(all - a - b)
                }),
            ),
        ];
        for (n, rate, p) in probes {
            d.probe(n, rate, p);
        }
        let job = d.jobs.len();
        d.spawn(active, &active_w, opts.seed, k)?;
        let total = active_w.ticks();
        d.start_timelines(total / 200)?;
        let cgs = [system, bg, active];
        let g0 = d.mm.sys().stat();
        let m0 = memcg_stats(&d.mm, &cgs)?;
        let ticks = d.run_until(name, &[job], (total, total + 1), progress, &mut |_| Ok(()))?;
        let g1 = d.mm.sys().stat();
        let marks = vec![
            Mark { name: "pool limit".into(), value: limit as f64 / 1024.0 },
            Mark { name: "accept threshold".into(), value: (limit / 2) as f64 / 1024.0 },
        ];
        let plots = vec![
            d.plot("pool", &format!("{name}: zswap pool size"), "KiB", &["pool KiB"], marks),
            d.swapins_plot(name),
            d.plot(
                "writeback",
                &format!("{name}: zswap writeback per memcg"),
                "pages/tick",
                &["background zswpwb/tick", "active zswpwb/tick", "services zswpwb/tick"],
                vec![],
            ),
        ];
        runs.push(Run {
            name: name.into(),
            ticks,
            events: d.events,
            counters: global_counters(&g0, &g1),
            tables: vec![memcg_table(&d.mm, &cgs, &m0)?],
            plots,
        });
    }
    let findings = findings(&runs);
    Ok(Report {
        scenario: "proactive-shrink".into(),
        description: format!(
            "B1 (Takero Funaki, 2024): {ram} pages of RAM, max_pool_percent 20, accept_threshold_percent 50; \
             {SERVICES} small services and a background memcg that writes {} pages once fill the pool; then \
             `{}` runs in a memcg with memory.max = {} KiB. Counters are deltas over that run; the worker runs \
             on the second CPU as soon as a refused store queues it.",
            2 * ram,
            active_w.name,
            active_max / 1024
        ),
        seed: opts.seed,
        tables: vec![compare_table("deltas over the active workload, by worker", &runs)],
        runs,
        findings,
    })
}

/// The active memcg's row of a run's memcg table: (zswpin, pswpin).
fn active_swapins(run: &Run) -> (i128, i128) {
    let t = &run.tables[0];
    let row = t.rows.iter().find(|r| r[0] == "active");
    let col = |name: &str| {
        let i = t.columns.iter().position(|c| c == name);
        row.zip(i).and_then(|(r, i)| r[i].parse::<i128>().ok()).unwrap_or(0)
    };
    (col("zswpin"), col("pswpin"))
}

fn findings(runs: &[Run]) -> Vec<String> {
    let [legacy, hyst, pro] = runs else { return Vec::new() };
    let (lz, lp) = active_swapins(legacy);
    let (hz, hp) = active_swapins(hyst);
    let (pz, pp) = active_swapins(pro);
    let mut f = vec![format!(
        "active memcg device swap-ins (pswpin): legacy {lp} -> proactive {pp} ({} fewer); zswap loads (zswpin): \
         {lz} -> {pz} (the series: 32025 -> 3242 and 0 -> 296151)",
        ratio(lp, pp)
    )];
    let span = lp - pp;
    let at = if span == 0 { 0.0 } else { (lp - hp) as f64 * 100.0 / span as f64 };
    let place = if hp <= lp.min(pp) {
        "fewer than both"
    } else if hp >= lp.max(pp) {
        "more than both"
    } else {
        "between the two"
    };
    let pool = hyst.counters.iter().find(|c| c.name == "pool_total_size").map_or(0, |c| c.start / 1024);
    f.push(format!(
        "today's worker with hysteresis: active pswpin {hp}, zswpin {hz}: {place} ({at:.0}% of the way from legacy \
         to proactive); it drained the pool to the accept threshold during the pre-fill ({pool} KiB at the start) \
         and pool_limit_hit moved {:+}",
        delta(hyst, "pool_limit_hit")
    ));
    for r in runs {
        let t = &r.tables[0];
        let wb = t.columns.iter().position(|c| c == "zswpwb").unwrap_or(0);
        let by: Vec<String> = t.rows.iter().map(|row| format!("{} {}", row[0], row[wb])).collect();
        f.push(format!("{}: zswpwb {:+} written back from: {}", r.name, delta(r, "zswpwb"), by.join(", ")));
    }
    f
}
