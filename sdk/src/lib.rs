//! The Interstice guest SDK: write Interstice modules in Rust.
//!
//! A module is a `cdylib` built for `wasm32-unknown-unknown` that declares
//! tables and reducers; the runtime loads it, reads its schema and calls its
//! reducers as transactions. A whole module:
//!
//! ```no_run
//! use interstice_sdk::prelude::*;
//!
//! interstice_module! {
//!     name: "bank",
//!     version: "0.1.0",
//!     tables: [Account],
//!     reducers: [open_account, balance],
//! }
//!
//! #[table(name = "accounts")]
//! pub struct Account {
//!     #[primary_key(auto_inc)]
//!     pub id: u64,
//!     pub owner: String,
//!     pub balance: u64,
//! }
//!
//! #[reducer]
//! fn open_account(ctx: &mut WriteContext, owner: String, initial: u64) -> Result<u64, String> {
//!     let acc = ctx.tables.accounts().insert(Account { id: 0, owner, balance: initial });
//!     Ok(acc.id)
//! }
//!
//! #[reducer(mode = "read")]
//! fn balance(ctx: &ReadContext, id: u64) -> Result<u64, String> {
//!     ctx.tables.accounts().get(&id).map(|a| a.balance).ok_or_else(|| format!("no account {id}"))
//! }
//! ```
//!
//! `docs/SDK.md` in the repository is the full guide.
//!
//! The crate also compiles for the host (so that documentation, unit tests of
//! pure helpers and compile tests work); there every call that needs the
//! runtime panics with "only available inside the Interstice runtime".

// The generated code names `::interstice_sdk`; make that path work inside
// this crate's own tests too.
extern crate self as interstice_sdk;

pub mod bindings;
mod context;
mod query;
mod reply;
mod rng;
mod sys;
mod table;

#[doc(hidden)]
pub mod __private;

pub use interstice_abi as abi;
pub use interstice_abi::cbor::{Reader, Writer};
pub use interstice_abi::{AbiError, Args, Bytes, IntersticeType, Type};

#[doc(hidden)]
pub use context::WriteCallFromRead;
pub use context::{Level, ReadContext, WriteContext};
pub use query::{
    BTreeKind, Col, Comparable, Filter, HashKind, IndexColumn, IndexHandle, IndexPrefix, Query,
    QueryIter, Summable, UniqueKind,
};
pub use reply::{CallError, ReplyReducer, ReplyTo};
pub use rng::ContextRng;
pub use table::{
    OldTable, ReadTableHandle, ReadTables, Table, TableHandle, TableId, TableIter, Tables,
    WriteTables,
};

pub use interstice_sdk_macros::{
    interstice_module, migration, reducer, reply_to, table, IntersticeType,
};

/// The `rand_core` crate the context RNG implements (its `Rng` trait gives
/// `next_u32`, `next_u64` and `fill_bytes`; the `rand` crate's `RngExt` adds
/// ranges and distributions).
pub use rand_core;

/// Everything a module usually needs: `use interstice_sdk::prelude::*;`.
pub mod prelude {
    pub use crate::{
        debug, error, info, interstice_module, migration, reducer, reply_to, table, trace, warn,
        Bytes, CallError, ContextRng, IntersticeType, Level, OldTable, ReadContext,
        ReadTableHandle, Table, TableHandle, WriteContext,
    };
    pub use rand_core::Rng as _;
}

/// Logs at a level through the host's `log` call:
/// `log!(Level::Info, "balance is {}", b)`.
#[macro_export]
macro_rules! log {
    ($level:expr, $($arg:tt)+) => {
        $crate::__private::log($level, &::std::format!($($arg)+))
    };
}

/// Logs an error: `error!("cannot open {}", id)`.
#[macro_export]
macro_rules! error {
    ($($arg:tt)+) => { $crate::log!($crate::Level::Error, $($arg)+) };
}

/// Logs a warning: `warn!("low balance {}", b)`.
#[macro_export]
macro_rules! warn {
    ($($arg:tt)+) => { $crate::log!($crate::Level::Warn, $($arg)+) };
}

/// Logs information: `info!("opened account {}", id)`.
#[macro_export]
macro_rules! info {
    ($($arg:tt)+) => { $crate::log!($crate::Level::Info, $($arg)+) };
}

/// Logs a debug message: `debug!("state {:?}", s)`.
#[macro_export]
macro_rules! debug {
    ($($arg:tt)+) => { $crate::log!($crate::Level::Debug, $($arg)+) };
}

/// Logs a trace message: `trace!("entering")`.
#[macro_export]
macro_rules! trace {
    ($($arg:tt)+) => { $crate::log!($crate::Level::Trace, $($arg)+) };
}
