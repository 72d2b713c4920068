//! The state a log prefix describes, without any compiled code: every
//! installed module's schema and tables, the subscriptions, and the
//! deliveries (init, async calls, triggers) still pending. Replay at open
//! (`replay.rs`, which adds compiled modules) and the snapshotter
//! (`snapshot.rs`) both advance it one log entry at a time, so they cannot
//! drift apart.

use std::collections::HashMap;
use std::sync::Arc;

use interstice_abi::schema_diff::SchemaDiff;
use interstice_abi::ModuleSchema;
use interstice_persist::{
    Cause, CommitRecord, CommitRef, EngineInfo, Hash, LogEntryRef, ModuleInstall, OutcomeRef,
    Snapshot, SnapshotModule, UnloadRecord, UnloadTables,
};

use crate::error::RuntimeError;
use crate::recovery::deliveries::Delivery;
use crate::recovery::deliveries::{
    consumed_key, reply_of, reply_outcome, reply_outcome_owned, route, DeliveryLimits, FanOut,
    Outstanding, Reply, RoutedCommit, Subscriptions,
};
use interstice_tables::ReplayTables;
use interstice_tables::{Change, Tables};

/// Bytes the modules' replay overlays may hold together before they are
/// written to the tables (a pending write holds its key, its row and 40
/// bytes): about a million small writes.
const OVERLAY_MAX_BYTES: usize = 64 << 20;

/// The same bound for the snapshotter's shadow state, which lives as long
/// as the runtime: its pending writes (and the buffers a flush keeps) are
/// held on top of the second copy of the state it already is.
pub(crate) const SHADOW_OVERLAY_MAX_BYTES: usize = 4 << 20;

/// One installed module.
pub(crate) struct StateModule {
    pub name: String,
    /// Timestamp of its first install (what an init delivery is keyed by).
    pub install_ts: u64,
    pub schema: Arc<ModuleSchema>,
    pub wasm_hash: Hash,
    /// Its tables, behind the write-back overlay quiet commits go through
    /// (every accessor flushes it first).
    pub tables: ReplayTables,
}

/// What [`LogState::apply`] did.
pub(crate) enum Applied {
    /// A new module (appended to `modules`).
    Installed,
    /// A new version of the module at this index.
    Upgraded(usize),
    /// The module at this index was unloaded (removed from `modules`).
    Unloaded(usize),
    /// A commit.
    Committed,
    /// An engine record.
    Engine,
}

/// The state after a log prefix.
pub(crate) struct LogState {
    limits: DeliveryLimits,
    pub modules: Vec<StateModule>,
    index: HashMap<String, usize>,
    /// The module of the last commit, checked before hashing a name into
    /// `index` (consecutive commits are often of the same module).
    last_commit: usize,
    install_ts: HashMap<String, u64>,
    pub subs: Subscriptions,
    /// The fan-out budgets of the delivery trees in flight.
    pub fanout: FanOut,
    outstanding: Outstanding,
    /// Entries applied.
    pub entries: u64,
    /// Mutations applied.
    pub mutations: u64,
    /// Bytes added to the overlays since they were last counted (at least
    /// the bytes they hold).
    overlay_bytes: usize,
    /// Flush the overlays beyond this many bytes.
    overlay_max: usize,
    /// The last upgrade's migration commits still to come: they follow its
    /// install in the same batch, so nothing else may come first.
    migrations_due: Option<MigrationsDue>,
    /// The engine that wrote the last entries: the last engine an install
    /// or an engine entry recorded (`None` if none did).
    pub engine: Option<EngineInfo>,
    /// Modules unloaded with their tables kept, in unload order, with the
    /// unload's timestamp: a later install of the name brings the rows
    /// back, as an upgrade from the unloaded version.
    pub parked: Vec<(StateModule, u64)>,
    /// Every module unloaded and not installed again, with the unload's
    /// timestamp (since the log's start or the snapshot's).
    pub unloaded: HashMap<String, u64>,
}

/// The migration commits an upgrade's install announces.
#[derive(Debug, Clone)]
struct MigrationsDue {
    module: String,
    install_ts: u64,
    /// `(table, reducer)` in the order they are logged.
    due: std::collections::VecDeque<(String, String)>,
}

impl LogState {
    /// The empty state (before timestamp 1).
    pub(crate) fn new(limits: DeliveryLimits) -> Self {
        Self {
            limits,
            modules: Vec::new(),
            index: HashMap::new(),
            last_commit: 0,
            install_ts: HashMap::new(),
            subs: Subscriptions::default(),
            fanout: FanOut::default(),
            outstanding: Outstanding::new(),
            entries: 0,
            mutations: 0,
            overlay_bytes: 0,
            overlay_max: OVERLAY_MAX_BYTES,
            migrations_due: None,
            engine: None,
            parked: Vec::new(),
            unloaded: HashMap::new(),
        }
    }

    /// Refuses a log that ends between an upgrade's install and its
    /// migration commits (a `stop_at` inside the upgrade's batch): that
    /// state, with the migrated tables emptied and not refilled, never
    /// existed.
    pub(crate) fn check_complete(&self) -> Result<(), RuntimeError> {
        match &self.migrations_due {
            None => Ok(()),
            Some(d) => Err(RuntimeError::replay(
                d.install_ts,
                &d.module,
                format!(
                    "the log stops inside the upgrade of module `{}` at ts {}: its {} \
                     migration commit(s) at ts {}.. are missing (stop before the install or \
                     after them)",
                    d.module,
                    d.install_ts,
                    d.due.len(),
                    d.install_ts + 1
                ),
            )),
        }
    }

    /// Flushes the overlays whenever they hold more than `bytes` (the
    /// default is [`OVERLAY_MAX_BYTES`]).
    pub(crate) fn limit_overlays(&mut self, bytes: usize) {
        self.overlay_max = bytes;
    }

    /// The state a snapshot holds.
    pub(crate) fn from_snapshot(
        snap: &Snapshot,
        limits: DeliveryLimits,
    ) -> Result<Self, RuntimeError> {
        let mut s = Self::new(limits);
        s.engine = snap.engine.clone();
        for m in &snap.modules {
            let fail = |reason: String| RuntimeError::replay(snap.ts, &m.name, reason);
            if s.index.contains_key(&m.name) {
                return Err(fail("module twice in the snapshot".into()));
            }
            let schema = ModuleSchema::decode(&m.schema)
                .map_err(|e| fail(format!("snapshot schema is invalid: {e}")))?;
            let tables =
                Tables::restore(&schema.tables, &m.tables).map_err(|e| fail(e.to_string()))?;
            if let Some(unloaded) = m.unloaded {
                if s.parked.iter().any(|(p, _)| p.name == m.name) {
                    return Err(fail("module unloaded twice in the snapshot".into()));
                }
                s.unloaded.insert(m.name.clone(), unloaded);
                s.parked.push((
                    StateModule {
                        name: m.name.clone(),
                        install_ts: m.install_ts,
                        schema: Arc::new(schema),
                        wasm_hash: m.wasm_hash,
                        tables: ReplayTables::new(tables),
                    },
                    unloaded,
                ));
                continue;
            }
            let _ = s.subs.add_module(&schema);
            s.install_ts.insert(m.name.clone(), m.install_ts);
            s.index.insert(m.name.clone(), s.modules.len());
            s.modules.push(StateModule {
                name: m.name.clone(),
                install_ts: m.install_ts,
                schema: Arc::new(schema),
                wasm_hash: m.wasm_hash,
                tables: ReplayTables::new(tables),
            });
        }
        for d in &snap.pending {
            s.outstanding
                .insert((d.source_ts, d.index), Delivery::from_pending(d));
        }
        let pending: Vec<Delivery> = s.outstanding.values().cloned().collect();
        s.fanout = FanOut::restore(&snap.fanout, &pending);
        Ok(s)
    }

    /// The state as a snapshot at `ts` (`log_hash`: the log's batch hash at
    /// `ts`).
    pub(crate) fn snapshot(&mut self, ts: u64, log_hash: Hash) -> Snapshot {
        let module = |m: &mut StateModule, unloaded: Option<u64>| SnapshotModule {
            name: m.name.clone(),
            version: m.schema.version.clone(),
            install_ts: m.install_ts,
            schema: m.schema.canonical_bytes(),
            schema_hash: m.schema.hash(),
            wasm_hash: m.wasm_hash,
            tables: m.tables.tables().export_logged(),
            unloaded,
        };
        let mut modules: Vec<SnapshotModule> =
            self.modules.iter_mut().map(|m| module(m, None)).collect();
        modules.extend(self.parked.iter_mut().map(|(m, ts)| module(m, Some(*ts))));
        Snapshot {
            ts,
            log_hash,
            modules,
            pending: self
                .outstanding
                .iter()
                .map(|(&(source_ts, index), d)| d.to_pending(source_ts, index))
                .collect(),
            fanout: self.fanout.export(),
            engine: self.engine.clone(),
        }
    }

    /// Applies one log entry (borrowed from the log's bytes).
    pub(crate) fn apply(&mut self, entry: LogEntryRef<'_>) -> Result<Applied, RuntimeError> {
        self.entries += 1;
        self.check_migration_order(&entry)?;
        match entry {
            LogEntryRef::Install(i) => {
                if let Some(e) = &i.engine {
                    self.engine = Some(e.clone());
                }
                self.install(i)
            }
            LogEntryRef::Commit(c) => self.commit(c).map(|()| Applied::Committed),
            LogEntryRef::Engine(e) => {
                self.engine = Some(e.engine);
                Ok(Applied::Engine)
            }
            LogEntryRef::Unload(u) => self.unload(u),
        }
    }

    /// An unload: the module leaves `modules` (its tables parked if kept),
    /// its triggers stop, and every delivery to it still pending is
    /// dropped (`docs/LOG_FORMAT.md` §5, `Unload`).
    fn unload(&mut self, u: UnloadRecord) -> Result<Applied, RuntimeError> {
        let Some(&idx) = self.index.get(&u.name) else {
            return Err(RuntimeError::replay(
                u.ts,
                &u.name,
                format!("unload of module `{}`, which is not loaded", u.name),
            ));
        };
        let m = self.modules.remove(idx);
        self.index = self
            .modules
            .iter()
            .enumerate()
            .map(|(i, m)| (m.name.clone(), i))
            .collect();
        self.last_commit = 0;
        self.install_ts.remove(&u.name);
        self.subs.remove_module(&u.name);
        let dropped: Vec<crate::recovery::deliveries::DeliveryKey> = self
            .outstanding
            .iter()
            .filter(|(_, d)| d.target == u.name)
            .map(|(k, _)| *k)
            .collect();
        for key in dropped {
            if let Some(d) = self.outstanding.remove(&key) {
                self.fanout.forget(d.root);
            }
        }
        if u.tables == UnloadTables::Keep {
            self.parked.push((m, u.ts));
        }
        self.unloaded.insert(u.name, u.ts);
        Ok(Applied::Unloaded(idx))
    }

    /// An upgrade's migration commits come right after its install, in
    /// order, and nothing else does; a migration commit comes nowhere else.
    fn check_migration_order(&mut self, entry: &LogEntryRef<'_>) -> Result<(), RuntimeError> {
        let (ts, module, migration) = match entry {
            LogEntryRef::Install(i) => (i.ts, i.name.as_str(), None),
            LogEntryRef::Engine(e) => (e.ts, "", None),
            LogEntryRef::Unload(u) => (u.ts, u.name.as_str(), None),
            LogEntryRef::Commit(c) => match &c.cause {
                Cause::Migration { table, .. } => (c.ts, c.module, Some((table, c.reducer))),
                _ => (c.ts, c.module, None),
            },
        };
        let next = self.migrations_due.as_mut().and_then(|d| {
            let front = d.due.front()?;
            Some((d.module.clone(), front.0.clone(), front.1.clone()))
        });
        match (next, migration) {
            (None, None) => Ok(()),
            (Some((m, t, r)), Some((table, reducer)))
                if m == module && t == *table && r == reducer =>
            {
                let d = self.migrations_due.as_mut().expect("just matched");
                d.due.pop_front();
                if d.due.is_empty() {
                    self.migrations_due = None;
                }
                Ok(())
            }
            (Some((m, t, r)), _) => Err(RuntimeError::replay(
                ts,
                module,
                format!(
                    "expected the migration `{r}` of table `{m}.{t}` (the upgrade just before \
                     it), found another entry"
                ),
            )),
            (None, Some((table, reducer))) => Err(RuntimeError::replay(
                ts,
                module,
                format!(
                    "migration commit `{reducer}` of table `{table}` without the upgrade \
                     that runs it just before it"
                ),
            )),
        }
    }

    fn install(&mut self, i: ModuleInstall) -> Result<Applied, RuntimeError> {
        let fail = |reason: String| RuntimeError::replay(i.ts, &i.name, reason);
        let schema = Arc::new(
            ModuleSchema::decode(&i.schema)
                .map_err(|e| fail(format!("logged schema is invalid: {e}")))?,
        );
        self.unloaded.remove(&i.name);
        if let Some(at) = self.parked.iter().position(|(p, _)| p.name == i.name) {
            // Loaded again after an unload that kept its tables: the rows
            // come back, as an upgrade from the unloaded version (init
            // does not run again).
            let (mut m, _) = self.parked.remove(at);
            m.install_ts = i.ts;
            let idx = self.modules.len();
            self.install_ts.insert(i.name.clone(), i.ts);
            self.index.insert(i.name.clone(), idx);
            self.modules.push(m);
            self.upgrade_at(idx, &i, schema)?;
            return Ok(Applied::Installed);
        }
        if let Some(&idx) = self.index.get(&i.name) {
            // An upgrade. The live runtime refused incompatible ones; check
            // again. Tables are remapped by name to the new schema (later
            // commits were logged with its table indexes), the new triggers
            // replace the old ones, and init is not pending again.
            // A table the upgrade migrates by code starts empty: the
            // migration commits that follow the install in its batch insert
            // its new rows. Automatic migrations extend the rows here.
            self.upgrade_at(idx, &i, schema)?;
            return Ok(Applied::Upgraded(idx));
        }
        if let Some(init) = self.subs.add_module(&schema) {
            self.outstanding.insert((i.ts, 0), init);
        }
        let idx = self.modules.len();
        self.install_ts.insert(i.name.clone(), i.ts);
        self.index.insert(i.name.clone(), idx);
        self.modules.push(StateModule {
            tables: ReplayTables::new(Tables::new(&schema.tables)),
            name: i.name,
            install_ts: i.ts,
            schema,
            wasm_hash: i.wasm_hash,
        });
        Ok(Applied::Installed)
    }

    /// Switches the module at `idx` to the schema `i` installs (checked
    /// again: the live runtime refused incompatible upgrades).
    fn upgrade_at(
        &mut self,
        idx: usize,
        i: &ModuleInstall,
        schema: Arc<ModuleSchema>,
    ) -> Result<(), RuntimeError> {
        let m = &mut self.modules[idx];
        let tables = m.tables.tables_mut();
        let diff = SchemaDiff::between(&m.schema, &schema);
        if let Some((table, change)) = diff.first_incompatibility(|t| tables.rows_of(t)) {
            return Err(RuntimeError::replay(
                i.ts,
                &i.name,
                format!(
                    "incompatible upgrade of module `{}`: table `{table}`: {change}",
                    i.name
                ),
            ));
        }
        drop(tables.upgrade(&schema.tables, &diff));
        let due: std::collections::VecDeque<(String, String)> = diff
            .migrations()
            .map(|(t, r)| (t.to_owned(), r.to_owned()))
            .collect();
        if !due.is_empty() {
            self.migrations_due = Some(MigrationsDue {
                module: i.name.clone(),
                install_ts: i.ts,
                due,
            });
        }
        m.schema = schema;
        m.wasm_hash = i.wasm_hash;
        let _init = self.subs.add_module(&m.schema);
        Ok(())
    }

    /// The index of module `name`, if installed.
    fn module_index(&mut self, name: &str) -> Option<usize> {
        if self
            .modules
            .get(self.last_commit)
            .is_some_and(|m| m.name == name)
        {
            return Some(self.last_commit);
        }
        let idx = *self.index.get(name)?;
        self.last_commit = idx;
        Some(idx)
    }

    fn commit(&mut self, c: CommitRef<'_>) -> Result<(), RuntimeError> {
        let Some(idx) = self.module_index(c.module) else {
            return Err(RuntimeError::replay(
                c.ts,
                c.module,
                format!(
                    "commit of {}.{} before the module was installed",
                    c.module, c.reducer
                ),
            ));
        };
        let consumed = consumed_key(&c.cause, &self.install_ts, c.module)
            .and_then(|k| self.outstanding.remove(&k));
        let (depth, root) = consumed.map_or((0, None), |d| (d.depth, d.root));
        let reply = reply_of(&c.cause, reply_outcome(c.outcome));
        if !matches!(c.outcome, OutcomeRef::Ok(_)) {
            // Consumed its delivery, caused nothing but its reply.
            if root.is_some() || reply.is_some() {
                let schema = self.modules[idx].schema.clone();
                let at = (c.module, c.ts, depth, root);
                self.route(&schema, at, false, &[], &[], reply);
            }
            return Ok(());
        }
        // `for_commit` causes nothing for a commit without outbound calls
        // of a module no trigger watches: apply its mutations straight from
        // the log's bytes, without building the changes (no copies of the
        // old and new rows, nor of the record), through the module's
        // overlay (`overlay.rs`).
        // A migration's rows are not new, only rewritten: it causes nothing
        // (the module actor routed none of its changes either).
        let migration = matches!(c.cause, Cause::Migration { .. });
        if migration || (c.calls.is_empty() && !self.subs.watches(c.module)) {
            if root.is_some() || reply.is_some() {
                let schema = self.modules[idx].schema.clone();
                let at = (c.module, c.ts, depth, root);
                self.route(&schema, at, true, &[], &[], reply);
            }
            let tables = &mut self.modules[idx].tables;
            let before = tables.pending();
            for m in &c.mutations {
                tables.apply_quiet(m.table, m.op).map_err(|e| {
                    RuntimeError::replay(
                        c.ts,
                        c.module,
                        format!(
                            "{}.{}: mutation of table #{} does not apply: {e:?}",
                            c.module, c.reducer, m.table
                        ),
                    )
                })?;
            }
            self.overlay_bytes += tables.pending() - before;
            self.mutations += c.mutations.len() as u64;
            if self.overlay_bytes > self.overlay_max {
                self.bound_overlays();
            }
            return Ok(());
        }
        drop(reply);
        self.commit_observed(idx, depth, root, c.into_owned())
    }

    /// Runs the router's delivery computation (with its guards) on a
    /// commit of `module` at `ts` (`at`: module, timestamp, depth and
    /// root), keeping what it causes as outstanding.
    fn route(
        &mut self,
        schema: &interstice_abi::ModuleSchema,
        at: (&str, u64, u32, Option<u64>),
        ok: bool,
        calls: &[interstice_persist::OutboundCall],
        changes: &[Change],
        reply: Option<Reply<'_>>,
    ) {
        let (module, ts, depth, root) = at;
        let commit = RoutedCommit {
            module,
            schema,
            ts,
            depth,
            root,
            ok,
            calls,
            changes,
            reply,
        };
        let (deliveries, _) = route(&self.subs, &mut self.fanout, self.limits, commit);
        // A delivery to a module that is not loaded at its source's
        // timestamp (unloaded) is dropped, as the live router drops it.
        for (key, d) in deliveries {
            if self.index.contains_key(&d.target) {
                self.outstanding.insert(key, d);
            } else {
                self.fanout.forget(d.root);
            }
        }
    }

    /// Flushes the overlays if they hold more than `overlay_max` bytes
    /// (`overlay_bytes` only estimates it: flushes by readers do not lower
    /// it).
    fn bound_overlays(&mut self) {
        self.overlay_bytes = self.modules.iter().map(|m| m.tables.pending()).sum();
        if self.overlay_bytes > self.overlay_max {
            for m in &mut self.modules {
                m.tables.flush(true);
            }
            self.overlay_bytes = 0;
        }
    }

    /// The rest of [`LogState::commit`] for a committed record whose changes
    /// or calls cause deliveries.
    fn commit_observed(
        &mut self,
        idx: usize,
        depth: u32,
        root: Option<u64>,
        c: CommitRecord,
    ) -> Result<(), RuntimeError> {
        let module = &mut self.modules[idx];
        let tables = module.tables.tables_mut();
        let mut changes = Vec::with_capacity(c.mutations.len());
        for m in &c.mutations {
            let (event, old, new) = tables.apply_logged(m.table, &m.op).map_err(|e| {
                RuntimeError::replay(
                    c.ts,
                    &c.module,
                    format!(
                        "{}.{}: mutation of table #{} does not apply: {e:?}",
                        c.module, c.reducer, m.table
                    ),
                )
            })?;
            changes.push(Change {
                table: m.table,
                event,
                key: Box::default(),
                old,
                new,
                key_value: Box::default(),
            });
        }
        self.mutations += c.mutations.len() as u64;
        let schema = module.schema.clone();
        let reply = reply_of(&c.cause, reply_outcome_owned(&c.outcome));
        let at = (c.module.as_str(), c.ts, depth, root);
        self.route(&schema, at, true, &c.calls, &changes, reply);
        Ok(())
    }

    /// The deliveries still pending, in the order they must run.
    pub(crate) fn take_pending(&mut self) -> Vec<Delivery> {
        std::mem::take(&mut self.outstanding)
            .into_values()
            .collect()
    }
}
