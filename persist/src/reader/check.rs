//! Finding damage: [`check`] reads the whole log and reports every
//! [`Problem`] with its location, for `interstice check-log`;
//! [`valid_prefix`] says where the valid prefix of a damaged log ends, for
//! `check-log --repair`. Neither changes anything.

use std::fmt;

use super::scan::{Issue, Mode, Scanner};
use super::{list_segments, Batch, LogPosition, LogStart, LogSummary};
use crate::error::PersistError;
use crate::storage::Storage;

/// What kind of problem [`check`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProblemKind {
    /// A torn tail: cut automatically when the log is opened for writing.
    TornTail,
    /// Damage a crash cannot explain: the log refuses to open.
    Corrupt,
    /// A segment of a format version this build cannot read.
    UnsupportedVersion,
    /// The storage could not be read.
    Io,
}

/// One problem found by [`check`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// What kind.
    pub kind: ProblemKind,
    /// Segment file name (`None` for directory-level problems).
    pub segment: Option<String>,
    /// Byte offset in the segment.
    pub offset: u64,
    /// Timestamp concerned, when known.
    pub ts: Option<u64>,
    /// The full message.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.kind {
            ProblemKind::TornTail => "torn tail",
            ProblemKind::Corrupt => "corrupt",
            ProblemKind::UnsupportedVersion => "unsupported version",
            ProblemKind::Io => "I/O error",
        };
        write!(f, "{kind}: {}", self.message)
    }
}

impl From<Issue> for Problem {
    fn from(issue: Issue) -> Self {
        match issue {
            Issue::Torn(t) => Problem {
                kind: ProblemKind::TornTail,
                segment: Some(t.segment.clone()),
                offset: t.offset,
                ts: None,
                message: t.to_string(),
            },
            Issue::Error(e) => {
                let message = e.to_string();
                let (kind, segment, offset, ts) = match e {
                    PersistError::Corrupt {
                        segment,
                        offset,
                        ts,
                        ..
                    } => (ProblemKind::Corrupt, Some(segment), offset, ts),
                    PersistError::UnsupportedVersion { segment, .. } => {
                        (ProblemKind::UnsupportedVersion, Some(segment), 8, None)
                    }
                    _ => (ProblemKind::Io, None, 0, None),
                };
                Problem {
                    kind,
                    segment,
                    offset,
                    ts,
                    message,
                }
            }
        }
    }
}

/// Reports every problem in the log, with its location, without changing
/// anything. An empty list means the log is sound. With a `start`, the log's
/// beginning is covered by a snapshot (see [`LogStart`]): the log may start
/// later than timestamp 1 and must continue the snapshot.
pub fn check(storage: &dyn Storage, start: Option<LogStart>) -> Vec<Problem> {
    let mut ignore = |_: Batch<'_>| Ok::<(), PersistError>(());
    let mut s = Scanner::new(Mode::Check, &mut ignore);
    s.start = start;
    if let Err(e) = s.run(storage) {
        return vec![Issue::Error(e).into()];
    }
    s.finish_start();
    s.problems
}

/// Where the valid prefix of a log ends (see [`valid_prefix`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidPrefix {
    /// The valid prefix: its segments (the damaged one cut at the damage),
    /// batches, entries and `next_ts`.
    pub summary: LogSummary,
    /// The first problem, if the log has one.
    pub damage: Option<Problem>,
    /// Where the damage starts: the segment and the byte offset of the first
    /// byte not in the valid prefix (0: the whole segment).
    pub cut: Option<LogPosition>,
    /// The segments after the damaged one (all outside the valid prefix).
    pub later_segments: Vec<String>,
}

/// Reads the log strictly up to its first problem (a torn tail counts) and
/// says where the valid prefix ends. Never changes anything. Fails on I/O
/// errors and on a segment of an unsupported version.
pub fn valid_prefix(storage: &dyn Storage) -> Result<ValidPrefix, PersistError> {
    let mut noop = |_: Batch<'_>| Ok::<(), PersistError>(());
    let mut s = Scanner::new(Mode::Strict, &mut noop);
    let segs = list_segments(storage)?;
    s.run_segments(storage, &segs, 0)?;
    let damage = match (s.fatal.take(), s.summary.torn_tail.clone()) {
        (Some(e @ (PersistError::Io { .. } | PersistError::UnsupportedVersion { .. })), _) => {
            return Err(e)
        }
        (Some(e), _) => Some(Problem::from(Issue::Error(e))),
        (None, Some(t)) => Some(Problem::from(Issue::Torn(t))),
        (None, None) => None,
    };
    let mut summary = std::mem::replace(&mut s.summary, LogSummary::empty());
    let (cut, later_segments) = match (&damage, &s.current) {
        (Some(_), Some(current)) => {
            // The damaged segment is listed only if its header was sound.
            let offset = match summary.segments.last() {
                Some(info) if info.name == *current => info.valid_len,
                _ => 0,
            };
            let idx = segs
                .iter()
                .position(|(_, n)| n == current)
                .unwrap_or(segs.len());
            let later = segs.iter().skip(idx + 1).map(|(_, n)| n.clone()).collect();
            (
                Some(LogPosition {
                    segment: current.clone(),
                    offset,
                }),
                later,
            )
        }
        _ => (None, Vec::new()),
    };
    summary.torn_tail = None;
    Ok(ValidPrefix {
        summary,
        damage,
        cut,
        later_segments,
    })
}
