//! [`DataDir`]: the runtime's data directory (`docs/LOG_FORMAT.md` §9,
//! threat model in `docs/SECURITY.md`).
//!
//! ```text
//! <path>/
//!   LOCK        holder info; the exclusive lock is on the directory itself
//!   SECRET      32 random bytes, created once (seeds reducer rngs)
//!   log/        log segments
//!   modules/    <blake3 hex>.wasm, content-addressed module binaries
//!   cache/      compiled modules (the runtime's; see actors' engine cache)
//!   snapshots/  snapshot files
//! ```
//!
//! Opening takes an exclusive `flock` on the directory (whose identity does
//! not change when `LOCK` is unlinked) and on `LOCK`, refuses symbolic links
//! inside the directory, and removes temporaries an interrupted write left.

use std::fs::{self, File, TryLockError};
use std::io::{self, Seek, Write};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use tracing::info;

use crate::error::PersistError;
use crate::record::Hash;
use crate::safe_fs;
use crate::snapshot::SNAPSHOTS_DIR;
use crate::storage::FileStorage;
use crate::storage::Storage;

/// Name of the lock file.
pub const LOCK_FILE: &str = "LOCK";
/// Name of the secret file.
pub const SECRET_FILE: &str = "SECRET";
/// Name of the log directory.
pub const LOG_DIR: &str = "log";
/// Name of the module directory.
pub const MODULES_DIR: &str = "modules";
/// Name of the compiled-module cache directory (written by the runtime).
pub const CACHE_DIR: &str = "cache";
/// Suffix of temporary files, removed when the directory is opened.
pub const TMP_SUFFIX: &str = ".tmp";
/// The temporary `SECRET` is written to before it is renamed into place.
const SECRET_TMP: &str = "SECRET.tmp";

/// The subdirectories whose entries the runtime reads and writes: none of
/// them, and nothing in them, may be a symlink.
const OWNED_DIRS: [&str; 4] = [LOG_DIR, MODULES_DIR, CACHE_DIR, SNAPSHOTS_DIR];
/// The subdirectories in which leftover `*.tmp` files are removed at open
/// (`log/` is not one: a `*.broken.tmp` there belongs to `check-log
/// --repair`, which removes it).
const TMP_DIRS: [&str; 3] = [MODULES_DIR, CACHE_DIR, SNAPSHOTS_DIR];

/// An open, locked data directory. The locks are released on drop.
#[derive(Debug)]
pub struct DataDir {
    path: PathBuf,
    secret: Hash,
    removed_temporaries: Vec<PathBuf>,
    /// The exclusive `flock` on the directory itself: what actually keeps a
    /// second opener out, even after `LOCK` is unlinked or replaced.
    _dir_lock: File,
    /// The exclusive lock on `LOCK` (which older builds take), holding the
    /// holder info.
    _lock: File,
}

fn io_err(context: String) -> impl FnOnce(io::Error) -> PersistError {
    move |e| PersistError::io(context, e)
}

impl DataDir {
    /// Opens (with `create`, first initialising) the data directory at
    /// `path` and takes its exclusive lock.
    ///
    /// A directory it creates is created with mode `0700` (owner only).
    /// `path` itself may be a symbolic link (to a directory on another
    /// volume, say); nothing inside it may be: a symlink at its top level,
    /// or in or as `log/`, `modules/`, `cache/` or `snapshots/`, is refused
    /// with [`PersistError::Symlink`]. Leftover temporaries (`*.tmp` in
    /// `modules/`, `cache/`, `snapshots/`, and `SECRET.tmp`) are removed.
    ///
    /// Fails with [`PersistError::Locked`], naming the holder, if another
    /// process (or another `DataDir` in this one) has it open, and with
    /// [`PersistError::NotADataDir`] if it is missing or not initialised and
    /// `create` is false.
    pub fn open(path: impl AsRef<Path>, create: bool) -> Result<DataDir, PersistError> {
        let path = path.as_ref().to_path_buf();
        let not_a_data_dir = |reason: &str| PersistError::NotADataDir {
            path: path.clone(),
            reason: reason.to_owned(),
        };
        match fs::metadata(&path) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => return Err(not_a_data_dir("it is not a directory")),
            Err(e) if e.kind() == io::ErrorKind::NotFound && create => {
                // Owner only: the directory holds the application's state,
                // code and secret (docs/SECURITY.md).
                fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(&path)
                    .map_err(io_err(format!(
                        "creating data directory {}",
                        path.display()
                    )))?;
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(not_a_data_dir("it does not exist"));
            }
            Err(e) => {
                return Err(PersistError::io(
                    format!("inspecting {}", path.display()),
                    e,
                ))
            }
        }

        let dir_lock = lock_directory(&path)?;
        refuse_symlinks(&path)?;
        let lock = take_lock_file(&path)?;

        let secret_path = path.join(SECRET_FILE);
        if !exists(&secret_path)? {
            if !create {
                return Err(not_a_data_dir(
                    "it has no SECRET file (it was never initialised; open it with create)",
                ));
            }
            initialise(&path)?;
        }
        for dir in [LOG_DIR, MODULES_DIR] {
            if !path.join(dir).is_dir() {
                return Err(not_a_data_dir(&format!("its {dir}/ directory is missing")));
            }
        }
        let bytes = safe_fs::read(&secret_path)
            .map_err(io_err(format!("reading {}", secret_path.display())))?;
        let secret: Hash = bytes.as_slice().try_into().map_err(|_| {
            not_a_data_dir(&format!(
                "its SECRET file holds {} bytes, expected 32",
                bytes.len()
            ))
        })?;
        let removed_temporaries = remove_temporaries(&path)?;
        info!(path = %path.display(), "opened data directory");
        Ok(DataDir {
            path,
            secret,
            removed_temporaries,
            _dir_lock: dir_lock,
            _lock: lock,
        })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The log directory.
    pub fn log_dir(&self) -> PathBuf {
        self.path.join(LOG_DIR)
    }

    /// A [`FileStorage`] on `log/`.
    pub fn log_storage(&self) -> Arc<dyn Storage> {
        Arc::new(FileStorage::new(self.log_dir()))
    }

    /// The 32-byte secret created at initialisation.
    pub fn secret(&self) -> Hash {
        self.secret
    }

    /// The leftover temporary files [`DataDir::open`] removed.
    pub fn removed_temporaries(&self) -> &[PathBuf] {
        &self.removed_temporaries
    }

    fn module_path(&self, hash: &Hash) -> PathBuf {
        self.path
            .join(MODULES_DIR)
            .join(format!("{}.wasm", blake3::Hash::from(*hash).to_hex()))
    }

    /// Stores a module binary as `modules/<blake3 hex>.wasm`, atomically
    /// (temporary file, fsync, rename, directory fsync). Returns its hash.
    /// Storing the same binary again is a no-op.
    pub fn store_module(&self, wasm: &[u8]) -> Result<Hash, PersistError> {
        let hash = *blake3::hash(wasm).as_bytes();
        let dest = self.module_path(&hash);
        if fs::symlink_metadata(&dest).is_ok_and(|m| m.is_file()) {
            return Ok(hash);
        }
        let dir = self.path.join(MODULES_DIR);
        let hex = blake3::Hash::from(hash).to_hex();
        safe_fs::write_atomically(
            &dir,
            &format!(".{hex}.wasm{TMP_SUFFIX}"),
            &format!("{hex}.wasm"),
            wasm,
        )
        .map_err(io_err(format!("storing module {}", dest.display())))?;
        Ok(hash)
    }

    /// Loads a module binary stored by [`DataDir::store_module`], checking
    /// that its contents still hash to its name.
    pub fn load_module(&self, hash: &Hash) -> Result<Vec<u8>, PersistError> {
        let path = self.module_path(hash);
        let bytes = match safe_fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(PersistError::ModuleNotFound {
                    hash: blake3::Hash::from(*hash).to_hex().to_string(),
                    path,
                })
            }
            Err(e) => return Err(PersistError::io(format!("reading {}", path.display()), e)),
        };
        let actual = blake3::hash(&bytes);
        if actual.as_bytes() != hash {
            return Err(PersistError::ModuleCorrupt {
                path,
                actual: actual.to_hex().to_string(),
            });
        }
        Ok(bytes)
    }
}

/// True if something (a file, a directory, a symlink) is at `path`.
fn exists(path: &Path) -> Result<bool, PersistError> {
    match fs::symlink_metadata(path) {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(PersistError::io(
            format!("inspecting {}", path.display()),
            e,
        )),
    }
}

/// Takes the exclusive `flock` on the data directory itself. Unlike a lock
/// on `LOCK`, it cannot be sidestepped by unlinking or replacing a file: a
/// second opener locks the same directory inode and is refused.
fn lock_directory(path: &Path) -> Result<File, PersistError> {
    let dir = File::open(path).map_err(io_err(format!("opening {} to lock it", path.display())))?;
    match dir.try_lock() {
        Ok(()) => Ok(dir),
        Err(TryLockError::WouldBlock) => Err(locked(path)),
        Err(TryLockError::Error(e)) => Err(PersistError::io(
            format!("locking data directory {}", path.display()),
            e,
        )),
    }
}

/// [`PersistError::Locked`], with the holder as its `LOCK` file records it.
fn locked(path: &Path) -> PersistError {
    let lock_path = path.join(LOCK_FILE);
    let holder = match safe_fs::read(&lock_path) {
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes);
            let text = text.trim().replace('\n', ", ");
            if text.is_empty() {
                "holder unknown: its LOCK file is empty".into()
            } else {
                text
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            "holder unknown: its LOCK file was removed, but the directory itself is still locked"
                .into()
        }
        Err(e) => format!("holder unknown: reading its LOCK file failed: {e}"),
    };
    PersistError::Locked {
        path: path.to_path_buf(),
        holder,
    }
}

/// Opens `path/LOCK` without following a symlink, locks it too (older
/// builds lock only this file) and records who holds the directory.
fn take_lock_file(path: &Path) -> Result<File, PersistError> {
    let lock_path = path.join(LOCK_FILE);
    let mut file = safe_fs::open(
        &lock_path,
        safe_fs::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false),
    )
    .map_err(io_err(format!("opening {}", lock_path.display())))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => return Err(locked(path)),
        Err(TryLockError::Error(e)) => {
            return Err(PersistError::io(
                format!("locking {}", lock_path.display()),
                e,
            ))
        }
    }
    let info = holder_info();
    let mut record = || -> io::Result<()> {
        file.set_len(0)?;
        file.rewind()?;
        file.write_all(info.as_bytes())?;
        file.sync_data()
    };
    record().map_err(io_err(format!("writing {}", lock_path.display())))?;
    Ok(file)
}

/// Refuses a symlink at the top level of the data directory, as one of its
/// owned subdirectories, or inside one of them.
fn refuse_symlinks(path: &Path) -> Result<(), PersistError> {
    let listing = |dir: &Path| -> Result<Vec<fs::DirEntry>, PersistError> {
        let ctx = || format!("listing {}", dir.display());
        fs::read_dir(dir)
            .map_err(io_err(ctx()))?
            .collect::<io::Result<Vec<_>>>()
            .map_err(io_err(ctx()))
    };
    let check = |entry: &fs::DirEntry| -> Result<fs::FileType, PersistError> {
        let kind = entry
            .file_type()
            .map_err(io_err(format!("inspecting {}", entry.path().display())))?;
        if kind.is_symlink() {
            return Err(PersistError::Symlink { path: entry.path() });
        }
        Ok(kind)
    };
    for entry in listing(path)? {
        let kind = check(&entry)?;
        let name = entry.file_name();
        if !OWNED_DIRS.iter().any(|d| name == *d) {
            continue;
        }
        if !kind.is_dir() {
            return Err(PersistError::NotADataDir {
                path: path.to_path_buf(),
                reason: format!("its {} is not a directory", entry.path().display()),
            });
        }
        for inner in listing(&entry.path())? {
            check(&inner)?;
        }
    }
    Ok(())
}

/// Removes the temporaries an interrupted write left (a process killed
/// while writing a snapshot, a compiled module or a module binary):
/// regular files named `*.tmp` in [`TMP_DIRS`], and `SECRET.tmp`. The
/// caller holds the lock, so no write of this directory is in progress.
fn remove_temporaries(path: &Path) -> Result<Vec<PathBuf>, PersistError> {
    let mut found = vec![path.join(SECRET_TMP)];
    for dir in TMP_DIRS {
        let dir = path.join(dir);
        let rd = match fs::read_dir(&dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(PersistError::io(format!("listing {}", dir.display()), e)),
        };
        for entry in rd {
            let entry = entry.map_err(io_err(format!("listing {}", dir.display())))?;
            if entry.file_name().to_string_lossy().ends_with(TMP_SUFFIX) {
                found.push(entry.path());
            }
        }
    }
    let mut removed = Vec::new();
    for tmp in found {
        let Ok(meta) = fs::symlink_metadata(&tmp) else {
            continue;
        };
        if !meta.is_file() {
            continue;
        }
        fs::remove_file(&tmp).map_err(io_err(format!(
            "removing leftover temporary {}",
            tmp.display()
        )))?;
        info!(
            file = %tmp.display(),
            bytes = meta.len(),
            "removed a leftover temporary file (a write was interrupted)"
        );
        removed.push(tmp);
    }
    let dirs: std::collections::BTreeSet<&Path> =
        removed.iter().filter_map(|p| p.parent()).collect();
    for dir in dirs {
        safe_fs::sync_directory(dir).map_err(io_err(format!("fsyncing {}", dir.display())))?;
    }
    Ok(removed)
}

fn holder_info() -> String {
    let pid = std::process::id();
    let host = fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| fs::read_to_string("/etc/hostname"))
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "unknown".into());
    let cmd: Vec<String> = std::env::args().collect();
    let started = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    format!(
        "pid={pid}\nhost={host}\ncommand={}\nstarted_unix={started}\n",
        cmd.join(" ")
    )
}

/// Creates `log/`, `modules/` and, last, `SECRET` (so a directory with a
/// SECRET is fully initialised).
fn initialise(path: &Path) -> Result<(), PersistError> {
    for dir in [LOG_DIR, MODULES_DIR] {
        let p = path.join(dir);
        fs::create_dir_all(&p).map_err(io_err(format!("creating {}", p.display())))?;
    }
    let mut secret = [0u8; 32];
    getrandom::fill(&mut secret).map_err(|e| {
        PersistError::io(
            "drawing random bytes for the data directory secret",
            io::Error::other(e.to_string()),
        )
    })?;
    safe_fs::write_atomically(path, SECRET_TMP, SECRET_FILE, &secret).map_err(io_err(format!(
        "creating {}",
        path.join(SECRET_FILE).display()
    )))?;
    info!(path = %path.display(), "initialised data directory");
    Ok(())
}
