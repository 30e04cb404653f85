//! The metadata footprint report (`vswap-sim footprint`): fill a virtual swap space of
//! `slots` slots (default 8,388,608: a 32 GB swap of 4 KiB pages) to 0/25/50/75/100 %,
//! and report the crate's metadata at each level beside the figures the kernel series
//! published for the same case (docs/kernel.md §4.2 and §8.3).

use std::fmt::Write;
use vswap::{CompressionMode, Config, DeviceSpec, FolioId, MemcgId, Page, Shadow, SwapSystem, ZswapConfig};

/// One measured fill level.
#[derive(Debug, Clone, PartialEq)]
pub struct Level {
    /// Percent of the space in use.
    pub percent: u32,
    /// Slots in use.
    pub used: u64,
    /// The crate's own accounting (`SwapSystem::footprint`).
    pub own_bytes: u64,
    /// Live clusters.
    pub clusters: u64,
    /// The process heap delta since before the system was built, when the caller can
    /// measure it (a counting global allocator); None otherwise.
    pub heap_bytes: Option<u64>,
}

/// Published per-slot and total figures for a 32 GB device (8,388,608 slots), in MB,
/// at 0/25/50/75/100 % use [K16, K18, K15, K19].
pub const PUBLISHED: [(&str, [f64; 5]); 4] = [
    ("legacy swap_map + zswap tree (v6.x), zswap", [25.00, 57.00, 89.00, 121.00, 153.00]),
    ("vswap v3-v6 (24 B desc), zswap-backed", [0.00, 48.25, 96.50, 144.75, 193.00]),
    ("vswap v3-v6, disk-backed", [2.00, 66.25, 130.50, 194.75, 259.00]),
    ("legacy, disk-backed", [25.00, 41.00, 57.00, 73.00, 89.00]),
];

/// Per-used-slot models of the newer designs, bytes: (name, per used slot, static per slot).
pub const PER_SLOT: [(&str, f64, f64); 3] = [
    ("swap table phase IV (8 B table + 2 B memcg_table, + 0.094 B static)", 10.0, 0.094),
    ("Swap Table Edition vswap (8 table + 8 virtual_table + 2 memcg)", 18.0, 0.0),
    ("vswap v3-v6 descriptor", 24.0, 0.0),
];

/// Where the swapped-out slots of a backend measurement live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// zswap (synthetic pages of 1 KiB compressed).
    Zswap,
    /// A physical device (a null device, zswap disabled).
    Device,
}

/// A space filled with swapped-out slots of one backend.
#[derive(Debug, Clone, PartialEq)]
pub struct BackendLevel {
    /// Where the slots' data lives.
    pub backend: Backend,
    /// Swapped-out virtual slots.
    pub used: u64,
    /// Slot metadata as the kernel series count it: table word, backend word, memcg id,
    /// reverse map, amortised headers (`Footprint::heap_bytes - zswap_entry_bytes`).
    pub slot_bytes: u64,
    /// Of it, the physical devices' tables (reverse map).
    pub device_bytes: u64,
    /// The zswap entries' index, not in `slot_bytes` (the kernel's `zswap_entry`).
    pub zswap_entry_bytes: u64,
}

impl BackendLevel {
    /// `slot_bytes` per used slot.
    pub fn per_slot(&self) -> f64 {
        if self.used == 0 { 0.0 } else { self.slot_bytes as f64 / self.used as f64 }
    }
}

/// Published per-slot metadata of a backed slot, bytes (docs/kernel.md §4.2–§4.3): (design,
/// zswap-backed, device-backed).
pub const PUBLISHED_BACKED: [(&str, f64, f64); 2] = [
    ("vswap v3-v6 (24 B descriptor; + 8 B physical rmap)", 24.0, 32.0),
    ("Swap Table Edition (8 table + 8 virtual_table + 2 memcg; + 8 B Pointer word)", 18.0, 26.0),
];

/// Fill a fresh system with `slots` swapped-out slots (alloc, dup, writeout, evict) on
/// `backend` and measure the metadata.
pub fn measure_backend(slots: u64, cpus: usize, backend: Backend) -> Result<BackendLevel, vswap::Error> {
    let zswap = ZswapConfig {
        enabled: backend == Backend::Zswap,
        compressor: CompressionMode::Synthetic,
        max_pool_percent: 100,
        ..ZswapConfig::default()
    };
    let sys = SwapSystem::new(Config { cpus, ram_pages: slots.saturating_mul(2), zswap, ..Config::default() })?;
    if backend == Backend::Device {
        sys.swapon(DeviceSpec::null("disk", slots + 1))?;
    }
    let page = Page::Synthetic { compressed_len: 1024, zero: false };
    for n in 0..slots {
        let slot = sys.alloc((n % cpus as u64) as usize, MemcgId::ROOT, FolioId(n), 0)?;
        sys.dup(slot)?;
        match sys.writeout(slot, page)? {
            vswap::Writeout::Zswap { .. } | vswap::Writeout::Device(_) => {}
            _ => return Err(vswap::Error::Invalid("the page was kept")),
        }
        sys.evict(slot, Shadow(n))?;
    }
    let fp = sys.footprint();
    Ok(BackendLevel {
        backend,
        used: fp.vslots_in_use,
        slot_bytes: fp.heap_bytes - fp.zswap_entry_bytes,
        device_bytes: fp.device_bytes,
        zswap_entry_bytes: fp.zswap_entry_bytes,
    })
}

/// The per-backend table.
pub fn render_backends(levels: &[BackendLevel]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "
swapped-out slots by backend, metadata per used slot as the kernel series count it"
    );
    let _ = writeln!(out, "(table word, backend word, memcg id, reverse map, amortised headers):");
    for l in levels {
        let _ = writeln!(
            out,
            "  {:<8} {:>10} slots {:>7.2} B/slot (device tables {:.2} B/slot; zswap entries {:.2} B/slot more)",
            format!("{:?}", l.backend),
            l.used,
            l.per_slot(),
            l.device_bytes as f64 / l.used.max(1) as f64,
            l.zswap_entry_bytes as f64 / l.used.max(1) as f64
        );
    }
    for (name, z, d) in PUBLISHED_BACKED {
        let _ = writeln!(out, "  published: {name}: {z:.0} B zswap-backed, {d:.0} B device-backed");
    }
    let _ = writeln!(out, "The crate: 8 B table word + 2 B memcg id + 4 B compact backend word per virtual slot;");
    let _ = writeln!(out, "a device-backed slot adds the physical slot's 8 B Pointer word (the reverse map, no");
    let _ = writeln!(out, "memcg table on devices). The rest is cluster headers and allocation bitmaps.");
    out
}

/// What `measure` found.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// Slots per cluster.
    pub cluster_slots: u64,
    /// Bytes of one cluster without optional tables: words, memcg ids, header.
    pub cluster_bytes: u64,
    /// The fill levels, 0 to 100 %.
    pub levels: Vec<Level>,
    /// After every slot is released, the CPU caches drained and the grace period run.
    pub emptied: Level,
}

/// Fill a fresh system level by level, then empty it. `heap` reads the process's live
/// heap bytes (the slot list is allocated before the first reading, so it is not counted).
pub fn measure(slots: u64, cpus: usize, heap: &dyn Fn() -> Option<u64>) -> Result<Report, vswap::Error> {
    let mut held = Vec::with_capacity(usize::try_from(slots).map_err(|_| vswap::Error::Invalid("slots"))?);
    let base = heap();
    let sys = SwapSystem::new(Config { cpus, ..Config::default() })?;
    let level = |percent: u32| {
        let fp = sys.footprint();
        let heap_bytes = base.zip(heap()).map(|(b, h)| h.saturating_sub(b));
        Level { percent, used: fp.vslots_in_use, own_bytes: fp.heap_bytes, clusters: fp.clusters_live, heap_bytes }
    };
    let mut levels = Vec::new();
    for percent in [0u32, 25, 50, 75, 100] {
        let target = slots * u64::from(percent) / 100;
        while (held.len() as u64) < target {
            let n = held.len() as u64;
            held.push(sys.alloc((n % cpus as u64) as usize, MemcgId::ROOT, FolioId(n), 0)?);
        }
        levels.push(level(percent));
    }
    for slot in held.drain(..) {
        sys.release(slot)?;
    }
    sys.drain_cpu_caches();
    sys.rcu_barrier();
    let emptied = level(0);
    let cluster_bytes = sys.cluster_base_bytes() as u64;
    Ok(Report { cluster_slots: sys.cluster_slots(), cluster_bytes, levels, emptied })
}

/// The report as a terminal table.
pub fn render(slots: u64, report: &Report) -> String {
    let levels = &report.levels;
    let mb = |b: f64| b / (1 << 20) as f64;
    let mut out = String::new();
    let _ =
        writeln!(out, "vswap footprint: a virtual swap space of {slots} slots ({} GiB of 4 KiB pages)", slots >> 18);
    let _ = writeln!(out, "metadata measured from the crate's own allocations (and the process heap, as a check)\n");
    let _ = writeln!(
        out,
        "{:>5} {:>10} {:>12} {:>10} {:>12} {:>10}",
        "use", "slots", "crate MB", "B/slot", "heap MB", "B/slot"
    );
    for l in levels {
        let per = |b: u64| if l.used == 0 { 0.0 } else { b as f64 / l.used as f64 };
        let heap = l.heap_bytes.map_or("-".into(), |h| format!("{:.2}", mb(h as f64)));
        let heap_per = l.heap_bytes.map_or("-".into(), |h| format!("{:.2}", per(h)));
        let _ = writeln!(
            out,
            "{:>4}% {:>10} {:>12.2} {:>10.2} {:>12} {:>10}",
            l.percent,
            l.used,
            mb(l.own_bytes as f64),
            per(l.own_bytes),
            heap,
            heap_per
        );
    }
    let e = &report.emptied;
    let _ = writeln!(
        out,
        "emptied: {} B by the crate's count, {} clusters live (all slots released, CPU caches",
        e.own_bytes, e.clusters
    );
    let _ = writeln!(out, "         drained, grace period run)");
    if let Some(full) = levels.last().filter(|l| l.used > 0) {
        let nr = report.cluster_slots as f64;
        let header = (report.cluster_bytes as f64 - nr * 10.0) / nr;
        let rest = (full.own_bytes as f64 - (full.clusters * report.cluster_bytes) as f64) / full.used as f64;
        let _ = writeln!(out, "\nper used slot at 100 %: 8 B table word + 2 B memcg id + {header:.3} B cluster header");
        let _ = writeln!(out, "(meta word, allocation bitmap, table pointers) + {rest:.3} B directory and fixed state");
    }
    let _ = writeln!(out, "\npublished for the same 32 GB device (MB at 0/25/50/75/100 %):");
    for (name, v) in PUBLISHED {
        let _ = writeln!(out, "  {name:<48} {:>7.2} {:>7.2} {:>7.2} {:>7.2} {:>7.2}", v[0], v[1], v[2], v[3], v[4]);
    }
    let _ = writeln!(out, "\nper-slot models of the newer designs (MB at 0/25/50/75/100 % of {slots} slots):");
    for (name, per_used, per_static) in PER_SLOT {
        let row: Vec<String> = [0u64, 25, 50, 75, 100]
            .iter()
            .map(|p| format!("{:>7.2}", mb(per_used * (slots * p / 100) as f64 + per_static * slots as f64)))
            .collect();
        let _ = writeln!(out, "  {name:<66} {}", row.join(" "));
    }
    let _ = writeln!(out, "\nThe crate's figure is the swap table word + memcg id per slot plus the cluster header");
    let _ = writeln!(out, "(meta word, allocation bitmap, table pointers) and the cluster directory; backend words");
    let _ = writeln!(out, "(zswap / physical) are not allocated until a slot gets a backend.");
    out
}

/// The footprint as a simulator [`Report`](crate::report::Report) (scenario
/// `footprint`, for `vswap-sim run footprint --json`): [`measure`] and [`measure_backend`]
/// (both backends) on `slots` slots over `cpus` CPUs, packed as four tables (fill
/// levels; backends; the published MB figures beside the crate's; the published
/// per-slot figures of a backed slot beside the crate's) and findings. No runs: nothing
/// is timed. `seed` is 0 (nothing is random). `heap` is as for [`measure`]; with
/// `&|| None` the heap columns read `-` and the report is reproducible byte for byte.
pub fn report(slots: u64, cpus: usize, heap: &dyn Fn() -> Option<u64>) -> Result<crate::report::Report, vswap::Error> {
    use crate::report::{Report as SimReport, Table};
    let measured = measure(slots, cpus, heap)?;
    let backed = [measure_backend(slots, cpus, Backend::Zswap)?, measure_backend(slots, cpus, Backend::Device)?];
    let mb = |b: f64| b / (1 << 20) as f64;
    let per = |b: u64, used: u64| if used == 0 { 0.0 } else { b as f64 / used as f64 };
    let strings = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<String>>();
    let level_row = |label: String, l: &Level| {
        vec![
            label,
            l.used.to_string(),
            l.clusters.to_string(),
            format!("{:.2}", mb(l.own_bytes as f64)),
            format!("{:.2}", per(l.own_bytes, l.used)),
            l.heap_bytes.map_or("-".into(), |h| format!("{:.2}", mb(h as f64))),
            l.heap_bytes.map_or("-".into(), |h| format!("{:.2}", per(h, l.used))),
        ]
    };
    let mut rows: Vec<Vec<String>> = measured.levels.iter().map(|l| level_row(format!("{}%", l.percent), l)).collect();
    rows.push(level_row("emptied".into(), &measured.emptied));
    let levels = Table {
        title: format!("metadata by fill level ({slots} slots, {cpus} CPU{})", if cpus == 1 { "" } else { "s" }),
        columns: strings(&["use", "slots", "clusters", "crate MB", "B/slot", "heap MB", "heap B/slot"]),
        rows,
    };
    let backends = Table {
        title: "swapped-out slots by backend (metadata per used slot as the kernel series count it)".into(),
        columns: strings(&["backend", "slots", "B/slot", "device tables B/slot", "zswap entries B/slot"]),
        rows: backed
            .iter()
            .map(|l| {
                vec![
                    format!("{:?}", l.backend).to_lowercase(),
                    l.used.to_string(),
                    format!("{:.2}", l.per_slot()),
                    format!("{:.2}", per(l.device_bytes, l.used)),
                    format!("{:.2}", per(l.zswap_entry_bytes, l.used)),
                ]
            })
            .collect(),
    };
    let percents = [0u64, 25, 50, 75, 100];
    let mut rows: Vec<Vec<String>> = vec![
        std::iter::once("this crate (measured)".to_string())
            .chain(measured.levels.iter().map(|l| format!("{:.2}", mb(l.own_bytes as f64))))
            .collect(),
    ];
    for (name, v) in PUBLISHED {
        rows.push(std::iter::once(format!("published: {name}")).chain(v.iter().map(|x| format!("{x:.2}"))).collect());
    }
    for (name, per_used, per_static) in PER_SLOT {
        let mbs = percents
            .iter()
            .map(|p| format!("{:.2}", mb(per_used * (slots * p / 100) as f64 + per_static * slots as f64)));
        rows.push(std::iter::once(format!("model: {name}")).chain(mbs).collect());
    }
    let published = Table {
        title: format!("MB at 0/25/50/75/100 % use (published figures are for 8388608 slots; models for {slots})"),
        columns: strings(&["design", "0%", "25%", "50%", "75%", "100%"]),
        rows,
    };
    let [z, d] = &backed;
    let mut rows =
        vec![vec!["this crate (measured)".to_string(), format!("{:.2}", z.per_slot()), format!("{:.2}", d.per_slot())]];
    for (name, zb, db) in PUBLISHED_BACKED {
        rows.push(vec![format!("published: {name}"), format!("{zb:.2}"), format!("{db:.2}")]);
    }
    let backed_table = Table {
        title: "metadata per backed slot, bytes".into(),
        columns: strings(&["design", "zswap-backed", "device-backed"]),
        rows,
    };
    let mut findings = Vec::new();
    if let Some(full) = measured.levels.last().filter(|l| l.used > 0) {
        findings.push(format!(
            "At 100 % use the crate keeps {:.2} B per used slot ({:.2} MB for {} slots), against 24 B per slot \
             for the vswap v3-v6 descriptor and 10 B (+0.094 B static) for swap table phase IV.",
            per(full.own_bytes, full.used),
            mb(full.own_bytes as f64),
            full.used
        ));
    }
    findings.push(format!(
        "Emptied (every slot released, CPU caches drained, grace period run), the crate holds {} B in {} live \
         clusters.",
        measured.emptied.own_bytes, measured.emptied.clusters
    ));
    findings.push(format!(
        "A swapped-out slot costs {:.2} B zswap-backed and {:.2} B device-backed: the device adds the physical \
         slot's reverse-map word (published: 18/26 B for the Swap Table Edition, 24/32 B for vswap v3-v6).",
        z.per_slot(),
        d.per_slot()
    ));
    let size = if slots >= 1 << 18 { format!("{} GiB", slots >> 18) } else { format!("{} MiB", slots >> 8) };
    Ok(SimReport {
        scenario: "footprint".into(),
        description: format!(
            "The metadata footprint of a virtual swap space of {slots} slots ({size} of 4 KiB pages), filled to \
             0/25/50/75/100 % and emptied again, then filled with swapped-out slots on each backend; the crate's \
             own accounting beside the figures the kernel series published for a 32 GB device (docs/kernel.md \
             §4.2 and §8.3)."
        ),
        seed: 0,
        runs: Vec::new(),
        tables: vec![levels, backends, published, backed_table],
        findings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_report_fills_each_level_and_gives_everything_back() {
        let slots = if cfg!(miri) { 512 } else { 8192 };
        let r = measure(slots, 2, &|| None).unwrap();
        let used: Vec<u64> = r.levels.iter().map(|l| l.used).collect();
        assert_eq!(used, [0, slots / 4, slots / 2, slots * 3 / 4, slots]);
        assert!(r.levels.windows(2).all(|w| w[0].own_bytes <= w[1].own_bytes));
        let fresh = SwapSystem::new(Config { cpus: 2, ..Config::default() }).unwrap().footprint().heap_bytes;
        assert_eq!((r.emptied.own_bytes, r.emptied.clusters), (fresh, 0), "emptying gives every cluster back");
        // 512 slots: 8 B table words, 2 B memcg ids and a 64 B bitmap, plus a header.
        let words = 512 * 8 + 512 * 2 + 64;
        assert!((words + 1..=words + 256).contains(&r.cluster_bytes), "{}", r.cluster_bytes);
        let text = render(slots, &r);
        assert!(text.contains("emptied") && text.contains("cluster header"), "{text}");
    }
}

#[cfg(test)]
mod backend_tests {
    use super::*;

    #[test]
    fn backed_slots_cost_their_backend_word_and_the_reverse_map() {
        let slots = if cfg!(miri) { 64 } else { 4096 };
        let z = measure_backend(slots, 1, Backend::Zswap).unwrap();
        let d = measure_backend(slots, 1, Backend::Device).unwrap();
        assert_eq!((z.used, d.used), (slots, slots));
        assert!(z.zswap_entry_bytes > 0 && d.zswap_entry_bytes == 0);
        assert!(z.device_bytes == 0 && d.device_bytes >= slots * 8, "{d:?}");
        // A device-backed slot costs its Pointer word (8 B) more than a zswap-backed one.
        assert!(d.per_slot() - z.per_slot() >= 8.0, "{z:?} {d:?}");
        assert!(render_backends(&[z, d]).contains("Swap Table Edition"));
    }
}

#[cfg(test)]
mod report_tests {
    use super::*;

    #[test]
    fn the_simulator_report_holds_the_four_tables() {
        let slots = if cfg!(miri) { 64 } else { 1024 };
        let r = report(slots, 1, &|| None).unwrap();
        assert_eq!(r.scenario, "footprint");
        assert!(r.runs.is_empty());
        let titles: Vec<&str> = r.tables.iter().map(|t| t.title.as_str()).collect();
        assert_eq!(titles.len(), 4, "{titles:?}");
        assert!(r.tables.iter().all(|t| t.rows.iter().all(|row| row.len() == t.columns.len())));
        // Levels 0..100 % and the emptied row; the heap columns are not measured.
        assert_eq!(r.tables[0].rows.len(), 6);
        assert_eq!(r.tables[0].rows[4][1], slots.to_string());
        assert_eq!(r.tables[0].rows[5][0], "emptied");
        assert_eq!(r.tables[0].rows[0][5], "-");
        assert_eq!(r.tables[2].rows.len(), 1 + PUBLISHED.len() + PER_SLOT.len());
        if !cfg!(miri) {
            assert_eq!(r, report(slots, 1, &|| None).unwrap(), "reproducible");
        }
    }
}
