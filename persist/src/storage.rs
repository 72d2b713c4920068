//! [`Storage`]: the log directory as the writer and reader see it, so the
//! same code runs on real files ([`FileStorage`], `storage/file.rs`) and on
//! the in-memory, fault-injecting `FaultyStorage` (`storage/faulty.rs`, with
//! its fault plans; only with the `testing` feature, for tests).
//!
//! Durability contract (what the writer relies on, and what `FaultyStorage`
//! models on a crash):
//! - bytes appended to a [`SegmentFile`] are durable once its `sync` returns
//!   `Ok`;
//! - a file made by [`Storage::create`] survives a crash once `create`
//!   returns `Ok` (it syncs the directory); its contents follow the rule above;
//! - [`Storage::truncate`] is durable when it returns `Ok`;
//! - [`Storage::remove`] and [`Storage::rename`] are durable after the next
//!   successful [`Storage::sync_dir`].
//!
//! After a power loss a file holds its synced bytes and any prefix of the
//! unsynced ones, the end of which may read back as zeros (the file grew,
//! its data never landed) from a [`TORN_WRITE_SECTOR`] boundary or from
//! where its synced bytes end: a disk writes whole sectors, and a sector it
//! did not write holds what it held before the append, zeros past the old
//! end of the file. The torn-tail rule (`docs/LOG_FORMAT.md` §6) relies on
//! this.

#[cfg(any(test, feature = "testing"))]
mod faulty;
mod file;

use std::io;

#[cfg(any(test, feature = "testing"))]
pub use faulty::{
    CrashMode, Fault, FaultPlan, FaultRule, FaultWhen, FaultyStorage, InjectedFault, Op,
};
pub use file::FileStorage;

/// The unit a disk writes atomically, in bytes: a torn write's zero fill
/// starts at a multiple of it (or where the synced bytes end).
pub const TORN_WRITE_SECTOR: u64 = 512;

/// A directory of segment files. Object-safe: the log holds an
/// `Arc<dyn Storage>`.
pub trait Storage: Send + Sync + std::fmt::Debug {
    /// Names of the files in the directory, in no particular order.
    fn list(&self) -> io::Result<Vec<String>>;

    /// The whole contents of a file.
    fn read(&self, name: &str) -> io::Result<Vec<u8>>;

    /// Creates a new empty file and makes its directory entry durable.
    /// Fails with [`io::ErrorKind::AlreadyExists`] if the file exists.
    fn create(&self, name: &str) -> io::Result<Box<dyn SegmentFile>>;

    /// Opens an existing file for appending at its end.
    fn open_append(&self, name: &str) -> io::Result<Box<dyn SegmentFile>>;

    /// Cuts (or zero-extends) a file to `len` bytes and syncs it.
    fn truncate(&self, name: &str, len: u64) -> io::Result<()>;

    /// Removes a file (durable after [`Storage::sync_dir`]).
    fn remove(&self, name: &str) -> io::Result<()>;

    /// Renames a file, replacing `to` if it exists (durable after
    /// [`Storage::sync_dir`]).
    fn rename(&self, from: &str, to: &str) -> io::Result<()>;

    /// Makes the directory's entries (creations, removals, renames) durable.
    fn sync_dir(&self) -> io::Result<()>;
}

/// An open file that is only ever appended to.
pub trait SegmentFile: Send + std::fmt::Debug {
    /// Appends all of `buf`. On error, any prefix of `buf` may have been written.
    fn append(&mut self, buf: &[u8]) -> io::Result<()>;

    /// Makes everything appended so far durable (fsync).
    fn sync(&mut self) -> io::Result<()>;

    /// The file's length as this handle knows it (bytes before it was
    /// opened plus bytes appended through it).
    fn len(&self) -> u64;

    /// True if [`SegmentFile::len`] is zero.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Refuses file names that could escape the directory.
pub(crate) fn check_name(name: &str) -> io::Result<()> {
    let ok = !name.is_empty() && name != "." && name != ".." && !name.contains(['/', '\\', '\0']);
    if ok {
        Ok(())
    } else {
        Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("invalid file name {name:?}"),
        ))
    }
}
