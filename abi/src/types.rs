//! The type model: what a column, a reducer parameter or a return value can be.

use serde::{Deserialize, Serialize};

use crate::cbor::Reader;
use crate::AbiError;

/// An Interstice type. Every value that crosses the ABI has one.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Type {
    /// The unit type `()`; encoded as `null`.
    Unit,
    /// `bool`.
    Bool,
    /// `u8`.
    U8,
    /// `u16`.
    U16,
    /// `u32`.
    U32,
    /// `u64`.
    U64,
    /// `u128`.
    U128,
    /// `i8`.
    I8,
    /// `i16`.
    I16,
    /// `i32`.
    I32,
    /// `i64`.
    I64,
    /// `i128`.
    I128,
    /// `f32`.
    F32,
    /// `f64`.
    F64,
    /// UTF-8 `String`.
    String,
    /// A byte string.
    Bytes,
    /// `Option<T>`: `null` or the value itself. `T` may not be `Unit` or an
    /// `Option` (that would be ambiguous).
    Option(Box<Type>),
    /// `Vec<T>`: an array.
    Vec(Box<Type>),
    /// A tuple: an array of exactly these types, in order.
    Tuple(Vec<Type>),
    /// A user struct: an array of its fields, in declaration order.
    Struct(StructType),
    /// A user enum: an array `[variant index, fields...]`.
    Enum(EnumType),
    /// A reference, by name, to a struct or enum of the schema's `types`
    /// (`docs/ABI.md` §5.1). Only in a schema's encoding: a decoded
    /// [`ModuleSchema`](crate::ModuleSchema) never holds one
    /// ([`ModuleSchema::decode`](crate::ModuleSchema::decode) resolves them),
    /// and no value has this type.
    Named(String),
}

/// A named field.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Field {
    /// Field name.
    pub name: String,
    /// Field type.
    pub ty: Type,
}

/// A user struct type.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct StructType {
    /// The Rust name of the struct.
    pub name: String,
    /// Fields, in declaration order.
    pub fields: Vec<Field>,
}

/// A user enum type.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct EnumType {
    /// The Rust name of the enum.
    pub name: String,
    /// Variants, in declaration order; the index is the wire tag.
    pub variants: Vec<Variant>,
}

/// One variant of an enum.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Variant {
    /// Variant name.
    pub name: String,
    /// Its fields (empty for a unit variant; positional names `0`, `1`… for
    /// tuple variants).
    pub fields: Vec<Field>,
}

impl Type {
    /// A short human-readable name, used in error messages.
    pub fn display_name(&self) -> String {
        match self {
            Type::Unit => "()".into(),
            Type::Bool => "bool".into(),
            Type::U8 => "u8".into(),
            Type::U16 => "u16".into(),
            Type::U32 => "u32".into(),
            Type::U64 => "u64".into(),
            Type::U128 => "u128".into(),
            Type::I8 => "i8".into(),
            Type::I16 => "i16".into(),
            Type::I32 => "i32".into(),
            Type::I64 => "i64".into(),
            Type::I128 => "i128".into(),
            Type::F32 => "f32".into(),
            Type::F64 => "f64".into(),
            Type::String => "String".into(),
            Type::Bytes => "Bytes".into(),
            Type::Option(t) => format!("Option<{}>", t.display_name()),
            Type::Vec(t) => format!("Vec<{}>", t.display_name()),
            Type::Tuple(ts) => {
                let inner: Vec<_> = ts.iter().map(Type::display_name).collect();
                format!("({})", inner.join(", "))
            }
            Type::Struct(s) => s.name.clone(),
            Type::Enum(e) => e.name.clone(),
            Type::Named(n) => n.clone(),
        }
    }

    /// Checks the type is well formed (no ambiguous `Option`s).
    pub fn check_well_formed(&self) -> Result<(), AbiError> {
        match self {
            Type::Option(inner) => {
                if matches!(**inner, Type::Option(_) | Type::Unit) {
                    return Err(AbiError::Schema(format!(
                        "type {} is ambiguous: Option may not directly hold () or another Option",
                        self.display_name()
                    )));
                }
                inner.check_well_formed()
            }
            Type::Vec(inner) => inner.check_well_formed(),
            Type::Tuple(ts) => ts.iter().try_for_each(Type::check_well_formed),
            Type::Struct(s) => s.fields.iter().try_for_each(|f| f.ty.check_well_formed()),
            Type::Enum(e) => e
                .variants
                .iter()
                .flat_map(|v| v.fields.iter())
                .try_for_each(|f| f.ty.check_well_formed()),
            Type::Named(n) => Err(unresolved(n)),
            _ => Ok(()),
        }
    }

    /// Reads one value of this type from `r`, checking it fully, and returns
    /// its encoded bytes. Fails on any mismatch, non-canonical encoding or
    /// trailing garbage inside the value.
    pub fn validate<'a>(&self, r: &mut Reader<'a>) -> Result<&'a [u8], AbiError> {
        let start = r.position();
        self.validate_inner(r, 0)?;
        Ok(r.slice_from(start))
    }

    /// Validates that `bytes` hold exactly one value of this type.
    pub fn validate_exact(&self, bytes: &[u8]) -> Result<(), AbiError> {
        let mut r = Reader::new(bytes);
        self.validate(&mut r)?;
        r.finish()
    }

    fn validate_inner(&self, r: &mut Reader<'_>, depth: u32) -> Result<(), AbiError> {
        if depth > crate::cbor::MAX_DEPTH {
            return Err(AbiError::Cbor {
                offset: r.position(),
                reason: "nesting too deep".into(),
            });
        }
        let pos = r.position();
        let range = |ok: bool, name: &str| {
            if ok {
                Ok(())
            } else {
                Err(AbiError::Cbor {
                    offset: pos,
                    reason: format!("integer out of range for {name}"),
                })
            }
        };
        match self {
            Type::Unit => r.null(),
            Type::Bool => r.bool().map(drop),
            Type::U8 => range(r.u64()? <= u8::MAX as u64, "u8"),
            Type::U16 => range(r.u64()? <= u16::MAX as u64, "u16"),
            Type::U32 => range(r.u64()? <= u32::MAX as u64, "u32"),
            Type::U64 => r.u64().map(drop),
            Type::U128 => r.u128().map(drop),
            Type::I8 => range(i8::try_from(r.i64()?).is_ok(), "i8"),
            Type::I16 => range(i16::try_from(r.i64()?).is_ok(), "i16"),
            Type::I32 => range(i32::try_from(r.i64()?).is_ok(), "i32"),
            Type::I64 => r.i64().map(drop),
            Type::I128 => r.i128().map(drop),
            Type::F32 => r.f32().map(drop),
            Type::F64 => r.f64().map(drop),
            Type::String => r.str().map(drop),
            Type::Bytes => r.bytes().map(drop),
            Type::Option(inner) => {
                if r.try_null() {
                    Ok(())
                } else {
                    inner.validate_inner(r, depth + 1)
                }
            }
            Type::Vec(inner) => {
                let n = r.array()?;
                (0..n).try_for_each(|_| inner.validate_inner(r, depth + 1))
            }
            Type::Tuple(ts) => {
                r.array_of(ts.len())?;
                ts.iter().try_for_each(|t| t.validate_inner(r, depth + 1))
            }
            Type::Struct(s) => {
                r.array_of(s.fields.len())?;
                s.fields
                    .iter()
                    .try_for_each(|f| f.ty.validate_inner(r, depth + 1))
            }
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
                        reason: format!(
                            "{}::{} takes {} fields, found {}",
                            e.name,
                            variant.name,
                            variant.fields.len(),
                            n.saturating_sub(1)
                        ),
                    });
                }
                variant
                    .fields
                    .iter()
                    .try_for_each(|f| f.ty.validate_inner(r, depth + 1))
            }
            Type::Named(n) => Err(unresolved(n)),
        }
    }

    /// True for the integer types, `u8` to `i128`.
    pub fn is_integer(&self) -> bool {
        matches!(
            self,
            Type::U8
                | Type::U16
                | Type::U32
                | Type::U64
                | Type::U128
                | Type::I8
                | Type::I16
                | Type::I32
                | Type::I64
                | Type::I128
        )
    }

    /// True if a column of this type can be a primary key.
    pub fn is_key_type(&self) -> bool {
        self.is_integer() || matches!(self, Type::Bool | Type::String | Type::Bytes)
    }

    /// True for the unsigned integer types an `auto_inc` key may have.
    pub fn is_auto_inc_type(&self) -> bool {
        matches!(
            self,
            Type::U8 | Type::U16 | Type::U32 | Type::U64 | Type::U128
        )
    }

    /// Reads a key value of this type and appends its memcomparable form to
    /// `out`: byte-wise order of the output equals the order of the values.
    ///
    /// Integers become fixed-width big-endian (sign bit flipped for signed
    /// types); strings and bytes are copied as they are.
    pub fn encode_key(&self, r: &mut Reader<'_>, out: &mut Vec<u8>) -> Result<(), AbiError> {
        match self {
            Type::Bool => out.push(r.bool()? as u8),
            Type::U8 => out.push(u8::try_from(r.u64()?).map_err(|_| key_range(r, self))?),
            Type::U16 => out.extend_from_slice(
                &u16::try_from(r.u64()?)
                    .map_err(|_| key_range(r, self))?
                    .to_be_bytes(),
            ),
            Type::U32 => out.extend_from_slice(
                &u32::try_from(r.u64()?)
                    .map_err(|_| key_range(r, self))?
                    .to_be_bytes(),
            ),
            Type::U64 => out.extend_from_slice(&r.u64()?.to_be_bytes()),
            Type::U128 => out.extend_from_slice(&r.u128()?.to_be_bytes()),
            Type::I8 => {
                let v = i8::try_from(r.i64()?).map_err(|_| key_range(r, self))?;
                out.push((v as u8) ^ 0x80);
            }
            Type::I16 => {
                let v = i16::try_from(r.i64()?).map_err(|_| key_range(r, self))?;
                out.extend_from_slice(&((v as u16) ^ 0x8000).to_be_bytes());
            }
            Type::I32 => {
                let v = i32::try_from(r.i64()?).map_err(|_| key_range(r, self))?;
                out.extend_from_slice(&((v as u32) ^ 0x8000_0000).to_be_bytes());
            }
            Type::I64 => {
                let v = r.i64()?;
                out.extend_from_slice(&((v as u64) ^ (1 << 63)).to_be_bytes());
            }
            Type::I128 => {
                let v = r.i128()?;
                out.extend_from_slice(&((v as u128) ^ (1 << 127)).to_be_bytes());
            }
            Type::String => out.extend_from_slice(r.str()?.as_bytes()),
            Type::Bytes => out.extend_from_slice(r.bytes()?),
            other => {
                return Err(AbiError::Schema(format!(
                    "{} cannot be a primary key",
                    other.display_name()
                )))
            }
        }
        Ok(())
    }
}

/// The error for a [`Type::Named`] met where only resolved types belong.
pub(crate) fn unresolved(name: &str) -> AbiError {
    AbiError::Schema(format!("unresolved reference to type `{name}`"))
}

fn key_range(r: &Reader<'_>, ty: &Type) -> AbiError {
    AbiError::Cbor {
        offset: r.position(),
        reason: format!("key out of range for {}", ty.display_name()),
    }
}

#[cfg(test)]
mod tests;
