//! Kernel profiles: where the lab's kernels behave differently from each other or from
//! the crate's defaults on purpose, the library switch that gives each kernel's
//! behaviour (kernel-lab/experiments/README.md, "Kernel profiles"; docs/kernel.md §5.2).
//! `vswap-sim run FILE --kernel K` and `vswap-sim compare` simulate each recorded kernel
//! with its own profile, so like is compared with like.
//!
//! | switch | mainline (the crate's default) | 7.3 | 6.12 |
//! |---|---|---|---|
//! | [`ZswapConfig::reject_incompressible`] | false: stored as-is | false | true: rejected |
//! | [`ZswapConfig::store_shrink_batch`] | 1 | 32 (`SWAP_CLUSTER_MAX`) | 1 |
//!
//! Invariants: a kernel without a profile is simulated as mainline, and the result says
//! so in its notes; two profiles that differ only in switches an experiment cannot
//! exercise ([`KernelProfile::simulates_alike`]) give the same simulation of it, so
//! `compare` runs it once for both.

use super::format::{Experiment, Size};
use crate::workload::{Data, zero_prefix};
use vswap::{PAGE_SIZE, ZswapConfig};

/// The library switches a simulation of one kernel sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KernelProfile {
    /// The kernel version it stands for (`7.3`, `6.12`), or `mainline` for the crate's
    /// defaults.
    pub name: &'static str,
    /// [`ZswapConfig::reject_incompressible`]: 6.12's `zswap_compress` rejects a page that
    /// does not compress (`reject_compress_fail`, the page goes to the swap device); 7.2 and
    /// 7.3 store it as-is (`stored_incompressible_pages`, charged a whole page).
    pub reject_incompressible: bool,
    /// [`ZswapConfig::store_shrink_batch`]: the entries `zswap_store` walks on the memcg's
    /// own LRU over `memory.zswap.max` (`shrink_memcg`): 1 in 6.12 to 7.2,
    /// `SWAP_CLUSTER_MAX` (32) in 7.3.
    pub store_shrink_batch: u8,
}

impl KernelProfile {
    /// The crate's defaults ([`ZswapConfig::default`]: 7.2's behaviour), for a kernel
    /// without a profile.
    pub fn mainline() -> Self {
        let z = ZswapConfig::default();
        KernelProfile {
            name: "mainline",
            reject_incompressible: z.reject_incompressible,
            store_shrink_batch: z.store_shrink_batch,
        }
    }

    /// 7.3 (7.3.4 in the lab): incompressible pages stored as-is (zswap.c:zswap_compress);
    /// a store over `memory.zswap.max` walks `SWAP_CLUSTER_MAX` entries
    /// (zswap.c:shrink_memcg).
    pub fn v7_3() -> Self {
        KernelProfile { name: "7.3", reject_incompressible: false, store_shrink_batch: 32 }
    }

    /// 6.12 (6.12.118 in the lab): incompressible pages rejected (zswap.c:zswap_compress
    /// has no as-is case); a store over `memory.zswap.max` walks one entry
    /// (zswap.c:shrink_memcg, `nr_to_walk = 1`).
    pub fn v6_12() -> Self {
        KernelProfile { name: "6.12", reject_incompressible: true, store_shrink_batch: 1 }
    }

    /// The kernels that have a profile.
    pub fn kernels() -> [KernelProfile; 2] {
        [Self::v7_3(), Self::v6_12()]
    }

    /// The profile of `kernel` as an experiment or a recording names it: the one whose
    /// version is `kernel` or begins it, followed by `.`, `-` or `+` (`7.3`, `7.3.4`,
    /// `7.3.4+deb13-amd64`); None when no profile does (`7.30`, `6.1`, `7`).
    pub fn of(kernel: &str) -> Option<KernelProfile> {
        Self::kernels().into_iter().find(|p| {
            kernel.strip_prefix(p.name).is_some_and(|rest| rest.is_empty() || rest.starts_with(['.', '-', '+']))
        })
    }

    /// The profile to simulate `kernel` with, and a note when it has none (mainline is
    /// simulated then).
    pub fn for_kernel(kernel: &str) -> (KernelProfile, Option<String>) {
        match Self::of(kernel) {
            Some(p) => (p, None),
            None => {
                let known: Vec<&str> = Self::kernels().iter().map(|p| p.name).collect();
                let note = format!(
                    "kernel {kernel:?} has no kernel profile (profiles: {}): simulated as mainline, the crate's \
                     defaults",
                    known.join(", ")
                );
                (Self::mainline(), Some(note))
            }
        }
    }

    /// Set the profile's switches in `z`.
    pub fn apply(&self, z: &mut ZswapConfig) {
        z.reject_incompressible = self.reject_incompressible;
        z.store_shrink_batch = self.store_shrink_batch;
    }

    /// The profile and its switches in words, for the `run` summary.
    pub fn describe(&self) -> String {
        let incomp = if self.reject_incompressible {
            "incompressible pages rejected"
        } else {
            "incompressible pages stored as-is"
        };
        let n = self.store_shrink_batch;
        let entries = if n == 1 { "entry" } else { "entries" };
        format!("{}: {incomp}, a store over memory.zswap.max walks {n} LRU {entries}", self.name)
    }

    /// Whether `self` and `other` simulate run 0 of `exp` (its file's seeds) alike:
    /// every switch on which they differ cannot act in it. `reject_incompressible` acts
    /// only when zswap is on and a task's pages may not compress
    /// ([`may_meet_incompressible`]); `store_shrink_batch` only when some cgroup's
    /// `memory.zswap.max` lets pages in and can be reached ([`may_shrink_at_zswap_max`]).
    /// The names do not count.
    pub fn simulates_alike(&self, other: &KernelProfile, exp: &Experiment) -> bool {
        let zswap = exp.zswap.enabled.unwrap_or(false);
        let incomp =
            self.reject_incompressible == other.reject_incompressible || !zswap || !may_meet_incompressible(exp);
        let batch = self.store_shrink_batch == other.store_shrink_batch || !zswap || !may_shrink_at_zswap_max(exp);
        incomp && batch
    }
}

/// Whether a store can find a memcg over `memory.zswap.max` with entries on its LRU, so
/// that `shrink_memcg` walks: some cgroup's limit is at least a page (a limit of 0 pages,
/// set before any task runs, refuses every store of its subtree, which then has no
/// entries), or an action writes `memory.zswap.max`.
pub fn may_shrink_at_zswap_max(exp: &Experiment) -> bool {
    let page = PAGE_SIZE as u64;
    exp.cgroups.iter().any(|c| matches!(c.zswap_max, Some(Size::Bytes(b)) if b >= page))
        || exp.actions.iter().any(|a| a.file == "memory.zswap.max")
}

/// Whether a task of `exp` may write a page that does not compress (lz4 gives a page or
/// more: [`crate::workload::Workload::page_data`]'s `compressed_len` is `PAGE_SIZE`),
/// which zswap stores as-is or rejects by `reject_incompressible`. By region kind:
/// `zero` never; `incompressible` and `random` always; `ratio:R` when its largest jitter
/// (125 %) reaches a page; `zero-fraction:F` with at least 512 zero bytes never (lz4
/// codes the zero run in a few bytes and the rest, 3,584 random bytes at most, in under
/// 3,700), with fewer always; `text` never (lines of words from a short list: lz4 keeps
/// about 60 %, far from a page; the module's tests check both bounds on samples).
/// Conservative: a wrong "may" costs only a second simulation.
pub fn may_meet_incompressible(exp: &Experiment) -> bool {
    (0..exp.tasks.len())
        .filter_map(|t| exp.task_workload(t))
        .any(|w| w.regions.iter().any(|r| data_may_not_compress(r.data)))
}

/// Whether a region of `data` may hold a page lz4 does not compress (see
/// [`may_meet_incompressible`]).
fn data_may_not_compress(data: Data) -> bool {
    match data {
        Data::Zero | Data::Text => false,
        Data::Incompressible | Data::Random => true,
        Data::Ratio(x) => {
            let base = ((x * f64::from(PAGE_SIZE as u32) + 0.5) as u64).min(PAGE_SIZE as u64);
            base * 1280 / 1024 >= PAGE_SIZE as u64
        }
        Data::ZeroFraction(f) => zero_prefix(f) < MIN_ZERO_PREFIX,
    }
}

/// The zero prefix from which a `zero-fraction` page always compresses below a page.
const MIN_ZERO_PREFIX: usize = 512;

#[cfg(test)]
mod tests {
    use super::*;

    /// A profile per lab kernel, found by version prefix; anything else is mainline,
    /// the crate's defaults, with a note.
    #[test]
    fn kernels_find_their_profile_by_version() {
        for (k, want) in [
            ("7.3", Some("7.3")),
            ("7.3.4+deb13-amd64", Some("7.3")),
            ("7.3-rc1", Some("7.3")),
            ("6.12", Some("6.12")),
            ("6.12.118+deb12-amd64", Some("6.12")),
            ("7.30", None),
            ("6.1", None),
            ("6.120", None),
            ("7", None),
            ("", None),
        ] {
            assert_eq!(KernelProfile::of(k).map(|p| p.name), want, "{k:?}");
            let (p, note) = KernelProfile::for_kernel(k);
            assert_eq!(p.name, want.unwrap_or("mainline"), "{k:?}");
            assert_eq!(note.is_some(), want.is_none(), "{k:?}");
        }
        let z = ZswapConfig::default();
        let m = KernelProfile::mainline();
        assert_eq!((m.reject_incompressible, m.store_shrink_batch), (z.reject_incompressible, z.store_shrink_batch));
        let mut z = ZswapConfig::default();
        KernelProfile::v6_12().apply(&mut z);
        assert!(z.reject_incompressible);
        KernelProfile::v7_3().apply(&mut z);
        assert_eq!((z.reject_incompressible, z.store_shrink_batch), (false, 32));
        assert!(KernelProfile::v6_12().describe().contains("rejected"));
    }
    use crate::workload::{PAGE_BYTES, PageData, Region, Workload, fill_page, page_data_of};

    fn len(data: Data, page: u64, version: u64) -> PageData {
        let mut bytes = [0u8; PAGE_BYTES];
        fill_page(data, 7, 0, page, version, &mut bytes).unwrap();
        page_data_of(&bytes)
    }

    /// The kind rules hold on samples: text and `zero-fraction` with the minimal zero
    /// prefix stay well below a page, random pages and a shorter zero prefix do not
    /// compress; `ratio` reaches a page only when its jitter can.
    #[test]
    #[cfg_attr(miri, ignore = "compresses a few hundred pages")]
    fn the_kind_rules_hold_on_samples() {
        let f = MIN_ZERO_PREFIX as f64 / PAGE_BYTES as f64;
        let short = 16.0 / PAGE_BYTES as f64;
        for page in 0..32 {
            for version in 0..3 {
                let text = len(Data::Text, page, version).compressed_len as usize;
                assert!(text < PAGE_SIZE * 3 / 4, "text page {page} v{version}: {text}");
                let zf = len(Data::ZeroFraction(f), page, version).compressed_len as usize;
                assert!(zf < PAGE_SIZE - 256, "zero-fraction page {page} v{version}: {zf}");
                assert_eq!(len(Data::Random, page, version).compressed_len as usize, PAGE_SIZE);
                assert_eq!(len(Data::ZeroFraction(short), page, version).compressed_len as usize, PAGE_SIZE);
            }
        }
        assert!(!data_may_not_compress(Data::Text) && !data_may_not_compress(Data::ZeroFraction(f)));
        assert!(data_may_not_compress(Data::Random) && data_may_not_compress(Data::ZeroFraction(short)));
        assert!(!data_may_not_compress(Data::ZeroFraction(1.0)) && !data_may_not_compress(Data::Zero));
        // ratio: 0.8 * 1.25 reaches a page, 0.79 does not.
        let w = |r: f64| Workload {
            name: "w".into(),
            regions: vec![Region { name: "r".into(), pages: 4096, data: Data::Ratio(r) }],
            phases: Vec::new(),
        };
        for (r, may) in [(0.79, false), (0.8, true), (0.3, false), (1.0, true)] {
            assert_eq!(data_may_not_compress(Data::Ratio(r)), may, "ratio {r}");
            let hit = (0..4096).any(|p| w(r).page_data(0, p, 1).unwrap().compressed_len as usize >= PAGE_SIZE);
            assert!(!hit || may, "ratio {r}: a page-sized page the rule misses");
        }
    }
}
