//! Every integer type (`u8`…`u128`, `i8`…`i128`) at every boundary — 0,
//! ±(2^k − 1), ±2^k and their neighbours for every k up to 128 — and at
//! random values, through everything that handles integers:
//!
//! - the canonical CBOR encoding, checked against an independent encoder
//!   written from `docs/ABI.md` §2.1 (not from `cbor.rs`), for
//!   [`IntersticeType`] and for [`Value`];
//! - decoding it back with the typed codec, with [`Value::decode_exact`] and
//!   with [`Type::validate_exact`];
//! - the refusal of every other encoding of the same value (longer heads,
//!   bignums for values that fit a plain integer, padded bignums, long tag
//!   heads), and of values outside the type;
//! - uniqueness: any byte string that decodes re-encodes to itself;
//! - JSON: the output form (number up to 2^53 − 1, decimal string beyond),
//!   reading it back, decimal strings, JSON numbers, JSON text;
//! - [`Value::coerce`] and the memcomparable key order.
//!
//! Also the worked examples of `docs/ABI.md` §2.1, byte for byte.

use std::collections::BTreeSet;
use std::fmt::{Debug, Display};

use interstice_abi::cbor::Reader;
use interstice_abi::{IntersticeType, Type, Value};
use proptest::prelude::*;
use serde_json::Value as Json;

/// The largest magnitude JSON output writes as a number (`docs/ABI.md` §7).
const MAX_JSON_SAFE_INT: u128 = (1 << 53) - 1;

/// An integer of the union domain −2^127 ..= 2^128 − 1, as CBOR sees it:
/// `neg` selects major type 1 (value `-1 - arg`) over major type 0 (value
/// `arg`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Wide {
    neg: bool,
    arg: u128,
}

impl Wide {
    fn pos(arg: u128) -> Self {
        Wide { neg: false, arg }
    }
    fn neg(arg: u128) -> Option<Self> {
        (arg <= i128::MAX as u128).then_some(Wide { neg: true, arg })
    }
    fn as_i128(self) -> Option<i128> {
        if self.neg {
            Some(-1 - self.arg as i128)
        } else {
            i128::try_from(self.arg).ok()
        }
    }
    /// The value's magnitude (|v|).
    fn magnitude(self) -> u128 {
        if self.neg {
            self.arg + 1
        } else {
            self.arg
        }
    }
    fn decimal(self) -> String {
        if self.neg {
            format!("-{}", self.arg + 1)
        } else {
            self.arg.to_string()
        }
    }
    /// Numeric order key (the derived order sorts by sign first, wrongly
    /// for negatives).
    fn order(self) -> (bool, i128, u128) {
        if self.neg {
            (false, -(self.arg as i128), 0)
        } else {
            (true, 0, self.arg)
        }
    }
}

/// A shortest CBOR head, from RFC 8949 §3 as `docs/ABI.md` §2 states it.
fn spec_head(major: u8, n: u64) -> Vec<u8> {
    let m = major << 5;
    if n < 24 {
        vec![m | n as u8]
    } else if n < 1 << 8 {
        vec![m | 24, n as u8]
    } else if n < 1 << 16 {
        let mut v = vec![m | 25];
        v.extend_from_slice(&(n as u16).to_be_bytes());
        v
    } else if n < 1 << 32 {
        let mut v = vec![m | 26];
        v.extend_from_slice(&(n as u32).to_be_bytes());
        v
    } else {
        let mut v = vec![m | 27];
        v.extend_from_slice(&n.to_be_bytes());
        v
    }
}

fn minimal_be(n: u128) -> Vec<u8> {
    let b = n.to_be_bytes();
    let first = b.iter().position(|x| *x != 0).unwrap_or(16);
    b[first..].to_vec()
}

fn byte_string(bytes: &[u8]) -> Vec<u8> {
    let mut v = spec_head(2, bytes.len() as u64);
    v.extend_from_slice(bytes);
    v
}

/// The canonical encoding per `docs/ABI.md` §2.1: major 0 / 1 when the
/// argument fits 64 bits, else tag 2 / 3 and the minimal big-endian bytes.
fn spec_encoding(w: Wide) -> Vec<u8> {
    match u64::try_from(w.arg) {
        Ok(n) => spec_head(w.neg as u8, n),
        Err(_) => {
            let mut v = vec![if w.neg { 0xc3 } else { 0xc2 }];
            v.extend(byte_string(&minimal_be(w.arg)));
            v
        }
    }
}

/// Every other way to write `w` that a lenient CBOR reader would take.
fn alternative_encodings(w: Wide) -> Vec<Vec<u8>> {
    let tag = if w.neg { 0xc3 } else { 0xc2 };
    let mut out = Vec::new();
    let minimal = minimal_be(w.arg);
    if let Ok(n) = u64::try_from(w.arg) {
        // Every head longer than the shortest.
        let m = (w.neg as u8) << 5;
        let shortest = spec_head(w.neg as u8, n).len();
        for (info, width) in [(24u8, 1usize), (25, 2), (26, 4), (27, 8)] {
            if 1 + width > shortest {
                let mut v = vec![m | info];
                v.extend_from_slice(&n.to_be_bytes()[8 - width..]);
                out.push(v);
            }
        }
    }
    // Bignums: with every amount of zero padding up to 16 bytes (for a value
    // that fits 64 bits, the minimal one too), and one of 17 bytes.
    let from = if w.arg <= u64::MAX as u128 {
        minimal.len()
    } else {
        minimal.len() + 1
    };
    for len in from..=17 {
        let mut mag = vec![0u8; len - minimal.len()];
        mag.extend_from_slice(&minimal);
        let mut v = vec![tag];
        v.extend(byte_string(&mag));
        out.push(v);
    }
    if w.arg > u64::MAX as u128 {
        // A canonical magnitude under a two-byte tag head, and under a
        // byte-string head that is longer than needed.
        let mut v = vec![0xd8, tag & 0x1f];
        v.extend(byte_string(&minimal));
        out.push(v);
        let mut v = vec![tag, 0x58, minimal.len() as u8];
        v.extend_from_slice(&minimal);
        out.push(v);
    }
    out
}

trait TestInt: IntersticeType + Copy + PartialEq + Debug + Display + 'static {
    const NAME: &'static str;
    fn wide(self) -> Wide;
    fn from_wide(w: Wide) -> Option<Self>;
    fn value(self) -> Value;
}

macro_rules! test_int {
    ($($t:ty => $v:ident),* $(,)?) => {$(
        impl TestInt for $t {
            const NAME: &'static str = stringify!($t);
            #[allow(unused_comparisons, clippy::unnecessary_cast)]
            fn wide(self) -> Wide {
                if self < 0 as $t {
                    Wide { neg: true, arg: (-1 - self as i128) as u128 }
                } else {
                    Wide::pos(self as u128)
                }
            }
            fn from_wide(w: Wide) -> Option<Self> {
                if w.neg {
                    <$t>::try_from(-1 - w.arg as i128).ok()
                } else {
                    <$t>::try_from(w.arg).ok()
                }
            }
            fn value(self) -> Value {
                Value::$v(self)
            }
        }
    )*};
}
test_int!(u8 => U8, u16 => U16, u32 => U32, u64 => U64, u128 => U128,
    i8 => I8, i16 => I16, i32 => I32, i64 => I64, i128 => I128);

/// 0, 1, the CBOR head boundaries 23/24/25, and 2^k − 2, 2^k − 1, 2^k,
/// 2^k + 1 for every k in 0..=128, each with both signs.
fn boundaries() -> Vec<Wide> {
    let mut args = BTreeSet::from([0u128, 1, 22, 23, 24, 25, 254, 255, 256, u128::MAX]);
    for k in 0..128u32 {
        let p = 1u128 << k;
        args.extend([p.wrapping_sub(2), p - 1, p, p + 1]);
    }
    args.extend([u128::MAX - 1, u128::MAX]);
    let mut out: BTreeSet<Wide> = args.iter().map(|a| Wide::pos(*a)).collect();
    out.extend(args.iter().filter_map(|a| Wide::neg(*a)));
    let mut out: Vec<Wide> = out.into_iter().collect();
    out.sort_by_key(|w| w.order());
    out
}

/// The value as JSON text would write it (a JSON number token).
fn json_number_text(w: Wide) -> String {
    w.decimal()
}

fn check_in_range<T: TestInt>(x: T) {
    let w = x.wide();
    let ty = T::ty();
    let what = format!("{} {}", T::NAME, w.decimal());
    assert_eq!(x.to_string(), w.decimal(), "{what}: test helper");
    let bytes = spec_encoding(w);

    // Encoding: the typed codec and the dynamic value agree with the spec.
    assert_eq!(x.to_bytes(), bytes, "{what}: IntersticeType::encode");
    assert_eq!(x.value().to_bytes(), bytes, "{what}: Value::encode");

    // Decoding, validation.
    assert_eq!(
        T::from_bytes(&bytes),
        Ok(x),
        "{what}: IntersticeType::decode"
    );
    assert_eq!(
        Value::decode_exact(&ty, &bytes),
        Ok(x.value()),
        "{what}: Value::decode"
    );
    ty.validate_exact(&bytes)
        .unwrap_or_else(|e| panic!("{what}: validate: {e}"));
    if let Some(i) = w.as_i128() {
        assert_eq!(Reader::new(&bytes).i128(), Ok(i), "{what}: Reader::i128");
    }
    if !w.neg {
        assert_eq!(
            Reader::new(&bytes).u128(),
            Ok(w.arg),
            "{what}: Reader::u128"
        );
    }

    // Every other encoding of the same value is refused, by every reader.
    for alt in alternative_encodings(w) {
        assert!(T::from_bytes(&alt).is_err(), "{what}: accepted {alt:02x?}");
        assert!(
            ty.validate_exact(&alt).is_err(),
            "{what}: validated {alt:02x?}"
        );
        assert!(
            Value::decode_exact(&ty, &alt).is_err(),
            "{what}: Value decoded {alt:02x?}"
        );
        assert!(
            Reader::new(&alt).i128().is_err() && Reader::new(&alt).u128().is_err(),
            "{what}: a 128-bit reader accepted {alt:02x?}"
        );
    }

    // JSON out: a number up to 2^53 - 1 in magnitude, a string beyond.
    let j = x.value().to_json(&ty);
    if w.magnitude() <= MAX_JSON_SAFE_INT {
        assert!(j.is_number(), "{what}: to_json gave {j}");
        assert_eq!(j.to_string(), w.decimal(), "{what}: to_json");
    } else {
        assert_eq!(j, Json::String(w.decimal()), "{what}: to_json");
    }
    // JSON in: what it printed, through JSON text too, and a decimal string.
    assert_eq!(
        Value::from_json(&ty, &j),
        Ok(x.value()),
        "{what}: from_json"
    );
    let reparsed: Json = serde_json::from_str(&j.to_string()).expect("JSON text");
    assert_eq!(
        Value::from_json(&ty, &reparsed),
        Ok(x.value()),
        "{what}: JSON text"
    );
    assert_eq!(
        Value::from_json(&ty, &Json::String(w.decimal())),
        Ok(x.value()),
        "{what}: decimal string"
    );
    // A JSON number token: exact within 64 bits; beyond, serde_json reads
    // a float, which is refused with a hint to use a string.
    let token: Json = serde_json::from_str(&json_number_text(w)).expect("JSON number");
    let fits_64 = i64::try_from(w.as_i128().unwrap_or(i128::MAX)).is_ok()
        || (!w.neg && u64::try_from(w.arg).is_ok());
    match Value::from_json(&ty, &token) {
        Ok(v) => {
            assert!(fits_64, "{what}: from_json took a float {token}");
            assert_eq!(v, x.value(), "{what}: JSON number");
        }
        Err(e) => {
            assert!(!fits_64, "{what}: JSON number refused: {e}");
            assert!(e.to_string().contains("decimal"), "{what}: {e}");
        }
    }

    // Coercion from the widest values.
    let wide_value = match w.as_i128() {
        Some(i) => Value::I128(i),
        None => Value::U128(w.arg),
    };
    assert_eq!(wide_value.coerce(&ty), Ok(x.value()), "{what}: coerce");
}

fn check_out_of_range<T: TestInt>(w: Wide) {
    let ty = T::ty();
    let what = format!("{} {} (out of range)", T::NAME, w.decimal());
    let bytes = spec_encoding(w);
    assert!(T::from_bytes(&bytes).is_err(), "{what}: decoded");
    assert!(ty.validate_exact(&bytes).is_err(), "{what}: validated");
    assert!(
        Value::decode_exact(&ty, &bytes).is_err(),
        "{what}: Value decoded"
    );
    let e = Value::from_json(&ty, &Json::String(w.decimal()))
        .expect_err(&what)
        .to_string();
    assert!(
        e.contains("does not fit") && e.contains(T::NAME),
        "{what}: {e}"
    );
    let wide_value = match w.as_i128() {
        Some(i) => Value::I128(i),
        None => Value::U128(w.arg),
    };
    let e = wide_value.coerce(&ty).expect_err(&what).to_string();
    assert!(e.contains("does not fit"), "{what}: {e}");
}

fn check_wide<T: TestInt>(w: Wide) {
    match T::from_wide(w) {
        Some(x) => check_in_range(x),
        None => check_out_of_range::<T>(w),
    }
}

fn check_boundaries<T: TestInt>() {
    let mut keys: Vec<(Wide, Vec<u8>)> = Vec::new();
    let mut in_range = 0;
    for w in boundaries() {
        check_wide::<T>(w);
        if let Some(x) = T::from_wide(w) {
            in_range += 1;
            let mut key = Vec::new();
            T::ty()
                .encode_key(&mut Reader::new(&x.to_bytes()), &mut key)
                .unwrap_or_else(|e| panic!("{} {x}: key: {e}", T::NAME));
            keys.push((w, key));
        }
    }
    assert!(in_range > 8, "{}: too few boundary values", T::NAME);
    // `boundaries()` is in numeric order, so keys must be strictly ascending.
    for pair in keys.windows(2) {
        assert!(
            pair[0].1 < pair[1].1,
            "{}: key of {} is not below key of {}",
            T::NAME,
            pair[0].0.decimal(),
            pair[1].0.decimal()
        );
    }
}

#[test]
fn boundaries_u8() {
    check_boundaries::<u8>();
}
#[test]
fn boundaries_u16() {
    check_boundaries::<u16>();
}
#[test]
fn boundaries_u32() {
    check_boundaries::<u32>();
}
#[test]
fn boundaries_u64() {
    check_boundaries::<u64>();
}
#[test]
fn boundaries_u128() {
    check_boundaries::<u128>();
}
#[test]
fn boundaries_i8() {
    check_boundaries::<i8>();
}
#[test]
fn boundaries_i16() {
    check_boundaries::<i16>();
}
#[test]
fn boundaries_i32() {
    check_boundaries::<i32>();
}
#[test]
fn boundaries_i64() {
    check_boundaries::<i64>();
}
#[test]
fn boundaries_i128() {
    check_boundaries::<i128>();
}

/// The case: `i128` values in [2^63, 2^64 − 1] and
/// [−2^64, −2^63 − 1] are plain CBOR integers, read back as written.
#[test]
fn i128_beyond_i64_but_within_64_bit_arguments() {
    for v in [
        1i128 << 63,
        (1 << 63) + 1,
        (1 << 64) - 1,
        -(1 << 63) - 1,
        -(1 << 63) - 2,
        -(1 << 64),
    ] {
        let b = v.to_bytes();
        assert_eq!(b.len(), 9, "{v}: {b:02x?}");
        assert_eq!(i128::from_bytes(&b), Ok(v), "{v}");
    }
    assert_eq!((1i128 << 63).to_bytes(), [0x1b, 0x80, 0, 0, 0, 0, 0, 0, 0]);
    // What the old encoder wrote for 2^63, an 8-byte bignum, stays refused
    // (the old decoder refused it too, so nothing valid was ever stored so).
    let old = [0xc2, 0x48, 0x80, 0, 0, 0, 0, 0, 0, 0];
    let e = i128::from_bytes(&old).unwrap_err();
    assert!(e.to_string().contains("fits a plain integer"), "{e}");
}

fn hex(s: &str) -> Vec<u8> {
    s.split_whitespace()
        .map(|b| u8::from_str_radix(b, 16).expect("hex byte"))
        .collect()
}

/// The worked examples of `docs/ABI.md` §2.1, byte for byte. Keep the two
/// in step.
#[test]
fn abi_md_worked_examples() {
    fn enc<T: IntersticeType>(v: T) -> Vec<u8> {
        v.to_bytes()
    }
    let examples: Vec<(&str, Vec<u8>, &str)> = vec![
        ("u8 0", enc(0u8), "00"),
        ("u8 23", enc(23u8), "17"),
        ("u8 24", enc(24u8), "18 18"),
        ("u16 256", enc(256u16), "19 01 00"),
        ("u32 65536", enc(65536u32), "1a 00 01 00 00"),
        ("u64 2^32", enc(1u64 << 32), "1b 00 00 00 01 00 00 00 00"),
        ("u64 2^64-1", enc(u64::MAX), "1b ff ff ff ff ff ff ff ff"),
        ("i8 -1", enc(-1i8), "20"),
        ("i8 -24", enc(-24i8), "37"),
        ("i8 -25", enc(-25i8), "38 18"),
        ("i64 -2^63", enc(i64::MIN), "3b 7f ff ff ff ff ff ff ff"),
        ("i128 2^63", enc(1i128 << 63), "1b 80 00 00 00 00 00 00 00"),
        (
            "i128 2^64-1",
            enc((1i128 << 64) - 1),
            "1b ff ff ff ff ff ff ff ff",
        ),
        (
            "i128 -2^63-1",
            enc(-(1i128 << 63) - 1),
            "3b 80 00 00 00 00 00 00 00",
        ),
        (
            "i128 -2^64",
            enc(-(1i128 << 64)),
            "3b ff ff ff ff ff ff ff ff",
        ),
        (
            "u128 2^64",
            enc(1u128 << 64),
            "c2 49 01 00 00 00 00 00 00 00 00",
        ),
        (
            "i128 2^64",
            enc(1i128 << 64),
            "c2 49 01 00 00 00 00 00 00 00 00",
        ),
        (
            "i128 -2^64-1",
            enc(-(1i128 << 64) - 1),
            "c3 49 01 00 00 00 00 00 00 00 00",
        ),
        (
            "u128 2^128-1",
            enc(u128::MAX),
            "c2 50 ff ff ff ff ff ff ff ff ff ff ff ff ff ff ff ff",
        ),
        (
            "i128 2^127-1",
            enc(i128::MAX),
            "c2 50 7f ff ff ff ff ff ff ff ff ff ff ff ff ff ff ff",
        ),
        (
            "i128 -2^127",
            enc(i128::MIN),
            "c3 50 7f ff ff ff ff ff ff ff ff ff ff ff ff ff ff ff",
        ),
    ];
    for (what, got, want) in examples {
        assert_eq!(got, hex(want), "{what}");
    }

    // The refused examples.
    let refused: Vec<(&str, Type, &str)> = vec![
        ("5 with a 1-byte head", Type::U8, "18 05"),
        ("255 with a 2-byte head", Type::U16, "19 00 ff"),
        (
            "2^63 as an 8-byte bignum",
            Type::I128,
            "c2 48 80 00 00 00 00 00 00 00",
        ),
        ("0 as an empty bignum", Type::U128, "c2 40"),
        (
            "2^64 with a leading zero byte",
            Type::U128,
            "c2 4a 00 01 00 00 00 00 00 00 00 00",
        ),
        (
            "2^64 under a 2-byte tag head",
            Type::U128,
            "d8 02 49 01 00 00 00 00 00 00 00 00",
        ),
        (
            "-2^127-1 for i128",
            Type::I128,
            "c3 50 80 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00",
        ),
        (
            "2^127 for i128",
            Type::I128,
            "c2 50 80 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00",
        ),
        ("-1 for u128", Type::U128, "20"),
        ("256 for u8", Type::U8, "19 01 00"),
        ("-129 for i8", Type::I8, "38 80"),
    ];
    for (what, ty, bytes) in refused {
        assert!(ty.validate_exact(&hex(bytes)).is_err(), "{what}: validated");
        assert!(
            Value::decode_exact(&ty, &hex(bytes)).is_err(),
            "{what}: decoded"
        );
    }
}

/// An integer near a power of two: 2^k + d, or -(2^k) + d.
fn near_power() -> impl Strategy<Value = Wide> {
    (0u32..128, -3i64..=3, any::<bool>()).prop_filter_map("outside the domain", |(k, d, neg)| {
        let base = 1u128 << k;
        let arg = if d < 0 {
            base.checked_sub(d.unsigned_abs() as u128)?
        } else {
            base.checked_add(d as u128)?
        };
        if neg {
            Wide::neg(arg)
        } else {
            Some(Wide::pos(arg))
        }
    })
}

fn any_wide() -> impl Strategy<Value = Wide> {
    prop_oneof![
        any::<u128>().prop_map(Wide::pos),
        any::<i128>().prop_map(TestInt::wide),
        near_power(),
    ]
}

/// Byte strings shaped like integers: a major 0 / 1 head with any
/// additional-information value and some argument bytes, or a bignum tag
/// (one- or two-byte head) over a byte string of 0..=17 bytes (shortest or
/// 1-byte length head).
fn int_like_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        (0u8..2, 0u8..32, prop::collection::vec(any::<u8>(), 0..9)).prop_map(|(m, info, rest)| {
            let mut v = vec![(m << 5) | info];
            v.extend(rest);
            v
        }),
        (
            prop_oneof![Just(vec![0xc2]), Just(vec![0xc3]), Just(vec![0xd8, 0x02])],
            any::<bool>(),
            prop::collection::vec(prop_oneof![Just(0u8), Just(0xffu8), any::<u8>()], 0..18),
        )
            .prop_map(|(tag, long_len, mag)| {
                let mut v = tag;
                if long_len {
                    v.extend([0x58, mag.len() as u8]);
                } else {
                    v.push(0x40 | mag.len() as u8);
                }
                v.extend(mag);
                v
            }),
    ]
}

/// Whatever decodes re-encodes to exactly the input: one accepted
/// encoding per value. The typed codec, `Value` and validation agree.
fn check_unique<T: TestInt>(bytes: &[u8]) {
    let ty = T::ty();
    let typed = T::from_bytes(bytes);
    assert_eq!(
        typed.is_ok(),
        ty.validate_exact(bytes).is_ok(),
        "{}: codec and validate disagree on {bytes:02x?}",
        T::NAME
    );
    assert_eq!(
        typed.as_ref().ok().map(|x| x.value()),
        Value::decode_exact(&ty, bytes).ok(),
        "{}: codec and Value disagree on {bytes:02x?}",
        T::NAME
    );
    if let Ok(x) = typed {
        assert_eq!(x.to_bytes(), bytes, "{} {x}: a second encoding", T::NAME);
        assert_eq!(
            spec_encoding(x.wide()),
            bytes,
            "{} {x}: not the spec's",
            T::NAME
        );
    }
}

macro_rules! for_all_types {
    ($f:ident, $arg:expr) => {{
        $f::<u8>($arg);
        $f::<u16>($arg);
        $f::<u32>($arg);
        $f::<u64>($arg);
        $f::<u128>($arg);
        $f::<i8>($arg);
        $f::<i16>($arg);
        $f::<i32>($arg);
        $f::<i64>($arg);
        $f::<i128>($arg);
    }};
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn random_values_every_type(w in any_wide()) {
        for_all_types!(check_wide, w);
    }

    #[test]
    fn random_native_values(
        a in any::<u8>(), b in any::<u16>(), c in any::<u32>(), d in any::<u64>(),
        e in any::<u128>(), f in any::<i8>(), g in any::<i16>(), h in any::<i32>(),
        i in any::<i64>(), j in any::<i128>(),
    ) {
        check_in_range(a);
        check_in_range(b);
        check_in_range(c);
        check_in_range(d);
        check_in_range(e);
        check_in_range(f);
        check_in_range(g);
        check_in_range(h);
        check_in_range(i);
        check_in_range(j);
    }

    #[test]
    fn one_encoding_per_value(bytes in int_like_bytes()) {
        for_all_types!(check_unique, &bytes);
    }

    #[test]
    fn key_order_matches_value_order(a in any::<i128>(), b in any::<i128>()) {
        let key = |v: i128| {
            let mut k = Vec::new();
            Type::I128.encode_key(&mut Reader::new(&v.to_bytes()), &mut k).unwrap();
            k
        };
        prop_assert_eq!(a.cmp(&b), key(a).cmp(&key(b)));
    }
}
