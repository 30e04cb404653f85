//! The typed divergence: what [`Harness`](super::Harness) (and [`Model::apply_in`](super::Model::apply_in)) report
//! when the system and the model disagree: at which step, on which operation, which
//! observation (the step's result, a choice only the system makes, or a field of the state
//! compared after the step), and the system's and the model's values.
//!
//! Invariants: `Display` writes the text the harness reported before the type existed
//! (`{op:?}: …` for the step's result or choice, `after {op:?}: …` for the state compared
//! after it, the bare comparison for a [`Harness::check`](super::Harness::check) called
//! on its own); the values are rendered with `Debug` (plain numbers with `Display`), so a
//! divergence is comparable, clonable and holds no reference to either side.

use crate::op::Op;
use crate::{DeviceId, MemcgId, VSlot};
use std::fmt;

/// Which observation of the system disagreed with the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Observation {
    /// The step's result: the outcome or the error the operation returned.
    Result,
    /// A choice only the system makes and the model checks against the allowed ones
    /// (which slot an allocation took, which device a physical slot came from, where
    /// swapoff moved a page, whether pages landed contiguously, what a counter says about
    /// a path the model cannot tell): the system's is not allowed. [`Divergence::model`]
    /// says why, [`Divergence::system`] is the step's result.
    Choice,
    /// A slot's state (`SwapSystem::state`).
    SlotState(VSlot),
    /// The memcg recorded for a slot (`SwapSystem::memcg_of`, the `swap_cgroup` map).
    SlotMemcg(VSlot),
    /// Where a slot's data lives (`SwapSystem::backing`).
    SlotBacking(VSlot),
    /// A field of an online memcg's `MemcgStat` (`memory.stat`, `memory.swap.*`,
    /// `memory.zswap.*`), by its field name.
    MemcgStat {
        /// The memcg.
        memcg: MemcgId,
        /// The `MemcgStat` field.
        field: &'static str,
    },
    /// A memcg's zswap charge at one compression priority (`MemcgStat::zswap_priorities`).
    MemcgCompressionPriority {
        /// The memcg.
        memcg: MemcgId,
        /// The compression priority (1..=4).
        priority: u8,
    },
    /// A memcg's swap charge by swap tier (`MemcgStat::swap_tiers`).
    MemcgSwapTierCharge(MemcgId),
    /// `memcg_stat` of a memcg the model has offline did not fail with `MemcgOffline`.
    MemcgOffline(MemcgId),
    /// `memcg_stat` of a memcg the model has online failed.
    MemcgStatFailed(MemcgId),
    /// `memcg_stat` of a memcg the model removed did not fail with `InvalidMemcg`.
    MemcgRemoved(MemcgId),
    /// A memcg's own `memory.swap.tiers.max` (an error on the root).
    SwapTierMax(MemcgId),
    /// The swap tiers a memcg may use (its own bits and every ancestor's).
    UsableSwapTiers(MemcgId),
    /// A memcg's zswap LRU, live entries oldest first.
    ZswapLru(MemcgId),
    /// A memcg's shrink-walk cursor (`mem_cgroup_iter` position).
    ShrinkCursor(MemcgId),
    /// Whether the global shrink worker is queued.
    ShrinkWorkerPending,
    /// A global counter of `GlobalStat`, by its field name.
    Stat(&'static str),
    /// The swap tiers as `/sys/kernel/mm/swap/tiers` lists them.
    SwapTiers,
    /// `device_stat` of a device the model has not swapped on did not fail with
    /// `InvalidDevice`.
    DeviceOff(DeviceId),
    /// `device_stat` of a device the model has on failed.
    DeviceStatFailed(DeviceId),
    /// A device's (pages, priority, used), its header slot counted as used.
    Device(DeviceId),
    /// The swap tier a device belongs to.
    DeviceSwapTier(DeviceId),
    /// After `Op::DrainCpuCaches`, the live clusters (system) against the clusters that
    /// hold an allocated slot (model).
    ClustersLive,
}

/// A divergence between the system and the model: the error of [`Harness::step`],
/// [`Harness::check`] and [`Model::apply_in`].
///
/// [`Harness::step`]: super::Harness::step
/// [`Model::apply_in`]: super::Model::apply_in
/// [`Harness::check`]: super::Harness::check
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Divergence {
    /// The index of the step that diverged: how many steps the harness had run before it
    /// (0 for the first). For a [`Harness::check`](super::Harness::check) called on its
    /// own, the steps run so far; from `Model::apply_in` alone, 0.
    pub step: u64,
    /// The operation of that step; None for a `Harness::check` called on its own.
    pub op: Option<Op>,
    /// What diverged.
    pub observation: Observation,
    /// The system's value, as `Debug` writes it (plain numbers as `Display` does).
    pub system: String,
    /// The model's value likewise; for [`Observation::Choice`], why the system's choice
    /// is not one the model allows.
    pub model: String,
}

impl Divergence {
    /// A divergence in `observation` at no step yet (`step` 0, no operation): the harness
    /// places it.
    pub(super) fn new(observation: Observation, system: impl Into<String>, model: impl Into<String>) -> Self {
        Self { step: 0, op: None, observation, system: system.into(), model: model.into() }
    }

    /// `Debug` of both values.
    pub(super) fn debug(observation: Observation, system: impl fmt::Debug, model: impl fmt::Debug) -> Self {
        Self::new(observation, format!("{system:?}"), format!("{model:?}"))
    }

    /// Placed at `step`, on `op`.
    pub(super) fn at(self, step: u64, op: &Op) -> Self {
        Self { step, op: Some(*op), ..self }
    }

    /// Whether it was found in the step's own result (or choice) rather than in the state
    /// compared after it.
    pub fn in_result(&self) -> bool {
        matches!(self.observation, Observation::Result | Observation::Choice)
    }
}

impl fmt::Display for Divergence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use Observation as O;
        let (sys, model) = (&self.system, &self.model);
        match (&self.op, self.observation) {
            (_, O::ClustersLive) => {}
            (Some(op), O::Result | O::Choice) => write!(f, "{op:?}: ")?,
            (Some(op), _) => write!(f, "after {op:?}: ")?,
            (None, _) => {}
        }
        match self.observation {
            O::Result => write!(f, "system returned {sys}, model expects {model}"),
            O::Choice => write!(f, "{model}"),
            O::SlotState(s) => write!(f, "slot {}: system {sys}, model {model}", s.raw()),
            O::SlotMemcg(s) => write!(f, "slot {}: memcg {sys}, model {model}", s.raw()),
            O::SlotBacking(s) => write!(f, "slot {}: backing {sys}, model {model}", s.raw()),
            O::MemcgStat { memcg, field } => write!(f, "memcg {}: {field} {sys}, model {model}", memcg.raw()),
            O::MemcgCompressionPriority { memcg, priority } => {
                write!(f, "memcg {}: compression priority {priority}: {sys}, model {model}", memcg.raw())
            }
            O::MemcgSwapTierCharge(m) => write!(f, "memcg {}: swap tiers {sys}, model {model}", m.raw()),
            O::MemcgOffline(m) => write!(f, "memcg {} is offline, memcg_stat returned {sys}", m.raw()),
            O::MemcgStatFailed(m) => write!(f, "memcg {}: memcg_stat failed: {sys}", m.raw()),
            O::MemcgRemoved(m) => write!(f, "memcg {} was removed, memcg_stat returned {sys}", m.raw()),
            O::SwapTierMax(m) => {
                write!(f, "memcg {}: memory.swap.tiers.max {sys}, model own bits {model}", m.raw())
            }
            O::UsableSwapTiers(m) => write!(f, "memcg {}: usable swap tiers {sys}, model {model}", m.raw()),
            O::ZswapLru(m) => write!(f, "memcg {}: zswap LRU {sys}, model {model}", m.raw()),
            O::ShrinkCursor(m) => write!(f, "memcg {}: shrink cursor {sys}, model {model}", m.raw()),
            O::ShrinkWorkerPending => write!(f, "shrink worker pending {sys}, model {model}"),
            O::Stat(name) => write!(f, "stat: {name} {sys}, model {model}"),
            O::SwapTiers => write!(f, "swap tiers {sys}, model {model}"),
            O::DeviceOff(d) => write!(f, "device {} is not on, device_stat returned {sys}", d.raw()),
            O::DeviceStatFailed(d) => write!(f, "device {}: device_stat failed: {sys}", d.raw()),
            O::Device(d) => write!(f, "device {}: (pages, priority, used) {sys}, model {model}", d.raw()),
            O::DeviceSwapTier(d) => write!(f, "device {}: swap tier {sys}, model {model}", d.raw()),
            O::ClustersLive => write!(f, "after a drain {sys} clusters live, {model} hold slots"),
        }
    }
}

impl std::error::Error for Divergence {}

/// Code written when the harness reported a `String` (`h.step(&op)?` in a function that
/// returns `Result<_, String>`) keeps compiling: the divergence converts to its text.
impl From<Divergence> for String {
    fn from(d: Divergence) -> Self {
        d.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::op::SlotRef;

    /// The text is the one the harness wrote when it reported a `String`.
    #[test]
    fn display_keeps_the_old_text() {
        let op = Op::Dup(SlotRef::Live(3));
        let d = Divergence::debug(Observation::Result, Ok::<u32, ()>(1), Ok::<u32, ()>(2)).at(7, &op);
        assert_eq!(d.to_string(), format!("{op:?}: system returned Ok(1), model expects Ok(2)"));
        assert!(d.in_result());
        let d = Divergence::new(Observation::Stat("pswpout"), "3", "4");
        assert_eq!(d.to_string(), "stat: pswpout 3, model 4");
        let d = d.at(2, &op);
        assert_eq!(d.to_string(), format!("after {op:?}: stat: pswpout 3, model 4"));
        assert!(!d.in_result());
        assert_eq!((d.step, d.op), (2, Some(op)));
        let d = Divergence::new(Observation::ClustersLive, "2", "1").at(0, &Op::DrainCpuCaches);
        assert_eq!(d.to_string(), "after a drain 2 clusters live, 1 hold slots");
        let text = d.to_string();
        let e: Box<dyn std::error::Error> = Box::new(d.clone());
        assert!(e.source().is_none());
        let as_string = || -> Result<(), String> { Err(d)? };
        assert_eq!(as_string(), Err(text), "`?` into a String gives the text");
    }
}
