//! Module logs: what modules said and what happened to their deliveries,
//! kept in the data directory (`DIR/logs/`, `docs/TOOLS.md` "logs").
//!
//! The router, which learns each commit's timestamp, hands every guest log
//! line of the commit (`ctx.log`, `info!` …), every failed delivery and
//! every trigger chain the depth limit cut to this writer as a
//! [`ModuleLogRecord`]. The writer is a thread of its own fed through a
//! bounded channel: the router never waits for the disk; when the channel
//! is full a record is dropped and counted, and a `dropped` record says so
//! once there is room. Records are JSON lines appended to `module.log`;
//! before a write would take it past [`ModuleLogPolicy::max_file_bytes`]
//! it is rotated (`module.log` → `module.log.1` → … → `module.log.K`, the
//! oldest deleted), so the logs never hold more than
//! `(keep_files + 1) × max_file_bytes`. Files are opened without following
//! symlinks; an I/O failure turns module logs off with one warning (the
//! runtime goes on: these logs are a debugging aid, not the durable record,
//! which is the log).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::Arc;
use std::thread::JoinHandle;

use serde_json::json;

use crate::config::ModuleLogPolicy;

/// The directory of module logs inside the data directory.
pub const MODULE_LOG_DIR: &str = "logs";
/// The current file's name; rotated files add `.1`, `.2`, ….
pub const MODULE_LOG_FILE: &str = "module.log";

/// Records buffered between the router and the writer.
const CHANNEL_DEPTH: usize = 4096;

/// One line of the module logs.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ModuleLogRecord {
    /// The commit's timestamp.
    pub ts: u64,
    /// The module.
    pub module: Arc<str>,
    /// The reducer.
    pub reducer: String,
    /// `error`, `warn`, `info`, `debug` or `trace`.
    pub level: &'static str,
    /// `log` (a guest line), `failed_delivery` or `cut_chain`.
    pub kind: &'static str,
    /// The text.
    pub text: String,
    /// More fields (a failed delivery's cause and error kind).
    pub extra: Option<serde_json::Value>,
}

impl ModuleLogRecord {
    fn to_json(&self) -> serde_json::Value {
        let mut v = json!({
            "ts": self.ts,
            "module": &*self.module,
            "reducer": self.reducer,
            "level": self.level,
            "kind": self.kind,
            "text": self.text,
        });
        if let (Some(serde_json::Value::Object(extra)), Some(obj)) =
            (&self.extra, v.as_object_mut())
        {
            for (k, x) in extra {
                obj.insert(k.clone(), x.clone());
            }
        }
        v
    }
}

/// What the writer is sent.
enum Msg {
    Record(ModuleLogRecord),
    /// Write what came before, then exit.
    Stop,
}

/// The router's end: hands records over without waiting.
#[derive(Debug, Clone)]
pub(crate) struct ModuleLog {
    tx: Option<SyncSender<Msg>>,
    dropped: Arc<std::sync::atomic::AtomicU64>,
}

impl std::fmt::Debug for Msg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Msg::Record(_) => "Record",
            Msg::Stop => "Stop",
        })
    }
}

impl ModuleLog {
    /// Module logs turned off: every record is discarded.
    pub(crate) fn off() -> Self {
        Self {
            tx: None,
            dropped: Arc::default(),
        }
    }

    /// Hands `record` to the writer; drops (and counts) it if the writer
    /// is behind.
    pub(crate) fn send(&self, record: ModuleLogRecord) {
        let Some(tx) = &self.tx else { return };
        match tx.try_send(Msg::Record(record)) {
            Ok(()) | Err(TrySendError::Disconnected(_)) => {}
            Err(TrySendError::Full(_)) => {
                self.dropped
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        }
    }
}

/// The writer thread, stopped and joined at shutdown.
#[derive(Debug)]
pub(crate) struct ModuleLogWriter {
    handle: Option<JoinHandle<()>>,
    tx: Option<SyncSender<Msg>>,
}

impl ModuleLogWriter {
    /// Starts the writer on `data_dir/logs/` (created if missing).
    pub(crate) fn start(
        data_dir: &Path,
        policy: ModuleLogPolicy,
    ) -> std::io::Result<(ModuleLog, ModuleLogWriter)> {
        if !policy.enabled {
            return Ok((ModuleLog::off(), ModuleLogWriter::none()));
        }
        let dir = data_dir.join(MODULE_LOG_DIR);
        match std::fs::symlink_metadata(&dir) {
            Ok(m) if !m.is_dir() => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    format!(
                        "{} is not a directory (a symlink?); module logs are off",
                        dir.display()
                    ),
                ))
            }
            Ok(_) => {}
            Err(_) => std::fs::create_dir(&dir)?,
        }
        let (tx, rx) = sync_channel(CHANNEL_DEPTH);
        let dropped: Arc<std::sync::atomic::AtomicU64> = Arc::default();
        let files = Files::open(dir, policy)?;
        let counter = dropped.clone();
        let handle = std::thread::Builder::new()
            .name("interstice module logs".into())
            .spawn(move || run(files, rx, counter))?;
        let log = ModuleLog {
            tx: Some(tx.clone()),
            dropped,
        };
        let writer = ModuleLogWriter {
            handle: Some(handle),
            tx: Some(tx),
        };
        Ok((log, writer))
    }

    /// A writer that is not running (module logs off).
    pub(crate) fn none() -> Self {
        ModuleLogWriter {
            handle: None,
            tx: None,
        }
    }

    /// Lets the writer write what it was given, then joins it.
    pub(crate) fn stop(mut self) {
        if let Some(tx) = self.tx.take() {
            let _ = tx.send(Msg::Stop);
        }
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// The current file and its rotation.
struct Files {
    dir: PathBuf,
    policy: ModuleLogPolicy,
    out: BufWriter<File>,
    len: u64,
}

impl Files {
    fn open(dir: PathBuf, policy: ModuleLogPolicy) -> std::io::Result<Self> {
        let path = dir.join(MODULE_LOG_FILE);
        let file = interstice_persist::safe_fs::open(
            &path,
            interstice_persist::safe_fs::options()
                .create(true)
                .append(true),
        )?;
        let len = file.metadata()?.len();
        Ok(Files {
            dir,
            policy,
            out: BufWriter::new(file),
            len,
        })
    }

    /// `module.log.N` (`module.log` for 0).
    fn name(&self, n: usize) -> PathBuf {
        match n {
            0 => self.dir.join(MODULE_LOG_FILE),
            n => self.dir.join(format!("{MODULE_LOG_FILE}.{n}")),
        }
    }

    /// Appends one line, rotating first if it would not fit.
    fn write_line(&mut self, line: &[u8]) -> std::io::Result<()> {
        let add = line.len() as u64 + 1;
        if self.len > 0 && self.len + add > self.policy.max_file_bytes {
            self.rotate()?;
        }
        self.out.write_all(line)?;
        self.out.write_all(b"\n")?;
        self.len += add;
        Ok(())
    }

    /// `module.log.K` is deleted, each other file moves up one, and a new
    /// `module.log` starts. Renames replace a symlink, never follow it.
    fn rotate(&mut self) -> std::io::Result<()> {
        self.out.flush()?;
        let keep = self.policy.keep_files;
        if keep == 0 {
            let _ = std::fs::remove_file(self.name(0));
        } else {
            let _ = std::fs::remove_file(self.name(keep));
            for n in (0..keep).rev() {
                match std::fs::rename(self.name(n), self.name(n + 1)) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(e),
                }
            }
        }
        let fresh = Files::open(self.dir.clone(), self.policy)?;
        *self = fresh;
        Ok(())
    }
}

/// The writer's loop: writes records as they come, flushes whenever the
/// channel is empty (so `interstice logs --follow` sees them promptly).
fn run(mut files: Files, rx: Receiver<Msg>, dropped: Arc<std::sync::atomic::AtomicU64>) {
    let write = |files: &mut Files, v: serde_json::Value| -> bool {
        match files.write_line(v.to_string().as_bytes()) {
            Ok(()) => true,
            Err(e) => {
                crate::event_in!(WARN, None, None, None;
                    dir = %files.dir.display(),
                    "module logs are off from here on: {e}"
                );
                false
            }
        }
    };
    while let Ok(first) = rx.recv() {
        let mut next = Some(first);
        while let Some(msg) = next {
            let Msg::Record(record) = msg else {
                let _ = files.out.flush();
                return;
            };
            let lost = dropped.swap(0, std::sync::atomic::Ordering::Relaxed);
            if lost > 0 {
                let v = json!({
                    "level": "warn",
                    "kind": "dropped",
                    "text": format!("{lost} module log records dropped: the writer fell behind"),
                    "records": lost,
                });
                if !write(&mut files, v) {
                    return;
                }
            }
            if !write(&mut files, record.to_json()) {
                return;
            }
            next = rx.try_recv().ok();
        }
        if let Err(e) = files.out.flush() {
            crate::event_in!(WARN, None, None, None; dir = %files.dir.display(), "module logs are off from here on: {e}");
            return;
        }
    }
    let _ = files.out.flush();
}

#[cfg(test)]
mod tests;
