//! [`Mm::check`]: the module invariants, verified against the facade.

use super::*;

impl Mm {
    /// Verify the module invariants against the facade (for tests; O(pages)).
    pub fn check(&self) -> Result<(), String> {
        let mut on_lru = vec![false; self.frames.len()];
        let mut resident = vec![0u64; self.memcgs.len()];
        for (cg, m) in self.memcgs.iter().enumerate() {
            for (k, l) in m.lru.iter().enumerate() {
                let (mut f, mut n, mut prev) = (l.head, 0, NIL);
                while f != NIL {
                    let fr = &self.frames[f as usize];
                    if fr.cg as usize != cg || lru_of(fr.flags) != k || fr.prev != prev || on_lru[f as usize] {
                        return Err(format!("frame {f} misplaced on memcg {cg}'s list {k}"));
                    }
                    on_lru[f as usize] = true;
                    resident[cg] += 1;
                    (prev, f, n) = (f, fr.next, n + 1);
                }
                if n != l.len || l.tail != prev {
                    return Err(format!("memcg {cg} list {k}: length {} but {n} linked", l.len));
                }
            }
        }
        for (cg, m) in self.memcgs.iter().enumerate() {
            resident[cg] += m.wb_folios;
        }
        for (cg, m) in self.memcgs.iter().enumerate() {
            if m.resident != resident[cg] {
                return Err(format!("memcg {cg}: resident {} but {} listed or written back", m.resident, resident[cg]));
            }
            let tree: u64 = m.subtree.iter().map(|&c| resident[c]).sum();
            if m.resident_tree != tree {
                return Err(format!("memcg {cg}: resident_tree {} but {tree}", m.resident_tree));
            }
        }
        let mut swap_ptes: HashMap<u64, u32> = HashMap::default();
        for (t, task) in self.tasks.iter().enumerate() {
            for (p, ptes) in task.ptes.iter().enumerate() {
                for (v, &pte) in ptes.iter().enumerate() {
                    if pte & PRESENT != 0 {
                        let fr = &self.frames[(pte & PAYLOAD) as usize];
                        if fr.mappers & (1 << p) == 0 || fr.task as usize != t || fr.vpage as usize != v {
                            return Err(format!("task {t} process {p} page {v}: frame does not map back"));
                        }
                    } else if pte & SWAP != 0 {
                        *swap_ptes.entry(pte & PAYLOAD).or_default() += 1;
                    }
                }
            }
        }
        let live = swap_ptes.keys().copied().chain(self.swapcache.slots()).collect::<rustc_hash::FxHashSet<_>>().len();
        let in_use = self.sys.stat().vslots_in_use;
        if in_use != live as u64 {
            return Err(format!("{in_use} slots allocated but {live} held by PTEs or the swap cache (a leak)"));
        }
        for (&slot, &n) in &swap_ptes {
            let count = match self.sys.state(VSlot::from_raw(slot)) {
                Ok(vswap::SlotState::SwappedOut { count, .. } | vswap::SlotState::Cached { count, .. }) => count,
                other => return Err(format!("slot {slot:#x} held by {n} PTEs is {other:?}")),
            };
            if count != n {
                return Err(format!("slot {slot:#x}: count {count} but {n} swap PTEs"));
            }
        }
        for slot in self.swapcache.slots() {
            let f = self.swapcache.get(slot).unwrap_or(NIL);
            if self.frames.get(f as usize).map(|fr| fr.slot) != Some(slot) {
                return Err(format!("slot {slot:#x} is indexed to frame {f}, which does not hold it"));
            }
            let want = FolioId(u64::from(f) + 1);
            match self.sys.state(VSlot::from_raw(slot)) {
                Ok(vswap::SlotState::Cached { folio, .. }) if folio == want => {}
                other => return Err(format!("slot {slot:#x} is indexed to frame {f} but the facade says {other:?}")),
            }
        }
        for (f, fr) in self.frames.iter().enumerate() {
            let live = on_lru[f];
            if fr.slot != 0 && self.swapcache.get(fr.slot) != Some(f as u32) {
                return Err(format!("frame {f} holds slot {:#x} outside the swap-cache index", fr.slot));
            }
            if !live && (fr.slot != 0 || fr.mappers != 0) {
                return Err(format!("frame {f} is free but mapped or cached"));
            }
        }
        Ok(())
    }
}
