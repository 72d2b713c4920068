//! The HTTP routes (`docs/SERVER.md` lists each with an example) and the
//! bounds every request passes first. Calls are decoded and answered by the
//! `run` protocol's own code (`commands/run/request.rs`), so a body's
//! values, the replies and the error kinds are those of `docs/PROTOCOL.md`.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::rejection::QueryRejection;
use axum::extract::{DefaultBodyLimit, Extension, Path, Query, Request, State};
use axum::http::{header, HeaderValue};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use interstice_abi::schema::Trigger;
use interstice_abi::ReducerMode;
use serde_json::{json, Map, Value as Json};

use super::auth::{self, Role};
use super::{dashboard, prometheus, stats, status, ws, AppState, REQUEST_TIMEOUT};
use crate::commands::logs;
use crate::commands::run::request;
use crate::inspect::predicate;
use crate::output;

/// The application: routes behind the token check, behind the bounds.
pub(super) fn router(state: Arc<AppState>) -> axum::Router {
    axum::Router::new()
        .route("/v1/status", get(server_status))
        .route("/v1/stats", get(stats::samples))
        .route("/v1/logs", get(module_logs))
        .route("/v1/modules/{module}/tables/{table}/rows", get(table_rows))
        .route("/v1/modules", get(list_modules).post(load_module))
        .route("/v1/modules/{module}", get(one_module))
        .route("/v1/modules/{module}/unload", post(unload_module))
        .route("/v1/modules/{module}/schema", get(schema))
        .route("/v1/modules/{module}/reducers/{reducer}/call", post(call))
        .route("/v1/modules/{module}/reducers/{reducer}/read", post(read))
        .route("/v1/hash", get(hash))
        .route("/v1/snapshot", post(snapshot))
        .route("/v1/backup", post(backup))
        .route("/v1/ws", get(ws::upgrade))
        .route("/metrics", get(metrics))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            auth::require_token,
        ))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            auth::check_origin,
        ))
        // The page's shell holds no data and needs no token (it asks for
        // one): outside the token check and the Origin check, inside the
        // bounds.
        .route("/", get(dashboard::page))
        .route("/favicon.ico", get(dashboard::no_icon))
        .layer(middleware::from_fn_with_state(state.clone(), bounds))
        .layer(DefaultBodyLimit::max(super::MAX_BODY))
        .with_state(state)
}

/// At most `MAX_IN_FLIGHT` requests at once, each answered within
/// `REQUEST_TIMEOUT` (waiting for a slot and reading the body included); a
/// `Content-Length` over `MAX_BODY` is refused before the body is read
/// (a body without one is cut at the limit as it is read).
async fn bounds(State(state): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    state.requests.fetch_add(1, Ordering::Relaxed);
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if let Some(n) = declared.filter(|n| *n > super::MAX_BODY as u64) {
        return status::error(
            "TooLarge",
            format!(
                "the body is {n} bytes; bodies are limited to {} bytes",
                super::MAX_BODY
            ),
        );
    }
    let permits = state.permits.clone();
    let served = tokio::time::timeout(REQUEST_TIMEOUT, async move {
        let _permit = permits.acquire_owned().await;
        next.run(req).await
    });
    match served.await {
        Ok(res) => res,
        Err(_) => status::error(
            "RequestTimeout",
            format!(
                "the request was not answered within {REQUEST_TIMEOUT:?} (a write may still \
                 commit)"
            ),
        ),
    }
}

async fn not_found() -> Response {
    status::error("NotFound", "no such endpoint; see docs/SERVER.md")
}

async fn method_not_allowed() -> Response {
    status::error(
        "MethodNotAllowed",
        "this endpoint does not take that method",
    )
}

/// The error reply (a `run` protocol reply body) of a request refused
/// before it runs; [`status::reply`] turns it into the response.
type Refused = Json;

/// `403` unless `role` may write.
fn require_full(role: Role, what: &str) -> Result<(), Refused> {
    match role {
        Role::Full => Ok(()),
        Role::Read => Err(request::fail(
            &Json::Null,
            "Forbidden",
            format!("the read-only token may not {what}; use the full-access token (TOKEN)"),
        )),
    }
}

/// The body as a JSON object: empty means `{}`.
fn json_body(body: Result<Bytes, BytesRejection>) -> Result<Map<String, Json>, Refused> {
    let body = body.map_err(body_rejection)?;
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    let text = std::str::from_utf8(&body).map_err(|e| {
        request::bad_request(format!(
            "the body is not UTF-8 (byte {} is not valid)",
            e.valid_up_to()
        ))
    })?;
    request::parse_object(text)
}

fn body_rejection(e: BytesRejection) -> Refused {
    let kind = if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
        "TooLarge"
    } else {
        "BadRequest"
    };
    request::fail(
        &Json::Null,
        kind,
        format!(
            "{} (bodies are limited to {} bytes)",
            e.body_text(),
            super::MAX_BODY
        ),
    )
}

async fn server_status(State(state): State<Arc<AppState>>) -> Response {
    let rt = &state.rt;
    let modules: Vec<String> = rt.modules().into_iter().map(|m| m.name).collect();
    let mut v = json!({"modules": modules, "durable_ts": rt.durable_ts()});
    if let Some(why) = rt.read_only() {
        v["read_only"] = json!(why);
    }
    status::ok(v)
}

/// One module's entry: name, version, schema hash, reducers and tables with
/// their row counts.
async fn module_json(
    state: &AppState,
    m: &interstice_actors::ModuleInfo,
) -> Result<Json, interstice_actors::RuntimeError> {
    let rows = state.rt.table_rows(&m.name).await?;
    let tables: Vec<Json> = m
        .schema
        .tables
        .iter()
        .map(|t| {
            let n = rows.iter().find(|(name, _)| *name == t.name).map(|r| r.1);
            json!({"name": t.name, "rows": n})
        })
        .collect();
    let reducers: Vec<Json> = m
        .schema
        .reducers
        .iter()
        .map(|r| {
            let mode = match (r.trigger.is_some(), r.mode) {
                (true, _) => "trigger",
                (false, ReducerMode::Write) => "write",
                (false, ReducerMode::Read) => "read",
            };
            let mut v = json!({"name": r.name, "mode": mode});
            if let Some(on) = r.trigger.as_ref().and_then(trigger_text) {
                v["on"] = json!(on);
            }
            v
        })
        .collect();
    Ok(json!({
        "name": m.name,
        "version": m.version,
        "schema_hash": output::hex(&m.schema_hash),
        "dependencies": m.schema.dependencies,
        "tables": tables,
        "reducers": reducers,
    }))
}

/// A subscription or init trigger as the SDK spells it: `init`,
/// `module.table.event` (a migration is not a trigger here).
fn trigger_text(t: &Trigger) -> Option<String> {
    match t {
        Trigger::Init => Some("init".into()),
        Trigger::Table {
            module,
            table,
            event,
        } => Some(format!("{module}.{table}.{}", event.as_str())),
        Trigger::Migration { .. } => None,
    }
}

async fn list_modules(State(state): State<Arc<AppState>>) -> Response {
    let mut all = Vec::new();
    for m in state.rt.modules() {
        match module_json(&state, &m).await {
            Ok(v) => all.push(v),
            Err(e) => return status::runtime_error(&e),
        }
    }
    status::ok(Json::Array(all))
}

fn find_module(state: &AppState, module: &str) -> Result<interstice_actors::ModuleInfo, Refused> {
    state
        .rt
        .modules()
        .into_iter()
        .find(|m| m.name == module)
        .ok_or_else(|| {
            let e = interstice_actors::RuntimeError::UnknownModule(module.to_owned());
            json!({"ok": false, "error": crate::commands::error_json(&e)})
        })
}

async fn one_module(State(state): State<Arc<AppState>>, Path(module): Path<String>) -> Response {
    let m = match find_module(&state, &module) {
        Ok(m) => m,
        Err(refused) => return status::reply(refused),
    };
    match module_json(&state, &m).await {
        Ok(v) => status::ok(v),
        Err(e) => status::runtime_error(&e),
    }
}

async fn schema(State(state): State<Arc<AppState>>, Path(module): Path<String>) -> Response {
    match find_module(&state, &module) {
        Ok(m) => status::ok(json!({
            "name": m.name,
            "version": m.version,
            "schema_hash": output::hex(&m.schema_hash),
            "schema": serde_json::to_value(&*m.schema).unwrap_or_default(),
        })),
        Err(refused) => status::reply(refused),
    }
}

async fn load_module(
    State(state): State<Arc<AppState>>,
    Extension(role): Extension<Role>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    if let Err(refused) = require_full(role, "load or upgrade modules") {
        return status::reply(refused);
    }
    let wasm = match body {
        Ok(b) => b,
        Err(e) => return status::reply(body_rejection(e)),
    };
    match state.rt.load_module(wasm.to_vec()).await {
        Ok(info) => status::ok(json!({
            "name": info.name,
            "version": info.version,
            "schema_hash": output::hex(&info.schema_hash),
        })),
        Err(e) => status::runtime_error(&e),
    }
}

/// `POST /v1/modules/{module}/unload`, body `{"tables": "keep"|"drop"}`
/// (empty: keep): `Runtime::unload_module`.
async fn unload_module(
    State(state): State<Arc<AppState>>,
    Extension(role): Extension<Role>,
    Path(module): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    if let Err(refused) = require_full(role, "unload modules") {
        return status::reply(refused);
    }
    let body = match json_body(body) {
        Ok(b) => b,
        Err(refused) => return status::reply(refused),
    };
    let tables = match body.get("tables") {
        None => interstice_actors::UnloadTables::Keep,
        Some(t) if t == "keep" => interstice_actors::UnloadTables::Keep,
        Some(t) if t == "drop" => interstice_actors::UnloadTables::Drop,
        Some(other) => {
            return status::error(
                "BadRequest",
                format!("`tables` must be \"keep\" or \"drop\", not {other}"),
            )
        }
    };
    let options = interstice_actors::UnloadOptions::default().with_tables(tables);
    match state.rt.unload_module(&module, options).await {
        Ok(u) => status::ok(json!({
            "name": u.info.name,
            "version": u.info.version,
            "ts": u.ts,
            "tables": u.tables.name(),
        })),
        Err(e) => status::runtime_error(&e),
    }
}

/// `call` and `read`: the `run` protocol's call with the body's `args`.
async fn call_or_read(
    state: &AppState,
    role: Role,
    module: &str,
    reducer: &str,
    body: Result<Bytes, BytesRejection>,
    read: bool,
) -> Response {
    let body = match json_body(body) {
        Ok(b) => b,
        Err(refused) => return status::reply(refused),
    };
    let args = match request::args_field(&body, &Json::Null) {
        Ok(a) => a,
        Err(reply) => return status::reply(reply),
    };
    if role == Role::Read && !read && is_write(state, module, reducer) {
        return status::error(
            "Forbidden",
            format!(
                "{module}.{reducer} is a write reducer; the read-only token may call read \
                 reducers only"
            ),
        );
    }
    status::reply(request::call(&state.rt, &Json::Null, module, reducer, &args, read).await)
}

/// Whether `module.reducer` exists and is a write reducer.
pub(super) fn is_write(state: &AppState, module: &str, reducer: &str) -> bool {
    state.rt.modules().iter().any(|m| {
        m.name == module
            && m.schema
                .reducer(reducer)
                .is_some_and(|(_, r)| r.mode == ReducerMode::Write)
    })
}

async fn call(
    State(state): State<Arc<AppState>>,
    Extension(role): Extension<Role>,
    Path((module, reducer)): Path<(String, String)>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    call_or_read(&state, role, &module, &reducer, body, false).await
}

async fn read(
    State(state): State<Arc<AppState>>,
    Extension(role): Extension<Role>,
    Path((module, reducer)): Path<(String, String)>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    call_or_read(&state, role, &module, &reducer, body, true).await
}

async fn hash(State(state): State<Arc<AppState>>) -> Response {
    status::reply(request::hash(&state.rt, &Json::Null).await)
}

async fn snapshot(
    State(state): State<Arc<AppState>>,
    Extension(role): Extension<Role>,
) -> Response {
    if let Err(refused) = require_full(role, "take snapshots") {
        return status::reply(refused);
    }
    match state.rt.snapshot_now().await {
        Ok(ts) => status::ok(json!({"ts": ts})),
        Err(e) => status::runtime_error(&e),
    }
}

/// Starts a backup (`docs/DURABILITY.md`, "Backups"): fsyncs the log and
/// takes a snapshot, and answers the cut the CLI then copies from the data
/// directory. With snapshots off (or stopped) the fsync still happens and
/// `snapshot_ts` is `null`: nothing is ever deleted then, so the whole log
/// is the copy. The server itself writes nothing outside its directory.
async fn backup(State(state): State<Arc<AppState>>, Extension(role): Extension<Role>) -> Response {
    if let Err(refused) = require_full(role, "start backups") {
        return status::reply(refused);
    }
    let started = std::time::Instant::now();
    // Every commit acknowledged before this request is at or below the
    // watermark now (in every durability mode), and the fsync below writes
    // out everything up to it: the copy can read all of it.
    let acknowledged = state.rt.durable_ts();
    let snapshot_ts = match state.rt.snapshot_now().await {
        Ok(ts) => Some(ts),
        Err(interstice_actors::RuntimeError::Snapshot(
            interstice_actors::SnapshotError::NotEnabled
            | interstice_actors::SnapshotError::Stopped(_)
            | interstice_actors::SnapshotError::SnapshotterGone,
        )) => None,
        Err(e) => return status::runtime_error(&e),
    };
    let durable_ts = acknowledged.max(snapshot_ts.unwrap_or(0));
    status::ok(json!({
        "snapshot_ts": snapshot_ts,
        "durable_ts": durable_ts,
        "took_us": u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
    }))
}

async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    match prometheus::render(&state).await {
        Ok(text) => {
            let mut res = text.into_response();
            res.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
            );
            res
        }
        Err(e) => status::runtime_error(&e),
    }
}

/// Query parameters as a map; a malformed query string is `BadRequest`.
type Params = Result<Query<HashMap<String, String>>, QueryRejection>;

fn params(p: Params) -> Result<HashMap<String, String>, Refused> {
    p.map(|Query(m)| m)
        .map_err(|e| request::bad_request(format!("the query string: {}", e.body_text())))
}

/// `limit`: absent means `default`; otherwise an integer in `1..=max`.
fn limit_param(p: &HashMap<String, String>, default: u32, max: u32) -> Result<u32, Refused> {
    match p.get("limit") {
        None => Ok(default),
        Some(v) => match v.parse::<u32>() {
            Ok(n) if (1..=max).contains(&n) => Ok(n),
            _ => Err(request::bad_request(format!(
                "`limit` must be an integer from 1 to {max}, got {v:?}"
            ))),
        },
    }
}

/// The most records `GET /v1/logs` answers.
pub(crate) const MAX_LOG_RECORDS: u32 = 500;
/// Bytes of module logs one `GET /v1/logs` reads at most, newest first.
pub(crate) const LOG_SCAN_BYTES: u64 = 4 << 20;

/// `GET /v1/logs?kind=K,…&module=M&level=L&limit=N`: the newest module-log
/// records (`DIR/logs/`, as `interstice logs` prints them), newest first.
async fn module_logs(State(state): State<Arc<AppState>>, p: Params) -> Response {
    let p = match params(p) {
        Ok(p) => p,
        Err(refused) => return status::reply(refused),
    };
    let limit = match limit_param(&p, 50, MAX_LOG_RECORDS) {
        Ok(n) => n,
        Err(refused) => return status::reply(refused),
    };
    let kinds: Option<Vec<String>> = p
        .get("kind")
        .map(|k| k.split(',').map(str::to_owned).collect());
    let filter = match logs::Filter::new(
        p.get("module").cloned(),
        p.get("level").map(String::as_str),
        "`level`",
    ) {
        Ok(f) => f,
        Err(e) => return status::error("BadRequest", e.to_string()),
    };
    let dir = state.data_dir.join(interstice_actors::MODULE_LOG_DIR);
    let read = tokio::task::spawn_blocking(move || {
        logs::recent(&dir, limit as usize, LOG_SCAN_BYTES, |r| {
            filter.matches(r)
                && kinds.as_ref().is_none_or(|ks| {
                    let kind = r.get("kind").and_then(Json::as_str).unwrap_or("");
                    ks.iter().any(|k| k == kind)
                })
        })
    })
    .await;
    match read {
        Ok(Ok(recent)) => status::ok(json!({
            "records": recent.records,
            "complete": recent.complete,
        })),
        Ok(Err(e)) => status::error("Io", e.to_string()),
        Err(e) => status::error("Internal", format!("the log reader failed: {e}")),
    }
}

/// `GET /v1/modules/{module}/tables/{table}/rows?where=PRED&limit=N`: rows
/// of the live table in primary-key order, filtered by a `--where`
/// predicate compiled to the host's filter encoding (`inspect/predicate.rs`).
async fn table_rows(
    State(state): State<Arc<AppState>>,
    Path((module, table)): Path<(String, String)>,
    p: Params,
) -> Response {
    let p = match params(p) {
        Ok(p) => p,
        Err(refused) => return status::reply(refused),
    };
    let limit = match limit_param(&p, 100, interstice_actors::MAX_SCAN_ROWS) {
        Ok(n) => n,
        Err(refused) => return status::reply(refused),
    };
    let m = match find_module(&state, &module) {
        Ok(m) => m,
        Err(refused) => return status::reply(refused),
    };
    let Some((_, schema)) = m.schema.table(&table) else {
        return status::runtime_error(&interstice_actors::RuntimeError::UnknownTable {
            module,
            table,
        });
    };
    let filter = match p.get("where").map(String::as_str).map(str::trim) {
        None | Some("") => None,
        Some(pred) => match predicate::compile(pred, schema) {
            Ok(f) => Some(f),
            Err(e) => return status::error("BadRequest", format!("`where` {e}")),
        },
    };
    let query = predicate::table_query(filter.as_deref());
    match state.rt.scan_table(&module, &table, &query, limit).await {
        Ok(scan) => {
            let names: Vec<&str> = schema.columns.iter().map(|c| c.name.as_str()).collect();
            let rows: Vec<Json> = scan
                .rows
                .iter()
                .map(|r| {
                    let j = r.to_json(&scan.row_type);
                    Json::Array(names.iter().map(|c| j[*c].clone()).collect())
                })
                .collect();
            status::ok(json!({"columns": names, "rows": rows, "more": scan.more}))
        }
        Err(e) => status::runtime_error(&e),
    }
}
