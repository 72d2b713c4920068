//! A module's in-memory tables (the `tables` layer of the runtime,
//! `docs/ARCHITECTURE.md` "Layers").
//!
//! Rows are stored as their canonical CBOR, keyed by a memcomparable
//! encoding of the primary key ([`Table`], the entry encoding in
//! `entry.rs`). [`Tables`] holds a module's tables and the open
//! transaction's change list, which is both the undo log (rollback) and
//! what is logged and routed after a commit ([`Change`]). Replay applies
//! logged mutations (`apply.rs`), mostly through a write-back overlay
//! ([`ReplayTables`]); snapshots export and restore the logged tables
//! (`snapshot.rs`); the state hash compares two states (`state_hash.rs`).
//!
//! This crate imports neither the wasm layer nor actix: it is plain data
//! and the rules over it, used by the wasm host calls, replay and the
//! module actors alike. `tests/all/layers.rs` checks the direction.

mod apply;
mod entry;
mod error;
mod index;
mod overlay;
mod query;
mod snapshot;
mod state_hash;
mod store;
mod table;
mod tables;

pub use error::{SnapshotProblem, TableError};
pub use overlay::ReplayTables;
pub use query::{Aggregated, Cursor, Page, PageEnd};
pub use table::Table;
pub use tables::{Change, Tables};

/// A stored row: its canonical CBOR encoding (`[columns…]`).
pub type Row = Box<[u8]>;
/// A memcomparable primary key.
pub type Key = Box<[u8]>;

#[cfg(test)]
mod tests;
