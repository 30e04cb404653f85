//! `second-chance` (docs/kernel.md Appendix B3, with B2's cold data): the zswap shrinker
//! with the 2023 protection scheme (`nr_zswap_protected`, decayed by every store) against
//! the 2024 second-chance algorithm (a referenced bit per entry), on a kernel-build-like
//! workload whose bursts of new stores are re-read soon after.

use super::*;
use crate::mm::MmConfig;
use vswap::{DeviceSpec, LruPolicy, PAGE_SIZE, ZswapConfig};

pub(super) fn run(opts: &Options, progress: &mut dyn FnMut(&Progress)) -> Result<Report, SimError> {
    let ram = scaled(65_536, opts.scale);
    let pages = scaled(16_384, opts.scale).max(16);
    let default = Workload::builtin("kernel-build-like", pages)
        .ok_or_else(|| SimError::Invalid("kernel-build-like: size out of range".into()))?;
    let w = opts.workload.clone().unwrap_or(default);
    let max = (w.pages() * 2 / 5).max(64) * PAGE_SIZE as u64;
    let mut runs = Vec::new();
    for (name, lru) in [("protection", LruPolicy::Protection), ("second-chance", LruPolicy::SecondChance)] {
        let zswap = ZswapConfig {
            shrinker_enabled: true,
            lru,
            compressor: vswap::CompressionMode::Synthetic,
            ..ZswapConfig::default()
        };
        let cfg = MmConfig { page_cluster: 0, ..MmConfig::new(ram, 2, zswap, vec![DeviceSpec::null("swap", 4 * ram)]) };
        let mut d = Driver::new(Mm::new(cfg)?);
        let build = d.mm.memcg_create(Mm::ROOT, "build")?;
        d.mm.set_memory_max(build, Some(max))?;
        let probes: [(&str, bool, Probe); 4] = [
            ("zswpin/tick", true, Box::new(move |mm, _| Ok(mm.sys().memcg_stat(mm.memcg_id(build)?)?.zswpin as f64))),
            ("pswpin/tick", true, Box::new(move |mm, _| Ok(mm.sys().memcg_stat(mm.memcg_id(build)?)?.pswpin as f64))),
            ("zswpwb/tick", true, Box::new(move |mm, _| Ok(mm.sys().memcg_stat(mm.memcg_id(build)?)?.zswpwb as f64))),
            (
                "zswap KiB",
                false,
                Box::new(move |mm, _| Ok(mm.sys().memcg_stat(mm.memcg_id(build)?)?.zswap_current as f64 / 1024.0)),
            ),
        ];
        for (n, rate, p) in probes {
            d.probe(n, rate, p);
        }
        d.spawn(build, &w, opts.seed, 0)?;
        let total = w.ticks();
        d.start_timelines(total / 200)?;
        let (g0, m0) = (d.mm.sys().stat(), memcg_stats(&d.mm, &[build])?);
        let ticks = d.run_until(name, &[], (total, total + 1), progress, &mut |_| Ok(()))?;
        let g1 = d.mm.sys().stat();
        runs.push(Run {
            name: name.into(),
            ticks,
            events: d.events,
            counters: global_counters(&g0, &g1),
            tables: vec![memcg_table(&d.mm, &[build], &m0)?],
            plots: vec![
                d.swapins_plot(name),
                d.plot(
                    "writeback",
                    &format!("{name}: shrinker writeback per tick"),
                    "pages/tick",
                    &["zswpwb/tick"],
                    vec![],
                ),
                d.plot("zswap", &format!("{name}: the memcg's zswap"), "KiB", &["zswap KiB"], vec![]),
            ],
        });
    }
    let (p, s) = (delta(&runs[0], "pswpin"), delta(&runs[1], "pswpin"));
    let cut = if p == 0 { 0.0 } else { (p - s) as f64 * 100.0 / p as f64 };
    let findings = vec![
        format!(
            "device swap-ins (pswpin): protection {p}, second chance {s}: {cut:.0}% fewer with second chance \
             (the series: 227300 -> 94663, -58%)"
        ),
        format!(
            "shrinker writeback (zswpwb): protection {:+}, second chance {:+}; zswap loads (zswpin): {:+} vs {:+}",
            delta(&runs[0], "zswpwb"),
            delta(&runs[1], "zswpwb"),
            delta(&runs[0], "zswpin"),
            delta(&runs[1], "zswpin")
        ),
    ];
    Ok(Report {
        scenario: "second-chance".into(),
        description: format!(
            "B3 (Nhat Pham, 2024): `{}` ({} pages) in a memcg with memory.max = {} KiB and zswap's shrinker on, run \
             with the protection scheme and with second chance; the shrinker scans in proportion to reclaim's LRU \
             scan (shrink_slab).",
            w.name,
            w.pages(),
            max / 1024
        ),
        seed: opts.seed,
        tables: vec![compare_table("deltas by LRU policy", &runs)],
        runs,
        findings,
    })
}
