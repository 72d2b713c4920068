//! Reading and verifying the log: segment order, headers, the hash chain,
//! gapless timestamps and entry decoding, plus the torn-tail rule
//! (`docs/LOG_FORMAT.md` §6).
//!
//! - [`read_log`] is the one read: it streams the verified batches of the
//!   log to a borrowing visitor, one segment in memory at a time, and stops
//!   at a torn tail (reported in the [`LogSummary`]); anything else wrong is
//!   an error. [`ReadOptions`] say where it starts (timestamp 1, or where a
//!   snapshot leaves off: [`LogStart`]), where it stops
//!   ([`ReadOptions::stop_at`]) and where it resumes after damage
//!   ([`ReadOptions::resume_at`]). [`for_each_entry`] adapts a callback that
//!   takes owned [`LogEntry`]s into a visitor.
//! - [`scan()`] verifies the whole log without a visitor.
//! - [`check()`] never stops early: it reports every [`Problem`] it can find;
//!   [`valid_prefix`] says where the first one is.
//!
//! Below this file, one module a job: `scan` (the verifying scanner every
//! read shares), `check` (finding damage) and `partial` (stopping at a
//! timestamp, resuming after damage).

mod check;
mod partial;
mod scan;

use std::fmt;

use tracing::debug;

pub use check::{check, valid_prefix, Problem, ProblemKind, ValidPrefix};
pub use partial::{LogPosition, ParseLogPositionError, SkippedRegion};

use crate::error::PersistError;
use crate::record::{Hash, LogEntry};
use crate::record_ref::LogEntryRef;
use crate::segment::{parse_segment_name, GENESIS_HASH};
use crate::storage::Storage;
use partial::StopAt;
use scan::{Limit, Mode, Scanner};

/// One verified batch, as passed to [`read_log`]'s visitor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch<'a> {
    /// Segment file name.
    pub segment: &'a str,
    /// Byte offset of the batch header in the segment.
    pub offset: u64,
    /// Timestamp of the first entry.
    pub first_ts: u64,
    /// Number of entries.
    pub count: u32,
    /// The batch hash.
    pub hash: Hash,
    /// The raw payload (the entries' CBOR, concatenated).
    pub payload: &'a [u8],
    /// The decoded entries, timestamps `first_ts..first_ts + count`,
    /// borrowing from `payload` ([`LogEntryRef::into_owned`] copies one).
    pub entries: Vec<LogEntryRef<'a>>,
}

/// A verified segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentInfo {
    /// File name.
    pub name: String,
    /// Timestamp of its first batch (from the header).
    pub first_ts: u64,
    /// Bytes that hold valid data (header and whole batches): the file's
    /// length, or the offset of a torn tail.
    pub valid_len: u64,
    /// Number of valid batches.
    pub batches: u64,
}

/// A final record in the last segment, with nothing valid after it, that a
/// crash in the middle of a write explains: the file ends inside it, its
/// marker is wrong, or it is zero-filled to the end of the file from its
/// start or a sector boundary (`docs/LOG_FORMAT.md` §6). A complete record
/// that fails its hash otherwise is corruption, never a torn tail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TornTail {
    /// Segment file name.
    pub segment: String,
    /// Where the torn bytes start. 0 means the segment header itself is torn
    /// (the writer removes the whole file).
    pub offset: u64,
    /// How many bytes are torn (from `offset` to the end of the file).
    pub bytes: u64,
    /// What is wrong with them.
    pub reason: String,
}

impl fmt::Display for TornTail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "torn tail of {} bytes in segment {} at byte {}: {}",
            self.bytes, self.segment, self.offset, self.reason
        )
    }
}

/// What a full pass over the log found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogSummary {
    /// Valid segments in timestamp order (a wholly torn last segment is not listed).
    pub segments: Vec<SegmentInfo>,
    /// The timestamp the next batch must start at (1 for an empty log).
    pub next_ts: u64,
    /// Hash of the last valid batch ([`GENESIS_HASH`] for an empty log).
    pub last_hash: Hash,
    /// Valid batches read.
    pub batches: u64,
    /// Valid entries read.
    pub entries: u64,
    /// The torn tail, if the log ends in one.
    pub torn_tail: Option<TornTail>,
}

impl LogSummary {
    pub(crate) fn empty() -> Self {
        Self {
            segments: Vec::new(),
            next_ts: 1,
            last_hash: GENESIS_HASH,
            batches: 0,
            entries: 0,
            torn_tail: None,
        }
    }
}

/// Where a log read starts when a snapshot covers the entries before it:
/// every entry with a timestamp ≤ `ts` is already applied, and the batch
/// ending at `ts` has hash `hash` (the genesis hash for `ts == 0`). The log
/// may then begin with any segment whose first timestamp is ≤ `ts + 1`;
/// the chain must pass through `(ts, hash)` at a batch boundary (or a
/// segment header starting at `ts + 1` must chain from `hash`), and it must
/// reach `ts`: a log that ends earlier does not continue the snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogStart {
    /// The snapshot's timestamp.
    pub ts: u64,
    /// The hash of the log batch ending at `ts`.
    pub hash: Hash,
}

/// What part of the log [`read_log`] reads. The default reads all of it,
/// from timestamp 1.
#[derive(Debug, Clone, Default, PartialEq, Eq, derive_setters::Setters)]
#[setters(prefix = "with_")]
#[non_exhaustive]
pub struct ReadOptions {
    /// Start where a snapshot leaves off (see [`LogStart`]): entries up to
    /// its timestamp are verified, not passed on, and the segments before
    /// may have been deleted. A log that does not continue the snapshot is
    /// [`PersistError::LogStartMismatch`], raised before any batch is passed
    /// on. `None`: the log must start at timestamp 1.
    pub start: Option<LogStart>,
    /// Pass on only entries with a timestamp up to this one, and stop
    /// reading there: damage after it is never looked at. Below
    /// `start`'s timestamp it is [`PersistError::LogStartMismatch`].
    pub stop_at: Option<u64>,
    /// Recovery: read the valid prefix of the log up to its first problem
    /// (corruption or a torn record), then resume at this later position,
    /// where a complete batch (or, at offset 0, a segment) must start. The
    /// chain break there is accepted; the log is verified again from there
    /// on. Not with `start` ([`PersistError::InvalidPosition`]).
    pub resume_at: Option<LogPosition>,
}

/// What [`read_log`] read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadReport {
    /// The verified parts read (after a skip, `next_ts` and `last_hash`
    /// describe the end of what was read after resuming). A torn tail at
    /// the end is reported, not cut.
    pub summary: LogSummary,
    /// The last timestamp passed on (0: none).
    pub last_ts: u64,
    /// True if reading stopped at [`ReadOptions::stop_at`]; later entries
    /// may exist.
    pub stopped_at_limit: bool,
    /// The damaged region skipped, with [`ReadOptions::resume_at`].
    pub skipped: Option<SkippedRegion>,
}

/// The valid segment files of `storage`, sorted by first timestamp.
pub fn list_segments(storage: &dyn Storage) -> Result<Vec<(u64, String)>, PersistError> {
    let names = storage
        .list()
        .map_err(|e| PersistError::io("listing the log directory", e))?;
    let mut segs: Vec<(u64, String)> = names
        .into_iter()
        .filter_map(|n| match parse_segment_name(&n) {
            Some(ts) => Some((ts, n)),
            None => {
                debug!(file = %n, "ignoring a file that is not a log segment");
                None
            }
        })
        .collect();
    segs.sort();
    Ok(segs)
}

/// Streams the verified batches of the log, or of the part of it `opts`
/// asks for, in timestamp order to `visit`, without changing anything. Each
/// batch's `entries` hold only entries up to [`ReadOptions::stop_at`].
///
/// Stops without error at a torn tail (see [`LogSummary::torn_tail`]); any
/// other damage is [`PersistError::Corrupt`] or
/// [`PersistError::UnsupportedVersion`]. With [`ReadOptions::start`], a log
/// that does not continue the snapshot is [`PersistError::LogStartMismatch`];
/// with [`ReadOptions::resume_at`], [`PersistError::InvalidPosition`] when
/// reading cannot resume there, or when the log has no damage before it
/// (nothing to skip). Errors from `visit` are returned as they are. Batches
/// before an error have already been passed on.
pub fn read_log<E: From<PersistError>>(
    storage: &dyn Storage,
    opts: &ReadOptions,
    mut visit: impl FnMut(Batch<'_>) -> Result<(), E>,
) -> Result<ReadReport, E> {
    opts.validate()?;
    let segs = list_segments(storage)?;
    let mut stop = StopAt::new(opts.stop_at);
    let mut pass = |batch: Batch<'_>| stop.pass(batch, &mut visit);
    let mut s = Scanner::new(Mode::Strict, &mut pass);
    s.start = opts.start;
    s.stop_after_ts = opts.stop_at;
    let skipped = match &opts.resume_at {
        None => {
            s.run_listed(storage, &segs)?;
            s.finish_start();
            None
        }
        Some(pos) => partial::skip_damage(&mut s, storage, &segs, pos)?,
    };
    if let Some(e) = s.fatal.take() {
        return Err(E::from(e));
    }
    let reached_stop_at = s.reached == Some(Limit::StopAt);
    let summary = s.summary;
    Ok(ReadReport {
        summary,
        last_ts: stop.last_ts,
        stopped_at_limit: reached_stop_at || stop.held_back,
        skipped,
    })
}

/// Adapts `on_entry`, which takes each entry as an owned [`LogEntry`], into
/// a visitor for [`read_log`] or [`crate::LogWriter::open_replaying`].
pub fn for_each_entry<E>(
    mut on_entry: impl FnMut(LogEntry) -> Result<(), E>,
) -> impl FnMut(Batch<'_>) -> Result<(), E> {
    move |batch| {
        batch
            .entries
            .into_iter()
            .try_for_each(|e| on_entry(e.into_owned()))
    }
}

/// Verifies the whole log (see [`read_log`]).
pub fn scan(storage: &dyn Storage) -> Result<LogSummary, PersistError> {
    read_log(storage, &ReadOptions::default(), |_| {
        Ok::<(), PersistError>(())
    })
    .map(|r| r.summary)
}
