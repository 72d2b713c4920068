//! JSON views of values, for the CLI and for embedders that speak JSON.
//!
//! The mapping (also in `docs/ABI.md` §5):
//! - `()` and `None` are `null`; integers and floats are numbers (integers
//!   outside ±2^53 may also be given as decimal strings, and 128-bit integers
//!   outside that range are printed as strings);
//! - strings are strings; bytes are arrays of numbers;
//! - `Vec` and tuples are arrays; structs are objects keyed by field name
//!   (arrays in field order are accepted too);
//! - enums are `"Variant"` when the variant has no fields, otherwise
//!   `{"Variant": [fields…]}` (or an object keyed by field name).

use serde_json::{Map, Number, Value as Json};

use crate::types::{EnumType, Field, Type};
use crate::value::Value;

const SAFE_INT: i128 = 1 << 53;

impl Value {
    /// Builds a value of type `ty` from JSON. The error names what was wrong.
    pub fn from_json(ty: &Type, j: &Json) -> Result<Value, String> {
        let mismatch = || format!("expected {}, found JSON {}", ty.display_name(), short(j));
        match ty {
            Type::Unit => j.is_null().then_some(Value::Unit).ok_or_else(mismatch),
            Type::Bool => j.as_bool().map(Value::Bool).ok_or_else(mismatch),
            Type::U8
            | Type::U16
            | Type::U32
            | Type::U64
            | Type::U128
            | Type::I8
            | Type::I16
            | Type::I32
            | Type::I64
            | Type::I128 => {
                let i = json_int(j).ok_or_else(mismatch)?;
                Value::I128(i).coerce(ty)
            }
            Type::F32 | Type::F64 => {
                let f = match j {
                    Json::Number(n) => n.as_f64().ok_or_else(mismatch)?,
                    Json::String(s) if s == "NaN" => f64::NAN,
                    Json::String(s) if s == "inf" => f64::INFINITY,
                    Json::String(s) if s == "-inf" => f64::NEG_INFINITY,
                    _ => return Err(mismatch()),
                };
                Ok(if *ty == Type::F32 {
                    Value::F32(f as f32)
                } else {
                    Value::F64(f)
                })
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
                    Ok(Value::Option(Some(Box::new(Value::from_json(inner, j)?))))
                }
            }
            Type::Vec(inner) => {
                let arr = j.as_array().ok_or_else(mismatch)?;
                Ok(Value::Vec(
                    arr.iter()
                        .enumerate()
                        .map(|(i, e)| Value::from_json(inner, e).map_err(|m| format!("[{i}]: {m}")))
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
                        .map(|(t, e)| Value::from_json(t, e))
                        .collect::<Result<_, _>>()?,
                ))
            }
            Type::Struct(s) => Ok(Value::Struct(fields_from_json(&s.name, &s.fields, j)?)),
            Type::Enum(e) => enum_from_json(e, j),
        }
    }

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
            (v, _) => match v.as_i128_lossless() {
                Some(i) if i.abs() < SAFE_INT => Json::Number(Number::from(i as i64)),
                Some(i) => Json::String(i.to_string()),
                None => match v {
                    Value::U128(u) => Json::String(u.to_string()),
                    _ => Json::Null,
                },
            },
        }
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

fn json_int(j: &Json) -> Option<i128> {
    match j {
        Json::Number(n) => n
            .as_i64()
            .map(|v| v as i128)
            .or_else(|| n.as_u64().map(|v| v as i128)),
        Json::String(s) => s.parse().ok(),
        _ => None,
    }
}

fn short(j: &Json) -> String {
    let s = j.to_string();
    if s.len() > 40 {
        format!("{}…", &s[..s.floor_char_boundary(40)])
    } else {
        s
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
                    Value::from_json(&f.ty, e).map_err(|m| format!("{owner}.{}: {m}", f.name))
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
                    Value::from_json(&f.ty, e).map_err(|m| format!("{owner}.{}: {m}", f.name))
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
mod tests {
    use super::*;
    use crate::types::{StructType, Variant};

    #[test]
    fn struct_and_enum_roundtrip() {
        let color = Type::Enum(EnumType {
            name: "Color".into(),
            variants: vec![
                Variant {
                    name: "Red".into(),
                    fields: vec![],
                },
                Variant {
                    name: "Rgb".into(),
                    fields: vec![
                        Field {
                            name: "0".into(),
                            ty: Type::U8,
                        },
                        Field {
                            name: "1".into(),
                            ty: Type::U8,
                        },
                    ],
                },
            ],
        });
        let ty = Type::Struct(StructType {
            name: "Pixel".into(),
            fields: vec![
                Field {
                    name: "x".into(),
                    ty: Type::I64,
                },
                Field {
                    name: "c".into(),
                    ty: color,
                },
            ],
        });
        let j: Json = serde_json::json!({"x": -3, "c": {"Rgb": [1, 2]}});
        let v = Value::from_json(&ty, &j).unwrap();
        assert_eq!(v.to_json(&ty), j);
        let err = Value::from_json(&ty, &serde_json::json!({"x": "a", "c": "Red"})).unwrap_err();
        assert!(err.contains("Pixel.x"), "{err}");
    }
}
