//! `export FILE` and `--load FILE`: the debugger's checkpoints, trace,
//! breakpoints and position in one file.
//!
//! ```text
//! "IRDEBUG1"                 8 bytes: magic and format version 1
//! header length              u32, little-endian (at most 16 MiB)
//! header                     JSON: {"format": "interstice-replay-debug",
//!                              "version": 1, "position": TS, "last_ts": TS,
//!                              "breakpoints": ["ts=4", "bank.transfer", ...],
//!                              "trace": [{"line": 1, "command": "step", "ts": 1}, ...],
//!                              "checkpoints": [{"ts": 0, "bytes": N}, ...]}
//! checkpoints                each one a snapshot file's bytes
//!                            (docs/SNAPSHOT_FORMAT.md, checksummed), in the
//!                            header's order, base first
//! ```
//!
//! Loading checks everything: the magic, the lengths (the file at most
//! [`MAX_EXPORT_BYTES`]), each snapshot's checksum, ascending timestamps,
//! and at most the session's checkpoint bound; the session then checks
//! each checkpoint against the log itself (`session.rs`).

use std::io::Read as _;
use std::path::Path;

use interstice_persist::{decode_snapshot, encode_snapshot, Snapshot};
use serde::{Deserialize, Serialize};

use crate::error::CliError;
use crate::graph::write_replacing;

const MAGIC: &[u8; 8] = b"IRDEBUG1";
const FORMAT: &str = "interstice-replay-debug";
/// The largest export `--load` reads.
pub(crate) const MAX_EXPORT_BYTES: u64 = 1 << 30;
const MAX_HEADER_BYTES: usize = 16 << 20;

/// One command of the trace: its input line, its text and the position it
/// left.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct TraceItem {
    /// Its line number in the session's input.
    pub(crate) line: u64,
    /// The command as typed.
    pub(crate) command: String,
    /// The position after it.
    pub(crate) ts: u64,
}

#[derive(Debug, Serialize, Deserialize)]
struct HeaderCheckpoint {
    ts: u64,
    bytes: u64,
}

#[derive(Debug, Serialize, Deserialize)]
struct Header {
    format: String,
    version: u32,
    position: u64,
    last_ts: u64,
    breakpoints: Vec<String>,
    trace: Vec<TraceItem>,
    checkpoints: Vec<HeaderCheckpoint>,
}

/// What an export holds.
#[derive(Debug)]
pub(crate) struct Exported {
    /// The position when exported.
    pub(crate) position: u64,
    /// The breakpoints, as `break` takes them.
    pub(crate) breakpoints: Vec<String>,
    /// The trace.
    pub(crate) trace: Vec<TraceItem>,
    /// The checkpoints, base first.
    pub(crate) checkpoints: Vec<Snapshot>,
}

/// Writes an export to `path` (replacing it, never through a symlink).
/// Returns the bytes written.
pub(crate) fn write(
    path: &Path,
    position: u64,
    last_ts: u64,
    breakpoints: Vec<String>,
    trace: Vec<TraceItem>,
    checkpoints: &[Snapshot],
) -> Result<u64, CliError> {
    let bodies: Vec<Vec<u8>> = checkpoints.iter().map(encode_snapshot).collect();
    let header = Header {
        format: FORMAT.into(),
        version: 1,
        position,
        last_ts,
        breakpoints,
        trace,
        checkpoints: checkpoints
            .iter()
            .zip(&bodies)
            .map(|(c, b)| HeaderCheckpoint {
                ts: c.ts,
                bytes: b.len() as u64,
            })
            .collect(),
    };
    let header = serde_json::to_vec(&header)
        .map_err(|e| CliError::CheckFailed(format!("export: encoding the header: {e}")))?;
    let header_len = u32::try_from(header.len())
        .ok()
        .filter(|n| (*n as usize) <= MAX_HEADER_BYTES)
        .ok_or_else(|| CliError::CheckFailed("export: the header is too large".into()))?;
    let mut out = Vec::new();
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&header_len.to_le_bytes());
    out.extend_from_slice(&header);
    for b in &bodies {
        out.extend_from_slice(b);
    }
    write_replacing(path, &out).map_err(|e| CliError::File {
        path: path.display().to_string(),
        source: e,
    })?;
    Ok(out.len() as u64)
}

/// Reads and checks an export; `max_checkpoints`: the session's bound
/// (besides the base).
pub(crate) fn read(path: &Path, max_checkpoints: usize) -> Result<Exported, CliError> {
    let name = path.display().to_string();
    let bad = |m: String| CliError::Usage(format!("--load {name}: {m}"));
    let file_err = |e: std::io::Error| CliError::File {
        path: path.display().to_string(),
        source: e,
    };
    let f = std::fs::File::open(path).map_err(file_err)?;
    let len = f.metadata().map_err(file_err)?.len();
    if len > MAX_EXPORT_BYTES {
        return Err(bad(format!(
            "the file is {len} bytes, more than the {MAX_EXPORT_BYTES} an export may hold"
        )));
    }
    let mut bytes = Vec::new();
    f.take(MAX_EXPORT_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(file_err)?;
    if bytes.len() < 12 || &bytes[..8] != MAGIC {
        return Err(bad(
            "not a replay-debug export (it does not start with IRDEBUG1)".into(),
        ));
    }
    let header_len = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize;
    if header_len > MAX_HEADER_BYTES || 12 + header_len > bytes.len() {
        return Err(bad(format!(
            "the header length {header_len} runs past the end of the file"
        )));
    }
    let header: Header = serde_json::from_slice(&bytes[12..12 + header_len])
        .map_err(|e| bad(format!("the header is not valid: {e}")))?;
    if header.format != FORMAT || header.version != 1 {
        return Err(bad(format!(
            "unsupported export format {} version {}",
            header.format, header.version
        )));
    }
    if header.checkpoints.is_empty() {
        return Err(bad("it holds no checkpoint (not even the base)".into()));
    }
    if header.checkpoints.len() > max_checkpoints + 1 {
        return Err(bad(format!(
            "it holds {} checkpoints, more than the {} this session keeps \
             (--max-checkpoints)",
            header.checkpoints.len(),
            max_checkpoints + 1
        )));
    }
    let mut at = 12 + header_len;
    let mut checkpoints = Vec::with_capacity(header.checkpoints.len());
    for hc in &header.checkpoints {
        let end = usize::try_from(hc.bytes)
            .ok()
            .and_then(|n| at.checked_add(n))
            .filter(|end| *end <= bytes.len())
            .ok_or_else(|| {
                bad(format!(
                    "the checkpoint at ts {} runs past the end of the file",
                    hc.ts
                ))
            })?;
        let snap = decode_snapshot(&name, &bytes[at..end])
            .map_err(|e| bad(format!("the checkpoint at ts {}: {e}", hc.ts)))?;
        if snap.ts != hc.ts {
            return Err(bad(format!(
                "the checkpoint listed at ts {} holds ts {}",
                hc.ts, snap.ts
            )));
        }
        if checkpoints
            .last()
            .is_some_and(|p: &Snapshot| p.ts >= snap.ts)
        {
            return Err(bad(format!(
                "the checkpoints are not in ascending ts order (ts {})",
                snap.ts
            )));
        }
        checkpoints.push(snap);
        at = end;
    }
    if at != bytes.len() {
        return Err(bad(format!(
            "{} bytes after the last checkpoint",
            bytes.len() - at
        )));
    }
    Ok(Exported {
        position: header.position,
        breakpoints: header.breakpoints,
        trace: header.trace,
        checkpoints,
    })
}
