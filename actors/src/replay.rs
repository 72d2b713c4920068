//! Replay at open: applies logged mutations to fresh tables without
//! instantiating or running any wasm, and works out which deliveries (init
//! calls, async calls, triggers) were still pending when the log ended.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use interstice_abi::schema_diff::SchemaDiff;
use interstice_abi::ModuleSchema;
use interstice_persist::{CommitRecord, DataDir, LogEntry, ModuleInstall, Outcome};

use crate::deliveries::{consumed_key, Outstanding, Subscriptions};
use crate::engine::{CompiledModule, WasmHost};
use crate::error::RuntimeError;
use crate::messages::Delivery;
use crate::table::{Change, Tables};

/// A module rebuilt by replay.
pub(crate) struct ReplayedModule {
    pub compiled: CompiledModule,
    pub tables: Tables,
}

/// Replay's state, fed one entry at a time.
pub(crate) struct Replayer<'a> {
    host: &'a WasmHost,
    data_dir: &'a DataDir,
    cache_dir: &'a Path,
    max_depth: u32,
    pub modules: Vec<(String, ReplayedModule)>,
    index: HashMap<String, usize>,
    install_ts: HashMap<String, u64>,
    pub subs: Subscriptions,
    outstanding: Outstanding,
    /// Entries applied.
    pub entries: u64,
    /// Mutations applied.
    pub mutations: u64,
}

impl<'a> Replayer<'a> {
    pub fn new(
        host: &'a WasmHost,
        data_dir: &'a DataDir,
        cache_dir: &'a Path,
        max_depth: u32,
    ) -> Self {
        Self {
            host,
            data_dir,
            cache_dir,
            max_depth,
            modules: Vec::new(),
            index: HashMap::new(),
            install_ts: HashMap::new(),
            subs: Subscriptions::default(),
            outstanding: Outstanding::new(),
            entries: 0,
            mutations: 0,
        }
    }

    /// A replayer that continues from a snapshot's state instead of an
    /// empty one: each module is compiled from its stored binary with the
    /// schema the snapshot recorded (no guest code runs), its tables are the
    /// snapshot's, and the snapshot's pending deliveries are outstanding.
    pub fn from_snapshot(
        host: &'a WasmHost,
        data_dir: &'a DataDir,
        cache_dir: &'a Path,
        max_depth: u32,
        snap: &interstice_persist::Snapshot,
    ) -> Result<Self, RuntimeError> {
        let mut r = Self::new(host, data_dir, cache_dir, max_depth);
        for m in &snap.modules {
            let install = ModuleInstall {
                ts: m.install_ts,
                name: m.name.clone(),
                version: m.version.clone(),
                schema: m.schema.clone(),
                schema_hash: m.schema_hash,
                wasm_hash: m.wasm_hash,
            };
            let fail = |reason: String| RuntimeError::Replay {
                ts: snap.ts,
                module: m.name.clone(),
                reason,
            };
            if r.index.contains_key(&m.name) {
                return Err(fail("module twice in the snapshot".into()));
            }
            let wasm = data_dir
                .load_module(&m.wasm_hash)
                .map_err(|e| fail(format!("module binary is missing: {e}")))?;
            let compiled = compile_install(host, &install, &wasm, Some(cache_dir))?;
            let tables = Tables::restore(&compiled.schema.tables, &m.tables).map_err(fail)?;
            let _ = r.subs.add_module(&compiled.schema);
            r.install_ts.insert(m.name.clone(), m.install_ts);
            r.index.insert(m.name.clone(), r.modules.len());
            r.modules
                .push((m.name.clone(), ReplayedModule { compiled, tables }));
        }
        for d in &snap.pending {
            r.outstanding.insert(
                (d.source_ts, d.index),
                Delivery {
                    target: d.target.clone(),
                    reducer: d.reducer.clone(),
                    args: d.args.clone(),
                    cause: d.cause.clone(),
                    depth: d.depth,
                },
            );
        }
        Ok(r)
    }

    /// The replayed state as a snapshot at `ts` (every entry up to `ts`
    /// applied; `hash` is the log's batch hash at `ts`).
    pub fn snapshot(
        &self,
        ts: u64,
        hash: interstice_persist::Hash,
    ) -> interstice_persist::Snapshot {
        crate::snapshot::build(
            ts,
            hash,
            self.modules
                .iter()
                .map(|(name, m)| crate::snapshot::ModuleState {
                    name,
                    install_ts: self.install_ts.get(name).copied().unwrap_or(0),
                    schema: &m.compiled.schema,
                    wasm_hash: m.compiled.wasm_hash,
                    tables: &m.tables,
                }),
            &self.outstanding,
        )
    }

    /// Applies one log entry.
    pub fn apply(&mut self, entry: LogEntry) -> Result<(), RuntimeError> {
        self.entries += 1;
        match entry {
            LogEntry::Install(i) => self.install(i),
            LogEntry::Commit(c) => self.commit(c),
        }
    }

    fn install(&mut self, i: ModuleInstall) -> Result<(), RuntimeError> {
        let fail = |reason: String| RuntimeError::Replay {
            ts: i.ts,
            module: i.name.clone(),
            reason,
        };
        if let Some(&idx) = self.index.get(&i.name) {
            return self.upgrade(idx, i);
        }
        let wasm = self
            .data_dir
            .load_module(&i.wasm_hash)
            .map_err(|e| fail(format!("installed module binary is missing: {e}")))?;
        let compiled = compile_install(self.host, &i, &wasm, Some(self.cache_dir))?;
        if let Some(init) = self.subs.add_module(&compiled.schema) {
            self.outstanding.insert((i.ts, 0), init);
        }
        self.install_ts.insert(i.name.clone(), i.ts);
        self.index.insert(i.name.clone(), self.modules.len());
        let tables = Tables::new(&compiled.schema.tables);
        self.modules
            .push((i.name, ReplayedModule { compiled, tables }));
        Ok(())
    }

    /// An `Install` of a module already installed: an upgrade. The diff is
    /// checked again (the live runtime refused incompatible ones), the
    /// replayed tables are remapped by name to the new schema, and later
    /// commits apply with the new code's schema (their mutations were
    /// logged with its table indexes). Init is not pending again.
    fn upgrade(&mut self, idx: usize, i: ModuleInstall) -> Result<(), RuntimeError> {
        let fail = |reason: String| RuntimeError::Replay {
            ts: i.ts,
            module: i.name.clone(),
            reason,
        };
        let wasm = self
            .data_dir
            .load_module(&i.wasm_hash)
            .map_err(|e| fail(format!("installed module binary is missing: {e}")))?;
        let compiled = compile_install(self.host, &i, &wasm, Some(self.cache_dir))?;
        let module = &mut self.modules[idx].1;
        if let Some((table, change)) =
            SchemaDiff::between(&module.compiled.schema, &compiled.schema)
                .first_incompatibility(|t| module.tables.rows_of(t))
        {
            return Err(fail(format!(
                "incompatible upgrade of module `{}`: table `{table}`: {change}",
                i.name
            )));
        }
        module.tables.remap(&compiled.schema.tables);
        module.compiled = compiled;
        // The new version's triggers replace the old one's.
        let _init = self.subs.add_module(&module.compiled.schema);
        Ok(())
    }

    fn commit(&mut self, c: CommitRecord) -> Result<(), RuntimeError> {
        let Some(&idx) = self.index.get(&c.module) else {
            return Err(RuntimeError::Replay {
                ts: c.ts,
                module: c.module.clone(),
                reason: format!(
                    "commit of {}.{} before the module was installed",
                    c.module, c.reducer
                ),
            });
        };
        let depth = consumed_key(&c.cause, &self.install_ts, &c.module)
            .and_then(|k| self.outstanding.remove(&k))
            .map(|d| d.depth)
            .unwrap_or(0);
        if !matches!(c.outcome, Outcome::Ok(_)) {
            return Ok(());
        }
        let module = &mut self.modules[idx].1;
        let mut changes = Vec::with_capacity(c.mutations.len());
        for m in &c.mutations {
            let (event, old, new) =
                module
                    .tables
                    .apply_logged(m.table, &m.op)
                    .map_err(|e| RuntimeError::Replay {
                        ts: c.ts,
                        module: c.module.clone(),
                        reason: format!(
                            "{}.{}: mutation of table #{} does not apply: {e:?}",
                            c.module, c.reducer, m.table
                        ),
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
        let schema = module.compiled.schema.clone();
        for (key, d) in self
            .subs
            .for_commit(&c.module, &schema, c.ts, depth, &c.calls, &changes)
        {
            if d.depth <= self.max_depth {
                self.outstanding.insert(key, d);
            }
        }
        Ok(())
    }

    /// The deliveries still pending, in the order they must run.
    pub fn pending(&mut self) -> Vec<Delivery> {
        std::mem::take(&mut self.outstanding)
            .into_values()
            .collect()
    }
}

/// Compiles an installed module's binary with the schema logged by its
/// install (so no guest code runs), checking the schema against its logged
/// hash and the binary against its logged hash. Shared by replay and
/// `replay-check`.
pub(crate) fn compile_install(
    host: &WasmHost,
    i: &ModuleInstall,
    wasm: &[u8],
    cache_dir: Option<&Path>,
) -> Result<CompiledModule, RuntimeError> {
    let fail = |reason: String| RuntimeError::Replay {
        ts: i.ts,
        module: i.name.clone(),
        reason,
    };
    let schema = ModuleSchema::decode(&i.schema)
        .map_err(|e| fail(format!("logged schema is invalid: {e}")))?;
    if schema.hash() != i.schema_hash {
        return Err(fail("logged schema does not match its logged hash".into()));
    }
    let compiled = host
        .compile_known(wasm, Arc::new(schema), cache_dir)
        .map_err(|e| fail(e.to_string()))?;
    if compiled.wasm_hash != i.wasm_hash {
        return Err(fail(
            "stored module binary does not match its logged hash".into(),
        ));
    }
    Ok(compiled)
}
