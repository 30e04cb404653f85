//! `vswap-sim`: the crate's driver. `vswap-sim` alone runs the default scenario;
//! `vswap-sim footprint [--slots N] [--cpus N]` prints the metadata footprint report.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Counts live heap bytes, to check the crate's own accounting against the allocator.
struct Counting;
static LIVE: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator unchanged; only counts sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract; passed through.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: `ptr` came from `alloc` above with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

// Not under Miri: on i686-pc-windows-msvc, Miri (tree borrows) reports UB inside std's
// Windows `System::dealloc` (`HeapFree` of an over-aligned block freed by libtest's mpmc
// channel) as soon as any `#[global_allocator]` routes through `System`. This binary has
// no tests; the counting allocator only serves the native footprint report.
#[cfg_attr(not(miri), global_allocator)]
static ALLOC: Counting = Counting;

fn usage() -> ! {
    eprintln!("usage: vswap-sim [footprint [--slots N] [--cpus N]]");
    std::process::exit(2);
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut slots: u64 = 8_388_608;
    let mut cpus: usize = 1;
    let mut rest = args.iter();
    match rest.next().map(String::as_str) {
        None | Some("footprint") => {}
        Some(_) => usage(),
    }
    while let Some(flag) = rest.next() {
        let value = rest.next().and_then(|v| v.parse::<u64>().ok()).unwrap_or_else(|| usage());
        match flag.as_str() {
            "--slots" => slots = value,
            "--cpus" => cpus = value.clamp(1, 4096) as usize,
            _ => usage(),
        }
    }
    let heap = || Some(LIVE.load(Ordering::Relaxed) as u64);
    use vswap::sim::footprint::{Backend, measure, measure_backend, render, render_backends};
    let run = || -> Result<String, vswap::Error> {
        let report = measure(slots, cpus, &heap)?;
        let backed = [measure_backend(slots, cpus, Backend::Zswap)?, measure_backend(slots, cpus, Backend::Device)?];
        Ok(render(slots, &report) + &render_backends(&backed))
    };
    match run() {
        Ok(text) => print!("{text}"),
        Err(e) => {
            eprintln!("vswap-sim: {e}");
            std::process::exit(1);
        }
    }
}
