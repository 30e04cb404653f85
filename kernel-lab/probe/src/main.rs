//! kernel-lab probe: the guest program of the kernel lab.
//!
//! `probe EXPERIMENT_FILE` reads an experiment (see `kernel-lab/experiments/`),
//! applies its knob writes in order, moves itself into the experiment's memory
//! cgroup, runs an anonymous-memory workload (fill, then sequential read
//! passes that verify the contents), and prints one JSON object on stdout with
//! the workload's timings and the kernel's counters (vmstat, zswap debugfs,
//! the cgroup's memory.stat / memory.events / memory.swap.events).
//!
//! Experiment file: one `key = value` per line, `#` starts a comment.
//! - `/some/path = value`: written to that file, in file order.
//! - `cgroup = NAME`: creates /sys/fs/cgroup/NAME at that point of the file
//!   (so later lines can write its memory.max); the probe joins it just
//!   before the workload.
//! - workload keys: `alloc_mib` (112), `zero_bytes_per_page` (2048: the first
//!   that many bytes of each page stay zero), `zero_page_fraction` (0.0: that
//!   share of pages is entirely zero), `fill` (`random` | `text`),
//!   `read_passes` (2), `seed` (1), `strict` (1: a failed write aborts).
//!
//! std only, so it builds offline as a static musl binary.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::hint::black_box;
use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

const PAGE: usize = 4096;
const CGROOT: &str = "/sys/fs/cgroup";

// ------------------------------------------------------------------ JSON
enum J {
    Int(i64),
    Num(f64),
    Str(String),
    Bool(bool),
    Arr(Vec<J>),
    Obj(Vec<(String, J)>),
}

fn esc(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

impl J {
    fn write(&self, out: &mut String, indent: usize) {
        let pad = |n: usize| "  ".repeat(n);
        match self {
            J::Int(i) => {
                let _ = write!(out, "{i}");
            }
            J::Num(f) if f.is_finite() => {
                let _ = write!(out, "{f:.6}");
            }
            J::Num(_) => out.push_str("null"),
            J::Str(s) => esc(s, out),
            J::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            J::Arr(v) if v.is_empty() => out.push_str("[]"),
            J::Arr(v) => {
                out.push('[');
                for (i, x) in v.iter().enumerate() {
                    out.push_str(if i == 0 { "\n" } else { ",\n" });
                    out.push_str(&pad(indent + 1));
                    x.write(out, indent + 1);
                }
                out.push('\n');
                out.push_str(&pad(indent));
                out.push(']');
            }
            J::Obj(v) if v.is_empty() => out.push_str("{}"),
            J::Obj(v) => {
                out.push('{');
                for (i, (k, x)) in v.iter().enumerate() {
                    out.push_str(if i == 0 { "\n" } else { ",\n" });
                    out.push_str(&pad(indent + 1));
                    esc(k, out);
                    out.push_str(": ");
                    x.write(out, indent + 1);
                }
                out.push('\n');
                out.push_str(&pad(indent));
                out.push('}');
            }
        }
    }
}

fn val(s: &str) -> J {
    let t = s.trim();
    match t.parse::<i64>() {
        Ok(i) => J::Int(i),
        Err(_) => J::Str(t.to_string()),
    }
}

fn s(x: impl Into<String>) -> J {
    J::Str(x.into())
}

// ------------------------------------------------------------------ kernel files
fn read_trim(p: &str) -> Option<String> {
    fs::read_to_string(p).ok().map(|s| s.trim().to_string())
}

/// "key value" per line (vmstat, memory.stat, memory.events).
fn read_kv(p: &str) -> Option<BTreeMap<String, i64>> {
    let text = fs::read_to_string(p).ok()?;
    let mut m = BTreeMap::new();
    for line in text.lines() {
        let mut it = line.split_whitespace();
        if let (Some(k), Some(v)) = (it.next(), it.next()) {
            if let Ok(v) = v.parse::<i64>() {
                m.insert(k.to_string(), v);
            }
        }
    }
    Some(m)
}

fn kv_obj(m: &BTreeMap<String, i64>) -> J {
    J::Obj(m.iter().map(|(k, v)| (k.clone(), J::Int(*v))).collect())
}

/// Every regular file of a directory, value as read (debugfs zswap, zswap params).
fn read_dir_files(dir: &str) -> J {
    let mut v = Vec::new();
    if let Ok(rd) = fs::read_dir(dir) {
        let mut names: Vec<_> = rd.filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into_owned()).collect();
        names.sort();
        for n in names {
            if let Ok(text) = fs::read_to_string(Path::new(dir).join(&n)) {
                v.push((n, val(&text)));
            }
        }
    }
    J::Obj(v)
}

/// vmstat keys worth reporting for swap experiments.
fn vmstat_interesting(k: &str) -> bool {
    const PREFIXES: &[&str] = &["zswp", "pswp", "swp", "swap_ra", "pgmajfault", "pgscan", "pgsteal", "workingset_refault_anon", "workingset_activate_anon", "workingset_restore_anon", "thp_swpout", "nr_swapcached", "nr_zswap", "oom_kill"];
    PREFIXES.iter().any(|p| k.starts_with(p))
}

// ------------------------------------------------------------------ experiment
struct Exp {
    ops: Vec<(String, String)>, // in file order: ("cgroup", name) or (path, value)
    cgroup: Option<String>,
    alloc_mib: usize,
    zero_bytes_per_page: usize,
    zero_page_fraction: f64,
    fill: String,
    read_passes: usize,
    seed: u64,
    strict: bool,
    params: Vec<(String, String)>,
}

fn parse_exp(text: &str) -> Result<Exp, String> {
    let mut e = Exp {
        ops: Vec::new(),
        cgroup: None,
        alloc_mib: 112,
        zero_bytes_per_page: 2048,
        zero_page_fraction: 0.0,
        fill: "random".into(),
        read_passes: 2,
        seed: 1,
        strict: true,
        params: Vec::new(),
    };
    for (n, raw) in text.lines().enumerate() {
        let line = raw.split('#').next().unwrap().trim();
        if line.is_empty() {
            continue;
        }
        let (k, v) = line.split_once('=').ok_or_else(|| format!("line {}: expected key = value", n + 1))?;
        let (k, v) = (k.trim().to_string(), v.trim().to_string());
        let bad = |what: &str| format!("line {}: bad {what}: {v}", n + 1);
        if k.starts_with('/') {
            e.ops.push((k, v));
            continue;
        }
        match k.as_str() {
            "cgroup" => {
                if v.is_empty() || v.contains("..") {
                    return Err(bad("cgroup"));
                }
                e.cgroup = Some(v.clone());
                e.ops.push(("cgroup".into(), v.clone()));
            }
            "alloc_mib" => e.alloc_mib = v.parse().map_err(|_| bad("alloc_mib"))?,
            "zero_bytes_per_page" => {
                e.zero_bytes_per_page = v.parse().map_err(|_| bad("zero_bytes_per_page"))?;
                if e.zero_bytes_per_page > PAGE {
                    return Err(bad("zero_bytes_per_page (> 4096)"));
                }
            }
            "zero_page_fraction" => e.zero_page_fraction = v.parse().map_err(|_| bad("zero_page_fraction"))?,
            "fill" => {
                if v != "random" && v != "text" {
                    return Err(bad("fill (random | text)"));
                }
                e.fill = v.clone();
            }
            "read_passes" => e.read_passes = v.parse().map_err(|_| bad("read_passes"))?,
            "seed" => e.seed = v.parse().map_err(|_| bad("seed"))?,
            "strict" => e.strict = v != "0",
            _ => return Err(format!("line {}: unknown key {k}", n + 1)),
        }
        e.params.push((k, v));
    }
    Ok(e)
}

// ------------------------------------------------------------------ workload
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

const TEXT: &[u8] = b"The swap subsystem moves cold anonymous pages out of memory: zswap keeps them compressed in a pool, \
and writes them back to the swap device when the pool is full or the shrinker asks. ";

/// Fills one page; returns its checksum.
fn fill_page(page: &mut [u8], idx: usize, e: &Exp, zero_page: bool, rng: &mut Rng) -> u64 {
    if zero_page {
        page.fill(0);
        return 0;
    }
    page[..e.zero_bytes_per_page].fill(0);
    let rest = &mut page[e.zero_bytes_per_page..];
    if e.fill == "random" {
        for c in rest.chunks_mut(8) {
            let b = rng.next().to_le_bytes();
            c.copy_from_slice(&b[..c.len()]);
        }
    } else {
        let off = (idx * 37) % TEXT.len();
        for (i, b) in rest.iter_mut().enumerate() {
            *b = TEXT[(off + i) % TEXT.len()];
        }
        // a page number so no two pages are identical
        let tag = format!("[page {idx}]");
        let n = tag.len().min(rest.len());
        rest[..n].copy_from_slice(&tag.as_bytes()[..n]);
    }
    sum_page(page)
}

fn sum_page(page: &[u8]) -> u64 {
    let mut acc = 0u64;
    for (i, c) in page.chunks_exact(8).enumerate() {
        let w = u64::from_le_bytes(c.try_into().unwrap());
        acc = acc.wrapping_add(w.rotate_left((i % 63) as u32));
    }
    acc
}

fn is_zero_page(idx: usize, frac: f64) -> bool {
    // evenly spread: page idx is zero when floor((idx+1)*frac) > floor(idx*frac)
    frac > 0.0 && (((idx + 1) as f64 * frac).floor() > (idx as f64 * frac).floor())
}

fn secs(t: Instant) -> f64 {
    t.elapsed().as_secs_f64()
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let text = match args.get(1) {
        Some(p) => match fs::read_to_string(p) {
            Ok(t) => t,
            Err(err) => {
                eprintln!("probe: cannot read {p}: {err}");
                return ExitCode::from(2);
            }
        },
        None => String::new(), // all defaults, no cgroup, no writes
    };
    let e = match parse_exp(&text) {
        Ok(e) => e,
        Err(err) => {
            eprintln!("probe: {err}");
            return ExitCode::from(2);
        }
    };

    // The writes are meant for the lab's QEMU guest only (zswap, cgroup limits):
    // refuse them anywhere else (kernel-lab/boot's init sets KERNEL_LAB_GUEST=1).
    if !e.ops.is_empty() && std::env::var("KERNEL_LAB_GUEST").as_deref() != Ok("1") {
        eprintln!("probe: refusing to write kernel knobs outside the kernel-lab guest (KERNEL_LAB_GUEST != 1)");
        return ExitCode::from(2);
    }

    let mut out: Vec<(String, J)> = Vec::new();
    out.push(("probe".into(), s(env!("CARGO_PKG_VERSION"))));
    out.push(("kernel".into(), s(read_trim("/proc/sys/kernel/osrelease").unwrap_or_default())));
    out.push(("experiment".into(), J::Obj(e.params.iter().map(|(k, v)| (k.clone(), val(v))).collect())));

    // Apply the writes and cgroup creation in file order.
    let mut writes = Vec::new();
    let mut failed = false;
    for (k, v) in &e.ops {
        let (path, res) = if k == "cgroup" {
            let p = format!("{CGROOT}/{v}");
            let r = if Path::new(&p).is_dir() { Ok(()) } else { fs::create_dir(&p) };
            (format!("mkdir {p}"), r)
        } else {
            (k.clone(), fs::write(k, v.as_bytes()))
        };
        let mut o = vec![("op".into(), s(path.clone())), ("value".into(), s(v.clone()))];
        match res {
            Ok(()) => {
                if k != "cgroup" {
                    if let Some(now) = read_trim(k) {
                        o.push(("reads_back".into(), s(now)));
                    }
                }
                o.push(("ok".into(), J::Bool(true)));
            }
            Err(err) => {
                eprintln!("probe: {path} <- {v}: {err}");
                failed = true;
                o.push(("ok".into(), J::Bool(false)));
                o.push(("error".into(), s(err.to_string())));
            }
        }
        writes.push(J::Obj(o));
    }
    out.push(("writes".into(), J::Arr(writes)));
    if failed && e.strict {
        let mut o = String::new();
        J::Obj(out).write(&mut o, 0);
        println!("{o}");
        eprintln!("probe: a write failed (strict = 1)");
        return ExitCode::from(1);
    }

    let mut knobs = vec![
        ("zswap".to_string(), read_dir_files("/sys/module/zswap/parameters")),
        ("lru_gen_enabled".into(), s(read_trim("/sys/kernel/mm/lru_gen/enabled").unwrap_or_default())),
        ("swappiness".into(), val(&read_trim("/proc/sys/vm/swappiness").unwrap_or_default())),
        ("page_cluster".into(), val(&read_trim("/proc/sys/vm/page-cluster").unwrap_or_default())),
        ("swaps".into(), s(read_trim("/proc/swaps").unwrap_or_default())),
    ];
    if let Some(mt) = read_kv("/proc/meminfo").and_then(|m| m.get("MemTotal:").copied()) {
        knobs.push(("memtotal_kb".into(), J::Int(mt)));
    }
    out.push(("knobs".into(), J::Obj(knobs)));

    // Join the cgroup.
    let cg = e.cgroup.as_ref().map(|c| format!("{CGROOT}/{c}"));
    if let Some(cg) = &cg {
        if let Err(err) = fs::write(format!("{cg}/cgroup.procs"), std::process::id().to_string()) {
            eprintln!("probe: cannot join {cg}: {err}");
            return ExitCode::from(1);
        }
    }

    let vm0 = read_kv("/proc/vmstat").unwrap_or_default();

    // Workload: fill, then sequential read passes that verify.
    let pages = e.alloc_mib * 1024 * 1024 / PAGE;
    let mut rng = Rng(e.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let t = Instant::now();
    // Page-aligned and left untouched until each page is filled (no memset of
    // the whole buffer first, which would fault every page in as zeros).
    let layout = std::alloc::Layout::from_size_align(pages.max(1) * PAGE, PAGE).unwrap();
    // SAFETY: non-zero size.
    let base = unsafe { std::alloc::alloc(layout) };
    if base.is_null() {
        eprintln!("probe: cannot allocate {} MiB", e.alloc_mib);
        return ExitCode::from(1);
    }
    let mut sums = Vec::with_capacity(pages);
    let mut zero_pages = 0usize;
    for i in 0..pages {
        // SAFETY: page i lies inside the allocation; it is initialised (zeroed)
        // before a slice is made over it.
        let page = unsafe {
            let p = base.add(i * PAGE);
            std::ptr::write_bytes(p, 0, PAGE);
            std::slice::from_raw_parts_mut(p, PAGE)
        };
        let z = is_zero_page(i, e.zero_page_fraction);
        zero_pages += z as usize;
        sums.push(fill_page(page, i, &e, z, &mut rng));
    }
    // SAFETY: every page was initialised above.
    let buf: &[u8] = unsafe { std::slice::from_raw_parts(base, pages * PAGE) };
    let fill_s = secs(t);
    let vm_fill = read_kv("/proc/vmstat").unwrap_or_default();
    let mut passes = Vec::new();
    let mut all_ok = true;
    for p in 0..e.read_passes {
        let t = Instant::now();
        let mut bad = 0usize;
        for (i, page) in buf.chunks_exact(PAGE).enumerate() {
            if black_box(sum_page(page)) != sums[i] {
                bad += 1;
            }
        }
        all_ok &= bad == 0;
        passes.push(J::Obj(vec![("pass".into(), J::Int(p as i64 + 1)), ("seconds".into(), J::Num(secs(t))), ("bad_pages".into(), J::Int(bad as i64))]));
    }
    let vm1 = read_kv("/proc/vmstat").unwrap_or_default();

    out.push((
        "workload".into(),
        J::Obj(vec![
            ("pages".into(), J::Int(pages as i64)),
            ("bytes".into(), J::Int((pages * PAGE) as i64)),
            ("zero_pages".into(), J::Int(zero_pages as i64)),
            ("fill_seconds".into(), J::Num(fill_s)),
            ("read_passes".into(), J::Arr(passes)),
            ("contents_ok".into(), J::Bool(all_ok)),
        ]),
    ));

    let delta = |a: &BTreeMap<String, i64>, b: &BTreeMap<String, i64>| -> J {
        J::Obj(b.iter().filter(|(k, _)| vmstat_interesting(k)).map(|(k, v)| (k.clone(), J::Int(v - a.get(k).copied().unwrap_or(0)))).collect())
    };
    out.push((
        "vmstat".into(),
        J::Obj(vec![
            ("fill_delta".into(), delta(&vm0, &vm_fill)),
            ("read_delta".into(), delta(&vm_fill, &vm1)),
            ("total_delta".into(), delta(&vm0, &vm1)),
            ("after".into(), J::Obj(vm1.iter().filter(|(k, _)| vmstat_interesting(k)).map(|(k, v)| (k.clone(), J::Int(*v))).collect())),
        ]),
    ));
    out.push(("zswap_debugfs".into(), read_dir_files("/sys/kernel/debug/zswap")));

    if let Some(cg) = &cg {
        let mut m = vec![("path".to_string(), s(cg.clone()))];
        for f in ["memory.stat", "memory.events", "memory.events.local", "memory.swap.events"] {
            let j = read_kv(&format!("{cg}/{f}")).map(|m| kv_obj(&m)).unwrap_or(J::Obj(vec![]));
            m.push((f.into(), j));
        }
        for f in ["memory.max", "memory.high", "memory.current", "memory.peak", "memory.swap.current", "memory.swap.peak", "memory.swap.max", "memory.zswap.current", "memory.zswap.max", "memory.zswap.writeback"] {
            if let Some(v) = read_trim(&format!("{cg}/{f}")) {
                m.push((f.into(), val(&v)));
            }
        }
        out.push(("memcg".into(), J::Obj(m)));
    }
    black_box(buf);
    // SAFETY: allocated above with this layout; buf is not used after this.
    unsafe { std::alloc::dealloc(base, layout) };

    let mut o = String::new();
    J::Obj(out).write(&mut o, 0);
    println!("{o}");
    if all_ok {
        ExitCode::SUCCESS
    } else {
        eprintln!("probe: contents changed under the workload");
        ExitCode::from(1)
    }
}
