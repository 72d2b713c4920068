//! [`PersistError`], the one error type of this crate.

use std::io;
use std::path::PathBuf;

use interstice_abi::AbiError;

/// Everything that can go wrong in the log, the storage backends and the data
/// directory. Messages name the file, the byte offset and the timestamp
/// wherever they are known.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PersistError {
    /// An operating-system I/O call failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done, naming the file ("appending to segment 00…1.log").
        context: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },

    /// The log is damaged somewhere a crash cannot explain (not a torn tail):
    /// opening refuses, and `interstice check-log` reports the details.
    #[error("log segment {segment} is corrupt at byte {offset}{}: {reason}", describe_ts(*.ts))]
    Corrupt {
        /// Segment file name.
        segment: String,
        /// Byte offset of the damaged record (or header) in that segment.
        offset: u64,
        /// Timestamp of the damaged record, when it can be told.
        ts: Option<u64>,
        /// What is wrong.
        reason: String,
    },

    /// A segment was written by a format version this build cannot read.
    #[error(
        "log segment {segment} has format version {version}; this build reads version {}",
        crate::segment::FORMAT_VERSION
    )]
    UnsupportedVersion {
        /// Segment file name.
        segment: String,
        /// The version its header declares.
        version: u32,
    },

    /// A log entry's CBOR is malformed (offset relative to the entry bytes given).
    #[error("malformed log entry at byte {offset}: {reason}")]
    Decode {
        /// Byte offset of the offending item in the decoded buffer.
        offset: u64,
        /// What was wrong.
        reason: String,
    },

    /// An earlier write or fsync failed, so the writer refuses all further work:
    /// what is on disk is unknown until the log is reopened (which cuts a torn tail).
    #[error("log writer is poisoned by an earlier failure ({cause}); reopen the log to recover")]
    Poisoned {
        /// The failure that poisoned the writer.
        cause: String,
    },

    /// `append_batch` was given a batch that does not start at the next timestamp.
    #[error(
        "batch out of order: the log expects timestamp {expected} next, the batch starts at {got}"
    )]
    OutOfOrder {
        /// The timestamp the log expects next.
        expected: u64,
        /// The batch's first timestamp.
        got: u64,
    },

    /// `append_batch` was given a batch that cannot be written (nothing was written).
    #[error("invalid batch starting at timestamp {first_ts}: {reason}")]
    InvalidBatch {
        /// The batch's first timestamp.
        first_ts: u64,
        /// What is wrong with it.
        reason: String,
    },

    /// A read cannot resume at the given log position
    /// ([`crate::ReadOptions::resume_at`]).
    #[error("cannot resume reading the log at {position}: {reason}")]
    InvalidPosition {
        /// The position, `SEGMENT:OFFSET`.
        position: String,
        /// Why not.
        reason: String,
    },

    /// `repair` refused to change the log (nothing was changed).
    #[error("cannot repair the log: {0}")]
    Unrepairable(String),

    /// The data directory is in use by another process (or another handle).
    #[error("data directory {} is locked by another process ({holder})", path.display())]
    Locked {
        /// The data directory.
        path: PathBuf,
        /// The holder, as recorded in its `LOCK` file.
        holder: String,
    },

    /// The path is not a usable Interstice data directory.
    #[error("{} is not a usable Interstice data directory: {reason}", path.display())]
    NotADataDir {
        /// The path given.
        path: PathBuf,
        /// Why not.
        reason: String,
    },

    /// A symbolic link inside the data directory. The runtime never follows
    /// one (a planted link could make it overwrite the file it points to),
    /// and refuses to open a directory that holds one.
    #[error(
        "{} is a symbolic link: the runtime refuses symlinks inside a data directory \
         (only the data directory's own path may be one); replace it with the file or \
         directory itself",
        path.display()
    )]
    Symlink {
        /// The symlink.
        path: PathBuf,
    },

    /// No stored module has this hash.
    #[error("module {hash} is not stored (no file {})", path.display())]
    ModuleNotFound {
        /// The module's blake3 hash, in hex.
        hash: String,
        /// Where it was looked for.
        path: PathBuf,
    },

    /// A stored module's bytes do not hash to its name.
    #[error("stored module {} is damaged: its contents hash to {actual}", path.display())]
    ModuleCorrupt {
        /// The module file.
        path: PathBuf,
        /// The blake3 hash of what was read, in hex.
        actual: String,
    },

    /// The log does not continue a snapshot's state (it ends before the
    /// snapshot's timestamp, starts after it, or its hash there differs).
    #[error("the log does not continue the snapshot at timestamp {ts}: {reason}")]
    LogStartMismatch {
        /// The snapshot's timestamp.
        ts: u64,
        /// What does not match.
        reason: String,
    },

    /// A snapshot file does not verify (bad magic, version, checksum, or
    /// body) or does not fit the log it is meant to shorten; startup skips it.
    #[error("snapshot {file} is unusable: {reason}")]
    SnapshotInvalid {
        /// Snapshot file name.
        file: String,
        /// What is wrong.
        reason: String,
    },
}

fn describe_ts(ts: Option<u64>) -> String {
    match ts {
        Some(ts) => format!(" (timestamp {ts})"),
        None => String::new(),
    }
}

impl PersistError {
    /// Wraps an I/O error with what was being done.
    pub(crate) fn io(context: impl Into<String>, source: io::Error) -> Self {
        PersistError::Io {
            context: context.into(),
            source,
        }
    }
}

impl From<AbiError> for PersistError {
    fn from(e: AbiError) -> Self {
        match e {
            AbiError::Cbor { offset, reason } => PersistError::Decode {
                offset: offset as u64,
                reason,
            },
            other => PersistError::Decode {
                offset: 0,
                reason: other.to_string(),
            },
        }
    }
}

/// `Result` with [`PersistError`].
pub type Result<T, E = PersistError> = std::result::Result<T, E>;
