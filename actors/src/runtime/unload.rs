//! Unloading modules (`Runtime::unload_module`): refused while a loaded
//! module depends on it; otherwise logged (`Unload`, `docs/LOG_FORMAT.md`
//! §5), the module actor stops, and its tables are kept (loading the module
//! again brings them back) or dropped. Also loading a module again after an
//! unload that kept its tables (`reload_module`, called by `load.rs`).

use std::sync::Arc;

use interstice_abi::schema_diff::SchemaDiff;
use interstice_abi::{ModuleSchema, Trigger};
use interstice_persist::{Hash, UnloadTables};
use interstice_tables::Tables;

use crate::actors::messages::{ReturnTables, Unload, Upgrade, UpgradeRefused};
use crate::actors::shared::{ModuleEntry, Shared};
use crate::error::RuntimeError;
use crate::runtime::ask;
use crate::wasm::engine::CompiledModule;

use super::load::{check_against_loaded, spawn_entry, Loaded};
use super::{info, Runtime};

/// How [`Runtime::unload_module`] unloads: what happens to the tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, derive_setters::Setters)]
#[setters(prefix = "with_")]
#[non_exhaustive]
pub struct UnloadOptions {
    /// Keep the rows (loading the module again brings them back) or drop
    /// them (loading it again starts empty). Default: keep.
    pub tables: UnloadTables,
}

impl Default for UnloadOptions {
    fn default() -> Self {
        Self {
            tables: UnloadTables::Keep,
        }
    }
}

impl UnloadOptions {
    /// Keep the tables.
    pub fn keep_tables() -> Self {
        Self::default()
    }

    /// Drop the tables.
    pub fn drop_tables() -> Self {
        Self {
            tables: UnloadTables::Drop,
        }
    }
}

/// What [`Runtime::unload_module`] did.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Unloaded {
    /// The module as it was.
    pub info: super::ModuleInfo,
    /// The unload's timestamp.
    pub ts: u64,
    /// Whether its tables were kept or dropped.
    pub tables: UnloadTables,
}

/// A module unloaded and not loaded again.
pub(crate) struct UnloadedModule {
    /// The unload's timestamp.
    pub ts: u64,
    /// Its tables, if the unload kept them.
    pub kept: Option<KeptTables>,
}

/// The tables an unload kept, with the version that owned them.
pub(crate) struct KeptTables {
    pub schema: Arc<ModuleSchema>,
    pub wasm_hash: Hash,
    pub tables: Tables,
}

impl Runtime {
    /// Unloads a module (`interstice unload`, `docs/ARCHITECTURE.md`,
    /// "Unloading a module"). Refused with [`RuntimeError::HasDependents`]
    /// while another loaded module depends on it (declares it as a
    /// dependency, or subscribes to one of its tables), naming them.
    /// Otherwise, between two of its transactions, the module takes the
    /// unload's timestamp — after every commit it made — and the `Unload`
    /// entry is logged; from then on calls to it fail with
    /// [`RuntimeError::ModuleUnloaded`], its triggers stop, and every
    /// delivery to it not yet run (queued async calls, triggers, replies)
    /// is dropped, in replay as live. Its tables are kept or dropped as
    /// `options` says; [`Runtime::load_module`] loads it again (with kept
    /// tables, as an upgrade from the unloaded version: the rows come back
    /// and init does not run; with dropped ones, as a first install).
    /// Returns once the unload is durable.
    pub async fn unload_module(
        &self,
        name: &str,
        options: UnloadOptions,
    ) -> Result<Unloaded, RuntimeError> {
        self.check_open()?;
        let _guard = self.inner.load_lock.lock().await;
        let shared = &self.inner.shared;
        let entry = self.module_entry(name)?;
        let dependents = dependents_of(shared, name);
        if !dependents.is_empty() {
            return Err(RuntimeError::HasDependents {
                module: name.to_owned(),
                dependents,
            });
        }
        shared.check_writable()?;
        let unload = |reply| Unload {
            tables: options.tables,
            reply,
        };
        let (ts, tables) = ask(&entry.addr, unload)
            .await?
            .map_err(RuntimeError::from)?;
        shared.registry.remove(name);
        let kept = tables.map(|tables| KeptTables {
            schema: entry.schema.clone(),
            wasm_hash: entry.wasm_hash,
            tables,
        });
        self.unloaded()
            .insert(name.to_owned(), UnloadedModule { ts, kept });
        shared
            .watermark
            .wait(ts)
            .await
            .map_err(|e| RuntimeError::StorageFault(e.0))?;
        crate::event_in!(INFO, Some(name), None, Some(ts);
            tables = options.tables.name(), "module unloaded");
        Ok(Unloaded {
            info: info(&entry.schema, entry.schema_hash),
            ts,
            tables: options.tables,
        })
    }

    /// The modules unloaded and not loaded again.
    pub(crate) fn unloaded(
        &self,
    ) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, UnloadedModule>> {
        self.inner.unloaded.lock().expect("unloaded lock")
    }

    /// Loads a module again whose unload kept its tables: an actor is
    /// started with the unloaded version and its tables, and upgraded to
    /// `compiled` like a loaded module (`Install` entry, migrations if
    /// any). A refusal leaves the tables with the unloaded module. Called
    /// with the load lock held.
    pub(super) async fn reload_module(
        &self,
        unload_ts: u64,
        kept: KeptTables,
        compiled: CompiledModule,
        wasm: Vec<u8>,
    ) -> Result<Loaded, RuntimeError> {
        let shared = &self.inner.shared;
        let schema = compiled.schema.clone();
        let name = schema.name.clone();
        let park = |kept: KeptTables| {
            self.unloaded().insert(
                name.clone(),
                UnloadedModule {
                    ts: unload_ts,
                    kept: Some(kept),
                },
            );
        };
        let checked = check_against_loaded(shared, &schema, false).and_then(|()| {
            let diff = SchemaDiff::between(&kept.schema, &schema);
            match diff.first_incompatibility(|t| kept.tables.rows_of(t)) {
                Some((table, change)) => Err(RuntimeError::IncompatibleSchema {
                    module: name.clone(),
                    table,
                    change,
                }),
                None => Ok(()),
            }
        });
        let old = match checked {
            Ok(()) => self.compile_unloaded(&kept).await,
            Err(e) => Err(e),
        };
        let old = match old {
            Ok(old) => old,
            Err(e) => {
                park(kept);
                return Err(e);
            }
        };
        let from = info(&kept.schema, old.schema_hash);
        let (kept_schema, kept_wasm) = (kept.schema.clone(), kept.wasm_hash);
        let entry = spawn_entry(
            shared,
            &self.inner.host,
            &self.inner.supervisor,
            old,
            kept.tables,
        )?;
        let install = match self.prepare_install(&compiled, &wasm) {
            Ok(i) => i,
            Err(e) => {
                park(self.take_back(&entry, kept_schema, kept_wasm).await?);
                return Err(e);
            }
        };
        let (schema_hash, wasm_hash) = (compiled.schema_hash, compiled.wasm_hash);
        let upgrade = |reply| Upgrade {
            compiled,
            install,
            reply,
        };
        let ts = match ask(&entry.addr, upgrade).await? {
            Ok(ts) => ts,
            Err(refused) => {
                park(self.take_back(&entry, kept_schema, kept_wasm).await?);
                return Err(match refused {
                    UpgradeRefused::Incompatible { table, change } => {
                        RuntimeError::IncompatibleSchema {
                            module: name.clone(),
                            table,
                            change,
                        }
                    }
                    UpgradeRefused::Refused(r) => r.into(),
                });
            }
        };
        shared.registry.insert(
            name.clone(),
            Arc::new(ModuleEntry {
                schema: schema.clone(),
                schema_hash,
                wasm_hash,
                addr: entry.addr.clone(),
                outbox: entry.outbox.clone(),
                since: ts.into(),
            }),
        );
        shared
            .watermark
            .wait(ts)
            .await
            .map_err(|e| RuntimeError::StorageFault(e.0))?;
        crate::event_in!(INFO, Some(&name), None, Some(ts);
            from = %from.version, to = %schema.version, unloaded_at = unload_ts,
            "module loaded again with the tables its unload kept"
        );
        Ok(Loaded::Installed {
            info: info(&schema, schema_hash),
            ts,
        })
    }

    /// The unloaded version's code, from its stored binary and the schema
    /// it ran with (no guest code runs).
    async fn compile_unloaded(&self, kept: &KeptTables) -> Result<CompiledModule, RuntimeError> {
        let wasm = {
            let dir = self.inner.data_dir.lock().expect("data dir lock");
            let dir = dir.as_ref().ok_or(RuntimeError::Shutdown)?;
            dir.load_module(&kept.wasm_hash)?
        };
        let (host, cache, schema) = (
            self.inner.host.clone(),
            self.inner.cache_dir.clone(),
            kept.schema.clone(),
        );
        tokio::task::spawn_blocking(move || host.compile_known(&wasm, schema, Some(&cache)))
            .await
            .map_err(|e| RuntimeError::Internal(format!("compile task failed: {e}")))?
    }

    /// The tables of an actor started by [`Runtime::reload_module`] whose
    /// upgrade did not happen; the actor stops.
    async fn take_back(
        &self,
        entry: &ModuleEntry,
        schema: Arc<ModuleSchema>,
        wasm_hash: Hash,
    ) -> Result<KeptTables, RuntimeError> {
        let tables = ask(&entry.addr, |reply| ReturnTables { reply }).await?;
        Ok(KeptTables {
            schema,
            wasm_hash,
            tables,
        })
    }
}

/// The loaded modules that depend on `name`, each with how: it declares
/// `name` as a dependency (read calls, generated bindings), or one of its
/// reducers subscribes to a table of `name`. In name order.
fn dependents_of(shared: &Shared, name: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for e in shared.registry.iter() {
        let s = &e.schema;
        if s.name == name {
            continue;
        }
        let mut how: Vec<String> = Vec::new();
        if s.dependencies.iter().any(|d| d == name) {
            how.push("declares it as a dependency".into());
        }
        let mut tables: Vec<&str> = s
            .reducers
            .iter()
            .filter_map(|r| match &r.trigger {
                Some(Trigger::Table { module, table, .. }) if module == name => {
                    Some(table.as_str())
                }
                _ => None,
            })
            .collect();
        tables.sort_unstable();
        tables.dedup();
        if !tables.is_empty() {
            let list: Vec<String> = tables.iter().map(|t| format!("`{name}.{t}`")).collect();
            how.push(format!("subscribes to {}", list.join(", ")));
        }
        if !how.is_empty() {
            out.push(format!("{} ({})", s.name, how.join("; ")));
        }
    }
    out.sort();
    out
}
