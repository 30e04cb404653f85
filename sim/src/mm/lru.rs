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
