//! `zswap_store` (docs/kernel.md §5.2): compress every page of a folio and store it in
//! the pool, charged to the memcg, or store none.
//!
//! Invariants:
//! * All or nothing: a page that cannot be stored frees the entries the folio's earlier
//!   pages made (uncharged under their shard locks) and the store is refused, counted as
//!   the kernel counts it (`reject_*`, `pool_limit_hit`).
//! * The checks run in the kernel's order: enabled, `zswap.max` up the tree (writing
//!   some of the memcg's own entries back first, `shrink_memcg`, as many as
//!   `ZswapConfig::store_shrink_batch` walks), the pool limit with its hysteresis, then
//!   compression page by page.
//! * A page that does not compress is stored as-is (`PAGE_SIZE` bytes) only while
//!   writeback is enabled and `ZswapConfig::reject_incompressible` is off (7.2, 7.3);
//!   otherwise it is refused (6.12).
//! * A stored entry becomes visible in two steps the facade and [`Zswap::publish`] make in
//!   this order: its backend word, then its LRU element (`zswap_lru_add`), so an LRU walk
//!   never meets an entry no slot names.

use super::pool::Entry;
use super::{CompressError, SwapLayer, Zswap, synthetic, verdict};
use crate::PAGE_SIZE;
use crate::ids::Page;
use crate::memcg::{Memcg, Stat};
use crossbeam_epoch::Guard;

/// The (handle, LRU sequence) pairs a store has made so far, in page order: the first
/// inline and any others on the heap, so an order-0 store allocates nothing.
#[derive(Default)]
pub(crate) struct Stored {
    first: Option<(u32, u64)>,
    rest: Vec<(u32, u64)>,
}

impl Stored {
    fn push(&mut self, h: u32, seq: u64) {
        if self.first.is_none() {
            self.first = Some((h, seq));
        } else {
            self.rest.push((h, seq));
        }
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (u32, u64)> + '_ {
        self.first.iter().chain(&self.rest).copied()
    }
}

/// How a store was refused (`zswap_store` returning false).
pub(crate) enum Refused {
    /// zswap is disabled.
    Disabled,
    /// Over `zswap.max` or over the pool limit: no counter.
    Limit,
    /// Compression gave nothing worth storing and writeback may not take it as-is.
    Compress,
}

impl<W: SwapLayer> Zswap<'_, W> {
    /// `zswap_store` for the folio of `2^order` pages whose head is virtual slot `vhead`
    /// (in cluster `cluster`, whose index picks the stripes and the pool shard): every
    /// page or none. The entries made and the folio's compressed bytes, or why it was
    /// refused. `tier` is the memcg's compression priority, read with `writeback`
    /// (`Memcgs::store_policy`). The caller publishes the entries: backend words, then
    /// [`Zswap::publish`].
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn store(
        &self,
        cluster: u64,
        vhead: u64,
        order: u32,
        page: Page<'_>,
        (m, tier): (&Memcg, u8),
        writeback: bool,
        g: &Guard,
    ) -> Result<(Stored, u32), Refused> {
        if !self.cfg.zswap.enabled {
            return Err(Refused::Disabled);
        }
        // Over `zswap.max` somewhere up the tree: walk `store_shrink_batch` of the
        // memcg's own entries (`shrink_memcg`: 1 up to 7.2, 32 in 7.3) and store anyway if
        // one was written back, else refuse.
        if !self.memcgs.may_zswap(m, g) && self.shrink_for_store(m, g) == 0 {
            return Err(Refused::Limit);
        }
        if self.pool.check_limits(|| self.stats.add(Stat::PoolLimitHit, 1, cluster as usize)) {
            return Err(Refused::Limit);
        }
        let nr = 1usize << order;
        // A page that does not compress is stored as-is only while writeback may take it
        // later, and never under `reject_incompressible` (6.12).
        let as_is = writeback && !self.cfg.zswap.reject_incompressible;
        // (handle, LRU sequence) of each stored page: an order-0 folio's stays in `Stored`
        // without a heap allocation.
        let mut stored = Stored::default();
        let mut total = 0u32;
        for i in 0..nr {
            let (length, data) = match page {
                Page::Bytes(b) => {
                    let src = &b[i * PAGE_SIZE..(i + 1) * PAGE_SIZE];
                    // Only real bytes need the destination (zeroing it is a quarter of a
                    // synthetic store's time).
                    let mut buf = [0u8; super::DST_LEN];
                    match verdict(self.priorities.compress(tier, src, &mut buf), as_is) {
                        Ok(PAGE_SIZE) => (PAGE_SIZE, Some(Box::<[u8]>::from(src))),
                        Ok(n) => (n, Some(Box::<[u8]>::from(&buf[..n]))),
                        Err(e) => return Err(self.refuse(e, &stored, g, cluster as usize)),
                    }
                }
                Page::Synthetic { compressed_len, .. } => {
                    match verdict(synthetic(self.priorities.synthetic_len(tier, compressed_len)), as_is) {
                        Ok(n) => (n, None),
                        Err(e) => return Err(self.refuse(e, &stored, g, cluster as usize)),
                    }
                }
            };
            let e = Entry {
                slot: vhead + i as u64,
                data,
                length: length as u32,
                memcg: m.id,
                tier,
                stored: self.now(),
                referenced: true,
                seq: 0,
            };
            let incomp = length == PAGE_SIZE;
            let charge = |stripe| self.memcgs.charge_zswap(m, length as u64, incomp, tier, g, stripe);
            let Some((h, seq)) = self.pool.insert(e, cluster as usize, charge) else {
                self.stats.add(Stat::RejectAllocFail, 1, cluster as usize);
                self.drop_entries(&stored, g);
                return Err(Refused::Limit);
            };
            stored.push(h, seq);
            total += length as u32;
        }
        Ok((stored, total))
    }

    /// The second step of publishing a store, after the backend words: the entries go on
    /// `m`'s LRU (`zswap_lru_add`) and `zswpout` counts the folio's pages.
    pub(crate) fn publish(&self, m: &Memcg, stored: &Stored, order: u32, cluster: u64, g: &Guard) {
        let protection = self.cfg.zswap.lru == crate::LruPolicy::Protection;
        if let Some((_, mut l)) = self.memcgs.lru_of(m.id, g) {
            for (h, seq) in stored.iter() {
                l.add(h, seq, protection);
            }
        }
        self.event(Some(m), Stat::Zswpout, 1u64 << order, cluster as usize);
    }

    fn refuse(&self, e: CompressError, handles: &Stored, g: &Guard, stripe: usize) -> Refused {
        let counter = match e {
            CompressError::NoSpace => Stat::RejectCompressPoor,
            CompressError::Failed => Stat::RejectCompressFail,
        };
        self.stats.add(counter, 1, stripe);
        self.drop_entries(handles, g);
        Refused::Compress
    }

    fn drop_entries(&self, handles: &Stored, g: &Guard) {
        for (h, _) in handles.iter() {
            super::free_entry(self.pool, self.memcgs, h, g);
        }
    }
}
