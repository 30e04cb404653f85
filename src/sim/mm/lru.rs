//! The active and inactive lists: intrusive doubly linked lists through the frame
//! table, most recent at the head. A listed frame's `ACTIVE` flag names its list.

use super::*;

impl Mm {
    pub(super) fn lru_add(&mut self, f: u32, active: bool) {
        let fr = &mut self.frames[f as usize];
        let cg = fr.cg as usize;
        if active {
            fr.flags |= ACTIVE;
        } else {
            fr.flags &= !ACTIVE;
        }
        let l = &mut self.memcgs[cg].lru[usize::from(active)];
        let head = l.head;
        fr.prev = NIL;
        fr.next = head;
        l.head = f;
        if head == NIL {
            l.tail = f;
        } else {
            self.frames[head as usize].prev = f;
        }
        l.len += 1;
    }

    pub(super) fn lru_del(&mut self, f: u32) {
        let Frame { prev, next, cg, flags, .. } = self.frames[f as usize];
        let l = &mut self.memcgs[cg as usize].lru[lru_of(flags)];
        if prev == NIL {
            l.head = next;
        } else {
            self.frames[prev as usize].next = next;
        }
        if next == NIL {
            l.tail = prev;
        } else {
            self.frames[next as usize].prev = prev;
        }
        l.len -= 1;
        let fr = &mut self.frames[f as usize];
        fr.prev = NIL;
        fr.next = NIL;
    }
}

/// The swap-cache index (slot → frame): a table indexed by slot id. The facade hands out
/// slot ids from the lowest free cluster up, so the table spans about the peak number of
/// slots in use (4 bytes each, beside the facade's own per-slot metadata); a lookup is
/// one load, where a hash map hashed and probed on every fault and pageout.
#[derive(Debug, Default)]
pub(super) struct SlotIndex {
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
