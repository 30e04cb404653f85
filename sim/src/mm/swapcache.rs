//! The memory manager's swap-cache index: slot → the frame holding that slot's folio
//! (`swap_cache_get_folio`). It mirrors the facade's `Cached { folio }` state (a frame's
//! folio id is its index + 1) for a one-load lookup; [`Mm::check`](super::Mm::check)
//! verifies the two agree both ways.
//!
//! Beside it, each slot's page (task and page number) as of its last eviction: cluster
//! readahead (`swap_cluster_readahead`) reads neighbouring slots, whose pages the kernel
//! needs no reverse map for (the swap cache is keyed by slot) but the simulator does, to
//! give the new frame its owner and contents.

use super::{Error, NIL};

/// Marks an `owners` entry as set (task indices stay below 2^31).
const OWNED: u64 = 1 << 63;

/// The swap-cache index (slot → frame): a table indexed by slot id. The facade hands out
/// slot ids from the lowest free cluster up, so the table spans about the peak number of
/// slots in use (4 bytes each, beside the facade's own per-slot metadata); a lookup is
/// one load, where a hash map hashed and probed on every fault and pageout.
#[derive(Debug, Default)]
pub(crate) struct SlotIndex {
    frames: Vec<u32>,
    /// Slot → `task << 32 | vpage` of the page last evicted from it (0: none yet).
    /// Stale once the slot is freed; a reader checks the PTE still holds the slot.
    owners: Vec<u64>,
}

impl SlotIndex {
    pub(super) fn get(&self, slot: u64) -> Option<u32> {
        let f = *self.frames.get(usize::try_from(slot).ok()?)?;
        (f != NIL).then_some(f)
    }

    /// Index `slot` → `f` (a frame index, never `NIL`), replacing any earlier entry.
    pub(super) fn insert(&mut self, slot: u64, f: u32) -> Result<(), Error> {
        let i = usize::try_from(slot).map_err(|_| Error::InvalidSlot)?;
        if i >= self.frames.len() {
            self.frames.resize(i + 1, NIL);
        }
        self.frames[i] = f;
        Ok(())
    }

    pub(super) fn remove(&mut self, slot: u64) {
        if let Some(f) = usize::try_from(slot).ok().and_then(|i| self.frames.get_mut(i)) {
            *f = NIL;
        }
    }

    /// Remember that `slot` holds page `vpage` of `task` (set at eviction).
    pub(super) fn set_owner(&mut self, slot: u64, task: u32, vpage: u32) {
        let Ok(i) = usize::try_from(slot) else { return };
        if i >= self.owners.len() {
            self.owners.resize(i + 1, 0);
        }
        self.owners[i] = u64::from(task) << 32 | u64::from(vpage) | OWNED;
    }

    /// The page (task, vpage) last evicted from `slot`, if any (possibly stale).
    pub(super) fn owner(&self, slot: u64) -> Option<(usize, u64)> {
        let o = *self.owners.get(usize::try_from(slot).ok()?)?;
        (o & OWNED != 0).then_some(((o >> 32) as usize & 0x7fff_ffff, o & 0xffff_ffff))
    }

    /// One past the highest slot ever evicted: no slot above it holds a page (cluster
    /// readahead's `si->max`).
    pub(super) fn owner_limit(&self) -> u64 {
        self.owners.len() as u64
    }

    /// The indexed slots, in slot order.
    pub(super) fn slots(&self) -> impl Iterator<Item = u64> + '_ {
        (self.frames.iter().enumerate()).filter(|&(_, &f)| f != NIL).map(|(s, _)| s as u64)
    }
}
