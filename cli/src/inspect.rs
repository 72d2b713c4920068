//! The read-only log and state layer under the inspection commands
//! (`log-dump`, `log-inspect`, `tables`, `schema-diff`, `load --dry-run`;
//! `docs/TOOLS.md`).
//!
//! Nothing here takes the data directory's lock or writes a byte: the log
//! is read with `persist::read_log` over a plain `FileStorage` (the hash
//! chain verified as it goes, one segment in memory at a time), rows are
//! decoded with the schema the log recorded (`decode.rs`), the tables are
//! rebuilt by applying the logged mutations to `interstice-tables` without
//! running any wasm (`state.rs`), `--where` predicates are compiled to the
//! host's filter encoding and evaluated by the host's own query code
//! (`predicate.rs`), rows are read with the host's query code (`rows.rs`),
//! and upgrade plans classify a schema change with the
//! runtime's `SchemaDiff` rules (`plan.rs`). Long reads show a progress
//! spinner on stderr when it is a terminal (`progress.rs`).

pub mod decode;
pub mod emit;
pub mod plan;
pub mod predicate;
pub mod progress;
pub mod rows;
pub mod state;

/// The JSON form of an `Unload` entry, as `log-dump --format json`,
/// `log-inspect --format json` and `replay-debug` show it:
/// `{"kind": "unload", "ts", "module", "tables": "keep"|"drop"}`.
pub fn unload_json(u: &interstice_persist::UnloadRecord) -> serde_json::Value {
    serde_json::json!({
        "kind": "unload",
        "ts": u.ts,
        "module": u.name,
        "tables": u.tables.name(),
    })
}

/// The one-line text form of an `Unload` entry: `unload bank (tables
/// dropped)`.
pub fn unload_text(u: &interstice_persist::UnloadRecord) -> String {
    let what = match u.tables {
        interstice_persist::UnloadTables::Keep => "kept",
        interstice_persist::UnloadTables::Drop => "dropped",
    };
    format!("unload {} (tables {what})", u.name)
}
