//! `interstice run`: a JSON-lines server on stdin/stdout.
//!
//! Requests, one JSON object per line:
//! - `{"id": ID, "op": "call", "module": M, "reducer": R, "args": [...]}`
//! - `{"id": ID, "op": "read", ...}` — like call, but refuses write reducers;
//! - `{"id": ID, "op": "subscribe", "module": M, "table": T}` — then every
//!   durable change arrives as `{"id": ID, "event": {...}}`;
//! - `{"id": ID, "op": "hash"}` — the state hash; `{"id": ID, "op": "metrics"}`.
//!
//! Each request gets one reply line `{"id": ID, "ok": true, "ts": N,
//! "result": ...}` or `{"id": ID, "ok": false, "error": {"kind", "message"}}`.
//! Requests run concurrently; replies come as they finish. A reply to a
//! write is sent only once the commit is acknowledged (durable in `sync`
//! mode). On end of input, Ctrl+C or SIGTERM the server finishes in-flight
//! requests, flushes the log and exits.

use std::path::PathBuf;
use std::sync::Arc;

use futures::StreamExt;
use interstice_abi::ReducerMode;
use interstice_actors::Runtime;
use serde_json::{json, Value as Json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::{mpsc, Semaphore};
use tokio::task::JoinSet;

use crate::args::{DataDirArgs, ReplayArgs, SnapshotArgs};
use crate::commands::{close, error_json};
use crate::error::{read_file, CliError};
use crate::output;

/// Most requests served at once.
const MAX_IN_FLIGHT: usize = 1024;

/// Serves until end of input or a signal. With `--stop-at` or
/// `--skip-to-log-offset` the runtime is read-only: write requests get an
/// error of kind `ReadOnly`, and the ready line says why (`"read_only"`).
pub async fn run(
    dir: &DataDirArgs,
    replay: &ReplayArgs,
    snapshots: &SnapshotArgs,
    wasm: &[PathBuf],
) -> Result<(), CliError> {
    let mut b = Runtime::builder()
        .data_dir(&dir.data_dir)
        .durability(dir.durability);
    if let Some(n) = snapshots.snapshot_every {
        b = b.snapshot_every_commits(n);
    }
    if let Some(n) = snapshots.snapshot_every_bytes {
        b = b.snapshot_every_bytes(n);
    }
    if let Some(k) = snapshots.keep_snapshots {
        b = b.keep_snapshots(k);
    }
    if let Some(n) = snapshots.segment_size {
        b = b.segment_size(n);
    }
    if let Some(ts) = replay.stop_at {
        b = b.stop_at(ts);
    }
    if let Some(pos) = &replay.skip_to_log_offset {
        b = b.skip_to_log_offset(pos.clone());
    }
    let rt = b.open().await?;
    let res = serve(&rt, wasm).await;
    close(&rt, res).await
}

async fn serve(rt: &Runtime, wasm: &[PathBuf]) -> Result<(), CliError> {
    for path in wasm {
        rt.load_module(read_file(path)?).await?;
    }
    let (out_tx, mut out_rx) = mpsc::unbounded_channel::<Json>();
    let writer = tokio::spawn(async move {
        let mut stdout = tokio::io::stdout();
        while let Some(v) = out_rx.recv().await {
            let mut line = v.to_string();
            line.push('\n');
            if stdout.write_all(line.as_bytes()).await.is_err() || stdout.flush().await.is_err() {
                break;
            }
        }
    });
    let modules: Vec<String> = rt.modules().into_iter().map(|m| m.name).collect();
    let mut ready = json!({"ready": true, "modules": modules, "durable_ts": rt.durable_ts()});
    if let Some(why) = rt.read_only() {
        ready["read_only"] = json!(why);
    }
    let _ = out_tx.send(ready);

    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    let mut tasks = JoinSet::new();
    let permits = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    let mut sigterm = terminate_signal();
    loop {
        let line = tokio::select! {
            l = lines.next_line() => l?,
            _ = tokio::signal::ctrl_c() => None,
            _ = sigterm.recv() => None,
        };
        let Some(line) = line else { break };
        if line.trim().is_empty() {
            continue;
        }
        let permit = permits
            .clone()
            .acquire_owned()
            .await
            .expect("semaphore open");
        let (rt, out) = (rt.clone(), out_tx.clone());
        tasks.spawn(async move {
            let reply = handle(&rt, &line, &out).await;
            let _ = out.send(reply);
            drop(permit);
        });
        while tasks.try_join_next().is_some() {}
    }
    while tasks.join_next().await.is_some() {}
    drop(out_tx);
    let _ = writer.await;
    Ok(())
}

#[cfg(unix)]
fn terminate_signal() -> mpsc::UnboundedReceiver<()> {
    let (tx, rx) = mpsc::unbounded_channel();
    if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        tokio::spawn(async move {
            s.recv().await;
            let _ = tx.send(());
        });
    }
    rx
}

#[cfg(not(unix))]
fn terminate_signal() -> mpsc::UnboundedReceiver<()> {
    mpsc::unbounded_channel().1
}

fn fail(id: &Json, kind: &str, message: String) -> Json {
    json!({"id": id, "ok": false, "error": {"kind": kind, "message": message}})
}

async fn handle(rt: &Runtime, line: &str, out: &mpsc::UnboundedSender<Json>) -> Json {
    let req: Json = match serde_json::from_str(line) {
        Ok(v) => v,
        Err(e) => {
            return fail(
                &Json::Null,
                "BadRequest",
                format!("request is not JSON: {e}"),
            )
        }
    };
    let id = req.get("id").cloned().unwrap_or(Json::Null);
    let s = |k: &str| req.get(k).and_then(Json::as_str).unwrap_or("").to_owned();
    let (op, module, reducer) = (s("op"), s("module"), s("reducer"));
    match op.as_str() {
        "call" | "read" => {
            let args = match req.get("args") {
                None => Vec::new(),
                Some(Json::Array(a)) => a.clone(),
                Some(_) => return fail(&id, "BadRequest", "`args` must be an array".into()),
            };
            if op == "read" {
                let is_write = rt.modules().iter().any(|m| {
                    m.name == module
                        && m.schema
                            .reducer(&reducer)
                            .is_some_and(|(_, r)| r.mode == ReducerMode::Write)
                });
                if is_write {
                    return fail(
                        &id,
                        "WrongMode",
                        format!("{module}.{reducer} is a write reducer; use op \"call\""),
                    );
                }
            }
            match rt.call_json(&module, &reducer, &args).await {
                Ok(v) => json!({"id": id, "ok": true, "ts": v.ts, "result": v.to_json()}),
                Err(e) => json!({"id": id, "ok": false, "error": error_json(&e)}),
            }
        }
        "subscribe" => {
            let table = s("table");
            match rt.subscribe(&module, &table) {
                Ok(mut stream) => {
                    let (out, id2) = (out.clone(), id.clone());
                    tokio::spawn(async move {
                        while let Some(change) = stream.next().await {
                            if out
                                .send(json!({"id": id2, "event": change.to_json()}))
                                .is_err()
                            {
                                break;
                            }
                        }
                    });
                    json!({"id": id, "ok": true, "result": "subscribed"})
                }
                Err(e) => json!({"id": id, "ok": false, "error": error_json(&e)}),
            }
        }
        "hash" => match rt.state_hash().await {
            Ok(h) => json!({"id": id, "ok": true, "result": output::hex(&h)}),
            Err(e) => json!({"id": id, "ok": false, "error": error_json(&e)}),
        },
        "metrics" => {
            let m = rt.metrics();
            json!({"id": id, "ok": true, "result": {
                "commits": m.commits, "rollbacks": m.rollbacks, "fsyncs": m.fsyncs,
                "instantiations": m.instantiations, "wasm_calls": m.wasm_calls,
                "replayed_entries": m.replayed_entries, "durable_ts": rt.durable_ts(),
            }})
        }
        other => fail(
            &id,
            "BadRequest",
            format!("unknown op `{other}`: use call, read, subscribe, hash or metrics"),
        ),
    }
}
