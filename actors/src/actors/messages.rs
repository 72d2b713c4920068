//! Every message that crosses between actors, in one place.
//!
//! ```text
//!  Runtime ──Execute/Query──▶ ModuleActor ──Numbered──▶ Sequencer ──AppendBatch──▶ LogWriter
//!                                 ▲                          │                         │
//!                                 └────────Execute─────── Router ◀──Route──────────────┘ (Durable)
//! ```

use std::sync::Arc;

use actix::Message;
use interstice_abi::ModuleSchema;
use interstice_persist::{Cause, Hash, ModuleInstall, OutboundCall};
use interstice_sync::Refusal;

use crate::actors::module_log::ModuleLogRecord;
use crate::actors::trace::ExecSpan;
use crate::recovery::deliveries::Delivery;
use crate::wasm::engine::CompiledModule;
use crate::wasm::env::ReadAnswer;
use crate::wasm::host_state::Observer;
use crate::wasm::transaction::Failure;
use interstice_tables::Change;

/// A one-shot reply channel of any flavour (tokio oneshot for async callers,
/// std channel for a module blocked in a read call).
pub(crate) struct Responder<T>(Box<dyn FnOnce(T) + Send>);

impl<T: Send + 'static> Responder<T> {
    pub(crate) fn new(f: impl FnOnce(T) + Send + 'static) -> Self {
        Self(Box::new(f))
    }

    pub(crate) fn tokio(tx: tokio::sync::oneshot::Sender<T>) -> Self {
        Self::new(move |v| {
            let _ = tx.send(v);
        })
    }

    pub(crate) fn std(tx: std::sync::mpsc::SyncSender<T>) -> Self {
        Self::new(move |v| {
            let _ = tx.send(v);
        })
    }

    pub(crate) fn send(self, v: T) {
        (self.0)(v)
    }
}

/// Result of a write call: its timestamp and the encoded return value.
pub(crate) type ExecReply = Result<(u64, Vec<u8>), ExecError>;

/// Why a write call produced no commit.
#[derive(Debug, Clone)]
pub(crate) enum ExecError {
    /// The reducer failed (the failure is logged, with its timestamp).
    Failed(Failure),
    /// The runtime refuses writes (a storage fault, or opened read-only).
    Refused(Refusal),
    /// The call was checked against a schema the module no longer has (it
    /// was upgraded meanwhile): nothing ran, no timestamp was taken; look
    /// the reducer up again and retry.
    Stale,
    /// The module was unloaded (at this timestamp) before the call ran:
    /// nothing ran, no timestamp was taken.
    Unloaded(u64),
}

/// Which reducer an [`Execute`] runs.
#[derive(Debug, Clone)]
pub(crate) enum Target {
    /// By index, with the arguments checked against the schema whose hash
    /// this is (calls, init). Refused as [`ExecError::Stale`] if the module
    /// now has another schema.
    Index { reducer: u32, schema_hash: Hash },
    /// By name, resolved by the module actor against its current schema
    /// (router deliveries). A name or arguments that no longer fit are
    /// logged as a failed commit, so the delivery is consumed exactly once.
    Name(String),
}

/// Run a write reducer as one transaction.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Execute {
    pub target: Target,
    pub args: Vec<u8>,
    pub cause: Cause,
    /// Trigger depth: 0 for external calls and init.
    pub depth: u32,
    /// For a delivery: the timestamp of the external call (or init) at the
    /// root of its tree of deliveries, whose fan-out budget it counts
    /// against (`Limits::fanout`). `None` for external calls and init.
    pub root: Option<u64>,
    /// A delivery the fan-out budget cut: logged as a commit failed with
    /// `ErrorKind::FanOut`, without running the reducer.
    pub cut: bool,
    /// While tracing: the flow id the router gave this delivery, which its
    /// span ends (`actors/trace.rs`). `None` otherwise.
    pub flow: Option<u64>,
    /// Answered at once for a failure or a refusal, and for a commit only
    /// once it is durable (through [`interstice_sync::Watermark::on_reach`]).
    pub reply: Option<Responder<ExecReply>>,
}

impl Execute {
    /// An external call or an init (the root of its own delivery tree).
    pub(crate) fn call(
        target: Target,
        args: Vec<u8>,
        cause: Cause,
        reply: Responder<ExecReply>,
    ) -> Self {
        Self {
            target,
            args,
            cause,
            depth: 0,
            root: None,
            cut: false,
            flow: None,
            reply: Some(reply),
        }
    }
}

/// Result of a read call.
pub(crate) type QueryReply = Result<ReadAnswer, Failure>;

/// Run a read reducer.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Query {
    pub reducer: u32,
    /// The schema `reducer` was looked up in. If the module has another
    /// schema now (an upgrade raced with the read), the actor resolves
    /// `name` again against its current one.
    pub schema_hash: Hash,
    pub name: String,
    pub args: Vec<u8>,
    /// Fuel it may burn: what the calling transaction has left.
    pub fuel: u64,
    /// When the calling transaction's wall-clock limit runs out.
    pub deadline: std::time::Instant,
    /// Set for a read call of a write transaction (`host_state::Observer`).
    pub observer: Option<Observer>,
    /// While tracing, the module whose reducer made this read call (the
    /// read calls this read makes in turn are drawn on its thread);
    /// `None` for a read from outside (`Runtime::read`).
    pub trace_caller: Option<Arc<str>>,
    pub reply: Responder<QueryReply>,
}

/// Releases a hold a write transaction's read call put on the module's
/// writes (`host_state::Pin`), once that transaction has its timestamp or
/// has rolled back.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Unpin {
    pub id: u64,
}

/// The number of rows in each of the module's tables, by name.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct TableRows {
    pub reply: Responder<Vec<(String, u64)>>,
}

/// Rows of one table as the module has them between two transactions, for
/// `Runtime::scan_table`: a query in the host's encoding, read page by page
/// with the guests' own query code, up to `limit` rows and
/// `MAX_SCAN_EXAMINED` examined entries.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct ScanRows {
    pub table: u32,
    pub query: Vec<u8>,
    pub limit: u32,
    pub reply: Responder<Result<ScannedPages, interstice_tables::TableError>>,
}

/// What a [`ScanRows`] read: the pages (each a CBOR array of encoded rows,
/// as `query_page` writes them) and whether more rows may follow.
#[derive(Debug, Default)]
pub(crate) struct ScannedPages {
    pub pages: Vec<Vec<u8>>,
    pub more: bool,
}

/// Switch the module to a new version of its code (an accepted upgrade).
/// The actor re-checks the schema diff against its tables, takes the
/// install's timestamp itself (so every commit of the old code is before it
/// and every commit of the new code after it), remaps its tables, swaps in
/// the new code, hands the `Install` entry to the sequencer and replies with
/// the install's timestamp — or with the incompatibility `(table, change)`.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Upgrade {
    pub compiled: CompiledModule,
    /// The install record (its `ts` is filled in by the actor).
    pub install: ModuleInstall,
    pub reply: Responder<Result<u64, UpgradeRefused>>,
}

/// Why the module actor refused an [`Upgrade`].
#[derive(Debug, Clone)]
pub(crate) enum UpgradeRefused {
    /// The first incompatible change the new schema makes.
    Incompatible {
        /// The table it changes.
        table: String,
        /// What changes, in words.
        change: String,
    },
    /// The runtime refuses writes.
    Refused(Refusal),
}

/// Unload the module (`Runtime::unload_module`). Between two transactions
/// (deferred while pinned, like [`Upgrade`]), the actor numbers what it has
/// finished, takes the unload's timestamp itself (so every commit of the
/// module is before it), hands the `Unload` entry to the sequencer, replies
/// with the timestamp and, with [`UnloadTables::Keep`], its tables, and
/// stops. Calls and deliveries that reach it afterwards get
/// [`ExecError::Unloaded`] and run nothing.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Unload {
    pub tables: interstice_persist::UnloadTables,
    pub reply: Responder<Result<(u64, Option<interstice_tables::Tables>), Refusal>>,
}

/// Hand the tables back and stop, logging nothing: the actor of a module
/// being loaded again with kept tables, whose upgrade was refused (the
/// tables stay with the unloaded module).
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct ReturnTables {
    pub reply: Responder<interstice_tables::Tables>,
}

/// Hash the module's logged tables.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct HashState {
    pub reply: Responder<(String, [u8; 32])>,
}

/// Stop the actor (and its arbiter).
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct StopModule;

/// A commit as the router needs it.
#[derive(Debug)]
pub(crate) struct CommitInfo {
    pub module: Arc<str>,
    pub schema: Arc<ModuleSchema>,
    pub ok: bool,
    pub calls: Vec<OutboundCall>,
    pub changes: Vec<Change>,
    pub depth: u32,
    /// The delivery tree it belongs to (`Execute::root`); `None`: it is a
    /// root itself (its own timestamp).
    pub root: Option<u64>,
    /// The reducer.
    pub reducer: String,
    /// The reply it owes its caller (a call made with a reply): the
    /// caller, its reply reducer and the reply's argument array (boxed:
    /// most commits owe none).
    pub reply: Option<Box<(String, String, Vec<u8>)>>,
    /// Its module-log records (guest lines, a failed delivery), timestamp
    /// still 0: the router stamps and writes them.
    pub log_records: Vec<ModuleLogRecord>,
    /// While tracing, the execution's span, completed by the router with
    /// the timestamp (`actors/trace.rs`).
    pub trace: Option<Box<ExecSpan>>,
}

/// What the router learns about each entry.
#[derive(Debug)]
pub(crate) enum EntryInfo {
    Install(Arc<ModuleSchema>),
    Commit(CommitInfo),
    /// The module of this name was unloaded.
    Unload(String),
}

/// An entry in the pipeline after it was numbered: encoded for the log,
/// with what the router needs.
#[derive(Debug)]
pub(crate) struct NumberedEntry {
    pub entry: Vec<u8>,
    pub info: EntryInfo,
}

/// A module (or the loader) hands finished entries to the sequencer: one
/// message for every entry a module finished while draining its mailbox
/// (see [`crate::actors::module_actor`]), so a burst costs the sequencer one wakeup.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Numbered {
    /// `(timestamp, entry)` pairs, in the order the module made them.
    pub items: Vec<(u64, NumberedEntry)>,
}

impl Numbered {
    pub(crate) fn one(ts: u64, item: NumberedEntry) -> Self {
        Self {
            items: vec![(ts, item)],
        }
    }
}

/// Sequencer → log-writer: a gapless run of encoded entries.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct AppendBatch {
    pub first_ts: u64,
    pub count: u32,
    pub payload: Vec<u8>,
}

/// Make everything written so far durable, then reply.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct FlushLog {
    pub reply: Responder<()>,
}

/// Sequencer → router: entries in timestamp order.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Route(pub Vec<(u64, EntryInfo)>);

/// Log-writer → router: everything up to this timestamp is durable.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Durable(pub u64);

/// Replay → router: deliveries that were pending at the crash, in order.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct ResumePending(pub Vec<Delivery>);
