//! Replay at open: applies logged mutations to fresh tables without
//! instantiating or running any wasm, and works out which deliveries (init
//! calls, async calls, triggers) were still pending when the log ended.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

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
        if self.index.contains_key(&i.name) {
            return Err(fail("module installed twice".into()));
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
