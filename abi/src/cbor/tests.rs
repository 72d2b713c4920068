//! Unit tests of `cbor`.

use super::*;

fn roundtrip_u(v: u64) {
    let mut w = Writer::new();
    w.u64(v);
    let b = w.into_vec();
    let mut r = Reader::new(&b);
    assert_eq!(r.u64().unwrap(), v);
    r.finish().unwrap();
}

#[test]
fn unsigned_heads_are_shortest() {
    for v in [0, 23, 24, 255, 256, 65535, 65536, u32::MAX as u64, u64::MAX] {
        roundtrip_u(v);
    }
    let mut w = Writer::new();
    w.u64(23);
    assert_eq!(w.as_slice(), &[0x17]);
    let mut w = Writer::new();
    w.u64(500);
    assert_eq!(w.as_slice(), &[0x19, 0x01, 0xf4]);
}

#[test]
fn non_canonical_heads_are_refused() {
    // 5 encoded with a one-byte argument.
    assert!(Reader::new(&[0x18, 0x05]).u64().is_err());
    // 255 encoded with a two-byte argument.
    assert!(Reader::new(&[0x19, 0x00, 0xff]).u64().is_err());
    // Indefinite-length array.
    assert!(Reader::new(&[0x9f]).array().is_err());
}

#[test]
fn signed_and_wide_integers() {
    for v in [
        0i128,
        -1,
        1,
        i64::MIN as i128,
        i64::MAX as i128,
        i128::MIN,
        i128::MAX,
        1 << 63,
        (1 << 64) - 1,
        1 << 64,
        -(1 << 63) - 1,
        -(1 << 64),
        -(1 << 64) - 1,
    ] {
        let mut w = Writer::new();
        w.i128(v);
        let b = w.into_vec();
        let mut r = Reader::new(&b);
        assert_eq!(r.i128().unwrap(), v, "{v}");
        r.finish().unwrap();
        // Plain exactly when major types 0 / 1 can hold it.
        let plain = (-(1i128 << 64)..1 << 64).contains(&v);
        assert_eq!(b[0] >> 5 != MAJOR_TAG, plain, "{v}: {b:02x?}");
    }
    let mut w = Writer::new();
    w.u128(u128::MAX);
    let b = w.into_vec();
    assert_eq!(Reader::new(&b).u128().unwrap(), u128::MAX);
}

#[test]
fn nan_is_canonical() {
    let mut w = Writer::new();
    w.f64(f64::from_bits(0x7ff8_0000_0000_0001));
    let b = w.into_vec();
    assert_eq!(&b[1..], &CANONICAL_NAN_F64.to_be_bytes());
    let mut bad = b.clone();
    bad[8] = 1;
    assert!(Reader::new(&bad).f64().is_err());
}

#[test]
fn hostile_array_length_is_refused() {
    // Array claiming 2^32 items in a 9-byte input.
    let bytes = [0x9b, 0, 0, 0, 1, 0, 0, 0, 0];
    assert!(Reader::new(&bytes).array().is_err());
}

#[test]
fn skip_walks_nested_items() {
    let mut w = Writer::new();
    w.array(3);
    w.str("a");
    w.array(2);
    w.bool(true);
    w.f32(1.5);
    w.i128(i128::MIN);
    w.u64(7);
    let b = w.into_vec();
    let mut r = Reader::new(&b);
    let first = r.skip().unwrap();
    assert_eq!(first.len(), b.len() - 1);
    assert_eq!(r.u64().unwrap(), 7);
}

#[test]
fn skip_checked_item_spans_every_item_as_skip_does() {
    let mut w = Writer::new();
    w.array(14);
    for v in [0u64, 23, 24, 255, 256, 65_535, 65_536, u64::MAX] {
        w.u64(v);
    }
    w.i64(-1);
    w.i64(i64::MIN);
    w.str("a string longer than twenty-three bytes");
    w.bytes(&[1, 2, 3]);
    w.f64(1.5);
    w.null();
    let row = w.into_vec();
    let (mut fast, mut full) = (Reader::new(&row), Reader::new(&row));
    assert_eq!(fast.array().unwrap(), 14);
    full.array().unwrap();
    for _ in 0..14 {
        fast.skip_checked_item().unwrap();
        full.skip().unwrap();
        assert_eq!(fast.position(), full.position());
    }
    // Truncated anywhere: an error, never a read past the end.
    for cut in 1..row.len() {
        let mut r = Reader::new(&row[..cut]);
        let ok = r.array().is_ok() && (0..14).all(|_| r.skip_checked_item().is_ok());
        assert!(!ok, "a row cut at {cut} bytes skipped in full");
    }
}
