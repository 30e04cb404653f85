//! `tiers`: two swap devices at different priorities (a small fast one first) and two
//! memcgs, a latency-sensitive one and a batch one, under one global priority order
//! (zswap off, so every page goes to a device). The report shows where each memcg's
//! pages landed: the motivation for per-memcg tiers (`memory.swap.tiers.max`,
//! kernel-notes §4.5), which the crate does not model yet (issue 6); this scenario is
//! the baseline that comparison will run against.

use super::*;
use crate::sim::mm::MmConfig;
use crate::{Backing, DeviceSpec, PAGE_SIZE, ZswapConfig};

pub(super) fn run(opts: &Options, progress: &mut dyn FnMut(&Progress)) -> Result<Report, SimError> {
    let ram = scaled(65_536, opts.scale);
    let fast_pages = scaled(4_096, opts.scale);
    let build = |name: &str, pages: u64| {
        Workload::builtin(name, pages.max(16)).ok_or_else(|| SimError::Invalid(format!("{name}: size out of range")))
    };
    let latency_w = match &opts.workload {
        Some(w) => w.clone(),
        None => build("kernel-build-like", scaled(8_192, opts.scale))?,
    };
    let batch_w = build("usemem", scaled(16_384, opts.scale))?;
    let zswap = ZswapConfig { enabled: false, compressor: crate::Compressor::Synthetic, ..ZswapConfig::default() };
    let devices =
        vec![DeviceSpec::null("fast", fast_pages).priority(10), DeviceSpec::null("slow", 8 * ram).priority(5)];
    let mut d = Driver::new(Mm::new(MmConfig { ram_pages: ram, cpus: 2, zswap, devices })?);
    let latency = d.mm.memcg_create(Mm::ROOT, "latency")?;
    let batch = d.mm.memcg_create(Mm::ROOT, "batch")?;
    d.mm.set_memory_max(latency, Some(latency_w.pages() / 2 * PAGE_SIZE as u64))?;
    d.mm.set_memory_max(batch, Some(batch_w.pages() / 4 * PAGE_SIZE as u64))?;
    d.spawn(batch, &batch_w, opts.seed, 0)?;
    d.spawn(latency, &latency_w, opts.seed, 1)?;
    for (n, cg) in [("latency pswpin", latency), ("batch pswpin", batch)] {
        let id = d.mm.memcg_id(cg)?;
        d.probe(n, false, Box::new(move |mm, _| Ok(mm.sys().memcg_stat(id)?.pswpin as f64)));
    }
    let total = latency_w.ticks().max(batch_w.ticks());
    d.start_timelines(total / 200)?;
    let (g0, m0) = (d.mm.sys().stat(), memcg_stats(&d.mm, &[latency, batch])?);
    let ticks = d.run_until("one-priority-order", &[], (total, total + 1), progress, &mut |_| Ok(()))?;
    let g1 = d.mm.sys().stat();
    let fast = d.mm.devices().first().copied();
    let mut rows = Vec::new();
    let mut on_fast = Vec::new();
    for cg in [latency, batch] {
        let (mut f, mut s) = (0u64, 0u64);
        for slot in d.mm.swapped_slots(cg) {
            if let Backing::Device(dev) = d.mm.sys().backing(slot)? {
                if Some(dev) == fast { f += 1 } else { s += 1 }
            }
        }
        on_fast.push(f);
        rows.push(vec![d.mm.memcg_name(cg)?.to_string(), f.to_string(), s.to_string()]);
    }
    let table = Table {
        title: "swapped-out pages by device at the end".into(),
        columns: ["memcg", "fast (prio 10)", "slow (prio 5)"].iter().map(|c| c.to_string()).collect(),
        rows,
    };
    let share = |x: u64| if fast_pages == 0 { 0.0 } else { x as f64 * 100.0 / fast_pages as f64 };
    let findings = vec![format!(
        "with one priority order the batch memcg holds {:.0}% of the fast device and the latency-sensitive one {:.0}%; \
         per-memcg tiers (issue 6) are what would reserve it",
        share(on_fast[1]),
        share(on_fast[0])
    )];
    Ok(Report {
        scenario: "tiers".into(),
        description: format!(
            "A fast device of {fast_pages} pages (priority 10) and a slow one (priority 5), zswap off; `{}` in \
             `latency` and `{}` in `batch`, each under memory.max. Per-memcg tier selection arrives with issue 6.",
            latency_w.name, batch_w.name
        ),
        seed: opts.seed,
        runs: vec![Run {
            name: "one-priority-order".into(),
            ticks,
            events: d.events,
            counters: global_counters(&g0, &g1),
            tables: vec![memcg_table(&d.mm, &[latency, batch], &m0)?, table],
            plots: vec![d.plot(
                "pswpin",
                "device swap-ins, cumulative",
                "pages",
                &["latency pswpin", "batch pswpin"],
                vec![],
            )],
        }],
        tables: Vec::new(),
        findings,
    })
}
