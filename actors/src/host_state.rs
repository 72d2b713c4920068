//! What a wasmtime store holds while a module runs: the module's tables
//! (swapped in for the duration of a call), the open transaction's
//! bookkeeping, and the memory limiter.

use std::sync::Arc;

use interstice_persist::{ErrorKind, Nondet, OutboundCall};
use wasmtime::{Memory, ResourceLimiter};

use crate::shared::ModuleEnv;
use crate::table::{Key, Tables};

/// An error raised by a host call; it traps the guest and says why.
#[derive(Debug, Clone)]
pub(crate) struct HostTrap {
    pub kind: ErrorKind,
    pub message: String,
}

impl HostTrap {
    pub fn host(message: impl Into<String>) -> Self {
        Self {
            kind: ErrorKind::Host,
            message: message.into(),
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
    /// A write transaction with its timestamp.
    Write { ts: u64 },
    /// A read-only query.
    Read,
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

/// Per-call bookkeeping.
#[derive(Debug)]
pub(crate) struct TxState {
    pub mode: TxMode,
    pub calls: Vec<OutboundCall>,
    pub nondet: Vec<Nondet>,
    pub now: Option<i64>,
    pub seed: Option<[u8; 32]>,
    pub ret: Vec<u8>,
    pub scans: Vec<Option<Scan>>,
    pub panic_message: Option<String>,
    pub trap: Option<HostTrap>,
    pub recorded: Option<Recorded>,
}

impl TxState {
    pub fn new() -> Self {
        Self {
            mode: TxMode::Idle,
            calls: Vec::new(),
            nondet: Vec::new(),
            now: None,
            seed: None,
            ret: Vec::new(),
            scans: Vec::new(),
            panic_message: None,
            trap: None,
            recorded: None,
        }
    }

    /// Resets for a new call.
    pub fn begin(&mut self, mode: TxMode, recorded: Option<Recorded>) {
        self.mode = mode;
        self.calls.clear();
        self.nondet.clear();
        self.now = None;
        self.seed = None;
        self.ret.clear();
        self.scans.clear();
        self.panic_message = None;
        self.trap = None;
        self.recorded = recorded;
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
    pub fn new(env: Option<Arc<ModuleEnv>>, memory_cap: usize) -> Self {
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
