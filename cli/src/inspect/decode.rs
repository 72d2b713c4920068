//! Decoding log entries into the CLI's JSON with the schema the log
//! recorded: rows, keys, arguments, return values, causes and the
//! recorded non-deterministic inputs. Bytes that do not decode with that
//! schema are shown as `{"undecodable": "<hex>", "error": "..."}` rather
//! than failing the command.

use std::collections::HashMap;
use std::path::Path;

use interstice_abi::{ModuleSchema, Type, Value};
use interstice_persist::{
    Cause, CommitRecord, FileStorage, MutationOp, Nondet, Outcome, PersistError,
};
use serde_json::{json, Value as Json};

use crate::error::CliError;
use crate::output;

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

    /// The installed modules' names, sorted.
    pub fn names(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self.by_module.keys().map(String::as_str).collect();
        v.sort_unstable();
        v
    }

    /// Every installed module's schema.
    pub fn all(&self) -> impl Iterator<Item = &ModuleSchema> {
        self.by_module.values()
    }

    /// The current schema of `module`.
    pub fn get(&self, module: &str) -> Option<&ModuleSchema> {
        self.by_module.get(module)
    }

    /// Forgets `module`'s schema (an unload that dropped its tables: a
    /// later install of the name is a first install).
    pub fn remove(&mut self, module: &str) {
        self.by_module.remove(module);
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
        Cause::Call {
            module,
            ts,
            index,
            reply,
        } => {
            let mut j = json!({ "kind": "call", "module": module, "ts": ts, "index": index });
            if let Some(r) = reply {
                j["reply"] = json!(r);
            }
            j
        }
        Cause::Reply { module, ts, index } => {
            json!({ "kind": "reply", "module": module, "ts": ts, "index": index })
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
pub fn mutation_parts(
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
        Outcome::Err {
            kind,
            message,
            value,
        } => {
            let mut err = json!({ "kind": kind.name(), "message": message });
            if let Some(v) = value {
                err["value"] = decode_json(reducer.and_then(|r| r.error.as_ref()), v);
            }
            json!({ "err": err })
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
    let mut j = json!({
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
    });
    if let Some(micros) = c.wall_micros {
        j["wall_micros"] = json!(micros);
        j["wall"] = json!(wall_text(micros));
    }
    j
}

/// A commit's wall-clock time (`CommitRecord::wall_micros`) in RFC 3339,
/// UTC, to the microsecond: `2026-12-03T05:40:01.123456Z`. RFC 3339 ends
/// with the year 9999; a later time (a host clock set that far, or a
/// hostile log) is shown as its microseconds.
pub fn wall_text(micros: u64) -> String {
    /// 10000-01-01T00:00:00Z.
    const YEAR_10000_MICROS: u64 = 253_402_300_800_000_000;
    if micros >= YEAR_10000_MICROS {
        return format!("{micros} µs after the Unix epoch");
    }
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_micros(micros);
    humantime::format_rfc3339_micros(t).to_string()
}
