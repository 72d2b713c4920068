//! `interstice backup -d DIR DEST`: a consistent, verified copy of a data
//! directory, taken while the runtime keeps serving (`docs/DURABILITY.md`,
//! "Backups").
//!
//! - **The cut.** When a serving `run --listen` holds `DIR`, the CLI asks it
//!   to start a backup (`POST /v1/backup`, `docs/SERVER.md`): the server
//!   fsyncs its log and takes a snapshot at timestamp `S`, and answers `S`
//!   and its durable timestamp `D ≥ S`. The CLI then copies the snapshot and
//!   the log segments from the one holding `S + 1` through the batch that
//!   holds `D`. Segments are append-only and a sealed one never changes, so
//!   the bytes up to `D` are final while the runtime keeps appending after
//!   them. Without a server, `backup` takes the directory's lock (so no
//!   runtime writes meanwhile) and copies every snapshot and the whole log.
//! - **The copy** (`copy.rs`) goes into a new temporary directory beside
//!   `DEST` (`.NAME.backup-PID.tmp`, mode 0700), every file created with
//!   `O_CREAT | O_EXCL | O_NOFOLLOW` and fsynced.
//! - **The check** (`verify.rs`): `check-log`'s verification of the copy
//!   must find no problem, and the copy must open read-only at `D`.
//! - **Only then** the temporary is renamed to `DEST`; any failure removes
//!   it, so a `DEST` that exists is a backup that passed its check.
//!
//! `DEST` must not exist or be an empty directory, must not be a symbolic
//! link, and must not lie inside `DIR`.

mod copy;
mod verify;

use std::ffi::OsStr;
use std::fs;
use std::io;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::time::Instant;

use interstice_persist::{DataDir, PersistError};

use crate::error::CliError;
use crate::output;
use crate::server::client::Remote;

pub(crate) use copy::Cut;

/// How many times a backup through a server asks for a new cut when a file
/// it needs was removed (by the server's snapshot retention) before it was
/// opened.
const ATTEMPTS: usize = 3;

/// Runs the command.
pub async fn run(dir: &Path, dest: &Path) -> Result<(), CliError> {
    let started = Instant::now();
    let target = Destination::check(dir, dest)?;
    let taken = take(dir, &target).await;
    if taken.is_err() {
        target.discard();
    }
    let (report, how) = taken?;
    output::result(format!(
        "backed up {} to {} {how}: timestamps through {}{}, {} segments, {} modules, {} bytes; \
         verified: check-log found no problem, opened read-only at {} (state hash {}); {:.1} s",
        dir.display(),
        dest.display(),
        report.copied.last_ts,
        match report.copied.snapshot_ts {
            Some(s) => format!(" (from the snapshot at {s})"),
            None => String::new(),
        },
        report.copied.segments,
        report.copied.modules,
        report.copied.bytes,
        report.copied.last_ts,
        output::hex(&report.state_hash),
        started.elapsed().as_secs_f64(),
    ));
    Ok(())
}

/// Takes the backup into the temporary: with the lock, or through the
/// server that holds the directory. The report and how it was taken.
async fn take(dir: &Path, target: &Destination) -> Result<(Report, String), CliError> {
    match DataDir::open(dir, false) {
        Ok(lock) => {
            let dir = dir.to_path_buf();
            let tmp = target.tmp.clone();
            let report = tokio::task::spawn_blocking(move || {
                let r = copy::copy(&dir, &tmp, &Cut::Everything);
                drop(lock);
                r
            })
            .await
            .map_err(|e| CliError::Backup(format!("the copy task failed: {e}")))?;
            Ok((
                target.finish(report.map_err(CliError::from)).await?,
                "with the directory's lock".to_owned(),
            ))
        }
        Err(e @ PersistError::Locked { .. }) => {
            let Some(server) = Remote::find(dir)? else {
                return Err(CliError::Backup(format!(
                    "{e}; it is not a serving `interstice run --listen` (no {}), so a backup \
                     cannot reach a consistent cut: stop that process, or run it with --listen",
                    dir.join(crate::server::ADDRESS_FILE).display()
                )));
            };
            let report = remote(&server, dir, target).await?;
            let how = format!(
                "through the server (its cut took {} µs)",
                report.cut_us.unwrap_or(0)
            );
            Ok((report, how))
        }
        Err(e) => Err(e.into()),
    }
}

/// The cut from the server, copied; a new cut when retention removed a
/// file before it was opened.
async fn remote(server: &Remote, dir: &Path, target: &Destination) -> Result<Report, CliError> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let (cut, took_us) = server.start_backup().await?;
        tracing::info!(?cut, took_us, "the server made its cut");
        let dir = dir.to_path_buf();
        let tmp = target.tmp.clone();
        let copied = tokio::task::spawn_blocking(move || copy::copy(&dir, &tmp, &cut))
            .await
            .map_err(|e| CliError::Backup(format!("the copy task failed: {e}")))?;
        match copied {
            Err(copy::CopyError::Vanished(path)) if attempt < ATTEMPTS => {
                tracing::info!(
                    "{} was removed by retention before it was opened; asking for a new cut",
                    path.display()
                );
                target.reset()?;
            }
            other => {
                let mut report = target.finish(other.map_err(CliError::from)).await?;
                report.cut_us = Some(took_us);
                return Ok(report);
            }
        }
    }
}

/// What a finished backup holds.
struct Report {
    copied: copy::Copied,
    state_hash: [u8; 32],
    /// How long the server took to make its cut (fsync and snapshot), in
    /// microseconds: the longest its writers can have waited for the backup.
    cut_us: Option<u64>,
}

/// `DEST`, checked, and the temporary the backup is written to.
struct Destination {
    dest: PathBuf,
    /// Whether `DEST` is an existing empty directory (replaced by the
    /// rename) rather than absent.
    replaces_empty_dir: bool,
    tmp: PathBuf,
}

impl Destination {
    /// Refuses a `DEST` that exists and is not an empty directory, that is
    /// a symbolic link, whose parent does not exist, or that lies inside
    /// `dir`; creates the temporary beside it.
    fn check(dir: &Path, dest: &Path) -> Result<Destination, CliError> {
        let refuse = |why: String| Err(CliError::Backup(format!("{}: {why}", dest.display())));
        let Some(name) = dest.file_name().filter(|n| *n != OsStr::new("..")) else {
            return refuse("give the path of a new directory".into());
        };
        let replaces_empty_dir = match fs::symlink_metadata(dest) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => false,
            Err(e) => return refuse(format!("cannot inspect it: {e}")),
            Ok(m) if m.file_type().is_symlink() => {
                return refuse(
                    "is a symbolic link; a backup is never written through a link (give the \
                     directory it should create, not a link to it)"
                        .into(),
                )
            }
            Ok(m) if !m.is_dir() => return refuse("exists and is not a directory".into()),
            Ok(_) => {
                let mut entries = fs::read_dir(dest)
                    .map_err(|e| CliError::Backup(format!("{}: {e}", dest.display())))?;
                if entries.next().is_some() {
                    return refuse(
                        "exists and is not empty; a backup never writes into an existing \
                         directory (give a new path, or remove it)"
                            .into(),
                    );
                }
                true
            }
        };
        let parent = match dest.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let real_parent = fs::canonicalize(&parent).map_err(|e| {
            CliError::Backup(format!(
                "{}: its parent directory {}: {e}",
                dest.display(),
                parent.display()
            ))
        })?;
        let real_dir = fs::canonicalize(dir)
            .map_err(|e| CliError::Backup(format!("the data directory {}: {e}", dir.display())))?;
        if real_parent.starts_with(&real_dir) {
            return refuse(format!(
                "is inside the data directory {}; put the backup elsewhere",
                dir.display()
            ));
        }
        let tmp = parent.join(format!(
            ".{}.backup-{}.tmp",
            name.to_string_lossy(),
            std::process::id()
        ));
        create_tmp(&tmp)?;
        Ok(Destination {
            dest: dest.to_path_buf(),
            replaces_empty_dir,
            tmp,
        })
    }

    /// Empties the temporary, for another attempt.
    fn reset(&self) -> Result<(), CliError> {
        self.discard();
        create_tmp(&self.tmp)
    }

    /// Removes the temporary (and what is in it); it is ours alone.
    fn discard(&self) {
        if let Err(e) = fs::remove_dir_all(&self.tmp) {
            if e.kind() != io::ErrorKind::NotFound {
                tracing::warn!("removing {}: {e}", self.tmp.display());
            }
        }
    }

    /// Verifies the copy and renames it to `DEST`; on any failure (of the
    /// copy too) removes the temporary.
    async fn finish(&self, copied: Result<copy::Copied, CliError>) -> Result<Report, CliError> {
        let res = async {
            let copied = copied?;
            let state_hash = verify::verify(&self.tmp, &copied).await?;
            self.rename()?;
            Ok(Report {
                copied,
                state_hash,
                cut_us: None,
            })
        }
        .await;
        if res.is_err() {
            self.discard();
        }
        res
    }

    /// Puts the verified temporary in place: never over anything but the
    /// empty directory that was checked (`RENAME_NOREPLACE` otherwise), and
    /// never through a symlink (a rename replaces a name, it does not
    /// follow it).
    fn rename(&self) -> Result<(), CliError> {
        let placed = if self.replaces_empty_dir {
            fs::rename(&self.tmp, &self.dest)
        } else {
            rename_noreplace(&self.tmp, &self.dest)
        };
        placed.map_err(|e| {
            CliError::Backup(format!(
                "{}: putting the verified backup in place: {e} (did something else create it \
                 meanwhile?)",
                self.dest.display()
            ))
        })?;
        let parent = match self.dest.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        interstice_persist::safe_fs::sync_directory(parent)
            .map_err(|e| copy::io_error(parent, "syncing the directory", e).into())
    }
}

/// Creates the temporary: a new directory (never an existing one, never
/// through a symlink), owner only.
fn create_tmp(tmp: &Path) -> Result<(), CliError> {
    fs::DirBuilder::new()
        .mode(0o700)
        .create(tmp)
        .map_err(|e| match e.kind() {
            io::ErrorKind::AlreadyExists => CliError::Backup(format!(
                "{} already exists (left by an interrupted backup?); remove it",
                tmp.display()
            )),
            _ => copy::io_error(tmp, "creating the temporary directory", e).into(),
        })
}

/// `rename(2)` that fails with `EEXIST` rather than replace anything.
fn rename_noreplace(from: &Path, to: &Path) -> io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let c = |p: &Path| {
        std::ffi::CString::new(p.as_os_str().as_bytes())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "a NUL byte in the path"))
    };
    let (from, to) = (c(from)?, c(to)?);
    // SAFETY: both are valid NUL-terminated strings that outlive the call.
    let rc = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            from.as_ptr(),
            libc::AT_FDCWD,
            to.as_ptr(),
            libc::RENAME_NOREPLACE,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests;
