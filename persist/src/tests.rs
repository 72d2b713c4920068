//! The crate's unit tests, one file per module under test (and `bitflip`,
//! the every-bit property of the whole log), with the helpers they share
//! in `support`. They run on the in-memory `FaultyStorage` unless they say
//! otherwise.

mod bitflip;
mod datadir;
mod reader;
mod reader_partial;
mod reader_start;
mod record;
mod record_ref;
mod repair;
mod safe_fs;
mod segment;
mod snapshot;
mod storage_faulty;
mod storage_file;
pub(crate) mod support;
mod writer;
