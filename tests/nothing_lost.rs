//! Nothing lost (docs/design.md principle 6): random page contents — zero pages, pages of one
//! repeated byte, compressible and incompressible pages — go through arbitrary sequences
//! of writeout, evict, writeback, swapoff (with a fresh device swapped on in its place)
//! and fault, and every fault returns exactly the bytes last written out. Natively the
//! two devices are real files; under Miri they are in-memory devices. At the end every
//! page is faulted back and freed, and nothing stays charged or stored.
//!
//! The pages belong to four memcgs (the root, a child, a grandchild and a second child)
//! and three compression priorities are registered (lz4, and deflate at levels 1 and 9; the
//! second child starts on deflate level 1); the steps set and unset
//! `Knob::ZswapCompressionPriority` on random memcgs between stores and loads (also at the
//! unregistered priority, which must fail and change nothing), so entries stored with one
//! tier are loaded, written back and moved after their memcg switched to another.
//!
//! Swap tiers change under the pages too: most runs put the two devices (priorities 5
//! and 1) in tiers `fast` and `slow`, written before or after they are swapped on; random
//! batches of tier commands (valid, or failing as a whole and changing nothing) add,
//! split and remove tiers, and `Knob::SwapTierMax` writes forbid and allow tiers per
//! memcg, so pages are written out, written back and moved by swapoff within whatever
//! tiers their memcg may use at the time, or kept when those are full. Writes of
//! `Knob::ZswapWritebackTier` steer writeback to the tier they name first.
//!
//! The devices fail on purpose: each is a `FaultyDevice` around the file (or memory)
//! device, and steps arm and disarm scripted faults on them (EIO on an offset or the n-th
//! operation, short writes, a full device, a dead one). A failing call is `Io` for its own
//! slot and loses nothing: a writeout that fails leaves its folio resident and unbacked
//! (evict refuses it), a fault that fails leaves the page swapped out where it was, a
//! writeback or swapoff that fails leaves the slot as it was. At the end the faults are
//! disarmed and every page must read back.
//!
//! Recompression runs between them: `recompress` on a random memcg subtree, with a random
//! target priority (the unregistered one, and a zero budget, must fail and change
//! nothing), threshold and age after a random clock advance, re-compresses idle entries
//! with lz4 or deflate, so later loads, writebacks and moves decode what it kept.

use proptest::prelude::*;
use vswap::device::{DeviceFault, FaultyDevice, FileDevice, MemoryDevice};
use vswap::*;

const SLOTS: usize = 6;
/// The root, a child of the root, its child, and a second child of the root.
const MEMCGS: usize = 4;
const PARENT: [Option<usize>; MEMCGS] = [None, Some(0), Some(1), Some(0)];
/// The priority no tier is registered at.
const UNREGISTERED: u8 = 3;

/// lz4 (the default), deflate at level 1 and at level 9; nothing at `UNREGISTERED`.
fn tiers() -> Vec<CompressionPriority> {
    vec![CompressionPriority::lz4(1), CompressionPriority::deflate(2, 1), CompressionPriority::deflate(4, 9)]
}

#[derive(Debug, Clone, Copy)]
enum Content {
    Zero,
    Repeated(u8),
    Compressible(u8),
    Incompressible(u64),
}

impl Content {
    fn bytes(self) -> Vec<u8> {
        match self {
            Content::Zero => vec![0; PAGE_SIZE],
            Content::Repeated(b) => vec![b; PAGE_SIZE],
            Content::Compressible(s) => {
                (0..PAGE_SIZE).map(|i| ((i / 48) as u8).wrapping_mul(s) ^ (i % 5) as u8).collect()
            }
            Content::Incompressible(seed) => {
                let mut x = seed | 1;
                (0..PAGE_SIZE)
                    .map(|_| {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        x as u8
                    })
                    .collect()
            }
        }
    }
}

#[derive(Debug, Clone)]
enum Step {
    Writeout(usize, Content),
    Evict(usize),
    Writeback(usize),
    Fault(usize),
    Swapoff(usize),
    /// `Knob::ZswapCompressionPriority` on a memcg (by index): None unsets, 1..=4 sets.
    CompressionPriority(usize, Option<u8>),
    /// A swap tier batch: commands of `TIER_CMDS` (by index).
    Tiers(Vec<usize>),
    /// `Knob::SwapTierMax` on a memcg (by index): tier index, enabled.
    TierMax(usize, u8, bool),
    /// `Knob::ZswapWritebackTier` on a memcg (by index): a tier index or unset.
    WritebackTier(usize, Option<u8>),
    /// Arm a fault on a device (by index).
    Arm(usize, DeviceFault),
    /// Disarm every fault of a device (by index).
    Disarm(usize),
    /// Advance the clock by `ticks`, then `recompress` a memcg's subtree (by index).
    Recompress {
        memcg: usize,
        ticks: u64,
        spec: RecompressSpec,
    },
}

/// The tier commands a batch picks from: tiers around the devices' priorities (5 and 1),
/// their removal, and commands that always fail. The first two make `SLOW_FAST`.
const TIER_CMDS: [&str; 10] =
    ["+slow:-1", "+fast:3", "+mid:2", "+top:6", "-slow", "-fast", "-mid", "-top", "+x:-2", "+b.d:9"];
/// `slow` from -1 (the device at 1) and `fast` from 3 (the device at 5).
const SLOW_FAST: [usize; 2] = [0, 1];

/// When a run first writes `SLOW_FAST`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Setup {
    /// Never (its random batches may).
    None,
    /// Before the devices are swapped on.
    Before,
    /// After: the tier-less devices join the tiers.
    After,
}

fn content() -> impl Strategy<Value = Content> {
    prop_oneof![
        Just(Content::Zero),
        any::<u8>().prop_map(Content::Repeated),
        any::<u8>().prop_map(Content::Compressible),
        any::<u64>().prop_map(Content::Incompressible),
    ]
}

/// Faults on the 8-page devices: any offset, the next few operations.
fn fault() -> impl Strategy<Value = DeviceFault> {
    let offset = 1..8u64;
    prop_oneof![
        offset.clone().prop_map(|offset| DeviceFault::Read { offset }),
        offset.clone().prop_map(|offset| DeviceFault::Write { offset }),
        offset.clone().prop_map(|offset| DeviceFault::ShortWrite { offset }),
        offset.prop_map(|offset| DeviceFault::ShortRead { offset }),
        (1..4u64).prop_map(|n| DeviceFault::NthOp { n }),
        (0..3u64).prop_map(|writes| DeviceFault::FullAfter { writes }),
        (0..4u64).prop_map(|ops| DeviceFault::FailAfter { ops }),
    ]
}

fn step() -> impl Strategy<Value = Step> {
    let slot = 0..SLOTS;
    prop_oneof![
        4 => (slot.clone(), content()).prop_map(|(s, c)| Step::Writeout(s, c)),
        3 => slot.clone().prop_map(Step::Evict),
        2 => slot.clone().prop_map(Step::Writeback),
        3 => slot.prop_map(Step::Fault),
        1 => (0..2usize).prop_map(Step::Swapoff),
        2 => (0..2usize, fault()).prop_map(|(d, f)| Step::Arm(d, f)),
        1 => (0..2usize).prop_map(Step::Disarm),
        2 => (0..MEMCGS, prop::option::weighted(0.75, 1..=4u8)).prop_map(|(m, p)| Step::CompressionPriority(m, p)),
        2 => prop_oneof![
            1 => Just(SLOW_FAST.to_vec()),
            3 => prop::collection::vec(0..TIER_CMDS.len(), 1..=3),
        ].prop_map(Step::Tiers),
        2 => (0..MEMCGS, 0..3u8, prop::bool::weighted(0.4)).prop_map(|(m, t, on)| Step::TierMax(m, t, on)),
        1 => (0..MEMCGS, prop::option::of(0..4u8)).prop_map(|(m, t)| Step::WritebackTier(m, t)),
        3 => (0..MEMCGS, 0..3u64, recompress_spec())
            .prop_map(|(memcg, ticks, spec)| Step::Recompress { memcg, ticks, spec }),
    ]
}

/// Mostly valid: a registered priority above lz4's, a budget of 1..=`SLOTS`; sometimes the
/// unregistered priority or a zero budget.
fn recompress_spec() -> impl Strategy<Value = RecompressSpec> {
    let priority = prop_oneof![6 => Just(4u8), 2 => Just(2), 1 => Just(1), 1 => Just(UNREGISTERED)];
    let threshold = prop_oneof![3 => Just(0u32), 1 => 0..PAGE_SIZE as u32];
    (prop_oneof![3 => Just(0u64), 1 => 0..4u64], threshold, prop_oneof![9 => 1..=SLOTS as u64, 1 => Just(0)], priority)
        .prop_map(|(min_age, threshold, max_pages, priority)| RecompressSpec {
            min_age,
            threshold,
            max_pages,
            priority,
        })
}

/// One page of the test: its slot, the bytes it holds now, whether the folio is resident,
/// and whether the bytes last written out are what a backend holds.
struct Held {
    slot: VSlot,
    bytes: Vec<u8>,
    resident: bool,
    written: bool,
}

struct Rig {
    sys: SwapSystem,
    devices: Vec<DeviceId>,
    /// Each device's fault script, by the same index.
    faulty: Vec<FaultyDevice>,
    files: Vec<std::path::PathBuf>,
    serial: u32,
    /// The memcgs by index (`PARENT`), and each one's own compressor setting.
    memcgs: Vec<MemcgId>,
    knobs: [Option<u8>; MEMCGS],
}

impl Rig {
    /// A new device at `priority`, and the handle that arms its faults.
    fn device(&mut self, priority: i16) -> (DeviceId, FaultyDevice) {
        // Small devices, so swapoff sometimes lacks room and must fail with nothing moved.
        let pages = 8;
        self.serial += 1;
        let store: Box<dyn Device> = if cfg!(miri) {
            Box::new(MemoryDevice::new())
        } else {
            let path = std::env::temp_dir().join(format!(
                "vswap-nothing-lost-{}-{:?}-{}",
                std::process::id(),
                std::thread::current().id(),
                self.serial
            ));
            self.files.push(path.clone());
            Box::new(FileDevice::create(&path, pages).unwrap())
        };
        let faulty = FaultyDevice::wrap(store);
        let spec = DeviceSpec::custom(format!("dev{}", self.serial), pages, Box::new(faulty.clone()));
        (self.sys.swapon(spec.priority(priority)).unwrap(), faulty)
    }

    /// The compression priority memcg `m`'s stores use: the nearest setting up the tree, else 1.
    fn effective(&self, mut m: usize) -> u8 {
        loop {
            match (self.knobs[m], PARENT[m]) {
                (Some(p), _) => return p,
                (None, Some(up)) => m = up,
                (None, None) => return 1,
            }
        }
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        for f in &self.files {
            let _ = std::fs::remove_file(f);
        }
    }
}

/// Write `cmds` (indices into `TIER_CMDS`) as one batch: Ok, or a tier error that
/// changed nothing.
fn write_tiers(sys: &SwapSystem, cmds: &[usize]) -> Result<(), TestCaseError> {
    let text: Vec<&str> = cmds.iter().map(|&c| TIER_CMDS[c]).collect();
    let before = sys.swap_tiers();
    match sys.swap_tiers_write(&SwapTierOp::parse(&text.join(" ")).unwrap()) {
        Ok(()) => {}
        Err(Error::TierExists | Error::TierBusy(_) | Error::Invalid(_) | Error::TooManyTiers) => {
            prop_assert_eq!(sys.swap_tiers(), before, "a failed batch {:?} changed the tiers", text);
        }
        Err(e) => return Err(TestCaseError::fail(format!("swap tier batch {text:?}: {e:?}"))),
    }
    Ok(())
}

fn run(steps: Vec<Step>, pool_percent: u32, setup: Setup) -> Result<(), TestCaseError> {
    let mut cfg = Config { cluster_shift: 3, cpus: 2, ram_pages: 16, ..Config::default() };
    cfg.zswap.max_pool_percent = pool_percent;
    cfg.zswap.compression_priorities = tiers();
    let sys = SwapSystem::new(cfg).unwrap();
    let mut memcgs = vec![MemcgId::ROOT];
    for up in PARENT.iter().flatten() {
        let cg = sys.memcg_create(memcgs[*up]).unwrap();
        memcgs.push(cg);
    }
    // The second child starts on deflate (level 1), so its pages store with deflate from
    // the first step; the steps change that and the others' settings at random.
    sys.memcg_set(memcgs[3], Knob::ZswapCompressionPriority(Some(2))).unwrap();
    let knobs = [None, None, None, Some(2)];
    let mut rig = Rig { sys, devices: Vec::new(), faulty: Vec::new(), files: Vec::new(), serial: 0, memcgs, knobs };
    if setup == Setup::Before {
        write_tiers(&rig.sys, &SLOW_FAST)?;
    }
    let ((fast, fast_faults), (slow, slow_faults)) = (rig.device(5), rig.device(1));
    if setup == Setup::After {
        write_tiers(&rig.sys, &SLOW_FAST)?;
    }
    if setup != Setup::None {
        prop_assert_eq!(rig.sys.device_swap_tier(fast).unwrap().map(|t| t.name), Some("fast".to_string()));
    }
    rig.devices = vec![fast, slow];
    rig.faulty = vec![fast_faults, slow_faults];
    let mut held: Vec<Held> = (0..SLOTS)
        .map(|i| {
            let slot = rig.sys.alloc(i % 2, rig.memcgs[i % MEMCGS], FolioId(i as u64), 0).unwrap();
            rig.sys.dup(slot).unwrap();
            Held { slot, bytes: Content::Repeated(i as u8).bytes(), resident: true, written: false }
        })
        .collect();
    let mut out = vec![0u8; PAGE_SIZE];
    for step in steps {
        let sys = &rig.sys;
        match step {
            Step::Writeout(i, c) => {
                let h = &mut held[i];
                if !h.resident {
                    prop_assert_eq!(sys.writeout(h.slot, Page::Bytes(&c.bytes())), Err(Error::NotCached));
                    continue;
                }
                h.bytes = c.bytes();
                match sys.writeout(h.slot, Page::Bytes(&h.bytes)) {
                    // A kept folio is dirty: no backend holds its new bytes.
                    Ok(w) => h.written = !matches!(w, Writeout::Kept(_)),
                    // A failed write redirties it: resident, with no backend at all.
                    Err(Error::Io(_)) => {
                        h.written = false;
                        prop_assert_eq!(sys.backing(h.slot), Ok(Backing::None));
                    }
                    Err(e) => return Err(TestCaseError::fail(format!("writeout: {e:?}"))),
                }
            }
            Step::Evict(i) => {
                let h = &mut held[i];
                let r = sys.evict(h.slot, Shadow(i as u64));
                match (h.resident, h.written) {
                    (true, true) => {
                        prop_assert_eq!(r, Ok(()));
                        h.resident = false;
                    }
                    (true, false) => prop_assert_eq!(r, Err(Error::NotBacked)),
                    (false, _) => prop_assert_eq!(r, Err(Error::NotCached)),
                }
            }
            Step::Writeback(i) => {
                let h = &held[i];
                let before = sys.state(h.slot).unwrap();
                match sys.writeback(h.slot) {
                    Ok(()) => {
                        let was_zswap = matches!(before, SlotState::SwappedOut { backing: Backing::Zswap, .. });
                        prop_assert!(was_zswap, "wrote back a slot that was {:?}", before);
                    }
                    Err(Error::InSwapCache) => prop_assert!(h.resident),
                    Err(Error::NotInZswap | Error::DeviceFull) => {}
                    // A write that failed leaves the entry where it was.
                    Err(Error::Io(_)) => prop_assert_eq!(sys.state(h.slot), Ok(before)),
                    Err(e) => return Err(TestCaseError::fail(format!("writeback: {e:?}"))),
                }
            }
            Step::Fault(i) => {
                let h = &mut held[i];
                out.fill(0xa5);
                let before = sys.state(h.slot).unwrap();
                let f = match sys.fault(i % 2, h.slot, FolioId(100 + i as u64), Some(&mut out)) {
                    Ok(f) => f,
                    // A device read that failed: the page stays swapped out where it was,
                    // for this slot alone.
                    Err(Error::Io(_)) => {
                        let on_device = matches!(before, SlotState::SwappedOut { backing: Backing::Device(_), .. });
                        prop_assert!(!h.resident && on_device, "slot {} failed a fault from {:?}", i, before);
                        prop_assert_eq!(sys.state(h.slot), Ok(before));
                        continue;
                    }
                    Err(e) => return Err(TestCaseError::fail(format!("fault: {e:?}"))),
                };
                if h.resident {
                    prop_assert_eq!(f.source, FaultSource::Cache);
                } else {
                    prop_assert_eq!(f.shadow, Some(Shadow(i as u64)));
                    prop_assert!(out == h.bytes, "slot {} came back different from {:?}", i, f.source);
                    h.resident = true;
                    // An exclusive zswap load leaves the folio dirty; zero and device keep it backed.
                    h.written = f.source != FaultSource::Zswap;
                }
            }
            Step::Swapoff(d) => {
                let dev = rig.devices[d];
                let used = sys.device_stat(dev).unwrap().used;
                match sys.swapoff(dev) {
                    Ok(r) => {
                        prop_assert_eq!(r.pages_moved, used - 1);
                        (rig.devices[d], rig.faulty[d]) = rig.device(if d == 0 { 5 } else { 1 });
                    }
                    Err(Error::DeviceFull) => prop_assert_eq!(sys.device_stat(dev).unwrap().used, used),
                    // The device stays on; the pages already moved stay moved.
                    Err(Error::Io(_)) => prop_assert!(sys.device_stat(dev).is_ok()),
                    Err(e) => return Err(TestCaseError::fail(format!("swapoff: {e:?}"))),
                }
            }
            Step::CompressionPriority(m, p) => {
                let r = sys.memcg_set(rig.memcgs[m], Knob::ZswapCompressionPriority(p));
                if p == Some(UNREGISTERED) {
                    prop_assert!(matches!(r, Err(Error::Invalid(_))), "an unregistered tier: {:?}", r);
                } else {
                    prop_assert_eq!(r, Ok(()));
                    rig.knobs[m] = p;
                }
                for (k, &cg) in rig.memcgs.iter().enumerate() {
                    prop_assert_eq!(sys.memcg_compression_priority(cg), Ok(rig.effective(k)), "memcg {}", k);
                }
            }
            Step::Arm(d, fault) => rig.faulty[d].arm(fault),
            Step::Disarm(d) => rig.faulty[d].disarm_all(),
            Step::Tiers(cmds) => write_tiers(sys, &cmds)?,
            Step::TierMax(m, tier, enabled) => {
                let r = sys.memcg_set(rig.memcgs[m], Knob::SwapTierMax { tier, enabled });
                prop_assert!(matches!(r, Ok(()) | Err(Error::Invalid(_))), "memory.swap.tiers.max: {:?}", r);
                prop_assert!(m != 0 || r.is_err(), "the root has no memory.swap.tiers.max");
            }
            Step::WritebackTier(m, tier) => {
                let r = sys.memcg_set(rig.memcgs[m], Knob::ZswapWritebackTier(tier));
                prop_assert!(matches!(r, Ok(()) | Err(Error::Invalid(_))), "writeback tier: {:?}", r);
            }
            Step::Recompress { memcg, ticks, spec } => {
                sys.set_tick(sys.tick() + ticks).unwrap();
                let before = (sys.stat(), sys.memcg_stat(MemcgId::ROOT).unwrap());
                match sys.recompress(rig.memcgs[memcg], spec) {
                    Ok(r) => {
                        prop_assert!(r.recompressed <= r.attempted && r.attempted <= r.examined, "{:?}", r);
                        prop_assert!(r.attempted <= spec.max_pages, "{:?} over {:?}", r, spec);
                        let after = (sys.stat(), sys.memcg_stat(MemcgId::ROOT).unwrap());
                        // The pool shrinks by the bytes saved; the root's charge by those of
                        // its descendants' entries only (its own entries are not charged).
                        prop_assert_eq!(before.0.pool_total_size - after.0.pool_total_size, r.saved_bytes);
                        prop_assert!(before.1.zswap_current - after.1.zswap_current <= r.saved_bytes);
                        prop_assert_eq!(before.1.zswapped, after.1.zswapped, "recompression frees nothing");
                    }
                    Err(Error::Invalid(_)) => {
                        let bad = spec.max_pages == 0 || spec.priority == UNREGISTERED || spec.min_age > sys.tick();
                        prop_assert!(bad, "{:?} refused", spec);
                        prop_assert_eq!((sys.stat(), sys.memcg_stat(MemcgId::ROOT).unwrap()), before);
                    }
                    Err(e) => return Err(TestCaseError::fail(format!("recompress: {e:?}"))),
                }
            }
        }
    }
    // The faults go: every page must now read back.
    for f in &rig.faulty {
        f.disarm_all();
    }
    let sys = &rig.sys;
    for (i, h) in held.iter().enumerate() {
        if !h.resident {
            out.fill(0x5a);
            sys.fault(0, h.slot, FolioId(200 + i as u64), Some(&mut out)).unwrap();
            prop_assert!(out == h.bytes, "slot {} lost its bytes at the end", i);
        }
        prop_assert_eq!(sys.put(h.slot), Ok(0));
        prop_assert_eq!(sys.release(h.slot), Ok(true));
    }
    let s = sys.stat();
    prop_assert_eq!((s.stored_pages, s.pool_total_size, s.vslots_in_use), (0, 0, 0));
    let root = sys.memcg_stat(MemcgId::ROOT).unwrap();
    prop_assert_eq!(root.swap_current, 0);
    prop_assert_eq!(root.zswap_priorities, [ZswapPriorityStat::default(); 4]);
    prop_assert!(root.swap_tiers.iter().all(|t| t.entries == 0), "{:?}", root.swap_tiers);
    for &d in &rig.devices {
        prop_assert_eq!(sys.device_stat(d).unwrap().used, 1, "only the header slot stays used");
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: if cfg!(miri) { 4 } else { 128 },
        failure_persistence: None,
        rng_algorithm: proptest::test_runner::RngAlgorithm::XorShift,
        ..ProptestConfig::default()
    })]

    #[test]
    fn every_fault_returns_the_bytes_last_written_out(
        steps in prop::collection::vec(step(), 1..if cfg!(miri) { 12 } else { 60 }),
        pool_percent in prop_oneof![Just(100u32), Just(20), Just(0)],
        setup in prop_oneof![1 => Just(Setup::None), 2 => Just(Setup::Before), 2 => Just(Setup::After)],
    ) {
        run(steps, pool_percent, setup)?;
    }
}
