//! The catch-up of a resumed subscription (`docs/SERVER.md`, "Resuming"):
//! the changes to one table with timestamps in `from..=to`, read from the
//! log with `persist::read_log` (verifying the hash chain; no lock, nothing
//! written), rows decoded with the schema the log installed. When retention
//! deleted the log's start, reading starts at the oldest snapshot the
//! remaining log continues (the inspection layer's `open_log`), so any
//! `from` after that snapshot resumes; an earlier one is
//! [`CatchUpFailure::Unavailable`]. The log holds
//! a delete's key and an update's new row, not the old row, so these events
//! have `"old": null`; every event has `"key"`.

use std::path::Path;

use interstice_abi::TableSchema;
use interstice_persist::{for_each_entry, read_log, LogEntry, MutationOp};
use serde_json::{json, Value as Json};
use tokio::sync::mpsc;

use crate::error::CliError;
use crate::inspect::decode::{decode_json, Schemas};
use crate::inspect::state::open_log;

/// Why a catch-up could not be read.
#[derive(Debug)]
pub(super) enum CatchUpFailure {
    /// Retention deleted the changes from `from` on up to a snapshot, so
    /// they cannot be read.
    Unavailable(String),
    /// Reading or decoding the log failed.
    Failed(String),
    /// The subscriber went away.
    Closed,
}

/// The primary key of a row given as JSON (a struct keyed by column name).
pub(super) fn key_of(table: &TableSchema, row: &Json) -> Json {
    table
        .columns
        .get(table.primary_key as usize)
        .and_then(|c| row.get(&c.name).cloned())
        .unwrap_or(Json::Null)
}

/// Sends the events of every commit that changed `module.table` at a
/// timestamp in `from..=to` to `out`, one message per commit, in log order;
/// returns the number of commits sent. Blocking: run it on a blocking
/// thread.
pub(super) fn catch_up(
    data_dir: &Path,
    module: &str,
    table: &str,
    from: u64,
    to: u64,
    out: &mpsc::Sender<(u64, Vec<Json>)>,
) -> Result<u64, CatchUpFailure> {
    if from > to {
        return Ok(0);
    }
    let failed = |e: CliError| CatchUpFailure::Failed(e.to_string());
    let source = open_log(data_dir).map_err(failed)?;
    let mut schemas = Schemas::default();
    if let Some(snap) = &source.snapshot {
        if from <= snap.ts {
            return Err(CatchUpFailure::Unavailable(format!(
                "the changes from timestamp {from} to {} are no longer in the log: retention \
                 deleted them once the snapshot at timestamp {} covered them; resume with \
                 from_ts {} or later, or subscribe without from_ts and read the table's \
                 current rows",
                snap.ts,
                snap.ts,
                snap.ts + 1
            )));
        }
        for m in snap.modules.iter().filter(|m| m.name == module) {
            schemas.install(&m.name, &m.schema).map_err(failed)?;
        }
    }
    let mut sent = 0u64;
    let mut closed = false;
    let opts = source.opts.clone().with_stop_at(Some(to));
    let res = read_log(
        &source.storage,
        &opts,
        for_each_entry(|entry| -> Result<(), CliError> {
            match entry {
                LogEntry::Install(i) if i.name == module => schemas.install(&i.name, &i.schema),
                LogEntry::Commit(c) if c.module == module && c.ts >= from => {
                    let Some((index, t)) = schemas.get(module).and_then(|s| s.table(table)) else {
                        return Ok(());
                    };
                    let row_type = t.row_type();
                    let mut events = Vec::new();
                    for m in c.mutations.iter().filter(|m| m.table == index) {
                        let (event, new, key) = match &m.op {
                            MutationOp::Insert(row) | MutationOp::Update(row) => {
                                let new = decode_json(Some(&row_type), row);
                                let key = key_of(t, &new);
                                let ev = if matches!(m.op, MutationOp::Insert(_)) {
                                    "insert"
                                } else {
                                    "update"
                                };
                                (ev, new, key)
                            }
                            MutationOp::Delete(key) => {
                                ("delete", Json::Null, decode_json(Some(t.key_type()), key))
                            }
                        };
                        events.push(json!({
                            "ts": c.ts, "module": module, "table": table, "event": event,
                            "old": null, "new": new, "key": key,
                        }));
                    }
                    if events.is_empty() {
                        return Ok(());
                    }
                    if out.blocking_send((c.ts, events)).is_err() {
                        closed = true;
                        return Err(CliError::Server("the subscriber is gone".into()));
                    }
                    sent += 1;
                    Ok(())
                }
                _ => Ok(()),
            }
        }),
    );
    match res {
        Ok(_) => Ok(sent),
        Err(_) if closed => Err(CatchUpFailure::Closed),
        Err(e) => Err(failed(e)),
    }
}
