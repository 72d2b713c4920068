//! Static typing for Rust values: [`IntersticeType`] ties a Rust type to its
//! [`Type`] and to the canonical encoding. The SDK derives it for user structs
//! and enums; this module implements it for the built-in types.

use crate::cbor::{Reader, Writer};
use crate::types::{Field, Type};
use crate::AbiError;

/// A Rust type that crosses the ABI.
///
/// `encode` must produce exactly the canonical encoding that
/// [`Type::validate`] accepts for `Self::ty()`, and `decode` must accept it.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot cross the Interstice ABI",
    label = "not an Interstice type",
    note = "use a primitive, String, Bytes, Option, Vec, a tuple, or a type with #[derive(IntersticeType)]"
)]
pub trait IntersticeType: Sized {
    /// The Interstice type of `Self`.
    fn ty() -> Type;
    /// Appends the canonical encoding of `self`.
    fn encode(&self, w: &mut Writer);
    /// Decodes one value.
    fn decode(r: &mut Reader<'_>) -> Result<Self, AbiError>;

    /// The canonical encoding of `self`.
    fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::new();
        self.encode(&mut w);
        w.into_vec()
    }

    /// Decodes exactly one value from `bytes`.
    fn from_bytes(bytes: &[u8]) -> Result<Self, AbiError> {
        let mut r = Reader::new(bytes);
        let v = Self::decode(&mut r)?;
        r.finish()?;
        Ok(v)
    }
}

macro_rules! unsigned {
    ($($t:ty => $v:ident),*) => {$(
        impl IntersticeType for $t {
            fn ty() -> Type { Type::$v }
            fn encode(&self, w: &mut Writer) { w.u64(*self as u64) }
            fn decode(r: &mut Reader<'_>) -> Result<Self, AbiError> {
                let pos = r.position();
                <$t>::try_from(r.u64()?).map_err(|_| AbiError::Cbor {
                    offset: pos,
                    reason: concat!("integer out of range for ", stringify!($t)).into(),
                })
            }
        }
    )*};
}
unsigned!(u8 => U8, u16 => U16, u32 => U32, u64 => U64);

macro_rules! signed {
    ($($t:ty => $v:ident),*) => {$(
        impl IntersticeType for $t {
            fn ty() -> Type { Type::$v }
            fn encode(&self, w: &mut Writer) { w.i64(*self as i64) }
            fn decode(r: &mut Reader<'_>) -> Result<Self, AbiError> {
                let pos = r.position();
                <$t>::try_from(r.i64()?).map_err(|_| AbiError::Cbor {
                    offset: pos,
                    reason: concat!("integer out of range for ", stringify!($t)).into(),
                })
            }
        }
    )*};
}
signed!(i8 => I8, i16 => I16, i32 => I32, i64 => I64);

impl IntersticeType for u128 {
    fn ty() -> Type {
        Type::U128
    }
    fn encode(&self, w: &mut Writer) {
        w.u128(*self)
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, AbiError> {
        r.u128()
    }
}

impl IntersticeType for i128 {
    fn ty() -> Type {
        Type::I128
    }
    fn encode(&self, w: &mut Writer) {
        w.i128(*self)
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, AbiError> {
        r.i128()
    }
}

impl IntersticeType for f32 {
    fn ty() -> Type {
        Type::F32
    }
    fn encode(&self, w: &mut Writer) {
        w.f32(*self)
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, AbiError> {
        r.f32()
    }
}

impl IntersticeType for f64 {
    fn ty() -> Type {
        Type::F64
    }
    fn encode(&self, w: &mut Writer) {
        w.f64(*self)
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, AbiError> {
        r.f64()
    }
}

impl IntersticeType for bool {
    fn ty() -> Type {
        Type::Bool
    }
    fn encode(&self, w: &mut Writer) {
        w.bool(*self)
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, AbiError> {
        r.bool()
    }
}

impl IntersticeType for () {
    fn ty() -> Type {
        Type::Unit
    }
    fn encode(&self, w: &mut Writer) {
        w.null()
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, AbiError> {
        r.null()
    }
}

impl IntersticeType for String {
    fn ty() -> Type {
        Type::String
    }
    fn encode(&self, w: &mut Writer) {
        w.str(self)
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, AbiError> {
        r.str().map(str::to_owned)
    }
}

/// An owned byte string. (`Vec<u8>` is an array of `u8`; use `Bytes` for a
/// compact byte string.)
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Bytes(pub Vec<u8>);

impl IntersticeType for Bytes {
    fn ty() -> Type {
        Type::Bytes
    }
    fn encode(&self, w: &mut Writer) {
        w.bytes(&self.0)
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, AbiError> {
        r.bytes().map(|b| Bytes(b.to_vec()))
    }
}

impl<T: IntersticeType> IntersticeType for Option<T> {
    fn ty() -> Type {
        Type::Option(Box::new(T::ty()))
    }
    fn encode(&self, w: &mut Writer) {
        match self {
            None => w.null(),
            Some(v) => v.encode(w),
        }
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, AbiError> {
        if r.try_null() {
            Ok(None)
        } else {
            T::decode(r).map(Some)
        }
    }
}

impl<T: IntersticeType> IntersticeType for Vec<T> {
    fn ty() -> Type {
        Type::Vec(Box::new(T::ty()))
    }
    fn encode(&self, w: &mut Writer) {
        w.array(self.len());
        self.iter().for_each(|v| v.encode(w));
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, AbiError> {
        let n = r.array()?;
        (0..n).map(|_| T::decode(r)).collect()
    }
}

impl<T: IntersticeType> IntersticeType for Box<T> {
    fn ty() -> Type {
        T::ty()
    }
    fn encode(&self, w: &mut Writer) {
        (**self).encode(w)
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, AbiError> {
        T::decode(r).map(Box::new)
    }
}

macro_rules! tuple {
    ($(($($n:tt $t:ident),+)),* $(,)?) => {$(
        impl<$($t: IntersticeType),+> IntersticeType for ($($t,)+) {
            fn ty() -> Type { Type::Tuple(vec![$($t::ty()),+]) }
            fn encode(&self, w: &mut Writer) {
                w.array([$($n),+].len());
                $(self.$n.encode(w);)+
            }
            fn decode(r: &mut Reader<'_>) -> Result<Self, AbiError> {
                r.array_of([$($n),+].len())?;
                Ok(($($t::decode(r)?,)+))
            }
        }
    )*};
}
tuple!(
    (0 A),
    (0 A, 1 B),
    (0 A, 1 B, 2 C),
    (0 A, 1 B, 2 C, 3 D),
    (0 A, 1 B, 2 C, 3 D, 4 E),
    (0 A, 1 B, 2 C, 3 D, 4 E, 5 F),
    (0 A, 1 B, 2 C, 3 D, 4 E, 5 F, 6 G),
    (0 A, 1 B, 2 C, 3 D, 4 E, 5 F, 6 G, 7 H),
);

/// Reducer arguments: an array of the parameters, in order. Implemented for
/// tuples of [`IntersticeType`] values (and `()` for no arguments), so typed
/// calls look like `ctx.call("bank", "deposit", (1u64, 50u64))`.
pub trait Args {
    /// The parameter types, in order.
    fn param_types() -> Vec<Type>;
    /// Appends the argument array.
    fn encode_args(&self, w: &mut Writer);
}

impl Args for () {
    fn param_types() -> Vec<Type> {
        Vec::new()
    }
    fn encode_args(&self, w: &mut Writer) {
        w.array(0);
    }
}

macro_rules! args_tuple {
    ($(($($n:tt $t:ident),+)),* $(,)?) => {$(
        impl<$($t: IntersticeType),+> Args for ($($t,)+) {
            fn param_types() -> Vec<Type> { vec![$($t::ty()),+] }
            fn encode_args(&self, w: &mut Writer) { self.encode(w) }
        }
    )*};
}
args_tuple!(
    (0 A),
    (0 A, 1 B),
    (0 A, 1 B, 2 C),
    (0 A, 1 B, 2 C, 3 D),
    (0 A, 1 B, 2 C, 3 D, 4 E),
    (0 A, 1 B, 2 C, 3 D, 4 E, 5 F),
    (0 A, 1 B, 2 C, 3 D, 4 E, 5 F, 6 G),
    (0 A, 1 B, 2 C, 3 D, 4 E, 5 F, 6 G, 7 H),
);

/// Helper for derived struct types: builds a `Field`.
pub fn field(name: &str, ty: Type) -> Field {
    Field {
        name: name.to_owned(),
        ty,
    }
}

#[cfg(test)]
mod tests;
