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

use crate::batch_parse::{
    decode_payload, find_following_batch, parse_record, torn_write_explains, RawBatch,
};
use crate::error::PersistError;
use crate::record::{Hash, LogEntry};
use crate::record_ref::LogEntryRef;
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
    /// Stop quietly before the first batch that starts after this timestamp.
    stop_after_ts: Option<u64>,
    /// Stop quietly on reaching this position: (segment `first_ts`, byte offset).
    bound: Option<(u64, usize)>,
    /// Which limit stopped the scan, if one did.
    reached: Option<Limit>,
    /// The segment being read (for locating where a strict scan stopped).
    current: Option<String>,
    /// Set when a skipping read resumes; the first batch after it is recorded.
    resuming: bool,
    first_resumed_ts: Option<u64>,
    /// Where a snapshot leaves off: entries up to its timestamp are verified
    /// but not passed on, and the log may start later than timestamp 1.
    start: Option<LogStart>,
    /// Index (in the segment list) of the first segment read.
    first_index: usize,
    /// Set once the chain position at `start` has been checked.
    start_reached: bool,
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

/// A limit that ends a strict scan early, without error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Limit {
    StopAt,
    Bound,
}

fn corrupt(segment: &str, offset: u64, ts: Option<u64>, reason: impl Into<String>) -> Issue {
    Issue::Error(PersistError::Corrupt {
        segment: segment.to_owned(),
        offset,
        ts,
        reason: reason.into(),
    })
}

impl<'f, E: From<PersistError>> Scanner<'f, E> {
    fn new(mode: Mode, on_batch: &'f mut dyn FnMut(Batch<'_>) -> Result<(), E>) -> Self {
        Scanner {
            mode,
            on_batch,
            next_ts: Some(1),
            prev_hash: Some(GENESIS_HASH),
            prev_segment: None,
            problems: Vec::new(),
            fatal: None,
            summary: LogSummary::empty(),
            stop_after_ts: None,
            bound: None,
            reached: None,
            current: None,
            resuming: false,
            first_resumed_ts: None,
            start: None,
            first_index: 0,
            start_reached: false,
        }
    }

    fn start_mismatch(&mut self, reason: String) -> Flow {
        let ts = self.start.map_or(0, |s| s.ts);
        // Reported once; in check mode the rest is read as it comes.
        self.start_reached = true;
        self.report(Issue::Error(PersistError::LogStartMismatch { ts, reason }))
    }

    /// After the scan: a read from a snapshot must have reached its timestamp.
    fn finish_start(&mut self) {
        if let Some(st) = self.start {
            if !self.start_reached && self.fatal.is_none() {
                let last = self.summary.next_ts.saturating_sub(1);
                let _ = self.start_mismatch(format!(
                    "the log ends at timestamp {last}, before the snapshot's timestamp {}",
                    st.ts
                ));
            }
        }
    }

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
        let from = match self.start {
            Some(st) => segs
                .iter()
                .rposition(|(t, _)| *t <= st.ts.saturating_add(1))
                .unwrap_or(0),
            None => 0,
        };
        self.first_index = from;
        self.run_segments(storage, &segs, from)
    }

    /// True if a limit says to stop before reading at `at` in the segment
    /// starting at `seg_ts`; records which.
    fn at_limit(&mut self, seg_ts: u64, at: usize) -> bool {
        let past_ts = self
            .stop_after_ts
            .is_some_and(|limit| self.next_ts.is_some_and(|t| t > limit));
        let past_bound = self
            .bound
            .is_some_and(|(b_ts, b_at)| seg_ts > b_ts || (seg_ts == b_ts && at >= b_at));
        self.reached = if past_ts {
            Some(Limit::StopAt)
        } else if past_bound {
            Some(Limit::Bound)
        } else {
            None
        };
        self.reached.is_some()
    }

    fn run_segments(
        &mut self,
        storage: &dyn Storage,
        segs: &[(u64, String)],
        from: usize,
    ) -> Result<(), E> {
        let n = segs.len();
        for (i, (name_ts, name)) in segs.iter().enumerate().skip(from) {
            if self.at_limit(*name_ts, 0) {
                return Ok(());
            }
            self.current = Some(name.clone());
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
            let is_first = i == self.first_index;
            if self.segment(name, *name_ts, &data, is_first, i + 1 == n)? == Flow::Stop {
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
        if let (true, Some(st)) = (is_first, self.start) {
            let from = st.ts.saturating_add(1);
            if header.first_ts > from {
                let reason = format!(
                    "the log's first segment {name} starts at timestamp {}, after the snapshot's \
                     timestamp {} + 1: entries {from}..{} are missing",
                    header.first_ts,
                    st.ts,
                    header.first_ts - 1
                );
                if self.start_mismatch(reason) == Flow::Stop {
                    return Ok(Flow::Stop);
                }
            } else if header.first_ts == from {
                if header.prev_hash != st.hash {
                    let reason = format!(
                        "segment {name} starts at timestamp {from} but does not chain from the \
                         snapshot's hash"
                    );
                    if self.start_mismatch(reason) == Flow::Stop {
                        return Ok(Flow::Stop);
                    }
                }
                self.start_reached = true;
                self.summary.next_ts = from;
                self.summary.last_hash = st.hash;
            }
        } else if is_first {
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
        let flow = self.records(name, name_ts, data, SEGMENT_HEADER_LEN, is_last, &mut info)?;
        self.summary.segments.push(info);
        Ok(flow)
    }

    /// Reads the batch records of a segment from byte `start` on.
    fn records(
        &mut self,
        name: &str,
        name_ts: u64,
        data: &[u8],
        start: usize,
        is_last: bool,
        info: &mut SegmentInfo,
    ) -> Result<Flow, E> {
        let len = data.len();
        let mut at = start;
        let mut flow = Flow::Continue;
        while at < len {
            if self.at_limit(name_ts, at) {
                flow = Flow::Stop;
                break;
            }
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
                    let torn = match (&resync, is_last) {
                        (None, true) => {
                            Some(torn_write_explains(data, at, &bad, self.prev_hash.as_ref()))
                        }
                        _ => None,
                    };
                    let issue = match (&resync, torn) {
                        (None, Some(Ok(reason))) => Issue::Torn(TornTail {
                            segment: name.to_owned(),
                            offset: at as u64,
                            bytes: (len - at) as u64,
                            reason,
                        }),
                        (None, Some(Err(reason))) => corrupt(name, at as u64, self.next_ts, reason),
                        (None, None) => corrupt(
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
        if let (false, Some(st)) = (self.start_reached, self.start) {
            let last = next - 1;
            self.summary.batches += 1;
            self.summary.entries += u64::from(h.count);
            self.summary.next_ts = next;
            self.summary.last_hash = h.hash;
            if last < st.ts {
                return Ok(Flow::Continue);
            }
            if last > st.ts {
                return Ok(self.start_mismatch(format!(
                    "batch {}..={last} in {segment} at byte {offset} spans the snapshot's \
                     timestamp {}",
                    h.first_ts, st.ts
                )));
            }
            if h.hash != st.hash {
                return Ok(self.start_mismatch(format!(
                    "the log's batch ending at timestamp {last} ({segment} at byte {offset}) \
                     has a different hash than the snapshot records"
                )));
            }
            self.start_reached = true;
            return Ok(Flow::Continue);
        }
        if self.resuming && self.first_resumed_ts.is_none() {
            self.first_resumed_ts = Some(h.first_ts);
        }
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
    start: Option<LogStart>,
    on_batch: &mut dyn FnMut(Batch<'_>) -> Result<(), E>,
) -> Result<(LogSummary, Vec<Problem>), E> {
    let mut s = Scanner::new(mode, on_batch);
    s.start = start;
    s.run(storage)?;
    s.finish_start();
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
    read_batches_from(storage, None, &mut on_batch)
}

/// As [`read_batches`], but from a snapshot's position (see [`LogStart`]):
/// batches up to `start.ts` are verified, not passed on. With `None`, the
/// log must start at timestamp 1, as for [`read_batches`]. A log that does
/// not continue the snapshot is [`PersistError::LogStartMismatch`], raised
/// before any batch is passed on.
pub fn read_batches_from<E: From<PersistError>>(
    storage: &dyn Storage,
    start: Option<LogStart>,
    mut on_batch: impl FnMut(Batch<'_>) -> Result<(), E>,
) -> Result<LogSummary, E> {
    run_scan(storage, Mode::Strict, start, &mut on_batch).map(|(summary, _)| summary)
}

/// Streams every verified entry of the log, in timestamp order (see
/// [`read_batches`] for what stops it).
pub fn read_log<E: From<PersistError>>(
    storage: &dyn Storage,
    mut on_entry: impl FnMut(LogEntry) -> Result<(), E>,
) -> Result<LogSummary, E> {
    read_batches(storage, |batch| {
        batch
            .entries
            .into_iter()
            .try_for_each(|e| on_entry(e.into_owned()))
    })
}

/// Verifies the whole log (see [`read_batches`]).
pub fn scan(storage: &dyn Storage) -> Result<LogSummary, PersistError> {
    read_batches(storage, |_| Ok::<(), PersistError>(()))
}

/// Reports every problem in the log, with its location, without changing
/// anything. An empty list means the log is sound.
pub fn check(storage: &dyn Storage) -> Vec<Problem> {
    check_from(storage, None)
}

/// As [`check`], for a log whose start is covered by a snapshot (see
/// [`LogStart`]).
pub fn check_from(storage: &dyn Storage, start: Option<LogStart>) -> Vec<Problem> {
    match run_scan(storage, Mode::Check, start, &mut |_| {
        Ok::<(), PersistError>(())
    }) {
        Ok((_, problems)) => problems,
        Err(e) => vec![Issue::Error(e).into()],
    }
}

// ---------------------------------------------------------------------------
// Partial reads: stopping at a timestamp, skipping a damaged region
// (`docs/LOG_FORMAT.md` §6, "Reading part of a log"). Read-only: they never
// change the storage, not even to cut a torn tail.
// ---------------------------------------------------------------------------

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

impl std::str::FromStr for LogPosition {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || {
            format!(
                "`{s}` is not a log position: use SEGMENT:OFFSET, e.g. \
                 00000000000000000001.log:1234 or 1:1234"
            )
        };
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

/// What part of the log [`read_batches_with`] reads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReadOptions {
    /// Pass on only entries with a timestamp up to this one, and stop
    /// reading there: damage after it is never looked at.
    pub stop_at: Option<u64>,
    /// Recovery: read the valid prefix of the log up to its first problem
    /// (corruption or a torn record), then resume at this later position,
    /// where a complete batch (or, at offset 0, a segment) must start. The
    /// chain break there is accepted; the log is verified again from there
    /// on.
    pub resume_at: Option<LogPosition>,
}

/// What a [`read_batches_with`] skipped.
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

/// What [`read_batches_with`] read.
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

/// Streams the verified batches of part of the log (see [`ReadOptions`]),
/// without changing anything. Each batch's `entries` hold only entries up
/// to [`ReadOptions::stop_at`].
///
/// Errors as [`read_batches`]; with `resume_at`, also
/// [`PersistError::InvalidPosition`] when reading cannot resume there, or
/// when the log has no damage before it (nothing to skip). Batches before
/// an error have already been passed on.
pub fn read_batches_with<E: From<PersistError>>(
    storage: &dyn Storage,
    opts: &ReadOptions,
    mut on_batch: impl FnMut(Batch<'_>) -> Result<(), E>,
) -> Result<ReadReport, E> {
    let mut last_ts = 0u64;
    let mut held_back = false;
    let stop_at = opts.stop_at;
    let mut pass = |mut batch: Batch<'_>| -> Result<(), E> {
        if let Some(limit) = stop_at {
            let n = batch.entries.len();
            batch.entries.retain(|e| e.ts() <= limit);
            held_back |= batch.entries.len() < n;
        }
        if let Some(e) = batch.entries.last() {
            last_ts = e.ts();
        }
        on_batch(batch)
    };
    let mut s = Scanner::new(Mode::Strict, &mut pass);
    s.stop_after_ts = stop_at;
    let segs = list_segments(storage)?;
    let Some(pos) = &opts.resume_at else {
        s.run_segments(storage, &segs, 0)?;
        if let Some(e) = s.fatal.take() {
            return Err(E::from(e));
        }
        let reached_stop_at = s.reached == Some(Limit::StopAt);
        let summary = std::mem::replace(&mut s.summary, LogSummary::empty());
        drop(s);
        return Ok(ReadReport {
            summary,
            last_ts,
            stopped_at_limit: reached_stop_at || held_back,
            skipped: None,
        });
    };

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
    s.run_segments(storage, &segs, 0)?;
    s.bound = None;
    let damage = match (s.fatal.take(), s.summary.torn_tail.take()) {
        (Some(e @ PersistError::Io { .. }), _) => return Err(E::from(e)),
        (Some(e), _) => Problem::from(Issue::Error(e)),
        (None, Some(t)) => Problem::from(Issue::Torn(t)),
        (None, None) => {
            let reached_stop_at = s.reached == Some(Limit::StopAt);
            if reached_stop_at {
                // The stop timestamp came first: there was nothing to skip yet.
                let summary = std::mem::replace(&mut s.summary, LogSummary::empty());
                drop(s);
                return Ok(ReadReport {
                    summary,
                    last_ts,
                    stopped_at_limit: true,
                    skipped: None,
                });
            }
            return Err(E::from(invalid(
                "the log has no damage before this position, so there is nothing to skip \
                 (`interstice check-log` shows where the damage is)"
                    .into(),
            )));
        }
    };
    let last_ts_before = s.summary.next_ts - 1;
    // Phase 2: resume at the position, verifying from there on.
    s.resume(storage, &segs, idx, offset, s.summary.next_ts, &invalid)?;
    if let Some(e) = s.fatal.take() {
        return Err(E::from(e));
    }
    let reached_stop_at = s.reached == Some(Limit::StopAt);
    let first_ts_after = s.first_resumed_ts;
    let summary = std::mem::replace(&mut s.summary, LogSummary::empty());
    drop(s);
    Ok(ReadReport {
        summary,
        last_ts,
        stopped_at_limit: reached_stop_at || held_back,
        skipped: Some(SkippedRegion {
            damage,
            last_ts_before,
            resumed_at: pos.clone(),
            first_ts_after,
        }),
    })
}

/// [`read_batches_with`], entry by entry.
pub fn read_log_with<E: From<PersistError>>(
    storage: &dyn Storage,
    opts: &ReadOptions,
    mut on_entry: impl FnMut(LogEntry) -> Result<(), E>,
) -> Result<ReadReport, E> {
    read_log_refs_with(storage, opts, |e| on_entry(e.into_owned()))
}

/// [`read_log_with`], with each entry borrowed from its batch's payload.
pub fn read_log_refs_with<E: From<PersistError>>(
    storage: &dyn Storage,
    opts: &ReadOptions,
    mut on_entry: impl FnMut(LogEntryRef<'_>) -> Result<(), E>,
) -> Result<ReadReport, E> {
    read_batches_with(storage, opts, |batch| {
        batch.entries.into_iter().try_for_each(&mut on_entry)
    })
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

#[cfg(test)]
#[path = "reader_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "reader_partial_tests.rs"]
mod partial_tests;

#[cfg(test)]
#[path = "reader_start_tests.rs"]
mod start_tests;
