//! The CLI's output layer: the only place that prints to stdout/stderr
//! directly. Results go to stdout (machine-readable where it matters),
//! diagnostics to stderr; logs go through `tracing` to stderr.
//!
//! **A closed stdout is not an error.** When the reader of stdout goes away
//! (`interstice check-log D | head -1`: a write fails with `EPIPE`), every
//! later stdout write of the command is dropped silently: no panic, no
//! message. The command finishes what it was doing (a `load` of several
//! modules still loads them all, a `run` server shuts down as at end of
//! input, `docs/PROTOCOL.md` §9) and exits with its own exit code — 0, or
//! the 1 of a check that found a problem — never 101 and never 141.
//! Any other stdout write error (a full disk behind a redirect) is kept and
//! reported once the command is done ([`finish`]), with exit code 1.
//! Writes to stderr never fail a command: an error writing one is ignored.

use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

/// Set once a stdout write found the reader gone; later writes are dropped.
static STDOUT_CLOSED: AtomicBool = AtomicBool::new(false);
/// The first stdout write error other than a closed reader.
static STDOUT_ERROR: Mutex<Option<String>> = Mutex::new(None);

/// Whether `e` means the reader of the stream is gone.
pub fn is_closed_pipe(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::BrokenPipe
}

/// Whether a stdout write has found the reader gone.
pub fn stdout_closed() -> bool {
    STDOUT_CLOSED.load(Ordering::Relaxed)
}

/// Notes that stdout's reader is gone (also used by `run`, which writes
/// stdout through tokio).
pub fn mark_stdout_closed() {
    STDOUT_CLOSED.store(true, Ordering::Relaxed);
}

/// Writes `line` and a newline to stdout and flushes, unless stdout is known
/// to be closed. Errors are recorded, never raised (module docs).
fn stdout_line(line: impl std::fmt::Display) {
    if stdout_closed() {
        return;
    }
    let mut out = io::stdout().lock();
    let res = writeln!(out, "{line}").and_then(|()| out.flush());
    match res {
        Ok(()) => {}
        Err(e) if is_closed_pipe(&e) => mark_stdout_closed(),
        Err(e) => {
            // Stop writing: a later line after a lost one would mislead.
            mark_stdout_closed();
            let mut first = STDOUT_ERROR.lock().unwrap_or_else(|p| p.into_inner());
            first.get_or_insert_with(|| format!("writing to stdout: {e}"));
        }
    }
}

/// Writes a line to stderr, ignoring errors (a closed stderr must not turn
/// into a panic).
fn stderr_line(line: impl std::fmt::Display) {
    let mut err = io::stderr().lock();
    let _ = writeln!(err, "{line}");
}

/// Prints a result line on stdout.
pub fn result(line: impl std::fmt::Display) {
    stdout_line(line);
}

/// Prints a human progress/info line on stdout (the demo's narrative).
pub fn say(line: impl std::fmt::Display) {
    stdout_line(line);
}

/// Prints a progress line on stderr (callers print progress only when
/// stderr is a terminal).
pub fn progress(line: impl std::fmt::Display) {
    stderr_line(line);
}

/// Prints a diagnostic line on stderr as it is (the lines that explain an
/// error, e.g. `dev`'s upgrade plan after a refused reload).
pub fn note(line: impl std::fmt::Display) {
    stderr_line(line);
}

/// Prints an error on stderr.
pub fn error(line: impl std::fmt::Display) {
    stderr_line(format_args!("error: {line}"));
}

/// The stdout write error to report once the command is done, if any
/// (never a closed reader: that ends output quietly).
pub fn finish() -> Option<String> {
    STDOUT_ERROR
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .take()
}

/// `interstice run`'s stdout: writes each value as one line of JSON
/// (`docs/PROTOCOL.md` §2), flushing whenever no more lines are waiting,
/// until every sender is gone. A closed reader ends it with the
/// `BrokenPipe` error (and [`stdout_closed`] is set); lines not yet written
/// then are dropped.
pub async fn json_lines(
    mut lines: tokio::sync::mpsc::Receiver<serde_json::Value>,
) -> io::Result<()> {
    use tokio::io::AsyncWriteExt;
    /// Flush at least this often while lines keep coming.
    const CHUNK: usize = 64 << 10;
    let mut stdout = tokio::io::stdout();
    let mut buf = Vec::new();
    while let Some(v) = lines.recv().await {
        buf.clear();
        push_json_line(&mut buf, &v);
        while buf.len() < CHUNK {
            match lines.try_recv() {
                Ok(v) => push_json_line(&mut buf, &v),
                Err(_) => break,
            }
        }
        let res = async {
            stdout.write_all(&buf).await?;
            stdout.flush().await
        }
        .await;
        if let Err(e) = res {
            mark_stdout_closed();
            return Err(e);
        }
    }
    Ok(())
}

fn push_json_line(buf: &mut Vec<u8>, v: &serde_json::Value) {
    // Writing a `Value` into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *buf, v);
    buf.push(b'\n');
}

/// Hex of a hash.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
