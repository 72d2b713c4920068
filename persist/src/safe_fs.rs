//! Opening and creating files inside the data directory without following
//! symbolic links (`docs/SECURITY.md`, "A damaged or tampered data
//! directory").
//!
//! Every file the runtime opens inside the data directory is opened with
//! `O_NOFOLLOW`, so a symlink planted where a file is expected (`LOCK`, a
//! segment, `cache/<hash>.cwasm`, …) is an error instead of a way to make
//! the runtime read, truncate or overwrite the file it points to.
//! Temporaries are created with `O_CREAT | O_EXCL` (`create_new`), which
//! never follows a symlink and never reuses an existing file, and are then
//! renamed into place (a rename replaces a symlink at the destination, it
//! does not write through it).
//!
//! `O_NOFOLLOW` only concerns the last path component: the directories on
//! the way are checked once, when the data directory is opened
//! ([`crate::DataDir::open`]).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// `OpenOptions` that never follow a symlink in the last path component.
pub fn options() -> OpenOptions {
    let mut o = OpenOptions::new();
    o.custom_flags(libc::O_NOFOLLOW);
    o
}

/// Turns the `ELOOP` that `O_NOFOLLOW` gives for a symlink into an error
/// that says so and names the path.
pub fn explain(path: &Path, e: io::Error) -> io::Error {
    if e.raw_os_error() == Some(libc::ELOOP) {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "{} is a symbolic link; files inside the data directory must not be symlinks \
                 (the runtime never follows them)",
                path.display()
            ),
        )
    } else {
        e
    }
}

/// Opens `path` with `opts` (which should come from [`options`]), explaining
/// a refused symlink.
pub fn open(path: &Path, opts: &OpenOptions) -> io::Result<File> {
    opts.open(path).map_err(|e| explain(path, e))
}

/// Reads a whole file without following a symlink.
pub fn read(path: &Path) -> io::Result<Vec<u8>> {
    let mut f = open(path, options().read(true))?;
    let mut buf = Vec::with_capacity(f.metadata().map_or(0, |m| m.len() as usize));
    f.read_to_end(&mut buf)?;
    Ok(buf)
}

/// Creates `path` as a new file (`O_CREAT | O_EXCL | O_NOFOLLOW`), for
/// writing. An existing file or symlink there is removed first (it can only
/// be a leftover temporary of this process's own kind: the caller holds the
/// data directory's lock); if something appears again in between, that is
/// an error, never an overwrite.
pub fn create_temp(path: &Path) -> io::Result<File> {
    let create = || open(path, options().write(true).create_new(true));
    match create() {
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            // `remove_file` removes a symlink itself, never its target.
            fs::remove_file(path)?;
            create()
        }
        other => other,
    }
}

/// Fsyncs a directory so entries created, removed or renamed in it are durable.
pub fn sync_directory(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Writes `bytes` to `dir/name` atomically and durably: a new temporary
/// `dir/tmp_name` ([`create_temp`]), fsync, rename over `name`, fsync of
/// `dir`. On failure the temporary is removed and `name` is unchanged.
pub fn write_atomically(dir: &Path, tmp_name: &str, name: &str, bytes: &[u8]) -> io::Result<()> {
    let tmp = dir.join(tmp_name);
    let write = || -> io::Result<()> {
        let mut f = create_temp(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        fs::rename(&tmp, dir.join(name))?;
        sync_directory(dir)
    };
    write().inspect_err(|_| {
        let _ = fs::remove_file(&tmp);
    })
}
