//! `tiers`: two swap devices at different priorities (a small fast one first) and two
//! memcgs, a latency-sensitive one and a batch one (zswap off, so every page goes to a
//! device), run twice, both with the swap tiers `fast` and `slow`: once with every memcg
//! allowed both (one global priority order), once with `memory.swap.tiers.max` of `batch`
//! forbidding `fast` (docs/kernel.md §4.5). The report shows where each memcg's pages
//! landed (by device, and as `MemcgStat::swap_tiers` breaks its swap charge down) and
//! which device served the latency-sensitive memcg's swap-ins.

use super::*;
use crate::mm::MmConfig;
use vswap::{Backing, DeviceSpec, Knob, PAGE_SIZE, SwapTierOp, ZswapConfig};

/// Where one run left things.
struct Split {
    /// Pages on the fast device at the end: (latency, batch).
    on_fast: (u64, u64),
    /// The latency memcg's device swap-ins: (from the fast device, all).
    latency_reads: (u64, u64),
}

pub(super) fn run(opts: &Options, progress: &mut dyn FnMut(&Progress)) -> Result<Report, SimError> {
    let build = |name: &str, pages: u64| {
        Workload::builtin(name, pages.max(16)).ok_or_else(|| SimError::Invalid(format!("{name}: size out of range")))
    };
    let latency_w = match &opts.workload {
        Some(w) => w.clone(),
        None => build("kernel-build-like", scaled(8_192, opts.scale))?,
    };
    let batch_w = build("usemem", scaled(16_384, opts.scale))?;
    let fast_pages = scaled(4_096, opts.scale);
    let (run_a, a) = run_once(opts, false, &latency_w, &batch_w, progress)?;
    let (run_b, b) = run_once(opts, true, &latency_w, &batch_w, progress)?;
    let pct = |x: u64, of: u64| if of == 0 { 0.0 } else { x as f64 * 100.0 / of as f64 };
    let findings = vec![
        format!(
            "with one priority order the batch memcg holds {:.0}% of the fast device and the latency-sensitive one \
             {:.0}%; with per-memcg tiers (batch: fast 0) the batch memcg holds {:.0}% and the latency-sensitive one {:.0}%",
            pct(a.on_fast.1, fast_pages),
            pct(a.on_fast.0, fast_pages),
            pct(b.on_fast.1, fast_pages),
            pct(b.on_fast.0, fast_pages),
        ),
        format!(
            "the fast device served {:.0}% of the latency-sensitive memcg's device swap-ins under one priority order \
             and {:.0}% with per-memcg tiers",
            pct(a.latency_reads.0, a.latency_reads.1),
            pct(b.latency_reads.0, b.latency_reads.1),
        ),
    ];
    Ok(Report {
        scenario: "tiers".into(),
        description: format!(
            "A fast device of {fast_pages} pages (priority 10) and a slow one (priority 5), zswap off; `{}` in \
             `latency` and `{}` in `batch`, each under memory.max, in the swap tiers `fast` (10..) and `slow` \
             (-1..9). Run once with both tiers allowed to both memcgs (one priority order), then with `batch` \
             limited to `slow` by memory.swap.tiers.max.",
            latency_w.name, batch_w.name
        ),
        seed: opts.seed,
        runs: vec![run_a, run_b],
        tables: Vec::new(),
        findings,
    })
}

fn run_once(
    opts: &Options,
    per_memcg: bool,
    latency_w: &Workload,
    batch_w: &Workload,
    progress: &mut dyn FnMut(&Progress),
) -> Result<(Run, Split), SimError> {
    let name = if per_memcg { "per-memcg-tiers" } else { "one-priority-order" };
    let ram = scaled(65_536, opts.scale);
    let zswap = ZswapConfig { enabled: false, compressor: vswap::CompressionMode::Synthetic, ..ZswapConfig::default() };
    let devices = vec![
        DeviceSpec::null("fast", scaled(4_096, opts.scale)).priority(10),
        DeviceSpec::null("slow", 8 * ram).priority(5),
    ];
    let mut d = Driver::new(Mm::new(MmConfig {
        ram_pages: ram,
        cpus: 2,
        zswap,
        devices,
        page_cluster: 0,
        vma_readahead: false,
    })?);
    let latency = d.mm.memcg_create(Mm::ROOT, "latency")?;
    let batch = d.mm.memcg_create(Mm::ROOT, "batch")?;
    d.mm.set_memory_max(latency, Some(latency_w.pages() / 2 * PAGE_SIZE as u64))?;
    d.mm.set_memory_max(batch, Some(batch_w.pages() / 4 * PAGE_SIZE as u64))?;
    // The devices are on already: tier-less, they join the tiers of their priorities.
    d.mm.sys().swap_tiers_write(&SwapTierOp::parse("+slow:-1 +fast:10")?)?;
    if per_memcg {
        let fast = d.mm.sys().swap_tiers().iter().find(|t| t.name == "fast").map(|t| t.idx);
        let fast = fast.ok_or_else(|| SimError::Invalid("tiers: the fast tier is missing".into()))?;
        d.mm.sys().memcg_set(d.mm.memcg_id(batch)?, Knob::SwapTierMax { tier: fast, enabled: false })?;
    }
    d.spawn(batch, batch_w, opts.seed, 0)?;
    d.spawn(latency, latency_w, opts.seed, 1)?;
    for (n, cg) in [("latency pswpin", latency), ("batch pswpin", batch)] {
        let id = d.mm.memcg_id(cg)?;
        d.probe(n, false, Box::new(move |mm, _| Ok(mm.sys().memcg_stat(id)?.pswpin as f64)));
    }
    let total = latency_w.ticks().max(batch_w.ticks());
    d.start_timelines(total / 200)?;
    let (g0, m0) = (d.mm.sys().stat(), memcg_stats(&d.mm, &[latency, batch])?);
    let ticks = d.run_until(name, &[], (total, total + 1), progress, &mut |_| Ok(()))?;
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
        let reads = &d.mm.counters(cg)?.device_reads;
        let fast_reads = fast.and_then(|f| reads.get(usize::from(f.raw()))).copied().unwrap_or(0);
        let all_reads: u64 = reads.iter().sum();
        on_fast.push((f, (fast_reads, all_reads)));
        let st = d.mm.sys().memcg_stat(d.mm.memcg_id(cg)?)?;
        let charged = |tier: &str| st.swap_tier(tier).map_or(0, |t| t.entries).to_string();
        rows.push(vec![
            d.mm.memcg_name(cg)?.to_string(),
            f.to_string(),
            s.to_string(),
            fast_reads.to_string(),
            (all_reads - fast_reads).to_string(),
            charged("fast"),
            charged("slow"),
        ]);
    }
    let table = Table {
        title: "swapped-out pages by device at the end, device swap-ins by device, and the swap charge by tier \
                (memory.swap.current as MemcgStat::swap_tiers breaks it down, swap-cached pages included)"
            .into(),
        columns: [
            "memcg",
            "on fast (prio 10)",
            "on slow (prio 5)",
            "reads fast",
            "reads slow",
            "charged fast",
            "charged slow",
        ]
        .iter()
        .map(|c| c.to_string())
        .collect(),
        rows,
    };
    let split = Split { on_fast: (on_fast[0].0, on_fast[1].0), latency_reads: on_fast[0].1 };
    let run = Run {
        name: name.into(),
        ticks,
        events: d.events,
        counters: global_counters(&g0, &g1),
        tables: vec![memcg_table(&d.mm, &[latency, batch], &m0)?, table],
        plots: vec![d.plot(
            "pswpin",
            &format!("{name}: device swap-ins, cumulative"),
            "pages",
            &["latency pswpin", "batch pswpin"],
            vec![],
        )],
    };
    Ok((run, split))
}
