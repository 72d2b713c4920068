//! Partial reads (`docs/LOG_FORMAT.md` §6, "Reading part of a log"):
//! stopping at a timestamp ([`ReadOptions::stop_at`]) and resuming after a
//! damaged region ([`ReadOptions::resume_at`]), for `--stop-at` and
//! `--skip-to-log-offset`. Read-only: they never change the storage, not
//! even to cut a torn tail.

use std::fmt;

use super::check::Problem;
use super::scan::{Flow, Issue, Limit, Scanner};
use super::{Batch, ReadOptions, SegmentInfo};
use crate::batch_parse::{decode_payload, parse_record};
use crate::error::PersistError;
use crate::segment::{SegmentHeader, SEGMENT_HEADER_LEN};
use crate::storage::Storage;

/// A position in the log: a segment file and a byte offset in it. Written
/// `SEGMENT:OFFSET`, where `SEGMENT` is the segment's file name
/// (`00000000000000000042.log`) or just its first timestamp (`42`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LogPosition {
    /// Segment file name.
    pub segment: String,
    /// Byte offset in the segment; anything below 64 means "the segment's
    /// start" (its header).
    pub offset: u64,
}

impl fmt::Display for LogPosition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.segment, self.offset)
    }
}

/// A string that is not a [`LogPosition`] (`SEGMENT:OFFSET`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{text}` is not a log position: use SEGMENT:OFFSET, e.g. \
     00000000000000000001.log:1234 or 1:1234"
)]
pub struct ParseLogPositionError {
    /// The text that was given.
    pub text: String,
}

impl std::str::FromStr for LogPosition {
    type Err = ParseLogPositionError;

    fn from_str(s: &str) -> Result<Self, ParseLogPositionError> {
        let bad = || ParseLogPositionError { text: s.to_owned() };
        let (seg, off) = s.rsplit_once(':').ok_or_else(bad)?;
        let offset: u64 = off.trim().parse().map_err(|_| bad())?;
        let seg = seg.trim();
        let segment = if crate::segment::parse_segment_name(seg).is_some() {
            seg.to_owned()
        } else {
            let ts: u64 = seg.parse().map_err(|_| bad())?;
            crate::segment::segment_name(ts)
        };
        Ok(LogPosition { segment, offset })
    }
}

/// What a [`read_log`](super::read_log) with [`ReadOptions::resume_at`]
/// skipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedRegion {
    /// The problem that ended the valid prefix.
    pub damage: Problem,
    /// The last timestamp read before the damage (0: none).
    pub last_ts_before: u64,
    /// Where reading resumed.
    pub resumed_at: LogPosition,
    /// The first timestamp read after resuming, if anything was.
    pub first_ts_after: Option<u64>,
}

impl ReadOptions {
    /// Refuses combinations that mean nothing, before anything is read.
    pub(super) fn validate(&self) -> Result<(), PersistError> {
        let Some(start) = self.start else {
            return Ok(());
        };
        if let Some(pos) = &self.resume_at {
            return Err(PersistError::InvalidPosition {
                position: pos.to_string(),
                reason: format!(
                    "resuming after damage reads the log from its first segment, so it cannot \
                     start where a snapshot leaves off (timestamp {})",
                    start.ts
                ),
            });
        }
        match self.stop_at {
            Some(stop) if stop < start.ts => Err(PersistError::LogStartMismatch {
                ts: start.ts,
                reason: format!("the read stops at timestamp {stop}, before the snapshot's"),
            }),
            _ => Ok(()),
        }
    }
}

/// Hands batches on to the visitor, holding back the entries after
/// [`ReadOptions::stop_at`], and remembers what it passed on.
pub(super) struct StopAt {
    limit: Option<u64>,
    /// The last timestamp passed on (0: none).
    pub(super) last_ts: u64,
    /// True if entries after the limit were held back.
    pub(super) held_back: bool,
}

impl StopAt {
    pub(super) fn new(limit: Option<u64>) -> Self {
        StopAt {
            limit,
            last_ts: 0,
            held_back: false,
        }
    }

    /// Passes `batch` on to `visit`, cut at the limit.
    pub(super) fn pass<E>(
        &mut self,
        mut batch: Batch<'_>,
        visit: &mut impl FnMut(Batch<'_>) -> Result<(), E>,
    ) -> Result<(), E> {
        if let Some(limit) = self.limit {
            let n = batch.entries.len();
            batch.entries.retain(|e| e.ts() <= limit);
            self.held_back |= batch.entries.len() < n;
        }
        if let Some(e) = batch.entries.last() {
            self.last_ts = e.ts();
        }
        visit(batch)
    }
}

/// A read with [`ReadOptions::resume_at`]: reads the valid prefix of the log
/// up to its first problem, then resumes at `pos`. Returns the region
/// skipped, or `None` when [`ReadOptions::stop_at`] came before any damage.
/// An error after resuming is left in the scanner's `fatal`.
pub(super) fn skip_damage<E: From<PersistError>>(
    s: &mut Scanner<'_, E>,
    storage: &dyn Storage,
    segs: &[(u64, String)],
    pos: &LogPosition,
) -> Result<Option<SkippedRegion>, E> {
    let invalid = |reason: String| PersistError::InvalidPosition {
        position: pos.to_string(),
        reason,
    };
    let Some(idx) = segs.iter().position(|(_, n)| *n == pos.segment) else {
        return Err(E::from(invalid(format!(
            "the log has no segment {}",
            pos.segment
        ))));
    };
    let offset = match usize::try_from(pos.offset) {
        Ok(o) if o >= SEGMENT_HEADER_LEN => o,
        _ => 0,
    };
    // Phase 1: the valid prefix, up to the first problem or the position.
    s.bound = Some((segs[idx].0, offset));
    s.run_segments(storage, segs, 0)?;
    s.bound = None;
    let damage = match (s.fatal.take(), s.summary.torn_tail.take()) {
        (Some(e @ PersistError::Io { .. }), _) => return Err(E::from(e)),
        (Some(e), _) => Problem::from(Issue::Error(e)),
        (None, Some(t)) => Problem::from(Issue::Torn(t)),
        (None, None) if s.reached == Some(Limit::StopAt) => {
            // The stop timestamp came first: there was nothing to skip yet.
            return Ok(None);
        }
        (None, None) => {
            return Err(E::from(invalid(
                "the log has no damage before this position, so there is nothing to skip \
                 (`interstice check-log` shows where the damage is)"
                    .into(),
            )));
        }
    };
    let last_ts_before = s.summary.next_ts - 1;
    // Phase 2: resume at the position, verifying from there on.
    s.resume(storage, segs, idx, offset, s.summary.next_ts, &invalid)?;
    Ok(Some(SkippedRegion {
        damage,
        last_ts_before,
        resumed_at: pos.clone(),
        first_ts_after: s.first_resumed_ts,
    }))
}

impl<E: From<PersistError>> Scanner<'_, E> {
    /// Phase 2 of a skipping read: starts reading again at byte `offset` of
    /// `segs[idx]` (0: at its header), with the chain unanchored, then reads
    /// the rest of the log as usual. `min_ts`: where the valid prefix ended.
    fn resume(
        &mut self,
        storage: &dyn Storage,
        segs: &[(u64, String)],
        idx: usize,
        offset: usize,
        min_ts: u64,
        invalid: &dyn Fn(String) -> PersistError,
    ) -> Result<(), E> {
        let (name_ts, name) = &segs[idx];
        let data = storage
            .read(name)
            .map_err(|e| PersistError::io(format!("reading log segment {name}"), e))?;
        let header = SegmentHeader::decode(&data).map_err(|e| {
            invalid(format!(
                "the segment's header is damaged ({e}); resume at a later segment"
            ))
        })?;
        if header.first_ts != *name_ts {
            return Err(E::from(invalid(format!(
                "the segment's header says it starts at timestamp {}, its name says {name_ts}",
                header.first_ts
            ))));
        }
        let start = offset.max(SEGMENT_HEADER_LEN);
        if start > data.len() {
            return Err(E::from(invalid(format!(
                "the segment is only {} bytes long",
                data.len()
            ))));
        }
        if offset < SEGMENT_HEADER_LEN {
            // At a segment start, its header anchors the chain again.
            if header.first_ts < min_ts {
                return Err(E::from(invalid(format!(
                    "the segment starts at timestamp {}, but the valid prefix already \
                     reaches {}: resume after the damage",
                    header.first_ts,
                    min_ts - 1
                ))));
            }
            self.next_ts = Some(header.first_ts);
            self.prev_hash = Some(header.prev_hash);
        } else {
            // Mid-segment, the batch there is taken on trust if it is
            // complete and its entries decode and are numbered right; its
            // stored hash anchors the chain from there on.
            let raw = parse_record(&data, start, None).map_err(|bad| {
                invalid(format!("no complete batch starts there ({})", bad.reason))
            })?;
            let h = raw.header;
            if h.first_ts < min_ts {
                return Err(E::from(invalid(format!(
                    "the batch there starts at timestamp {}, but the valid prefix already \
                     reaches {}: resume after the damage",
                    h.first_ts,
                    min_ts - 1
                ))));
            }
            decode_payload(raw.payload, h.first_ts, h.count).map_err(|(ts, reason)| {
                invalid(format!(
                    "the batch there does not decode (timestamp {ts}: {reason})"
                ))
            })?;
            self.next_ts = None;
            self.prev_hash = None;
        }
        self.prev_segment = Some(name.clone());
        self.current = Some(name.clone());
        self.resuming = true;
        let mut info = SegmentInfo {
            name: name.clone(),
            first_ts: header.first_ts,
            valid_len: start as u64,
            batches: 0,
        };
        let flow = self.records(
            name,
            *name_ts,
            &data,
            start,
            idx + 1 == segs.len(),
            &mut info,
        )?;
        self.summary.segments.push(info);
        if flow == Flow::Continue {
            self.run_segments(storage, segs, idx + 1)?;
        }
        Ok(())
    }
}
