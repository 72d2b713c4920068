//! Dynamic values: what the host, the CLI and embedders use when they do not
//! have the guest's Rust types at hand.

use crate::cbor::{Reader, Writer};
use crate::types::Type;
use crate::AbiError;

/// A dynamically typed Interstice value. Its encoding is fixed by its
/// [`Type`]; see `docs/ABI.md` §2.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `()`.
    Unit,
    /// `bool`.
    Bool(bool),
    /// `u8`.
    U8(u8),
    /// `u16`.
    U16(u16),
    /// `u32`.
    U32(u32),
    /// `u64`.
    U64(u64),
    /// `u128`.
    U128(u128),
    /// `i8`.
    I8(i8),
    /// `i16`.
    I16(i16),
    /// `i32`.
    I32(i32),
    /// `i64`.
    I64(i64),
    /// `i128`.
    I128(i128),
    /// `f32`.
    F32(f32),
    /// `f64`.
    F64(f64),
    /// A string.
    String(String),
    /// A byte string.
    Bytes(Vec<u8>),
    /// `Option<T>`.
    Option(Option<Box<Value>>),
    /// `Vec<T>`.
    Vec(Vec<Value>),
    /// A tuple.
    Tuple(Vec<Value>),
    /// A struct: its fields in declaration order.
    Struct(Vec<Value>),
    /// An enum: variant index and the variant's fields.
    Enum(u32, Vec<Value>),
}

macro_rules! from_prim {
    ($($t:ty => $v:ident),* $(,)?) => {$(
        impl From<$t> for Value {
            fn from(v: $t) -> Self { Value::$v(v) }
        }
    )*};
}
from_prim!(bool => Bool, u8 => U8, u16 => U16, u32 => U32, u64 => U64, u128 => U128,
    i8 => I8, i16 => I16, i32 => I32, i64 => I64, i128 => I128, f32 => F32, f64 => F64,
    String => String, Vec<u8> => Bytes);

impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::String(v.to_owned())
    }
}

impl From<()> for Value {
    fn from(_: ()) -> Self {
        Value::Unit
    }
}

impl Value {
    /// Appends the canonical encoding of this value.
    pub fn encode(&self, w: &mut Writer) {
        match self {
            Value::Unit => w.null(),
            Value::Bool(v) => w.bool(*v),
            Value::U8(v) => w.u64(*v as u64),
            Value::U16(v) => w.u64(*v as u64),
            Value::U32(v) => w.u64(*v as u64),
            Value::U64(v) => w.u64(*v),
            Value::U128(v) => w.u128(*v),
            Value::I8(v) => w.i64(*v as i64),
            Value::I16(v) => w.i64(*v as i64),
            Value::I32(v) => w.i64(*v as i64),
            Value::I64(v) => w.i64(*v),
            Value::I128(v) => w.i128(*v),
            Value::F32(v) => w.f32(*v),
            Value::F64(v) => w.f64(*v),
            Value::String(v) => w.str(v),
            Value::Bytes(v) => w.bytes(v),
            Value::Option(None) => w.null(),
            Value::Option(Some(v)) => v.encode(w),
            Value::Vec(vs) | Value::Tuple(vs) | Value::Struct(vs) => {
                w.array(vs.len());
                vs.iter().for_each(|v| v.encode(w));
            }
            Value::Enum(tag, vs) => {
                w.array(vs.len() + 1);
                w.u64(*tag as u64);
                vs.iter().for_each(|v| v.encode(w));
            }
        }
    }

    /// The canonical encoding of this value.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::new();
        self.encode(&mut w);
        w.into_vec()
    }

    /// Decodes exactly one value of type `ty` from `bytes`.
    pub fn decode_exact(ty: &Type, bytes: &[u8]) -> Result<Value, AbiError> {
        let mut r = Reader::new(bytes);
        let v = Value::decode(ty, &mut r)?;
        r.finish()?;
        Ok(v)
    }

    /// Decodes one value of type `ty`.
    pub fn decode(ty: &Type, r: &mut Reader<'_>) -> Result<Value, AbiError> {
        let pos = r.position();
        let range = |name: &str| AbiError::Cbor {
            offset: pos,
            reason: format!("integer out of range for {name}"),
        };
        Ok(match ty {
            Type::Unit => {
                r.null()?;
                Value::Unit
            }
            Type::Bool => Value::Bool(r.bool()?),
            Type::U8 => Value::U8(u8::try_from(r.u64()?).map_err(|_| range("u8"))?),
            Type::U16 => Value::U16(u16::try_from(r.u64()?).map_err(|_| range("u16"))?),
            Type::U32 => Value::U32(u32::try_from(r.u64()?).map_err(|_| range("u32"))?),
            Type::U64 => Value::U64(r.u64()?),
            Type::U128 => Value::U128(r.u128()?),
            Type::I8 => Value::I8(i8::try_from(r.i64()?).map_err(|_| range("i8"))?),
            Type::I16 => Value::I16(i16::try_from(r.i64()?).map_err(|_| range("i16"))?),
            Type::I32 => Value::I32(i32::try_from(r.i64()?).map_err(|_| range("i32"))?),
            Type::I64 => Value::I64(r.i64()?),
            Type::I128 => Value::I128(r.i128()?),
            Type::F32 => Value::F32(r.f32()?),
            Type::F64 => Value::F64(r.f64()?),
            Type::String => Value::String(r.str()?.to_owned()),
            Type::Bytes => Value::Bytes(r.bytes()?.to_vec()),
            Type::Option(inner) => {
                if r.try_null() {
                    Value::Option(None)
                } else {
                    Value::Option(Some(Box::new(Value::decode(inner, r)?)))
                }
            }
            Type::Vec(inner) => {
                let n = r.array()?;
                Value::Vec(
                    (0..n)
                        .map(|_| Value::decode(inner, r))
                        .collect::<Result<_, _>>()?,
                )
            }
            Type::Tuple(ts) => {
                r.array_of(ts.len())?;
                Value::Tuple(
                    ts.iter()
                        .map(|t| Value::decode(t, r))
                        .collect::<Result<_, _>>()?,
                )
            }
            Type::Struct(s) => {
                r.array_of(s.fields.len())?;
                Value::Struct(
                    s.fields
                        .iter()
                        .map(|f| Value::decode(&f.ty, r))
                        .collect::<Result<_, _>>()?,
                )
            }
            Type::Named(n) => return Err(crate::types::unresolved(n)),
            Type::Enum(e) => {
                let n = r.array()?;
                let tag = r.u64()?;
                let variant = usize::try_from(tag)
                    .ok()
                    .and_then(|i| e.variants.get(i))
                    .ok_or_else(|| AbiError::Cbor {
                        offset: pos,
                        reason: format!("{} has no variant {tag}", e.name),
                    })?;
                if n != variant.fields.len() + 1 {
                    return Err(AbiError::Cbor {
                        offset: pos,
                        reason: format!("{}::{} has wrong field count", e.name, variant.name),
                    });
                }
                let fields = variant
                    .fields
                    .iter()
                    .map(|f| Value::decode(&f.ty, r))
                    .collect::<Result<_, _>>()?;
                Value::Enum(tag as u32, fields)
            }
        })
    }

    /// Converts this value to `ty`, allowing lossless integer widening and
    /// narrowing (so `Value::U64(5)` is accepted for a `u32` parameter).
    /// Fails with a message naming both types on any other mismatch.
    pub fn coerce(self, ty: &Type) -> Result<Value, AbiError> {
        self.coerce_to(ty).map_err(AbiError::Mismatch)
    }

    /// [`Value::coerce`], with the message as a string (nested calls add
    /// the field path in front).
    pub(crate) fn coerce_to(self, ty: &Type) -> Result<Value, String> {
        let mismatch =
            |v: &Value| format!("expected {}, found {}", ty.display_name(), v.kind_name());
        if let Some(i) = self.as_i128_lossless() {
            let fits = |ok: bool, v: Value| {
                if ok {
                    Ok(v)
                } else {
                    Err(format!("{i} does not fit {}", ty.display_name()))
                }
            };
            return match ty {
                Type::U8 => fits(u8::try_from(i).is_ok(), Value::U8(i as u8)),
                Type::U16 => fits(u16::try_from(i).is_ok(), Value::U16(i as u16)),
                Type::U32 => fits(u32::try_from(i).is_ok(), Value::U32(i as u32)),
                Type::U64 => fits(u64::try_from(i).is_ok(), Value::U64(i as u64)),
                Type::U128 => fits(i >= 0, Value::U128(i as u128)),
                Type::I8 => fits(i8::try_from(i).is_ok(), Value::I8(i as i8)),
                Type::I16 => fits(i16::try_from(i).is_ok(), Value::I16(i as i16)),
                Type::I32 => fits(i32::try_from(i).is_ok(), Value::I32(i as i32)),
                Type::I64 => fits(i64::try_from(i).is_ok(), Value::I64(i as i64)),
                Type::I128 => Ok(Value::I128(i)),
                Type::F32 if i.unsigned_abs() < (1 << 24) => Ok(Value::F32(i as f32)),
                Type::F64 if i.unsigned_abs() < (1 << 53) => Ok(Value::F64(i as f64)),
                _ => Err(mismatch(&self)),
            };
        }
        match (self, ty) {
            (Value::U128(v), Type::U128) => Ok(Value::U128(v)),
            // Above `i128::MAX`: fits no other integer type.
            (
                Value::U128(v),
                Type::U8
                | Type::U16
                | Type::U32
                | Type::U64
                | Type::I8
                | Type::I16
                | Type::I32
                | Type::I64
                | Type::I128,
            ) => Err(format!("{v} does not fit {}", ty.display_name())),
            (Value::F32(v), Type::F32) => Ok(Value::F32(v)),
            (Value::F32(v), Type::F64) => Ok(Value::F64(v as f64)),
            (Value::F64(v), Type::F64) => Ok(Value::F64(v)),
            (Value::F64(v), Type::F32) if (v as f32) as f64 == v || v.is_nan() => {
                Ok(Value::F32(v as f32))
            }
            (Value::Unit, Type::Unit) => Ok(Value::Unit),
            (Value::Bool(b), Type::Bool) => Ok(Value::Bool(b)),
            (Value::String(s), Type::String) => Ok(Value::String(s)),
            (Value::Bytes(b), Type::Bytes) => Ok(Value::Bytes(b)),
            (Value::Option(None) | Value::Unit, Type::Option(_)) => Ok(Value::Option(None)),
            (Value::Option(Some(v)), Type::Option(inner)) => {
                Ok(Value::Option(Some(Box::new(v.coerce_to(inner)?))))
            }
            (v, Type::Option(inner)) => Ok(Value::Option(Some(Box::new(v.coerce_to(inner)?)))),
            (Value::Vec(vs) | Value::Tuple(vs), Type::Vec(inner)) => Ok(Value::Vec(
                vs.into_iter()
                    .map(|v| v.coerce_to(inner))
                    .collect::<Result<_, _>>()?,
            )),
            (Value::Vec(vs), Type::Bytes) => Ok(Value::Bytes(
                vs.into_iter()
                    .map(|v| match v.coerce_to(&Type::U8)? {
                        Value::U8(b) => Ok(b),
                        _ => unreachable!("coerce to u8 yields U8"),
                    })
                    .collect::<Result<_, String>>()?,
            )),
            (Value::Vec(vs) | Value::Tuple(vs) | Value::Struct(vs), Type::Tuple(ts)) => {
                Ok(Value::Tuple(coerce_fields(vs, ts.iter())?))
            }
            (Value::Vec(vs) | Value::Tuple(vs) | Value::Struct(vs), Type::Struct(s)) => Ok(
                Value::Struct(coerce_fields(vs, s.fields.iter().map(|f| &f.ty))?),
            ),
            (Value::Enum(tag, vs), Type::Enum(e)) => {
                let variant = e
                    .variants
                    .get(tag as usize)
                    .ok_or_else(|| format!("{} has no variant {tag}", e.name))?;
                Ok(Value::Enum(
                    tag,
                    coerce_fields(vs, variant.fields.iter().map(|f| &f.ty))?,
                ))
            }
            (v, _) => Err(mismatch(&v)),
        }
    }

    /// The value as an `i128` if it is an integer that fits one.
    pub(crate) fn as_i128_lossless(&self) -> Option<i128> {
        Some(match *self {
            Value::U8(v) => v as i128,
            Value::U16(v) => v as i128,
            Value::U32(v) => v as i128,
            Value::U64(v) => v as i128,
            Value::U128(v) => i128::try_from(v).ok()?,
            Value::I8(v) => v as i128,
            Value::I16(v) => v as i128,
            Value::I32(v) => v as i128,
            Value::I64(v) => v as i128,
            Value::I128(v) => v,
            _ => return None,
        })
    }

    /// A short name of this value's kind, for error messages.
    pub fn kind_name(&self) -> &'static str {
        match self {
            Value::Unit => "()",
            Value::Bool(_) => "bool",
            Value::U8(_) => "u8",
            Value::U16(_) => "u16",
            Value::U32(_) => "u32",
            Value::U64(_) => "u64",
            Value::U128(_) => "u128",
            Value::I8(_) => "i8",
            Value::I16(_) => "i16",
            Value::I32(_) => "i32",
            Value::I64(_) => "i64",
            Value::I128(_) => "i128",
            Value::F32(_) => "f32",
            Value::F64(_) => "f64",
            Value::String(_) => "string",
            Value::Bytes(_) => "bytes",
            Value::Option(_) => "option",
            Value::Vec(_) => "array",
            Value::Tuple(_) => "tuple",
            Value::Struct(_) => "struct",
            Value::Enum(..) => "enum",
        }
    }
}

fn coerce_fields<'t>(
    vs: Vec<Value>,
    tys: impl ExactSizeIterator<Item = &'t Type>,
) -> Result<Vec<Value>, String> {
    if vs.len() != tys.len() {
        return Err(format!("expected {} fields, found {}", tys.len(), vs.len()));
    }
    vs.into_iter()
        .zip(tys)
        .enumerate()
        .map(|(i, (v, t))| v.coerce_to(t).map_err(|e| format!("field {i}: {e}")))
        .collect()
}

#[cfg(test)]
mod tests;
