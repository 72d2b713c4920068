//! [`LogWriter`]: appends hash-chained batches to the current segment,
//! rotates segments, syncs, and poisons itself on the first I/O failure.
//!
//! It is synchronous and single-owner; the runtime wraps it in an actor.
//! Durability protocol (what the reader's torn-tail rule relies on):
//! 1. a new segment is created (the directory is synced), its header written
//!    and synced before any batch goes into it;
//! 2. the previous segment is synced before the new one is created, so only
//!    the last segment can ever hold unsynced bytes;
//! 3. on open, a torn tail is cut and the last segment synced, so everything
//!    recovered is durable.

use std::io;
use std::sync::Arc;

use tracing::{debug, error, info, warn};

use crate::batch_parse::decode_payload;
use crate::error::PersistError;
use crate::reader::{read_log, Batch, LogStart, ReadOptions, SegmentInfo, TornTail};
use crate::record::{Hash, LogEntry};
use crate::segment::{
    batch_hash, segment_name, BatchHeader, SegmentHeader, BATCH_HEADER_LEN, SEGMENT_HEADER_LEN,
};
use crate::storage::{SegmentFile, Storage};

/// Default segment size: 64 MiB.
pub const DEFAULT_SEGMENT_SIZE: u64 = 64 * 1024 * 1024;

/// How the writer lays out the log.
#[derive(Debug, Clone, PartialEq, Eq, derive_setters::Setters)]
#[setters(prefix = "with_")]
#[non_exhaustive]
pub struct WriterOptions {
    /// A batch that would take a non-empty segment past this size goes to a
    /// new segment. A single larger batch still fits in a segment of its own.
    pub segment_size: u64,
    /// Decode every payload before writing it and refuse one whose entries
    /// are malformed or misnumbered ([`PersistError::InvalidBatch`]). On by
    /// default in debug builds.
    pub verify_batches: bool,
}

impl Default for WriterOptions {
    fn default() -> Self {
        Self {
            segment_size: DEFAULT_SEGMENT_SIZE,
            verify_batches: cfg!(debug_assertions),
        }
    }
}

/// What [`LogWriter::open`] or [`LogWriter::open_replaying`] found and
/// repaired.
#[derive(Debug)]
pub struct Recovered {
    /// The timestamp of the next commit (1 for an empty log).
    pub next_ts: u64,
    /// The hash of the last batch (all zeros for an empty log).
    pub last_hash: Hash,
    /// The torn tail that was cut, if any.
    pub torn_tail: Option<TornTail>,
    /// The log's segments after the cut, in timestamp order.
    pub segments: Vec<SegmentInfo>,
    /// Number of batches in the log.
    pub batches: u64,
    /// Number of entries in the log.
    pub entries: u64,
    storage: Arc<dyn Storage>,
}

impl Recovered {
    /// Streams the recovered entries (timestamps `1..next_ts`) to `on_entry`
    /// without holding the log in memory, verifying it again on the way.
    /// Call it before appending: entries appended since the open are skipped.
    /// Returns the number of entries passed on.
    pub fn replay<E: From<PersistError>>(
        &self,
        mut on_entry: impl FnMut(LogEntry) -> Result<(), E>,
    ) -> Result<u64, E> {
        let limit = self.next_ts;
        let mut n = 0u64;
        read_log(
            &*self.storage,
            &ReadOptions::default(),
            |batch| -> Result<(), E> {
                for e in batch.entries {
                    if e.ts() < limit {
                        n += 1;
                        on_entry(e.into_owned())?;
                    }
                }
                Ok(())
            },
        )?;
        Ok(n)
    }
}

/// The segment being appended to.
#[derive(Debug)]
struct Current {
    name: String,
    file: Box<dyn SegmentFile>,
}

/// Appends batches to the log. See the module docs for the protocol.
#[derive(Debug)]
pub struct LogWriter {
    storage: Arc<dyn Storage>,
    opts: WriterOptions,
    current: Option<Current>,
    next_ts: u64,
    last_hash: Hash,
    /// Highest timestamp known durable (0: none).
    durable_ts: u64,
    poisoned: Option<String>,
}

impl LogWriter {
    /// Opens the log in `storage`: verifies it, cuts a torn tail (with a
    /// warning), and positions for appending. Fails with
    /// [`PersistError::Corrupt`] / [`PersistError::UnsupportedVersion`] if
    /// the log is damaged beyond a torn tail.
    pub fn open(
        storage: Arc<dyn Storage>,
        opts: WriterOptions,
    ) -> Result<(LogWriter, Recovered), PersistError> {
        Self::open_replaying(storage, opts, None, |_| Ok::<(), PersistError>(()))
    }

    /// As [`LogWriter::open`], passing every recovered batch to `visit`
    /// during the single verifying pass (one segment in memory at a time;
    /// [`crate::for_each_entry`] adapts a callback taking owned entries).
    /// Batches are passed on only once verified; if the log turns out to be
    /// corrupt further on, the error comes after the batches before the
    /// damage.
    ///
    /// With a `start`, a snapshot covers the log's beginning: entries up to
    /// `start.ts` are verified but not passed on, and earlier segments may
    /// have been deleted by retention (see [`LogStart`]). If the log does
    /// not continue the snapshot, fails with
    /// [`PersistError::LogStartMismatch`] before passing on any batch and
    /// without changing the log.
    pub fn open_replaying<E: From<PersistError>>(
        storage: Arc<dyn Storage>,
        opts: WriterOptions,
        start: Option<LogStart>,
        visit: impl FnMut(Batch<'_>) -> Result<(), E>,
    ) -> Result<(LogWriter, Recovered), E> {
        let read = ReadOptions {
            start,
            ..ReadOptions::default()
        };
        let mut summary = read_log(&*storage, &read, visit)?.summary;
        if let Some(torn) = &summary.torn_tail {
            cut_torn_tail(&*storage, torn)?;
        }
        let mut current = None;
        if let Some(last) = summary.segments.last() {
            let file = open_last_segment(&*storage, last)?;
            current = Some(Current {
                name: last.name.clone(),
                file,
            });
        }
        // Past a whole-segment cut the directory changed; make sure it is durable.
        storage
            .sync_dir()
            .map_err(|e| PersistError::io("syncing the log directory", e))?;
        info!(
            next_ts = summary.next_ts,
            segments = summary.segments.len(),
            batches = summary.batches,
            "opened log"
        );
        let writer = LogWriter {
            storage: Arc::clone(&storage),
            opts,
            current,
            next_ts: summary.next_ts,
            last_hash: summary.last_hash,
            durable_ts: summary.next_ts - 1,
            poisoned: None,
        };
        let recovered = Recovered {
            next_ts: summary.next_ts,
            last_hash: summary.last_hash,
            torn_tail: summary.torn_tail.take(),
            segments: summary.segments,
            batches: summary.batches,
            entries: summary.entries,
            storage,
        };
        Ok((writer, recovered))
    }

    /// Appends one batch of `count` entries with timestamps
    /// `first_ts..first_ts + count` (their CBOR concatenated in `payload`),
    /// without syncing. Returns the batch hash.
    ///
    /// Refuses, without writing, a batch that does not start at
    /// [`LogWriter::next_ts`] or is empty or too large. Any I/O failure
    /// poisons the writer.
    pub fn append_batch(
        &mut self,
        first_ts: u64,
        count: u32,
        payload: &[u8],
    ) -> Result<Hash, PersistError> {
        self.check_poisoned()?;
        if first_ts != self.next_ts {
            return Err(PersistError::OutOfOrder {
                expected: self.next_ts,
                got: first_ts,
            });
        }
        let invalid = |reason: String| PersistError::InvalidBatch { first_ts, reason };
        if count == 0 {
            return Err(invalid("a batch must hold at least one entry".into()));
        }
        let payload_len = u32::try_from(payload.len()).map_err(|_| {
            invalid(format!(
                "payload of {} bytes exceeds the 4 GiB batch limit",
                payload.len()
            ))
        })?;
        let next_ts = first_ts
            .checked_add(u64::from(count))
            .ok_or_else(|| invalid("timestamps overflow u64".into()))?;
        if self.opts.verify_batches {
            decode_payload(payload, first_ts, count)
                .map_err(|(ts, reason)| invalid(format!("entry at timestamp {ts}: {reason}")))?;
        }

        let record_len = BATCH_HEADER_LEN as u64 + u64::from(payload_len);
        let rotate = match &self.current {
            None => true,
            Some(c) => {
                let len = c.file.len();
                len > SEGMENT_HEADER_LEN as u64
                    && len.saturating_add(record_len) > self.opts.segment_size
            }
        };
        if rotate {
            self.start_segment(first_ts)?;
        }

        let hash = batch_hash(&self.last_hash, first_ts, count, payload);
        let header = BatchHeader {
            payload_len,
            first_ts,
            count,
            hash,
        };
        let mut record = Vec::with_capacity(record_len as usize);
        record.extend_from_slice(&header.encode());
        record.extend_from_slice(payload);
        let Some(cur) = self.current.as_mut() else {
            return Err(self.poison_with("no current segment after rotation".into()));
        };
        let offset = cur.file.len();
        if let Err(e) = cur.file.append(&record) {
            let context = format!(
                "appending the batch at timestamp {first_ts} to log segment {} at byte {offset}",
                cur.name
            );
            return Err(self.poison(context, e));
        }
        self.next_ts = next_ts;
        self.last_hash = hash;
        Ok(hash)
    }

    /// Makes every appended batch durable (fsync of the current segment).
    /// Any failure poisons the writer: a failed fsync is never followed by
    /// a success.
    pub fn sync(&mut self) -> Result<(), PersistError> {
        self.check_poisoned()?;
        if self.durable_ts + 1 == self.next_ts {
            return Ok(());
        }
        let Some(cur) = self.current.as_mut() else {
            return Err(self.poison_with("batches appended but no current segment".into()));
        };
        if let Err(e) = cur.file.sync() {
            let context = format!("syncing log segment {}", cur.name);
            return Err(self.poison(context, e));
        }
        self.durable_ts = self.next_ts - 1;
        Ok(())
    }

    /// The timestamp the next batch must start at.
    pub fn next_ts(&self) -> u64 {
        self.next_ts
    }

    /// The hash of the last appended batch.
    pub fn last_hash(&self) -> Hash {
        self.last_hash
    }

    /// The highest timestamp known to be on disk (0 if none): everything up
    /// to it survives a crash.
    pub fn durable_ts(&self) -> u64 {
        self.durable_ts
    }

    /// True if appended batches await a [`LogWriter::sync`].
    pub fn has_unsynced(&self) -> bool {
        self.durable_ts + 1 != self.next_ts
    }

    /// The file name of the segment being appended to.
    pub fn current_segment(&self) -> Option<&str> {
        self.current.as_ref().map(|c| c.name.as_str())
    }

    /// Why the writer is poisoned, if it is.
    pub fn poisoned(&self) -> Option<&str> {
        self.poisoned.as_deref()
    }

    fn check_poisoned(&self) -> Result<(), PersistError> {
        match &self.poisoned {
            Some(cause) => Err(PersistError::Poisoned {
                cause: cause.clone(),
            }),
            None => Ok(()),
        }
    }

    fn poison(&mut self, context: String, e: io::Error) -> PersistError {
        let err = PersistError::io(context, e);
        let cause = err.to_string();
        error!(%cause, "log writer poisoned");
        self.poisoned = Some(cause);
        err
    }

    fn poison_with(&mut self, cause: String) -> PersistError {
        error!(%cause, "log writer poisoned");
        self.poisoned = Some(cause.clone());
        PersistError::Poisoned { cause }
    }

    /// Syncs and closes the current segment, then creates the next one with
    /// a synced header.
    fn start_segment(&mut self, first_ts: u64) -> Result<(), PersistError> {
        if self.current.is_some() {
            self.sync()?;
        }
        let previous = self.current.take().map(|c| c.name);
        let name = segment_name(first_ts);
        let mut file = match self.storage.create(&name) {
            Ok(f) => f,
            Err(e) => return Err(self.poison(format!("creating log segment {name}"), e)),
        };
        let header = SegmentHeader::new(first_ts, self.last_hash).encode();
        if let Err(e) = file.append(&header) {
            return Err(self.poison(format!("writing the header of log segment {name}"), e));
        }
        if let Err(e) = file.sync() {
            return Err(self.poison(format!("syncing the header of log segment {name}"), e));
        }
        debug!(segment = %name, ?previous, "started log segment");
        self.current = Some(Current { name, file });
        Ok(())
    }
}

fn cut_torn_tail(storage: &dyn Storage, torn: &TornTail) -> Result<(), PersistError> {
    warn!(
        segment = %torn.segment,
        offset = torn.offset,
        bytes = torn.bytes,
        reason = %torn.reason,
        "cutting a torn tail of {} bytes from log segment {} at byte {} (an interrupted write): {}",
        torn.bytes,
        torn.segment,
        torn.offset,
        torn.reason
    );
    if torn.offset == 0 {
        storage.remove(&torn.segment).map_err(|e| {
            PersistError::io(format!("removing torn log segment {}", torn.segment), e)
        })?;
        storage
            .sync_dir()
            .map_err(|e| PersistError::io("syncing the log directory", e))
    } else {
        storage.truncate(&torn.segment, torn.offset).map_err(|e| {
            PersistError::io(
                format!(
                    "cutting log segment {} to {} bytes",
                    torn.segment, torn.offset
                ),
                e,
            )
        })
    }
}

fn open_last_segment(
    storage: &dyn Storage,
    last: &SegmentInfo,
) -> Result<Box<dyn SegmentFile>, PersistError> {
    let mut file = storage
        .open_append(&last.name)
        .map_err(|e| PersistError::io(format!("opening log segment {}", last.name), e))?;
    if file.len() != last.valid_len {
        return Err(PersistError::Corrupt {
            segment: last.name.clone(),
            offset: last.valid_len,
            ts: None,
            reason: format!(
                "the segment is {} bytes long after recovery, expected {} \
                 (is another process writing the log?)",
                file.len(),
                last.valid_len
            ),
        });
    }
    // What was read may only be in the page cache (a process crash): make
    // it durable before building on it.
    file.sync()
        .map_err(|e| PersistError::io(format!("syncing log segment {}", last.name), e))?;
    Ok(file)
}
