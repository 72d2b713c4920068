//! Guest log lines (`ctx.log`, the SDK's `info!` and friends): cut to
//! `Limits::log_line_bytes`, counted against the transaction's
//! `Limits::tx_log_bytes`, and rate-limited per module
//! (`Limits::log_bytes_per_sec`), then emitted through `tracing` under the
//! target `interstice::guest`.
//!
//! The per-transaction limit is deterministic (it depends only on what the
//! reducer logs), so reaching it fails the transaction like any other
//! limit. The rate is not (it depends on time), so lines over it are only
//! dropped, never failing anything, and counted in one warning per second.

use std::time::{Duration, Instant};

use interstice_abi::host as abi;

use crate::config::Limits;
use crate::wasm::host_state::HostTrap;

/// A token bucket of log bytes: refills at the rate, holds at most one
/// second's worth.
#[derive(Debug)]
pub(crate) struct LogRate {
    tokens: f64,
    refilled: Instant,
    dropped_lines: u64,
    dropped_bytes: u64,
    warned: Option<Instant>,
}

impl Default for LogRate {
    fn default() -> Self {
        Self {
            tokens: f64::NAN, // filled to one second's worth on first use
            refilled: Instant::now(),
            dropped_lines: 0,
            dropped_bytes: 0,
            warned: None,
        }
    }
}

impl LogRate {
    /// Whether a line of `bytes` may be written now (and takes its tokens);
    /// a refused line is counted for the next warning.
    fn admit(&mut self, bytes: usize, per_sec: u64, at: At<'_>) -> bool {
        let now = Instant::now();
        let cap = per_sec as f64;
        if self.tokens.is_nan() {
            self.tokens = cap;
        }
        let elapsed = now.duration_since(self.refilled).as_secs_f64();
        self.tokens = (self.tokens + elapsed * cap).min(cap);
        self.refilled = now;
        if self.dropped_lines > 0
            && self
                .warned
                .is_none_or(|w| now.duration_since(w) >= Duration::from_secs(1))
        {
            crate::event_in!(target: "interstice::guest", WARN, Some(at.module), Some(at.reducer), at.ts;
                "dropped {} log lines ({} bytes): over the module's log rate \
                 (Limits::log_bytes_per_sec = {per_sec})",
                self.dropped_lines,
                self.dropped_bytes
            );
            self.dropped_lines = 0;
            self.dropped_bytes = 0;
            self.warned = Some(now);
        }
        if self.tokens >= bytes as f64 {
            self.tokens -= bytes as f64;
            true
        } else {
            self.dropped_lines += 1;
            self.dropped_bytes += bytes as u64;
            false
        }
    }
}

/// A guest log line kept for the module logs, with its level's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GuestLine {
    /// `error`, `warn`, `info`, `debug` or `trace`.
    pub level: &'static str,
    /// The line (cut to `Limits::log_line_bytes`, with a note).
    pub text: String,
}

/// Where a guest log line was written: the span fields of its `tracing`
/// event (`events.rs`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct At<'a> {
    pub module: &'a str,
    pub reducer: &'a str,
    /// Known once the reducer asked for it (`ctx.timestamp()`).
    pub ts: Option<u64>,
}

/// Writes one guest log line: `text` is what the guest passed, `used` the
/// bytes this transaction has logged so far (updated), `lines` where the
/// transaction keeps its lines for the module logs. Fails when the
/// transaction's log limit is reached.
pub(crate) fn write(
    level: i32,
    text: &[u8],
    at: At<'_>,
    limits: &Limits,
    used: &mut u64,
    rate: &mut LogRate,
    lines: &mut Vec<GuestLine>,
) -> Result<(), HostTrap> {
    let max = limits.log_line_bytes as usize;
    let (kept, cut) = if text.len() > max {
        // Cut at a byte: a character split there shows as U+FFFD.
        (&text[..max], Some(text.len()))
    } else {
        (text, None)
    };
    *used += kept.len() as u64;
    if *used > limits.tx_log_bytes {
        return Err(HostTrap::limit(
            "tx_log_bytes",
            limits.tx_log_bytes,
            "guest log output of this transaction",
        ));
    }
    let enabled = match level {
        abi::level::ERROR => tracing::enabled!(target: "interstice::guest", tracing::Level::ERROR),
        abi::level::WARN => tracing::enabled!(target: "interstice::guest", tracing::Level::WARN),
        abi::level::INFO => tracing::enabled!(target: "interstice::guest", tracing::Level::INFO),
        abi::level::DEBUG => tracing::enabled!(target: "interstice::guest", tracing::Level::DEBUG),
        _ => tracing::enabled!(target: "interstice::guest", tracing::Level::TRACE),
    };
    if !rate.admit(kept.len(), limits.log_bytes_per_sec, at) {
        return Ok(());
    }
    let mut line = String::from_utf8_lossy(kept).into_owned();
    if let Some(total) = cut {
        line.push_str(&format!(
            "… (cut: {total} bytes, over Limits::log_line_bytes = {max})"
        ));
    }
    let name = match level {
        abi::level::ERROR => "error",
        abi::level::WARN => "warn",
        abi::level::INFO => "info",
        abi::level::DEBUG => "debug",
        _ => "trace",
    };
    if enabled {
        let (m, r, ts) = (Some(at.module), Some(at.reducer), at.ts);
        const G: &str = "interstice::guest";
        match level {
            abi::level::ERROR => crate::event_in!(target: G, ERROR, m, r, ts; "{line}"),
            abi::level::WARN => crate::event_in!(target: G, WARN, m, r, ts; "{line}"),
            abi::level::INFO => crate::event_in!(target: G, INFO, m, r, ts; "{line}"),
            abi::level::DEBUG => crate::event_in!(target: G, DEBUG, m, r, ts; "{line}"),
            _ => crate::event_in!(target: G, TRACE, m, r, ts; "{line}"),
        }
    }
    lines.push(GuestLine {
        level: name,
        text: line,
    });
    Ok(())
}

#[cfg(test)]
mod tests;
