//! State shared by the runtime handle and every actor: the module registry,
//! the timestamp allocator, the durability watermark, metrics.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use actix::Addr;
use dashmap::DashMap;
use interstice_abi::{ModuleSchema, ReducerSchema, Type};
use interstice_persist::Hash;
use interstice_sync::{CommitOrder, Watermark};

use crate::actors::messages::Sequenced;
use crate::actors::module_actor::ModuleActor;
use crate::actors::sequencer::Sequencer;
use crate::config::Limits;

/// A loaded module, as the rest of the runtime sees it.
#[derive(Debug)]
pub(crate) struct ModuleEntry {
    pub schema: Arc<ModuleSchema>,
    pub schema_hash: Hash,
    pub wasm_hash: Hash,
    pub addr: Addr<ModuleActor>,
    /// The module's outbox (and clock), shared with its actor.
    pub outbox: Arc<crate::actors::outbox::Outbox>,
}

impl ModuleEntry {
    /// The module's place in the timestamp order.
    pub fn clock(&self) -> &interstice_sync::ModuleClock {
        self.outbox.clock()
    }

    /// The reducer `name`, with its index.
    pub fn reducer(&self, name: &str) -> Option<(u32, &ReducerSchema)> {
        self.schema.reducer(name)
    }
}

/// The parameter tuple type of a reducer.
pub(crate) fn params_type(r: &ReducerSchema) -> Type {
    Type::Tuple(r.params.iter().map(|p| p.ty.clone()).collect())
}

/// Counters that tests and benchmarks read.
#[derive(Debug, Default)]
pub(crate) struct MetricsInner {
    pub instantiations: AtomicU64,
    pub wasm_calls: AtomicU64,
    pub in_wasm: AtomicU64,
    pub max_in_wasm: AtomicU64,
    pub commits: AtomicU64,
    pub rollbacks: AtomicU64,
    pub replayed_entries: AtomicU64,
    pub replayed_mutations: AtomicU64,
    pub fsyncs: AtomicU64,
    pub reruns: AtomicU64,
    pub fanout_cuts: AtomicU64,
}

/// A snapshot of the runtime's counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Metrics {
    /// Wasm instances created (replay creates none).
    pub instantiations: u64,
    /// Calls into wasm exports (replay makes none).
    pub wasm_calls: u64,
    /// Most threads seen inside wasm at the same moment.
    pub max_concurrent_wasm: u64,
    /// Write transactions committed.
    pub commits: u64,
    /// Write transactions rolled back.
    pub rollbacks: u64,
    /// Log entries applied by replay at open.
    pub replayed_entries: u64,
    /// Mutations applied by replay at open.
    pub replayed_mutations: u64,
    /// fsyncs issued by the log-writer.
    pub fsyncs: u64,
    /// Write transactions run again because a module they read from
    /// committed before they got their timestamp (`docs/ARCHITECTURE.md`,
    /// "Timestamps and isolation").
    pub reruns: u64,
    /// Deliveries cut by the fan-out budget (`Limits::fanout`).
    pub fanout_cuts: u64,
}

impl MetricsInner {
    pub fn snapshot(&self) -> Metrics {
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        Metrics {
            instantiations: g(&self.instantiations),
            wasm_calls: g(&self.wasm_calls),
            max_concurrent_wasm: g(&self.max_in_wasm),
            commits: g(&self.commits),
            rollbacks: g(&self.rollbacks),
            replayed_entries: g(&self.replayed_entries),
            replayed_mutations: g(&self.replayed_mutations),
            fsyncs: g(&self.fsyncs),
            reruns: g(&self.reruns),
            fanout_cuts: g(&self.fanout_cuts),
        }
    }

    /// Marks entry into wasm; the guard marks the exit.
    pub fn enter_wasm(&self) -> WasmGuard<'_> {
        self.wasm_calls.fetch_add(1, Ordering::Relaxed);
        let now = self.in_wasm.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_in_wasm.fetch_max(now, Ordering::SeqCst);
        WasmGuard(self)
    }
}

/// Decrements the in-wasm count on drop.
pub(crate) struct WasmGuard<'a>(&'a MetricsInner);

impl Drop for WasmGuard<'_> {
    fn drop(&mut self) {
        self.0.in_wasm.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Shared by everything in one runtime.
pub(crate) struct Shared {
    pub registry: DashMap<String, Arc<ModuleEntry>>,
    pub order: CommitOrder<Sequenced>,
    pub watermark: Watermark,
    pub poisoned: AtomicBool,
    pub fault: Mutex<Option<String>>,
    pub secret: Hash,
    /// Mixed into live rng seeds, so no two calls share one.
    pub seeds: AtomicU64,
    /// Ids of holds on modules' writes (`host_state::Pin`).
    pub pins: AtomicU64,
    pub limits: Limits,
    pub metrics: MetricsInner,
    pub sequencer: OnceLock<Addr<Sequencer>>,
    /// Why the runtime refuses writes although storage is fine (opened
    /// read-only: `stop_at`, `skip_to_log_offset`).
    pub read_only: OnceLock<String>,
    /// Set only when modules run outside a live runtime (`replay-check`):
    /// every module host calls can name, with the timestamp of its install
    /// and its schema. A live runtime (`None`) looks modules up in `registry`.
    pub offline_peers: Option<DashMap<String, (u64, Arc<ModuleSchema>)>>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("modules", &self.registry.len())
            .field("durable", &self.watermark.get())
            .finish_non_exhaustive()
    }
}

impl Shared {
    pub fn new(next_ts: u64, secret: Hash, limits: Limits) -> Self {
        Self {
            registry: DashMap::new(),
            order: CommitOrder::new(next_ts),
            watermark: Watermark::new(next_ts - 1),
            poisoned: AtomicBool::new(false),
            fault: Mutex::new(None),
            secret,
            seeds: AtomicU64::new(0),
            pins: AtomicU64::new(0),
            limits,
            metrics: MetricsInner::default(),
            sequencer: OnceLock::new(),
            read_only: OnceLock::new(),
            offline_peers: None,
        }
    }

    /// Records a storage fault: writes are refused from now on.
    pub fn poison(&self, reason: String) {
        let mut f = self.fault.lock().expect("fault lock");
        if f.is_none() {
            *f = Some(reason.clone());
        }
        self.poisoned.store(true, Ordering::SeqCst);
        drop(f);
        self.watermark.fail(reason);
    }

    /// Opens read-only: every write (calls, loads, pending deliveries) is
    /// refused with `reason`. The watermark is not failed: nothing is lost.
    pub fn set_read_only(&self, reason: String) {
        let _ = self.read_only.set(reason.clone());
        let mut f = self.fault.lock().expect("fault lock");
        if f.is_none() {
            *f = Some(reason);
        }
        self.poisoned.store(true, Ordering::SeqCst);
    }

    /// The storage fault, if any.
    pub fn fault(&self) -> Option<String> {
        if self.poisoned.load(Ordering::SeqCst) {
            self.fault.lock().expect("fault lock").clone()
        } else {
            None
        }
    }

    pub fn module(&self, name: &str) -> Option<Arc<ModuleEntry>> {
        self.registry.get(name).map(|e| e.value().clone())
    }

    /// The schema of module `name` as a host call of the transaction at `ts`
    /// sees it: from the registry in a live runtime; offline, a module
    /// counts as loaded once its install precedes `ts`.
    pub fn module_schema(&self, name: &str, ts: Option<u64>) -> Option<Arc<ModuleSchema>> {
        match &self.offline_peers {
            None => self.module(name).map(|e| e.schema.clone()),
            Some(peers) => peers
                .get(name)
                .filter(|p| ts.is_none_or(|ts| p.0 < ts))
                .map(|p| p.1.clone()),
        }
    }

    pub fn sequencer(&self) -> &Addr<Sequencer> {
        self.sequencer
            .get()
            .expect("sequencer started before modules")
    }
}

/// What a module's host calls need to know about their module.
#[derive(Debug)]
pub(crate) struct ModuleEnv {
    pub name: Arc<str>,
    pub schema: Arc<ModuleSchema>,
    pub shared: Arc<Shared>,
    /// Finished, unnumbered entries and the module's clock; kept across
    /// upgrades (a new `ModuleEnv` takes over the same one).
    pub outbox: Arc<crate::actors::outbox::Outbox>,
    /// The module's guest-log rate (`Limits::log_bytes_per_sec`), across
    /// its instances; kept across upgrades too.
    pub log_rate: Arc<Mutex<crate::wasm::guest_log::LogRate>>,
}

impl ModuleEnv {
    /// The environment of a module loaded now.
    pub fn new(schema: Arc<ModuleSchema>, shared: Arc<Shared>) -> Self {
        Self {
            name: schema.name.as_str().into(),
            schema,
            shared,
            outbox: Arc::default(),
            log_rate: Arc::default(),
        }
    }

    /// The same module with a new schema (an upgrade).
    pub fn upgraded(&self, schema: Arc<ModuleSchema>) -> Self {
        Self {
            name: self.name.clone(),
            schema,
            shared: self.shared.clone(),
            outbox: self.outbox.clone(),
            log_rate: self.log_rate.clone(),
        }
    }
}
