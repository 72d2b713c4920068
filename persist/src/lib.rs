//! Interstice persistence: the hash-chained commit log, its storage
//! backends, and the data directory (the on-disk format is
//! specified to the byte in `docs/LOG_FORMAT.md`).
//!
//! - [`record`]: [`LogEntry`] and friends, and their canonical CBOR
//!   ([`encode_entry`], [`decode_entry`]).
//! - [`record_ref`]: borrowed views of entries ([`LogEntryRef`],
//!   [`decode_entry_ref`]), what replay applies without copying.
//! - [`segment`]: segment and batch headers, file names, the hash chain.
//! - [`storage`]: the [`Storage`] trait of the log directory, on real files
//!   ([`FileStorage`]) or, with the `testing` feature, in memory with
//!   injected faults and simulated crashes (`FaultyStorage`).
//! - [`LogWriter`]: appends batches, rotates segments, syncs; poisoned by
//!   the first I/O failure. [`LogWriter::open`] verifies the log, cuts a torn
//!   tail and returns what it [`Recovered`] ([`LogWriter::open_replaying`]
//!   also replays it).
//! - [`reader`]: streaming verification: [`read_log`] with its
//!   [`ReadOptions`] (start, stop-at, resume position) and a borrowing
//!   visitor, [`for_each_entry`] for owned entries; [`check`], which lists
//!   every problem for `check-log`.
//! - [`repair`](mod@repair): `check-log --repair`: keeps the valid prefix and moves
//!   the rest of the log into `.broken` files, never deleting a byte.
//! - [`snapshot`]: snapshot files (`docs/SNAPSHOT_FORMAT.md`): the
//!   replayed state at a timestamp, and retention decisions.
//! - [`DataDir`]: the locked data directory with `log/`, `modules/` and
//!   the `SECRET`; it refuses symlinks inside it and removes leftover
//!   temporaries. [`safe_fs`]: opening files there without following
//!   symlinks, atomic writes.
//!
//! Everything read from disk is treated as untrusted input: decoding never
//! panics, and damage is reported with the segment, byte offset and
//! timestamp.
//!
//! Features: `testing` makes the fault-injecting storage (`FaultyStorage`,
//! `FaultPlan`, `CrashMode`, …) public, for other crates' tests; production
//! builds leave it out. The unit tests are in `src/tests/`.

mod batch_parse;
pub mod datadir;
pub mod error;
pub mod reader;
pub mod record;
pub mod record_ref;
pub mod repair;
pub mod safe_fs;
pub mod segment;
pub mod snapshot;
pub mod storage;
pub mod writer;

#[cfg(test)]
mod tests;

pub use datadir::DataDir;
pub use error::PersistError;
pub use reader::{
    check, for_each_entry, read_log, scan, valid_prefix, Batch, LogPosition, LogStart, LogSummary,
    ParseLogPositionError, Problem, ProblemKind, ReadOptions, ReadReport, SegmentInfo,
    SkippedRegion, TornTail, ValidPrefix,
};
pub use record::{
    decode_engine, decode_entry, encode_batch_payload, encode_engine, encode_entry,
    wall_clock_micros, Cause, CommitParts, CommitRecord, EngineChange, EngineInfo, EngineRecord,
    ErrorKind, Hash, LogEntry, ModuleInstall, Mutation, MutationOp, Nondet, OutboundCall, Outcome,
    UnloadRecord, UnloadTables, UnnumberedEntry,
};
pub use record_ref::{
    decode_entry_ref, CommitRef, LogEntryRef, MutationOpRef, MutationRef, OutcomeRef,
};
pub use repair::{repair, MovedBytes, RepairReport, BROKEN_SUFFIX};
pub use snapshot::{
    decode_snapshot, encode_snapshot, list_snapshots, plan_retention, read_snapshot,
    remove_snapshot, write_snapshot, FanOutTree, PendingDelivery, RetentionPlan, Snapshot,
    SnapshotModule, SnapshotTable, SNAPSHOTS_DIR,
};
#[cfg(any(test, feature = "testing"))]
pub use storage::{
    CrashMode, Fault, FaultPlan, FaultRule, FaultWhen, FaultyStorage, InjectedFault, Op,
};
pub use storage::{FileStorage, SegmentFile, Storage};
pub use writer::{LogWriter, Recovered, WriterOptions, DEFAULT_SEGMENT_SIZE};
