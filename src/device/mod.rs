//! Physical swap devices as tiers (`swapon` / `swapoff`, `swap_alloc_slow`'s walk of
//! `swap_avail_head`).
//!
//! Each device is a fixed swap space (the core's cluster code) whose table words are
//! `Pointer`s back to the virtual slot they back: the reverse map, with the cache-only
//! bit. Its data goes through a [`Device`].
//!
//! Invariants:
//! * The avail list is an immutable snapshot (devices by priority, highest first, in
//!   swapon order within a priority, each with its swap-tier bit) replaced under the
//!   swapon lock and retired through the epoch; allocation reads it without locking.
//! * A device being swapped off takes no new slots; its slots stay readable until every
//!   page has moved, then it is unlinked and retired.
//! * Within a priority, each allocation starts one device further along (the kernel's
//!   `plist_requeue`), so equal priorities take turns.

mod faulty;
mod store;
mod tier;

pub use faulty::{DeviceFault, FaultyDevice};
pub use store::{Device, FileDevice, MemoryDevice, NullDevice};
pub(crate) use tier::{DEFAULT_TIER_BIT, Member, TierTable};
pub use tier::{SwapTier, SwapTierOp};

use crate::ledger::SharedBytes;
use crate::sync::{AtomicBool, AtomicUsize, Ordering};
use crate::table::space::Space;
use crossbeam_epoch::{Atomic, Guard};
use std::path::PathBuf;

/// `MAX_SWAPFILES`: device numbers fit the backend word's 5 bits.
pub const MAX_DEVICES: usize = 32;
/// The largest device, in pages (the compact backend word's offset field).
pub const MAX_DEVICE_PAGES: u64 = 1 << crate::entry::COMPACT_OFFSET_BITS;
/// `DEF_SWAP_PRIO`: the priority of a device swapped on without one.
pub const DEFAULT_PRIORITY: i16 = -1;

enum Kind {
    Memory,
    File(PathBuf),
    Null,
    Custom(Box<dyn Device>),
}

/// What `swapon` gets: a name, a size in pages (slot 0 is the swap header, so one page
/// fewer is usable), a priority, and where the data goes.
pub struct DeviceSpec {
    name: String,
    pages: u64,
    priority: i16,
    kind: Kind,
}

impl std::fmt::Debug for DeviceSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceSpec").field("name", &self.name).field("pages", &self.pages).finish_non_exhaustive()
    }
}

impl DeviceSpec {
    fn new(name: impl Into<String>, pages: u64, kind: Kind) -> Self {
        Self { name: name.into(), pages, priority: DEFAULT_PRIORITY, kind }
    }
    /// A device whose pages are kept in memory.
    pub fn memory(name: impl Into<String>, pages: u64) -> Self {
        Self::new(name, pages, Kind::Memory)
    }
    /// A device backed by a real file at `path` (created or truncated at swapon).
    pub fn file(name: impl Into<String>, path: impl Into<PathBuf>, pages: u64) -> Self {
        Self::new(name, pages, Kind::File(path.into()))
    }
    /// A device that keeps no data (pure-count simulations).
    pub fn null(name: impl Into<String>, pages: u64) -> Self {
        Self::new(name, pages, Kind::Null)
    }
    /// A device with the caller's own storage.
    pub fn custom(name: impl Into<String>, pages: u64, device: Box<dyn Device>) -> Self {
        Self::new(name, pages, Kind::Custom(device))
    }
    /// `swapon -p`: higher is used first; the default is -1 (`DEF_SWAP_PRIO`).
    pub fn priority(mut self, priority: i16) -> Self {
        self.priority = priority;
        self
    }
    /// The device's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// One swapped-on device (`struct swap_info_struct`).
pub(crate) struct Dev {
    pub id: u8,
    pub name: String,
    pub priority: i16,
    pub pages: u64,
    pub space: Space,
    pub store: Box<dyn Device>,
    /// The device's metadata bytes (its clusters: the reverse map and bitmaps).
    pub bytes: SharedBytes,
    /// `SWP_WRITEOK` cleared: swapoff has started.
    pub going_off: AtomicBool,
}

impl Dev {
    /// Build the device for `spec` (opens the file; the error is the caller's).
    pub(crate) fn open(
        id: u8,
        spec: DeviceSpec,
        shift: u32,
        cpus: usize,
        bytes: SharedBytes,
    ) -> Result<Self, crate::Error> {
        if spec.pages < 2 || spec.pages > MAX_DEVICE_PAGES {
            return Err(crate::Error::Invalid("device pages must be in 2..=2^26"));
        }
        let store: Box<dyn Device> = match spec.kind {
            Kind::Memory => Box::new(MemoryDevice::new()),
            Kind::File(path) => Box::new(FileDevice::create(&path, spec.pages)?),
            Kind::Null => Box::new(NullDevice),
            Kind::Custom(d) => d,
        };
        Ok(Self {
            id,
            name: spec.name,
            priority: spec.priority,
            pages: spec.pages,
            space: Space::fixed(shift, cpus, spec.pages, bytes.clone()),
            store,
            bytes,
            going_off: AtomicBool::new(false),
        })
    }
}

/// `swap_avail_head`: device numbers by priority, highest first, each with its swap-tier
/// bit. An immutable snapshot, rebuilt at swapon, swapoff and each tier write.
pub(crate) struct Avail {
    /// (priority, device numbers in swapon order).
    pub groups: Vec<(i16, Vec<u8>)>,
    /// Per group, where the next allocation starts.
    pub next: Box<[AtomicUsize]>,
    /// Per device number, its tier's mask bit (`si->tier_mask`).
    pub tier_bit: [u32; MAX_DEVICES],
    /// Some swap tier is configured: allocation filters by the memcg's mask.
    pub tiered: bool,
}

impl Avail {
    /// The list for `devs` (number, priority), each in its tier of `table`.
    pub(crate) fn build(devs: &[(u8, i16)], table: &TierTable) -> Self {
        let mut groups: Vec<(i16, Vec<u8>)> = Vec::new();
        let mut sorted = devs.to_vec();
        sorted.sort_by_key(|&(id, p)| (std::cmp::Reverse(p), id));
        let mut tier_bit = [DEFAULT_TIER_BIT; MAX_DEVICES];
        for (id, p) in sorted {
            tier_bit[usize::from(id)] = table.bit_of(p);
            match groups.last_mut() {
                Some((gp, ids)) if *gp == p => ids.push(id),
                _ => groups.push((p, vec![id])),
            }
        }
        let next = (0..groups.len()).map(|_| AtomicUsize::new(0)).collect();
        Self { groups, next, tier_bit, tiered: !table.is_empty() }
    }

    /// Devices in the order an allocation tries them, rotating within each priority,
    /// skipping those outside the tier `mask` (`folio_alloc_swap`'s filter). A rotation
    /// counts only when the group has an allowed device.
    /// How many devices the tiers of `mask` hold.
    pub(crate) fn devices_in(&self, mask: u32) -> usize {
        let ids = self.groups.iter().flat_map(|(_, ids)| ids);
        ids.filter(|&&id| self.tier_bit[usize::from(id)] & mask != 0).count()
    }

    pub(crate) fn order(&self, mask: u32) -> impl Iterator<Item = u8> + '_ {
        self.groups.iter().enumerate().flat_map(move |(gi, (_, ids))| {
            let allowed = |id: u8| self.tier_bit[usize::from(id)] & mask != 0;
            // A priority group shares one tier (tiers are priority ranges).
            let ids: &[u8] = if ids.first().is_some_and(|&i| allowed(i)) { ids } else { &[] };
            let start = if ids.len() > 1 { self.next[gi].fetch_add(1, Ordering::Relaxed) % ids.len() } else { 0 };
            (0..ids.len()).map(move |k| ids[(start + k) % ids.len()])
        })
    }
}

/// Every device slot, the current avail list and the swap-tier table.
pub(crate) struct Devices {
    pub slots: Box<[Atomic<Dev>]>,
    pub avail: Atomic<Avail>,
    /// Written under the swapon lock only; the lock here is for readers of the listing.
    pub tiers: crate::sync::Mutex<TierTable>,
}

impl Devices {
    pub(crate) fn new(nr_tiers: u8) -> Self {
        Self {
            slots: Box::new(crate::sync::nulls::<Dev, MAX_DEVICES>()),
            avail: Atomic::new(Avail::build(&[], &TierTable::default())),
            tiers: crate::sync::Mutex::new(TierTable::new(nr_tiers)),
        }
    }

    /// The device numbered `id`, if swapped on.
    pub(crate) fn get<'g>(&self, id: u8, g: &'g Guard) -> Option<&'g Dev> {
        // SAFETY: devices are unlinked under the swapon lock and retired through the
        // epoch `g` pins.
        unsafe { self.slots.get(id as usize)?.load(Ordering::Acquire, g).as_ref() }
    }

    /// The current avail list.
    pub(crate) fn avail<'g>(&self, g: &'g Guard) -> &'g Avail {
        // SAFETY: replaced under the swapon lock and retired through the epoch; never null.
        unsafe { self.avail.load(Ordering::Acquire, g).deref() }
    }
}

impl Drop for Devices {
    fn drop(&mut self) {
        // SAFETY: `&mut self`: no reader is left.
        unsafe {
            let g = crossbeam_epoch::unprotected();
            for s in self.slots.iter() {
                let p = s.load(Ordering::Relaxed, g);
                if !p.is_null() {
                    drop(p.into_owned());
                }
            }
            let t = self.avail.load(Ordering::Relaxed, g);
            if !t.is_null() {
                drop(t.into_owned());
            }
        }
    }
}
