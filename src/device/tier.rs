//! Swap tiers (`mm/swap_tier.c` of the 2026 swap-tier series, docs/kernel.md §4.5): named
//! priority ranges over the swap devices, written as batches to
//! `/sys/kernel/mm/swap/tiers`.
//!
//! Invariants:
//! * With any tier configured, the tiers cover -1 (`DEF_SWAP_PRIO`) ..= `i16::MAX`
//!   without gaps: each runs from its start to one below the next start.
//! * A swapped-on device belongs to the tier containing its priority and never changes
//!   tier: an add or remove that would move one is `TierBusy`. Devices swapped on while
//!   no tier exists have none (`DEFAULT_TIER_BIT`) until a batch creates tiers.
//! * A batch is all or nothing: the table a failed batch leaves is the one it found.
//! * A tier's index is its bit in every memcg mask while it exists; removal re-allows the
//!   bit in every memcg (the caller's job), so a tier added later in that slot starts
//!   allowed everywhere.

use crate::error::Error;

/// `TIER_DEFAULT_MASK`: the bit of a device that has no tier (none configured when it
/// was swapped on); no memcg mask ever clears it.
pub(crate) const DEFAULT_TIER_BIT: u32 = 1 << 31;
/// `MAX_TIERNAME`: names are shorter than this.
const MAX_NAME: usize = 16;

/// One command of a `/sys/kernel/mm/swap/tiers` write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SwapTierOp {
    /// `+NAME:PRIO`: a tier from `start` up to the next tier's start (splitting the tier
    /// that held `start`).
    Add {
        /// The tier's name: 1..=15 characters of `[A-Za-z0-9_]` (`MAX_TIERNAME`).
        name: String,
        /// The lowest swap priority the tier covers.
        start: i16,
    },
    /// `-NAME`: remove a tier; the tier below grows up over its range, or, when it
    /// started at -1, the tier above grows down to -1.
    Remove {
        /// The name of the tier to remove.
        name: String,
    },
}

impl SwapTierOp {
    /// Parse a write to `/sys/kernel/mm/swap/tiers`: `+NAME:PRIO` and `-NAME` tokens
    /// separated by commas, spaces, tabs or newlines. A malformed token is `Invalid`.
    pub fn parse(text: &str) -> Result<Vec<Self>, Error> {
        text.split([',', ' ', '\t', '\n'])
            .filter(|t| !t.is_empty())
            .map(|t| {
                if let Some(rest) = t.strip_prefix('+') {
                    let (name, prio) = rest.split_once(':').ok_or(Error::Invalid("swap tier add needs NAME:PRIO"))?;
                    let start = prio.parse().map_err(|_| Error::Invalid("swap tier priority is not an i16"))?;
                    Ok(Self::Add { name: name.into(), start })
                } else if let Some(name) = t.strip_prefix('-') {
                    Ok(Self::Remove { name: name.into() })
                } else {
                    Err(Error::Invalid("a swap tier command starts with + or -"))
                }
            })
            .collect()
    }
}

/// A configured tier, as a line of `/sys/kernel/mm/swap/tiers`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SwapTier {
    /// Its name, as given to `+NAME:PRIO`.
    pub name: String,
    /// Its index: the bit of its `Knob::SwapTierMax` in memcg masks.
    pub idx: u8,
    /// The lowest priority it covers.
    pub start: i16,
    /// The highest priority it covers.
    pub end: i16,
}

/// A swapped-on device as a batch sees it: its priority and its tier (None while no tier
/// existed when the batch began).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Member {
    pub priority: i16,
    pub tier: Option<u8>,
}

/// The tier table: by index, each tier's name and start.
#[derive(Debug, Clone, Default)]
pub(crate) struct TierTable {
    slots: Vec<Option<(String, i16)>>,
}

impl TierTable {
    /// A table with room for `nr` tiers (`CONFIG_NR_SWAP_TIERS`).
    pub(crate) fn new(nr: u8) -> Self {
        Self { slots: vec![None; usize::from(nr)] }
    }

    /// True when no tier is configured.
    pub(crate) fn is_empty(&self) -> bool {
        self.slots.iter().all(Option::is_none)
    }

    /// The tier covering `priority` (a priority below -1, which the kernel's swapon never
    /// gives, counts as -1).
    pub(crate) fn containing(&self, priority: i16) -> Option<u8> {
        let p = priority.max(crate::device::DEFAULT_PRIORITY);
        let live = self.slots.iter().enumerate().filter_map(|(i, s)| Some((i as u8, s.as_ref()?.1)));
        live.filter(|&(_, start)| start <= p).max_by_key(|&(_, start)| start).map(|(i, _)| i)
    }

    /// The mask bit of a device at `priority`: its tier's, or `DEFAULT_TIER_BIT`.
    pub(crate) fn bit_of(&self, priority: i16) -> u32 {
        self.containing(priority).map_or(DEFAULT_TIER_BIT, |i| 1 << i)
    }

    /// The bits of the configured tiers.
    pub(crate) fn live_bits(&self) -> u32 {
        self.slots.iter().enumerate().filter(|(_, s)| s.is_some()).fold(0, |m, (i, _)| m | 1 << i)
    }

    /// The index of the tier named `name`.
    pub(crate) fn find(&self, name: &str) -> Option<u8> {
        self.slots.iter().position(|s| s.as_ref().is_some_and(|(n, _)| n == name)).map(|i| i as u8)
    }

    /// The tiers, highest start first, each ending below the next one up.
    pub(crate) fn list(&self) -> Vec<SwapTier> {
        let mut v: Vec<SwapTier> = (self.slots.iter().enumerate())
            .filter_map(|(i, s)| s.as_ref().map(|(n, st)| (i, n, *st)))
            .map(|(i, name, start)| SwapTier { name: name.clone(), idx: i as u8, start, end: i16::MAX })
            .collect();
        v.sort_by_key(|t| std::cmp::Reverse(t.start));
        for i in 1..v.len() {
            v[i].end = v[i - 1].start - 1;
        }
        v
    }

    /// Apply a batch left to right (`swap_tiers_write`): all of it, or none of it and the
    /// first error. Returns the bits of the tiers it removed, for the memcg masks.
    pub(crate) fn apply(&mut self, ops: &[SwapTierOp], devices: &[Member]) -> Result<u32, Error> {
        let mut next = self.clone();
        let mut removed = 0;
        for op in ops {
            match op {
                SwapTierOp::Add { name, start } => next.add(name, *start, devices)?,
                SwapTierOp::Remove { name } => removed |= 1 << next.remove(name, devices)?,
            }
        }
        let lowest = next.slots.iter().flatten().map(|(_, s)| *s).min();
        if lowest.is_some_and(|s| s != crate::device::DEFAULT_PRIORITY) {
            return Err(Error::Invalid("the lowest swap tier must start at -1"));
        }
        *self = next;
        Ok(removed)
    }

    /// `swap_tier_add`, its checks in the kernel's order.
    fn add(&mut self, name: &str, start: i16, devices: &[Member]) -> Result<(), Error> {
        if self.find(name).is_some() {
            return Err(Error::TierExists);
        }
        if name.is_empty() || name.len() >= MAX_NAME || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Err(Error::Invalid("a swap tier name is 1..=15 letters, digits or _"));
        }
        if self.slots.iter().flatten().any(|(_, s)| *s == start) {
            return Err(Error::TierBusy("another swap tier starts at this priority"));
        }
        if let Some(split) = self.containing(start) {
            // The devices of the split tier at or above `start` would move to the new one.
            if devices.iter().any(|d| d.tier == Some(split) && d.priority >= start) {
                return Err(Error::TierBusy("the split would move a swapped-on device to another tier"));
            }
        }
        if start < crate::device::DEFAULT_PRIORITY {
            return Err(Error::Invalid("a swap tier starts at -1 or above"));
        }
        let slot = self.slots.iter().position(Option::is_none).ok_or(Error::TooManyTiers)?;
        self.slots[slot] = Some((name.into(), start));
        Ok(())
    }

    /// `swap_tier_remove`: returns the freed index.
    fn remove(&mut self, name: &str, devices: &[Member]) -> Result<u8, Error> {
        let idx = self.find(name).ok_or(Error::Invalid("no swap tier of this name"))?;
        if devices.iter().any(|d| d.tier == Some(idx)) {
            return Err(Error::TierBusy("a swapped-on device is in this tier"));
        }
        let start = self.slots[usize::from(idx)].take().map_or(0, |(_, s)| s);
        if start == crate::device::DEFAULT_PRIORITY {
            // The tier above grows down to -1 (removing `DEF_SWAP_PRIO` merges downwards).
            let above = self.slots.iter_mut().flatten().min_by_key(|(_, s)| *s);
            if let Some((_, s)) = above {
                *s = start;
            }
        }
        Ok(idx)
    }
}
