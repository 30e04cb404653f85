//! The entry codec round trip: `TableEntry` (the swap table word) and `BackendEntry` (the
//! virtual table word), from arbitrary words and from arbitrary values.
//!
//! Which bits does `decode` ignore? None, in the current layout (`src/entry/mod.rs`):
//! * Shadow: COUNT (63..60) + Z (59) + shadow (58..1) + tag (0) cover all 64 bits.
//! * Cached: every bit outside COUNT, Z, L, ORDER, PFN and the tag is checked by
//!   `decode` (`ReservedBits`), so nothing is dropped.
//! * Pointer: C (63) + virtual slot (62..3) + tag (2..0) cover all 64 bits.
//! * Free and Bad are single words.
//! * Backend Phys: device (63..59) + offset (58..3) + tag; Zswap: handle (63..3) + tag;
//!   None: only the word 0.
//!
//! So every word that decodes must re-encode to exactly itself (decode is injective), and
//! the target asserts that exact round trip. If the layout ever grows don't-care bits,
//! this target fails on the first such word, which is the point: the exception has to be
//! written down here, with its mask.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use vswap::entry::{
    BackendEntry, COUNT_MAX, CodecError, DEVICE_BITS, HANDLE_BITS, MAX_ORDER, OFFSET_BITS, PFN_BITS, POINTER_BITS,
    SHADOW_BITS, TableEntry,
};

#[derive(Debug, Arbitrary)]
struct Input {
    words: Vec<u64>,
    entries: Vec<TableEntry>,
    backends: Vec<BackendEntry>,
}

const fn fits(v: u64, bits: u32) -> bool {
    bits >= 64 || v >> bits == 0
}

/// Whether some field of `e` is wider than its bit field (the only reason to refuse).
fn table_too_wide(e: TableEntry) -> bool {
    match e {
        TableEntry::Free | TableEntry::Bad => false,
        TableEntry::Shadow { shadow, count, .. } => !fits(shadow, SHADOW_BITS) || count > COUNT_MAX,
        TableEntry::Cached { pfn, order, count, .. } => !fits(pfn, PFN_BITS) || order > MAX_ORDER || count > COUNT_MAX,
        TableEntry::Pointer { vslot, .. } => !fits(vslot, POINTER_BITS),
    }
}

fn backend_too_wide(e: BackendEntry) -> bool {
    match e {
        BackendEntry::None => false,
        BackendEntry::Zswap { handle } => !fits(handle, HANDLE_BITS),
        BackendEntry::Phys { device, offset } => !fits(device as u64, DEVICE_BITS) || !fits(offset, OFFSET_BITS),
    }
}

fn check_word(w: u64) {
    // Both decoders see every word: a table word is never a backend word and vice versa,
    // but neither decoder may panic on the other's words.
    match TableEntry::decode(w) {
        Ok(e) => {
            assert_eq!(e.encode(), Ok(w), "table word {w:#018x} decoded to {e:?}");
            assert!(!table_too_wide(e), "decode produced an over-wide field: {e:?}");
            // The countable kinds report their inline count, the others none.
            match e {
                TableEntry::Free => assert_eq!(e.count(), Some(0)),
                TableEntry::Shadow { count, .. } | TableEntry::Cached { count, .. } => {
                    assert_eq!(e.count(), Some(count))
                }
                TableEntry::Pointer { .. } | TableEntry::Bad => assert_eq!(e.count(), None),
            }
            assert_eq!(w == 0, e == TableEntry::Free);
            assert_eq!(w == TableEntry::BAD_WORD, e == TableEntry::Bad);
        }
        Err(CodecError::UnknownTag) => {
            // Only a non-zero, non-Bad word with bits 2..0 = 000 has no kind.
            assert!(w != 0 && w != TableEntry::BAD_WORD && w & 0b111 == 0, "{w:#018x}");
        }
        Err(CodecError::ReservedBits) => assert_eq!(w & 0b11, 0b10, "{w:#018x}: ReservedBits on a non-Cached word"),
        Err(CodecError::FieldOverflow) => panic!("decode never reports FieldOverflow ({w:#018x})"),
    }
    match BackendEntry::decode(w) {
        Ok(e) => {
            assert_eq!(e.encode(), Ok(w), "backend word {w:#018x} decoded to {e:?}");
            assert!(!backend_too_wide(e), "decode produced an over-wide field: {e:?}");
        }
        Err(CodecError::UnknownTag) => {
            assert!(w != 0 && !matches!(w & 0b111, 0b001 | 0b010), "{w:#018x}")
        }
        Err(e) => panic!("backend decode of {w:#018x}: unexpected {e:?}"),
    }
}

fuzz_target!(|input: Input| {
    for &w in &input.words {
        check_word(w);
        // Neighbours of the interesting words too: flipped tag bits, the Bad word's kin.
        check_word(w ^ TableEntry::BAD_WORD);
        check_word(w.rotate_left(3));
    }
    for &e in &input.entries {
        match e.encode() {
            Ok(w) => {
                assert!(!table_too_wide(e), "{e:?} encoded despite an over-wide field");
                assert_eq!(TableEntry::decode(w), Ok(e), "{e:?} -> {w:#018x}");
            }
            Err(err) => {
                assert_eq!(err, CodecError::FieldOverflow, "{e:?}");
                assert!(table_too_wide(e), "{e:?} refused although every field fits");
            }
        }
    }
    for &e in &input.backends {
        match e.encode() {
            Ok(w) => {
                assert!(!backend_too_wide(e), "{e:?} encoded despite an over-wide field");
                assert_eq!(BackendEntry::decode(w), Ok(e), "{e:?} -> {w:#018x}");
            }
            Err(err) => {
                assert_eq!(err, CodecError::FieldOverflow, "{e:?}");
                assert!(backend_too_wide(e), "{e:?} refused although every field fits");
            }
        }
    }
});
