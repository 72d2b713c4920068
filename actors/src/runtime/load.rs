//! Loading modules: compile, validate, check dependencies and subscriptions,
//! install (logged), start the module actor, run `init`.

use std::sync::Arc;
use std::time::Duration;

use interstice_abi::cbor::Writer;
use interstice_abi::schema_diff::SchemaDiff;
use interstice_abi::subscriptions::{self, ModuleSet, SubscriptionGraph};
use interstice_abi::ModuleSchema;
use interstice_persist::{encode_entry, Cause, LogEntry, ModuleInstall};
use tokio::sync::oneshot;

use crate::actors::messages::{
    EntryInfo, ExecError, Execute, Numbered, NumberedEntry, Responder, TableRows, Target, Upgrade,
    UpgradeRefused,
};
use crate::actors::module_actor::ModuleActor;
use crate::actors::peers::LivePeers;
use crate::actors::shared::{ModuleEntry, Shared};
use crate::actors::system::{self, SpawnModule};
use crate::config::Limits;
use crate::error::RuntimeError;
use crate::runtime::ask;
use crate::wasm::engine::{CompiledModule, WasmHost};
use interstice_tables::Tables;

use super::{info, ModuleInfo, Runtime};

/// What [`Runtime::load_module_detailed`] did with a module.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Loaded {
    /// A new module was installed at timestamp `ts` (its init reducer, if
    /// any, ran after it).
    Installed {
        /// The module.
        info: ModuleInfo,
        /// The install's timestamp.
        ts: u64,
    },
    /// A loaded module's code was replaced at timestamp `ts`.
    Upgraded {
        /// The module as it was.
        from: ModuleInfo,
        /// The module as it is now.
        to: ModuleInfo,
        /// The install's timestamp.
        ts: u64,
    },
    /// The same binary was already loaded: nothing changed.
    Unchanged(ModuleInfo),
}

impl Loaded {
    /// The module as it is now.
    pub fn info(&self) -> &ModuleInfo {
        match self {
            Loaded::Installed { info, .. } | Loaded::Unchanged(info) => info,
            Loaded::Upgraded { to, .. } => to,
        }
    }

    /// The module as it is now, by value.
    pub fn into_info(self) -> ModuleInfo {
        match self {
            Loaded::Installed { info, .. } | Loaded::Unchanged(info) => info,
            Loaded::Upgraded { to, .. } => to,
        }
    }
}

impl Runtime {
    /// Compiles, validates and installs a module; runs its init reducer.
    /// Loading the same binary again is a no-op; other code under a loaded
    /// module's name is an upgrade (`docs/SDK.md`, "Changing a schema"),
    /// refused with [`RuntimeError::IncompatibleSchema`] if the new schema
    /// cannot take over the module's data.
    pub async fn load_module(&self, wasm: impl Into<Vec<u8>>) -> Result<ModuleInfo, RuntimeError> {
        self.load_module_detailed(wasm).await.map(Loaded::into_info)
    }

    /// [`Runtime::load_module`], saying what it did: installed, upgraded
    /// (from which version, at which timestamp) or nothing (`interstice
    /// dev` reports each reload with it).
    pub async fn load_module_detailed(
        &self,
        wasm: impl Into<Vec<u8>>,
    ) -> Result<Loaded, RuntimeError> {
        self.check_open()?;
        let wasm = wasm.into();
        let _guard = self.inner.load_lock.lock().await;
        let host = self.inner.host.clone();
        let cache = self.inner.cache_dir.clone();
        let (compiled, wasm) = tokio::task::spawn_blocking(move || {
            host.compile(&wasm, Some(&cache)).map(|c| (c, wasm))
        })
        .await
        .map_err(|e| RuntimeError::Internal(format!("compile task failed: {e}")))??;
        let shared = &self.inner.shared;
        let schema = compiled.schema.clone();
        if let Some(existing) = shared.module(&schema.name) {
            if existing.schema_hash == compiled.schema_hash
                && self.installed_wasm_hash(&schema.name) == Some(compiled.wasm_hash)
            {
                return Ok(Loaded::Unchanged(info(
                    &existing.schema,
                    existing.schema_hash,
                )));
            }
            return self.upgrade_module(existing, compiled, wasm).await;
        }
        let parked = {
            let mut unloaded = self.unloaded();
            match unloaded.get(&schema.name) {
                Some(u) if u.kept.is_some() => unloaded.remove(&schema.name),
                _ => None,
            }
        };
        if let Some(super::unload::UnloadedModule {
            ts,
            kept: Some(kept),
        }) = parked
        {
            return self.reload_module(ts, kept, compiled, wasm).await;
        }
        check_against_loaded(shared, &schema, false)?;
        let install = self.prepare_install(&compiled, &wasm)?;
        let schema_hash = compiled.schema_hash;
        let entry = spawn_entry(
            shared,
            &self.inner.host,
            &self.inner.supervisor,
            compiled,
            Tables::new(&schema.tables),
        )?;
        // The install's timestamp is taken before the module becomes
        // visible, so no call to it can be sequenced before its install; and
        // it is visible before the router sees the install (for init).
        let ts = shared.order.allocate(entry.clock(), 1);
        entry.since.store(ts, std::sync::atomic::Ordering::Release);
        // The init reducer is queued before the module becomes visible, so
        // it runs before any call (the module's mailbox is FIFO), and after
        // the install in timestamp order.
        let init = schema
            .reducers
            .iter()
            .position(|r| r.trigger == Some(interstice_abi::Trigger::Init))
            .map(|idx| {
                let (tx, rx) = oneshot::channel();
                let mut args = Writer::new();
                args.array(0);
                entry.addr.do_send(Execute::call(
                    Target::Index {
                        reducer: idx as u32,
                        schema_hash,
                    },
                    args.into_vec(),
                    Cause::Init,
                    Responder::tokio(tx),
                ));
                rx
            });
        shared.registry.insert(schema.name.clone(), entry);
        // Loaded again after an unload that dropped its tables: a first
        // install.
        self.unloaded().remove(&schema.name);
        let mut w = Writer::new();
        encode_entry(&LogEntry::Install(ModuleInstall { ts, ..install }), &mut w);
        shared.sequencer().do_send(Numbered::one(
            ts,
            NumberedEntry {
                entry: w.into_vec(),
                info: EntryInfo::Install(schema.clone()),
            },
        ));
        shared
            .watermark
            .wait(ts)
            .await
            .map_err(|e| RuntimeError::StorageFault(e.0))?;
        if let Some(rx) = init {
            match rx.await.map_err(|_| RuntimeError::Shutdown)? {
                // Answered once durable (`Watermark::on_reach`).
                Ok(_) => {}
                Err(ExecError::Failed(f)) => {
                    crate::event_in!(WARN, Some(&schema.name), Some("init"), None;
                        "init reducer failed and was rolled back: {}", f.message
                    )
                }
                Err(ExecError::Refused(r)) => return Err(r.into()),
                Err(ExecError::Stale) => {
                    return Err(RuntimeError::Internal(
                        "init was refused as stale: the module changed before it ran".into(),
                    ))
                }
                Err(ExecError::Unloaded(ts)) => {
                    return Err(RuntimeError::ModuleUnloaded {
                        module: schema.name.clone(),
                        ts,
                    })
                }
            }
        }
        crate::event_in!(INFO, Some(&schema.name), None, Some(ts); version = %schema.version, "module installed");
        Ok(Loaded::Installed {
            info: info(&schema, schema_hash),
            ts,
        })
    }

    /// Replaces a loaded module's code with a new version whose schema is
    /// compatible with the data it holds (`SchemaDiff`). The module actor
    /// keeps its address and its tables; it takes the install's timestamp
    /// itself. `init` does not run again. Called with the load lock held.
    async fn upgrade_module(
        &self,
        existing: Arc<ModuleEntry>,
        compiled: CompiledModule,
        wasm: Vec<u8>,
    ) -> Result<Loaded, RuntimeError> {
        let shared = &self.inner.shared;
        let schema = compiled.schema.clone();
        check_against_loaded(shared, &schema, true)?;
        let rows = ask(&existing.addr, |reply| TableRows { reply }).await?;
        let rows_of = |t: &str| rows.iter().find(|r| r.0 == t).map_or(0, |r| r.1);
        let incompatible = |(table, change): (String, String)| RuntimeError::IncompatibleSchema {
            module: schema.name.clone(),
            table,
            change,
        };
        if let Some(bad) =
            SchemaDiff::between(&existing.schema, &schema).first_incompatibility(rows_of)
        {
            return Err(incompatible(bad));
        }
        let install = self.prepare_install(&compiled, &wasm)?;
        let (schema_hash, wasm_hash) = (compiled.schema_hash, compiled.wasm_hash);
        let upgrade = |reply| Upgrade {
            compiled,
            install,
            reply,
        };
        let ts = match ask(&existing.addr, upgrade).await? {
            Ok(ts) => ts,
            Err(UpgradeRefused::Incompatible { table, change }) => {
                return Err(incompatible((table, change)))
            }
            Err(UpgradeRefused::Refused(r)) => return Err(r.into()),
        };
        // Calls checked against the old schema that reach the actor from
        // now on are refused as stale and retried against this entry.
        shared.registry.insert(
            schema.name.clone(),
            Arc::new(ModuleEntry {
                schema: schema.clone(),
                schema_hash,
                wasm_hash,
                addr: existing.addr.clone(),
                outbox: existing.outbox.clone(),
                since: existing.since().into(),
            }),
        );
        shared
            .watermark
            .wait(ts)
            .await
            .map_err(|e| RuntimeError::StorageFault(e.0))?;
        crate::event_in!(INFO, Some(&schema.name), None, Some(ts);
            from = %existing.schema.version,
            to = %schema.version,
            "module upgraded"
        );
        Ok(Loaded::Upgraded {
            from: info(&existing.schema, existing.schema_hash),
            to: info(&schema, schema_hash),
            ts,
        })
    }

    /// Checks the runtime takes writes, stores the binary in the data
    /// directory and describes its install (the timestamp is set later).
    pub(super) fn prepare_install(
        &self,
        compiled: &CompiledModule,
        wasm: &[u8],
    ) -> Result<ModuleInstall, RuntimeError> {
        let shared = &self.inner.shared;
        shared.check_writable()?;
        {
            let dir = self.inner.data_dir.lock().expect("data dir lock");
            let dir = dir.as_ref().ok_or(RuntimeError::Shutdown)?;
            dir.store_module(wasm)?;
        }
        let schema = &compiled.schema;
        Ok(ModuleInstall {
            ts: 0,
            name: schema.name.clone(),
            version: schema.version.clone(),
            schema: schema.canonical_bytes(),
            schema_hash: compiled.schema_hash,
            wasm_hash: compiled.wasm_hash,
            engine: Some(self.inner.host.engine_info.clone()),
        })
    }

    fn installed_wasm_hash(&self, name: &str) -> Option<[u8; 32]> {
        self.inner.shared.module(name).map(|e| e.wasm_hash)
    }
}

fn spawn_module(
    supervisor: &actix::Addr<system::Supervisor>,
    build: impl FnOnce() -> ModuleActor + Send + 'static,
) -> Result<actix::Addr<ModuleActor>, RuntimeError> {
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    supervisor.do_send(SpawnModule {
        build: Box::new(build),
        reply: Responder::std(tx),
    });
    rx.recv_timeout(Duration::from_secs(30))
        .map_err(|_| RuntimeError::Internal("the supervisor did not start the module actor".into()))
}

pub(super) fn register_module(
    shared: &Arc<Shared>,
    host: &Arc<WasmHost>,
    supervisor: &actix::Addr<system::Supervisor>,
    compiled: CompiledModule,
    tables: Tables,
) -> Result<(), RuntimeError> {
    let name = compiled.schema.name.clone();
    let entry = spawn_entry(shared, host, supervisor, compiled, tables)?;
    shared.registry.insert(name, entry);
    Ok(())
}

/// Starts a module actor and returns its registry entry (not yet inserted).
pub(super) fn spawn_entry(
    shared: &Arc<Shared>,
    host: &Arc<WasmHost>,
    supervisor: &actix::Addr<system::Supervisor>,
    compiled: CompiledModule,
    tables: Tables,
) -> Result<Arc<ModuleEntry>, RuntimeError> {
    let schema = compiled.schema.clone();
    let peers = Arc::new(LivePeers {
        shared: shared.clone(),
        outbox: Arc::default(),
        reads: shared
            .tracer
            .as_ref()
            .map(|_| (Arc::from(schema.name.as_str()), Arc::default())),
    });
    let env = Arc::new(shared.module_env(schema.clone(), peers.clone()));
    let outbox = peers.outbox.clone();
    let (host, schema_hash, wasm_hash) = (host.clone(), compiled.schema_hash, compiled.wasm_hash);
    let addr = spawn_module(supervisor, move || {
        ModuleActor::new(env, &peers, host, compiled, tables)
    })?;
    Ok(Arc::new(ModuleEntry {
        schema,
        schema_hash,
        wasm_hash,
        addr,
        outbox,
        since: 0.into(),
    }))
}

/// The checks a load makes against the loaded modules, in the order
/// validate reports them (`interstice_abi::subscriptions`, shared with
/// `interstice validate`): no read-call dependency cycle, generated
/// bindings fit the loaded dependency both ways, every table
/// trigger's source exists, for an upgrade every subscriber still fits, and
/// no certain subscription cycle that is not opted into.
pub(super) fn check_against_loaded(
    shared: &Shared,
    schema: &ModuleSchema,
    upgrade: bool,
) -> Result<(), RuntimeError> {
    let installed: Vec<Arc<ModuleSchema>> =
        shared.registry.iter().map(|e| e.schema.clone()).collect();
    let set = ModuleSet::with(installed.iter().map(|s| &**s), schema);
    if let Some(cycle) = subscriptions::dependency_cycle(&set, schema) {
        return Err(RuntimeError::DependencyCycle(cycle.join(" -> ")));
    }
    if let Some(p) = interstice_abi::bindings::binding_problem(&set, schema) {
        return Err(RuntimeError::IncompatibleDependency(Box::new(p)));
    }
    if let Some(p) = subscriptions::subscription_problems(&set, schema)
        .into_iter()
        .next()
    {
        return Err(RuntimeError::BadSubscription {
            module: schema.name.clone(),
            reason: p.to_string(),
        });
    }
    if upgrade {
        if let Some((table, change)) = subscriptions::subscriber_problem(&set, schema) {
            return Err(RuntimeError::IncompatibleSchema {
                module: schema.name.clone(),
                table,
                change,
            });
        }
    }
    check_cycles(&set, &schema.name)
}

/// Refuses a certain subscription cycle no `recursive` accepts; warns of
/// a possible one (through undeclared writes) and notes a bounded one.
fn check_cycles(set: &ModuleSet<'_>, module: &str) -> Result<(), RuntimeError> {
    let report = SubscriptionGraph::of(set).check(module);
    if let Some(c) = report.refused {
        return Err(RuntimeError::SubscriptionCycle {
            module: module.to_owned(),
            path: c.path(),
            missing: c.not_recursive().join(", "),
        });
    }
    for c in &report.possible {
        crate::event_in!(WARN, Some(module), None, None;
            "possible subscription cycle {}: a trigger on it declares no `writes`, so it may \
             write every table of its module; Limits::max_trigger_depth cuts such a chain \
             (declare `writes = [...]` to check it at load)",
            c.path()
        );
    }
    for c in &report.bounded {
        crate::event_in!(INFO, Some(module), None, None;
            "bounded recursion accepted (`recursive`): subscription cycle {}, cut at \
             Limits::max_trigger_depth",
            c.path()
        );
    }
    Ok(())
}

/// Compiles and validates a module binary outside any runtime (exports,
/// imports, ABI version, schema) and returns what it declares.
pub fn inspect_module(wasm: &[u8]) -> Result<ModuleInfo, RuntimeError> {
    let host = WasmHost::new(Limits {
        max_instances: 2,
        ..Limits::default()
    })?;
    let compiled = host.compile(wasm, None)?;
    Ok(info(&compiled.schema, compiled.schema_hash))
}
