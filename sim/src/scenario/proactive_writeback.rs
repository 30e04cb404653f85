//! `proactive-writeback` (docs/kernel.md §5.8): repeated small `memory.reclaim
//! "N source=zswap"` calls on a parent whose children hold equal cold zswap data. With
//! the per-memcg cursor (the v1 design) every call resumes where the last one stopped,
//! so every child makes progress instead of the first one paying for all.

use super::*;
use crate::mm::MmConfig;
use vswap::{DeviceSpec, Error, ZswapConfig};

const CHILDREN: usize = 8;

pub(super) fn run(opts: &Options, progress: &mut dyn FnMut(&Progress)) -> Result<Report, SimError> {
    let ram = scaled(131_072, opts.scale);
    let per_child = scaled(2_048, opts.scale).max(16);
    let w = match &opts.workload {
        Some(w) => w.clone(),
        None => Workload::builtin("cold-sidecar", per_child)
            .ok_or_else(|| SimError::Invalid("cold-sidecar: size out of range".into()))?,
    };
    let zswap = ZswapConfig { compressor: vswap::CompressionMode::Synthetic, ..ZswapConfig::default() };
    let cfg = MmConfig { page_cluster: 0, ..MmConfig::new(ram, 2, zswap, vec![DeviceSpec::null("swap", 4 * ram)]) };
    let mut d = Driver::new(Mm::new(cfg)?);
    let parent = d.mm.memcg_create(Mm::ROOT, "workload.slice")?;
    let mut kids = Vec::new();
    for i in 0..CHILDREN {
        let cg = d.mm.memcg_create(parent, &format!("child-{i}"))?;
        d.spawn(cg, &w, opts.seed, i as u64)?;
        kids.push(cg);
        let id = d.mm.memcg_id(cg)?;
        d.probe(&format!("child-{i}"), false, Box::new(move |mm, _| Ok(mm.sys().memcg_stat(id)?.zswpwb as f64)));
    }
    // Every child writes its memory once; memory.reclaim then pushes all of it to zswap.
    let init = w.phases[0].ticks + 1;
    d.run_until("pre-fill", &[], (init, init), progress, &mut |_| Ok(()))?;
    for &cg in &kids {
        d.mm.reclaim(cg, u64::MAX)?;
    }
    let pid = d.mm.memcg_id(parent)?;
    let stored = d.mm.sys().memcg_stat(pid)?.zswap_current;
    // Calls of 1/64 of a child's compressed data each, until half of everything is written.
    let budget = (stored / CHILDREN as u64 / 64).max(4096);
    let calls = (stored / 2 / budget).max(1);
    let (g0, m0) = (d.mm.sys().stat(), memcg_stats(&d.mm, &kids)?);
    d.start_timelines(1)?;
    let (mut made, mut short) = (0u64, 0u64);
    let ticks = d.run_until("proactive-writeback", &[], (calls, calls), progress, &mut |mm| {
        match mm.sys().proactive_writeback(pid, budget) {
            Ok(_) => made += 1,
            Err(Error::Again { .. }) => short += 1,
            Err(e) => return Err(e),
        }
        Ok(())
    })?;
    let g1 = d.mm.sys().stat();
    let mut rows = Vec::new();
    let mut pages = Vec::new();
    for (i, &cg) in kids.iter().enumerate() {
        let s = d.mm.sys().memcg_stat(d.mm.memcg_id(cg)?)?;
        let wb = s.zswpwb - m0[i].zswpwb;
        pages.push(wb);
        rows.push(vec![
            d.mm.memcg_name(cg)?.to_string(),
            wb.to_string(),
            ((s.zswpwb_proactive_bytes - m0[i].zswpwb_proactive_bytes) / 1024).to_string(),
            (s.zswap_current / 1024).to_string(),
        ]);
    }
    let names: Vec<String> = (0..CHILDREN).map(|i| format!("child-{i}")).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let plot = d.plot("progress", "zswap writeback per child, cumulative", "pages", &names, vec![]);
    let table = Table {
        title: "per child over the calls".into(),
        columns: ["memcg", "zswpwb", "proactive_KiB", "zswap_KiB_left"].iter().map(|c| c.to_string()).collect(),
        rows,
    };
    let (lo, hi) = (pages.iter().min().copied().unwrap_or(0), pages.iter().max().copied().unwrap_or(0));
    let findings = vec![
        format!(
            "{} calls of {} KiB on workload.slice ({made} complete, {short} short with -EAGAIN) wrote back from every \
             child: {}",
            made + short,
            budget / 1024,
            if lo > 0 { "yes" } else { "no" }
        ),
        format!("per-child writeback ranges {lo}..={hi} pages: a spread of {} pages", hi - lo),
    ];
    Ok(Report {
        scenario: "proactive-writeback".into(),
        description: format!(
            "The 2026 per-cgroup proactive writeback (Hao Jia, v1 cursor design): {CHILDREN} children of \
             workload.slice each write {per_child} pages once and memory.reclaim pushes them to zswap; then one \
             `{} KiB source=zswap` call per tick on the parent.",
            budget / 1024
        ),
        seed: opts.seed,
        runs: vec![Run {
            name: "per-memcg-cursor".into(),
            ticks,
            events: d.events,
            counters: global_counters(&g0, &g1),
            tables: vec![table],
            plots: vec![plot],
        }],
        tables: Vec::new(),
        findings,
    })
}
