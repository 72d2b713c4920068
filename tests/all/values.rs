//! Tests: values through the real ABI, with the `t_values` guest module.
//!
//! - Every integer width at 0, ±(2^k − 1), ±2^k and ±2^k + 1 for every k up
//!   to its width (and 23/24, the CBOR head boundary), echoed by the guest:
//!   passed as `Value`s through `Runtime::read`, and as JSON (decimal
//!   strings, and JSON numbers where they are exact) through
//!   `Runtime::call_json`, as the CLI passes them; the JSON printed back is
//!   a number up to 2^53 − 1 and a decimal string beyond.
//! - The same values stored in table columns by one transaction, read back
//!   in it, by a read reducer, and again after a restart (log replay).
//! - `i128`/`u128` values the guest computes (`1 << k`, `-(1 << k)`, …) and
//!   encodes itself, as keys and columns, in key order.
//! - The commands through the `interstice` binary.
//! - Floats: the non-finite spellings accepted as JSON arguments.
//! - Argument errors number arguments from 1, with the parameter name, in
//!   the runtime's messages (`call`, `read`, `call_json`, `call_encoded`)
//!   and the CLI's.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use interstice_abi::cbor::Writer;
use interstice_actors::{Runtime, RuntimeError, Value};
use serde_json::{json, Value as Json};

use crate::support::{
    cli_call, expect_ok, interstice, open, open_with, stderr_of, tempdir, wasm_path,
};

const M: &str = "t_values";

/// An integer of any width: `Neg` is below zero, `Pos` zero or above.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Int {
    Neg(i128),
    Pos(u128),
}

impl Int {
    fn decimal(self) -> String {
        match self {
            Int::Neg(v) => v.to_string(),
            Int::Pos(v) => v.to_string(),
        }
    }
    fn magnitude(self) -> u128 {
        match self {
            Int::Neg(v) => v.unsigned_abs(),
            Int::Pos(v) => v,
        }
    }
}

/// An integer type of the ABI.
#[derive(Debug, Clone, Copy)]
struct IntTy {
    name: &'static str,
    bits: u32,
    signed: bool,
}

const INT_TYPES: [IntTy; 10] = [
    IntTy {
        name: "u8",
        bits: 8,
        signed: false,
    },
    IntTy {
        name: "u16",
        bits: 16,
        signed: false,
    },
    IntTy {
        name: "u32",
        bits: 32,
        signed: false,
    },
    IntTy {
        name: "u64",
        bits: 64,
        signed: false,
    },
    IntTy {
        name: "u128",
        bits: 128,
        signed: false,
    },
    IntTy {
        name: "i8",
        bits: 8,
        signed: true,
    },
    IntTy {
        name: "i16",
        bits: 16,
        signed: true,
    },
    IntTy {
        name: "i32",
        bits: 32,
        signed: true,
    },
    IntTy {
        name: "i64",
        bits: 64,
        signed: true,
    },
    IntTy {
        name: "i128",
        bits: 128,
        signed: true,
    },
];

impl IntTy {
    fn contains(self, v: Int) -> bool {
        match (self.signed, v) {
            (false, Int::Neg(_)) => false,
            (false, Int::Pos(u)) => self.bits == 128 || u >> self.bits == 0,
            (true, Int::Pos(u)) => u < 1u128 << (self.bits - 1),
            (true, Int::Neg(i)) => i.unsigned_abs() <= 1u128 << (self.bits - 1),
        }
    }

    /// 0, 23, 24, 2^k − 1, 2^k, 2^k + 1 and their negations (2^k − 1 is
    /// `−(2^k) + 1`), for every k up to the width; only values in range.
    fn boundaries(self) -> Vec<Int> {
        let mut set = BTreeSet::from([Int::Pos(0), Int::Pos(23), Int::Pos(24)]);
        for k in 0..=self.bits.min(127) {
            let p = 1u128 << k;
            for m in [p - 1, p, p + 1] {
                set.insert(Int::Pos(m));
                if m > 0 && m <= 1 << 127 {
                    set.insert(Int::Neg((m as i128).wrapping_neg()));
                }
            }
        }
        if self.bits == 128 {
            set.insert(Int::Pos(u128::MAX));
            set.insert(Int::Pos(u128::MAX - 1));
        }
        set.into_iter().filter(|v| self.contains(*v)).collect()
    }

    /// The typed value (`v` must be in range).
    fn value(self, v: Int) -> Value {
        let i = match v {
            Int::Neg(i) => i,
            Int::Pos(u) if self.name == "u128" => return Value::U128(u),
            Int::Pos(u) => u as i128,
        };
        match self.name {
            "u8" => Value::U8(i as u8),
            "u16" => Value::U16(i as u16),
            "u32" => Value::U32(i as u32),
            "u64" => Value::U64(i as u64),
            "u128" => Value::U128(i as u128),
            "i8" => Value::I8(i as i8),
            "i16" => Value::I16(i as i16),
            "i32" => Value::I32(i as i32),
            "i64" => Value::I64(i as i64),
            "i128" => Value::I128(i),
            other => unreachable!("{other}"),
        }
    }

    fn echo(self) -> String {
        format!("echo_{}", self.name)
    }
}

/// The JSON the runtime prints for an integer: a number up to 2^53 − 1 in
/// magnitude, a decimal string beyond (`docs/ABI.md` §7).
fn expected_json(v: Int) -> Json {
    if v.magnitude() < 1 << 53 {
        serde_json::from_str(&v.decimal()).unwrap()
    } else {
        Json::String(v.decimal())
    }
}

/// Issue item 15: every integer width at every boundary crosses the ABI
/// and comes back, as a `Value` and as JSON. Before the fix `i128` values in
/// [2^63, 2^64 − 1] and [−2^64, −2^63 − 1] failed in the guest (the host
/// wrote an 8-byte bignum the guest's decoder refuses), a `u128` above
/// `i128::MAX` was refused as a JSON string, and printing `i128::MIN` as
/// JSON overflowed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_integer_boundary_echoes() {
    let dir = tempdir();
    let rt = open_with(dir.path(), &[M]).await;
    for ty in INT_TYPES {
        let echo = ty.echo();
        for v in ty.boundaries() {
            let what = format!("{} {}", ty.name, v.decimal());
            let typed = ty.value(v);
            // As a Value, through the Runtime API.
            let out = rt
                .read(M, &echo, vec![typed.clone()])
                .await
                .unwrap_or_else(|e| panic!("{what}: {e}"));
            assert_eq!(out.value, typed, "{what}");
            assert_eq!(out.to_json(), expected_json(v), "{what}: printed");
            // As JSON, as the CLI and `run` pass it: a decimal string…
            let out = rt
                .call_json(M, &echo, &[Json::String(v.decimal())])
                .await
                .unwrap_or_else(|e| panic!("{what} (JSON string): {e}"));
            assert_eq!(out.value, typed, "{what} (JSON string)");
            // …what the runtime printed…
            let out = rt
                .call_json(M, &echo, &[expected_json(v)])
                .await
                .unwrap_or_else(|e| panic!("{what} (printed JSON): {e}"));
            assert_eq!(out.value, typed, "{what} (printed JSON)");
            // …and a JSON number token when it is exact (within 64 bits).
            let token: Json = serde_json::from_str(&v.decimal()).unwrap();
            if token.is_i64() || token.is_u64() {
                let out = rt
                    .call_json(M, &echo, &[token])
                    .await
                    .unwrap_or_else(|e| panic!("{what} (JSON number): {e}"));
                assert_eq!(out.value, typed, "{what} (JSON number)");
            }
        }
    }
    rt.shutdown().await.unwrap();
}

/// One past each end of each integer type is refused with a message that
/// names the argument and the type, and never reaches the guest.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_range_integers_are_refused() {
    let dir = tempdir();
    let rt = open_with(dir.path(), &[M]).await;
    for ty in INT_TYPES {
        let (low, high) = if ty.signed {
            (
                format!("-{}", (1u128 << (ty.bits - 1)) + 1),
                (1u128 << (ty.bits - 1)).to_string(),
            )
        } else if ty.bits == 128 {
            (
                "-1".into(),
                "340282366920938463463374607431768211456".into(),
            )
        } else {
            ("-1".into(), (1u128 << ty.bits).to_string())
        };
        for bad in [low, high] {
            let e = rt
                .call_json(M, &ty.echo(), &[Json::String(bad.clone())])
                .await
                .expect_err(&bad);
            let msg = e.to_string();
            assert!(
                matches!(e, RuntimeError::ArgType { index: 0, .. }),
                "{} {bad}: {e:?}",
                ty.name
            );
            assert!(
                msg.contains("argument 1 (`v`)") && msg.contains(ty.name),
                "{} {bad}: {msg}",
                ty.name
            );
        }
    }
    rt.shutdown().await.unwrap();
}

/// The exact values of issue item 15, through a write reducer (arguments
/// and result logged) and through the guest's own encoding as table keys
/// and columns: `store_shifts` stores `1 << k`, `-(1 << k)` and
/// `-(1 << k) - 1` for every k, read back in the transaction, by key and in
/// key order, and after a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guest_computed_i128_values_are_stored_and_read_back() {
    let dir = tempdir();
    let rt = open_with(dir.path(), &[M]).await;
    for v in [
        1i128 << 63,
        (1 << 64) - 1,
        -(1 << 63) - 1,
        -(1 << 64),
        (1 << 64),
        -(1 << 64) - 1,
        i128::MAX,
        i128::MIN,
    ] {
        let out = rt
            .call(M, "echo_write_i128", vec![Value::I128(v)])
            .await
            .unwrap_or_else(|e| panic!("echo_write_i128 {v}: {e}"));
        assert_eq!(out.value, Value::I128(v));
    }

    let ks: Vec<Value> = (0..128).map(Value::U32).collect();
    let out = rt
        .call(M, "store_shifts", vec![Value::Vec(ks.clone())])
        .await
        .unwrap_or_else(|e| panic!("store_shifts: {e}"));
    // A key produced again by a later k keeps the row of its first k.
    let mut first_k = BTreeMap::new();
    let Value::Vec(rows) = out.value else {
        panic!("store_shifts returned {:?}", out.value)
    };
    let mut rows = rows.into_iter();
    for k in 0..128u32 {
        let keys = if k == 127 {
            vec![i128::MIN]
        } else {
            let p = 1i128 << k;
            vec![p, -p, -p - 1]
        };
        for key in keys {
            let row = rows.next().expect("a row per value");
            let k0 = *first_k.entry(key).or_insert(k);
            assert_eq!(
                row,
                Value::Struct(vec![
                    Value::I128(key),
                    Value::I128(key),
                    Value::U128(1 << k0)
                ]),
                "k = {k}"
            );
        }
    }
    assert!(rows.next().is_none(), "one row per value");
    let expected_keys: BTreeSet<i128> = first_k.keys().copied().collect();
    let expected: Vec<Value> = expected_keys.iter().map(|k| Value::I128(*k)).collect();
    let check = |rt: Runtime, expected: Vec<Value>| async move {
        let keys = rt.read(M, "wide_keys", vec![]).await.unwrap();
        assert_eq!(keys.value, Value::Vec(expected), "keys in numeric order");
        let row = rt
            .read(M, "wide_get", vec![Value::I128(1 << 63)])
            .await
            .unwrap();
        assert_eq!(
            row.value,
            Value::Option(Some(Box::new(Value::Struct(vec![
                Value::I128(1 << 63),
                Value::I128(1 << 63),
                Value::U128(1 << 63)
            ]))))
        );
        let row = rt
            .call_json(M, "wide_get", &[json!("-18446744073709551616")])
            .await
            .unwrap();
        assert_eq!(
            row.to_json(),
            json!({"key": "-18446744073709551616", "signed": "-18446744073709551616",
                   "unsigned": "18446744073709551616"})
        );
    };
    check(rt.clone(), expected.clone()).await;
    rt.shutdown().await.unwrap();

    // After a restart: the log replays the rows.
    let rt = open(dir.path()).await;
    check(rt.clone(), expected).await;
    rt.shutdown().await.unwrap();
}

/// A column of every numeric type holding every boundary value of its
/// type, written in one transaction and read back in it, by a read reducer,
/// and after a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boundary_values_in_table_columns() {
    let dir = tempdir();
    let rt = open_with(dir.path(), &[M]).await;
    let columns: Vec<Vec<Value>> = INT_TYPES
        .iter()
        .map(|ty| ty.boundaries().into_iter().map(|v| ty.value(v)).collect())
        .collect();
    let f32s = [
        0.0f32,
        -0.0,
        1.5,
        f32::MIN_POSITIVE / 2.0,
        f32::MAX,
        f32::MIN,
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::NAN,
    ];
    let f64s = [
        0.0f64,
        -0.0,
        0.1,
        f64::MIN_POSITIVE / 2.0,
        f64::MAX,
        f64::MIN,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::NAN,
    ];
    let n = columns.iter().map(Vec::len).max().unwrap();
    let row = |i: usize, id: u64| {
        let mut fields = vec![Value::U64(id)];
        fields.extend(columns.iter().map(|c| c[i % c.len()].clone()));
        fields.push(Value::F32(f32s[i % f32s.len()]));
        fields.push(Value::F64(f64s[i % f64s.len()]));
        Value::Struct(fields)
    };
    let input: Vec<Value> = (0..n).map(|i| row(i, 0)).collect();
    let expected: Vec<Value> = (0..n).map(|i| row(i, i as u64 + 1)).collect();
    // Floats compare by bits (NaN != NaN as a Value).
    let bits = |v: &Value| format!("{:?}", v.to_bytes());
    let same = |got: &Value, what: &str| {
        let Value::Vec(got) = got else {
            panic!("{what}: {got:?}")
        };
        assert_eq!(got.len(), expected.len(), "{what}: row count");
        for (g, e) in got.iter().zip(&expected) {
            assert_eq!(bits(g), bits(e), "{what}: {g:?} != {e:?}");
        }
    };
    let out = rt
        .call(M, "store_rows", vec![Value::Vec(input)])
        .await
        .unwrap_or_else(|e| panic!("store_rows: {e}"));
    same(&out.value, "read back in the transaction");
    same(
        &rt.read(M, "load_rows", vec![]).await.unwrap().value,
        "read reducer",
    );
    rt.shutdown().await.unwrap();
    let rt = open(dir.path()).await;
    same(
        &rt.read(M, "load_rows", vec![]).await.unwrap().value,
        "after a restart",
    );
    rt.shutdown().await.unwrap();
}

/// Loads `t_values` into `dir` with the `interstice` binary.
fn cli_load(dir: &Path) {
    let out = interstice([
        "load".as_ref(),
        "--data-dir".as_ref(),
        dir.as_os_str(),
        wasm_path(M).as_os_str(),
    ]);
    expect_ok(&out, "load t_values");
}

/// Issue items 15 and 16 as a user types them: `interstice call … echo_i128
/// '"9223372036854775808"'` and friends, and `"Infinity"`/`"nan"` for an
/// `f64`.
#[test]
fn cli_echoes_wide_integers_and_non_finite_floats() {
    let d = tempdir();
    let dir = d.path();
    cli_load(dir);
    for (reducer, arg, printed) in [
        (
            "echo_i128",
            "\"9223372036854775808\"",
            "\"9223372036854775808\"",
        ),
        (
            "echo_i128",
            "\"-18446744073709551616\"",
            "\"-18446744073709551616\"",
        ),
        (
            "echo_u128",
            "\"340282366920938463463374607431768211455\"",
            "\"340282366920938463463374607431768211455\"",
        ),
        (
            "echo_u64",
            "18446744073709551615",
            "\"18446744073709551615\"",
        ),
        ("echo_f64", "\"Infinity\"", "\"inf\""),
        ("echo_f64", "\"nan\"", "\"NaN\""),
        ("echo_f32", "\"-INFINITY\"", "\"-inf\""),
    ] {
        let out = cli_call(dir, M, reducer, &[arg]);
        assert_eq!(expect_ok(&out, &format!("{reducer} {arg}")), printed);
    }
}

/// Issue item 16: the documented spellings of the non-finite floats are
/// accepted for `f64` and `f32` arguments, any capitalisation, and printed
/// as `"NaN"`, `"inf"`, `"-inf"`; anything else is refused naming the
/// argument. Before, only `"NaN"`, `"inf"` and `"-inf"` were.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_finite_float_spellings() {
    let dir = tempdir();
    let rt = open_with(dir.path(), &[M]).await;
    let cases = [
        ("NaN", "NaN"),
        ("nan", "NaN"),
        ("NAN", "NaN"),
        ("inf", "inf"),
        ("Inf", "inf"),
        ("+inf", "inf"),
        ("Infinity", "inf"),
        ("infinity", "inf"),
        ("+Infinity", "inf"),
        ("-inf", "-inf"),
        ("-Infinity", "-inf"),
        ("-INFINITY", "-inf"),
    ];
    for reducer in ["echo_f64", "echo_f32"] {
        for (given, printed) in cases {
            let out = rt
                .call_json(M, reducer, &[json!(given)])
                .await
                .unwrap_or_else(|e| panic!("{reducer} {given}: {e}"));
            assert_eq!(out.to_json(), json!(printed), "{reducer} {given}");
        }
        for bad in ["-nan", "infinit", "1.5", " inf"] {
            let e = rt
                .call_json(M, reducer, &[json!(bad)])
                .await
                .expect_err(bad);
            let msg = e.to_string();
            assert!(msg.contains("argument 1 (`v`)"), "{bad}: {msg}");
            assert!(msg.contains("\"Infinity\""), "{bad}: {msg}");
        }
    }
    // Finite values print as numbers, exactly.
    let out = rt.call_json(M, "echo_f64", &[json!(0.1)]).await.unwrap();
    assert_eq!(out.to_json(), json!(0.1));
    rt.shutdown().await.unwrap();
}

/// Issue item 16: every argument error numbers arguments from 1 and names
/// the parameter: `Runtime::read`/`call`, `call_json` and `call_encoded`
/// alike (before: 0-based in the runtime, 1-based in the CLI, and
/// `call_encoded` always blamed argument 0).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn argument_errors_count_from_one_in_the_runtime() {
    let dir = tempdir();
    let rt = open_with(dir.path(), &[M]).await;
    let want = "t_values.pair: argument 2 (`amount`)";
    let e = rt
        .read(M, "pair", vec![Value::U8(1), Value::String("x".into())])
        .await
        .unwrap_err();
    assert!(matches!(e, RuntimeError::ArgType { index: 1, .. }), "{e:?}");
    assert!(e.to_string().starts_with(want), "{e}");

    let e = rt
        .call_json(M, "pair", &[json!(1), json!("lots")])
        .await
        .unwrap_err();
    assert!(e.to_string().starts_with(want), "{e}");

    let e = rt
        .call_json(M, "pair", &[json!(300), json!(1)])
        .await
        .unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.starts_with("t_values.pair: argument 1 (`first`)")
            && msg.contains("300 does not fit u8"),
        "{msg}"
    );

    // Pre-encoded: the failing argument is found and named.
    let mut w = Writer::new();
    w.array(2);
    w.u64(1);
    w.str("x");
    let e = rt
        .call_encoded(M, "pair_write", w.into_vec())
        .await
        .unwrap_err();
    assert!(matches!(e, RuntimeError::ArgType { index: 1, .. }), "{e:?}");
    assert!(
        e.to_string()
            .starts_with("t_values.pair_write: argument 2 (`amount`)"),
        "{e}"
    );
    let mut w = Writer::new();
    w.array(3);
    w.u64(1);
    w.u64(2);
    w.u64(3);
    let e = rt
        .call_encoded(M, "pair_write", w.into_vec())
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            RuntimeError::ArgCount {
                expected: 2,
                got: 3,
                ..
            }
        ),
        "{e:?}"
    );
    // Not an argument array at all: no argument to blame.
    let e = rt
        .call_encoded(M, "pair_write", vec![0x01])
        .await
        .unwrap_err();
    assert!(matches!(e, RuntimeError::Abi(_)), "{e:?}");
    // A good pre-encoded call still works.
    let mut w = Writer::new();
    w.array(2);
    w.u64(7);
    w.i128(1 << 63);
    let (_, out) = rt
        .call_encoded(M, "pair_write", w.into_vec())
        .await
        .unwrap();
    let mut want = Writer::new();
    want.array(2);
    want.u64(7);
    want.i128(1 << 63);
    assert_eq!(out, want.into_vec());
    rt.shutdown().await.unwrap();
}

/// Issue item 16 through the binary: a non-JSON argument and a mistyped one
/// are both "argument 2 (`amount`)".
#[test]
fn argument_errors_count_from_one_in_the_cli() {
    let d = tempdir();
    let dir = d.path();
    cli_load(dir);
    let out = cli_call(dir, M, "pair", &["1", "lots"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr_of(&out));
    let err = stderr_of(&out);
    assert!(
        err.contains("argument 2 (`amount`) is not JSON: `lots`"),
        "{err}"
    );
    assert!(err.contains("strings need quotes"), "{err}");

    let out = cli_call(dir, M, "pair", &["1", "\"x\""]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr_of(&out));
    let err = stderr_of(&out);
    assert!(err.contains("argument 2 (`amount`)"), "{err}");

    let out = cli_call(dir, M, "pair", &["1", "2"]);
    assert_eq!(expect_ok(&out, "pair 1 2"), "[1,2]");
}
