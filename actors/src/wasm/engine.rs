//! The wasmtime engine (pooling allocator, fuel, epoch interruption for the
//! wall-clock limit), the host-call linker, and module compilation and
//! validation. A module is compiled once; compiled code is cached in the
//! data directory so a restart does not recompile.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use interstice_abi::host as abi;
use interstice_abi::{ModuleSchema, ABI_VERSION};
use interstice_persist::{EngineInfo, Hash};
use wasmtime::{
    Config, Engine, ExternType, InstanceAllocationStrategy, InstancePre, Linker, Module,
    PoolingAllocationConfig, Store, ValType,
};

use crate::config::Limits;
use crate::error::RuntimeError;
use crate::wasm::host_state::{HostState, HostTrap};

/// Fuel for probing a module's schema (running its schema export only).
const PROBE_FUEL: u64 = 50_000_000;

/// The engine and linker shared by every module of a runtime.
pub(crate) struct WasmHost {
    pub engine: Engine,
    pub linker: Linker<HostState>,
    pub limits: Limits,
    /// What the log records of this engine (`LogEntry::Engine`).
    pub engine_info: EngineInfo,
}

/// The wasm stack a transaction may use (`Config::max_wasm_stack`).
const MAX_WASM_STACK: usize = 1 << 20;

/// A compiled, validated module.
#[derive(Clone)]
pub(crate) struct CompiledModule {
    pub pre: InstancePre<HostState>,
    pub schema: Arc<ModuleSchema>,
    pub schema_hash: Hash,
    pub wasm_hash: Hash,
}

impl std::fmt::Debug for CompiledModule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompiledModule")
            .field("name", &self.schema.name)
            .finish_non_exhaustive()
    }
}

impl WasmHost {
    /// Builds the engine: pooling allocator sized by `limits`, fuel metering.
    pub(crate) fn new(limits: Limits) -> Result<Self, RuntimeError> {
        let mut pool = PoolingAllocationConfig::default();
        pool.total_memories(limits.max_instances)
            .total_tables(limits.max_instances)
            .total_core_instances(limits.max_instances)
            .max_memory_size(limits.memory_bytes);
        let mut cfg = Config::new();
        // Determinism (docs/DETERMINISM.md): every NaN a float or SIMD
        // instruction produces gets the canonical bit pattern, so no result
        // depends on the host CPU's NaN payloads; relaxed-SIMD instructions
        // take their deterministic (spec-defined) semantics instead of each
        // CPU's fastest lowering. Threads and shared memory are not enabled
        // (the `threads` crate feature is off), so a module using them fails
        // validation, and `compile_error` says why.
        cfg.cranelift_nan_canonicalization(true)
            .relaxed_simd_deterministic(true)
            .consume_fuel(true)
            .epoch_interruption(true)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool))
            .max_wasm_stack(MAX_WASM_STACK);
        let engine = Engine::new(&cfg).map_err(|e| RuntimeError::Engine(format!("{e:#}")))?;
        start_epoch_ticker(&engine)?;
        let mut linker = Linker::new(&engine);
        crate::wasm::hostcalls::link(&mut linker)
            .map_err(|e| RuntimeError::Engine(format!("{e:#}")))?;
        let engine_info = EngineInfo {
            runtime: env!("CARGO_PKG_VERSION").to_owned(),
            wasmtime: wasmtime_environ::VERSION.to_owned(),
            target: format!("{}-{}", std::env::consts::ARCH, std::env::consts::OS),
            fuel_schedule: interstice_abi::query::FUEL_SCHEDULE,
            max_wasm_stack: MAX_WASM_STACK as u64,
            code: cache::engine_fingerprint(&engine),
        };
        Ok(Self {
            engine,
            linker,
            limits,
            engine_info,
        })
    }

    /// Compiles (or loads from `cache_dir`) and validates a module, and reads
    /// its schema by running its schema export in a throwaway instance.
    pub(crate) fn compile(
        &self,
        wasm: &[u8],
        cache_dir: Option<&Path>,
    ) -> Result<CompiledModule, RuntimeError> {
        let (pre, wasm_hash) = self.prepare(wasm, cache_dir)?;
        let schema = self.probe_schema(&pre)?;
        Ok(CompiledModule {
            pre,
            schema_hash: schema.hash(),
            schema: Arc::new(schema),
            wasm_hash,
        })
    }

    /// Compiles a module whose schema is already known (from the log), so
    /// that no guest code runs at all — replay uses this.
    pub(crate) fn compile_known(
        &self,
        wasm: &[u8],
        schema: Arc<ModuleSchema>,
        cache_dir: Option<&Path>,
    ) -> Result<CompiledModule, RuntimeError> {
        let (pre, wasm_hash) = self.prepare(wasm, cache_dir)?;
        Ok(CompiledModule {
            pre,
            schema_hash: schema.hash(),
            schema,
            wasm_hash,
        })
    }

    fn prepare(
        &self,
        wasm: &[u8],
        cache_dir: Option<&Path>,
    ) -> Result<(InstancePre<HostState>, Hash), RuntimeError> {
        let wasm_hash = *blake3::hash(wasm).as_bytes();
        let cache_path = cache_dir.map(|d| cache_file(d, &wasm_hash));
        let module = match cache_path
            .as_deref()
            .and_then(|p| self.load_cached(p, &wasm_hash))
        {
            Some(m) => m,
            None => {
                let m = Module::new(&self.engine, wasm).map_err(compile_error)?;
                if let Some(p) = &cache_path {
                    self.store_cached(&m, p, &wasm_hash);
                }
                m
            }
        };
        check_exports(&module)?;
        check_imports(&module, &self.linker, &self.engine)?;
        let pre = self
            .linker
            .instantiate_pre(&module)
            .map_err(|e| RuntimeError::MalformedWasm(format!("{e:#}")))?;
        Ok((pre, wasm_hash))
    }

    /// Loads `path` if it is a cache file of exactly this wasm (`wasm_hash`)
    /// compiled by exactly this engine, with intact code (see [`cache`]);
    /// otherwise warns, naming the reason, and returns `None` (the caller
    /// recompiles and overwrites the entry).
    fn load_cached(&self, path: &Path, wasm_hash: &Hash) -> Option<Module> {
        let reject = |reason: &dyn std::fmt::Display| {
            crate::event_in!(WARN, None, None, None;
                path = %path.display(),
                "compiled-module cache entry not used, recompiling: {reason}"
            );
            None
        };
        let file = match cache::read(path) {
            Ok(Some(f)) => f,
            Ok(None) => return None,
            Err(e) => return reject(&e),
        };
        let fingerprint = cache::engine_fingerprint(&self.engine);
        let body = match cache::verify(&file, wasm_hash, &fingerprint) {
            Ok(b) => b,
            Err(r) => return reject(&r),
        };
        // SAFETY: `Module::deserialize` trusts its input to be code this
        // engine compiled. `cache::verify` checked that these in-memory
        // bytes (read once, so they cannot change after the check) are the
        // ones `store_cached` wrote for this very wasm and this engine's
        // version and configuration, by their blake3 checksum. Accidental
        // damage and stale or swapped entries are therefore rejected; a
        // local user able to forge the checksum can equally replace the
        // module binaries or the log (docs/SECURITY.md).
        match unsafe { Module::deserialize(&self.engine, body) } {
            Ok(m) => Some(m),
            Err(e) => reject(&format!("{e:#}")),
        }
    }

    /// Writes `module` to the cache atomically (see [`cache::write`]); a
    /// failure only costs a recompilation next time, so it is a warning.
    fn store_cached(&self, module: &Module, path: &Path, wasm_hash: &Hash) {
        let fingerprint = cache::engine_fingerprint(&self.engine);
        let res = module
            .serialize()
            .map_err(std::io::Error::other)
            .and_then(|body| cache::write(path, &cache::encode(wasm_hash, &fingerprint, &body)));
        if let Err(e) = res {
            crate::event_in!(WARN, None, None, None; path = %path.display(), "could not cache compiled module: {e}");
        }
    }

    /// A store with the runtime's limits. Until a reducer call sets its
    /// own, the store's wall-clock deadline (instantiation, schema probing)
    /// is one `Limits::tx_time` from now.
    pub(crate) fn store(&self, mut state: HostState) -> Store<HostState> {
        state.tx.deadline = Instant::now() + self.limits.tx_time;
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limiter);
        let limit = self.limits.tx_time;
        store.epoch_deadline_callback(move |mut ctx| {
            let st = ctx.data_mut();
            if Instant::now() >= st.tx.deadline {
                return Err(wasmtime::Error::new(HostTrap {
                    kind: interstice_persist::ErrorKind::Timeout,
                    message: format!(
                        "wall-clock limit reached (Limits::tx_time = {limit:?}): the \
                         transaction ran too long"
                    ),
                }));
            }
            // A long transaction: the module's earlier commits need not
            // wait for it (`actors/outbox.rs`).
            if let Some(env) = &st.env {
                env.peers.number_finished();
            }
            Ok(wasmtime::UpdateDeadline::Continue(1))
        });
        store.set_epoch_deadline(1);
        store
    }

    /// Instantiates in a throwaway store and reads the ABI version and schema.
    fn probe_schema(&self, pre: &InstancePre<HostState>) -> Result<ModuleSchema, RuntimeError> {
        let mut store = self.store(HostState::new(None, self.limits.memory_bytes));
        store
            .set_fuel(PROBE_FUEL)
            .map_err(|e| RuntimeError::Engine(format!("{e:#}")))?;
        let instance = pre
            .instantiate(&mut store)
            .map_err(|e| RuntimeError::MalformedWasm(format!("instantiation failed: {e:#}")))?;
        let version = instance
            .get_typed_func::<(), i32>(&mut store, abi::EXPORT_ABI_VERSION)
            .and_then(|f| f.call(&mut store, ()))
            .map_err(|e| {
                RuntimeError::MalformedWasm(format!("{}: {e:#}", abi::EXPORT_ABI_VERSION))
            })?;
        if version as u32 != ABI_VERSION {
            return Err(interstice_abi::AbiError::AbiMismatch {
                module: version as u32,
                host: ABI_VERSION,
            }
            .into());
        }
        let packed = instance
            .get_typed_func::<(), i64>(&mut store, abi::EXPORT_SCHEMA)
            .and_then(|f| f.call(&mut store, ()))
            .map_err(|e| RuntimeError::MalformedWasm(format!("{}: {e:#}", abi::EXPORT_SCHEMA)))?;
        let (ptr, len) = abi::unpack(packed);
        let memory = instance.get_memory(&mut store, abi::EXPORT_MEMORY).ok_or(
            RuntimeError::MissingExport {
                name: abi::EXPORT_MEMORY,
                detail: "a memory".into(),
            },
        )?;
        let data = memory.data(&store);
        let bytes = (ptr as usize)
            .checked_add(len as usize)
            .and_then(|end| data.get(ptr as usize..end))
            .ok_or_else(|| {
                RuntimeError::MalformedWasm(format!(
                    "schema buffer {ptr:#x}+{len} is outside guest memory"
                ))
            })?;
        Ok(ModuleSchema::decode(bytes)?)
    }
}

/// A module wasmtime would not compile. Features the engine leaves off
/// because their results would depend on timing or on the host (threads:
/// shared memory and atomics) are named as such.
fn compile_error(e: wasmtime::Error) -> RuntimeError {
    let text = format!("{e:#}");
    if text.contains("threads must be enabled") || text.contains("threads support is not enabled") {
        return RuntimeError::MalformedWasm(format!(
            "the module uses wasm threads (shared memory or atomic instructions), which \
             Interstice refuses: a transaction runs on one thread, and shared memory would \
             make results depend on timing; build without the `atomics` target feature \
             ({text})"
        ));
    }
    RuntimeError::MalformedWasm(text)
}

/// Advances the engine's epoch every [`Limits::EPOCH_TICK`] on a thread of
/// its own, which ends once the engine is dropped. Each tick makes running
/// wasm call the store's epoch callback, which enforces the wall-clock limit.
fn start_epoch_ticker(engine: &Engine) -> Result<(), RuntimeError> {
    let weak = engine.weak();
    std::thread::Builder::new()
        .name("interstice-epoch".into())
        .spawn(move || loop {
            std::thread::sleep(Limits::EPOCH_TICK);
            match weak.upgrade() {
                Some(engine) => engine.increment_epoch(),
                None => return,
            }
        })
        .map(drop)
        .map_err(|e| RuntimeError::Internal(format!("starting the epoch thread: {e}")))
}

/// The compiled-module cache file format (`docs/LOG_FORMAT.md` §9.1).
mod cache;

/// `cache/<64 lowercase hex digits of blake3(wasm)>.cwasm`.
fn cache_file(dir: &Path, wasm_hash: &Hash) -> PathBuf {
    dir.join(format!("{}.cwasm", blake3::Hash::from(*wasm_hash).to_hex()))
}

fn check_exports(module: &Module) -> Result<(), RuntimeError> {
    use ValType::{I32, I64};
    let funcs: [(&'static str, &[ValType], &[ValType]); 4] = [
        (abi::EXPORT_ABI_VERSION, &[], &[I32]),
        (abi::EXPORT_SCHEMA, &[], &[I64]),
        (abi::EXPORT_ALLOC, &[I32], &[I32]),
        (abi::EXPORT_CALL, &[I32, I32, I32], &[I64]),
    ];
    match module.get_export(abi::EXPORT_MEMORY) {
        Some(ExternType::Memory(_)) => {}
        other => {
            return Err(RuntimeError::MissingExport {
                name: abi::EXPORT_MEMORY,
                detail: format!("expected a memory, found {}", describe(other.as_ref())),
            })
        }
    }
    for (name, params, results) in funcs {
        let ok = match module.get_export(name) {
            Some(ExternType::Func(f)) => {
                f.params()
                    .map(|p| p.to_string())
                    .eq(params.iter().map(|p| p.to_string()))
                    && f.results()
                        .map(|p| p.to_string())
                        .eq(results.iter().map(|p| p.to_string()))
            }
            _ => false,
        };
        if !ok {
            return Err(RuntimeError::MissingExport {
                name,
                detail: format!(
                    "expected func({}) -> ({}), found {}",
                    list(params),
                    list(results),
                    describe(module.get_export(name).as_ref())
                ),
            });
        }
    }
    Ok(())
}

fn list(tys: &[ValType]) -> String {
    tys.iter()
        .map(|t| t.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

fn describe(e: Option<&ExternType>) -> String {
    match e {
        None => "nothing".into(),
        Some(ExternType::Func(f)) => format!("a function {f}"),
        Some(ExternType::Memory(_)) => "a memory".into(),
        Some(ExternType::Table(_)) => "a table".into(),
        Some(ExternType::Global(_)) => "a global".into(),
        Some(_) => "another kind of export".into(),
    }
}

fn check_imports(
    module: &Module,
    linker: &Linker<HostState>,
    engine: &Engine,
) -> Result<(), RuntimeError> {
    let mut store = Store::new(engine, HostState::new(None, 0));
    for import in module.imports() {
        let provided = if import.module() == abi::IMPORT_MODULE {
            linker.get(&mut store, import.module(), import.name()).ok()
        } else {
            None
        };
        let Some(provided) = provided else {
            return Err(RuntimeError::UnknownImport {
                module: import.module().to_owned(),
                name: import.name().to_owned(),
            });
        };
        let wanted = describe(Some(&import.ty()));
        let found = describe(Some(&provided.ty(&store)));
        if wanted != found {
            return Err(RuntimeError::ImportMismatch {
                name: import.name().to_owned(),
                expected: found,
                found: wanted,
            });
        }
    }
    Ok(())
}
