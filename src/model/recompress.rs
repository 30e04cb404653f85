//! The model of `recompress` (issue 6 part 4; zram's `recompress`, per memcg subtree).
//!
//! Each memcg keeps its entries in store order (the idle-age index, `Cg::idle`), merged by
//! store tick into the nearest online ancestor's at offline (the offlined memcg's first
//! on a tie). `recompress` visits the subtree breadth first, siblings in creation order
//! (the system's `subtree`), skipping offline memcgs; in each it pops entries off the
//! front of the index, stopping at the first live one younger than `min_age`. Every
//! live entry popped is examined; one of a lower-priority tier and longer than the
//! threshold is attempted: compressed again with the target tier (its bytes, or its
//! synthetic size scaled by the two tiers' ratios, rounded up), and the new copy kept only
//! when it is not empty and smaller. The walk ends once `max_pages` entries were
//! attempted.
//!
//! Invariants: an entry is examined at most once (popped off the index), a kept copy is
//! strictly smaller and of the target tier, and the counters (`recompress_attempted`,
//! `recompressed_pages`, `recompress_saved_bytes`) grow by exactly what the report says.

use super::{Back, Model, PAGE, reclaim::alive};
use crate::op::Outcome;
use crate::{Error, MemcgId, RecompressReport, RecompressSpec};
use std::collections::VecDeque;

impl Model {
    /// What `SwapSystem::recompress` returns, with the entries it changes changed.
    pub(super) fn recompress(&mut self, cg: MemcgId, spec: RecompressSpec) -> Result<Outcome, Error> {
        self.online(cg)?;
        if spec.max_pages == 0 {
            return Err(Error::Invalid("recompress needs max_pages above 0"));
        }
        if u64::from(spec.threshold) >= PAGE {
            return Err(Error::Invalid("recompress threshold must be below a page"));
        }
        if self.tier(spec.priority).is_none() {
            return Err(Error::Invalid("no compressor registered at this priority"));
        }
        if spec.min_age > self.tick {
            return Err(Error::Invalid("age threshold before time 0"));
        }
        let mut r = RecompressReport::default();
        let mut queue = VecDeque::from([cg.raw()]);
        while let Some(id) = queue.pop_front() {
            queue.extend(self.children(id));
            if self.memcgs[&id].online {
                self.recompress_memcg(id, &spec, &mut r);
            }
            if r.attempted == spec.max_pages {
                break;
            }
        }
        let g = &mut self.global.recompress;
        g[0] += r.attempted;
        g[1] += r.recompressed;
        g[2] += r.saved_bytes;
        Ok(Outcome::Recompressed(r))
    }

    /// Pop `id`'s idle entries until one is too young, the index is empty or the budget
    /// is spent.
    fn recompress_memcg(&mut self, id: u16, spec: &RecompressSpec, r: &mut RecompressReport) {
        while r.attempted < spec.max_pages {
            let Some(&e) = self.memcgs[&id].idle.front() else { return };
            if alive(&self.slots, &e) && self.tick.saturating_sub(e.stored) < spec.min_age {
                return;
            }
            self.memcgs.get_mut(&id).expect("visited").idle.pop_front();
            if !alive(&self.slots, &e) {
                continue;
            }
            r.examined += 1;
            let Back::Zswap { len, tier, page, .. } = self.slots[&e.slot].back else { continue };
            if tier >= spec.priority || len <= spec.threshold {
                continue;
            }
            r.attempted += 1;
            let new = match page {
                Some((kind, i)) => self.compressed_len(spec.priority, Some(&kind.page(i)), 0),
                None if u64::from(len) == PAGE => continue,
                None => {
                    let permille = |p| self.tier(p).map_or(1000, |t| u64::from(t.synthetic_permille));
                    (u64::from(len) * permille(spec.priority)).div_ceil(permille(tier))
                }
            };
            if new == 0 || new >= u64::from(len) {
                continue;
            }
            if let Back::Zswap { len: l, tier: t, .. } = &mut self.slot_mut(e.slot).back {
                (*l, *t) = (new as u32, spec.priority);
            }
            r.recompressed += 1;
            r.saved_bytes += u64::from(len) - new;
        }
    }
}
