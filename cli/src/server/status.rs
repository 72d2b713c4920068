//! Error kinds to HTTP statuses (`docs/SERVER.md`, "Errors"), and the JSON
//! responses every route answers with: the `run` protocol's reply objects
//! (`docs/PROTOCOL.md` §5) without their `id`.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value as Json};

/// The status for an error `kind` (`RuntimeError::kind()`, the `run`
/// protocol's own kinds, or the server's). An unknown kind is a 500.
pub(crate) fn status_of(kind: &str) -> StatusCode {
    match kind {
        "BadRequest" | "BadArguments" | "Abi" => StatusCode::BAD_REQUEST,
        "Unauthorized" => StatusCode::UNAUTHORIZED,
        "Forbidden" => StatusCode::FORBIDDEN,
        "UnknownModule" | "UnknownReducer" | "UnknownTable" | "NotFound" | "ModuleUnloaded" => {
            StatusCode::NOT_FOUND
        }
        "MethodNotAllowed" => StatusCode::METHOD_NOT_ALLOWED,
        "TooLarge" => StatusCode::PAYLOAD_TOO_LARGE,
        "WrongMode"
        | "IncompatibleSchema"
        | "IncompatibleDependency"
        | "DependencyCycle"
        | "BadSubscription"
        | "SubscriptionCycle"
        | "HasDependents"
        | "ReadOnly"
        | "Snapshot" => StatusCode::CONFLICT,
        "MalformedWasm" | "MissingExport" | "UnknownImport" | "ImportMismatch" => {
            StatusCode::UNPROCESSABLE_ENTITY
        }
        // The reducer ran and its transaction rolled back (the log's
        // ErrorKinds, `docs/LOG_FORMAT.md` §5).
        "Trap" | "Panic" | "UserError" | "Budget" | "Memory" | "Constraint" | "Host"
        | "Timeout" | "FanOut" => StatusCode::UNPROCESSABLE_ENTITY,
        "StorageFault" | "Shutdown" | "RequestTimeout" | "Overloaded" | "Lagging" => {
            StatusCode::SERVICE_UNAVAILABLE
        }
        "ResumeUnavailable" => StatusCode::GONE,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// A JSON response with the status its body's `error.kind` maps to (200
/// for a success). The body is `{"ok": true, "result": …}` (with `"ts"`
/// for calls) or `{"ok": false, "error": {"kind", "message", …}}`.
pub(crate) fn reply(mut body: Json) -> Response {
    if let Some(obj) = body.as_object_mut() {
        obj.remove("id");
    }
    let status = if body["ok"] == true {
        StatusCode::OK
    } else {
        status_of(body["error"]["kind"].as_str().unwrap_or("Error"))
    };
    let mut res = (status, axum::Json(body)).into_response();
    if status == StatusCode::UNAUTHORIZED {
        res.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"interstice\""),
        );
    }
    res
}

/// A success: `{"ok": true, "result": result}`.
pub(crate) fn ok(result: Json) -> Response {
    reply(json!({"ok": true, "result": result}))
}

/// A failure of `kind`.
pub(crate) fn error(kind: &str, message: impl Into<String>) -> Response {
    reply(json!({"ok": false, "error": {"kind": kind, "message": message.into()}}))
}

/// A failure with the runtime's error.
pub(crate) fn runtime_error(e: &interstice_actors::RuntimeError) -> Response {
    reply(json!({"ok": false, "error": crate::commands::error_json(e)}))
}
