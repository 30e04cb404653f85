//! The memory manager's swap-cache index: slot → the frame holding that slot's folio
//! (`swap_cache_get_folio`). It mirrors the facade's `Cached { folio }` state (a frame's
//! folio id is its index + 1) for a one-load lookup; [`Mm::check`](super::Mm::check)
//! verifies the two agree both ways.

use super::{Error, NIL};

/// The swap-cache index (slot → frame): a table indexed by slot id. The facade hands out
/// slot ids from the lowest free cluster up, so the table spans about the peak number of
/// slots in use (4 bytes each, beside the facade's own per-slot metadata); a lookup is
/// one load, where a hash map hashed and probed on every fault and pageout.
#[derive(Debug, Default)]
pub(crate) struct SlotIndex {
    frames: Vec<u32>,
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

    /// The indexed slots, in slot order.
    pub(super) fn slots(&self) -> impl Iterator<Item = u64> + '_ {
        (self.frames.iter().enumerate()).filter(|&(_, &f)| f != NIL).map(|(s, _)| s as u64)
    }
}
