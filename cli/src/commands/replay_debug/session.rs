//! The debugger's position in the log and the state there.
//!
//! - **Opening** reads the whole log once (the hash chain verified; a
//!   corrupt log is an error here), rebuilding the state as `tables` does
//!   (`inspect/state.rs`, no wasm), taking checkpoints along the way and
//!   learning every module's reducers and tables (for checking
//!   breakpoints). The session then covers the log up to the last entry
//!   read then; entries a live runtime appends later are not seen.
//! - **Stepping forward** pulls entries from a reader thread that streams
//!   the log from the last checkpoint restored, through a channel of
//!   [`CURSOR_DEPTH`] entries: one step costs one entry.
//! - **Going back** (`back`, `goto`, `--load`) restores the latest
//!   checkpoint before the target and steps forward from it.
//! - `diff` and `rerun` rebuild the state they need on the side, from a
//!   checkpoint, without moving the position.
//!
//! Nothing takes the data directory's lock or writes into it.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{sync_channel, Receiver};

use interstice_abi::cbor::Reader;
use interstice_abi::{ModuleSchema, TableSchema};
use interstice_actors::{InstalledModule, Limits};
use interstice_persist::{
    read_log, Batch, Hash, LogEntry, LogStart, ModuleInstall, MutationOp, Outcome, ReadOptions,
    Snapshot, SnapshotModule,
};
use interstice_tables::{Cursor, Row, Tables};
use serde_json::{json, Value as Json};

use super::checkpoints::Checkpoints;
use super::command::BreakSpec;
use crate::error::CliError;
use crate::inspect::decode::{commit_json, decode_json, log_storage, mutation_parts};
use crate::inspect::predicate::{compile, table_query};
use crate::inspect::progress::LogProgress;
use crate::inspect::rows::for_each_page;
use crate::inspect::state::{open_log, warn_torn_tail, LogState};

/// Entries the reader thread reads ahead of the position.
const CURSOR_DEPTH: usize = 64;
/// Most distinct rows one `diff` reports; a wider window is refused.
pub(crate) const MAX_DIFF_ROWS: usize = 100_000;

/// A bad command argument (exit code 2 at the end of a script).
fn bad(msg: impl Into<String>) -> CliError {
    CliError::Usage(msg.into())
}

/// The state after a log prefix, with each module's latest install.
pub(crate) struct World {
    /// Schemas and tables.
    pub(crate) state: LogState,
    /// The latest install of each module (binary hash, schema bytes).
    installs: HashMap<String, ModuleInstall>,
}

impl World {
    /// The state a checkpoint holds.
    fn from_snapshot(s: &Snapshot) -> Result<Self, CliError> {
        let state = LogState::from_snapshot(s, |_| true)?;
        let installs = s
            .modules
            .iter()
            .map(|m| (m.name.clone(), m.install()))
            .collect();
        Ok(Self { state, installs })
    }

    /// Applies one entry; for a commit, each mutation's previous row.
    fn apply(&mut self, e: &LogEntry) -> Result<Vec<Option<Row>>, CliError> {
        match e {
            LogEntry::Install(i) => {
                self.state.install(i)?;
                self.installs.insert(i.name.clone(), i.clone());
                Ok(Vec::new())
            }
            LogEntry::Commit(c) => self.state.commit(c),
            LogEntry::Unload(u) => {
                self.state.unload(u);
                Ok(Vec::new())
            }
            LogEntry::Engine(_) => Ok(Vec::new()),
        }
    }

    /// The state as a checkpoint, at `ts` whose batch has hash `hash`.
    fn snapshot(&self, ts: u64, hash: Hash) -> Snapshot {
        let listed = self.state.order.iter().map(|n| (n, None));
        let parked = self.state.parked.iter().map(|(n, ts)| (n, Some(*ts)));
        let modules = listed
            .chain(parked)
            .filter_map(|(name, unloaded)| {
                let i = self.installs.get(name)?;
                let t = self.state.tables(name)?;
                Some(SnapshotModule {
                    name: name.clone(),
                    version: i.version.clone(),
                    install_ts: t.install_ts,
                    schema: i.schema.clone(),
                    schema_hash: i.schema_hash,
                    wasm_hash: i.wasm_hash,
                    tables: t.tables.export_logged(),
                    unloaded,
                })
            })
            .collect();
        Snapshot {
            ts,
            log_hash: hash,
            modules,
            pending: Vec::new(),
            fanout: Vec::new(),
            engine: None,
        }
    }

    /// The JSON form of an entry, rows decoded with this state's schemas.
    pub(crate) fn entry_json(&self, e: &LogEntry) -> Json {
        match e {
            LogEntry::Install(i) => json!({
                "kind": "install", "ts": i.ts, "module": i.name, "version": i.version,
            }),
            LogEntry::Commit(c) => commit_json(c, self.state.schemas.get(&c.module)),
            LogEntry::Engine(r) => json!({
                "kind": "engine", "ts": r.ts, "engine": interstice_actors::engine_json(&r.engine),
            }),
            LogEntry::Unload(u) => crate::inspect::unload_json(u),
        }
    }
}

/// What the log holds over its whole length: each module's reducers and
/// tables (the table's latest schema), for checking names.
#[derive(Debug, Default)]
struct Known {
    modules: BTreeMap<String, (BTreeSet<String>, BTreeMap<String, TableSchema>)>,
}

impl Known {
    fn add(&mut self, schema: &ModuleSchema) {
        let m = self.modules.entry(schema.name.clone()).or_default();
        m.0.extend(schema.reducers.iter().map(|r| r.name.clone()));
        for t in &schema.tables {
            m.1.insert(t.name.clone(), t.clone());
        }
    }

    fn add_bytes(&mut self, name: &str, bytes: &[u8]) -> Result<(), CliError> {
        let s = ModuleSchema::decode(bytes).map_err(|e| {
            CliError::CheckFailed(format!(
                "the logged schema of module {name} does not decode: {e}"
            ))
        })?;
        self.add(&s);
        Ok(())
    }

    fn module(
        &self,
        module: &str,
    ) -> Result<&(BTreeSet<String>, BTreeMap<String, TableSchema>), CliError> {
        self.modules.get(module).ok_or_else(|| {
            let names: Vec<&str> = self.modules.keys().map(String::as_str).collect();
            bad(format!(
                "no module `{module}` in the log (modules: {})",
                names.join(", ")
            ))
        })
    }

    fn table(&self, module: &str, table: &str) -> Result<&TableSchema, CliError> {
        let m = self.module(module)?;
        m.1.get(table).ok_or_else(|| {
            let names: Vec<&str> = m.1.keys().map(String::as_str).collect();
            bad(format!(
                "module `{module}` has no table `{table}` in any logged version (its tables: {})",
                names.join(", ")
            ))
        })
    }
}

/// What the reader thread sends.
enum Msg {
    Entry(Box<LogEntry>),
    /// The batch ending at this ts, with its hash (after its entries).
    BatchEnd(u64, Hash),
    End,
    Failed(String),
}

/// The reader thread's end of the log, positioned after a checkpoint.
struct LogCursor {
    rx: Receiver<Msg>,
    peeked: Option<Msg>,
}

impl LogCursor {
    /// Streams the entries after checkpoint `from`, up to `stop_at`.
    fn start(dir: &Path, from: &Snapshot, stop_at: u64) -> Self {
        let (tx, rx) = sync_channel(CURSOR_DEPTH);
        if from.ts >= stop_at {
            let _ = tx.send(Msg::End);
            return Self { rx, peeked: None };
        }
        let dir = dir.to_path_buf();
        let start = (from.ts > 0).then_some(LogStart {
            ts: from.ts,
            hash: from.log_hash,
        });
        let spawned = std::thread::Builder::new()
            .name("replay-debug reader".into())
            .spawn(move || {
                let gone = || CliError::CheckFailed("the debugger stopped reading".into());
                let result = (|| -> Result<(), CliError> {
                    let storage = log_storage(&dir)?;
                    let opts = ReadOptions::default()
                        .with_stop_at(Some(stop_at))
                        .with_start(start);
                    read_log(&storage, &opts, |b: Batch<'_>| -> Result<(), CliError> {
                        let end = b.first_ts + u64::from(b.count).saturating_sub(1);
                        let hash = b.hash;
                        for e in b.entries {
                            tx.send(Msg::Entry(Box::new(e.into_owned())))
                                .map_err(|_| gone())?;
                        }
                        if end <= stop_at {
                            tx.send(Msg::BatchEnd(end, hash)).map_err(|_| gone())?;
                        }
                        Ok(())
                    })?;
                    Ok(())
                })();
                let _ = tx.send(match result {
                    Ok(()) => Msg::End,
                    Err(e) => Msg::Failed(e.to_string()),
                });
            });
        if let Err(e) = spawned {
            let (tx, rx) = sync_channel(1);
            let _ = tx.send(Msg::Failed(format!("starting the log reader: {e}")));
            return Self { rx, peeked: None };
        }
        Self { rx, peeked: None }
    }

    fn next(&mut self) -> Msg {
        self.peeked.take().unwrap_or_else(|| {
            self.rx
                .recv()
                .unwrap_or_else(|_| Msg::Failed("the log reader stopped".into()))
        })
    }

    fn peek(&mut self) -> &Msg {
        let m = self.next();
        self.peeked.insert(m)
    }
}

/// A breakpoint, checked against the log's names.
#[derive(Debug, Clone)]
pub(crate) struct Breakpoint {
    /// Its id (for `delete`).
    pub(crate) id: u64,
    /// What it stops at.
    pub(crate) spec: BreakSpec,
}

/// The debugger's position, state and checkpoints.
pub(crate) struct Session {
    dir: PathBuf,
    limits: Limits,
    last_ts: u64,
    known: Known,
    pos: u64,
    world: World,
    current: Option<LogEntry>,
    cursor: LogCursor,
    checkpoints: Checkpoints,
}

impl Session {
    /// Opens `dir`'s log (module docs). `loaded`: checkpoints from an
    /// export; each must sit at a batch boundary of this log with the same
    /// hash and hold exactly the state the log replays to there.
    pub(crate) fn open(
        dir: &Path,
        limits: Limits,
        every: u64,
        max: usize,
        loaded: &[Snapshot],
    ) -> Result<Self, CliError> {
        let source = open_log(dir)?;
        let base = source.snapshot.clone().unwrap_or(Snapshot {
            ts: 0,
            log_hash: [0; 32],
            modules: Vec::new(),
            pending: Vec::new(),
            fanout: Vec::new(),
            engine: None,
        });
        let mut world = World::from_snapshot(&base)?;
        let mut known = Known::default();
        for m in &base.modules {
            known.add_bytes(&m.name, &m.schema)?;
        }
        let mut checkpoints = Checkpoints::new(base.clone(), every, max);
        let mut pending: BTreeMap<u64, &Snapshot> = BTreeMap::new();
        for (i, s) in loaded.iter().enumerate() {
            if i == 0 {
                if s.ts != base.ts || s.modules != base.modules {
                    return Err(bad(format!(
                        "--load: the export starts at ts {}, this log's readable start is ts {}: \
                         it was exported from another data directory",
                        s.ts, base.ts
                    )));
                }
            } else {
                pending.insert(s.ts, s);
            }
        }
        let mut progress = LogProgress::new("replay-debug: reading the log");
        let report = read_log(
            &source.storage,
            &source.opts,
            |b: Batch<'_>| -> Result<(), CliError> {
                for e in b.entries {
                    let e = e.into_owned();
                    progress.entry(e.ts());
                    if let LogEntry::Install(i) = &e {
                        known.add_bytes(&i.name, &i.schema)?;
                    }
                    world.apply(&e)?;
                }
                let end = b.first_ts + u64::from(b.count).saturating_sub(1);
                if let Some(l) = pending.remove(&end) {
                    if l.log_hash != b.hash {
                        return Err(bad(format!(
                            "--load: the checkpoint at ts {end} does not match this log (the \
                             batch hash differs): it was exported from another data directory"
                        )));
                    }
                    if world.snapshot(end, b.hash).modules != l.modules {
                        return Err(bad(format!(
                            "--load: the checkpoint at ts {end} does not hold the state this \
                             log replays to there"
                        )));
                    }
                    checkpoints.add(l.clone());
                } else if checkpoints.wants(end) {
                    checkpoints.add(world.snapshot(end, b.hash));
                }
                Ok(())
            },
        )?;
        drop(progress);
        warn_torn_tail(&report, "debugging the log up to");
        if let Some((ts, _)) = pending.first_key_value() {
            return Err(bad(format!(
                "--load: the checkpoint at ts {ts} is not at a batch boundary of this log (or \
                 past its end)"
            )));
        }
        let last_ts = report.last_ts.max(base.ts);
        let cursor = LogCursor::start(dir, &base, last_ts);
        Ok(Self {
            dir: dir.to_path_buf(),
            limits,
            last_ts,
            known,
            pos: base.ts,
            world: World::from_snapshot(&base)?,
            current: None,
            cursor,
            checkpoints,
        })
    }

    /// The timestamp of the last entry applied (the base's when none).
    pub(crate) fn pos(&self) -> u64 {
        self.pos
    }

    /// The last timestamp of the log the session covers.
    pub(crate) fn last_ts(&self) -> u64 {
        self.last_ts
    }

    /// The first position (the base checkpoint's ts).
    pub(crate) fn first_ts(&self) -> u64 {
        self.checkpoints.base().ts
    }

    /// The entry at the position (`None` at the base).
    pub(crate) fn current(&self) -> Option<&LogEntry> {
        self.current.as_ref()
    }

    /// The state at the position.
    pub(crate) fn world(&self) -> &World {
        &self.world
    }

    /// The checkpoints (for `export`).
    pub(crate) fn checkpoints(&self) -> &Checkpoints {
        &self.checkpoints
    }

    /// Applies the next entry; `None` at the end of the log, else each
    /// mutation's previous row.
    pub(crate) fn step_one(&mut self) -> Result<Option<Vec<Option<Row>>>, CliError> {
        loop {
            match self.cursor.next() {
                Msg::Entry(e) => {
                    let olds = self.world.apply(&e)?;
                    self.pos = e.ts();
                    self.current = Some(*e);
                    if let Msg::BatchEnd(ts, hash) = *self.cursor.peek() {
                        if ts == self.pos {
                            self.cursor.next();
                            if self.checkpoints.wants(ts) {
                                self.checkpoints.add(self.world.snapshot(ts, hash));
                            }
                        }
                    }
                    return Ok(Some(olds));
                }
                Msg::BatchEnd(..) => continue,
                Msg::End => return Ok(None),
                Msg::Failed(m) => {
                    return Err(CliError::CheckFailed(format!("reading the log: {m}")))
                }
            }
        }
    }

    /// Refuses a timestamp outside the log the session covers.
    pub(crate) fn check_ts(&self, what: &str, ts: u64) -> Result<(), CliError> {
        if ts > self.last_ts {
            return Err(bad(format!(
                "{what}: ts {ts} is beyond the end of the log (its last ts is {})",
                self.last_ts
            )));
        }
        let first = self.first_ts();
        if ts < first {
            return Err(bad(format!(
                "{what}: ts {ts} is before the start of the readable log (ts {first}: earlier \
                 segments were deleted and a snapshot covers them)"
            )));
        }
        Ok(())
    }

    /// Moves to the state after the entry at `ts`.
    pub(crate) fn goto(&mut self, what: &str, ts: u64) -> Result<(), CliError> {
        self.check_ts(what, ts)?;
        if ts == self.pos {
            return Ok(());
        }
        let cp = self
            .checkpoints
            .before(ts)
            .ok_or_else(|| bad(format!("{what}: no checkpoint before ts {ts}")))?;
        if ts < self.pos || cp.ts > self.pos {
            let world = World::from_snapshot(cp)?;
            let cursor = LogCursor::start(&self.dir, cp, self.last_ts);
            self.pos = cp.ts;
            self.world = world;
            self.cursor = cursor;
            self.current = None;
        }
        while self.pos < ts {
            if self.step_one()?.is_none() {
                return Err(CliError::CheckFailed(format!(
                    "{what}: the log ended at ts {} before ts {ts}",
                    self.pos
                )));
            }
        }
        Ok(())
    }

    /// Rebuilds the state at `to` on the side, from the checkpoint at or
    /// before `from`; `visit` sees each entry after `from` (once applied)
    /// with its mutations' previous rows.
    fn replay_range(
        &self,
        from: u64,
        to: u64,
        mut visit: impl FnMut(&World, &LogEntry, &[Option<Row>]) -> Result<(), CliError>,
    ) -> Result<World, CliError> {
        let cp = self
            .checkpoints
            .at_or_before(from)
            .ok_or_else(|| bad(format!("no checkpoint at or before ts {from}")))?;
        let mut world = World::from_snapshot(cp)?;
        if cp.ts >= to {
            return Ok(world);
        }
        let storage = log_storage(&self.dir)?;
        let start = (cp.ts > 0).then_some(LogStart {
            ts: cp.ts,
            hash: cp.log_hash,
        });
        let opts = ReadOptions::default()
            .with_stop_at(Some(to))
            .with_start(start);
        read_log(&storage, &opts, |b: Batch<'_>| -> Result<(), CliError> {
            for e in b.entries {
                let e = e.into_owned();
                let olds = world.apply(&e)?;
                if e.ts() > from {
                    visit(&world, &e, &olds)?;
                }
            }
            Ok(())
        })?;
        Ok(world)
    }

    /// Checks a breakpoint's names and predicate against the log.
    pub(crate) fn check_break(&self, spec: &BreakSpec) -> Result<(), CliError> {
        match spec {
            BreakSpec::Ts(ts) => self.check_ts("break ts=N", *ts),
            BreakSpec::Reducer { module, reducer } => {
                let m = self.known.module(module)?;
                if m.0.contains(reducer) {
                    Ok(())
                } else {
                    let names: Vec<&str> = m.0.iter().map(String::as_str).collect();
                    Err(bad(format!(
                        "module `{module}` has no reducer `{reducer}` in any logged version \
                         (its reducers: {})",
                        names.join(", ")
                    )))
                }
            }
            BreakSpec::Table { module, table } => self.known.table(module, table).map(|_| ()),
            BreakSpec::Where {
                module,
                table,
                predicate,
            } => {
                let t = self.known.table(module, table)?;
                compile(predicate, t)
                    .map(|_| ())
                    .map_err(|e| bad(format!("break where {module}.{table}: {e}")))
            }
        }
    }

    /// Whether the entry just applied (with its mutations' previous rows)
    /// hits `spec`.
    pub(crate) fn hits(&self, spec: &BreakSpec, olds: &[Option<Row>]) -> Result<bool, CliError> {
        let Some(e) = &self.current else {
            return Ok(false);
        };
        let commit = match e {
            LogEntry::Commit(c) => Some(c),
            LogEntry::Install(_) | LogEntry::Engine(_) | LogEntry::Unload(_) => None,
        };
        Ok(match spec {
            BreakSpec::Ts(ts) => e.ts() == *ts,
            BreakSpec::Reducer { module, reducer } => {
                commit.is_some_and(|c| c.module == *module && c.reducer == *reducer)
            }
            BreakSpec::Table { module, table } => match commit {
                Some(c) if c.module == *module && matches!(c.outcome, Outcome::Ok(_)) => {
                    let idx = self.table_index(module, table);
                    idx.is_some_and(|i| c.mutations.iter().any(|m| m.table == i))
                }
                _ => false,
            },
            BreakSpec::Where {
                module,
                table,
                predicate,
            } => match commit {
                Some(c) if c.module == *module && matches!(c.outcome, Outcome::Ok(_)) => {
                    let Some(schema) = self
                        .world
                        .state
                        .schemas
                        .get(module)
                        .and_then(|s| s.table(table))
                    else {
                        return Ok(false);
                    };
                    let (idx, ts) = (schema.0, schema.1.clone());
                    // The table as it is now (it may have changed since the
                    // breakpoint was set): a predicate that no longer fits
                    // it matches nothing.
                    let Ok(filter) = compile(predicate, &ts) else {
                        return Ok(false);
                    };
                    let mut hit = false;
                    for (m, old) in c.mutations.iter().zip(olds) {
                        let new = match &m.op {
                            MutationOp::Insert(r) | MutationOp::Update(r) if m.table == idx => r,
                            _ => continue,
                        };
                        let was = match old {
                            Some(o) => row_matches(&ts, &filter, o)?,
                            None => false,
                        };
                        if !was && row_matches(&ts, &filter, new)? {
                            hit = true;
                            break;
                        }
                    }
                    hit
                }
                _ => false,
            },
        })
    }

    fn table_index(&self, module: &str, table: &str) -> Option<u32> {
        self.world
            .state
            .schemas
            .get(module)
            .and_then(|s| s.table(table))
            .map(|(i, _)| i)
    }

    /// `show table`: at most `limit` rows of `module.table` now.
    pub(crate) fn show_table(
        &self,
        module: &str,
        table: &str,
        limit: u64,
        predicate: Option<&str>,
    ) -> Result<Json, CliError> {
        let Some(mt) = self.world.state.tables(module) else {
            self.known.module(module)?;
            let installed = if self.world.state.order.is_empty() {
                "nothing is installed yet".to_owned()
            } else {
                format!("installed: {}", self.world.state.order.join(", "))
            };
            return Err(bad(format!(
                "module `{module}` is not installed at ts {} ({installed})",
                self.pos
            )));
        };
        let schema = self.world.state.schemas.get(module);
        let Some((idx, ts)) = schema.and_then(|s| s.table(table)) else {
            let names: Vec<&str> = schema
                .map(|s| s.tables.iter().map(|t| t.name.as_str()).collect())
                .unwrap_or_default();
            return Err(bad(format!(
                "module `{module}` has no table `{table}` at ts {} (its tables: {})",
                self.pos,
                names.join(", ")
            )));
        };
        let filter = match predicate {
            Some(p) => Some(compile(p, ts).map_err(|e| bad(format!("show table --where: {e}")))?),
            None => None,
        };
        let names: Vec<String> = ts.columns.iter().map(|c| c.name.clone()).collect();
        let mut rows: Vec<Json> = Vec::new();
        let (shown, _) = for_each_page(
            &mt.tables,
            idx,
            ts,
            filter.as_deref(),
            Some(limit.saturating_add(1)),
            |page| {
                for row in page {
                    if rows.len() as u64 >= limit {
                        break;
                    }
                    let obj: serde_json::Map<String, Json> =
                        names.iter().cloned().zip(row).collect();
                    rows.push(Json::Object(obj));
                }
                Ok(())
            },
        )?;
        Ok(json!({
            "module": module,
            "table": table,
            "ts": self.pos,
            "rows": rows,
            "truncated": shown > limit,
        }))
    }

    /// `diff`: the rows changed between the states at `a` and `b`.
    pub(crate) fn diff(&self, a: u64, b: u64) -> Result<Vec<Json>, CliError> {
        self.check_ts("diff", a)?;
        self.check_ts("diff", b)?;
        let (from, to) = (a.min(b), a.max(b));
        // (module, table, key) -> (key, before, after)
        let mut changes: BTreeMap<(String, String, String), (Json, Json, Json)> = BTreeMap::new();
        self.replay_range(from, to, |world, e, olds| {
            let LogEntry::Commit(c) = e else {
                return Ok(());
            };
            if !matches!(c.outcome, Outcome::Ok(_)) {
                return Ok(());
            }
            let schema = world.state.schemas.get(&c.module);
            for (m, old) in c.mutations.iter().zip(olds) {
                let (table, _, key, row) = mutation_parts(schema, m.table, &m.op);
                let id = (c.module.clone(), table, key.to_string());
                if !changes.contains_key(&id) {
                    if changes.len() >= MAX_DIFF_ROWS {
                        return Err(bad(format!(
                            "diff {a} {b}: more than {MAX_DIFF_ROWS} rows changed between the \
                             two points; narrow the window"
                        )));
                    }
                    let ty = schema
                        .and_then(|s| s.tables.get(m.table as usize))
                        .map(|t| t.row_type());
                    let before = old
                        .as_ref()
                        .map_or(Json::Null, |o| decode_json(ty.as_ref(), o));
                    changes.insert(id.clone(), (key, before, Json::Null));
                }
                if let Some(entry) = changes.get_mut(&id) {
                    entry.2 = row;
                }
            }
            Ok(())
        })?;
        Ok(changes
            .into_iter()
            .filter(|(_, (_, before, after))| before != after)
            .map(|((module, table, _), (key, before, after))| {
                let change = match (&before, &after) {
                    (Json::Null, _) => "inserted",
                    (_, Json::Null) => "deleted",
                    _ => "updated",
                };
                json!({
                    "module": module, "table": table, "key": key, "change": change,
                    "before": before, "after": after,
                })
            })
            .collect())
    }

    /// `rerun`: re-executes the commit at the position over the state
    /// before it and compares with its record.
    pub(crate) fn rerun(&self) -> Result<Json, CliError> {
        let c = match &self.current {
            Some(LogEntry::Commit(c)) => c,
            Some(LogEntry::Install(i)) => {
                return Err(bad(format!(
                    "rerun: the entry at ts {} is the install of module {}, not a commit",
                    i.ts, i.name
                )))
            }
            Some(LogEntry::Engine(e)) => {
                return Err(bad(format!(
                    "rerun: the entry at ts {} records an engine change, not a commit",
                    e.ts
                )))
            }
            Some(LogEntry::Unload(u)) => {
                return Err(bad(format!(
                    "rerun: the entry at ts {} is the unload of module {}, not a commit",
                    u.ts, u.name
                )))
            }
            None => {
                return Err(bad(format!(
                    "rerun: no entry at the current position (ts {}, the start): step first",
                    self.pos
                )))
            }
        };
        let mut before = self.replay_range(c.ts - 1, c.ts - 1, |_, _, _| Ok(()))?;
        let install = before.installs.get(&c.module).cloned().ok_or_else(|| {
            CliError::CheckFailed(format!(
                "rerun: module {} is not installed before ts {}",
                c.module, c.ts
            ))
        })?;
        let installed: Vec<InstalledModule> = before
            .state
            .order
            .iter()
            .filter_map(|n| {
                Some(InstalledModule {
                    name: n.clone(),
                    install_ts: before.state.tables(n)?.install_ts,
                    schema: before.state.schemas.get(n)?.clone(),
                })
            })
            .collect();
        let mut tables = before
            .state
            .take_tables(&c.module)
            .map(|m| m.tables)
            .unwrap_or_else(|| Tables::new(&[]));
        let differences = interstice_actors::rerun_commit(
            &self.dir,
            self.limits,
            &install,
            &installed,
            &mut tables,
            c,
        )?;
        Ok(json!({
            "ts": c.ts,
            "module": c.module,
            "reducer": c.reducer,
            "matches": differences.is_empty(),
            "differences": differences.iter().map(|d| d.to_json()).collect::<Vec<_>>(),
            "text": differences.iter().map(|d| d.to_string()).collect::<Vec<_>>(),
        }))
    }
}

/// Whether one row (CBOR) of a table matches a compiled filter, decided by
/// the host's query code over a one-row table.
fn row_matches(schema: &TableSchema, filter: &[u8], row: &[u8]) -> Result<bool, CliError> {
    let fail = |e: String| CliError::CheckFailed(format!("evaluating a predicate: {e}"));
    let mut t = Tables::new(std::slice::from_ref(schema));
    t.apply_logged(0, &MutationOp::Insert(row.to_vec()))
        .map_err(|e| fail(e.to_string()))?;
    let mut cursor =
        Cursor::open(&t, 0, &table_query(Some(filter))).map_err(|e| fail(e.to_string()))?;
    let mut page = Vec::new();
    let more = t
        .query_page(&mut cursor, 1, &mut page)
        .map_err(|e| fail(e.to_string()))?;
    if !more.filled {
        return Ok(false);
    }
    let n = Reader::new(&page)
        .array()
        .map_err(|e| fail(e.to_string()))?;
    Ok(n > 0)
}
