//! [`DataDir`]: the runtime's data directory (`docs/LOG_FORMAT.md` §7).
//!
//! ```text
//! <path>/
//!   LOCK        exclusive lock while a runtime has the directory open; holder info
//!   SECRET      32 random bytes, created once (seeds reducer rngs)
//!   log/        log segments
//!   modules/    <blake3 hex>.wasm, content-addressed module binaries
//! ```

use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{self, Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use tracing::info;

use crate::error::PersistError;
use crate::record::Hash;
use crate::storage::Storage;
use crate::storage_file::{sync_directory, FileStorage};

/// Name of the lock file.
pub const LOCK_FILE: &str = "LOCK";
/// Name of the secret file.
pub const SECRET_FILE: &str = "SECRET";
/// Name of the log directory.
pub const LOG_DIR: &str = "log";
/// Name of the module directory.
pub const MODULES_DIR: &str = "modules";

/// An open, locked data directory. The lock is released on drop.
#[derive(Debug)]
pub struct DataDir {
    path: PathBuf,
    secret: Hash,
    /// Holds the exclusive lock for as long as the `DataDir` lives.
    _lock: File,
}

fn io_err(context: String) -> impl FnOnce(io::Error) -> PersistError {
    move |e| PersistError::io(context, e)
}

impl DataDir {
    /// Opens (with `create`, first initialising) the data directory at
    /// `path` and takes its exclusive lock.
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
                fs::create_dir_all(&path).map_err(io_err(format!(
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

        let lock = take_lock(&path)?;

        let secret_path = path.join(SECRET_FILE);
        if !secret_path.exists() {
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
        let bytes =
            fs::read(&secret_path).map_err(io_err(format!("reading {}", secret_path.display())))?;
        let secret: Hash = bytes.as_slice().try_into().map_err(|_| {
            not_a_data_dir(&format!(
                "its SECRET file holds {} bytes, expected 32",
                bytes.len()
            ))
        })?;
        info!(path = %path.display(), "opened data directory");
        Ok(DataDir {
            path,
            secret,
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
        if dest.is_file() {
            return Ok(hash);
        }
        let dir = self.path.join(MODULES_DIR);
        let hex = blake3::Hash::from(hash).to_hex();
        let tmp = dir.join(format!(".{hex}.wasm.tmp"));
        let write = || -> io::Result<()> {
            let mut f = File::create(&tmp)?;
            f.write_all(wasm)?;
            f.sync_all()?;
            fs::rename(&tmp, &dest)?;
            sync_directory(&dir)
        };
        write().map_err(|e| {
            let _ = fs::remove_file(&tmp);
            PersistError::io(format!("storing module {}", dest.display()), e)
        })?;
        Ok(hash)
    }

    /// Loads a module binary stored by [`DataDir::store_module`], checking
    /// that its contents still hash to its name.
    pub fn load_module(&self, hash: &Hash) -> Result<Vec<u8>, PersistError> {
        let path = self.module_path(hash);
        let bytes = match fs::read(&path) {
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

/// Takes the exclusive lock on `path/LOCK` and records who holds it.
fn take_lock(path: &Path) -> Result<File, PersistError> {
    let lock_path = path.join(LOCK_FILE);
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&lock_path)
        .map_err(io_err(format!("opening {}", lock_path.display())))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            let holder = holder.trim().replace('\n', ", ");
            return Err(PersistError::Locked {
                path: path.to_path_buf(),
                holder: if holder.is_empty() {
                    "holder unknown: its LOCK file is empty".into()
                } else {
                    holder
                },
            });
        }
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
    let tmp = path.join("SECRET.tmp");
    let dest = path.join(SECRET_FILE);
    let write = || -> io::Result<()> {
        let mut f = File::create(&tmp)?;
        f.write_all(&secret)?;
        f.sync_all()?;
        fs::rename(&tmp, &dest)?;
        sync_directory(path)
    };
    write().map_err(io_err(format!("creating {}", dest.display())))?;
    info!(path = %path.display(), "initialised data directory");
    Ok(())
}

#[cfg(test)]
#[path = "datadir_tests.rs"]
mod tests;
