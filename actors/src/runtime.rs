//! The embedding API: [`Runtime`], a `Send + Sync + Clone` handle with async
//! methods. Building and opening live in `builder.rs`, loading modules in
//! `load.rs`.

mod builder;
mod load;
mod unload;

pub use builder::RuntimeBuilder;
pub use load::{inspect_module, Loaded};
pub use unload::{UnloadOptions, Unloaded};

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use interstice_abi::cbor::{Reader, Writer};
use interstice_abi::host as abi;
use interstice_abi::{AbiError, ModuleSchema, ReducerMode, ReducerSchema, Type, Value};
use interstice_persist::{Cause, DataDir};
use interstice_sync::Refusal;
use tokio::sync::oneshot;
use tokio_stream::wrappers::UnboundedReceiverStream;

use crate::actors::messages::{
    ExecError, Execute, FlushLog, HashState, Query, Responder, ScanRows, StopModule, TableRows,
    Target,
};
use crate::actors::router::{RowChange, SubscribeTable, Subscriber};
use crate::actors::shared::{ModuleEntry, Shared};
use crate::actors::system::{self, SystemHandles};
use crate::config::{Durability, Limits, RuntimeConfig};
use crate::error::{ReducerError, RuntimeError};
use crate::metrics::Metrics;
use crate::wasm::engine::WasmHost;
use crate::wasm::schema::params_type;
use crate::wasm::transaction::Failure;

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

/// The most rows one [`Runtime::scan_table`] returns.
pub const MAX_SCAN_ROWS: u32 = 1000;

/// What [`Runtime::scan_table`] read.
#[derive(Debug, Clone, PartialEq)]
pub struct TableScan {
    /// The rows, in the query's order.
    pub rows: Vec<Value>,
    /// Their type (the table's row struct).
    pub row_type: Type,
    /// Whether more rows may follow (the limit or the examined bound was
    /// reached before the end).
    pub more: bool,
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
    /// The snapshot thread, if snapshots are enabled; stopped (joined)
    /// before the data directory is released.
    snapshotter: Mutex<Option<crate::recovery::snapshot::SnapshotterHandle>>,
    /// The module-log writer, stopped after the actors.
    module_log: Mutex<Option<crate::actors::module_log::ModuleLogWriter>>,
    /// The reducer-trace writer, if tracing; stopped after the actors
    /// (closing the trace's JSON array).
    trace: Mutex<Option<crate::actors::trace::TraceWriter>>,
    supervisor: actix::Addr<system::Supervisor>,
    router: actix::Addr<crate::actors::router::Router>,
    log: actix::Addr<crate::actors::log_writer::LogWriter>,
    load_lock: tokio::sync::Mutex<()>,
    /// Modules unloaded and not loaded again (`unload.rs`).
    unloaded: Mutex<std::collections::HashMap<String, unload::UnloadedModule>>,
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
        // Before the data directory's lock is released with `data_dir`.
        if let Some(mut s) = self.snapshotter.lock().ok().and_then(|mut s| s.take()) {
            s.stop();
        }
    }
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
                segment_size: interstice_persist::DEFAULT_SEGMENT_SIZE,
                log_storage: None,
                stop_at: None,
                skip_to_log_offset: None,
                snapshots: crate::config::SnapshotPolicy::default(),
                module_logs: crate::config::ModuleLogPolicy::default(),
                trace: crate::config::TraceConfig::default(),
            },
        }
    }

    /// The registry entry of `module`, or `UnknownModule`.
    fn module_entry(&self, module: &str) -> Result<Arc<ModuleEntry>, RuntimeError> {
        self.inner
            .shared
            .module(module)
            .ok_or_else(|| self.not_loaded(module))
    }

    /// `e`, or, when the module's actor stopped without answering
    /// (`Shutdown` from a runtime still open) because it was unloaded
    /// meanwhile, `ModuleUnloaded`.
    fn if_unloaded(&self, module: &str, e: RuntimeError) -> RuntimeError {
        match e {
            RuntimeError::Shutdown
                if !self.inner.closed.load(Ordering::SeqCst)
                    && self.unloaded().contains_key(module) =>
            {
                self.not_loaded(module)
            }
            e => e,
        }
    }

    /// Why `module` is not loaded: unloaded (at which timestamp), or unknown.
    fn not_loaded(&self, module: &str) -> RuntimeError {
        match self.unloaded().get(module) {
            Some(u) => RuntimeError::ModuleUnloaded {
                module: module.to_owned(),
                ts: u.ts,
            },
            None => RuntimeError::UnknownModule(module.to_owned()),
        }
    }

    fn check_open(&self) -> Result<(), RuntimeError> {
        if self.inner.closed.load(Ordering::SeqCst) {
            return Err(RuntimeError::Shutdown);
        }
        Ok(())
    }

    /// The module entry and reducer index for `module.reducer`.
    fn find_reducer(
        &self,
        module: &str,
        reducer: &str,
    ) -> Result<(Arc<ModuleEntry>, u32), RuntimeError> {
        let entry = self.module_entry(module)?;
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
        if rs.is_migration() {
            return Err(RuntimeError::WrongMode {
                module: module.to_owned(),
                reducer: reducer.to_owned(),
                mode: "migration",
                hint: "the runtime runs it once, at the upgrade that migrates its table",
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
        let (entry, idx, (ts, value)) = self
            .execute(module, reducer, |rs| encode_args(module, rs, args.clone()))
            .await?;
        let rs = &entry.schema.reducers[idx as usize];
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
        let (_, _, out) = self
            .execute(module, reducer, |rs| {
                check_encoded_args(module, rs, &args)?;
                Ok(args.clone())
            })
            .await?;
        Ok(out)
    }

    /// Looks `module.reducer` up, encodes its arguments with `encode` and
    /// runs it. A call checked against a schema the module no longer has (an
    /// upgrade raced with it) is refused by the module actor before it takes
    /// a timestamp; it is looked up and encoded again, a bounded number of
    /// times. Returns the entry and reducer index it ran with.
    async fn execute(
        &self,
        module: &str,
        reducer: &str,
        encode: impl Fn(&ReducerSchema) -> Result<Vec<u8>, RuntimeError>,
    ) -> Result<(Arc<ModuleEntry>, u32, (u64, Vec<u8>)), RuntimeError> {
        const ATTEMPTS: u32 = 100;
        for attempt in 0..ATTEMPTS {
            let (entry, idx) = self.lookup(module, reducer, ReducerMode::Write)?;
            let rs = &entry.schema.reducers[idx as usize];
            let args = encode(rs)?;
            self.inner.shared.check_writable()?;
            let target = Target::Index {
                reducer: idx,
                schema_hash: entry.schema_hash,
            };
            let reply = ask(&entry.addr, |reply| {
                Execute::call(target, args, Cause::External, reply)
            });
            match reply.await.map_err(|e| self.if_unloaded(module, e))? {
                // The actor answers only once the commit is durable
                // (`Watermark::on_reach`), or with the storage fault.
                Ok((ts, value)) => return Ok((entry, idx, (ts, value))),
                Err(ExecError::Failed(f)) => return Err(reducer_error(&entry.schema.name, rs, f)),
                Err(ExecError::Refused(r)) => return Err(r.into()),
                Err(ExecError::Unloaded(ts)) => {
                    return Err(RuntimeError::ModuleUnloaded {
                        module: module.to_owned(),
                        ts,
                    })
                }
                Err(ExecError::Stale) => {
                    // The upgrade's loader publishes the new registry entry
                    // right after the actor switched; give it a moment.
                    if attempt > 0 {
                        tokio::time::sleep(Duration::from_millis(1)).await;
                    } else {
                        tokio::task::yield_now().await;
                    }
                }
            }
        }
        Err(RuntimeError::Internal(format!(
            "{module}.{reducer}: the module kept changing its schema; gave up after {ATTEMPTS} attempts"
        )))
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
        let limits = &self.inner.shared.limits;
        let query = |reply| Query {
            reducer: idx,
            schema_hash: entry.schema_hash,
            name: reducer.to_owned(),
            args: bytes,
            fuel: limits.fuel,
            deadline: std::time::Instant::now() + limits.tx_time,
            observer: None,
            trace_caller: None,
            reply,
        };
        let tagged = ask(&entry.addr, query)
            .await
            .map_err(|e| self.if_unloaded(module, e))?
            .map_err(|f| reducer_error(module, rs, f))?
            .result;
        let mut r = Reader::new(&tagged);
        let tag = abi::read_result_head(&mut r)?;
        let value = r.skip()?;
        if tag == abi::ResultTag::Err {
            return Err(reducer_error(
                module,
                rs,
                Failure::user_error(String::new(), value.to_vec()),
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
        check_arg_count(module, rs, args.len())?;
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

    /// `UnknownModule` or `UnknownTable` unless `module.table` exists.
    fn check_table(&self, module: &str, table: &str) -> Result<(), RuntimeError> {
        self.check_open()?;
        let entry = self.module_entry(module)?;
        if entry.schema.table(table).is_none() {
            return Err(RuntimeError::UnknownTable {
                module: module.to_owned(),
                table: table.to_owned(),
            });
        }
        Ok(())
    }

    /// A stream of committed (durable) changes to `module.table`, from now on.
    pub fn subscribe(
        &self,
        module: &str,
        table: &str,
    ) -> Result<UnboundedReceiverStream<RowChange>, RuntimeError> {
        self.check_table(module, table)?;
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        self.inner.router.do_send(SubscribeTable {
            module: module.to_owned(),
            table: table.to_owned(),
            sender: Subscriber::Each(tx),
            registered: None,
        });
        Ok(UnboundedReceiverStream::new(rx))
    }

    /// [`Runtime::subscribe`], one message per commit (all its changes to
    /// the table, in the order the reducer made them), returning once the
    /// subscription is registered, with a timestamp `D`: the stream carries
    /// every durable change with a timestamp after `D` (it may also carry some at or
    /// before `D`, which a caller that reads those from the log drops), and
    /// every commit at or before `D` is durable, in the log, when this
    /// returns. Reading the log up to `D`, then the stream after `D`, misses
    /// nothing and repeats nothing (the HTTP server's resumable
    /// subscriptions). `D` is the last timestamp the router had been handed
    /// at registration; this waits (at most 10 s) for it to be durable.
    pub async fn subscribe_with_position(
        &self,
        module: &str,
        table: &str,
    ) -> Result<(u64, tokio::sync::mpsc::UnboundedReceiver<Vec<RowChange>>), RuntimeError> {
        self.check_table(module, table)?;
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let (registered, at) = oneshot::channel();
        self.inner.router.do_send(SubscribeTable {
            module: module.to_owned(),
            table: table.to_owned(),
            sender: Subscriber::Commits(tx),
            registered: Some(registered),
        });
        let routed = at.await.map_err(|_| RuntimeError::Shutdown)?;
        let wait = self.inner.shared.watermark.wait(routed);
        match tokio::time::timeout(Duration::from_secs(10), wait).await {
            Ok(Ok(())) => Ok((routed, rx)),
            Ok(Err(e)) => Err(RuntimeError::StorageFault(e.0)),
            Err(_) => Err(RuntimeError::Internal(format!(
                "timestamp {routed} did not become durable within 10 s"
            ))),
        }
    }

    /// The number of rows in each table of `module`, by table name (in the
    /// schema's order), as the module's actor has them between two
    /// transactions.
    pub async fn table_rows(&self, module: &str) -> Result<Vec<(String, u64)>, RuntimeError> {
        self.check_open()?;
        let entry = self.module_entry(module)?;
        ask(&entry.addr, |reply| TableRows { reply }).await
    }

    /// Rows of `module.table` as the module's actor has them between two
    /// transactions, in the order of `query` (the host's query encoding,
    /// `[lower, upper, index, filter]`, `docs/ABI.md` §4.1; decoded and
    /// evaluated by the code that answers a guest's `query_page`): at most
    /// `limit` rows (capped at [`MAX_SCAN_ROWS`]), examining at most
    /// 262 144 entries, so a filter that matches little stops early and says
    /// `more`. A query that does not fit the table is `Abi`.
    pub async fn scan_table(
        &self,
        module: &str,
        table: &str,
        query: &[u8],
        limit: u32,
    ) -> Result<TableScan, RuntimeError> {
        self.check_table(module, table)?;
        let entry = self.module_entry(module)?;
        let (idx, schema) = entry
            .schema
            .table(table)
            .map(|(i, t)| (i, t.clone()))
            .ok_or_else(|| RuntimeError::UnknownTable {
                module: module.to_owned(),
                table: table.to_owned(),
            })?;
        let scanned = ask(&entry.addr, |reply| ScanRows {
            table: idx,
            query: query.to_vec(),
            limit: limit.clamp(1, MAX_SCAN_ROWS),
            reply,
        })
        .await?
        .map_err(|e| {
            RuntimeError::Abi(AbiError::Mismatch(format!(
                "query of {module}.{table}: {e}"
            )))
        })?;
        let row_type = schema.row_type();
        let mut rows = Vec::new();
        for page in &scanned.pages {
            let mut r = Reader::new(page);
            for _ in 0..r.array()? {
                rows.push(Value::decode(&row_type, &mut r)?);
            }
        }
        Ok(TableScan {
            rows,
            row_type,
            more: scanned.more,
        })
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
            let entry = self.module_entry(&m.name)?;
            parts.push(ask(&entry.addr, |reply| HashState { reply }).await?);
        }
        parts.sort();
        let mut h = blake3::Hasher::new();
        for (name, hash) in parts {
            h.update(name.as_bytes());
            h.update(&hash);
        }
        Ok(*h.finalize().as_bytes())
    }

    /// Takes a snapshot now: fsyncs the log and writes the state after its
    /// last durable entry to `snapshots/` (then applies retention). Returns
    /// the timestamp the snapshot covers. Needs snapshots enabled
    /// ([`RuntimeBuilder::snapshots`] or a threshold).
    pub async fn snapshot_now(&self) -> Result<u64, RuntimeError> {
        self.check_open()?;
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.inner
            .log
            .do_send(crate::actors::log_writer::SnapshotNow { reply: tx });
        match rx.await {
            Ok(Ok(ts)) => Ok(ts),
            Ok(Err(e)) => Err(RuntimeError::Snapshot(e)),
            Err(_) => Err(RuntimeError::Shutdown),
        }
    }

    /// Counters (instantiations, wasm calls, commits, fsyncs, replay).
    pub fn metrics(&self) -> Metrics {
        self.inner.shared.metrics.snapshot()
    }

    /// Why the runtime refuses writes, if it was opened read-only
    /// ([`RuntimeBuilder::stop_at`], [`RuntimeBuilder::skip_to_log_offset`]).
    pub fn read_only(&self) -> Option<String> {
        match self.inner.shared.refusal() {
            Some(Refusal::ReadOnly(reason)) => Some(reason),
            _ => None,
        }
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
            // A log-writer that stopped has nothing left to flush.
            let _ = ask(&self.inner.log, |reply| FlushLog { reply }).await;
            match tokio::time::timeout_at(deadline, shared.watermark.wait(target)).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    result = Err(RuntimeError::StorageFault(e.0));
                    break;
                }
                Err(_) => {
                    crate::event_in!(WARN, None, None, None; "shutdown: in-flight work did not finish in {timeout:?}");
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
        let snapshotter = self
            .inner
            .snapshotter
            .lock()
            .expect("snapshotter lock")
            .take();
        if let Some(mut s) = snapshotter {
            let _ = tokio::task::spawn_blocking(move || s.stop()).await;
        }
        let module_log = self
            .inner
            .module_log
            .lock()
            .expect("module log lock")
            .take();
        if let Some(w) = module_log {
            let _ = tokio::task::spawn_blocking(move || w.stop()).await;
        }
        let trace = self.inner.trace.lock().expect("trace lock").take();
        if let Some(w) = trace {
            let _ = tokio::task::spawn_blocking(move || w.stop()).await;
        }
        self.inner.data_dir.lock().expect("data dir lock").take();
        result
    }
}

fn info(schema: &Arc<ModuleSchema>, hash: [u8; 32]) -> ModuleInfo {
    ModuleInfo {
        name: schema.name.clone(),
        version: schema.version.clone(),
        schema: schema.clone(),
        schema_hash: hash,
    }
}

/// `RuntimeError::ArgType` for the parameter at zero-based `index`; its
/// message counts from 1 ("argument 2 (`amount`)"), like every argument
/// message (`docs/ABI.md` §7.3).
fn arg_error(module: &str, rs: &ReducerSchema, index: usize, reason: AbiError) -> RuntimeError {
    RuntimeError::ArgType {
        module: module.to_owned(),
        reducer: rs.name.clone(),
        index,
        param: rs
            .params
            .get(index)
            .map(|p| p.name.clone())
            .unwrap_or_default(),
        reason: reason.to_string(),
    }
}

/// Sends `addr` the message `make` builds around a reply channel and waits
/// for the reply. A reply that never comes means the actor stopped: the
/// runtime is shutting down.
pub(crate) async fn ask<A, M, T>(
    addr: &actix::Addr<A>,
    make: impl FnOnce(Responder<T>) -> M,
) -> Result<T, RuntimeError>
where
    A: actix::Actor + actix::Handler<M>,
    A::Context: actix::dev::ToEnvelope<A, M>,
    M: actix::Message + Send + 'static,
    M::Result: Send,
    T: Send + 'static,
{
    let (tx, rx) = oneshot::channel();
    addr.do_send(make(Responder::tokio(tx)));
    rx.await.map_err(|_| RuntimeError::Shutdown)
}

/// `ArgCount` unless `got` arguments fit `rs`.
fn check_arg_count(module: &str, rs: &ReducerSchema, got: usize) -> Result<(), RuntimeError> {
    if got == rs.params.len() {
        return Ok(());
    }
    Err(RuntimeError::ArgCount {
        module: module.to_owned(),
        reducer: rs.name.clone(),
        expected: rs.params.len(),
        got,
    })
}

fn encode_args(
    module: &str,
    rs: &ReducerSchema,
    args: Vec<Value>,
) -> Result<Vec<u8>, RuntimeError> {
    check_arg_count(module, rs, args.len())?;
    let mut w = Writer::new();
    w.array(args.len());
    for (i, (v, p)) in args.into_iter().zip(&rs.params).enumerate() {
        v.coerce(&p.ty)
            .map_err(|e| arg_error(module, rs, i, e))?
            .encode(&mut w);
    }
    Ok(w.into_vec())
}

/// Checks a pre-encoded argument array exactly as `params_type(rs)` does,
/// and names what failed: the count (`ArgCount`) or the argument
/// (`ArgType`). An input that is not one array of the parameters (not an
/// array, trailing bytes, nesting too deep) is `RuntimeError::Abi`.
fn check_encoded_args(module: &str, rs: &ReducerSchema, args: &[u8]) -> Result<(), RuntimeError> {
    let Err(whole) = params_type(rs).validate_exact(args) else {
        return Ok(());
    };
    let mut r = Reader::new(args);
    if let Ok(n) = r.array() {
        check_arg_count(module, rs, n)?;
        for (i, p) in rs.params.iter().enumerate() {
            p.ty.validate(&mut r)
                .map_err(|e| arg_error(module, rs, i, e))?;
        }
    }
    Err(RuntimeError::Abi(whole))
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

#[cfg(test)]
mod tests;
