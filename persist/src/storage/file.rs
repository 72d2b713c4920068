//! [`FileStorage`]: segment files in a real directory. Files are opened
//! without following symlinks ([`crate::safe_fs`]), and a directory that
//! holds a symlink does not list.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::safe_fs::{self, sync_directory};
use crate::storage::{check_name, SegmentFile, Storage};

/// A [`Storage`] on a directory of the local file system.
#[derive(Debug, Clone)]
pub struct FileStorage {
    dir: PathBuf,
}

impl FileStorage {
    /// Uses `dir`, which must exist.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, name: &str) -> io::Result<PathBuf> {
        check_name(name)?;
        Ok(self.dir.join(name))
    }
}

impl Storage for FileStorage {
    fn list(&self) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in fs::read_dir(&self.dir)? {
            let entry = entry?;
            let kind = entry.file_type()?;
            if kind.is_symlink() {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "{} is a symbolic link; the log directory must hold only regular files \
                         (the runtime never follows symlinks)",
                        entry.path().display()
                    ),
                ));
            }
            if !kind.is_file() {
                continue;
            }
            if let Ok(name) = entry.file_name().into_string() {
                names.push(name);
            }
        }
        Ok(names)
    }

    fn read(&self, name: &str) -> io::Result<Vec<u8>> {
        safe_fs::read(&self.path(name)?)
    }

    fn create(&self, name: &str) -> io::Result<Box<dyn SegmentFile>> {
        let file = safe_fs::open(
            &self.path(name)?,
            safe_fs::options().write(true).create_new(true),
        )?;
        sync_directory(&self.dir)?;
        Ok(Box::new(FileSegment { file, len: 0 }))
    }

    fn open_append(&self, name: &str) -> io::Result<Box<dyn SegmentFile>> {
        let file = safe_fs::open(&self.path(name)?, safe_fs::options().append(true))?;
        let len = file.metadata()?.len();
        Ok(Box::new(FileSegment { file, len }))
    }

    fn truncate(&self, name: &str, len: u64) -> io::Result<()> {
        let file = safe_fs::open(&self.path(name)?, safe_fs::options().write(true))?;
        file.set_len(len)?;
        file.sync_all()
    }

    fn remove(&self, name: &str) -> io::Result<()> {
        fs::remove_file(self.path(name)?)
    }

    fn rename(&self, from: &str, to: &str) -> io::Result<()> {
        fs::rename(self.path(from)?, self.path(to)?)
    }

    fn sync_dir(&self) -> io::Result<()> {
        sync_directory(&self.dir)
    }
}

/// An append-only file handle.
#[derive(Debug)]
struct FileSegment {
    file: File,
    len: u64,
}

impl SegmentFile for FileSegment {
    fn append(&mut self, buf: &[u8]) -> io::Result<()> {
        match self.file.write_all(buf) {
            Ok(()) => {
                self.len += buf.len() as u64;
                Ok(())
            }
            Err(e) => {
                // Part of `buf` may be on disk: learn the real length.
                if let Ok(meta) = self.file.metadata() {
                    self.len = meta.len();
                }
                Err(e)
            }
        }
    }

    fn sync(&mut self) -> io::Result<()> {
        // Appends never change metadata the data needs beyond the size, which
        // fdatasync covers.
        self.file.sync_data()
    }

    fn len(&self) -> u64 {
        self.len
    }
}
