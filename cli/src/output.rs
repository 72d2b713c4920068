//! The CLI's output layer: the only place that prints to stdout/stderr
//! directly. Results go to stdout (machine-readable where it matters),
//! diagnostics to stderr; logs go through `tracing` to stderr.

use std::io::Write;

/// Prints a result line on stdout.
pub fn result(line: impl std::fmt::Display) {
    println!("{line}");
}

/// Prints a human progress/info line on stdout (the demo's narrative).
pub fn say(line: impl std::fmt::Display) {
    println!("{line}");
}

/// Prints a progress line on stderr (callers print progress only when
/// stderr is a terminal).
pub fn progress(line: impl std::fmt::Display) {
    eprintln!("{line}");
}

/// Prints an error on stderr.
pub fn error(line: impl std::fmt::Display) {
    eprintln!("error: {line}");
}

/// Writes one JSON line to stdout and flushes, so a driver sees it at once.
pub fn json_line(out: &mut impl Write, v: &serde_json::Value) -> std::io::Result<()> {
    writeln!(out, "{v}")?;
    out.flush()
}

/// Hex of a hash.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
