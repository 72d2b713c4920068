//! `f32` and `f64`: canonical CBOR (always full width, one NaN) and the
//! JSON forms of `docs/ABI.md` §7 — the accepted spellings of the
//! non-finite values, the output spelling, and round trips of special and
//! random values.

use interstice_abi::cbor::{CANONICAL_NAN_F32, CANONICAL_NAN_F64};
use interstice_abi::{IntersticeType, Type, Value};
use proptest::prelude::*;
use serde_json::{json, Value as Json};

fn from_json(ty: &Type, j: Json) -> Result<Value, String> {
    Value::from_json(ty, &j).map_err(|e| e.to_string())
}

fn as_f64(v: &Value) -> f64 {
    match *v {
        Value::F64(f) => f,
        Value::F32(f) => f as f64,
        ref other => panic!("not a float: {other:?}"),
    }
}

/// Every spelling in the documented set, for both float types.
#[test]
fn non_finite_spellings_are_accepted() {
    let nan = ["NaN", "nan", "NAN", "nAn"];
    let inf = [
        "inf",
        "Inf",
        "INF",
        "+inf",
        "infinity",
        "Infinity",
        "INFINITY",
        "+Infinity",
        "iNfInItY",
    ];
    let neg_inf = [
        "-inf",
        "-Inf",
        "-INF",
        "-infinity",
        "-Infinity",
        "-INFINITY",
    ];
    for ty in [Type::F32, Type::F64] {
        for s in nan {
            let v = from_json(&ty, json!(s)).unwrap_or_else(|e| panic!("{s}: {e}"));
            assert!(as_f64(&v).is_nan(), "{s}");
        }
        for s in inf {
            let v = from_json(&ty, json!(s)).unwrap_or_else(|e| panic!("{s}: {e}"));
            assert_eq!(as_f64(&v), f64::INFINITY, "{s}");
        }
        for s in neg_inf {
            let v = from_json(&ty, json!(s)).unwrap_or_else(|e| panic!("{s}: {e}"));
            assert_eq!(as_f64(&v), f64::NEG_INFINITY, "{s}");
        }
    }
}

/// Anything else is refused with a message that lists the spellings.
#[test]
fn other_strings_are_refused() {
    for s in [
        "",
        "-nan",
        "+NaN",
        "na",
        "infin",
        "infinit",
        "Infinityy",
        " inf",
        "inf ",
        "--inf",
        "+-inf",
        "1.5",
        "0",
        "1e400",
        "∞",
        "null",
    ] {
        for ty in [Type::F32, Type::F64] {
            let e = from_json(&ty, json!(s)).expect_err(s);
            assert!(e.contains("\"Infinity\""), "{s}: {e}");
            assert!(e.contains(&ty.display_name()), "{s}: {e}");
        }
    }
    for j in [json!(null), json!(true), json!([1.0]), json!({"x": 1.0})] {
        assert!(from_json(&Type::F64, j.clone()).is_err(), "{j}");
    }
}

/// Output spelling is unchanged: `"NaN"`, `"inf"`, `"-inf"`; and what is
/// printed reads back.
#[test]
fn output_spelling_and_round_trip() {
    let cases: [(f64, Json); 3] = [
        (f64::NAN, json!("NaN")),
        (f64::INFINITY, json!("inf")),
        (f64::NEG_INFINITY, json!("-inf")),
    ];
    for (f, want) in cases {
        for (ty, v) in [
            (Type::F64, Value::F64(f)),
            (Type::F32, Value::F32(f as f32)),
        ] {
            let j = v.to_json(&ty);
            assert_eq!(j, want, "{f} as {}", ty.display_name());
            let back = Value::from_json(&ty, &j).unwrap();
            assert_eq!(as_f64(&back).to_bits(), as_f64(&v).to_bits(), "{f}");
        }
    }
}

/// A finite JSON number beyond the f32 range is refused for an `f32`
/// rather than silently becoming an infinity; one that rounds is rounded.
#[test]
fn f32_range() {
    let e = from_json(&Type::F32, json!(1e39)).unwrap_err();
    assert!(e.contains("out of range for f32"), "{e}");
    let e = from_json(&Type::F32, json!(-1e300)).unwrap_err();
    assert!(e.contains("out of range for f32"), "{e}");
    assert_eq!(
        from_json(&Type::F32, json!(f32::MAX as f64)),
        Ok(Value::F32(f32::MAX))
    );
    assert_eq!(from_json(&Type::F32, json!(0.1)), Ok(Value::F32(0.1)));
    assert_eq!(from_json(&Type::F64, json!(1e300)), Ok(Value::F64(1e300)));
}

/// The bits of a float value (an `f32`'s widened to 64).
fn bits(v: &Value) -> u64 {
    match *v {
        Value::F64(f) => f.to_bits(),
        Value::F32(f) => f.to_bits().into(),
        ref other => panic!("not a float: {other:?}"),
    }
}

/// Full width, one NaN, the typed codec and `Value` agree, and JSON reads
/// back as the same bits.
fn check_float(v: Value) {
    let (ty, head, len, nan, typed_bytes, typed_back): (_, _, _, u64, _, fn(&[u8]) -> u64) = match v
    {
        Value::F64(f) => (Type::F64, 0xfb, 9, CANONICAL_NAN_F64, f.to_bytes(), |b| {
            f64::from_bytes(b).unwrap().to_bits()
        }),
        Value::F32(f) => (
            Type::F32,
            0xfa,
            5,
            CANONICAL_NAN_F32.into(),
            f.to_bytes(),
            |b| f32::from_bytes(b).unwrap().to_bits().into(),
        ),
        ref other => panic!("not a float: {other:?}"),
    };
    let b = v.to_bytes();
    assert_eq!(b, typed_bytes, "{v:?}: codec and Value agree");
    assert_eq!((b.len(), b[0]), (len, head), "{v:?}: always full width");
    let want = if as_f64(&v).is_nan() { nan } else { bits(&v) };
    assert_eq!(typed_back(&b), want, "{v:?}");
    assert_eq!(bits(&Value::decode_exact(&ty, &b).unwrap()), want, "{v:?}");
    ty.validate_exact(&b).unwrap();
    let j = v.to_json(&ty);
    let text: Json = serde_json::from_str(&j.to_string()).unwrap();
    let back = Value::from_json(&ty, &text).unwrap();
    assert_eq!(back.to_bytes(), b, "{v:?}: JSON round trip via {j}");
}

#[test]
fn special_values_round_trip() {
    for f in [
        0.0,
        -0.0,
        1.0,
        -1.5,
        f64::MIN_POSITIVE,
        f64::MIN_POSITIVE / 4.0,
        f64::MAX,
        f64::MIN,
        f64::EPSILON,
        f64::NAN,
        -f64::NAN,
        f64::from_bits(0x7ff0_0000_0000_0001),
        f64::INFINITY,
        f64::NEG_INFINITY,
        9007199254740993.0,
    ] {
        check_float(Value::F64(f));
    }
    for f in [
        0.0,
        -0.0,
        0.1,
        f32::MIN_POSITIVE,
        f32::MIN_POSITIVE / 4.0,
        f32::MAX,
        f32::MIN,
        f32::NAN,
        f32::from_bits(0xffc0_0001),
        f32::INFINITY,
        f32::NEG_INFINITY,
    ] {
        check_float(Value::F32(f));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn random_f64(raw in any::<u64>()) {
        check_float(Value::F64(f64::from_bits(raw)));
    }

    #[test]
    fn random_f32(raw in any::<u32>()) {
        check_float(Value::F32(f32::from_bits(raw)));
    }
}
