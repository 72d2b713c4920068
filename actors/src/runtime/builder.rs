//! [`RuntimeBuilder`] and opening a runtime: lock, replay, start the actors.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use interstice_abi::cbor::Writer;
use interstice_persist::{
    encode_entry, list_snapshots, read_snapshot, DataDir, EngineInfo, EngineRecord, LogEntry,
    LogEntryRef, LogStart, PersistError, WriterOptions, SNAPSHOTS_DIR,
};
use interstice_sync::Refusal;

use crate::actors::log_writer::SnapshotFeed;
use crate::actors::messages::ResumePending;
use crate::actors::module_log::{ModuleLog, ModuleLogWriter};
use crate::actors::shared::Shared;
use crate::actors::system::{self};
use crate::actors::trace::TraceWriter;
use crate::config::{Durability, Limits, RuntimeConfig};
use crate::error::{RuntimeError, SnapshotError};
use crate::recovery::deliveries::DeliveryLimits;
use crate::recovery::log_state::LogState;
use crate::recovery::replay::Replayer;
use crate::recovery::snapshot::{Shadow, SnapshotterConfig, SnapshotterHandle};
use crate::wasm::engine::WasmHost;

use super::load::register_module;
use super::unload::{KeptTables, UnloadedModule};
use super::{Inner, Runtime};

/// Builds a [`Runtime`].
#[derive(Debug, Clone)]
pub struct RuntimeBuilder {
    pub(super) config: RuntimeConfig,
}

impl RuntimeBuilder {
    /// Sets the data directory (created if missing).
    pub fn data_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.config.data_dir = dir.into();
        self
    }

    /// Sets the durability mode (default: [`Durability::Sync`]).
    pub fn durability(mut self, d: Durability) -> Self {
        self.config.durability = d;
        self
    }

    /// Sets the per-call limits.
    pub fn limits(mut self, l: Limits) -> Self {
        self.config.limits = l;
        self
    }

    /// Sets the log segment size.
    pub fn segment_size(mut self, bytes: u64) -> Self {
        self.config.segment_size = bytes;
        self
    }

    /// Takes a snapshot every `n` log entries (and enables snapshots).
    pub fn snapshot_every_commits(mut self, n: u64) -> Self {
        self.config.snapshots.enabled = true;
        self.config.snapshots.every_commits = Some(n.max(1));
        self
    }

    /// Takes a snapshot every `bytes` of log written (and enables snapshots).
    pub fn snapshot_every_bytes(mut self, bytes: u64) -> Self {
        self.config.snapshots.enabled = true;
        self.config.snapshots.every_bytes = Some(bytes.max(1));
        self
    }

    /// Runs the snapshotter without a threshold, for
    /// [`Runtime::snapshot_now`] only.
    pub fn snapshots(mut self, enabled: bool) -> Self {
        self.config.snapshots.enabled = enabled;
        self
    }

    /// Whether and how much of the module logs (`DIR/logs/`) the runtime
    /// keeps (default: on, 8 MiB per file, 4 rotated files).
    pub fn module_logs(mut self, policy: crate::config::ModuleLogPolicy) -> Self {
        self.config.module_logs = policy;
        self
    }

    /// Writes reducer traces (`docs/TOOLS.md`, "Reducer traces"): Chrome
    /// Trace Event JSON and/or folded stacks, as `config` names them.
    /// The files are created when the runtime opens and closed by
    /// [`Runtime::shutdown`] (or when the runtime is dropped).
    ///
    /// [`Runtime::shutdown`]: crate::Runtime::shutdown
    pub fn trace(mut self, config: crate::config::TraceConfig) -> Self {
        self.config.trace = config;
        self
    }

    /// How many snapshots retention keeps (default 2, at least 1). Log
    /// segments the oldest kept snapshot fully covers are deleted.
    pub fn keep_snapshots(mut self, k: usize) -> Self {
        self.config.snapshots.keep = k.max(1);
        self
    }

    /// Keeps the log in `storage` instead of the data directory's `log/`
    /// (for fault injection: `interstice_persist::FaultyStorage`).
    pub fn log_storage(mut self, storage: Arc<dyn interstice_persist::Storage>) -> Self {
        self.config.log_storage = Some(storage);
        self
    }

    /// Inspection: replays only the log entries with timestamps up to `ts`
    /// and opens **read-only** — every write is refused with
    /// [`RuntimeError::ReadOnly`], since appending after a truncated replay
    /// would fork the log's history. The log is not changed (not even a torn
    /// tail is cut).
    pub fn stop_at(mut self, ts: u64) -> Self {
        self.config.stop_at = Some(ts);
        self
    }

    /// Recovery: replays the valid prefix of a damaged log up to its first
    /// problem, then resumes at `pos` (a later segment start, or the offset
    /// of a later complete batch), accepting the chain break there and
    /// verifying again from there on. Opens **read-only**, like
    /// [`RuntimeBuilder::stop_at`]; the log is not changed.
    pub fn skip_to_log_offset(mut self, pos: interstice_persist::LogPosition) -> Self {
        self.config.skip_to_log_offset = Some(pos);
        self
    }

    /// Opens the runtime: locks the data directory, replays the log (without
    /// running wasm), starts the actors and resumes pending deliveries.
    pub async fn open(self) -> Result<Runtime, RuntimeError> {
        tokio::task::spawn_blocking(move || self.open_blocking())
            .await
            .map_err(|e| RuntimeError::Internal(format!("open task failed: {e}")))?
    }

    /// [`RuntimeBuilder::open`] for callers outside an async context.
    pub fn open_blocking(self) -> Result<Runtime, RuntimeError> {
        Runtime::open_with(self.config)
    }
}

impl Runtime {
    fn open_with(config: RuntimeConfig) -> Result<Runtime, RuntimeError> {
        let started = std::time::Instant::now();
        let data_dir = DataDir::open(&config.data_dir, true)?;
        let cache_dir = config.data_dir.join("cache");
        std::fs::create_dir_all(&cache_dir)?;
        let host = Arc::new(WasmHost::new(config.limits)?);
        let limits = DeliveryLimits::from(&config.limits);
        let storage = config
            .log_storage
            .clone()
            .unwrap_or_else(|| data_dir.log_storage());
        let snaps_dir = config.data_dir.join(SNAPSHOTS_DIR);
        // A recovery open reads the log as it is, from the start; an
        // inspection open (`stop_at`) may start from a snapshot at or before
        // its timestamp (the same state: a retained log, whose start
        // retention deleted, can be inspected too).
        let candidates = match (config.skip_to_log_offset.is_some(), config.stop_at) {
            (true, _) => Vec::new(),
            (false, None) => list_snapshots(&snaps_dir)?,
            (false, Some(stop)) => {
                let mut all = list_snapshots(&snaps_dir)?;
                all.retain(|(ts, _)| *ts <= stop);
                all
            }
        };
        let mut opened = None;
        for (_, path) in candidates {
            let file = path.display().to_string();
            let snap = match read_snapshot(&path) {
                Ok(s) => s,
                Err(e) => {
                    crate::event_in!(WARN, None, None, None; file = %file, "skipping snapshot: {e}");
                    continue;
                }
            };
            let mut replayer = match Replayer::from_snapshot(
                &host, &data_dir, &cache_dir, limits, &snap,
            ) {
                Ok(r) => r,
                Err(e) => {
                    crate::event_in!(WARN, None, None, None; file = %file, "skipping snapshot: {e}");
                    continue;
                }
            };
            let start = LogStart {
                ts: snap.ts,
                hash: snap.log_hash,
            };
            match open_log(&config, storage.clone(), Some(start), |entry| {
                replayer.apply(entry)
            }) {
                Ok(log) => {
                    crate::event_in!(INFO, None, None, Some(snap.ts); file = %file, "starting from snapshot");
                    opened = Some((replayer, log));
                    break;
                }
                Err(RuntimeError::Persist(e @ PersistError::LogStartMismatch { .. })) => {
                    crate::event_in!(WARN, None, None, None; file = %file, "skipping snapshot: {e}");
                }
                Err(e) => return Err(e),
            }
        }
        let (mut replayer, log) = match opened {
            Some(found) => found,
            None => {
                let mut replayer = Replayer::new(&host, &data_dir, &cache_dir, limits);
                let log = open_log(&config, storage.clone(), None, |entry| {
                    replayer.apply(entry)
                })?;
                (replayer, log)
            }
        };
        replayer.state.check_complete()?;
        let mut log = log;
        record_engine(&mut log, &mut replayer.state, &host.engine_info)?;
        // Module logs are written only by a runtime that writes the log.
        let (module_log, module_log_writer) = if log.writer.is_some() {
            match ModuleLogWriter::start(&config.data_dir, config.module_logs) {
                Ok(pair) => pair,
                Err(e) => {
                    crate::event_in!(WARN, None, None, None;
                        data_dir = %config.data_dir.display(),
                        "module logs are off: {e}"
                    );
                    (ModuleLog::off(), ModuleLogWriter::none())
                }
            }
        } else {
            (ModuleLog::off(), ModuleLogWriter::none())
        };
        let (tracer, trace_writer) = match TraceWriter::start(&config.trace)? {
            Some((t, w)) => (Some(t), Some(w)),
            None => (None, None),
        };
        let shared = Arc::new(Shared::new(
            log.next_ts,
            data_dir.secret(),
            config.limits,
            module_log,
            tracer,
        ));
        if let Some(reason) = log.read_only {
            shared.refuse_writes(Refusal::ReadOnly(reason));
        }
        shared
            .metrics
            .replayed_entries
            .store(replayer.state.entries, Ordering::Relaxed);
        shared
            .metrics
            .replayed_mutations
            .store(replayer.state.mutations, Ordering::Relaxed);
        let last_ts = log.next_ts - 1;
        let snapshotter = match (&log.writer, config.snapshots.enabled) {
            (Some(_), true) => {
                let snap = replayer.state.snapshot(last_ts, log.last_hash);
                let shadow = Shadow::from_snapshot(&snap, limits)
                    .map_err(|e| RuntimeError::Snapshot(SnapshotError::Build(Box::new(e))))?;
                let cfg = SnapshotterConfig {
                    dir: snaps_dir,
                    keep: config.snapshots.keep.max(1),
                    storage: storage.clone(),
                };
                Some(SnapshotterHandle::spawn(shadow, cfg)?)
            }
            _ => None,
        };
        let feed = snapshotter.as_ref().map(|h| SnapshotFeed {
            tx: h.sender(),
            every_commits: config.snapshots.every_commits,
            every_bytes: config.snapshots.every_bytes,
            commits_since: 0,
            bytes_since: 0,
        });
        let (modules, pending, state) = replayer.finish();
        let handles = system::start(
            shared.clone(),
            log.writer,
            config.durability,
            (state.subs, state.fanout),
            last_ts,
            feed,
        )?;
        for (name, m) in modules {
            register_module(&shared, &host, &handles.supervisor, m.compiled, m.tables)?;
            crate::event_in!(DEBUG, Some(&name), None, None; "module restored");
        }
        let mut unloaded: std::collections::HashMap<String, UnloadedModule> = state
            .unloaded
            .iter()
            .map(|(name, &ts)| (name.clone(), UnloadedModule { ts, kept: None }))
            .collect();
        for (m, ts) in state.parked {
            let kept = KeptTables {
                schema: m.schema,
                wasm_hash: m.wasm_hash,
                tables: m.tables.into_tables(),
            };
            unloaded.insert(
                m.name,
                UnloadedModule {
                    ts,
                    kept: Some(kept),
                },
            );
        }
        handles.router.do_send(ResumePending(pending));
        let metrics = shared.metrics.snapshot();
        crate::event_in!(INFO, None, None, Some(last_ts);
            data_dir = %config.data_dir.display(),
            entries = metrics.replayed_entries,
            mutations = metrics.replayed_mutations,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "runtime open"
        );
        Ok(Runtime {
            inner: Arc::new(Inner {
                supervisor: handles.supervisor.clone(),
                router: handles.router.clone(),
                log: handles.log.clone(),
                handles: Mutex::new(Some(handles)),
                snapshotter: Mutex::new(snapshotter),
                module_log: Mutex::new(Some(module_log_writer)),
                trace: Mutex::new(trace_writer),
                shared,
                host,
                data_dir: Mutex::new(Some(data_dir)),
                cache_dir,
                load_lock: tokio::sync::Mutex::new(()),
                unloaded: Mutex::new(unloaded),
                closed: AtomicBool::new(false),
            }),
        })
    }
}

/// Appends an `Engine` entry (synced) when this build's engine is not the
/// one the log last recorded, so that every commit's engine is known
/// (`docs/LOG_FORMAT.md` §5, `docs/DETERMINISM.md`). Not for an empty log
/// (its first install records the engine) nor one opened read-only.
fn record_engine(
    log: &mut OpenedLog,
    state: &mut LogState,
    engine: &EngineInfo,
) -> Result<(), RuntimeError> {
    let Some(writer) = log.writer.as_mut() else {
        return Ok(());
    };
    if log.next_ts == 1 || state.engine.as_ref() == Some(engine) {
        return Ok(());
    }
    let entry = LogEntry::Engine(EngineRecord {
        ts: log.next_ts,
        engine: engine.clone(),
    });
    let mut w = Writer::new();
    encode_entry(&entry, &mut w);
    let hash = writer.append_batch(log.next_ts, 1, w.as_slice())?;
    writer.sync()?;
    crate::event_in!(INFO, None, None, Some(log.next_ts); engine = %engine, "recorded a new engine in the log");
    log.next_ts += 1;
    log.last_hash = hash;
    state.engine = Some(engine.clone());
    Ok(())
}

/// The log as [`Runtime::open_with`] found it.
struct OpenedLog {
    /// `None` when opened read-only.
    writer: Option<interstice_persist::LogWriter>,
    /// One past the last replayed timestamp.
    next_ts: u64,
    /// The log's hash at `next_ts - 1`.
    last_hash: interstice_persist::Hash,
    /// Why writes are refused, when opened read-only.
    read_only: Option<String>,
}

/// Opens the log for appending (cutting a torn tail), replaying it into
/// `on_entry`; or, with `stop_at` / `skip_to_log_offset`, reads the part
/// asked for without changing anything and opens read-only.
fn open_log(
    config: &RuntimeConfig,
    storage: Arc<dyn interstice_persist::Storage>,
    start: Option<LogStart>,
    mut on_entry: impl FnMut(LogEntryRef<'_>) -> Result<(), RuntimeError>,
) -> Result<OpenedLog, RuntimeError> {
    let visit = |batch: interstice_persist::Batch<'_>| {
        batch.entries.into_iter().try_for_each(&mut on_entry)
    };
    if config.stop_at.is_none() && config.skip_to_log_offset.is_none() {
        let opts = WriterOptions::default().with_segment_size(config.segment_size);
        let (writer, recovered) =
            interstice_persist::LogWriter::open_replaying(storage, opts, start, visit)?;
        return Ok(OpenedLog {
            writer: Some(writer),
            next_ts: recovered.next_ts,
            last_hash: recovered.last_hash,
            read_only: None,
        });
    }
    let opts = interstice_persist::ReadOptions::default()
        .with_start(start)
        .with_stop_at(config.stop_at)
        .with_resume_at(config.skip_to_log_offset.clone());
    let report = interstice_persist::read_log(&*storage, &opts, visit)?;
    let mut how = Vec::new();
    if let Some(ts) = config.stop_at {
        how.push(format!(
            "replayed up to timestamp {} only (stop at {ts})",
            report.last_ts
        ));
    }
    if let Some(skip) = &report.skipped {
        let after = skip
            .first_ts_after
            .map_or("nothing after it".to_owned(), |t| format!("timestamp {t}"));
        crate::event_in!(WARN, None, None, Some(skip.last_ts_before);
            damage = %skip.damage,
            resumed_at = %skip.resumed_at,
            "skipped a damaged region of the log: replayed up to timestamp {}, resumed at {} \
             ({after})",
            skip.last_ts_before,
            skip.resumed_at
        );
        how.push(format!(
            "skipped the damaged log region after timestamp {} ({}), resuming at {} ({after})",
            skip.last_ts_before, skip.damage, skip.resumed_at
        ));
    }
    if let Some(t) = &report.summary.torn_tail {
        crate::event_in!(WARN, None, None, None; "the log ends in a {t}; left in place (read-only)");
    }
    Ok(OpenedLog {
        writer: None,
        next_ts: report.last_ts + 1,
        last_hash: report.summary.last_hash,
        read_only: Some(format!(
            "opened for inspection: {}; writing now would fork the log's history, so writes \
             are refused (reopen without stop-at / skip-to-log-offset to write)",
            how.join("; ")
        )),
    })
}
