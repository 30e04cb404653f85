//! Outcome coverage: the outcomes a race model allows, and proof that its exploration
//! reached each of them.
//!
//! A model passes vacuously if its race never happens: a join before a spawn, a lock
//! around both sides, a setup that makes one side a no-op. So every race model lists the
//! outcomes the protocol allows next to the race ([`Seen::new`]), marks the one each
//! execution reached ([`Seen::mark`]) and, once `loom::model` has returned, checks that
//! every listed outcome occurred ([`Seen::check`]). An outcome the protocol rules out is
//! listed with [`Seen::never`]: marking it fails the execution that reached it.
//!
//! Why this is sound with loom, and costs nothing in explored states:
//! * The record is plain std (a `Mutex`, an `AtomicBool`, [`span`]'s `AtomicU64`), made
//!   before `loom::model` and captured by the model's closure. Loom neither tracks nor
//!   schedules around std objects: marking adds no branch point, so the state space is
//!   the same with or without it. And loom resets only its own objects between
//!   executions, so the record accumulates across the whole exploration.
//! * Loom 0.7 runs an execution's threads as coroutines on the test's OS thread, one at a
//!   time, switching only at loom operations: the std mutex is never contended nor held
//!   across a switch, and a std counter read in two threads orders their reads as the
//!   scheduler ran them ([`span`]).
//! * `loom::model` returns once every interleaving within the preemption bound has been
//!   explored, or when `LOOM_MAX_DURATION` / `LOOM_MAX_PERMUTATIONS` cut the exploration
//!   short: with either set, [`Seen::check`] may fail for want of executions (`.ci/run`
//!   sets neither).
//!
//! `VSWAP_LOOM_OUTCOMES=explore` is for writing a model: outcomes not listed are recorded
//! instead of failing, and [`Seen::check`] prints every outcome reached (run the test
//! with `--nocapture`) without asserting anything.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// The outcomes a race model allows and how many explored executions reached each.
///
/// ```text
/// let outcomes = Seen::new(&["put first", "release first"]).never(&["both freed the slot"]);
/// let seen = outcomes.clone();
/// vswap_loom_tests::model(move || {
///     // ... the race, then the model's checks ...
///     seen.mark(if released { "release first" } else { "put first" });
/// });
/// outcomes.check();
/// ```
#[derive(Clone)]
pub struct Seen(Arc<Record>);

struct Record {
    /// The test (its thread's name) and where it made the record.
    model: String,
    allowed: Vec<&'static str>,
    never: Vec<&'static str>,
    /// `VSWAP_LOOM_OUTCOMES=explore`, read once.
    explore: bool,
    /// Executions per outcome reached.
    counts: Mutex<BTreeMap<String, u64>>,
    checked: AtomicBool,
}

fn explore() -> bool {
    std::env::var("VSWAP_LOOM_OUTCOMES").is_ok_and(|v| v == "explore")
}

impl Seen {
    /// A record for a model whose race allows exactly `allowed`: each must occur in some
    /// explored execution, and no execution may reach an outcome not listed.
    #[track_caller]
    pub fn new(allowed: &[&'static str]) -> Self {
        let at = std::panic::Location::caller();
        let test = std::thread::current().name().unwrap_or("model").to_owned();
        let model = format!("{test} ({}:{})", at.file(), at.line());
        assert!(!allowed.is_empty(), "{model}: a race model allows at least one outcome");
        let mut sorted = allowed.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), allowed.len(), "{model}: an outcome is listed twice: {allowed:?}");
        Self(Arc::new(Record {
            model,
            allowed: allowed.to_vec(),
            never: Vec::new(),
            explore: explore(),
            counts: Mutex::new(BTreeMap::new()),
            checked: AtomicBool::new(false),
        }))
    }

    /// Outcomes the protocol rules out: an execution that reaches one fails at once, with
    /// its interleaving. (Call before sharing the record.)
    pub fn never(mut self, impossible: &[&'static str]) -> Self {
        let r = Arc::get_mut(&mut self.0).expect("Seen::never before the record is cloned");
        for o in impossible {
            assert!(!r.allowed.contains(o), "{}: `{o}` is listed as allowed and as impossible", r.model);
        }
        r.never.extend_from_slice(impossible);
        self
    }

    /// This execution reached `outcome`.
    pub fn mark(&self, outcome: &str) {
        self.mark_with(outcome, String::new);
    }

    /// [`Seen::mark`], with `detail` (what the execution returned, say) in the failure
    /// message if `outcome` is ruled out or not listed.
    pub fn mark_with(&self, outcome: &str, detail: impl FnOnce() -> String) {
        let r = &self.0;
        if r.never.contains(&outcome) {
            panic!("{}: outcome `{outcome}` occurred, which the protocol rules out; {}", r.model, detail());
        }
        if !r.allowed.contains(&outcome) && !r.explore {
            panic!(
                "{}: outcome `{outcome}` is not among the outcomes the race allows: {:?}; {}",
                r.model,
                r.allowed,
                detail()
            );
        }
        *r.counts.lock().unwrap().entry(outcome.to_owned()).or_default() += 1;
    }

    /// After `loom::model` has returned: every allowed outcome occurred. Prints how many
    /// executions reached each (shown with `--nocapture` or on failure).
    pub fn check(&self) {
        let r = &self.0;
        r.checked.store(true, Ordering::Relaxed);
        let counts = r.counts.lock().unwrap().clone();
        let total: u64 = counts.values().sum();
        let mut report = String::new();
        for (o, n) in &counts {
            report += &format!("  {n:>8}  {o}\n");
        }
        print!("{}: {total} executions marked\n{report}", r.model);
        if r.explore {
            return;
        }
        let missing: Vec<&str> = r.allowed.iter().copied().filter(|o| !counts.contains_key(*o)).collect();
        assert!(
            missing.is_empty(),
            "{}: outcome(s) {missing:?} never reached in {total} explored executions; reached:\n{report}\
             the race that gives them was not explored: serialised (a join before a spawn, a lock \
             around both sides) or beyond the preemption bound",
            r.model
        );
    }
}

impl Drop for Record {
    fn drop(&mut self) {
        if !self.checked.load(Ordering::Relaxed) && !std::thread::panicking() {
            panic!("{}: Seen::check was never called after loom::model", self.model);
        }
    }
}

/// Where a call ran in an execution's own order: the value of a std counter (invisible to
/// loom) just before and just after it. Loom runs one thread at a time, so comparing two
/// threads' spans tells whether one call returned before the other began or the scheduler
/// switched between them mid-call. For races whose results are the same in every order.
///
/// Loom switches threads only at its own operations (an atomic, a lock, a join; a spawn is
/// not one), so two spans with no loom operation between them cannot be told apart from
/// one: a thread's call that starts right after it spawns the other thread always begins
/// first, and nothing can run between two calls a thread makes back to back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Span {
    start: u64,
    end: u64,
}

/// How one [`Span`] relates to another (every reading of the counter is distinct, so
/// exactly one holds).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Order {
    /// This call returned before the other began.
    Before,
    /// This call began after the other returned.
    After,
    /// This call began first and returned while the other was running.
    Overlaps,
    /// The other call began first and returned while this one was running.
    OverlappedBy,
    /// The other call ran entirely within this one.
    Contains,
    /// This call ran entirely within the other.
    During,
}

/// Run `f` and return its result with its [`Span`].
pub fn span<T>(f: impl FnOnce() -> T) -> (T, Span) {
    // One counter for every test of the binary: libtest runs tests on several OS threads
    // at once, but each execution stays on one, so its own readings still increase in
    // the order its threads ran.
    static CLOCK: AtomicU64 = AtomicU64::new(0);
    let start = CLOCK.fetch_add(1, Ordering::SeqCst);
    let out = f();
    let end = CLOCK.fetch_add(1, Ordering::SeqCst);
    (out, Span { start, end })
}

impl Span {
    /// How this span relates to `other` (both from one execution).
    pub fn order(self, other: Span) -> Order {
        match (self.start < other.start, self.end < other.end) {
            _ if self.end < other.start => Order::Before,
            _ if other.end < self.start => Order::After,
            (true, true) => Order::Overlaps,
            (false, false) => Order::OverlappedBy,
            (true, false) => Order::Contains,
            (false, true) => Order::During,
        }
    }

    /// Whether the two calls overlapped (neither returned before the other began).
    pub fn overlaps(self, other: Span) -> bool {
        !matches!(self.order(other), Order::Before | Order::After)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The panic message of `f`.
    fn panic_of(f: impl FnOnce() + std::panic::UnwindSafe) -> String {
        let e = std::panic::catch_unwind(f).expect_err("expected a panic");
        e.downcast_ref::<String>().cloned().or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string())).unwrap()
    }

    #[test]
    fn every_allowed_outcome_reached_passes() {
        let s = Seen::new(&["a", "b"]).never(&["d"]);
        let marks = s.clone();
        for o in ["a", "b", "a"] {
            marks.mark(o);
        }
        s.check();
        assert_eq!(s.0.counts.lock().unwrap().get("a"), Some(&2));
    }

    #[test]
    fn an_unreached_outcome_fails_the_check_by_name() {
        let msg = panic_of(|| {
            let s = Seen::new(&["first wins", "second wins"]);
            s.mark("first wins");
            s.check();
        });
        assert!(msg.contains(r#"outcome(s) ["second wins"] never reached in 1 explored executions"#), "{msg}");
        assert!(msg.contains("first wins"), "the report lists what was reached: {msg}");
    }

    #[test]
    fn a_ruled_out_or_unlisted_outcome_fails_the_execution() {
        let msg = panic_of(|| Seen::new(&["a"]).never(&["b"]).mark_with("b", || "detail 7".into()));
        assert!(msg.contains("outcome `b` occurred, which the protocol rules out; detail 7"), "{msg}");
        let msg = panic_of(|| Seen::new(&["a"]).mark("typo"));
        assert!(msg.contains("outcome `typo` is not among the outcomes the race allows"), "{msg}");
    }

    #[test]
    fn a_record_never_checked_fails_when_dropped() {
        let msg = panic_of(|| drop(Seen::new(&["a"])));
        assert!(msg.contains("Seen::check was never called"), "{msg}");
    }

    #[test]
    fn spans_relate_in_exactly_one_way() {
        let s = |start, end| Span { start, end };
        assert_eq!(s(0, 1).order(s(2, 3)), Order::Before);
        assert_eq!(s(2, 3).order(s(0, 1)), Order::After);
        assert_eq!(s(0, 2).order(s(1, 3)), Order::Overlaps);
        assert_eq!(s(1, 3).order(s(0, 2)), Order::OverlappedBy);
        assert_eq!(s(0, 3).order(s(1, 2)), Order::Contains);
        assert_eq!(s(1, 2).order(s(0, 3)), Order::During);
        assert!(!s(0, 1).overlaps(s(2, 3)) && s(0, 3).overlaps(s(1, 2)));
        // Nested and sequential calls, as span() reads the clock.
        let (((), inner), outer) = span(|| span(|| ()));
        assert_eq!(outer.order(inner), Order::Contains);
        let ((), later) = span(|| ());
        assert_eq!(outer.order(later), Order::Before);
    }
}
