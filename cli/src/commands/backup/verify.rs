//! The check of a copy before it becomes `DEST`: `check-log`'s
//! verification of its log (from its snapshot when the log starts later)
//! must find no problem at all, and the copy must open read-only at its last
//! timestamp, which replays it and loads (and re-hashes) every module.

use std::path::Path;

use interstice_actors::Runtime;
use interstice_persist::datadir::LOG_DIR;
use interstice_persist::{
    check, list_snapshots, read_snapshot, FileStorage, LogStart, SNAPSHOTS_DIR,
};

use super::copy::Copied;
use crate::error::CliError;

/// Most problems named in the error of a copy that does not verify.
const MAX_PROBLEMS: usize = 5;

/// Verifies the copy in `tmp`; its state hash.
pub(super) async fn verify(tmp: &Path, copied: &Copied) -> Result<[u8; 32], CliError> {
    let storage = FileStorage::new(tmp.join(LOG_DIR));
    let start = start_of(tmp, &storage)?;
    let problems = check(&storage, start);
    if !problems.is_empty() {
        let listed: Vec<String> = problems
            .iter()
            .take(MAX_PROBLEMS)
            .map(ToString::to_string)
            .collect();
        return Err(CliError::Backup(format!(
            "the copy does not verify ({} problems; check-log on the source tells more): {}",
            problems.len(),
            listed.join("; ")
        )));
    }
    let rt = Runtime::builder()
        .data_dir(tmp)
        .stop_at(copied.last_ts)
        .open()
        .await
        .map_err(|e| CliError::Backup(format!("the copy does not open: {e}")))?;
    let hash = rt.state_hash().await;
    crate::commands::close(&rt, hash.map_err(CliError::from))
        .await
        .map_err(|e| CliError::Backup(format!("the copy does not open: {e}")))
}

/// Where the copy's log must continue from: nothing for a log that starts
/// at timestamp 1, else the newest copied snapshot that reaches its first
/// segment (none that does is itself a failure).
fn start_of(tmp: &Path, storage: &FileStorage) -> Result<Option<LogStart>, CliError> {
    let segs = interstice_persist::reader::list_segments(storage)?;
    let Some(&(first, _)) = segs.first() else {
        return Ok(None);
    };
    if first <= 1 {
        return Ok(None);
    }
    for (ts, path) in list_snapshots(&tmp.join(SNAPSHOTS_DIR))? {
        if ts.saturating_add(1) < first {
            continue;
        }
        if let Ok(s) = read_snapshot(&path) {
            return Ok(Some(LogStart {
                ts: s.ts,
                hash: s.log_hash,
            }));
        }
    }
    Err(CliError::Backup(format!(
        "the copy's log starts at timestamp {first} and no valid snapshot in it covers the \
         entries before"
    )))
}
