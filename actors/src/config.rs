//! Runtime configuration: data directory, durability mode, limits.

use std::path::PathBuf;
use std::time::Duration;

/// When a write is acknowledged (`docs/DURABILITY.md`).
///
/// A commit is *acknowledged* when [`crate::Runtime::call`] returns it (or
/// `interstice run` writes its reply). In every mode:
///
/// - a **process crash** (SIGKILL, abort, panic) loses no acknowledged
///   commit: it was written to the OS before it was acknowledged;
/// - recovery never shows a partial commit or a partial batch: the log is
///   cut back to its last complete, hash-verified batch, and the state is
///   the replay of exactly the commits in the log;
/// - a failed write or fsync is never acknowledged: the call gets
///   [`crate::RuntimeError::StorageFault`], and the runtime refuses every
///   later write until it is reopened.
///
/// The modes differ in what an **OS crash or power loss** can lose (with a
/// disk that honours fsync).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// Acknowledge only after the commit's batch is fsynced (group commit:
    /// one fsync covers every batch that arrived meanwhile). The default.
    /// Power loss loses no acknowledged commit.
    #[default]
    Sync,
    /// Acknowledge once the batch is written to the OS; fsync every
    /// interval. Power loss can lose the commits acknowledged since the last
    /// completed fsync: about one interval (plus the time that fsync took).
    Periodic(Duration),
    /// Acknowledge once the batch is written to the OS; never fsync for the
    /// sake of commits. The log is fsynced only when a segment is closed
    /// (rotation), when it is opened and at a clean shutdown, so power loss
    /// can lose every commit acknowledged since the last of those: there is
    /// no time bound (the OS's own write-back usually lands within seconds).
    None,
}

/// A string that is not a [`Durability`] (`sync`, `none`, `periodic(MS)`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{text}` is not a durability mode: use sync, none or periodic(MS)")]
pub struct ParseDurabilityError {
    /// The text that was given.
    pub text: String,
}

impl std::str::FromStr for Durability {
    type Err = ParseDurabilityError;
    fn from_str(s: &str) -> Result<Self, ParseDurabilityError> {
        match s {
            "sync" => Ok(Durability::Sync),
            "none" => Ok(Durability::None),
            _ => {
                let ms = s
                    .strip_prefix("periodic(")
                    .and_then(|r| r.strip_suffix(')'))
                    .or_else(|| s.strip_prefix("periodic:"))
                    .and_then(|n| n.trim_end_matches("ms").parse::<u64>().ok())
                    .ok_or_else(|| ParseDurabilityError { text: s.to_owned() })?;
                Ok(Durability::Periodic(Duration::from_millis(ms.max(1))))
            }
        }
    }
}

/// What one transaction, one module and one external call may use
/// (`docs/SDK.md`, "Limits"; the threat model is `docs/SECURITY.md`).
///
/// Every per-transaction limit covers the whole transaction: the reducer
/// and every read call it makes (and the read calls those make). A
/// transaction that reaches one rolls back with a [`crate::ReducerError`]
/// whose message names the limit (`Limits::tx_mutation_bytes = …`), of
/// kind `Budget` — except the wall-clock limit, whose kind is `Timeout`.
/// All but the wall-clock limit are deterministic: a transaction that
/// reached one reaches it again when `replay-check` re-executes it under
/// the same limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, derive_setters::Setters)]
#[setters(prefix = "with_")]
#[non_exhaustive]
pub struct Limits {
    /// Fuel (≈ wasm instructions) one transaction may burn, its read calls
    /// included (each read call runs on what the transaction has left, and
    /// what it burns is charged to it). Deterministic.
    pub fuel: u64,
    /// Bytes of linear memory a module instance may grow to.
    pub memory_bytes: usize,
    /// Wall-clock time one transaction may take, its read calls (and the
    /// time spent waiting for them) included. Enforced by epoch
    /// interruption (checked every [`Limits::EPOCH_TICK`]), so a reducer
    /// stuck in a loop, or in host calls, ends with `Timeout`.
    pub tx_time: std::time::Duration,
    /// Row writes (insert, update, delete) one transaction may make.
    pub tx_mutations: u32,
    /// Bytes one transaction's row writes may hold in the host: each write
    /// counts its new row, the old row it keeps for rollback, and its key.
    pub tx_mutation_bytes: u64,
    /// Async calls (`ctx.call`) one transaction may queue.
    pub tx_calls: u32,
    /// Bytes of arguments one transaction's async calls may hold.
    pub tx_call_bytes: u64,
    /// Bytes of results one transaction's read calls may return (they are
    /// recorded in its commit, for `replay-check`).
    pub tx_read_bytes: u64,
    /// Bytes of log output one transaction may write (after each line is
    /// cut to [`Limits::log_line_bytes`]).
    pub tx_log_bytes: u64,
    /// Longest guest log line kept; longer lines are cut, with a note of
    /// how long they were.
    pub log_line_bytes: u32,
    /// Guest log bytes per second one module may write, over all its
    /// transactions (a burst of one second's worth is allowed). Lines over
    /// the rate are dropped, and counted in a warning once a second.
    pub log_bytes_per_sec: u64,
    /// Deliveries (triggers and async calls) one external call may cause,
    /// over its whole tree: its own async calls and triggers, theirs, and
    /// so on. Deliveries beyond it are cut: each is logged as a commit that
    /// failed with kind `FanOut` without running, so a restart does not
    /// resume them.
    pub fanout: u64,
    /// Triggers caused by triggers… deeper than this are dropped (with a
    /// warning): the run-time guard against subscription cycles.
    pub max_trigger_depth: u32,
    /// Most module instances alive at once (pooling allocator slots).
    pub max_instances: u32,
}

impl Limits {
    /// How often the wall-clock limit is checked.
    pub const EPOCH_TICK: std::time::Duration = std::time::Duration::from_millis(5);
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            fuel: 50_000_000,
            memory_bytes: 64 << 20,
            tx_time: std::time::Duration::from_secs(5),
            tx_mutations: 100_000,
            tx_mutation_bytes: 128 << 20,
            tx_calls: 10_000,
            tx_call_bytes: 32 << 20,
            tx_read_bytes: 64 << 20,
            tx_log_bytes: 1 << 20,
            log_line_bytes: 16 << 10,
            log_bytes_per_sec: 4 << 20,
            fanout: 10_000,
            max_trigger_depth: 32,
            max_instances: 128,
        }
    }
}

/// Settings a [`crate::Runtime`] is built with.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RuntimeConfig {
    /// The data directory (created if missing).
    pub data_dir: PathBuf,
    /// When writes are acknowledged.
    pub durability: Durability,
    /// Resource limits.
    pub limits: Limits,
    /// Log segment size before rotation.
    pub segment_size: u64,
    /// Where the log lives. `None` (the default): `log/` in the data
    /// directory. Tests inject a fault-injecting backend here.
    pub log_storage: Option<std::sync::Arc<dyn interstice_persist::Storage>>,
    /// Inspection: replay only the entries up to this timestamp and open
    /// read-only (appending after a truncated replay would fork history).
    pub stop_at: Option<u64>,
    /// Recovery: replay the valid prefix of a damaged log, then resume at
    /// this later position, accepting the chain break there; read-only.
    pub skip_to_log_offset: Option<interstice_persist::LogPosition>,
    /// When snapshots are taken and how many are kept.
    pub snapshots: SnapshotPolicy,
    /// Whether and how much of the module logs (`DIR/logs/`) are kept.
    pub module_logs: ModuleLogPolicy,
    /// Reducer traces (off by default).
    pub trace: TraceConfig,
}

/// Reducer traces (`docs/TOOLS.md`, "Reducer traces"): every reducer
/// execution as a span in Chrome's Trace Event format, and folded stacks
/// for flamegraph tools. Both files are created (truncated) when the
/// runtime opens and closed when it shuts down. With neither set (the
/// default) tracing is off and costs one branch per execution.
///
/// ```
/// let t = interstice_actors::TraceConfig::default().with_chrome("trace.json");
/// assert!(t.chrome.is_some() && t.folded.is_none());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, derive_setters::Setters)]
#[setters(prefix = "with_", strip_option, into)]
#[non_exhaustive]
pub struct TraceConfig {
    /// Where to write the Chrome Trace Event JSON (`run --trace FILE`).
    pub chrome: Option<PathBuf>,
    /// Where to write the folded stacks (`run --trace-folded FILE`).
    pub folded: Option<PathBuf>,
    /// Events buffered between the runtime and the trace writer; when the
    /// writer falls this far behind, events are dropped and counted
    /// (default 65536).
    pub buffer: usize,
}

impl Default for TraceConfig {
    fn default() -> Self {
        Self {
            chrome: None,
            folded: None,
            buffer: 1 << 16,
        }
    }
}

impl TraceConfig {
    /// Whether any trace file is written.
    pub fn enabled(&self) -> bool {
        self.chrome.is_some() || self.folded.is_some()
    }
}

/// The module logs a runtime keeps in `DIR/logs/` (`docs/TOOLS.md`,
/// "logs"): guest log lines, failed deliveries and cut trigger chains, with
/// the timestamp, module and reducer of their commit. Rotated: at most
/// `(keep_files + 1) × max_file_bytes` on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, derive_setters::Setters)]
#[setters(prefix = "with_")]
#[non_exhaustive]
pub struct ModuleLogPolicy {
    /// Keep module logs (default: yes).
    pub enabled: bool,
    /// Bytes `module.log` may hold before it is rotated (default 8 MiB).
    pub max_file_bytes: u64,
    /// Rotated files kept, `module.log.1` … (default 4).
    pub keep_files: usize,
}

impl Default for ModuleLogPolicy {
    fn default() -> Self {
        Self {
            enabled: true,
            max_file_bytes: 8 << 20,
            keep_files: 4,
        }
    }
}

/// When the runtime takes snapshots (`docs/SNAPSHOT_FORMAT.md`) and how
/// many it keeps. Startup uses the newest valid snapshot whatever this says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, derive_setters::Setters)]
#[setters(prefix = "with_")]
#[non_exhaustive]
pub struct SnapshotPolicy {
    /// Run the snapshotter (needed for [`crate::Runtime::snapshot_now`]).
    /// Set by the two thresholds; off by default, since the snapshotter
    /// keeps a second copy of the logged state.
    pub enabled: bool,
    /// Take a snapshot once this many log entries were written since the last.
    pub every_commits: Option<u64>,
    /// Take a snapshot once this many log bytes were written since the last.
    pub every_bytes: Option<u64>,
    /// Snapshots kept by retention (at least 1).
    pub keep: usize,
}

impl Default for SnapshotPolicy {
    fn default() -> Self {
        Self {
            enabled: false,
            every_commits: None,
            every_bytes: None,
            keep: 2,
        }
    }
}
