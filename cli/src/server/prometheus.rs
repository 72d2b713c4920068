//! `GET /metrics`: the runtime's counters and the tables' row counts in the
//! Prometheus text exposition format, version 0.0.4 (`docs/SERVER.md`,
//! "Metrics").

use std::fmt::Write;
use std::sync::atomic::Ordering;

use interstice_actors::RuntimeError;

use super::AppState;

/// Escapes a label value (backslash, double quote, newline).
pub(crate) fn escape_label(v: &str) -> String {
    let mut s = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => s.push_str("\\\\"),
            '"' => s.push_str("\\\""),
            '\n' => s.push_str("\\n"),
            c => s.push(c),
        }
    }
    s
}

/// Appends one metric family with a single unlabelled sample.
pub(crate) fn family(out: &mut String, name: &str, kind: &str, help: &str, value: u64) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
    let _ = writeln!(out, "{name} {value}");
}

/// The whole exposition.
pub(super) async fn render(state: &AppState) -> Result<String, RuntimeError> {
    let rt = &state.rt;
    let m = rt.metrics();
    let mut out = String::new();
    let counters = [
        (
            "interstice_commits_total",
            "Write transactions committed.",
            m.commits,
        ),
        (
            "interstice_rollbacks_total",
            "Write transactions rolled back.",
            m.rollbacks,
        ),
        ("interstice_fsyncs_total", "fsyncs of the log.", m.fsyncs),
        (
            "interstice_instantiations_total",
            "Wasm instances created.",
            m.instantiations,
        ),
        (
            "interstice_wasm_calls_total",
            "Calls into wasm exports.",
            m.wasm_calls,
        ),
        (
            "interstice_reruns_total",
            "Write transactions run again after a failed read-call validation.",
            m.reruns,
        ),
        (
            "interstice_fanout_cuts_total",
            "Deliveries cut by the fan-out budget.",
            m.fanout_cuts,
        ),
        (
            "interstice_http_requests_total",
            "HTTP requests received by the server.",
            state.requests.load(Ordering::Relaxed),
        ),
    ];
    for (name, help, v) in counters {
        family(&mut out, name, "counter", help, v);
    }
    let gauges = [
        (
            "interstice_replayed_entries",
            "Log entries applied by the replay at start.",
            m.replayed_entries,
        ),
        (
            "interstice_durable_ts",
            "The highest durable timestamp.",
            rt.durable_ts(),
        ),
        (
            "interstice_max_concurrent_wasm",
            "Most threads seen inside wasm at once.",
            m.max_concurrent_wasm,
        ),
    ];
    for (name, help, v) in gauges {
        family(&mut out, name, "gauge", help, v);
    }
    let modules = rt.modules();
    family(
        &mut out,
        "interstice_modules",
        "gauge",
        "Loaded modules.",
        modules.len() as u64,
    );
    let _ = writeln!(
        out,
        "# HELP interstice_table_rows Rows in a table.\n# TYPE interstice_table_rows gauge"
    );
    for module in &modules {
        for (table, rows) in rt.table_rows(&module.name).await? {
            let _ = writeln!(
                out,
                "interstice_table_rows{{module=\"{}\",table=\"{}\"}} {rows}",
                escape_label(&module.name),
                escape_label(&table)
            );
        }
    }
    Ok(out)
}
