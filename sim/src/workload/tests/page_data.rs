//! Page contents: `page_data` (synthetic sizes) and `fill_page` (byte-exact pages), as tests.

use super::*;

#[test]
fn page_data_is_a_pure_function_of_seed_region_and_page() {
    let w = Workload::builtin("kernel-build-like", 1024).unwrap();
    let lens = |seed, region| (0..64).map(|p| w.page_data(region, p, seed).unwrap().compressed_len).collect::<Vec<_>>();
    assert_eq!(lens(1, 0), lens(1, 0));
    assert_ne!(lens(1, 0), lens(2, 0), "the seed matters");
    assert_ne!(lens(1, 1), lens(1, 2), "the region matters");
    let l = lens(1, 0);
    assert!(l.windows(2).any(|p| p[0] != p[1]), "the page matters");
}

#[test]
fn page_data_follows_the_region_data() {
    let mut w = one_phase(1, 1, 1, vec![parent(0, Pattern::Random, 1, 0)]);
    let region = |data| Region { name: String::new(), pages: 1 << 20, data };
    w.regions = vec![
        region(Data::Zero),
        region(Data::Incompressible),
        region(Data::Ratio(0.35)),
        region(Data::Ratio(0.001)),
        region(Data::Ratio(1.0)),
    ];
    let n = if cfg!(miri) { 100 } else { 2000 };
    for p in 0..n {
        assert_eq!(w.page_data(0, p, 1), Some(PageData { zero: true, compressed_len: 0 }));
        assert_eq!(w.page_data(1, p, 1), Some(PageData { zero: false, compressed_len: 4096 }));
        assert_eq!(w.page_data(3, p, 1).unwrap().compressed_len, 64, "clamped up to 64");
        let full = w.page_data(4, p, 1).unwrap();
        assert!(!full.zero && (3072..=4096).contains(&full.compressed_len));
    }
    assert_eq!(w.page_data(5, 0, 1), None, "no region 5");
    // Ratio 0.35: 1434 bytes +-25 %, averaging near 1434.
    let lens: Vec<u32> = (0..n).map(|p| w.page_data(2, p, 9).unwrap().compressed_len).collect();
    assert!(lens.iter().all(|&l| (1075..=1793).contains(&l)), "{lens:?}");
    let mean = lens.iter().map(|&l| f64::from(l)).sum::<f64>() / n as f64;
    assert!((mean - 1434.0).abs() < 60.0, "mean {mean}");
    assert!(lens.iter().min().unwrap() < &1200 && lens.iter().max().unwrap() > &1650, "spread over the jitter");
}

fn filled(data: Data, page: u64, version: u64) -> [u8; PAGE_BYTES] {
    let mut b = [0xAAu8; PAGE_BYTES];
    fill_page(data, 1, 0, page, version, &mut b).unwrap();
    b
}

#[test]
fn fill_page_is_pure_and_each_input_changes_the_bytes() {
    for data in [Data::Random, Data::Text, Data::ZeroFraction(0.5)] {
        let a = filled(data, 3, 0);
        assert_eq!(a, filled(data, 3, 0), "{data}: the same inputs give the same bytes");
        assert_ne!(a, filled(data, 4, 0), "{data}: another page");
        assert_ne!(a, filled(data, 3, 1), "{data}: another version");
        let mut other = [0u8; PAGE_BYTES];
        fill_page(data, 2, 0, 3, 0, &mut other).unwrap();
        assert_ne!(a, other, "{data}: another seed");
        fill_page(data, 1, 1, 3, 0, &mut other).unwrap();
        assert_ne!(a, other, "{data}: another region");
    }
    // Every byte is written, whatever the buffer held.
    assert_eq!(filled(Data::Zero, 0, 7), [0u8; PAGE_BYTES]);
}

#[test]
fn fill_page_has_fixed_bytes() {
    // The guest writes these very bytes: a change here changes every recording.
    let r = filled(Data::Random, 0, 0);
    let key = mix64(mix64(mix64(mix64(1 ^ 0x4C41_4250_4147_4521))));
    assert_eq!(r[..8], mix64(key).to_le_bytes());
    assert_eq!(r[8..16], mix64(key + 1).to_le_bytes());
    let t = filled(Data::Text, 0, 0);
    assert!(t.starts_with(b"1 "), "{:?}", String::from_utf8_lossy(&t[..40]));
    assert!(t.iter().all(|&b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b' ' || b == b'\n'));
    assert!(t.windows(2).any(|w| w == b"\n2"), "numbered lines");
}

#[test]
fn zero_fraction_zeroes_exactly_the_rounded_prefix() {
    for (f, zeros) in [(0.0, 0), (0.5, 2048), (0.25, 1024), (1.0, 4096), (0.0001, 0), (0.00013, 1), (0.99999, 4096)] {
        assert_eq!(zero_prefix(f), zeros, "{f}");
        let b = filled(Data::ZeroFraction(f), 9, 0);
        assert!(b[..zeros].iter().all(|&x| x == 0), "{f}");
        // The random rest has no run of 8 zero bytes at its start (it would be a 1 in 2^64 event).
        if zeros + 8 <= PAGE_BYTES {
            assert_ne!(b[zeros..zeros + 8], [0u8; 8], "{f}");
        }
    }
    assert_eq!(zero_prefix(f64::NAN), 0);
    assert_eq!(zero_prefix(-1.0), 0);
    assert_eq!(zero_prefix(2.0), PAGE_BYTES);
}

#[test]
fn synthetic_kinds_have_no_bytes() {
    let mut b = [7u8; PAGE_BYTES];
    assert_eq!(fill_page(Data::Ratio(0.5), 1, 0, 0, 0, &mut b), Err(NotByteExact(Data::Ratio(0.5))));
    assert_eq!(fill_page(Data::Incompressible, 1, 0, 0, 0, &mut b), Err(NotByteExact(Data::Incompressible)));
    assert_eq!(b, [7u8; PAGE_BYTES], "left untouched");
    assert!(!Data::Ratio(0.5).is_byte_exact() && !Data::Incompressible.is_byte_exact());
    assert!(Data::Zero.is_byte_exact() && Data::Random.is_byte_exact() && Data::Text.is_byte_exact());
    assert!(Data::ZeroFraction(0.5).is_byte_exact());
}

#[test]
#[cfg_attr(miri, ignore = "lz4 on hundreds of pages is slow under Miri; safe code")]
fn byte_exact_page_data_is_lz4_of_the_bytes() {
    let w = |data| Workload {
        name: "b".into(),
        regions: vec![Region { name: "r".into(), pages: 64, data }],
        phases: vec![phase("p", 1, 1, vec![parent(0, Pattern::Random, 1, 0)])],
    };
    // Zero: a zero page, no compression.
    assert_eq!(w(Data::Zero).page_data(0, 5, 1), Some(PageData { zero: true, compressed_len: 0 }));
    assert_eq!(w(Data::ZeroFraction(1.0)).page_data(0, 5, 1), Some(PageData { zero: true, compressed_len: 0 }));
    // Random: lz4 cannot shrink it, stored as a whole page.
    for page in 0..64 {
        assert_eq!(w(Data::Random).page_data(0, page, 1), Some(PageData { zero: false, compressed_len: PAGE_SIZE }));
    }
    // Half zero: about half a page (lz4's literal run of 2048 random bytes plus a match).
    let half = w(Data::ZeroFraction(0.5));
    for page in 0..64 {
        let d = half.page_data(0, page, 1).unwrap();
        assert!(!d.zero && (2048..2100).contains(&d.compressed_len), "{d:?}");
        assert_eq!(d, page_data_of(&filled_at(Data::ZeroFraction(0.5), 1, page)));
    }
    // Text: lz4 finds repeats; it keeps about 60 % of the page.
    let text = w(Data::Text);
    let mut sum = 0;
    for page in 0..64 {
        let d = text.page_data(0, page, 1).unwrap();
        assert!(!d.zero && (2000..3000).contains(&d.compressed_len), "{d:?}");
        sum += d.compressed_len;
    }
    assert!((2300..2700).contains(&(sum / 64)), "mean {}", sum / 64);
    // Small zero fractions are incompressible, large ones tiny.
    assert_eq!(w(Data::ZeroFraction(0.0)).page_data(0, 0, 1).unwrap().compressed_len, PAGE_SIZE);
    assert!(w(Data::ZeroFraction(0.99)).page_data(0, 0, 1).unwrap().compressed_len < 100);
}

fn filled_at(data: Data, seed: u64, page: u64) -> [u8; PAGE_BYTES] {
    let mut b = [0u8; PAGE_BYTES];
    fill_page(data, seed, 0, page, 0, &mut b).unwrap();
    b
}
