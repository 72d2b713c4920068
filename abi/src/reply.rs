//! Replies to async calls (`docs/ABI.md` §4.2): the value a reply reducer
//! receives, its type, and its encoding.
//!
//! A write reducer `move_item` returning `Result<T, E>` (or `T`, with `E`
//! taken as `()`) replies with a `Result<T, CallError<E>>`: `Ok(t)` when it
//! committed, `Err(CallError::Returned(e))` when it returned `Err(e)`, and
//! `Err(CallError::Failed { kind, message })` when it failed any other way
//! (a trap, a panic, its budget, an unknown reducer or arguments that no
//! longer fit after an upgrade, a delivery cut by the fan-out budget): the
//! host's failures fit every `E`.
//!
//! Both are plain enums in the type model: `Result` is the enum
//! `Result { Ok(T), Err(E) }` and `CallError` the enum
//! `CallError { Returned(E), Failed { kind: String, message: String } }`,
//! so `Ok(t)` is `[0, t]`, `Err(Returned(e))` is `[1, [0, e]]` and
//! `Err(Failed { kind, message })` is `[1, [1, kind, message]]`.

use crate::cbor::{Reader, Writer};
use crate::codec::IntersticeType;
use crate::types::{EnumType, Field, Type, Variant};
use crate::AbiError;

/// Why a call with a reply did not return `Ok`: the callee's own `Err`,
/// or a failure of the host's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallError<E> {
    /// The called reducer returned `Err(e)`.
    Returned(E),
    /// The call failed before it could return: `kind` is the error kind's
    /// name (`"Trap"`, `"Panic"`, `"Budget"`, `"Host"`, `"FanOut"`, …, as
    /// `ErrorKind::name` spells it) and `message` says what happened.
    Failed {
        /// The error kind's name.
        kind: String,
        /// What happened.
        message: String,
    },
}

fn variant(name: &str, fields: Vec<(&str, Type)>) -> Variant {
    Variant {
        name: name.to_owned(),
        fields: fields
            .into_iter()
            .map(|(n, ty)| Field {
                name: n.to_owned(),
                ty,
            })
            .collect(),
    }
}

/// The type of `Result<T, E>`: the enum `Result { Ok(T), Err(E) }`.
pub fn result_type(ok: Type, err: Type) -> Type {
    Type::Enum(EnumType {
        name: "Result".to_owned(),
        variants: vec![
            variant("Ok", vec![("0", ok)]),
            variant("Err", vec![("0", err)]),
        ],
    })
}

/// The type of `CallError<E>`.
pub fn call_error_type(err: Type) -> Type {
    Type::Enum(EnumType {
        name: "CallError".to_owned(),
        variants: vec![
            variant("Returned", vec![("0", err)]),
            variant(
                "Failed",
                vec![("kind", Type::String), ("message", Type::String)],
            ),
        ],
    })
}

/// The type a reply reducer of a call to a reducer with these `returns`
/// and `error` types takes: `Result<returns, CallError<error or ()>>`.
pub fn reply_type(returns: &Type, error: Option<&Type>) -> Type {
    result_type(
        returns.clone(),
        call_error_type(error.cloned().unwrap_or(Type::Unit)),
    )
}

/// How the called reducer ended, as its commit record has it.
#[derive(Debug, Clone, Copy)]
pub enum ReplyOutcome<'a> {
    /// Committed, with this encoded `Ok` value.
    Ok(&'a [u8]),
    /// Returned `Err`, with this encoded value.
    Returned(&'a [u8]),
    /// Failed otherwise.
    Failed {
        /// The error kind's name.
        kind: &'a str,
        /// What happened.
        message: &'a str,
    },
}

/// The reply reducer's argument array: `[result]`, one argument of
/// [`reply_type`].
pub fn reply_args(outcome: ReplyOutcome<'_>) -> Vec<u8> {
    let mut w = Writer::new();
    w.array(1);
    w.array(2);
    match outcome {
        ReplyOutcome::Ok(v) => {
            w.u64(0);
            w.raw(v);
        }
        ReplyOutcome::Returned(e) => {
            w.u64(1);
            w.array(2);
            w.u64(0);
            w.raw(e);
        }
        ReplyOutcome::Failed { kind, message } => {
            w.u64(1);
            w.array(3);
            w.u64(1);
            w.str(kind);
            w.str(message);
        }
    }
    w.into_vec()
}

/// Reads the `[variant, …]` head of an enum with `len` items.
fn variant_head(r: &mut Reader<'_>, name: &str) -> Result<u64, AbiError> {
    let at = r.position();
    let n = r.array()?;
    let tag = r.u64()?;
    let want = match (name, tag) {
        ("CallError", 1) => 3,
        (_, 0 | 1) => 2,
        _ => {
            return Err(AbiError::Cbor {
                offset: at,
                reason: format!("{name} variant {tag} does not exist (0 or 1)"),
            })
        }
    };
    if n != want {
        return Err(AbiError::Cbor {
            offset: at,
            reason: format!("{name} variant {tag} must be an array of {want} items, found {n}"),
        });
    }
    Ok(tag)
}

impl<T: IntersticeType, E: IntersticeType> IntersticeType for Result<T, E> {
    fn ty() -> Type {
        result_type(T::ty(), E::ty())
    }
    fn encode(&self, w: &mut Writer) {
        w.array(2);
        match self {
            Ok(v) => {
                w.u64(0);
                v.encode(w);
            }
            Err(e) => {
                w.u64(1);
                e.encode(w);
            }
        }
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, AbiError> {
        match variant_head(r, "Result")? {
            0 => T::decode(r).map(Ok),
            _ => E::decode(r).map(Err),
        }
    }
}

impl<E: IntersticeType> IntersticeType for CallError<E> {
    fn ty() -> Type {
        call_error_type(E::ty())
    }
    fn encode(&self, w: &mut Writer) {
        match self {
            CallError::Returned(e) => {
                w.array(2);
                w.u64(0);
                e.encode(w);
            }
            CallError::Failed { kind, message } => {
                w.array(3);
                w.u64(1);
                w.str(kind);
                w.str(message);
            }
        }
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, AbiError> {
        match variant_head(r, "CallError")? {
            0 => E::decode(r).map(CallError::Returned),
            _ => Ok(CallError::Failed {
                kind: r.str()?.to_owned(),
                message: r.str()?.to_owned(),
            }),
        }
    }
}

#[cfg(test)]
mod tests;
