//! The Interstice runtime.
//!
//! It hosts WebAssembly modules built with `interstice-sdk`. Each module runs
//! in its own actor (`actors/module_actor.rs`) on its own thread, owning its tables
//! and its wasmtime store. Write reducers are transactions: each gets a
//! global, gapless timestamp, is sequenced (`actors/sequencer.rs`), appended to the
//! hash-chained log and made durable (`actors/log_writer.rs`) before it is
//! acknowledged; its async calls and the triggers it fires are delivered in
//! timestamp order by the subscription router (`actors/router.rs`). On open the log
//! is replayed without running any wasm (`recovery/replay.rs`). [`replay_check()`]
//! re-executes a log against its module binaries to check it is deterministic;
//! [`rerun_commit`] re-executes one logged commit on its own (`replay-debug`).
//! `docs/ARCHITECTURE.md` gives the layers and the life of a call.
//!
//! Embed it through [`Runtime`]:
//!
//! ```no_run
//! # async fn demo() -> Result<(), interstice_actors::RuntimeError> {
//! use interstice_actors::{Runtime, Value};
//! let rt = Runtime::builder().data_dir("/tmp/data").open().await?;
//! rt.load_module(std::fs::read("bank.wasm")?).await?;
//! let id = rt.call("bank", "open_account", vec!["alice".into(), 100u64.into()]).await?;
//! let balance = rt.read("bank", "balance", vec![id.value]).await?;
//! rt.shutdown().await?;
//! # Ok(()) }
//! ```
//!
//! `docs/ARCHITECTURE.md` shows where each actor, message and format lives.

mod actors;
mod config;
mod error;
mod events;
mod metrics;
mod recovery;
mod replay_check;
mod runtime;
mod wasm;

pub use actors::module_log::{MODULE_LOG_DIR, MODULE_LOG_FILE};
pub use actors::router::RowChange;
pub use config::{
    Durability, Limits, ModuleLogPolicy, ParseDurabilityError, RuntimeConfig, SnapshotPolicy,
    TraceConfig,
};
pub use error::{ReducerError, RuntimeError, SnapshotError};
pub use interstice_abi::{ReducerMode, RowEvent, Type, Value};
pub use interstice_persist::ErrorKind;
pub use interstice_persist::UnloadTables;
pub use metrics::Metrics;
pub use recovery::chain_cuts::{ChainCut, ChainCuts};
pub use replay_check::{
    engine_json, replay_check, rerun_commit, Difference, Divergence, EngineCause, EngineDivergence,
    InstalledModule, LoggedEngine, ModuleCheck, Observed, ReplayCheckOptions, ReplayCheckReport,
};
pub use runtime::{
    inspect_module, CallOutput, Loaded, ModuleInfo, Runtime, RuntimeBuilder, TableScan,
    UnloadOptions, Unloaded, MAX_SCAN_ROWS,
};
