//! The embedding API: [`Runtime`], a `Send + Sync + Clone` handle with async
//! methods, and its [`RuntimeBuilder`].

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use interstice_abi::cbor::{Reader, Writer};
use interstice_abi::host as abi;
use interstice_abi::{ModuleSchema, ReducerMode, ReducerSchema, Type, Value};
use interstice_persist::{encode_entry, Cause, DataDir, LogEntry, ModuleInstall, WriterOptions};
use tokio::sync::oneshot;
use tokio_stream::wrappers::UnboundedReceiverStream;

use crate::config::{Durability, Limits, RuntimeConfig};
use crate::engine::{CompiledModule, WasmHost};
use crate::error::{ReducerError, RuntimeError};
use crate::messages::{
    Completed, ExecError, Execute, Failure, FlushLog, HashState, Query, Responder, ResumePending,
    Sequenced, StopModule, Summary,
};
use crate::module_actor::ModuleActor;
use crate::replay::Replayer;
use crate::router::{RowChange, SubscribeTable};
use crate::shared::{params_type, Metrics, ModuleEntry, ModuleEnv, Shared};
use crate::system::{self, SpawnModule, SystemHandles};
use crate::table::Tables;

/// Builds a [`Runtime`].
#[derive(Debug, Clone)]
pub struct RuntimeBuilder {
    config: RuntimeConfig,
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
            .map_err(|e| RuntimeError::Engine(format!("open task failed: {e}")))?
    }

    /// [`RuntimeBuilder::open`] for callers outside an async context.
    pub fn open_blocking(self) -> Result<Runtime, RuntimeError> {
        Runtime::open_with(self.config)
    }
}

/// A module as loaded.
#[derive(Debug, Clone)]
pub struct ModuleInfo {
    /// Module name.
    pub name: String,
    /// Declared version.
    pub version: String,
    /// Full schema.
    pub schema: Arc<ModuleSchema>,
    /// blake3 of the canonical schema.
    pub schema_hash: [u8; 32],
}

/// The result of a successful call.
#[derive(Debug, Clone, PartialEq)]
pub struct CallOutput {
    /// Commit timestamp (`None` for reads).
    pub ts: Option<u64>,
    /// The returned value.
    pub value: Value,
    /// Its type.
    pub ty: Type,
}

impl CallOutput {
    /// The value as JSON.
    pub fn to_json(&self) -> serde_json::Value {
        self.value.to_json(&self.ty)
    }
}

/// A running Interstice runtime. Cheap to clone; every clone drives the
/// same runtime. Call [`Runtime::shutdown`] to flush and release the data
/// directory.
#[derive(Clone)]
pub struct Runtime {
    inner: Arc<Inner>,
}

struct Inner {
    shared: Arc<Shared>,
    host: Arc<WasmHost>,
    data_dir: Mutex<Option<DataDir>>,
    cache_dir: PathBuf,
    handles: Mutex<Option<SystemHandles>>,
    supervisor: actix::Addr<system::Supervisor>,
    router: actix::Addr<crate::router::Router>,
    log: actix::Addr<crate::log_writer::LogWriter>,
    load_lock: tokio::sync::Mutex<()>,
    closed: AtomicBool,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("shared", &self.inner.shared)
            .finish_non_exhaustive()
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(h) = self.handles.lock().ok().and_then(|mut h| h.take()) {
            h.system.stop();
        }
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
        .map_err(|_| RuntimeError::Engine("the supervisor did not start the module actor".into()))
}

impl Runtime {
    /// A builder with defaults: data directory `./interstice-data`, `sync`
    /// durability, default limits, 64 MiB segments.
    pub fn builder() -> RuntimeBuilder {
        RuntimeBuilder {
            config: RuntimeConfig {
                data_dir: PathBuf::from("interstice-data"),
                durability: Durability::Sync,
                limits: Limits::default(),
                segment_size: 64 << 20,
                log_storage: None,
                stop_at: None,
                skip_to_log_offset: None,
            },
        }
    }

    fn open_with(config: RuntimeConfig) -> Result<Runtime, RuntimeError> {
        let started = std::time::Instant::now();
        let data_dir = DataDir::open(&config.data_dir, true)?;
        let cache_dir = config.data_dir.join("cache");
        std::fs::create_dir_all(&cache_dir)?;
        let host = Arc::new(WasmHost::new(config.limits)?);
        let mut replayer = Replayer::new(
            &host,
            &data_dir,
            &cache_dir,
            config.limits.max_trigger_depth,
        );
        let storage = config
            .log_storage
            .clone()
            .unwrap_or_else(|| data_dir.log_storage());
        let log = open_log(&config, storage, |entry| replayer.apply(entry))?;
        let shared = Arc::new(Shared::new(log.next_ts, data_dir.secret(), config.limits));
        if let Some(reason) = log.read_only {
            shared.set_read_only(reason);
        }
        shared
            .metrics
            .replayed_entries
            .store(replayer.entries, Ordering::Relaxed);
        shared
            .metrics
            .replayed_mutations
            .store(replayer.mutations, Ordering::Relaxed);
        let pending = replayer.pending();
        let modules = std::mem::take(&mut replayer.modules);
        let subs = replayer.subs.clone();
        drop(replayer);
        let last_ts = log.next_ts - 1;
        let handles = system::start(shared.clone(), log.writer, config.durability, subs, last_ts)?;
        for (name, m) in modules {
            register_module(&shared, &host, &handles.supervisor, m.compiled, m.tables)?;
            tracing::debug!(module = %name, "module restored");
        }
        handles.router.do_send(ResumePending(pending));
        let metrics = shared.metrics.snapshot();
        tracing::info!(
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
                shared,
                host,
                data_dir: Mutex::new(Some(data_dir)),
                cache_dir,
                load_lock: tokio::sync::Mutex::new(()),
                closed: AtomicBool::new(false),
            }),
        })
    }

    fn check_open(&self) -> Result<(), RuntimeError> {
        if self.inner.closed.load(Ordering::SeqCst) {
            return Err(RuntimeError::Shutdown);
        }
        Ok(())
    }

    /// Compiles, validates and installs a module; runs its init reducer.
    /// Loading the same binary again is a no-op.
    pub async fn load_module(&self, wasm: impl Into<Vec<u8>>) -> Result<ModuleInfo, RuntimeError> {
        self.check_open()?;
        let wasm = wasm.into();
        let _guard = self.inner.load_lock.lock().await;
        let host = self.inner.host.clone();
        let cache = self.inner.cache_dir.clone();
        let (compiled, wasm) = tokio::task::spawn_blocking(move || {
            host.compile(&wasm, Some(&cache)).map(|c| (c, wasm))
        })
        .await
        .map_err(|e| RuntimeError::Engine(format!("compile task failed: {e}")))??;
        let shared = &self.inner.shared;
        let schema = compiled.schema.clone();
        if let Some(existing) = shared.module(&schema.name) {
            if existing.schema_hash == compiled.schema_hash
                && self.installed_wasm_hash(&schema.name) == Some(compiled.wasm_hash)
            {
                return Ok(info(&existing.schema, existing.schema_hash));
            }
            return Err(RuntimeError::ModuleExists(schema.name.clone()));
        }
        check_dependency_cycle(shared, &schema)?;
        check_subscriptions(shared, &schema)?;
        if let Some(r) = shared.read_only.get() {
            return Err(RuntimeError::ReadOnly(r.clone()));
        }
        if let Some(f) = shared.fault() {
            return Err(RuntimeError::StorageFault(f));
        }
        {
            let dir = self.inner.data_dir.lock().expect("data dir lock");
            let dir = dir.as_ref().ok_or(RuntimeError::Shutdown)?;
            dir.store_module(&wasm)?;
        }
        let install = ModuleInstall {
            ts: 0,
            name: schema.name.clone(),
            version: schema.version.clone(),
            schema: schema.canonical_bytes(),
            schema_hash: compiled.schema_hash,
            wasm_hash: compiled.wasm_hash,
        };
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
        let ts = shared.order.allocate();
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
                entry.addr.do_send(Execute {
                    reducer: idx as u32,
                    args: args.into_vec(),
                    cause: Cause::Init,
                    depth: 0,
                    reply: Some(Responder::tokio(tx)),
                });
                rx
            });
        shared.registry.insert(schema.name.clone(), entry);
        let mut w = Writer::new();
        encode_entry(&LogEntry::Install(ModuleInstall { ts, ..install }), &mut w);
        shared.sequencer().do_send(Completed {
            ts,
            item: Sequenced {
                entry: w.into_vec(),
                summary: Summary::Install(schema.clone()),
            },
        });
        shared
            .watermark
            .wait(ts)
            .await
            .map_err(|e| RuntimeError::StorageFault(e.0))?;
        if let Some(rx) = init {
            match rx.await.map_err(|_| RuntimeError::Shutdown)? {
                Ok((init_ts, _)) => shared
                    .watermark
                    .wait(init_ts)
                    .await
                    .map_err(|e| RuntimeError::StorageFault(e.0))?,
                Err(ExecError::Failed(f)) => tracing::warn!(
                    module = %schema.name,
                    "init reducer failed and was rolled back: {}", f.message
                ),
                Err(ExecError::Poisoned(f)) => return Err(RuntimeError::StorageFault(f)),
            }
        }
        tracing::info!(module = %schema.name, version = %schema.version, ts, "module installed");
        Ok(info(&schema, schema_hash))
    }

    fn installed_wasm_hash(&self, name: &str) -> Option<[u8; 32]> {
        self.inner.shared.module(name).map(|e| e.wasm_hash)
    }

    /// The module entry and reducer index for `module.reducer`.
    fn find_reducer(
        &self,
        module: &str,
        reducer: &str,
    ) -> Result<(Arc<ModuleEntry>, u32), RuntimeError> {
        let entry = self
            .inner
            .shared
            .module(module)
            .ok_or_else(|| RuntimeError::UnknownModule(module.to_owned()))?;
        let (idx, _) = entry
            .reducer(reducer)
            .ok_or_else(|| RuntimeError::UnknownReducer {
                module: module.to_owned(),
                reducer: reducer.to_owned(),
            })?;
        Ok((entry, idx))
    }

    fn lookup(
        &self,
        module: &str,
        reducer: &str,
        want: ReducerMode,
    ) -> Result<(Arc<ModuleEntry>, u32), RuntimeError> {
        self.check_open()?;
        let (entry, idx) = self.find_reducer(module, reducer)?;
        let rs = &entry.schema.reducers[idx as usize];
        if rs.mode != want {
            return Err(RuntimeError::WrongMode {
                module: module.to_owned(),
                reducer: reducer.to_owned(),
                mode: if rs.mode == ReducerMode::Read {
                    "read"
                } else {
                    "write"
                },
                hint: if rs.mode == ReducerMode::Read {
                    "use read() (it never writes the log)"
                } else {
                    "use call() (it commits a transaction)"
                },
            });
        }
        if rs.trigger.is_some() {
            return Err(RuntimeError::WrongMode {
                module: module.to_owned(),
                reducer: reducer.to_owned(),
                mode: "trigger",
                hint: "the runtime calls it when its event happens",
            });
        }
        Ok((entry, idx))
    }

    /// Calls a write reducer: one transaction, acknowledged per the
    /// durability mode (by default after the commit is fsynced).
    pub async fn call(
        &self,
        module: &str,
        reducer: &str,
        args: Vec<Value>,
    ) -> Result<CallOutput, RuntimeError> {
        let (entry, idx) = self.lookup(module, reducer, ReducerMode::Write)?;
        let rs = &entry.schema.reducers[idx as usize];
        let bytes = encode_args(module, rs, args)?;
        let (ts, value) = self.execute(&entry, idx, bytes).await?;
        Ok(CallOutput {
            ts: Some(ts),
            value: decode_value(&rs.returns, &value)?,
            ty: rs.returns.clone(),
        })
    }

    /// Calls a write reducer with arguments already encoded as the CBOR
    /// argument array (`docs/ABI.md` §2). Returns the commit timestamp and
    /// the encoded return value. The fast path for benchmarks and bridges.
    pub async fn call_encoded(
        &self,
        module: &str,
        reducer: &str,
        args: Vec<u8>,
    ) -> Result<(u64, Vec<u8>), RuntimeError> {
        let (entry, idx) = self.lookup(module, reducer, ReducerMode::Write)?;
        let rs = &entry.schema.reducers[idx as usize];
        params_type(rs)
            .validate_exact(&args)
            .map_err(|e| arg_error(module, rs, 0, e.to_string()))?;
        self.execute(&entry, idx, args).await
    }

    async fn execute(
        &self,
        entry: &ModuleEntry,
        idx: u32,
        args: Vec<u8>,
    ) -> Result<(u64, Vec<u8>), RuntimeError> {
        if let Some(r) = self.inner.shared.read_only.get() {
            return Err(RuntimeError::ReadOnly(r.clone()));
        }
        if let Some(f) = self.inner.shared.fault() {
            return Err(RuntimeError::StorageFault(f));
        }
        let (tx, rx) = oneshot::channel();
        entry.addr.do_send(Execute {
            reducer: idx,
            args,
            cause: Cause::External,
            depth: 0,
            reply: Some(Responder::tokio(tx)),
        });
        let rs = &entry.schema.reducers[idx as usize];
        match rx.await.map_err(|_| RuntimeError::Shutdown)? {
            Ok((ts, value)) => {
                self.inner
                    .shared
                    .watermark
                    .wait(ts)
                    .await
                    .map_err(|e| RuntimeError::StorageFault(e.0))?;
                Ok((ts, value))
            }
            Err(ExecError::Failed(f)) => Err(reducer_error(&entry.schema.name, rs, f)),
            Err(ExecError::Poisoned(f)) => Err(RuntimeError::StorageFault(f)),
        }
    }

    /// Calls a read reducer. Never writes the log.
    pub async fn read(
        &self,
        module: &str,
        reducer: &str,
        args: Vec<Value>,
    ) -> Result<CallOutput, RuntimeError> {
        let (entry, idx) = self.lookup(module, reducer, ReducerMode::Read)?;
        let rs = &entry.schema.reducers[idx as usize];
        let bytes = encode_args(module, rs, args)?;
        let (tx, rx) = oneshot::channel();
        entry.addr.do_send(Query {
            reducer: idx,
            args: bytes,
            reply: Responder::tokio(tx),
        });
        let tagged = rx
            .await
            .map_err(|_| RuntimeError::Shutdown)?
            .map_err(|f| reducer_error(module, rs, f))?;
        let mut r = Reader::new(&tagged);
        let (tag, value) = (|| {
            r.array_of(2)?;
            let tag = r.u64()?;
            Ok::<_, interstice_abi::AbiError>((tag, r.skip()?))
        })()?;
        if tag == abi::RESULT_ERR {
            return Err(reducer_error(
                module,
                rs,
                Failure {
                    kind: interstice_persist::ErrorKind::UserError,
                    message: String::new(),
                    value: Some(value.to_vec()),
                },
            ));
        }
        Ok(CallOutput {
            ts: None,
            value: decode_value(&rs.returns, value)?,
            ty: rs.returns.clone(),
        })
    }

    /// [`Runtime::call`] or [`Runtime::read`] (by the reducer's mode) with
    /// JSON arguments, one JSON value per parameter.
    pub async fn call_json(
        &self,
        module: &str,
        reducer: &str,
        args: &[serde_json::Value],
    ) -> Result<CallOutput, RuntimeError> {
        let (entry, idx) = self.find_reducer(module, reducer)?;
        let rs = &entry.schema.reducers[idx as usize];
        if args.len() != rs.params.len() {
            return Err(RuntimeError::ArgCount {
                module: module.to_owned(),
                reducer: reducer.to_owned(),
                expected: rs.params.len(),
                got: args.len(),
            });
        }
        let values = rs
            .params
            .iter()
            .zip(args)
            .enumerate()
            .map(|(i, (p, j))| Value::from_json(&p.ty, j).map_err(|e| arg_error(module, rs, i, e)))
            .collect::<Result<Vec<_>, _>>()?;
        match rs.mode {
            ReducerMode::Write => self.call(module, reducer, values).await,
            ReducerMode::Read => self.read(module, reducer, values).await,
        }
    }

    /// A stream of committed (durable) changes to `module.table`, from now on.
    pub fn subscribe(
        &self,
        module: &str,
        table: &str,
    ) -> Result<UnboundedReceiverStream<RowChange>, RuntimeError> {
        self.check_open()?;
        let entry = self
            .inner
            .shared
            .module(module)
            .ok_or_else(|| RuntimeError::UnknownModule(module.to_owned()))?;
        if entry.schema.table(table).is_none() {
            return Err(RuntimeError::UnknownTable {
                module: module.to_owned(),
                table: table.to_owned(),
            });
        }
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        self.inner.router.do_send(SubscribeTable {
            module: module.to_owned(),
            table: table.to_owned(),
            sender: tx,
        });
        Ok(UnboundedReceiverStream::new(rx))
    }

    /// The loaded modules, by name.
    pub fn modules(&self) -> Vec<ModuleInfo> {
        let mut v: Vec<ModuleInfo> = self
            .inner
            .shared
            .registry
            .iter()
            .map(|e| info(&e.schema, e.schema_hash))
            .collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }

    /// A hash of every module's logged tables: equal states hash equal. Used
    /// to show that replay restores the exact state.
    pub async fn state_hash(&self) -> Result<[u8; 32], RuntimeError> {
        let mut parts = Vec::new();
        for m in self.modules() {
            let entry = self
                .inner
                .shared
                .module(&m.name)
                .ok_or(RuntimeError::UnknownModule(m.name))?;
            let (tx, rx) = oneshot::channel();
            entry.addr.do_send(HashState {
                reply: Responder::tokio(tx),
            });
            parts.push(rx.await.map_err(|_| RuntimeError::Shutdown)?);
        }
        parts.sort();
        let mut h = blake3::Hasher::new();
        for (name, hash) in parts {
            h.update(name.as_bytes());
            h.update(&hash);
        }
        Ok(*h.finalize().as_bytes())
    }

    /// Counters (instantiations, wasm calls, commits, fsyncs, replay).
    pub fn metrics(&self) -> Metrics {
        self.inner.shared.metrics.snapshot()
    }

    /// Why the runtime refuses writes, if it was opened read-only
    /// ([`RuntimeBuilder::stop_at`], [`RuntimeBuilder::skip_to_log_offset`]).
    pub fn read_only(&self) -> Option<String> {
        self.inner.shared.read_only.get().cloned()
    }

    /// The highest durable timestamp.
    pub fn durable_ts(&self) -> u64 {
        self.inner.shared.watermark.get()
    }

    /// The data directory.
    pub fn data_dir(&self) -> Option<PathBuf> {
        self.inner
            .data_dir
            .lock()
            .ok()
            .and_then(|d| d.as_ref().map(|d| d.path().to_path_buf()))
    }

    /// Stops taking calls, waits for in-flight work (including triggers and
    /// async calls it causes, up to `timeout`), makes everything durable,
    /// stops the actors and releases the data directory. Deliveries not run
    /// by then are run after the next open, exactly once.
    pub async fn shutdown(&self) -> Result<(), RuntimeError> {
        self.shutdown_within(Duration::from_secs(10)).await
    }

    /// [`Runtime::shutdown`] with an explicit quiescence timeout.
    pub async fn shutdown_within(&self, timeout: Duration) -> Result<(), RuntimeError> {
        if self.inner.closed.swap(true, Ordering::SeqCst) {
            return Ok(());
        }
        let shared = &self.inner.shared;
        let deadline = tokio::time::Instant::now() + timeout;
        let mut result = Ok(());
        loop {
            let target = shared.order.peek_next() - 1;
            let (tx, rx) = oneshot::channel();
            self.inner.log.do_send(FlushLog {
                reply: Responder::tokio(tx),
            });
            let _ = rx.await;
            match tokio::time::timeout_at(deadline, shared.watermark.wait(target)).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    result = Err(RuntimeError::StorageFault(e.0));
                    break;
                }
                Err(_) => {
                    tracing::warn!("shutdown: in-flight work did not finish in {timeout:?}");
                    break;
                }
            }
            // Let deliveries caused by what just committed start.
            tokio::time::sleep(Duration::from_millis(20)).await;
            if shared.order.peek_next() - 1 == target && shared.order.waiting() == 0 {
                break;
            }
        }
        for e in shared.registry.iter() {
            e.addr.do_send(StopModule);
        }
        let handles = self.inner.handles.lock().expect("handles lock").take();
        if let Some(h) = handles {
            h.system.stop();
            let _ = tokio::task::spawn_blocking(move || h.thread.join()).await;
        }
        self.inner.data_dir.lock().expect("data dir lock").take();
        result
    }
}

/// The log as [`Runtime::open_with`] found it.
struct OpenedLog {
    /// `None` when opened read-only.
    writer: Option<interstice_persist::LogWriter>,
    /// One past the last replayed timestamp.
    next_ts: u64,
    /// Why writes are refused, when opened read-only.
    read_only: Option<String>,
}

/// Opens the log for appending (cutting a torn tail), replaying it into
/// `on_entry`; or, with `stop_at` / `skip_to_log_offset`, reads the part
/// asked for without changing anything and opens read-only.
fn open_log(
    config: &RuntimeConfig,
    storage: Arc<dyn interstice_persist::Storage>,
    on_entry: impl FnMut(LogEntry) -> Result<(), RuntimeError>,
) -> Result<OpenedLog, RuntimeError> {
    if config.stop_at.is_none() && config.skip_to_log_offset.is_none() {
        let opts = WriterOptions {
            segment_size: config.segment_size,
            ..WriterOptions::default()
        };
        let (writer, recovered) =
            interstice_persist::LogWriter::open_replaying(storage, opts, on_entry)?;
        return Ok(OpenedLog {
            writer: Some(writer),
            next_ts: recovered.next_ts,
            read_only: None,
        });
    }
    let opts = interstice_persist::ReadOptions {
        stop_at: config.stop_at,
        resume_at: config.skip_to_log_offset.clone(),
    };
    let report = interstice_persist::read_log_with(&*storage, &opts, on_entry)?;
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
        tracing::warn!(
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
        tracing::warn!("the log ends in a {t}; left in place (read-only)");
    }
    Ok(OpenedLog {
        writer: None,
        next_ts: report.last_ts + 1,
        read_only: Some(format!(
            "opened for inspection: {}; writing now would fork the log's history, so writes \
             are refused (reopen without stop-at / skip-to-log-offset to write)",
            how.join("; ")
        )),
    })
}

fn info(schema: &Arc<ModuleSchema>, hash: [u8; 32]) -> ModuleInfo {
    ModuleInfo {
        name: schema.name.clone(),
        version: schema.version.clone(),
        schema: schema.clone(),
        schema_hash: hash,
    }
}

fn register_module(
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
fn spawn_entry(
    shared: &Arc<Shared>,
    host: &Arc<WasmHost>,
    supervisor: &actix::Addr<system::Supervisor>,
    compiled: CompiledModule,
    tables: Tables,
) -> Result<Arc<ModuleEntry>, RuntimeError> {
    let schema = compiled.schema.clone();
    let env = Arc::new(ModuleEnv {
        name: schema.name.as_str().into(),
        schema: schema.clone(),
        shared: shared.clone(),
    });
    let (host, schema_hash, wasm_hash) = (host.clone(), compiled.schema_hash, compiled.wasm_hash);
    let addr = spawn_module(supervisor, move || {
        ModuleActor::new(env, host, compiled, tables)
    })?;
    Ok(Arc::new(ModuleEntry {
        schema,
        schema_hash,
        wasm_hash,
        addr,
    }))
}

fn arg_error(module: &str, rs: &ReducerSchema, index: usize, reason: String) -> RuntimeError {
    RuntimeError::ArgType {
        module: module.to_owned(),
        reducer: rs.name.clone(),
        index,
        param: rs
            .params
            .get(index)
            .map(|p| p.name.clone())
            .unwrap_or_default(),
        reason,
    }
}

fn encode_args(
    module: &str,
    rs: &ReducerSchema,
    args: Vec<Value>,
) -> Result<Vec<u8>, RuntimeError> {
    if args.len() != rs.params.len() {
        return Err(RuntimeError::ArgCount {
            module: module.to_owned(),
            reducer: rs.name.clone(),
            expected: rs.params.len(),
            got: args.len(),
        });
    }
    let mut w = Writer::new();
    w.array(args.len());
    for (i, (v, p)) in args.into_iter().zip(&rs.params).enumerate() {
        v.coerce(&p.ty)
            .map_err(|e| arg_error(module, rs, i, e))?
            .encode(&mut w);
    }
    Ok(w.into_vec())
}

fn decode_value(ty: &Type, bytes: &[u8]) -> Result<Value, RuntimeError> {
    Ok(Value::decode_exact(ty, bytes)?)
}

fn reducer_error(module: &str, rs: &ReducerSchema, f: Failure) -> RuntimeError {
    let value = match (&f.value, &rs.error) {
        (Some(bytes), Some(ty)) => Value::decode_exact(ty, bytes).ok().map(|v| v.to_json(ty)),
        _ => None,
    };
    let message = match (&value, f.message.is_empty()) {
        (Some(serde_json::Value::String(s)), true) => s.clone(),
        (Some(v), true) => v.to_string(),
        _ => f.message,
    };
    RuntimeError::Reducer {
        module: module.to_owned(),
        reducer: rs.name.clone(),
        error: ReducerError {
            kind: f.kind,
            message,
            value,
        },
    }
}

/// Refuses a module whose dependencies would close a cycle; names it.
fn check_dependency_cycle(shared: &Shared, schema: &ModuleSchema) -> Result<(), RuntimeError> {
    fn walk(
        shared: &Shared,
        new: &ModuleSchema,
        at: &str,
        path: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        let deps: Vec<String> = if at == new.name {
            new.dependencies.clone()
        } else {
            shared
                .module(at)
                .map(|e| e.schema.dependencies.clone())
                .unwrap_or_default()
        };
        for d in deps {
            if d == new.name {
                let mut cycle = path.clone();
                cycle.push(d);
                return Some(cycle);
            }
            if path.contains(&d) {
                continue;
            }
            path.push(d.clone());
            if let Some(c) = walk(shared, new, &d, path) {
                return Some(c);
            }
            path.pop();
        }
        None
    }
    let mut path = vec![schema.name.clone()];
    match walk(shared, schema, &schema.name, &mut path) {
        Some(cycle) => Err(RuntimeError::DependencyCycle(cycle.join(" -> "))),
        None => Ok(()),
    }
}

/// Every table trigger must name a loaded module's logged table, and take
/// that table's row type.
fn check_subscriptions(shared: &Shared, schema: &ModuleSchema) -> Result<(), RuntimeError> {
    for r in &schema.reducers {
        let Some(interstice_abi::Trigger::Table {
            module,
            table,
            event,
        }) = &r.trigger
        else {
            continue;
        };
        let bad = |reason: String| RuntimeError::BadSubscription {
            module: schema.name.clone(),
            reason: format!(
                "reducer `{}` on {module}.{table}.{}: {reason}",
                r.name,
                event.as_str()
            ),
        };
        let source_schema = if module == &schema.name {
            Arc::new(schema.clone())
        } else {
            shared
                .module(module)
                .map(|e| e.schema.clone())
                .ok_or_else(|| bad(format!("module `{module}` is not loaded; load it first")))?
        };
        let (_, t) = source_schema
            .table(table)
            .ok_or_else(|| bad(format!("module `{module}` has no table `{table}`")))?;
        if t.persistence != interstice_abi::Persistence::Logged {
            return Err(bad("ephemeral tables do not fire triggers".into()));
        }
        let row = t.row_type();
        for p in &r.params {
            if !same_shape(&p.ty, &row) {
                return Err(bad(format!(
                    "parameter `{}` is {}, but rows of {module}.{table} are ({})",
                    p.name,
                    p.ty.display_name(),
                    t.columns
                        .iter()
                        .map(|c| c.ty.display_name())
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
        }
    }
    Ok(())
}

/// Structural equality that ignores type and field names (encodings are
/// positional, so a subscriber may name its copy of a row type freely).
fn same_shape(a: &Type, b: &Type) -> bool {
    use Type as T;
    let fields_eq = |x: &[interstice_abi::Field], y: &[interstice_abi::Field]| {
        x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same_shape(&p.ty, &q.ty))
    };
    match (a, b) {
        (T::Option(x), T::Option(y)) | (T::Vec(x), T::Vec(y)) => same_shape(x, y),
        (T::Tuple(x), T::Tuple(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same_shape(p, q))
        }
        (T::Struct(x), T::Struct(y)) => fields_eq(&x.fields, &y.fields),
        (T::Struct(x), T::Tuple(y)) | (T::Tuple(y), T::Struct(x)) => {
            x.fields.len() == y.len() && x.fields.iter().zip(y).all(|(p, q)| same_shape(&p.ty, q))
        }
        (T::Enum(x), T::Enum(y)) => {
            x.variants.len() == y.variants.len()
                && x.variants
                    .iter()
                    .zip(&y.variants)
                    .all(|(p, q)| fields_eq(&p.fields, &q.fields))
        }
        _ => a == b,
    }
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
