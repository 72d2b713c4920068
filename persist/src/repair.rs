//! [`repair`]: what `interstice check-log --repair` does
//! (`docs/LOG_FORMAT.md` §6, "Repair").
//!
//! It keeps the log's valid prefix — everything before its first problem —
//! and moves the rest aside into `.broken` files next to the segments, so
//! that the log opens again. It never deletes a byte:
//!
//! - the bytes after the last valid batch of the first damaged segment
//!   `S` go to `S.broken` (written to `S.broken.tmp`, synced, renamed,
//!   directory synced), and only then is `S` truncated; a damaged segment
//!   header moves the whole file (a rename);
//! - every later segment `L` is renamed to `L.broken`.
//!
//! If a `.broken` name is taken (an earlier repair), `.broken.1`,
//! `.broken.2`, … are used. A crash at any point leaves every byte in a
//! segment or a `.broken` file (a leftover `*.broken.tmp` is a redundant,
//! possibly partial copy of bytes still in their segment), and running the
//! repair again finishes the job.

use std::collections::BTreeSet;

use tracing::warn;

use crate::error::PersistError;
use crate::reader::{check, scan, valid_prefix, LogSummary, Problem, ProblemKind};
use crate::storage::Storage;

/// Suffix of the files `repair` moves damaged bytes into.
pub const BROKEN_SUFFIX: &str = ".broken";

/// Bytes that [`repair`] moved out of the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MovedBytes {
    /// The segment they came from.
    pub segment: String,
    /// Offset of the first byte moved (0: the whole file was renamed).
    pub offset: u64,
    /// How many bytes.
    pub bytes: u64,
    /// The file that holds them now.
    pub to: String,
}

/// What [`repair`] found and did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepairReport {
    /// The problems [`check`] reported before the repair (empty: the log was
    /// sound and nothing was changed).
    pub problems: Vec<Problem>,
    /// What was moved, in the order it was moved.
    pub moved: Vec<MovedBytes>,
    /// The log after the repair.
    pub kept: LogSummary,
}

/// Keeps the valid prefix of the log and moves everything after it into
/// `.broken` files (see the module docs), so the log opens again. A sound
/// log is left alone.
///
/// Refuses ([`PersistError::Unrepairable`], changing nothing) a log with a
/// segment of an unsupported format version or with unreadable files. The
/// caller must hold the data directory's lock.
pub fn repair(storage: &dyn Storage) -> Result<RepairReport, PersistError> {
    // A log whose start retention deleted (a snapshot covers it) would read
    // as damaged from its first segment on: never move it all away.
    if let Some(&(first, _)) = crate::reader::list_segments(storage)?.first() {
        if first > 1 {
            return Err(PersistError::Unrepairable(format!(
                "the log starts at timestamp {first}, not 1 (retention deleted the segments \
                 before it, which a snapshot covers); repair only handles a log that starts at \
                 timestamp 1; nothing was changed"
            )));
        }
    }
    let problems = check(storage, None);
    if let Some(p) = problems
        .iter()
        .find(|p| matches!(p.kind, ProblemKind::Io | ProblemKind::UnsupportedVersion))
    {
        return Err(PersistError::Unrepairable(format!(
            "{p}; nothing was changed"
        )));
    }
    let prefix = valid_prefix(storage)?;
    let mut moved = Vec::new();
    match &prefix.cut {
        None if problems.is_empty() => {}
        None => {
            return Err(PersistError::Unrepairable(format!(
                "the check reports {} but reading the log finds no damage; nothing was changed",
                problems[0]
            )))
        }
        Some(cut) => {
            let mut taken = BTreeSet::new();
            moved.extend(move_out(storage, &cut.segment, cut.offset, &mut taken)?);
            for later in &prefix.later_segments {
                moved.extend(move_out(storage, later, 0, &mut taken)?);
            }
        }
    }
    let kept = scan(storage)?;
    if let Some(p) = check(storage, None).first() {
        return Err(PersistError::Unrepairable(format!(
            "the log still has a problem after moving the damaged part aside: {p}"
        )));
    }
    Ok(RepairReport {
        problems,
        moved,
        kept,
    })
}

fn io(context: String) -> impl FnOnce(std::io::Error) -> PersistError {
    move |e| PersistError::io(context, e)
}

/// The first free name among `SEG.broken`, `SEG.broken.1`, …
fn free_name(
    storage: &dyn Storage,
    segment: &str,
    taken: &mut BTreeSet<String>,
) -> Result<String, PersistError> {
    let names: BTreeSet<String> = storage
        .list()
        .map_err(io("listing the log directory".into()))?
        .into_iter()
        .collect();
    let base = format!("{segment}{BROKEN_SUFFIX}");
    let name = (0u64..)
        .map(|i| {
            if i == 0 {
                base.clone()
            } else {
                format!("{base}.{i}")
            }
        })
        .find(|n| !names.contains(n) && !taken.contains(n))
        .unwrap_or(base);
    taken.insert(name.clone());
    Ok(name)
}

/// Moves the bytes of `segment` from `offset` on into a `.broken` file
/// (`None`: there were none).
fn move_out(
    storage: &dyn Storage,
    segment: &str,
    offset: u64,
    taken: &mut BTreeSet<String>,
) -> Result<Option<MovedBytes>, PersistError> {
    let data = storage
        .read(segment)
        .map_err(io(format!("reading log segment {segment}")))?;
    let len = data.len() as u64;
    let start = usize::try_from(offset.min(len)).unwrap_or(data.len());
    if start > 0 && start == data.len() {
        return Ok(None);
    }
    let to = free_name(storage, segment, taken)?;
    if start == 0 {
        storage
            .rename(segment, &to)
            .map_err(io(format!("renaming log segment {segment} to {to}")))?;
    } else {
        // Copy first, durably; cut only once the copy is safe.
        let tmp = format!("{to}.tmp");
        if storage
            .list()
            .map_err(io("listing the log directory".into()))?
            .contains(&tmp)
        {
            // A leftover of an interrupted repair: the bytes it holds are
            // still in the segment (it was never cut).
            storage
                .remove(&tmp)
                .map_err(io(format!("removing the leftover {tmp}")))?;
        }
        let mut f = storage
            .create(&tmp)
            .map_err(io(format!("creating {tmp}")))?;
        f.append(&data[start..])
            .map_err(io(format!("writing {tmp}")))?;
        f.sync().map_err(io(format!("syncing {tmp}")))?;
        drop(f);
        storage
            .rename(&tmp, &to)
            .map_err(io(format!("renaming {tmp} to {to}")))?;
    }
    storage
        .sync_dir()
        .map_err(io("syncing the log directory".into()))?;
    if start > 0 {
        storage.truncate(segment, start as u64).map_err(io(format!(
            "cutting log segment {segment} to {start} bytes"
        )))?;
    }
    let moved = MovedBytes {
        segment: segment.to_owned(),
        offset: start as u64,
        bytes: len - start as u64,
        to,
    };
    warn!(
        segment = %moved.segment,
        offset = moved.offset,
        bytes = moved.bytes,
        to = %moved.to,
        "repair moved {} bytes of log segment {} (from byte {}) to {}",
        moved.bytes,
        moved.segment,
        moved.offset,
        moved.to
    );
    Ok(Some(moved))
}
