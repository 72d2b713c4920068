//! What a wasmtime store holds while a module runs: the module's tables
//! (swapped in for the duration of a call), the open transaction's
//! bookkeeping, and the memory limiter.

use std::sync::Arc;
use std::time::Instant;

use interstice_persist::{ErrorKind, Nondet, OutboundCall};
use interstice_sync::ModuleClock;
use wasmtime::{Memory, ResourceLimiter};

use crate::wasm::env::ModuleEnv;
use interstice_tables::{Key, Tables};

/// An error raised by a host call; it traps the guest and says why.
#[derive(Debug, Clone)]
pub(crate) struct HostTrap {
    pub kind: ErrorKind,
    pub message: String,
}

impl HostTrap {
    pub(crate) fn host(message: impl Into<String>) -> Self {
        Self {
            kind: ErrorKind::Host,
            message: message.into(),
        }
    }

    /// A per-transaction limit was reached: names the `Limits` field.
    pub(crate) fn limit(field: &str, value: impl std::fmt::Display, what: &str) -> Self {
        Self {
            kind: ErrorKind::Budget,
            message: format!("{what}: limit reached (Limits::{field} = {value})"),
        }
    }
}

impl std::fmt::Display for HostTrap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for HostTrap {}

/// What kind of call is running.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TxMode {
    /// No reducer is running (schema probing, instantiation).
    Idle,
    /// A write transaction. Live, it has no timestamp until it has
    /// finished (`interstice_sync::CommitOrder`); re-executed by
    /// `replay-check`, `logged_ts` is the timestamp the log gave it.
    Write { logged_ts: Option<u64> },
    /// A read-only query.
    Read,
}

/// A read call made on behalf of a write transaction: the module answering
/// numbers everything it finished first, and reports the version of its
/// state the read saw (an [`Observation`]), so the writer's timestamp can be
/// validated against it. `pin`, on a writer's last attempt, also asks it to
/// hold back its own writes until the writer has its timestamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Observer {
    pub pin: Option<Pin>,
}

/// A hold on a module's writes (see [`Observer`]), released by `Unpin` with
/// the same id, and by itself at `until` (the writer's wall-clock limit),
/// so a lost release cannot stall the module for good.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Pin {
    pub id: u64,
    pub until: Instant,
}

/// A module's state as a read call saw it: as of its commit at `last`.
#[derive(Debug, Clone)]
pub(crate) struct Observation {
    pub module: Arc<str>,
    pub clock: Arc<ModuleClock>,
    pub last: u64,
}

/// How a call starts: its mode, its budget and what it observes for.
#[derive(Debug)]
pub(crate) struct TxStart {
    pub mode: TxMode,
    /// Logged inputs to feed back (`replay-check`), or `None` to take them
    /// live.
    pub recorded: Option<Recorded>,
    /// Fuel for the whole call, read calls included.
    pub fuel: u64,
    /// When the call's wall-clock limit runs out.
    pub deadline: Instant,
    /// For a write transaction, or a read call made for one.
    pub observer: Option<Observer>,
}

/// Recorded non-deterministic inputs fed back during re-execution
/// (`replay-check`), consumed in order.
#[derive(Debug, Default)]
pub(crate) struct Recorded {
    pub inputs: std::collections::VecDeque<Nondet>,
}

/// The tail of the error a re-executed read call traps with when no
/// recorded input is left. A read call that failed live has no recorded
/// result (its transaction failed with the read call's error and recorded
/// nothing for it), so `replay-check` accepts this error in place of a
/// logged `read call to M.R…` host error.
pub(crate) const UNRECORDED_READ: &str = "failed when logged (no recorded result to feed back)";

/// An open scan over a table.
#[derive(Debug)]
pub(crate) struct Scan {
    pub table: u32,
    pub after: Option<Key>,
}

/// What one call has used of its per-transaction limits (`Limits`).
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Usage {
    pub mutations: u32,
    pub mutation_bytes: u64,
    pub call_bytes: u64,
    pub read_bytes: u64,
    pub log_bytes: u64,
}

/// Per-call bookkeeping.
#[derive(Debug)]
pub(crate) struct TxState {
    pub mode: TxMode,
    pub calls: Vec<OutboundCall>,
    pub nondet: Vec<Nondet>,
    pub now: Option<i64>,
    pub seed: Option<[u8; 32]>,
    /// What `ctx.timestamp()` returned, once asked.
    pub timestamp: Option<u64>,
    /// The reducer being called (its index in the schema), for the
    /// `tracing` events emitted while it runs (`events.rs`).
    pub reducer: u32,
    pub ret: Vec<u8>,
    pub scans: Vec<Option<Scan>>,
    /// Open queries (`query_open`), by handle.
    pub queries: Vec<Option<interstice_tables::Cursor>>,
    pub panic_message: Option<String>,
    pub trap: Option<HostTrap>,
    pub recorded: Option<Recorded>,
    pub deadline: Instant,
    pub observer: Option<Observer>,
    /// The other modules' states its read calls saw, in order.
    pub observed: Vec<Observation>,
    pub usage: Usage,
    /// The guest's log lines, for the module logs (`module_log.rs`).
    pub lines: Vec<crate::wasm::guest_log::GuestLine>,
    /// The table ids a trigger's `writes = […]` declares, with its name:
    /// any other write fails the transaction. `None`: no declaration.
    pub writes: Option<(Vec<u32>, Arc<str>)>,
}

impl TxState {
    pub(crate) fn new() -> Self {
        Self {
            mode: TxMode::Idle,
            calls: Vec::new(),
            nondet: Vec::new(),
            now: None,
            seed: None,
            timestamp: None,
            reducer: 0,
            ret: Vec::new(),
            scans: Vec::new(),
            queries: Vec::new(),
            panic_message: None,
            trap: None,
            recorded: None,
            deadline: Instant::now(),
            observer: None,
            observed: Vec::new(),
            usage: Usage::default(),
            lines: Vec::new(),
            writes: None,
        }
    }

    /// Resets for a new call.
    pub(crate) fn begin(&mut self, start: TxStart) {
        self.mode = start.mode;
        self.calls.clear();
        self.nondet.clear();
        self.now = None;
        self.seed = None;
        self.timestamp = None;
        self.ret.clear();
        self.scans.clear();
        self.queries.clear();
        self.panic_message = None;
        self.trap = None;
        self.recorded = start.recorded;
        self.deadline = start.deadline;
        self.observer = start.observer;
        self.observed.clear();
        self.usage = Usage::default();
        self.writes = None;
    }
}

/// Caps linear-memory growth and remembers whether it had to refuse.
#[derive(Debug)]
pub(crate) struct MemoryLimiter {
    pub cap: usize,
    pub denied: bool,
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.cap {
            self.denied = true;
            return Ok(false);
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 100_000)
    }
}

/// The data of every store.
pub(crate) struct HostState {
    pub tables: Tables,
    pub tx: TxState,
    pub limiter: MemoryLimiter,
    pub memory: Option<Memory>,
    /// `None` while probing a module's schema: every table call traps.
    pub env: Option<Arc<ModuleEnv>>,
}

impl HostState {
    pub(crate) fn new(env: Option<Arc<ModuleEnv>>, memory_cap: usize) -> Self {
        Self {
            tables: Tables::default(),
            tx: TxState::new(),
            limiter: MemoryLimiter {
                cap: memory_cap,
                denied: false,
            },
            memory: None,
            env,
        }
    }
}
