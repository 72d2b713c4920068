//! What a module's wasm code may reach outside its own tables: its name,
//! schema and limits, the runtime's counters and seed material, and the
//! other modules, through [`Peers`].
//!
//! The wasm layer does not know how modules are run. A live runtime
//! implements [`Peers`] by messaging the dependency's actor and numbering
//! the module's finished transactions through its outbox
//! (`actors/peers.rs`); `replay-check` implements it from the log's
//! installs, with every read-call result fed back from the log
//! (`replay_check.rs`).

use std::fmt;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use interstice_abi::ModuleSchema;
use interstice_persist::Hash;

use crate::config::Limits;
use crate::metrics::MetricsInner;
use crate::wasm::guest_log::LogRate;
use crate::wasm::host_state::{Observation, Observer};
use crate::wasm::transaction::Failure;

/// A read call one module makes of another.
#[derive(Debug)]
pub(crate) struct ReadCall<'a> {
    pub module: &'a str,
    pub reducer: &'a str,
    /// The reducer's index in the schema the caller resolved it in.
    pub idx: u32,
    pub args: Vec<u8>,
    /// Fuel it may burn: what the calling transaction has left.
    pub fuel: u64,
    /// When the calling transaction's wall-clock limit runs out.
    pub deadline: Instant,
    /// Set for a read call of a write transaction (`host_state::Observer`).
    pub observer: Option<Observer>,
}

/// A read call's answer.
#[derive(Debug)]
pub(crate) struct ReadAnswer {
    /// The encoded `[tag, value]` result.
    pub result: Vec<u8>,
    /// Fuel it burnt (its own read calls included).
    pub fuel: u64,
    /// For a read made for a write transaction ([`ReadCall::observer`]):
    /// the states it saw — the module's own, then its read calls' — which
    /// the writer's timestamp is validated against. Empty otherwise.
    pub observed: Vec<Observation>,
}

/// Why a read call has no answer.
#[derive(Debug)]
pub(crate) enum ReadCallError {
    /// No module of that name.
    UnknownModule,
    /// The read reducer failed (out of fuel or time included).
    Failed(Failure),
    /// No answer before the calling transaction's wall-clock limit.
    TimedOut,
    /// The module stopped before it answered.
    Stopped,
    /// Nothing runs other modules here: `replay-check` feeds every read
    /// call's result back from the log.
    Offline,
}

/// The other modules, and the timestamp order, as one module's host calls
/// reach them.
pub(crate) trait Peers: Send + Sync + fmt::Debug {
    /// The schema of module `name` as a host call of the transaction
    /// logged at `ts` sees it (`None`: a live call, now).
    fn schema(&self, name: &str, ts: Option<u64>) -> Option<Arc<ModuleSchema>>;

    /// Runs a read reducer of another module and waits for its answer, at
    /// most until `call.deadline`.
    fn read_call(&self, call: ReadCall<'_>) -> Result<ReadAnswer, ReadCallError>;

    /// Numbers this module's finished, unnumbered transactions now
    /// (`actors/outbox.rs`), so a long transaction does not hold them back.
    fn number_finished(&self);

    /// [`Peers::number_finished`], then the latest timestamp taken in the
    /// runtime: a transaction that asks `ctx.timestamp()` has seen nothing
    /// after it and commits after it. `None` where nothing is numbered
    /// (`replay-check` feeds the logged timestamp back instead).
    fn latest_timestamp(&self) -> Option<u64>;
}

/// What a module's host calls need to know about their module.
#[derive(Debug)]
pub(crate) struct ModuleEnv {
    pub name: Arc<str>,
    pub schema: Arc<ModuleSchema>,
    pub limits: Limits,
    pub metrics: Arc<MetricsInner>,
    /// The data directory's secret, mixed into rng seeds.
    pub secret: Hash,
    /// Mixed into live rng seeds, so no two calls share one.
    pub seeds: Arc<AtomicU64>,
    pub peers: Arc<dyn Peers>,
    /// The module's guest-log rate (`Limits::log_bytes_per_sec`), across
    /// its instances; kept across upgrades.
    pub log_rate: Arc<Mutex<LogRate>>,
}

impl ModuleEnv {
    /// The environment of a module loaded now.
    pub(crate) fn new(
        schema: Arc<ModuleSchema>,
        limits: Limits,
        metrics: Arc<MetricsInner>,
        secret: Hash,
        seeds: Arc<AtomicU64>,
        peers: Arc<dyn Peers>,
    ) -> Self {
        Self {
            name: schema.name.as_str().into(),
            schema,
            limits,
            metrics,
            secret,
            seeds,
            peers,
            log_rate: Arc::default(),
        }
    }

    /// The same module with a new schema (an upgrade).
    pub(crate) fn upgraded(&self, schema: Arc<ModuleSchema>) -> Self {
        Self {
            name: self.name.clone(),
            schema,
            limits: self.limits,
            metrics: self.metrics.clone(),
            secret: self.secret,
            seeds: self.seeds.clone(),
            peers: self.peers.clone(),
            log_rate: self.log_rate.clone(),
        }
    }
}
