//! The cluster allocation bitmap: one bit per slot in atomic words, claimed with CAS.
//!
//! Invariants: a set bit is a slot some caller owns; only its owner clears it. An order-n
//! claim takes a naturally aligned run of 2^n clear bits atomically — within one word by a
//! single CAS, or (n >= 6) whole words claimed 0 -> !0 in ascending order and rolled back
//! if a later word is taken. Bits past the cluster's size are set at creation and never
//! cleared, so a scan never hands them out.
//!
//! Not `bitvec`: its atomic bit slices are undefined behaviour under Miri and invisible to
//! loom, and this is the concurrent path.

use crate::sync::{AtomicU64, Ordering};

/// The allocation bitmap of one cluster of `1 << shift` slots (2 <= shift <= 9).
pub struct ClusterBitmap {
    words: Box<[AtomicU64]>,
}

impl ClusterBitmap {
    /// An empty bitmap for `1 << shift` slots.
    pub fn new(shift: u32) -> Self {
        let nr = 1usize << shift;
        let words = nr.div_ceil(64);
        let pad = if nr < 64 { !0u64 << nr } else { 0 };
        Self { words: (0..words).map(|_| AtomicU64::new(pad)).collect() }
    }

    /// Heap bytes of the bitmap.
    pub fn heap_bytes(&self) -> usize {
        self.words.len() * 8
    }

    /// Claim a naturally aligned run of `1 << order` clear bits; the first bit's index.
    pub fn claim(&self, order: u32) -> Option<usize> {
        if order >= 6 {
            return self.claim_words(1usize << (order - 6));
        }
        let k = 1u32 << order;
        let run = if k == 64 { !0 } else { (1u64 << k) - 1 };
        let stride = STRIDE[order as usize];
        for (i, word) in self.words.iter().enumerate() {
            let mut w = word.load(Ordering::Relaxed);
            loop {
                // A full word (the common case in a busy cluster) has no free run.
                if w == !0 {
                    break;
                }
                let free = aligned_free(w, order, stride);
                if free == 0 {
                    break;
                }
                let pos = free.trailing_zeros();
                match word.compare_exchange_weak(w, w | (run << pos), Ordering::Acquire, Ordering::Relaxed) {
                    Ok(_) => return Some(i * 64 + pos as usize),
                    Err(now) => w = now,
                }
            }
        }
        None
    }

    fn claim_words(&self, per: usize) -> Option<usize> {
        'groups: for g in (0..self.words.len()).step_by(per) {
            for j in 0..per {
                let ok = self.words[g + j].compare_exchange(0, !0, Ordering::Acquire, Ordering::Relaxed);
                if ok.is_err() {
                    for w in &self.words[g..g + j] {
                        w.store(0, Ordering::Release);
                    }
                    continue 'groups;
                }
            }
            return Some(g * 64);
        }
        None
    }

    /// Clear the run of `1 << order` bits at `first`, which the caller owns.
    pub fn release(&self, first: usize, order: u32) {
        if order >= 6 {
            let per = 1usize << (order - 6);
            for w in &self.words[first / 64..first / 64 + per] {
                w.store(0, Ordering::Release);
            }
        } else {
            let k = 1u32 << order;
            let run = if k == 64 { !0 } else { (1u64 << k) - 1 };
            let prev = self.words[first / 64].fetch_and(!(run << (first % 64)), Ordering::Release);
            debug_assert_eq!(prev & (run << (first % 64)), run << (first % 64), "release of unowned bits");
        }
    }

    /// Set bit `i` for good (a Bad slot at swapon).
    #[cfg_attr(not(test), allow(dead_code, reason = "physical devices (swapon) use it next"))]
    pub(crate) fn set(&self, i: usize) {
        self.words[i / 64].fetch_or(1 << (i % 64), Ordering::AcqRel);
    }

    /// Whether bit `i` is set.
    pub fn is_set(&self, i: usize) -> bool {
        self.words[i / 64].load(Ordering::Acquire) & (1 << (i % 64)) != 0
    }
}

/// Per order below 6: a bit at each multiple of 2^order.
const STRIDE: [u64; 6] = [
    !0,
    0x5555_5555_5555_5555,
    0x1111_1111_1111_1111,
    0x0101_0101_0101_0101,
    0x0001_0001_0001_0001,
    0x0000_0001_0000_0001,
];

/// Bits at positions that are multiples of 2^order whose whole aligned group is clear
/// (`stride` is `STRIDE[order]`, looked up once per claim).
#[inline]
fn aligned_free(w: u64, order: u32, stride: u64) -> u64 {
    let mut x = !w;
    for i in 0..order {
        x &= x >> (1u32 << i);
    }
    x & stride
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_are_aligned_and_disjoint_until_full() {
        for shift in 2..=9 {
            for order in 0..=shift {
                let b = ClusterBitmap::new(shift);
                let mut got = Vec::new();
                while let Some(i) = b.claim(order) {
                    assert_eq!(i % (1 << order), 0, "shift {shift} order {order}");
                    got.push(i);
                }
                assert_eq!(got.len(), 1 << (shift - order));
                got.sort_unstable();
                got.dedup();
                assert_eq!(got.len(), 1 << (shift - order));
            }
        }
    }

    #[test]
    fn a_released_run_is_claimed_again_and_holes_block_larger_orders() {
        let b = ClusterBitmap::new(9);
        while b.claim(0).is_some() {}
        b.release(3, 0);
        assert_eq!(b.claim(1), None, "a single hole is no order-1 run");
        assert_eq!(b.claim(0), Some(3));
        b.release(64, 0);
        b.release(65, 0);
        assert_eq!(b.claim(1), Some(64));
    }

    #[test]
    fn whole_word_runs_roll_back_when_a_later_word_is_taken() {
        let b = ClusterBitmap::new(9);
        assert_eq!(b.claim(0), Some(0));
        // order 7 needs words 0-1 or 2-3...; word 0 is taken, so 128 is first.
        assert_eq!(b.claim(7), Some(128));
        assert!(!b.is_set(64), "the failed group was not left claimed");
        assert_eq!(b.claim(9), None);
        b.release(0, 0);
        b.release(128, 7);
        assert_eq!(b.claim(9), Some(0));
    }
}
