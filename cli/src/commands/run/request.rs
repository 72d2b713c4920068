//! Requests and replies of `interstice run` (`docs/PROTOCOL.md` §3–§7):
//! parsing and checking a request line, and answering the ops that take a
//! task of their own (`call`, `read`, `hash`). The HTTP server
//! (`crate::server`) decodes and answers through the same functions, so its
//! bodies and replies are the protocol's.

use interstice_abi::ReducerMode;
use interstice_actors::Runtime;
use serde_json::{json, Map, Value as Json};

use crate::commands::error_json;
use crate::output;

/// A checked request.
#[derive(Debug)]
pub(crate) struct Request {
    /// The request's `id`, echoed in its reply (`null` when absent).
    pub id: Json,
    /// What it asks for.
    pub op: Op,
}

/// The ops.
#[derive(Debug)]
pub(crate) enum Op {
    /// `call` (`read: false`) or `read` (`read: true`, refuses write
    /// reducers).
    Call {
        /// Module.
        module: String,
        /// Reducer.
        reducer: String,
        /// One JSON value per parameter.
        args: Vec<Json>,
        /// Whether the op was `read`.
        read: bool,
    },
    /// `subscribe`.
    Subscribe {
        /// Module.
        module: String,
        /// Table.
        table: String,
    },
    /// `hash`.
    Hash,
    /// `metrics`.
    Metrics,
}

/// An error reply.
pub(crate) fn fail(id: &Json, kind: &str, message: impl Into<String>) -> Json {
    json!({"id": id, "ok": false, "error": {"kind": kind, "message": message.into()}})
}

/// The error reply to a line that is not a request.
pub(crate) fn bad_request(message: impl Into<String>) -> Json {
    fail(&Json::Null, "BadRequest", message)
}

/// A string field of a request.
fn string_field(req: &Map<String, Json>, name: &str, id: &Json) -> Result<String, Json> {
    match req.get(name) {
        Some(Json::String(s)) => Ok(s.clone()),
        None => Err(fail(
            id,
            "BadRequest",
            format!("missing `{name}` (a string)"),
        )),
        Some(other) => Err(fail(
            id,
            "BadRequest",
            format!("`{name}` must be a string, got {}", json_type(other)),
        )),
    }
}

fn json_type(v: &Json) -> &'static str {
    match v {
        Json::Null => "null",
        Json::Bool(_) => "a boolean",
        Json::Number(_) => "a number",
        Json::String(_) => "a string",
        Json::Array(_) => "an array",
        Json::Object(_) => "an object",
    }
}

/// Parses a JSON text that must be an object (a request line, an HTTP
/// body, a WebSocket message). The error is the reply to send.
pub(crate) fn parse_object(text: &str) -> Result<Map<String, Json>, Json> {
    let req: Json =
        serde_json::from_str(text).map_err(|e| bad_request(format!("request is not JSON: {e}")))?;
    match req {
        Json::Object(req) => Ok(req),
        other => Err(bad_request(format!(
            "a request must be a JSON object, got {}",
            json_type(&other)
        ))),
    }
}

/// The `args` field of a request: an array, `[]` when absent.
pub(crate) fn args_field(req: &Map<String, Json>, id: &Json) -> Result<Vec<Json>, Json> {
    match req.get("args") {
        None => Ok(Vec::new()),
        Some(Json::Array(a)) => Ok(a.clone()),
        Some(_) => Err(fail(id, "BadRequest", "`args` must be an array")),
    }
}

/// Parses and checks one request line (already known to be UTF-8 and not
/// blank). The error is the reply to send.
pub(crate) fn parse(line: &str) -> Result<Request, Json> {
    parse_request(&parse_object(line)?)
}

/// Checks a request object.
pub(crate) fn parse_request(req: &Map<String, Json>) -> Result<Request, Json> {
    let id = req.get("id").cloned().unwrap_or(Json::Null);
    let op = match req.get("op") {
        Some(Json::String(op)) => op.as_str(),
        None => {
            return Err(fail(
                &id,
                "BadRequest",
                "missing `op`: use call, read, subscribe, hash or metrics",
            ))
        }
        Some(other) => {
            return Err(fail(
                &id,
                "BadRequest",
                format!("`op` must be a string, got {}", json_type(other)),
            ))
        }
    };
    let op = match op {
        "call" | "read" => {
            let module = string_field(req, "module", &id)?;
            let reducer = string_field(req, "reducer", &id)?;
            let args = args_field(req, &id)?;
            Op::Call {
                module,
                reducer,
                args,
                read: op == "read",
            }
        }
        "subscribe" => Op::Subscribe {
            module: string_field(req, "module", &id)?,
            table: string_field(req, "table", &id)?,
        },
        "hash" => Op::Hash,
        "metrics" => Op::Metrics,
        other => {
            return Err(fail(
                &id,
                "BadRequest",
                format!("unknown op `{other}`: use call, read, subscribe, hash or metrics"),
            ))
        }
    };
    Ok(Request { id, op })
}

/// Answers `call` / `read`: the reply is ready once the call is acknowledged
/// (for a write, once its commit is durable as the durability mode says).
pub(crate) async fn call(
    rt: &Runtime,
    id: &Json,
    module: &str,
    reducer: &str,
    args: &[Json],
    read: bool,
) -> Json {
    if read {
        let is_write = rt.modules().iter().any(|m| {
            m.name == module
                && m.schema
                    .reducer(reducer)
                    .is_some_and(|(_, r)| r.mode == ReducerMode::Write)
        });
        if is_write {
            return fail(
                id,
                "WrongMode",
                format!("{module}.{reducer} is a write reducer; use op \"call\""),
            );
        }
    }
    match rt.call_json(module, reducer, args).await {
        Ok(v) => json!({"id": id, "ok": true, "ts": v.ts, "result": v.to_json()}),
        Err(e) => json!({"id": id, "ok": false, "error": error_json(&e)}),
    }
}

/// Answers `hash`.
pub(crate) async fn hash(rt: &Runtime, id: &Json) -> Json {
    match rt.state_hash().await {
        Ok(h) => json!({"id": id, "ok": true, "result": output::hex(&h)}),
        Err(e) => json!({"id": id, "ok": false, "error": error_json(&e)}),
    }
}

/// Answers `metrics`.
pub(crate) fn metrics(rt: &Runtime, id: &Json) -> Json {
    let m = rt.metrics();
    json!({"id": id, "ok": true, "result": {
        "commits": m.commits, "rollbacks": m.rollbacks, "fsyncs": m.fsyncs,
        "instantiations": m.instantiations, "wasm_calls": m.wasm_calls,
        "replayed_entries": m.replayed_entries, "durable_ts": rt.durable_ts(),
    }})
}

#[cfg(test)]
mod tests;
