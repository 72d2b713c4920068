//! `GET /v1/ws`: the `run` protocol over WebSocket (`docs/SERVER.md`,
//! "WebSocket"). Each text message is one request (`call`, `read`, `hash`,
//! `metrics`, `subscribe`), decoded by `commands/run/request.rs`; replies
//! carry the request's `id` and come as calls finish. A `subscribe` may
//! give `from_ts` to resume: the changes from that timestamp up to the
//! subscription's registration are read from the log (`resume.rs`), the
//! later ones come live, and the two are cut at the timestamp
//! `Runtime::subscribe_with_position` returns, so nothing is missed or
//! repeated. Subscription messages carry one commit each, so a client never
//! holds part of a commit: after a dropped connection, `from_ts` = the last
//! `ts` it saw + 1.
//!
//! A browser, which cannot set `Authorization` on a handshake, offers the
//! subprotocols `interstice.v1` and `interstice.bearer.TOKEN` (`auth.rs`
//! reads the token there); the server selects `interstice.v1`, so the
//! token is never echoed.
//!
//! Bounds: [`MAX_SESSIONS`] sessions, [`MAX_CALLS`] calls in flight per
//! session (the session stops reading while at the limit) and the server's
//! in-flight limit for each call, [`MAX_SUBSCRIPTIONS`] per session,
//! [`OUT_QUEUE`] messages waiting for the client, messages of at most
//! `MAX_BODY` bytes, and a subscription whose client falls [`MAX_LAG`]
//! commits behind is ended with a `Lagging` error (it resumes with
//! `from_ts`).

use std::sync::Arc;

use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Extension, State};
use axum::response::Response;
use futures::{SinkExt, StreamExt};
use interstice_abi::schema::Persistence;
use interstice_actors::RowChange;
use serde_json::{json, Map, Value as Json};
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;

use super::auth::{self, Role};
use super::resume::{catch_up, key_of, CatchUpFailure};
use super::{routes, status, AppState, MAX_BODY, REQUEST_TIMEOUT};
use crate::commands::run::request::{self, fail, Op, Request};

/// WebSocket sessions open at once.
pub(crate) const MAX_SESSIONS: usize = 1024;
/// Calls in flight per session.
pub(crate) const MAX_CALLS: usize = 256;
/// Subscriptions per session.
pub(crate) const MAX_SUBSCRIPTIONS: usize = 64;
/// Messages waiting for the client per session.
pub(crate) const OUT_QUEUE: usize = 1024;
/// Commits a subscription may have queued for a client that reads slowly.
pub(crate) const MAX_LAG: usize = 10_000;

/// Upgrades the connection (one of [`MAX_SESSIONS`]).
pub(super) async fn upgrade(
    State(state): State<Arc<AppState>>,
    Extension(role): Extension<Role>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let ws = match ws {
        Ok(ws) => ws,
        Err(e) => return status::error("BadRequest", e.body_text()),
    };
    // A browser's handshake: the token rode in the subprotocols, and the
    // server must select one of those offered or the browser drops the
    // connection. It selects `interstice.v1`, never the token's.
    let offered: Vec<&[u8]> = ws.requested_protocols().map(|p| p.as_bytes()).collect();
    let bearer = offered
        .iter()
        .any(|p| p.starts_with(auth::BEARER_PROTOCOL.as_bytes()));
    if bearer && !offered.contains(&auth::WS_PROTOCOL.as_bytes()) {
        return status::error(
            "BadRequest",
            format!(
                "a handshake with the token in its subprotocols must offer `{}` too (the one \
                 the server selects)",
                auth::WS_PROTOCOL
            ),
        );
    }
    let ws = ws.protocols([auth::WS_PROTOCOL]);
    let Ok(slot) = state.ws_sessions.clone().try_acquire_owned() else {
        return status::error(
            "Overloaded",
            format!("{MAX_SESSIONS} WebSocket sessions are open; try again later"),
        );
    };
    ws.max_message_size(MAX_BODY)
        .max_frame_size(MAX_BODY)
        .on_upgrade(move |socket| session(socket, state, role, slot))
}

fn text(v: &Json) -> Message {
    Message::Text(v.to_string().into())
}

async fn session(socket: WebSocket, state: Arc<AppState>, role: Role, _slot: OwnedSemaphorePermit) {
    let (mut sink, mut stream) = socket.split();
    let (out, mut out_rx) = mpsc::channel::<Message>(OUT_QUEUE);
    let writer = tokio::spawn(async move {
        // Everything queued when the writer wakes goes out in one flush:
        // with many calls in flight, one write carries many replies.
        'session: while let Some(first) = out_rx.recv().await {
            let mut next = Some(first);
            while let Some(m) = next.take() {
                let close = matches!(m, Message::Close(_));
                if sink.feed(m).await.is_err() {
                    break 'session;
                }
                if close {
                    let _ = sink.flush().await;
                    break 'session;
                }
                next = out_rx.try_recv().ok();
            }
            if sink.flush().await.is_err() {
                break;
            }
        }
        let _ = sink.close().await;
    });
    let calls = Arc::new(Semaphore::new(MAX_CALLS));
    let mut tasks = JoinSet::new();
    let mut subscriptions = 0usize;
    loop {
        let msg = tokio::select! {
            m = stream.next() => m,
            () = state.stop.cancelled() => {
                let _ = out.try_send(Message::Close(Some(CloseFrame {
                    code: 1001,
                    reason: "the server is shutting down".into(),
                })));
                break;
            }
            () = out.closed() => break,
        };
        let message = match msg {
            Some(Ok(Message::Text(t))) => t,
            Some(Ok(Message::Binary(_))) => {
                let reply = request::bad_request("send each request as one text message");
                let _ = out.send(text(&reply)).await;
                continue;
            }
            Some(Ok(Message::Close(_)) | Err(_)) | None => break,
            Some(Ok(_)) => continue,
        };
        let req = match request::parse_object(message.as_str()) {
            Ok(r) => r,
            Err(reply) => {
                let _ = out.send(text(&reply)).await;
                continue;
            }
        };
        let from_ts = match from_ts_field(&req) {
            Ok(f) => f,
            Err(reply) => {
                let _ = out.send(text(&reply)).await;
                continue;
            }
        };
        let Request { id, op } = match request::parse_request(&req) {
            Ok(r) => r,
            Err(reply) => {
                let _ = out.send(text(&reply)).await;
                continue;
            }
        };
        match op {
            Op::Metrics => {
                let _ = out.send(text(&request::metrics(&state.rt, &id))).await;
            }
            Op::Subscribe { module, table } => {
                if subscriptions >= MAX_SUBSCRIPTIONS {
                    let reply = fail(
                        &id,
                        "Overloaded",
                        format!("a session has at most {MAX_SUBSCRIPTIONS} subscriptions"),
                    );
                    let _ = out.send(text(&reply)).await;
                    continue;
                }
                subscriptions += 1;
                tasks.spawn(subscription(
                    state.clone(),
                    id,
                    module,
                    table,
                    from_ts,
                    out.clone(),
                ));
            }
            Op::Call {
                module,
                reducer,
                read: false,
                ..
            } if role == Role::Read && routes::is_write(&state, &module, &reducer) => {
                let reply = fail(
                    &id,
                    "Forbidden",
                    format!(
                        "{module}.{reducer} is a write reducer; the read-only token may call \
                         read reducers only"
                    ),
                );
                let _ = out.send(text(&reply)).await;
            }
            op => {
                // At the per-session limit, stop reading until a call ends.
                let Ok(permit) = calls.clone().acquire_owned().await else {
                    break;
                };
                tasks.spawn(call(state.clone(), id, op, out.clone(), permit));
            }
        }
        while tasks.try_join_next().is_some() {}
    }
    tasks.abort_all();
    while tasks.join_next().await.is_some() {}
    drop(out);
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), writer).await;
}

/// `from_ts`: absent, or an integer ≥ 1.
fn from_ts_field(req: &Map<String, Json>) -> Result<Option<u64>, Json> {
    match req.get("from_ts") {
        None | Some(Json::Null) => Ok(None),
        Some(v) => match v.as_u64() {
            Some(ts) if ts >= 1 => Ok(Some(ts)),
            _ => Err(fail(
                req.get("id").unwrap_or(&Json::Null),
                "BadRequest",
                format!("`from_ts` must be an integer ≥ 1, got {v}"),
            )),
        },
    }
}

/// Runs one `call`, `read` or `hash` (in one of the server's in-flight
/// slots) and queues its reply.
async fn call(
    state: Arc<AppState>,
    id: Json,
    op: Op,
    out: mpsc::Sender<Message>,
    _permit: OwnedSemaphorePermit,
) {
    let run = async {
        let _slot = state.permits.clone().acquire_owned().await;
        match &op {
            Op::Call {
                module,
                reducer,
                args,
                read,
            } => request::call(&state.rt, &id, module, reducer, args, *read).await,
            _ => request::hash(&state.rt, &id).await,
        }
    };
    let reply = match tokio::time::timeout(REQUEST_TIMEOUT, run).await {
        Ok(reply) => reply,
        Err(_) => fail(
            &id,
            "RequestTimeout",
            format!("not answered within {REQUEST_TIMEOUT:?} (a write may still commit)"),
        ),
    };
    let _ = out.send(text(&reply)).await;
}

/// One commit's message: `{"id", "ts", "events": [...]}`.
fn commit_message(id: &Json, ts: u64, events: Vec<Json>) -> Message {
    text(&json!({"id": id, "ts": ts, "events": events}))
}

/// A live change as an event: the `run` protocol's, with `key`.
fn live_event(table: &interstice_abi::TableSchema, change: &RowChange) -> Json {
    let mut ev = change.to_json();
    let row = if ev["new"].is_null() {
        &ev["old"]
    } else {
        &ev["new"]
    };
    ev["key"] = key_of(table, row);
    ev
}

/// A subscription: the catch-up from the log (with `from_ts`), then the
/// live commits, until the session or the runtime ends.
async fn subscription(
    state: Arc<AppState>,
    id: Json,
    module: String,
    table: String,
    from_ts: Option<u64>,
    out: mpsc::Sender<Message>,
) {
    let (cut, mut live) = match state.rt.subscribe_with_position(&module, &table).await {
        Ok(s) => s,
        Err(e) => {
            let reply = json!({"id": id, "ok": false, "error": crate::commands::error_json(&e)});
            let _ = out.send(text(&reply)).await;
            return;
        }
    };
    let schema = state
        .rt
        .modules()
        .into_iter()
        .find(|m| m.name == module)
        .and_then(|m| m.schema.table(&table).map(|(_, t)| t.clone()));
    let Some(schema) = schema else {
        let reply = fail(&id, "UnknownTable", format!("`{module}.{table}` is gone"));
        let _ = out.send(text(&reply)).await;
        return;
    };
    if from_ts.is_some() && schema.persistence == Persistence::Ephemeral {
        let reply = fail(
            &id,
            "BadRequest",
            format!(
                "`{module}.{table}` is ephemeral (not logged): its changes cannot be resumed; \
                 subscribe without `from_ts`"
            ),
        );
        let _ = out.send(text(&reply)).await;
        return;
    }
    let from = from_ts.unwrap_or(cut + 1);
    let reply = json!({"id": id, "ok": true, "result": "subscribed", "from_ts": from});
    if out.send(text(&reply)).await.is_err() {
        return;
    }
    if from <= cut {
        let (tx, mut rx) = mpsc::channel::<(u64, Vec<Json>)>(64);
        let dir = state.data_dir.clone();
        let (m, t) = (module.clone(), table.clone());
        let reader = tokio::task::spawn_blocking(move || catch_up(&dir, &m, &t, from, cut, &tx));
        while let Some((ts, events)) = rx.recv().await {
            if out.send(commit_message(&id, ts, events)).await.is_err() {
                return;
            }
        }
        let failure = match reader.await {
            Ok(Ok(_)) => None,
            Ok(Err(CatchUpFailure::Closed)) => return,
            Ok(Err(CatchUpFailure::Unavailable(m))) => Some(("ResumeUnavailable", m)),
            Ok(Err(CatchUpFailure::Failed(m))) => Some(("Error", m)),
            Err(e) => Some(("Internal", format!("the log reader failed: {e}"))),
        };
        if let Some((kind, message)) = failure {
            let _ = out.send(text(&fail(&id, kind, message))).await;
            return;
        }
    }
    loop {
        let commit = tokio::select! {
            c = live.recv() => c,
            () = out.closed() => return,
        };
        let Some(commit) = commit else {
            // The runtime shut down.
            return;
        };
        let Some(ts) = commit.first().map(|c| c.ts) else {
            continue;
        };
        if ts <= cut || ts < from {
            continue;
        }
        let events = commit.iter().map(|c| live_event(&schema, c)).collect();
        if out.send(commit_message(&id, ts, events)).await.is_err() {
            return;
        }
        if live.len() > MAX_LAG {
            let reply = fail(
                &id,
                "Lagging",
                format!(
                    "more than {MAX_LAG} commits are waiting for this client; the subscription \
                     ended after ts {ts}: subscribe again with from_ts {}",
                    ts + 1
                ),
            );
            let _ = out.send(text(&reply)).await;
            return;
        }
    }
}
