//! The Interstice ABI, shared by the host runtime and the guest SDK.
//!
//! - [`types`] and [`value`]: the type and value model (`docs/ABI.md`);
//! - [`cbor`]: the strict canonical CBOR codec every value crosses the
//!   boundary in;
//! - [`codec`]: [`IntersticeType`], which ties Rust types to that model;
//! - `json` (feature `json`, host only): JSON views of values, for the CLI
//!   and `Runtime::call_json`;
//! - [`schema`]: the module schema and its blake3 hash; [`named`]: its
//!   named custom types and their resolution;
//! - [`bindings`]: whether a loaded dependency fits a module's generated
//!   bindings;
//! - [`host`]: names, signatures and return codes of the host calls and guest
//!   exports.
//!
//! `docs/ABI.md` specifies all of this to the byte; keep the two in step.

pub mod bindings;
pub mod cbor;
pub mod codec;
pub mod host;
#[cfg(feature = "json")]
pub mod json;
pub mod named;
pub mod query;
pub mod reply;
pub mod schema;
pub mod schema_diff;
pub mod subscriptions;
pub mod types;
pub mod value;

pub use codec::{Args, Bytes, IntersticeType};
pub use schema::{
    Binding, BoundReducer, BoundTable, ColumnDefault, IndexKind, IndexSchema, ModuleSchema,
    Persistence, ReducerMode, ReducerSchema, RowEvent, Storage, TableSchema, Trigger,
};
pub use types::{EnumType, Field, StructType, Type, Variant};
pub use value::Value;

/// The ABI version. A module built against another version is refused at
/// load. Bump it on any incompatible change to this crate or `docs/ABI.md`.
pub const ABI_VERSION: u32 = 1;

/// Everything that can go wrong decoding or checking ABI data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AbiError {
    /// Malformed or non-canonical CBOR, or a value that does not match its type.
    #[error("invalid CBOR at byte {offset}: {reason}")]
    Cbor {
        /// Byte offset of the offending item.
        offset: usize,
        /// What was wrong.
        reason: String,
    },
    /// A value that does not fit the type asked for ([`Value::coerce`],
    /// [`Value::from_json`]); the message names both, and the field path.
    #[error("{0}")]
    Mismatch(String),
    /// A trigger spelled wrong ([`Trigger::parse`]).
    #[error("{0}")]
    Trigger(String),
    /// A schema that is malformed or inconsistent.
    #[error("invalid schema: {0}")]
    Schema(String),
    /// The module was built against another ABI version.
    #[error("ABI version mismatch: module uses version {module}, host supports {host}")]
    AbiMismatch {
        /// The module's version.
        module: u32,
        /// The host's version.
        host: u32,
    },
}
