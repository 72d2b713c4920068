//! Reading and verifying the log: segment order, headers, the hash chain,
//! gapless timestamps and entry decoding, plus the torn-tail rule
//! (`docs/LOG_FORMAT.md` §6).
//!
//! - [`read_log`] / [`read_batches`] stream the verified log, one segment in
//!   memory at a time, and stop at a torn tail (reported in the
//!   [`LogSummary`]); anything else wrong is an error.
//! - [`scan`] verifies without a callback.
//! - [`check`] never stops early: it reports every [`Problem`] it can find.

use std::fmt;

use tracing::debug;

use crate::batch_parse::{decode_payload, find_following_batch, parse_record, RawBatch};
use crate::error::PersistError;
use crate::record::{Hash, LogEntry};
use crate::segment::{
    parse_segment_name, HeaderError, SegmentHeader, GENESIS_HASH, SEGMENT_HEADER_LEN,
};
use crate::storage::Storage;

/// One verified batch, as passed to [`read_batches`]' callback.
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
    /// The decoded entries, timestamps `first_ts..first_ts + count`.
    pub entries: Vec<LogEntry>,
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

/// An incomplete or unverifiable final record in the last segment, with
/// nothing valid after it: what a crash in the middle of a write leaves.
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
    fn empty() -> Self {
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

enum Issue {
    Torn(TornTail),
    Error(PersistError),
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Stop at the first problem; a torn tail is not an error.
    Strict,
    /// Report every problem and carry on.
    Check,
}

#[must_use]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flow {
    Continue,
    Stop,
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

struct Scanner<'f, E> {
    mode: Mode,
    on_batch: &'f mut dyn FnMut(Batch<'_>) -> Result<(), E>,
    /// Expected first timestamp of the next batch (`None`: unknown, after
    /// damage in check mode).
    next_ts: Option<u64>,
    /// Hash the next batch chains from (`None`: unknown).
    prev_hash: Option<Hash>,
    /// Where the chain position was established, for messages.
    prev_segment: Option<String>,
    problems: Vec<Problem>,
    fatal: Option<PersistError>,
    summary: LogSummary,
}

fn corrupt(segment: &str, offset: u64, ts: Option<u64>, reason: impl Into<String>) -> Issue {
    Issue::Error(PersistError::Corrupt {
        segment: segment.to_owned(),
        offset,
        ts,
        reason: reason.into(),
    })
}

impl<E: From<PersistError>> Scanner<'_, E> {
    fn report(&mut self, issue: Issue) -> Flow {
        match self.mode {
            Mode::Strict => {
                match issue {
                    Issue::Torn(t) => self.summary.torn_tail = Some(t),
                    Issue::Error(e) => self.fatal = Some(e),
                }
                Flow::Stop
            }
            Mode::Check => {
                self.problems.push(issue.into());
                Flow::Continue
            }
        }
    }

    fn run(&mut self, storage: &dyn Storage) -> Result<(), E> {
        let segs = match list_segments(storage) {
            Ok(s) => s,
            Err(e) => {
                let _ = self.report(Issue::Error(e));
                return Ok(());
            }
        };
        let n = segs.len();
        for (i, (name_ts, name)) in segs.iter().enumerate() {
            let data = match storage.read(name) {
                Ok(d) => d,
                Err(e) => {
                    let ctx = format!("reading log segment {name}");
                    if self.report(Issue::Error(PersistError::io(ctx, e))) == Flow::Stop {
                        return Ok(());
                    }
                    self.unanchor();
                    continue;
                }
            };
            if self.segment(name, *name_ts, &data, i == 0, i + 1 == n)? == Flow::Stop {
                return Ok(());
            }
        }
        Ok(())
    }

    fn unanchor(&mut self) {
        self.next_ts = None;
        self.prev_hash = None;
    }

    fn segment(
        &mut self,
        name: &str,
        name_ts: u64,
        data: &[u8],
        is_first: bool,
        is_last: bool,
    ) -> Result<Flow, E> {
        let len = data.len();
        let header = match SegmentHeader::decode(data) {
            Ok(h) => h,
            Err(HeaderError::UnsupportedVersion(version)) => {
                let flow = self.report(Issue::Error(PersistError::UnsupportedVersion {
                    segment: name.to_owned(),
                    version,
                }));
                self.unanchor();
                return Ok(flow);
            }
            Err(e) => {
                // The writer syncs a new segment's header before writing any
                // batch into it, so only a header-only last segment can be torn.
                let torn_kind = matches!(
                    e,
                    HeaderError::Short(_)
                        | HeaderError::BadMagic(_)
                        | HeaderError::BadChecksum { .. }
                );
                let issue = if is_last && len <= SEGMENT_HEADER_LEN && torn_kind {
                    Issue::Torn(TornTail {
                        segment: name.to_owned(),
                        offset: 0,
                        bytes: len as u64,
                        reason: format!("segment header is torn: {e}"),
                    })
                } else {
                    corrupt(name, 0, self.next_ts, e.to_string())
                };
                let flow = self.report(issue);
                self.unanchor();
                return Ok(flow);
            }
        };

        if header.first_ts != name_ts {
            let issue = corrupt(
                name,
                16,
                Some(header.first_ts),
                format!(
                    "the header's first timestamp is {}, but the file name says {name_ts}",
                    header.first_ts
                ),
            );
            if self.report(issue) == Flow::Stop {
                return Ok(Flow::Stop);
            }
        }
        if is_first {
            if header.first_ts != 1 || header.prev_hash != GENESIS_HASH {
                let issue = corrupt(
                    name,
                    16,
                    Some(header.first_ts),
                    format!(
                        "the log's first segment starts at timestamp {} with {} previous hash; \
                         a complete log starts at 1 with the genesis (all-zero) hash \
                         (are earlier segments missing?)",
                        header.first_ts,
                        if header.prev_hash == GENESIS_HASH {
                            "the genesis"
                        } else {
                            "a non-genesis"
                        }
                    ),
                );
                if self.report(issue) == Flow::Stop {
                    return Ok(Flow::Stop);
                }
            }
        } else {
            let after = self.prev_segment.clone().unwrap_or_default();
            if let Some(expected) = self.next_ts {
                if header.first_ts != expected {
                    let issue = corrupt(
                        name,
                        16,
                        Some(expected),
                        format!(
                            "timestamp gap between segments: {after} ends before timestamp \
                             {expected}, but this segment starts at {} (missing segment?)",
                            header.first_ts
                        ),
                    );
                    if self.report(issue) == Flow::Stop {
                        return Ok(Flow::Stop);
                    }
                }
            }
            if let Some(prev) = self.prev_hash {
                if header.prev_hash != prev {
                    let issue = corrupt(
                        name,
                        24,
                        Some(header.first_ts),
                        format!(
                            "the header's previous hash does not match the last batch of {after} \
                             (broken hash chain)"
                        ),
                    );
                    if self.report(issue) == Flow::Stop {
                        return Ok(Flow::Stop);
                    }
                }
            }
        }
        // From here on (in check mode, after reporting) the header anchors the chain.
        self.next_ts = Some(header.first_ts);
        self.prev_hash = Some(header.prev_hash);
        self.prev_segment = Some(name.to_owned());

        let mut info = SegmentInfo {
            name: name.to_owned(),
            first_ts: header.first_ts,
            valid_len: SEGMENT_HEADER_LEN as u64,
            batches: 0,
        };
        let mut at = SEGMENT_HEADER_LEN;
        let mut flow = Flow::Continue;
        while at < len {
            match parse_record(data, at, self.prev_hash.as_ref()) {
                Ok(raw) => {
                    let end = at + raw.header.record_len() as usize;
                    if self.batch(name, at, &raw)? == Flow::Stop {
                        flow = Flow::Stop;
                        break;
                    }
                    info.batches += 1;
                    at = end;
                    info.valid_len = at as u64;
                }
                Err(bad) => {
                    let resync =
                        find_following_batch(data, at, &bad, self.prev_hash.as_ref(), self.next_ts);
                    let issue = match (&resync, is_last) {
                        (None, true) => Issue::Torn(TornTail {
                            segment: name.to_owned(),
                            offset: at as u64,
                            bytes: (len - at) as u64,
                            reason: bad.reason.clone(),
                        }),
                        (None, false) => corrupt(
                            name,
                            at as u64,
                            self.next_ts,
                            format!(
                                "{}; only the last segment may end in a torn record",
                                bad.reason
                            ),
                        ),
                        (Some(r), _) => corrupt(
                            name,
                            at as u64,
                            self.next_ts,
                            format!(
                                "{}; a valid batch follows at byte {}, so this is not a torn tail",
                                bad.reason, r.offset
                            ),
                        ),
                    };
                    if self.report(issue) == Flow::Stop {
                        flow = Flow::Stop;
                        break;
                    }
                    match resync {
                        Some(r) => {
                            at = r.offset;
                            self.next_ts = None;
                            self.prev_hash = r.prev;
                        }
                        None => {
                            // What the rest of the segment held is unknown:
                            // the next segment's header anchors the chain.
                            self.unanchor();
                            break;
                        }
                    }
                }
            }
        }
        self.summary.segments.push(info);
        Ok(flow)
    }

    /// Checks a hash-verified batch's timestamps and entries and hands it on.
    fn batch(&mut self, segment: &str, at: usize, raw: &RawBatch<'_>) -> Result<Flow, E> {
        let h = raw.header;
        let offset = at as u64;
        if let Some(expected) = self.next_ts {
            if h.first_ts != expected {
                let issue = corrupt(
                    segment,
                    offset,
                    Some(expected),
                    format!(
                        "timestamp gap: the next batch should start at {expected}, \
                         this one starts at {}",
                        h.first_ts
                    ),
                );
                if self.report(issue) == Flow::Stop {
                    return Ok(Flow::Stop);
                }
            }
        }
        // Whatever else is wrong, the hash is the writer's: the chain goes on.
        self.prev_hash = Some(h.hash);
        let Some(next) = h.first_ts.checked_add(u64::from(h.count)) else {
            self.next_ts = None;
            let issue = corrupt(
                segment,
                offset,
                Some(h.first_ts),
                "batch timestamps overflow u64",
            );
            return Ok(self.report(issue));
        };
        self.next_ts = Some(next);
        let entries = match decode_payload(raw.payload, h.first_ts, h.count) {
            Ok(entries) => entries,
            Err((ts, reason)) => {
                let issue = corrupt(segment, offset, Some(ts), reason);
                return Ok(self.report(issue));
            }
        };
        self.summary.batches += 1;
        self.summary.entries += u64::from(h.count);
        self.summary.next_ts = next;
        self.summary.last_hash = h.hash;
        (self.on_batch)(Batch {
            segment,
            offset,
            first_ts: h.first_ts,
            count: h.count,
            hash: h.hash,
            payload: raw.payload,
            entries,
        })?;
        Ok(Flow::Continue)
    }
}

fn run_scan<E: From<PersistError>>(
    storage: &dyn Storage,
    mode: Mode,
    on_batch: &mut dyn FnMut(Batch<'_>) -> Result<(), E>,
) -> Result<(LogSummary, Vec<Problem>), E> {
    let mut s = Scanner {
        mode,
        on_batch,
        next_ts: Some(1),
        prev_hash: Some(GENESIS_HASH),
        prev_segment: None,
        problems: Vec::new(),
        fatal: None,
        summary: LogSummary::empty(),
    };
    s.run(storage)?;
    if let Some(e) = s.fatal {
        return Err(E::from(e));
    }
    Ok((s.summary, s.problems))
}

/// Streams every verified batch of the log, in timestamp order.
///
/// Stops without error at a torn tail (see [`LogSummary::torn_tail`]); any
/// other damage is [`PersistError::Corrupt`] or
/// [`PersistError::UnsupportedVersion`]. Errors from `on_batch` are returned
/// as they are. Batches before the problem have already been passed on.
pub fn read_batches<E: From<PersistError>>(
    storage: &dyn Storage,
    mut on_batch: impl FnMut(Batch<'_>) -> Result<(), E>,
) -> Result<LogSummary, E> {
    run_scan(storage, Mode::Strict, &mut on_batch).map(|(summary, _)| summary)
}

/// Streams every verified entry of the log, in timestamp order (see
/// [`read_batches`] for what stops it).
pub fn read_log<E: From<PersistError>>(
    storage: &dyn Storage,
    mut on_entry: impl FnMut(LogEntry) -> Result<(), E>,
) -> Result<LogSummary, E> {
    read_batches(storage, |batch| {
        batch.entries.into_iter().try_for_each(&mut on_entry)
    })
}

/// Verifies the whole log (see [`read_batches`]).
pub fn scan(storage: &dyn Storage) -> Result<LogSummary, PersistError> {
    read_batches(storage, |_| Ok::<(), PersistError>(()))
}

/// Reports every problem in the log, with its location, without changing
/// anything. An empty list means the log is sound.
pub fn check(storage: &dyn Storage) -> Vec<Problem> {
    match run_scan(storage, Mode::Check, &mut |_| Ok::<(), PersistError>(())) {
        Ok((_, problems)) => problems,
        Err(e) => vec![Issue::Error(e).into()],
    }
}

#[cfg(test)]
#[path = "reader_tests.rs"]
mod tests;
