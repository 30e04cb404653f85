//! Charging beyond the frame itself: the lab kernels' swap usage, the end of
//! `try_charge_memcg` (the charge stock and `memory.swap.events` `high`), and the folios
//! zswap writeback charges until reclaim frees them.

use super::*;

impl Mm {
    /// `memory.swap.current` of `a` in pages as the lab kernels count it: its device
    /// slots and its zswapped pages (a zswap entry holds a slot there).
    pub(super) fn swap_usage(&self, a: Cg) -> Result<u64, Error> {
        let s = self.sys.memcg_stat(self.memcgs[a].id)?;
        Ok(s.swap_current / PAGE + s.zswapped.div_ceil(PAGE))
    }

    /// The end of `try_charge_memcg` for the page just charged to `cg`, as far as
    /// `memory.swap.events` `high` goes: `consume_stock` takes a page charged ahead;
    /// otherwise the charge was a batch of `MEMCG_CHARGE_BATCH` pages (the rest going to
    /// the stock) or, when a batch does not fit under some `memory.max`, the one page, and
    /// `done_restock` tests every level up to the root for `memory.current` above
    /// `memory.high` or swap usage (lab-kernel counting, as [`Mm::swap_charge_refused`])
    /// above `memory.swap.high`. If one is, the task's return to user space runs
    /// `mem_cgroup_handle_over_high`: each round raises `high` at every non-root level of
    /// `cg`'s ancestry whose swap usage is above its `swap.high` (`swap_find_max_overage`),
    /// and rounds repeat while the throttling penalty (`calculate_high_delay` of the
    /// memory and swap overages, scaled by the pages charged) exceeds `HZ / 100`: 1 +
    /// `MAX_RECLAIM_RETRIES` rounds, the handler's reclaim (`reclaim_high`) freeing
    /// nothing here as the simulator reclaims down to `memory.high` at the charge. The
    /// penalty's sleep is not modelled (no clock); the stock is not counted in
    /// `memory.current`.
    pub(super) fn charge_done(&mut self, cg: Cg) -> Result<(), Error> {
        if self.memcgs[cg].stock > 0 {
            self.memcgs[cg].stock -= 1;
            return Ok(());
        }
        let ancestry: Vec<Cg> = std::iter::successors(Some(cg), |&a| self.memcgs[a].parent).collect();
        let batch = MEMCG_CHARGE_BATCH;
        let fits = ancestry
            .iter()
            .all(|&a| self.memcgs[a].max.is_none_or(|max| self.memcgs[a].current() + batch * PAGE <= max));
        let nr_pages = if fits { batch } else { 1 };
        self.memcgs[cg].stock = nr_pages - 1;
        // done_restock: any level over memory.high or swap.high schedules the handler.
        let (mut mem_overage, mut swap_over) = (0u64, Vec::new());
        for &a in &ancestry {
            let m = &self.memcgs[a];
            if let Some(high) = m.high {
                mem_overage = mem_overage.max(overage(m.current().div_ceil(PAGE), high / PAGE));
            }
            if let Some(high) = m.swap_high {
                let usage = self.swap_usage(a)?;
                if usage > high && a != Self::ROOT {
                    swap_over.push((a, overage(usage, high)));
                }
            }
        }
        if mem_overage == 0 && swap_over.is_empty() {
            return Ok(());
        }
        let swap_overage = swap_over.iter().map(|&(_, o)| o).max().unwrap_or(0);
        let penalty = (high_delay(nr_pages, mem_overage) + high_delay(nr_pages, swap_overage)).min(2 * HZ);
        let rounds = if penalty <= HZ / 100 { 1 } else { 1 + u64::from(MAX_RECLAIM_RETRIES) };
        for (a, _) in swap_over {
            self.memcgs[a].counters.swap_high += rounds;
        }
        Ok(())
    }

    /// `zswap_writeback_entry` allocates a folio for each entry it writes back
    /// (`swap_cache_alloc_folio`, charged to the entry's memcg, forced as reclaim's
    /// `PF_MEMALLOC` charges are), writes it and marks it `PG_reclaim`: once the write
    /// completes, `folio_rotate_reclaimable` puts it at the inactive list's tail, and the
    /// next reclaim frees it without I/O. So writeback trades a compressed entry for a
    /// whole page until then. `n` such folios of `cg`: charged to `cg`, counted as
    /// resident, freed first by its next LRU scan ([`Mm::shrink_lruvec_to`]). They hold
    /// no data here: a fault on the page in that window reads the device where the
    /// kernel would find the folio in the swap cache.
    pub(super) fn writeback_folios(&mut self, cg: Cg, n: u64, add: bool) {
        let m = &mut self.memcgs[cg];
        m.wb_folios = if add { m.wb_folios + n } else { m.wb_folios - n };
        if add {
            m.wb_in_flight += n;
        }
        m.resident = if add { m.resident + n } else { m.resident - n };
        let mut up = Some(cg);
        while let Some(a) = up {
            let t = &mut self.memcgs[a].resident_tree;
            *t = if add { *t + n } else { *t - n };
            up = self.memcgs[a].parent;
        }
    }
}

/// `calculate_overage`: how far `usage` is above `high`, in 2^-20 units of `high` (a
/// threshold of 0 counts as 1).
fn overage(usage: u64, high: u64) -> u64 {
    if usage <= high {
        return 0;
    }
    let high = high.max(1);
    u64::try_from((u128::from(usage - high) << 20) / u128::from(high)).unwrap_or(u64::MAX)
}

/// `calculate_high_delay`: the throttling penalty in jiffies for an overage, scaled by the
/// pages charged against `MEMCG_CHARGE_BATCH`.
fn high_delay(nr_pages: u64, max_overage: u64) -> u64 {
    let p = (u128::from(max_overage) * u128::from(max_overage) * u128::from(HZ)) >> 34;
    u64::try_from(p * u128::from(nr_pages) / u128::from(MEMCG_CHARGE_BATCH)).unwrap_or(u64::MAX)
}
