//! JSON views of values, for the CLI and for embedders that speak JSON.
//!
//! The mapping (specified, with every type, in `docs/ABI.md` §7.1; the
//! TypeScript and JSON Schema exports of `interstice schema` describe it):
//! - `()` and `None` are `null`;
//! - integers are JSON integers or decimal strings on input; on output a
//!   number when its magnitude is at most 2^53 − 1 (exact in every JSON
//!   reader) and a decimal string otherwise, whatever its width;
//! - floats are numbers; the non-finite values are the strings `"NaN"`,
//!   `"inf"` and `"-inf"` on output, and on input `"NaN"`, `"inf"`,
//!   `"infinity"`, each with any capitalisation, the infinities with an
//!   optional `+` or `-` sign;
//! - strings are strings; bytes are arrays of numbers;
//! - `Vec` and tuples are arrays; structs are objects keyed by field name
//!   (arrays in field order are accepted too);
//! - enums are `"Variant"` when the variant has no fields, otherwise
//!   `{"Variant": [fields…]}` (or an object keyed by field name);
//! - objects print with their keys sorted by name (serde_json without
//!   `preserve_order`), not in column order.

use std::num::IntErrorKind;

use serde_json::{Map, Number, Value as Json};

use crate::types::{EnumType, Field, Type};
use crate::value::Value;
use crate::AbiError;

/// The largest magnitude printed as a JSON number: 2^53 − 1, the largest
/// integer every IEEE-754 double reader holds exactly.
const MAX_JSON_SAFE_INT: u128 = (1 << 53) - 1;

impl Value {
    /// Builds a value of type `ty` from JSON. The error names what was wrong.
    pub fn from_json(ty: &Type, j: &Json) -> Result<Value, AbiError> {
        value_from_json(ty, j).map_err(AbiError::Mismatch)
    }
}

/// [`Value::from_json`], with the message as a string (nested calls add the
/// field path in front).
fn value_from_json(ty: &Type, j: &Json) -> Result<Value, String> {
    let mismatch = || format!("expected {}, found JSON {}", ty.display_name(), short(j));
    match ty {
        Type::Unit => j.is_null().then_some(Value::Unit).ok_or_else(mismatch),
        Type::Bool => j.as_bool().map(Value::Bool).ok_or_else(mismatch),
        Type::F32 | Type::F64 => {
            let f = match j {
                Json::Number(n) => n.as_f64().ok_or_else(mismatch)?,
                Json::String(s) => non_finite(s).ok_or_else(|| {
                    format!(
                        "{}; a float is a JSON number or one of \"NaN\", \"inf\", \
                             \"-inf\", \"Infinity\", \"-Infinity\" (any case, \
                             infinities with an optional + or -)",
                        mismatch()
                    )
                })?,
                _ => return Err(mismatch()),
            };
            if *ty == Type::F32 {
                let narrow = f as f32;
                if narrow.is_infinite() && f.is_finite() {
                    return Err(format!("{f} is out of range for f32"));
                }
                Ok(Value::F32(narrow))
            } else {
                Ok(Value::F64(f))
            }
        }
        Type::String => j
            .as_str()
            .map(|s| Value::String(s.to_owned()))
            .ok_or_else(mismatch),
        Type::Bytes => {
            let arr = j.as_array().ok_or_else(mismatch)?;
            let bytes = arr
                .iter()
                .map(|b| {
                    b.as_u64()
                        .and_then(|b| u8::try_from(b).ok())
                        .ok_or_else(|| format!("byte out of range: {b}"))
                })
                .collect::<Result<_, _>>()?;
            Ok(Value::Bytes(bytes))
        }
        Type::Option(inner) => {
            if j.is_null() {
                Ok(Value::Option(None))
            } else {
                Ok(Value::Option(Some(Box::new(value_from_json(inner, j)?))))
            }
        }
        Type::Vec(inner) => {
            let arr = j.as_array().ok_or_else(mismatch)?;
            Ok(Value::Vec(
                arr.iter()
                    .enumerate()
                    .map(|(i, e)| value_from_json(inner, e).map_err(|m| format!("[{i}]: {m}")))
                    .collect::<Result<_, _>>()?,
            ))
        }
        Type::Tuple(ts) => {
            let arr = j.as_array().ok_or_else(mismatch)?;
            if arr.len() != ts.len() {
                return Err(format!(
                    "expected a tuple of {}, found {} items",
                    ts.len(),
                    arr.len()
                ));
            }
            Ok(Value::Tuple(
                ts.iter()
                    .zip(arr)
                    .map(|(t, e)| value_from_json(t, e))
                    .collect::<Result<_, _>>()?,
            ))
        }
        Type::Struct(s) => Ok(Value::Struct(fields_from_json(&s.name, &s.fields, j)?)),
        Type::Enum(e) => enum_from_json(e, j),
        Type::Named(n) => Err(format!("unresolved reference to type `{n}`")),
        // Every type not matched above is an integer type.
        int_ty => match json_int(j) {
            _ if !int_ty.is_integer() => unreachable!("{int_ty:?} is matched above"),
            Some(JsonInt::Signed(i)) => Value::I128(i).coerce_to(ty),
            Some(JsonInt::Unsigned(u)) => Value::U128(u).coerce_to(ty),
            Some(JsonInt::Overflow(digits)) => {
                Err(format!("{digits} does not fit {}", ty.display_name()))
            }
            None => Err(match float_int_hint(j) {
                Some(hint) => format!("{}; {hint}", mismatch()),
                None => mismatch(),
            }),
        },
    }
}

impl Value {
    /// Renders this value (of type `ty`) as JSON.
    pub fn to_json(&self, ty: &Type) -> Json {
        match (self, ty) {
            (Value::Unit, _) | (Value::Option(None), _) => Json::Null,
            (Value::Bool(b), _) => Json::Bool(*b),
            (Value::F32(f), _) => float_json(*f as f64),
            (Value::F64(f), _) => float_json(*f),
            (Value::String(s), _) => Json::String(s.clone()),
            (Value::Bytes(b), _) => Json::Array(b.iter().map(|b| Json::from(*b)).collect()),
            (Value::Option(Some(v)), Type::Option(inner)) => v.to_json(inner),
            (Value::Vec(vs), Type::Vec(inner)) => {
                Json::Array(vs.iter().map(|v| v.to_json(inner)).collect())
            }
            (Value::Tuple(vs), Type::Tuple(ts)) => {
                Json::Array(vs.iter().zip(ts).map(|(v, t)| v.to_json(t)).collect())
            }
            (Value::Struct(vs), Type::Struct(s)) => fields_to_json(vs, &s.fields),
            (Value::Enum(tag, vs), Type::Enum(e)) => match e.variants.get(*tag as usize) {
                Some(var) if var.fields.is_empty() => Json::String(var.name.clone()),
                Some(var) => {
                    let mut m = Map::new();
                    m.insert(var.name.clone(), fields_to_json(vs, &var.fields));
                    Json::Object(m)
                }
                None => Json::Null,
            },
            (v, _) => int_json(v).unwrap_or(Json::Null),
        }
    }
}

/// An integer value as JSON: a number up to [`MAX_JSON_SAFE_INT`] in
/// magnitude, a decimal string beyond; `None` if `v` is not an integer.
fn int_json(v: &Value) -> Option<Json> {
    let i = match *v {
        Value::U128(u) => match i128::try_from(u) {
            Ok(i) => i,
            Err(_) => return Some(Json::String(u.to_string())),
        },
        _ => v.as_i128_lossless()?,
    };
    Some(if i.unsigned_abs() <= MAX_JSON_SAFE_INT {
        Json::Number(Number::from(i as i64))
    } else {
        Json::String(i.to_string())
    })
}

/// The value of a non-finite float's spelling: `nan`, `inf` or `infinity`
/// in any capitalisation, the infinities with an optional sign. A signed
/// NaN is refused (NaN is canonical and has no sign), as is anything else,
/// including finite numbers as strings.
fn non_finite(s: &str) -> Option<f64> {
    let (negative, word) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let signed = word.len() != s.len();
    if word.eq_ignore_ascii_case("nan") && !signed {
        Some(f64::NAN)
    } else if word.eq_ignore_ascii_case("inf") || word.eq_ignore_ascii_case("infinity") {
        Some(if negative {
            f64::NEG_INFINITY
        } else {
            f64::INFINITY
        })
    } else {
        None
    }
}

fn float_json(f: f64) -> Json {
    if f.is_nan() {
        Json::String("NaN".into())
    } else if f.is_infinite() {
        Json::String(if f > 0.0 { "inf" } else { "-inf" }.into())
    } else {
        Number::from_f64(f).map(Json::Number).unwrap_or(Json::Null)
    }
}

/// An integer read from JSON: every `i128`, the `u128` values above
/// `i128::MAX`, and (shortened, for the message) a decimal string beyond
/// both.
enum JsonInt {
    Signed(i128),
    Unsigned(u128),
    Overflow(String),
}

/// A JSON integer (no fraction, no exponent: serde_json holds those as
/// floats) or a decimal string: an optional `+` or `-`, then ASCII digits.
fn json_int(j: &Json) -> Option<JsonInt> {
    match j {
        Json::Number(n) => n
            .as_i64()
            .map(|v| JsonInt::Signed(v.into()))
            .or_else(|| n.as_u64().map(|v| JsonInt::Signed(v.into()))),
        Json::String(s) => match s.parse::<i128>() {
            Ok(i) => Some(JsonInt::Signed(i)),
            Err(e) => match e.kind() {
                IntErrorKind::PosOverflow => Some(
                    s.parse::<u128>()
                        .map(JsonInt::Unsigned)
                        .unwrap_or_else(|_| JsonInt::Overflow(shorten(s))),
                ),
                IntErrorKind::NegOverflow => Some(JsonInt::Overflow(shorten(s))),
                _ => None,
            },
        },
        _ => None,
    }
}

/// A hint for a JSON number that serde_json holds as a float although its
/// value is integral: one written with a fraction or an exponent, or an
/// integer beyond the 64-bit range (serde_json reads those as floats).
fn float_int_hint(j: &Json) -> Option<&'static str> {
    match j {
        Json::Number(n) if n.is_f64() && n.as_f64().is_some_and(|f| f.fract() == 0.0) => Some(
            "write an integer as digits with no fraction or exponent, or as a decimal \
             string; beyond the 64-bit range it must be a string, e.g. \"18446744073709551616\"",
        ),
        _ => None,
    }
}

fn short(j: &Json) -> String {
    shorten(&j.to_string())
}

/// At most 40 bytes of `s` (then `…`), for messages about hostile input.
fn shorten(s: &str) -> String {
    if s.len() > 40 {
        format!("{}…", &s[..s.floor_char_boundary(40)])
    } else {
        s.to_owned()
    }
}

fn fields_from_json(owner: &str, fields: &[Field], j: &Json) -> Result<Vec<Value>, String> {
    match j {
        Json::Array(arr) => {
            if arr.len() != fields.len() {
                return Err(format!(
                    "{owner} has {} fields, found {} items",
                    fields.len(),
                    arr.len()
                ));
            }
            fields
                .iter()
                .zip(arr)
                .map(|(f, e)| {
                    value_from_json(&f.ty, e).map_err(|m| format!("{owner}.{}: {m}", f.name))
                })
                .collect()
        }
        Json::Object(obj) => {
            if let Some(extra) = obj.keys().find(|k| !fields.iter().any(|f| &f.name == *k)) {
                return Err(format!("{owner} has no field `{extra}`"));
            }
            fields
                .iter()
                .map(|f| {
                    let e = obj.get(&f.name).unwrap_or(&Json::Null);
                    value_from_json(&f.ty, e).map_err(|m| format!("{owner}.{}: {m}", f.name))
                })
                .collect()
        }
        other => Err(format!(
            "expected {owner} as an object, found {}",
            short(other)
        )),
    }
}

fn fields_to_json(vs: &[Value], fields: &[Field]) -> Json {
    // Tuple-like fields (named `0`, `1`, …) render as an array.
    if fields
        .iter()
        .enumerate()
        .all(|(i, f)| f.name == i.to_string())
    {
        return Json::Array(
            vs.iter()
                .zip(fields)
                .map(|(v, f)| v.to_json(&f.ty))
                .collect(),
        );
    }
    let mut m = Map::new();
    for (v, f) in vs.iter().zip(fields) {
        m.insert(f.name.clone(), v.to_json(&f.ty));
    }
    Json::Object(m)
}

fn enum_from_json(e: &EnumType, j: &Json) -> Result<Value, String> {
    let (name, payload) = match j {
        Json::String(s) => (s.as_str(), None),
        Json::Object(obj) if obj.len() == 1 => {
            let (k, v) = obj.iter().next().expect("one entry");
            (k.as_str(), Some(v))
        }
        other => {
            return Err(format!(
                "expected a variant of {}, found {}",
                e.name,
                short(other)
            ))
        }
    };
    let (tag, variant) = e
        .variants
        .iter()
        .enumerate()
        .find(|(_, v)| v.name == name)
        .ok_or_else(|| format!("{} has no variant `{name}`", e.name))?;
    let fields = match payload {
        None if variant.fields.is_empty() => Vec::new(),
        None => return Err(format!("{}::{name} needs fields", e.name)),
        Some(p) => fields_from_json(&format!("{}::{name}", e.name), &variant.fields, p)?,
    };
    Ok(Value::Enum(tag as u32, fields))
}

#[cfg(test)]
mod tests;
