//! Replay at open: applies logged mutations to fresh tables without
//! instantiating or running any wasm, and works out which deliveries (init
//! calls, async calls, triggers) were still pending when the log ended.

use std::path::Path;
use std::sync::Arc;

use interstice_abi::ModuleSchema;
use interstice_persist::{DataDir, LogEntryRef, ModuleInstall};

use crate::error::RuntimeError;
use crate::recovery::deliveries::Delivery;
use crate::recovery::deliveries::DeliveryLimits;
use crate::recovery::log_state::{Applied, LogState};
use crate::wasm::engine::{CompiledModule, WasmHost};
use interstice_tables::Tables;

/// A module rebuilt by replay.
pub(crate) struct ReplayedModule {
    pub compiled: CompiledModule,
    pub tables: Tables,
}

/// Replay's state, fed one entry at a time: the [`LogState`] plus each
/// module compiled (never instantiated) so its actor can run it later.
pub(crate) struct Replayer<'a> {
    host: &'a WasmHost,
    data_dir: &'a DataDir,
    cache_dir: &'a Path,
    pub state: LogState,
    /// Parallel to `state.modules`.
    compiled: Vec<CompiledModule>,
}

impl<'a> Replayer<'a> {
    pub(crate) fn new(
        host: &'a WasmHost,
        data_dir: &'a DataDir,
        cache_dir: &'a Path,
        limits: DeliveryLimits,
    ) -> Self {
        Self {
            host,
            data_dir,
            cache_dir,
            state: LogState::new(limits),
            compiled: Vec::new(),
        }
    }

    /// A replayer that continues from a snapshot's state instead of an
    /// empty one: each module is compiled from its stored binary with the
    /// schema the snapshot recorded (no guest code runs), its tables are the
    /// snapshot's, and the snapshot's pending deliveries are outstanding.
    pub(crate) fn from_snapshot(
        host: &'a WasmHost,
        data_dir: &'a DataDir,
        cache_dir: &'a Path,
        limits: DeliveryLimits,
        snap: &interstice_persist::Snapshot,
    ) -> Result<Self, RuntimeError> {
        let mut r = Self::new(host, data_dir, cache_dir, limits);
        r.state = LogState::from_snapshot(snap, limits)?;
        for m in &snap.modules {
            let compiled = r.compile(&m.install())?;
            r.compiled.push(compiled);
        }
        Ok(r)
    }

    fn compile(&self, i: &ModuleInstall) -> Result<CompiledModule, RuntimeError> {
        let wasm = self.data_dir.load_module(&i.wasm_hash).map_err(|e| {
            RuntimeError::replay(
                i.ts,
                &i.name,
                format!("installed module binary is missing: {e}"),
            )
        })?;
        compile_install(self.host, i, &wasm, Some(self.cache_dir))
    }

    /// Applies one log entry; an install also compiles its module.
    pub(crate) fn apply(&mut self, entry: LogEntryRef<'_>) -> Result<(), RuntimeError> {
        let compiled = match &entry {
            LogEntryRef::Install(i) => Some(self.compile(i)?),
            LogEntryRef::Commit(_) | LogEntryRef::Engine(_) | LogEntryRef::Unload(_) => None,
        };
        match (self.state.apply(entry)?, compiled) {
            (Applied::Installed, Some(c)) => self.compiled.push(c),
            (Applied::Upgraded(idx), Some(c)) => self.compiled[idx] = c,
            (Applied::Unloaded(idx), None) => drop(self.compiled.remove(idx)),
            _ => {}
        }
        Ok(())
    }

    /// The replayed modules, in install order, with their pending
    /// deliveries (in the order they must run) and subscriptions.
    pub(crate) fn finish(self) -> (Vec<(String, ReplayedModule)>, Vec<Delivery>, LogState) {
        let mut state = self.state;
        let pending = state.take_pending();
        let modules = std::mem::take(&mut state.modules)
            .into_iter()
            .zip(self.compiled)
            .map(|(m, compiled)| {
                (
                    m.name,
                    ReplayedModule {
                        compiled,
                        tables: m.tables.into_tables(),
                    },
                )
            })
            .collect();
        (modules, pending, state)
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
    let fail = |reason: String| RuntimeError::replay(i.ts, &i.name, reason);
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
