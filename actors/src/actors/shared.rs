//! State shared by the runtime handle and every actor: the module registry,
//! the timestamp allocator, the durability watermark, metrics.

use std::sync::atomic::AtomicU64;
use std::sync::{Arc, OnceLock};

use actix::Addr;
use dashmap::DashMap;
use interstice_abi::{ModuleSchema, ReducerSchema};
use interstice_persist::Hash;
use interstice_sync::{CommitOrder, Refusal, Watermark, WriteGate};

use crate::actors::messages::NumberedEntry;
use crate::actors::module_actor::ModuleActor;
use crate::actors::module_log::ModuleLog;
use crate::actors::sequencer::Sequencer;
use crate::actors::trace::Tracer;
use crate::config::Limits;
use crate::error::RuntimeError;
use crate::metrics::MetricsInner;
use crate::wasm::env::{ModuleEnv, Peers};

/// A loaded module, as the rest of the runtime sees it.
#[derive(Debug)]
pub(crate) struct ModuleEntry {
    pub schema: Arc<ModuleSchema>,
    pub schema_hash: Hash,
    pub wasm_hash: Hash,
    pub addr: Addr<ModuleActor>,
    /// The module's outbox (and clock), shared with its actor.
    pub outbox: Arc<crate::actors::outbox::Outbox>,
    /// The timestamp of this incarnation's install (0 for a module
    /// restored at open): deliveries caused before it were dropped by an
    /// unload in between, and the router drops them.
    pub since: std::sync::atomic::AtomicU64,
}

impl ModuleEntry {
    /// The module's place in the timestamp order.
    pub(crate) fn clock(&self) -> &interstice_sync::ModuleClock {
        self.outbox.clock()
    }

    /// [`ModuleEntry::since`].
    pub(crate) fn since(&self) -> u64 {
        self.since.load(std::sync::atomic::Ordering::Acquire)
    }

    /// The reducer `name`, with its index.
    pub(crate) fn reducer(&self, name: &str) -> Option<(u32, &ReducerSchema)> {
        self.schema.reducer(name)
    }
}

/// Shared by everything in one runtime.
pub(crate) struct Shared {
    pub registry: DashMap<String, Arc<ModuleEntry>>,
    pub order: CommitOrder<NumberedEntry>,
    pub watermark: Watermark,
    /// Whether writes are accepted (storage fault, read-only).
    pub gate: WriteGate,
    pub secret: Hash,
    /// Mixed into live rng seeds, so no two calls share one.
    pub seeds: Arc<AtomicU64>,
    /// Ids of holds on modules' writes (`host_state::Pin`).
    pub pins: AtomicU64,
    pub limits: Limits,
    pub metrics: Arc<MetricsInner>,
    pub sequencer: OnceLock<Addr<Sequencer>>,
    /// Where the router hands module-log records (`module_log.rs`).
    pub module_log: ModuleLog,
    /// Where reducer traces go (`trace.rs`); `None`: tracing is off.
    pub tracer: Option<Tracer>,
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
    pub(crate) fn new(
        next_ts: u64,
        secret: Hash,
        limits: Limits,
        module_log: ModuleLog,
        tracer: Option<Tracer>,
    ) -> Self {
        let mut metrics = MetricsInner::default();
        if let Some(t) = &tracer {
            metrics.trace_dropped = t.dropped().clone();
        }
        Self {
            registry: DashMap::new(),
            order: CommitOrder::new(next_ts),
            watermark: Watermark::new(next_ts - 1),
            gate: WriteGate::new(),
            secret,
            seeds: Arc::default(),
            pins: AtomicU64::new(0),
            limits,
            metrics: Arc::new(metrics),
            sequencer: OnceLock::new(),
            module_log,
            tracer,
        }
    }

    /// Refuses writes from now on (`interstice_sync::WriteGate`: the first
    /// refusal stays). A storage fault also fails the watermark, so nothing
    /// waiting for durability is acknowledged.
    pub(crate) fn refuse_writes(&self, refusal: Refusal) {
        let fault = match &refusal {
            Refusal::StorageFault(reason) => Some(reason.clone()),
            Refusal::ReadOnly(_) => None,
        };
        self.gate.close(refusal);
        if let Some(reason) = fault {
            self.watermark.fail(reason);
        }
    }

    /// Why writes are refused, if they are.
    pub(crate) fn refusal(&self) -> Option<Refusal> {
        self.gate.refusal()
    }

    /// `Ok` while writes are accepted; the refusal as the API reports it
    /// otherwise.
    pub(crate) fn check_writable(&self) -> Result<(), RuntimeError> {
        self.refusal().map_or(Ok(()), |r| Err(r.into()))
    }

    pub(crate) fn module(&self, name: &str) -> Option<Arc<ModuleEntry>> {
        self.registry.get(name).map(|e| e.value().clone())
    }

    /// A module's host-call environment in this runtime.
    pub(crate) fn module_env(&self, schema: Arc<ModuleSchema>, peers: Arc<dyn Peers>) -> ModuleEnv {
        ModuleEnv::new(
            schema,
            self.limits,
            self.metrics.clone(),
            self.secret,
            self.seeds.clone(),
            peers,
        )
    }

    pub(crate) fn sequencer(&self) -> &Addr<Sequencer> {
        self.sequencer
            .get()
            .expect("sequencer started before modules")
    }
}
