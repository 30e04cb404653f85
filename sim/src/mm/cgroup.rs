//! The memory manager's cgroup files: creating memcgs, their limits and knobs, and what
//! a report reads back from them.

use super::*;

impl Mm {
    /// `mkdir` a memcg under `parent`.
    pub fn memcg_create(&mut self, parent: Cg, name: &str) -> Result<Cg, Error> {
        let pid = self.memcgs.get(parent).ok_or(Error::InvalidMemcg)?.id;
        let id = self.sys.memcg_create(pid)?;
        let cg = self.memcgs.len();
        self.memcgs.push(Memcg::new(id, name.into(), Some(parent)));
        self.memcgs[cg].subtree.push(cg);
        self.by_id.insert(id, cg);
        let mut up = Some(parent);
        while let Some(a) = up {
            self.memcgs[a].subtree.push(cg);
            up = self.memcgs[a].parent;
        }
        Ok(cg)
    }

    /// `/proc/sys/vm/swappiness` (default 60): anon's share of the reclaim pressure
    /// (`get_scan_count`). 0 (reclaim no anon) is refused: the memory manager has no file
    /// pages to reclaim instead; so is anything above 200.
    pub fn set_swappiness(&mut self, swappiness: u32) -> Result<(), Error> {
        if !(1..=200).contains(&swappiness) {
            return Err(Error::Invalid("swappiness must be 1..=200"));
        }
        self.swappiness = swappiness;
        Ok(())
    }

    /// `memory.max` in bytes (None: `max`).
    pub fn set_memory_max(&mut self, cg: Cg, max: Option<u64>) -> Result<(), Error> {
        self.memcgs.get_mut(cg).ok_or(Error::InvalidMemcg)?.max = max;
        Ok(())
    }

    /// `memory.high` in bytes (None: `max`).
    pub fn set_memory_high(&mut self, cg: Cg, high: Option<u64>) -> Result<(), Error> {
        self.memcgs.get_mut(cg).ok_or(Error::InvalidMemcg)?.high = high;
        Ok(())
    }

    /// Write a memcg knob of the facade ([`SwapSystem::memcg_set`]), remembering
    /// `memory.swap.max` and `memory.swap.high` for `mem_cgroup_swap_full`.
    pub fn memcg_set(&mut self, cg: Cg, knob: Knob) -> Result<(), Error> {
        let id = self.memcg(cg)?.id;
        self.sys.memcg_set(id, knob)?;
        let pages = |l: Limit| match l {
            Limit::Bytes(b) => Some(b / PAGE),
            Limit::Max => None,
        };
        match knob {
            Knob::SwapMax(l) => self.memcgs[cg].swap_max = pages(l),
            Knob::SwapHigh(l) => self.memcgs[cg].swap_high = pages(l),
            _ => {}
        }
        Ok(())
    }

    pub(super) fn memcg(&self, cg: Cg) -> Result<&Memcg, Error> {
        self.memcgs.get(cg).ok_or(Error::InvalidMemcg)
    }

    /// The facade's id of a memcg; `InvalidMemcg` for an index this Mm did not give out.
    pub fn memcg_id(&self, cg: Cg) -> Result<MemcgId, Error> {
        Ok(self.memcg(cg)?.id)
    }

    /// The name given at creation; `InvalidMemcg` as for [`Mm::memcg_id`].
    pub fn memcg_name(&self, cg: Cg) -> Result<&str, Error> {
        Ok(&self.memcg(cg)?.name)
    }

    /// The memcgs, root first.
    pub fn memcgs(&self) -> impl Iterator<Item = Cg> {
        0..self.memcgs.len()
    }

    /// The memory manager's counters of `cg` (its own, not its subtree's).
    pub fn counters(&self, cg: Cg) -> Result<&CgCounters, Error> {
        Ok(&self.memcg(cg)?.counters)
    }

    /// Frames charged to `cg` and below.
    pub fn resident_pages(&self, cg: Cg) -> Result<u64, Error> {
        Ok(self.memcg(cg)?.resident_tree)
    }

    /// `memory.current`: resident frames and compressed zswap bytes of the subtree.
    pub fn memory_current(&self, cg: Cg) -> Result<u64, Error> {
        Ok(self.memcg(cg)?.current())
    }

    /// The slots `cg`'s tasks hold in swap PTEs, each once, in address order.
    pub fn swapped_slots(&self, cg: Cg) -> Vec<VSlot> {
        let mut v: Vec<u64> = (self.tasks.iter().filter(|t| t.cg == cg))
            .flat_map(|t| t.ptes.iter().flatten())
            .filter(|&&pte| pte & SWAP != 0)
            .map(|&pte| pte & PAYLOAD)
            .collect();
        v.sort_unstable();
        v.dedup();
        v.into_iter().map(VSlot::from_raw).collect()
    }
}
