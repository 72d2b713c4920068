//! `schema --format yaml`: the `json` document as YAML 1.2 in block style.
//!
//! Written here rather than with a YAML crate: the maintained serde YAML
//! forks pull a different `indexmap` feature set into the build, which
//! rebuilds wasmtime. The output needs no YAML-specific quoting rules:
//! every key and string is a JSON string literal (a valid YAML
//! double-quoted scalar), numbers, booleans and `null` are plain scalars,
//! and empty arrays and objects are the flow forms `[]` and `{}`.

use std::fmt::Write;

use serde_json::Value as Json;

/// `value` as a YAML document (ends with a newline).
pub(crate) fn render(value: &Json) -> String {
    let mut out = String::new();
    match value {
        Json::Array(a) if !a.is_empty() => seq(&mut out, a, 0),
        Json::Object(o) if !o.is_empty() => map(&mut out, o, 0),
        scalar => {
            let _ = writeln!(out, "{}", inline(scalar));
        }
    }
    out
}

/// A scalar or an empty collection on one line.
fn inline(v: &Json) -> String {
    match v {
        Json::Array(_) => "[]".into(),
        Json::Object(_) => "{}".into(),
        other => other.to_string(),
    }
}

fn is_block(v: &Json) -> bool {
    match v {
        Json::Array(a) => !a.is_empty(),
        Json::Object(o) => !o.is_empty(),
        _ => false,
    }
}

fn map(out: &mut String, o: &serde_json::Map<String, Json>, indent: usize) {
    for (k, v) in o {
        let key = Json::from(k.as_str()).to_string();
        if is_block(v) {
            let _ = writeln!(out, "{:indent$}{key}:", "");
            block(out, v, indent + 2);
        } else {
            let _ = writeln!(out, "{:indent$}{key}: {}", "", inline(v));
        }
    }
}

fn seq(out: &mut String, a: &[Json], indent: usize) {
    for v in a {
        if is_block(v) {
            let _ = writeln!(out, "{:indent$}-", "");
            block(out, v, indent + 2);
        } else {
            let _ = writeln!(out, "{:indent$}- {}", "", inline(v));
        }
    }
}

fn block(out: &mut String, v: &Json, indent: usize) {
    match v {
        Json::Array(a) => seq(out, a, indent),
        Json::Object(o) => map(out, o, indent),
        _ => {}
    }
}
