//! The tables a log prefix describes, rebuilt without running any wasm:
//! each install creates (or, for an upgrade, remaps by name) the module's
//! `interstice_tables::Tables`, and each committed transaction's logged
//! mutations are applied to them, in timestamp order, as replay at open
//! does. Failed transactions changed nothing.
//!
//! Memory is the state, not the log: the modules' schemas, and the rows of
//! the tracked modules' logged tables (one copy of each live row). Only
//! the modules [`LogState::new`]'s `track` accepts are rebuilt, so an
//! inspection of one module holds only that module's rows.
//!
//! A log whose first segments retention deleted (`docs/SNAPSHOT_FORMAT.md`
//! §6) is read from the oldest snapshot that it continues: the state
//! starts as that snapshot's ([`open_log`]).

use std::collections::HashMap;
use std::path::Path;

use interstice_abi::ModuleSchema;
use interstice_persist::{
    for_each_entry, read_log, CommitRecord, FileStorage, LogEntry, LogStart, ModuleInstall,
    Outcome, ReadOptions, ReadReport, Snapshot, UnloadRecord, UnloadTables,
};
use interstice_tables::{Row, Tables};

use crate::error::CliError;
use crate::inspect::decode::{log_storage, Schemas};
use crate::inspect::progress::LogProgress;
use crate::output;

/// A log opened for reading: its storage, where reading starts and the
/// snapshot it starts from (if the log's first segments were deleted).
pub struct LogSource {
    /// `DIR/log`, read without the lock.
    pub storage: FileStorage,
    /// What to read (`stop_at` set by the caller if it wants).
    pub opts: ReadOptions,
    /// The snapshot the state starts from, when the log does not start at
    /// timestamp 1.
    pub snapshot: Option<Snapshot>,
}

/// Opens `DIR`'s log for reading without the lock. When retention deleted
/// the segments before the log's first one, reading starts at the oldest
/// snapshot the remaining log continues (its timestamp is at least the
/// first segment's start minus one; one that does not read is skipped with
/// a warning).
pub fn open_log(dir: &Path) -> Result<LogSource, CliError> {
    let storage = log_storage(dir)?;
    let segments = interstice_persist::reader::list_segments(&storage)?;
    let first = segments.first().map_or(1, |s| s.0);
    if first <= 1 {
        return Ok(LogSource {
            storage,
            opts: ReadOptions::default(),
            snapshot: None,
        });
    }
    let snaps_dir = dir.join(interstice_persist::SNAPSHOTS_DIR);
    let mut snaps = interstice_persist::list_snapshots(&snaps_dir)?;
    // Oldest first, so that as much of the remaining log as possible is
    // read.
    snaps.reverse();
    let mut snap = None;
    for (_, path) in snaps.into_iter().filter(|(ts, _)| ts + 1 >= first) {
        match interstice_persist::read_snapshot(&path) {
            Ok(s) => {
                snap = Some(s);
                break;
            }
            Err(e) => output::progress(format!("warning: skipping snapshot: {e}")),
        }
    }
    let Some(snap) = snap else {
        return Err(CliError::CheckFailed(format!(
            "the log starts at timestamp {first} (earlier segments were deleted) and no \
             valid snapshot in {} covers the entries before it",
            snaps_dir.display()
        )));
    };
    let opts = ReadOptions::default().with_start(Some(LogStart {
        ts: snap.ts,
        hash: snap.log_hash,
    }));
    Ok(LogSource {
        storage,
        opts,
        snapshot: Some(snap),
    })
}

/// One module's rebuilt tables.
pub struct ModuleTables {
    /// Timestamp of the module's first install.
    pub install_ts: u64,
    /// Its tables (with the schema of its latest install).
    pub tables: Tables,
}

/// The state after a log prefix: every module's schema, and the tables of
/// the tracked modules.
pub struct LogState {
    /// The current schema of every installed module.
    pub schemas: Schemas,
    /// Installed module names, in install order (an unloaded module is
    /// not listed).
    pub order: Vec<String>,
    /// Modules unloaded with their tables kept (their tables stay in
    /// `tables` for a later install), with the unload's timestamp.
    pub parked: Vec<(String, u64)>,
    tables: HashMap<String, ModuleTables>,
    track: Box<dyn Fn(&str) -> bool>,
}

impl LogState {
    /// The empty state; `track` decides which modules' tables are rebuilt.
    pub fn new(track: impl Fn(&str) -> bool + 'static) -> Self {
        Self {
            schemas: Schemas::default(),
            order: Vec::new(),
            parked: Vec::new(),
            tables: HashMap::new(),
            track: Box::new(track),
        }
    }

    /// The state a snapshot holds (tracked modules only get tables).
    pub fn from_snapshot(
        snap: &Snapshot,
        track: impl Fn(&str) -> bool + 'static,
    ) -> Result<Self, CliError> {
        let mut s = Self::new(track);
        for m in &snap.modules {
            s.schemas.install(&m.name, &m.schema)?;
            match m.unloaded {
                Some(ts) => s.parked.push((m.name.clone(), ts)),
                None => s.order.push(m.name.clone()),
            }
            if (s.track)(&m.name) {
                let schema = ModuleSchema::decode(&m.schema).map_err(|e| {
                    CliError::CheckFailed(format!(
                        "snapshot at ts {}: the schema of module {} does not decode: {e}",
                        snap.ts, m.name
                    ))
                })?;
                let tables = Tables::restore(&schema.tables, &m.tables).map_err(|e| {
                    CliError::CheckFailed(format!(
                        "snapshot at ts {}: module {}: {e}",
                        snap.ts, m.name
                    ))
                })?;
                s.tables.insert(
                    m.name.clone(),
                    ModuleTables {
                        install_ts: m.install_ts,
                        tables,
                    },
                );
            }
        }
        Ok(s)
    }

    /// The state at the start of `source` (empty, or its snapshot's).
    pub fn start(
        source: &LogSource,
        track: impl Fn(&str) -> bool + 'static,
    ) -> Result<Self, CliError> {
        match &source.snapshot {
            Some(snap) => Self::from_snapshot(snap, track),
            None => Ok(Self::new(track)),
        }
    }

    /// Applies an install: a new module gets empty tables, an upgrade
    /// keeps the rows of the tables it keeps (remapped by name, as the
    /// runtime does) and drops the others.
    pub fn install(&mut self, i: &ModuleInstall) -> Result<(), CliError> {
        self.schemas.install(&i.name, &i.schema)?;
        self.parked.retain(|(m, _)| m != &i.name);
        let Some(schema) = self.schemas.get(&i.name) else {
            return Ok(());
        };
        match self.tables.get_mut(&i.name) {
            Some(m) => {
                m.tables.remap(&schema.tables);
                if !self.order.contains(&i.name) {
                    // Loaded again with the tables its unload kept.
                    self.order.push(i.name.clone());
                }
            }
            None => {
                if !self.order.contains(&i.name) {
                    self.order.push(i.name.clone());
                }
                if (self.track)(&i.name) {
                    let tables = Tables::new(&schema.tables);
                    self.tables.insert(
                        i.name.clone(),
                        ModuleTables {
                            install_ts: i.ts,
                            tables,
                        },
                    );
                }
            }
        }
        Ok(())
    }

    /// Applies an unload: the module is no longer listed; its tables are
    /// kept for a later install or dropped, as logged.
    pub fn unload(&mut self, u: &UnloadRecord) {
        self.order.retain(|m| m != &u.name);
        match u.tables {
            UnloadTables::Keep => self.parked.push((u.name.clone(), u.ts)),
            UnloadTables::Drop => {
                self.tables.remove(&u.name);
                self.schemas.remove(&u.name);
            }
        }
    }

    /// The schemas of the loaded modules, in install order (not those of
    /// modules unloaded since).
    pub fn loaded_schemas(&self) -> impl Iterator<Item = &ModuleSchema> {
        self.order.iter().filter_map(|m| self.schemas.get(m))
    }

    /// Applies a commit's mutations (none for a failed transaction) and
    /// returns each mutation's previous row (`None`: there was none, or the
    /// module is not tracked).
    pub fn commit(&mut self, c: &CommitRecord) -> Result<Vec<Option<Row>>, CliError> {
        if !matches!(c.outcome, Outcome::Ok(_)) {
            return Ok(vec![None; c.mutations.len()]);
        }
        let Some(m) = self.tables.get_mut(&c.module) else {
            if self.schemas.get(&c.module).is_none() {
                return Err(CliError::CheckFailed(format!(
                    "ts {}: commit of {}.{} before the module was installed",
                    c.ts, c.module, c.reducer
                )));
            }
            return Ok(vec![None; c.mutations.len()]);
        };
        c.mutations
            .iter()
            .map(|mu| {
                m.tables
                    .apply_logged(mu.table, &mu.op)
                    .map(|(_, old, _)| old)
                    .map_err(|e| {
                        CliError::CheckFailed(format!(
                            "ts {}: {}.{}: mutation of table #{} does not apply: {e}",
                            c.ts, c.module, c.reducer, mu.table
                        ))
                    })
            })
            .collect()
    }

    /// Takes a tracked module's rebuilt tables out of the state.
    pub fn take_tables(&mut self, module: &str) -> Option<ModuleTables> {
        self.tables.remove(module)
    }

    /// The rebuilt tables of a tracked module.
    pub fn tables(&self, module: &str) -> Option<&ModuleTables> {
        self.tables.get(module)
    }
}

/// Replays `dir`'s log up to `stop_at` (the end when `None`), rebuilding
/// the tables of the modules `track` accepts; warns on stderr about a torn
/// tail and about a `stop_at` past the log's end.
pub fn replay(
    dir: &Path,
    stop_at: Option<u64>,
    track: impl Fn(&str) -> bool + 'static,
    what: &'static str,
) -> Result<(LogState, ReadReport), CliError> {
    let mut source = open_log(dir)?;
    if stop_at.is_some() {
        source.opts = source.opts.with_stop_at(stop_at);
    }
    let mut state = LogState::start(&source, track)?;
    let mut progress = LogProgress::new(what);
    let report = read_log(
        &source.storage,
        &source.opts,
        for_each_entry(|entry| {
            progress.entry(entry.ts());
            match &entry {
                LogEntry::Install(i) => state.install(i)?,
                LogEntry::Commit(c) => {
                    state.commit(c)?;
                }
                LogEntry::Unload(u) => state.unload(u),
                LogEntry::Engine(_) => {}
            }
            Ok::<(), CliError>(())
        }),
    )?;
    drop(progress);
    warn_torn_tail(&report, "state as of");
    if let Some(ts) = stop_at {
        if report.last_ts < ts {
            output::progress(format!(
                "note: the log ends at ts {}, before ts {ts}: the state at its end",
                report.last_ts
            ));
        }
    }
    Ok((state, report))
}

/// Warns on stderr when a read stopped at a torn tail (a write in
/// progress, or a crash): `done` says what the command did up to the last
/// entry read ("shown up to").
pub fn warn_torn_tail(report: &ReadReport, done: &str) {
    if let Some(torn) = &report.summary.torn_tail {
        output::progress(format!(
            "warning: the log ends in a torn tail (a write in progress or a crash); {done} ts \
             {}: {torn}",
            report.last_ts
        ));
    }
}
