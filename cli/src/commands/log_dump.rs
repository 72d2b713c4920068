//! `interstice log-dump -d DIR [--format json|csv]`: raw export of the log
//! for analysis (`docs/TOOLS.md`).
//!
//! - `json` (default): one JSON object per log entry, in timestamp order.
//!   Rows, keys and arguments are decoded with the schema the log itself
//!   recorded (the latest `Install` of the module before the entry) into
//!   the same JSON the CLI accepts; bytes that do not decode are shown as
//!   `{"undecodable": "<hex>", "error": "..."}`.
//! - `csv`: one line per mutation, with the header
//!   `ts,module,table,op,key,row` (`key` and `row` as JSON; `row` is empty
//!   for a delete).
//!
//! It reads the log with `persist::read_log` over a plain `FileStorage`
//! on `DIR/log`, verifying the hash chain, one segment in memory at a time:
//! no lock is taken and nothing is written, so it is safe next to a
//! running runtime, and memory does not grow with the log (only the
//! modules' schemas are kept). A torn tail ends the dump (a warning on
//! stderr); corruption is an error (exit 1) after what was read before it.
//! A log trimmed by retention is dumped from the snapshot it continues
//! (`inspect/state.rs`: `open_log`), with a note on stderr.

use std::path::Path;

use interstice_actors::engine_json;
use interstice_persist::{for_each_entry, read_log, LogEntry};
use serde_json::json;

use crate::error::CliError;
use crate::inspect::decode::{commit_json, mutation_parts, Schemas};
use crate::inspect::emit::emit_csv;
use crate::inspect::state::{open_log, warn_torn_tail};
use crate::output;

/// The output formats of `log-dump`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DumpFormat {
    /// One JSON object per entry.
    Json,
    /// One CSV line per mutation, with a header.
    Csv,
}

/// Runs the command.
pub fn run(dir: &Path, format: DumpFormat) -> Result<(), CliError> {
    let source = open_log(dir)?;
    let mut schemas = Schemas::default();
    if let Some(snap) = &source.snapshot {
        output::progress(format!(
            "note: the log before timestamp {} was deleted by retention; dumping from there \
             (the snapshot at ts {} holds the state before it)",
            snap.ts + 1,
            snap.ts
        ));
        for m in &snap.modules {
            schemas.install(&m.name, &m.schema)?;
        }
    }
    if format == DumpFormat::Csv {
        emit_csv(&["ts", "module", "table", "op", "key", "row"])?;
    }
    let report = read_log(
        &source.storage,
        &source.opts,
        for_each_entry(|entry| {
            if output::stdout_closed() {
                return Ok(());
            }
            match &entry {
                LogEntry::Install(i) => {
                    schemas.install(&i.name, &i.schema)?;
                    if format == DumpFormat::Json {
                        output::result(json!({
                            "kind": "install",
                            "ts": i.ts,
                            "module": i.name,
                            "version": i.version,
                            "schema_hash": output::hex(&i.schema_hash),
                            "wasm_hash": output::hex(&i.wasm_hash),
                            "engine": i.engine.as_ref().map(engine_json),
                        }));
                    }
                }
                LogEntry::Unload(u) => {
                    if format == DumpFormat::Json {
                        output::result(crate::inspect::unload_json(u));
                    }
                }
                LogEntry::Engine(e) => {
                    if format == DumpFormat::Json {
                        output::result(json!({
                            "kind": "engine",
                            "ts": e.ts,
                            "engine": engine_json(&e.engine),
                        }));
                    }
                }
                LogEntry::Commit(c) => {
                    let schema = schemas.get(&c.module);
                    match format {
                        DumpFormat::Json => output::result(commit_json(c, schema)),
                        DumpFormat::Csv => {
                            for m in &c.mutations {
                                let (table, op, key, row) = mutation_parts(schema, m.table, &m.op);
                                let row = if row.is_null() {
                                    String::new()
                                } else {
                                    row.to_string()
                                };
                                emit_csv(&[
                                    &c.ts.to_string(),
                                    &c.module,
                                    &table,
                                    op,
                                    &key.to_string(),
                                    &row,
                                ])?;
                            }
                        }
                    }
                }
            }
            Ok::<(), CliError>(())
        }),
    )?;
    warn_torn_tail(&report, "dumped up to");
    Ok(())
}
