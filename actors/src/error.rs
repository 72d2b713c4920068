//! The runtime's error type.

use std::path::PathBuf;
use std::sync::Arc;

use interstice_persist::{ErrorKind, PersistError};

/// Why a reducer call failed. Every failure rolled back all of the call's
/// changes.
#[derive(Debug, Clone, PartialEq)]
pub struct ReducerError {
    /// Which kind of failure: trap, panic, `Err` return, budget (fuel or
    /// another per-transaction limit, named in the message), memory,
    /// constraint violation, a host-call error, or the wall-clock limit.
    pub kind: ErrorKind,
    /// Human-readable detail.
    pub message: String,
    /// For [`ErrorKind::UserError`]: the reducer's `Err` value as JSON.
    pub value: Option<serde_json::Value>,
}

impl std::fmt::Display for ReducerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.kind.what_happened(), self.message)
    }
}

/// Why a snapshot was not taken ([`RuntimeError::Snapshot`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SnapshotError {
    /// The runtime was opened without snapshots.
    #[error(
        "snapshots are not enabled (RuntimeBuilder::snapshots, \
         snapshot_every_commits or snapshot_every_bytes)"
    )]
    NotEnabled,
    /// The log refuses writes, so no snapshot is taken.
    #[error("the log refuses writes: {}", .0.reason())]
    Refused(interstice_sync::Refusal),
    /// The runtime was opened read-only.
    #[error("the runtime is read-only")]
    ReadOnly,
    /// The snapshotter thread is gone.
    #[error("the snapshotter has stopped")]
    SnapshotterGone,
    /// The snapshot state stopped following the log earlier, for this
    /// reason; no snapshot is taken until the runtime is opened again.
    #[error("snapshots are stopped: {0}")]
    Stopped(Arc<SnapshotError>),
    /// A batch that does not continue the snapshot state.
    #[error("batch starts at {first_ts}, the shadow is at {state_ts}")]
    Gap {
        /// The batch's first timestamp.
        first_ts: u64,
        /// The timestamp the snapshot state is at.
        state_ts: u64,
    },
    /// The snapshot state is not at the timestamp asked for.
    #[error("the snapshot state is at timestamp {state_ts}, not {requested}")]
    NotAt {
        /// The timestamp the snapshot state is at.
        state_ts: u64,
        /// The timestamp asked for.
        requested: u64,
    },
    /// A logged entry the snapshot state could not decode or apply.
    #[error("{0}")]
    Apply(Box<RuntimeError>),
    /// The snapshot state could not be built from the replayed state.
    #[error("cannot build the snapshot state: {0}")]
    Build(Box<RuntimeError>),
    /// Writing the snapshot file failed.
    #[error("{0}")]
    Write(PersistError),
    /// The log no longer starts at timestamp 1, so it cannot be re-executed
    /// from the beginning (`replay-check`).
    #[error(
        "replay-check re-executes the whole log, but {} now starts at timestamp {first_ts}: \
         retention deleted the segments before it (a snapshot covers them); the first \
         available timestamp is {first_ts}",
        log_dir.display()
    )]
    LogStartsLater {
        /// The log directory.
        log_dir: PathBuf,
        /// Its first available timestamp.
        first_ts: u64,
    },
}

/// Everything that can go wrong in the runtime. [`RuntimeError::kind`]
/// names each variant with a stable string (what `run` replies carry).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RuntimeError {
    /// No module by that name is loaded.
    #[error("unknown module `{0}`")]
    UnknownModule(String),
    /// The module was unloaded ([`crate::Runtime::unload_module`]) and has
    /// not been loaded again: nothing ran.
    #[error(
        "module `{module}` was unloaded at ts {ts}: it takes no calls until it is loaded again"
    )]
    ModuleUnloaded {
        /// Module.
        module: String,
        /// The unload's timestamp.
        ts: u64,
    },
    /// An unload was refused: loaded modules depend on the module. Nothing
    /// changed.
    #[error(
        "cannot unload module `{module}`: loaded modules depend on it: {}; unload them first",
        .dependents.join(", ")
    )]
    HasDependents {
        /// Module.
        module: String,
        /// Each dependent module and how it depends, e.g. ``shop (subscribes
        /// to `warehouse.items`)``, in name order.
        dependents: Vec<String>,
    },
    /// The module has no reducer by that name.
    #[error("module `{module}` has no reducer `{reducer}`")]
    UnknownReducer {
        /// Module.
        module: String,
        /// Reducer.
        reducer: String,
    },
    /// The module has no table by that name.
    #[error("module `{module}` has no table `{table}`")]
    UnknownTable {
        /// Module.
        module: String,
        /// Table.
        table: String,
    },
    /// Wrong number of arguments.
    #[error("{module}.{reducer} takes {expected} argument(s), got {got}")]
    ArgCount {
        /// Module.
        module: String,
        /// Reducer.
        reducer: String,
        /// Declared parameter count.
        expected: usize,
        /// Given.
        got: usize,
    },
    /// An argument of the wrong type. The message numbers arguments from 1
    /// (`argument 2 (`amount`)` is `index` 1), as every argument message
    /// does (`docs/ABI.md` §7.3).
    #[error("{module}.{reducer}: argument {} (`{param}`): {reason}", .index + 1)]
    ArgType {
        /// Module.
        module: String,
        /// Reducer.
        reducer: String,
        /// Zero-based index into the reducer's parameters.
        index: usize,
        /// Parameter name.
        param: String,
        /// What was wrong.
        reason: String,
    },
    /// `call` on a read reducer or `read` on a write reducer.
    #[error("{module}.{reducer} is a {mode} reducer; {hint}")]
    WrongMode {
        /// Module.
        module: String,
        /// Reducer.
        reducer: String,
        /// Its mode.
        mode: &'static str,
        /// What to do instead.
        hint: &'static str,
    },
    /// The bytes are not a valid WebAssembly module.
    #[error("malformed wasm: {0}")]
    MalformedWasm(String),
    /// A required export is missing or has the wrong type.
    #[error("not an Interstice module: missing or mistyped export `{name}` ({detail})")]
    MissingExport {
        /// Export name.
        name: &'static str,
        /// Expected signature / what was found.
        detail: String,
    },
    /// The module imports something the host does not provide.
    #[error(
        "module imports `{module}::{name}`, which the host does not provide{}",
        import_hint(.module)
    )]
    UnknownImport {
        /// Import module.
        module: String,
        /// Import name.
        name: String,
    },
    /// The module imports a host call with the wrong signature.
    #[error("module imports `interstice::{name}` as {found}, but the host provides {expected}")]
    ImportMismatch {
        /// Import name.
        name: String,
        /// What the host provides.
        expected: String,
        /// What the module declared.
        found: String,
    },
    /// ABI version mismatch or an invalid schema.
    #[error(transparent)]
    Abi(#[from] interstice_abi::AbiError),
    /// Loading the module would close a dependency cycle.
    #[error("dependency cycle: {0}")]
    DependencyCycle(String),
    /// A new version of a loaded module cannot take over the old version's
    /// data (or another module still subscribes to a table it removes). The
    /// old version keeps running; nothing was changed.
    #[error("module `{module}`: table `{table}`: {change}")]
    IncompatibleSchema {
        /// Module.
        module: String,
        /// The first table whose change is unsafe.
        table: String,
        /// What changed, and why that is refused.
        change: String,
    },
    /// A module built with generated bindings for a dependency, and that
    /// dependency as loaded (or being loaded), do not fit
    /// (`interstice_abi::bindings`): refused whichever of the two loads
    /// second. The message names both versions, both schema hashes and the
    /// first difference.
    #[error("{0}")]
    IncompatibleDependency(Box<interstice_abi::bindings::BindingProblem>),
    /// Loading the module would close a certain subscription cycle: every
    /// trigger on it declares the tables it writes (`writes = […]`), so a
    /// change would set it off again and again until
    /// `Limits::max_trigger_depth` cut it. Accepted only when every trigger
    /// on it says `recursive` (`docs/SDK.md`, "Triggers").
    #[error(
        "module `{module}`: subscription cycle {path}: every trigger on it declares the tables \
         it writes, so one change would run it until Limits::max_trigger_depth cuts it; \
         break the cycle, or accept bounded recursion by declaring `recursive` on {missing}"
    )]
    SubscriptionCycle {
        /// The module being loaded.
        module: String,
        /// `m.t → trigger m.r → m.t`.
        path: String,
        /// The triggers on it that do not say `recursive`.
        missing: String,
    },
    /// A subscription that cannot be satisfied.
    #[error("bad subscription in module `{module}`: {reason}")]
    BadSubscription {
        /// Subscriber module.
        module: String,
        /// Why.
        reason: String,
    },
    /// The reducer failed and everything it did was rolled back.
    #[error("{module}.{reducer} {error}")]
    Reducer {
        /// Module.
        module: String,
        /// Reducer.
        reducer: String,
        /// The failure.
        error: ReducerError,
    },
    /// A storage fault: the runtime refuses writes until it is reopened.
    #[error("storage fault: {0}; the runtime refuses writes until it is reopened")]
    StorageFault(String),
    /// The runtime was opened read-only (`stop_at`, `skip_to_log_offset`):
    /// it refuses every write.
    #[error("the runtime is read-only: {0}")]
    ReadOnly(String),
    /// An error from the persistence layer (opening, replaying the log).
    #[error(transparent)]
    Persist(#[from] PersistError),
    /// Replay of a logged transaction failed.
    #[error("replay failed at ts {ts} ({module}): {reason}")]
    Replay {
        /// Timestamp of the failing entry.
        ts: u64,
        /// Module of the failing entry.
        module: String,
        /// Why.
        reason: String,
    },
    /// The runtime was shut down.
    #[error("the runtime is shut down")]
    Shutdown,
    /// A snapshot could not be taken (`Runtime::snapshot_now`), or the log
    /// cannot be used without one.
    #[error("snapshot: {0}")]
    Snapshot(SnapshotError),
    /// A wasmtime engine error outside any reducer.
    #[error("wasm engine: {0}")]
    Engine(String),
    /// A fault inside the runtime itself — a task that failed or panicked,
    /// an actor that did not start, an invariant that did not hold. It is a
    /// bug, not a property of the input; nothing acknowledged is lost.
    #[error("internal fault of the runtime: {0}")]
    Internal(String),
    /// An I/O error outside the log (reading a file, spawning a thread).
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
}

impl From<interstice_sync::Refusal> for RuntimeError {
    fn from(r: interstice_sync::Refusal) -> Self {
        match r {
            interstice_sync::Refusal::StorageFault(reason) => RuntimeError::StorageFault(reason),
            interstice_sync::Refusal::ReadOnly(reason) => RuntimeError::ReadOnly(reason),
        }
    }
}

impl RuntimeError {
    /// [`RuntimeError::Replay`]: the entry at `ts` of `module` cannot be
    /// replayed (or re-executed), for `reason`.
    pub(crate) fn replay(ts: u64, module: impl Into<String>, reason: impl Into<String>) -> Self {
        RuntimeError::Replay {
            ts,
            module: module.into(),
            reason: reason.into(),
        }
    }

    /// The error's kind, as a stable string: the variant's name, except
    /// that a reducer failure is named by its [`ErrorKind`] (`Trap`,
    /// `UserError`, …) and both argument errors are `BadArguments`. These
    /// are the `kind`s of `docs/PROTOCOL.md` §6; they never change meaning.
    pub fn kind(&self) -> &'static str {
        match self {
            RuntimeError::UnknownModule(_) => "UnknownModule",
            RuntimeError::ModuleUnloaded { .. } => "ModuleUnloaded",
            RuntimeError::HasDependents { .. } => "HasDependents",
            RuntimeError::UnknownReducer { .. } => "UnknownReducer",
            RuntimeError::UnknownTable { .. } => "UnknownTable",
            RuntimeError::ArgCount { .. } | RuntimeError::ArgType { .. } => "BadArguments",
            RuntimeError::WrongMode { .. } => "WrongMode",
            RuntimeError::MalformedWasm(_) => "MalformedWasm",
            RuntimeError::MissingExport { .. } => "MissingExport",
            RuntimeError::UnknownImport { .. } => "UnknownImport",
            RuntimeError::ImportMismatch { .. } => "ImportMismatch",
            RuntimeError::Abi(_) => "Abi",
            RuntimeError::DependencyCycle(_) => "DependencyCycle",
            RuntimeError::IncompatibleSchema { .. } => "IncompatibleSchema",
            RuntimeError::IncompatibleDependency(_) => "IncompatibleDependency",
            RuntimeError::BadSubscription { .. } => "BadSubscription",
            RuntimeError::SubscriptionCycle { .. } => "SubscriptionCycle",
            RuntimeError::Reducer { error, .. } => error.kind.name(),
            RuntimeError::StorageFault(_) => "StorageFault",
            RuntimeError::ReadOnly(_) => "ReadOnly",
            RuntimeError::Persist(_) => "Persist",
            RuntimeError::Replay { .. } => "Replay",
            RuntimeError::Shutdown => "Shutdown",
            RuntimeError::Snapshot(_) => "Snapshot",
            RuntimeError::Engine(_) => "Engine",
            RuntimeError::Internal(_) => "Internal",
            RuntimeError::Io(_) => "Io",
        }
    }
}

/// What a refused import from a well-known foreign interface means here.
fn import_hint(module: &str) -> &'static str {
    if module.starts_with("wasi") {
        " (WASI is not available to modules: their only clock and randomness are ctx.now() \
         and ctx.rng(), which the log records so that replay sees the same values; build \
         for wasm32-unknown-unknown)"
    } else {
        ""
    }
}
