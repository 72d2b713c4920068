//! The verifying scanner every read shares: segment order, headers, the hash
//! chain, gapless timestamps, entry decoding and the torn-tail rule
//! (`docs/LOG_FORMAT.md` §6). In strict mode it stops at the first problem
//! (a torn tail is not an error); in check mode it reports every problem
//! and carries on. It hands each verified [`Batch`] to a visitor and
//! holds one segment in memory at a time.

use super::{list_segments, Batch, LogStart, LogSummary, Problem, SegmentInfo, TornTail};
use crate::batch_parse::{
    decode_payload, find_following_batch, parse_record, torn_write_explains, RawBatch,
};
use crate::error::PersistError;
use crate::record::Hash;
use crate::segment::{HeaderError, SegmentHeader, GENESIS_HASH, SEGMENT_HEADER_LEN};
use crate::storage::Storage;

/// What the scanner found wrong: a torn tail, or an error.
pub(super) enum Issue {
    Torn(TornTail),
    Error(PersistError),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Mode {
    /// Stop at the first problem; a torn tail is not an error.
    Strict,
    /// Report every problem and carry on.
    Check,
}

#[must_use]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Flow {
    Continue,
    Stop,
}

/// One pass over the log (see the module docs).
pub(super) struct Scanner<'f, E> {
    mode: Mode,
    on_batch: &'f mut dyn FnMut(Batch<'_>) -> Result<(), E>,
    /// Expected first timestamp of the next batch (`None`: unknown, after
    /// damage in check mode).
    pub(super) next_ts: Option<u64>,
    /// Hash the next batch chains from (`None`: unknown).
    pub(super) prev_hash: Option<Hash>,
    /// Where the chain position was established, for messages.
    pub(super) prev_segment: Option<String>,
    pub(super) problems: Vec<Problem>,
    pub(super) fatal: Option<PersistError>,
    pub(super) summary: LogSummary,
    /// Stop quietly before the first batch that starts after this timestamp.
    pub(super) stop_after_ts: Option<u64>,
    /// Stop quietly on reaching this position: (segment `first_ts`, byte offset).
    pub(super) bound: Option<(u64, usize)>,
    /// Which limit stopped the scan, if one did.
    pub(super) reached: Option<Limit>,
    /// The segment being read (for locating where a strict scan stopped).
    pub(super) current: Option<String>,
    /// Set when a skipping read resumes; the first batch after it is recorded.
    pub(super) resuming: bool,
    pub(super) first_resumed_ts: Option<u64>,
    /// Where a snapshot leaves off: entries up to its timestamp are verified
    /// but not passed on, and the log may start later than timestamp 1.
    pub(super) start: Option<LogStart>,
    /// Index (in the segment list) of the first segment read.
    first_index: usize,
    /// Set once the chain position at `start` has been checked.
    start_reached: bool,
}

/// A limit that ends a strict scan early, without error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Limit {
    StopAt,
    Bound,
}

pub(super) fn corrupt(
    segment: &str,
    offset: u64,
    ts: Option<u64>,
    reason: impl Into<String>,
) -> Issue {
    Issue::Error(PersistError::Corrupt {
        segment: segment.to_owned(),
        offset,
        ts,
        reason: reason.into(),
    })
}

impl<'f, E: From<PersistError>> Scanner<'f, E> {
    pub(super) fn new(mode: Mode, on_batch: &'f mut dyn FnMut(Batch<'_>) -> Result<(), E>) -> Self {
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
    pub(super) fn finish_start(&mut self) {
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

    /// Reads the log, reporting a directory that cannot be listed as a
    /// problem.
    pub(super) fn run(&mut self, storage: &dyn Storage) -> Result<(), E> {
        let segs = match list_segments(storage) {
            Ok(s) => s,
            Err(e) => {
                let _ = self.report(Issue::Error(e));
                return Ok(());
            }
        };
        self.run_listed(storage, &segs)
    }

    /// Reads the listed segments, from the one [`Scanner::start`] needs.
    pub(super) fn run_listed(
        &mut self,
        storage: &dyn Storage,
        segs: &[(u64, String)],
    ) -> Result<(), E> {
        let from = match self.start {
            Some(st) => segs
                .iter()
                .rposition(|(t, _)| *t <= st.ts.saturating_add(1))
                .unwrap_or(0),
            None => 0,
        };
        self.first_index = from;
        self.run_segments(storage, segs, from)
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

    pub(super) fn run_segments(
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
    pub(super) fn records(
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
