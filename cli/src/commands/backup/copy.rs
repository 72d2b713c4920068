//! The copy of a backup: which files of the data directory, and how much
//! of each, go into the temporary directory.
//!
//! Every source file is opened (`O_NOFOLLOW | O_NONBLOCK`, and it must be a
//! regular file) before a byte is copied, and its length taken then: a file
//! that retention removes afterwards stays readable through its open
//! descriptor, and bytes appended afterwards are not copied. A log segment
//! is copied record by record (a 64-byte header, then whole batches, as
//! `docs/LOG_FORMAT.md` §3 lays them out) and stops after the batch that
//! holds the cut's timestamp, or at the first incomplete batch: the copy
//! never ends inside a record. Buffers are bounded: payloads are streamed.

use std::fs::{self, File};
use std::io::{self, BufReader, Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use interstice_persist::datadir::{LOG_DIR, MODULES_DIR, SECRET_FILE};
use interstice_persist::segment::{BatchHeader, SegmentHeader, BATCH_HEADER_LEN};
use interstice_persist::{list_snapshots, safe_fs, FileStorage, SNAPSHOTS_DIR};

use crate::error::CliError;

/// What to copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Cut {
    /// Every snapshot and the whole log, up to its last complete batch: the
    /// directory is locked, nothing changes while it is copied.
    Everything,
    /// A running server's cut (`POST /v1/backup`): the log through
    /// `durable_ts`, from the snapshot at `snapshot_ts` on; without one
    /// (snapshots are off, so retention never removes anything), every
    /// snapshot and the log from its start.
    Server {
        /// The snapshot the server just took.
        snapshot_ts: Option<u64>,
        /// The server's durable timestamp after it (≥ `snapshot_ts`).
        durable_ts: u64,
    },
}

/// What was copied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Copied {
    /// The newest snapshot copied.
    pub(crate) snapshot_ts: Option<u64>,
    /// The last timestamp of the copied log (0: no entries).
    pub(crate) last_ts: u64,
    /// Segments copied.
    pub(crate) segments: usize,
    /// Module binaries copied.
    pub(crate) modules: usize,
    /// Bytes copied.
    pub(crate) bytes: u64,
}

/// Why a copy failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CopyError {
    /// A file the cut needs was removed before it was opened (by the
    /// server's snapshot retention): the cut is stale, ask for another.
    #[error("{} was removed before it could be copied", .0.display())]
    Vanished(PathBuf),
    /// Anything else.
    #[error("{0}")]
    Failed(String),
}

impl From<CopyError> for CliError {
    fn from(e: CopyError) -> CliError {
        CliError::Backup(e.to_string())
    }
}

/// An I/O error on `path`, saying what was being done; running out of
/// space says so plainly.
pub(crate) fn io_error(path: &Path, doing: &str, e: io::Error) -> CopyError {
    match e.raw_os_error() {
        Some(libc::ENOSPC | libc::EDQUOT) => CopyError::Failed(format!(
            "no space left on the device of {} ({doing}: {e}); the backup was abandoned and its \
             temporary directory removed: free some space there, or back up to another device",
            path.display()
        )),
        _ => CopyError::Failed(format!("{}: {doing}: {e}", path.display())),
    }
}

/// One source file, open, with the length it had when opened.
struct Source {
    /// Its path relative to the data directory.
    rel: PathBuf,
    file: File,
    len: u64,
    /// A log segment (copied record by record).
    segment: bool,
}

/// Opens `dir/rel` for copying: no symlink, a regular file, its length now.
fn open_source(dir: &Path, rel: PathBuf, segment: bool) -> Result<Source, CopyError> {
    let path = dir.join(&rel);
    let file = safe_fs::open(
        &path,
        safe_fs::options()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK),
    )
    .map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => CopyError::Vanished(path.clone()),
        _ => io_error(&path, "opening it", e),
    })?;
    let meta = file
        .metadata()
        .map_err(|e| io_error(&path, "inspecting it", e))?;
    if !meta.is_file() {
        return Err(CopyError::Failed(format!(
            "{} is not a regular file; a data directory holds only regular files there",
            path.display()
        )));
    }
    Ok(Source {
        rel,
        file,
        len: meta.len(),
        segment,
    })
}

/// Whether `name` is a module binary's name: 64 hex digits and `.wasm`.
fn is_module_name(name: &str) -> bool {
    name.strip_suffix(".wasm")
        .is_some_and(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Opens every file the cut needs, before anything is copied.
fn open_sources(dir: &Path, cut: &Cut) -> Result<(Vec<Source>, Option<u64>), CopyError> {
    let storage = FileStorage::new(dir.join(LOG_DIR));
    let segments = interstice_persist::reader::list_segments(&storage)
        .map_err(|e| CopyError::Failed(format!("{}: {e}", dir.display())))?;
    let snap_dir = dir.join(SNAPSHOTS_DIR);
    let all_snapshots = || -> Result<Vec<u64>, CopyError> {
        Ok(list_snapshots(&snap_dir)
            .map_err(|e| CopyError::Failed(e.to_string()))?
            .into_iter()
            .map(|(ts, _)| ts)
            .collect())
    };
    let (snapshots, chosen): (Vec<u64>, Vec<&(u64, String)>) = match cut {
        Cut::Everything => (all_snapshots()?, segments.iter().collect()),
        Cut::Server {
            snapshot_ts: None,
            durable_ts,
        } => (
            all_snapshots()?
                .into_iter()
                .filter(|ts| ts <= durable_ts)
                .collect(),
            segments.iter().filter(|s| s.0 <= *durable_ts).collect(),
        ),
        Cut::Server {
            snapshot_ts: Some(s),
            durable_ts,
        } => {
            // The segment holding s + 1 (the first entry the snapshot does
            // not cover) and every later one up to the durable timestamp.
            let base = segments
                .iter()
                .rposition(|seg| seg.0 <= s.saturating_add(1))
                .unwrap_or(0);
            (
                vec![*s],
                segments[base..]
                    .iter()
                    .filter(|seg| seg.0 <= *durable_ts)
                    .collect(),
            )
        }
    };
    let mut sources = Vec::new();
    for ts in &snapshots {
        let rel =
            Path::new(SNAPSHOTS_DIR).join(interstice_persist::snapshot::snapshot_file_name(*ts));
        sources.push(open_source(dir, rel, false)?);
    }
    for (_, name) in chosen {
        sources.push(open_source(dir, Path::new(LOG_DIR).join(name), true)?);
    }
    sources.push(open_source(dir, PathBuf::from(SECRET_FILE), false)?);
    let modules_dir = dir.join(MODULES_DIR);
    let listing = fs::read_dir(&modules_dir)
        .map_err(|e| io_error(&modules_dir, "listing it", e))?
        .collect::<io::Result<Vec<_>>>()
        .map_err(|e| io_error(&modules_dir, "listing it", e))?;
    let mut modules: Vec<String> = listing
        .into_iter()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| is_module_name(n))
        .collect();
    modules.sort();
    for name in modules {
        sources.push(open_source(dir, Path::new(MODULES_DIR).join(name), false)?);
    }
    Ok((sources, snapshots.into_iter().max()))
}

/// Fails early, with a clear error, when the device of `tmp` cannot hold
/// `needed` bytes (the copy itself reports `ENOSPC` just as clearly, should
/// the space go while it runs).
pub(crate) fn check_space(tmp: &Path, needed: u64, available: u64) -> Result<(), CopyError> {
    if available < needed {
        return Err(CopyError::Failed(format!(
            "no space left on the device of {}: the backup needs {needed} bytes and {available} \
             are free; nothing was copied: free some space there, or back up to another device",
            tmp.display()
        )));
    }
    Ok(())
}

/// The bytes available to this user on the device of `path`.
fn available_bytes(path: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    // SAFETY: an all-zero statvfs is a valid value to be filled in.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is NUL-terminated and `st` is a valid out-pointer.
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return None;
    }
    Some(st.f_bavail.saturating_mul(st.f_frsize))
}

/// Copies what `cut` names from `dir` into `tmp` (an empty directory of
/// ours), every file and directory fsynced.
pub(crate) fn copy(dir: &Path, tmp: &Path, cut: &Cut) -> Result<Copied, CopyError> {
    let (sources, snapshot_ts) = open_sources(dir, cut)?;
    let needed: u64 = sources.iter().map(|s| s.len).sum();
    if let Some(available) = available_bytes(tmp) {
        check_space(tmp, needed, available)?;
    }
    for sub in [LOG_DIR, MODULES_DIR, SNAPSHOTS_DIR] {
        let path = tmp.join(sub);
        fs::DirBuilder::new()
            .mode(0o700)
            .create(&path)
            .map_err(|e| io_error(&path, "creating the directory", e))?;
    }
    let upto = match cut {
        Cut::Everything => None,
        Cut::Server { durable_ts, .. } => Some(*durable_ts),
    };
    let mut copied = Copied {
        snapshot_ts,
        last_ts: 0,
        segments: 0,
        modules: 0,
        bytes: 0,
    };
    for src in sources {
        let path = tmp.join(&src.rel);
        let mut out = safe_fs::open(
            &path,
            safe_fs::options().write(true).create_new(true).mode(0o600),
        )
        .map_err(|e| io_error(&path, "creating it", e))?;
        let from = dir.join(&src.rel);
        let written = if src.segment {
            copied.segments += 1;
            let (n, last) = copy_segment(&src, &from, &mut out, &path, upto)?;
            if let Some(last) = last {
                copied.last_ts = copied.last_ts.max(last);
            }
            n
        } else {
            if src.rel.starts_with(MODULES_DIR) {
                copied.modules += 1;
            }
            let n = io::copy(&mut (&src.file).take(src.len), &mut out)
                .map_err(|e| io_error(&path, "copying it", e))?;
            if n != src.len {
                return Err(CopyError::Failed(format!(
                    "{} shrank while it was copied ({n} of {} bytes)",
                    from.display(),
                    src.len
                )));
            }
            n
        };
        out.sync_all()
            .map_err(|e| io_error(&path, "syncing it", e))?;
        copied.bytes += written;
    }
    if let Some(d) = upto {
        if copied.last_ts < d {
            return Err(CopyError::Failed(format!(
                "the log of {} ends at timestamp {} on disk, before the durable timestamp {d} \
                 the server reported",
                dir.display(),
                copied.last_ts
            )));
        }
    }
    for sub in [LOG_DIR, MODULES_DIR, SNAPSHOTS_DIR] {
        let path = tmp.join(sub);
        safe_fs::sync_directory(&path).map_err(|e| io_error(&path, "syncing it", e))?;
    }
    safe_fs::sync_directory(tmp).map_err(|e| io_error(tmp, "syncing it", e))?;
    Ok(copied)
}

/// Copies a segment's header and its complete batches, stopping after the
/// batch that reaches `upto` or at the first batch that is not complete;
/// the bytes written and the last timestamp copied.
fn copy_segment(
    src: &Source,
    from: &Path,
    out: &mut File,
    to: &Path,
    upto: Option<u64>,
) -> Result<(u64, Option<u64>), CopyError> {
    let mut input = BufReader::new((&src.file).take(src.len));
    let read_err = |e: io::Error| io_error(from, "reading it", e);
    let write_err = |e: io::Error| io_error(to, "writing it", e);
    let mut head = [0u8; interstice_persist::segment::SEGMENT_HEADER_LEN];
    input.read_exact(&mut head).map_err(|e| {
        CopyError::Failed(format!(
            "{}: the segment has no complete header ({e}); run check-log on it",
            from.display()
        ))
    })?;
    SegmentHeader::decode(&head).map_err(|e| {
        CopyError::Failed(format!(
            "{}: a damaged segment header ({e:?}); run check-log on it",
            from.display()
        ))
    })?;
    out.write_all(&head).map_err(write_err)?;
    let mut offset = head.len() as u64;
    let mut last = None;
    loop {
        if upto.is_some_and(|u| last.is_some_and(|l| l >= u)) {
            break;
        }
        if offset + BATCH_HEADER_LEN as u64 > src.len {
            break;
        }
        let mut bh = [0u8; BATCH_HEADER_LEN];
        input.read_exact(&mut bh).map_err(read_err)?;
        let Some(Ok(batch)) = BatchHeader::decode(&bh) else {
            // Not a batch: a torn tail (or damage, which the check of the
            // copy reports).
            break;
        };
        if offset + batch.record_len() > src.len || batch.count == 0 {
            break;
        }
        out.write_all(&bh).map_err(write_err)?;
        let n = io::copy(
            &mut (&mut input).take(u64::from(batch.payload_len)),
            &mut *out,
        )
        .map_err(read_err)?;
        if n != u64::from(batch.payload_len) {
            return Err(CopyError::Failed(format!(
                "{} shrank while it was copied",
                from.display()
            )));
        }
        offset += batch.record_len();
        last = Some(
            batch
                .first_ts
                .saturating_add(u64::from(batch.count))
                .saturating_sub(1),
        );
    }
    Ok((offset, last))
}
