use super::*;
use proptest::prelude::*;

fn cfg() -> ProptestConfig {
    let cases = if cfg!(miri) { 8 } else { 512 };
    ProptestConfig {
        cases,
        failure_persistence: None,
        rng_algorithm: proptest::test_runner::RngAlgorithm::XorShift,
        ..ProptestConfig::default()
    }
}

fn table_entry() -> impl Strategy<Value = TableEntry> {
    prop_oneof![
        Just(TableEntry::Free),
        Just(TableEntry::Bad),
        (0..=mask(SHADOW_BITS), 0..=COUNT_MAX, any::<bool>()).prop_map(|(shadow, count, zero)| TableEntry::Shadow {
            shadow,
            count,
            zero
        }),
        (0..=mask(PFN_BITS), 0..=MAX_ORDER, 0..=COUNT_MAX, any::<bool>(), any::<bool>())
            .prop_map(|(pfn, order, count, zero, locked)| TableEntry::Cached { pfn, order, count, zero, locked }),
        (0..=mask(POINTER_BITS), any::<bool>())
            .prop_map(|(vslot, cache_only)| TableEntry::Pointer { vslot, cache_only }),
    ]
}

proptest! {
    #![proptest_config(cfg())]

    #[test]
    fn every_entry_round_trips(e in table_entry()) {
        let w = e.encode().unwrap();
        prop_assert_eq!(TableEntry::decode(w), Ok(e));
    }

    #[test]
    fn every_decodable_word_re_encodes_to_itself(w in any::<u64>()) {
        if let Ok(e) = TableEntry::decode(w) {
            prop_assert_eq!(e.encode(), Ok(w));
        }
        if let Ok(b) = BackendEntry::decode(w) {
            prop_assert_eq!(b.encode(), Ok(w));
        }
    }

    #[test]
    fn backend_entries_round_trip(device in 0u8..32, offset in 0..=mask(OFFSET_BITS), handle in 0..=mask(HANDLE_BITS)) {
        for b in [BackendEntry::Phys { device, offset }, BackendEntry::Zswap { handle }, BackendEntry::None] {
            prop_assert_eq!(BackendEntry::decode(b.encode().unwrap()), Ok(b));
        }
    }
}

#[test]
fn kinds_are_told_apart_in_the_kernels_order() {
    assert_eq!(TableEntry::decode(0), Ok(TableEntry::Free));
    assert_eq!(TableEntry::decode(!0 << 3), Ok(TableEntry::Bad));
    assert!(matches!(TableEntry::decode(0b1), Ok(TableEntry::Shadow { shadow: 0, count: 0, zero: false })));
    assert!(matches!(TableEntry::decode(0b10), Ok(TableEntry::Cached { pfn: 0, .. })));
    assert!(matches!(TableEntry::decode(0b100), Ok(TableEntry::Pointer { vslot: 0, cache_only: false })));
    assert_eq!(TableEntry::decode(0b1000), Err(CodecError::UnknownTag));
    // Bits a Cached word never uses are rejected rather than ignored.
    assert_eq!(TableEntry::decode(0b10 | 1 << 50), Err(CodecError::ReservedBits));
}

#[test]
fn count_and_zero_flag_sit_in_the_top_five_bits() {
    let w = TableEntry::Shadow { shadow: 0, count: COUNT_MAX, zero: true }.encode().unwrap();
    assert_eq!(w >> 59, 0b11111, "COUNT bits 63..60 and Z bit 59, as on x86_64");
    let w =
        TableEntry::Cached { pfn: mask(PFN_BITS), order: 0, count: 1, zero: false, locked: false }.encode().unwrap();
    assert_eq!(w >> 60, 1);
    assert_eq!(w & 0b11, 0b10);
    assert_eq!((w >> 2) & mask(PFN_BITS), mask(PFN_BITS));
}

#[test]
fn fields_one_past_their_width_are_refused() {
    let over = [
        TableEntry::Shadow { shadow: mask(SHADOW_BITS) + 1, count: 0, zero: false },
        TableEntry::Shadow { shadow: 0, count: COUNT_MAX + 1, zero: false },
        TableEntry::Cached { pfn: mask(PFN_BITS) + 1, order: 0, count: 0, zero: false, locked: false },
        TableEntry::Cached { pfn: 0, order: MAX_ORDER + 1, count: 0, zero: false, locked: false },
        TableEntry::Pointer { vslot: mask(POINTER_BITS) + 1, cache_only: false },
    ];
    for e in over {
        assert_eq!(e.encode(), Err(CodecError::FieldOverflow), "{e:?}");
    }
    assert_eq!(BackendEntry::Phys { device: 32, offset: 0 }.encode(), Err(CodecError::FieldOverflow));
    assert_eq!(
        BackendEntry::Phys { device: 0, offset: mask(OFFSET_BITS) + 1 }.encode(),
        Err(CodecError::FieldOverflow)
    );
    assert_eq!(BackendEntry::Zswap { handle: mask(HANDLE_BITS) + 1 }.encode(), Err(CodecError::FieldOverflow));
    assert_eq!(BackendEntry::decode(0b011), Err(CodecError::UnknownTag));
    assert_eq!(BackendEntry::decode(0b1000), Err(CodecError::UnknownTag));
}

#[test]
fn word_helpers_keep_count_and_zero_across_cache_transitions() {
    let cached = TableEntry::Cached { pfn: 77, order: 2, count: 3, zero: true, locked: false }.encode().unwrap();
    let shadow = word::shadow_from(cached, 0x1234);
    assert_eq!(TableEntry::decode(shadow), Ok(TableEntry::Shadow { shadow: 0x1234, count: 3, zero: true }));
    let back = word::cached_from(shadow, 99, 0);
    assert_eq!(
        TableEntry::decode(back),
        Ok(TableEntry::Cached { pfn: 99, order: 0, count: 3, zero: true, locked: false })
    );
    assert_eq!(word::count(word::with_count(back, 14)), 14);
    assert!(word::is_locked(word::locked(back)) && !word::is_locked(word::unlocked(word::locked(back))));
}

#[test]
fn compact_backend_word_round_trips_and_rejects_overflow() {
    for b in [
        BackendEntry::None,
        BackendEntry::Zswap { handle: 1 },
        BackendEntry::Zswap { handle: mask(COMPACT_HANDLE_BITS) },
        BackendEntry::Phys { device: 0, offset: 0 },
        BackendEntry::Phys { device: 31, offset: mask(COMPACT_OFFSET_BITS) },
    ] {
        assert_eq!(BackendEntry::decode_compact(b.encode_compact().unwrap()), b);
    }
    assert_eq!(BackendEntry::Zswap { handle: 0 }.encode_compact(), Err(CodecError::FieldOverflow));
    assert_eq!(BackendEntry::Zswap { handle: 1 << 31 }.encode_compact(), Err(CodecError::FieldOverflow));
    assert_eq!(BackendEntry::Phys { device: 32, offset: 0 }.encode_compact(), Err(CodecError::FieldOverflow));
    assert_eq!(BackendEntry::Phys { device: 0, offset: 1 << 26 }.encode_compact(), Err(CodecError::FieldOverflow));
    for w in [0u32, 1, 0x7fff_ffff, 0x8000_0000, u32::MAX] {
        assert_eq!(BackendEntry::decode_compact(w).encode_compact(), Ok(w));
    }
}
