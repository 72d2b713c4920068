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
//! It reads the log with `persist::read_log` over a plain [`FileStorage`]
//! on `DIR/log`, verifying the hash chain, one segment in memory at a time:
//! no lock is taken and nothing is written, so it is safe next to a
//! running runtime, and memory does not grow with the log (only the
//! modules' schemas are kept). A torn tail ends the dump (a warning on
//! stderr); corruption is an error (exit 1) after what was read before it.

use std::collections::HashMap;
use std::path::Path;

use interstice_abi::{ModuleSchema, Type, Value};
use interstice_persist::{
    for_each_entry, read_log, Cause, CommitRecord, FileStorage, LogEntry, MutationOp, Nondet,
    Outcome, PersistError, ReadOptions,
};
use serde_json::{json, Value as Json};

use crate::error::CliError;
use crate::output;

/// The output formats of `log-dump`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DumpFormat {
    /// One JSON object per entry.
    Json,
    /// One CSV line per mutation, with a header.
    Csv,
}

/// Opens `DIR/log` for reading without the lock, refusing a directory that
/// is not a data directory.
pub fn log_storage(dir: &Path) -> Result<FileStorage, CliError> {
    let log_dir = dir.join(interstice_persist::datadir::LOG_DIR);
    match std::fs::symlink_metadata(&log_dir) {
        Ok(m) if m.file_type().is_symlink() => {
            Err(CliError::Persist(PersistError::Symlink { path: log_dir }))
        }
        Ok(m) if m.is_dir() => Ok(FileStorage::new(log_dir)),
        _ => Err(CliError::Persist(PersistError::NotADataDir {
            path: dir.to_path_buf(),
            reason: "it has no log/ directory".into(),
        })),
    }
}

/// The schemas the log has installed so far, by module name.
#[derive(Debug, Default)]
pub struct Schemas {
    by_module: HashMap<String, ModuleSchema>,
}

impl Schemas {
    /// Records an install's schema (an upgrade replaces the module's).
    pub fn install(&mut self, name: &str, schema: &[u8]) -> Result<(), CliError> {
        let s = ModuleSchema::decode(schema).map_err(|e| {
            CliError::CheckFailed(format!(
                "the logged schema of module {name} does not decode: {e}"
            ))
        })?;
        self.by_module.insert(name.to_owned(), s);
        Ok(())
    }

    /// The current schema of `module`.
    pub fn get(&self, module: &str) -> Option<&ModuleSchema> {
        self.by_module.get(module)
    }
}

/// Decodes `bytes` as a value of `ty` into the CLI's JSON, or shows them
/// as hex with the reason when they do not decode.
pub fn decode_json(ty: Option<&Type>, bytes: &[u8]) -> Json {
    match ty {
        Some(ty) => match Value::decode_exact(ty, bytes) {
            Ok(v) => v.to_json(ty),
            Err(e) => json!({ "undecodable": output::hex(bytes), "error": e.to_string() }),
        },
        None => json!({ "undecodable": output::hex(bytes), "error": "no schema for it" }),
    }
}

/// The JSON form of a cause.
pub fn cause_json(c: &Cause) -> Json {
    match c {
        Cause::External => json!({ "kind": "external" }),
        Cause::Init => json!({ "kind": "init" }),
        Cause::Call { module, ts, index } => {
            json!({ "kind": "call", "module": module, "ts": ts, "index": index })
        }
        Cause::Trigger { module, ts, index } => {
            json!({ "kind": "trigger", "module": module, "ts": ts, "index": index })
        }
        Cause::Migration {
            table,
            from_version,
            to_version,
        } => json!({
            "kind": "migration", "table": table,
            "from_version": from_version, "to_version": to_version
        }),
    }
}

/// One mutation: `(table name, op, key JSON, row JSON or null)`.
fn mutation_parts(
    schema: Option<&ModuleSchema>,
    table: u32,
    op: &MutationOp,
) -> (String, &'static str, Json, Json) {
    let t = schema.and_then(|s| s.tables.get(table as usize));
    let name = t.map_or_else(|| format!("#{table}"), |t| t.name.clone());
    let row_ty = t.map(|t| t.row_type());
    let key_of = |row: &Json| match (t, row) {
        (Some(t), Json::Object(fields)) => t
            .columns
            .get(t.primary_key as usize)
            .and_then(|c| fields.get(&c.name).cloned())
            .unwrap_or(Json::Null),
        _ => Json::Null,
    };
    match op {
        MutationOp::Insert(row) | MutationOp::Update(row) => {
            let row = decode_json(row_ty.as_ref(), row);
            let key = key_of(&row);
            let op = if matches!(op, MutationOp::Insert(_)) {
                "insert"
            } else {
                "update"
            };
            (name, op, key, row)
        }
        MutationOp::Delete(key) => (
            name,
            "delete",
            decode_json(t.map(|t| t.key_type()), key),
            Json::Null,
        ),
    }
}

/// The JSON form of a commit, rows decoded with `schema`.
pub fn commit_json(c: &CommitRecord, schema: Option<&ModuleSchema>) -> Json {
    let reducer = schema.and_then(|s| s.reducer(&c.reducer).map(|(_, r)| r));
    let params = reducer.map(|r| Type::Tuple(r.params.iter().map(|p| p.ty.clone()).collect()));
    let outcome = match &c.outcome {
        Outcome::Ok(v) => json!({ "ok": decode_json(reducer.map(|r| &r.returns), v) }),
        Outcome::Err { kind, message } => {
            json!({ "err": { "kind": kind.name(), "message": message } })
        }
    };
    let mutations: Vec<Json> = c
        .mutations
        .iter()
        .map(|m| {
            let (table, op, key, row) = mutation_parts(schema, m.table, &m.op);
            json!({ "table": table, "op": op, "key": key, "row": row })
        })
        .collect();
    let calls: Vec<Json> = c
        .calls
        .iter()
        .map(|call| json!({ "module": call.module, "reducer": call.reducer, "args": output::hex(&call.args) }))
        .collect();
    let nondet: Vec<Json> = c
        .nondet
        .iter()
        .map(|n| match n {
            Nondet::Now(t) => json!({ "now_micros": t }),
            Nondet::RngSeed(s) => json!({ "rng_seed": output::hex(s) }),
            Nondet::Timestamp(ts) => json!({ "timestamp": ts }),
            Nondet::ReadCall {
                module, reducer, ..
            } => json!({ "read_call": format!("{module}.{reducer}") }),
        })
        .collect();
    json!({
        "kind": "commit",
        "ts": c.ts,
        "module": c.module,
        "reducer": c.reducer,
        "args": decode_json(params.as_ref(), &c.args),
        "cause": cause_json(&c.cause),
        "outcome": outcome,
        "mutations": mutations,
        "calls": calls,
        "nondet": nondet,
    })
}

/// Runs the command.
pub fn run(dir: &Path, format: DumpFormat) -> Result<(), CliError> {
    let storage = log_storage(dir)?;
    let mut schemas = Schemas::default();
    if format == DumpFormat::Csv {
        emit_csv(&["ts", "module", "table", "op", "key", "row"])?;
    }
    let report = read_log(
        &storage,
        &ReadOptions::default(),
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
    if let Some(torn) = &report.summary.torn_tail {
        output::progress(format!(
            "warning: the log ends in a torn tail (a write in progress or a crash); dumped up to \
             ts {}: {torn}",
            report.last_ts
        ));
    }
    Ok(())
}

/// Writes one CSV record to stdout (through the output layer).
fn emit_csv(fields: &[&str]) -> Result<(), CliError> {
    let mut w = csv::WriterBuilder::new()
        .buffer_capacity(256)
        .from_writer(Vec::new());
    let csv_err = |e: csv::Error| CliError::CheckFailed(format!("writing CSV: {e}"));
    w.write_record(fields).map_err(csv_err)?;
    let buf = w
        .into_inner()
        .map_err(|e| CliError::CheckFailed(format!("writing CSV: {}", e.error())))?;
    let line = String::from_utf8_lossy(&buf);
    output::result(line.trim_end_matches('\n'));
    Ok(())
}
