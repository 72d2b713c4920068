//! The log's record types and their canonical CBOR encoding.
//!
//! Every entry is a positional CBOR array `[kind, …fields]`; enums are
//! `[tag, …fields]`; byte payloads (arguments, rows, return values, schemas)
//! are CBOR byte strings, so they are stored exactly as given and never
//! re-encoded. `docs/LOG_FORMAT.md` §5 lists every layout and tag.
//!
//! Decoding is strict: exact array lengths, known tags only, integers in
//! range, 32-byte hashes, canonical CBOR (enforced by
//! [`interstice_abi::cbor::Reader`]). It never panics on arbitrary input.

use interstice_abi::cbor::{encode_head, Reader, Writer};

use crate::error::{PersistError, Result};
#[cfg(doc)]
use crate::record_ref::LogEntryRef;
use crate::record_ref::{decode_entry_ref, MutationOpRef, MutationRef, OutcomeRef};

/// A blake3 hash.
pub type Hash = [u8; 32];

/// Entry kind tag of [`LogEntry::Install`].
pub const KIND_INSTALL: u64 = 0;
/// Entry kind tag of [`LogEntry::Commit`].
pub const KIND_COMMIT: u64 = 1;
/// Entry kind tag of [`LogEntry::Engine`].
pub const KIND_ENGINE: u64 = 2;
/// Entry kind tag of [`LogEntry::Unload`].
pub const KIND_UNLOAD: u64 = 3;

/// One entry of the log. Each has its own timestamp; the entries of a batch
/// have consecutive timestamps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogEntry {
    /// A module was installed (or upgraded).
    Install(ModuleInstall),
    /// A reducer call committed or failed.
    Commit(CommitRecord),
    /// From here on, another build executes reducers (written when a
    /// runtime opens a non-empty log last written by a different engine).
    Engine(EngineRecord),
    /// A module was unloaded: from here on it is not loaded, its pending
    /// deliveries are dropped, and its tables are kept or dropped.
    Unload(UnloadRecord),
}

impl LogEntry {
    /// The entry's timestamp.
    pub fn ts(&self) -> u64 {
        match self {
            LogEntry::Install(i) => i.ts,
            LogEntry::Commit(c) => c.ts,
            LogEntry::Engine(e) => e.ts,
            LogEntry::Unload(u) => u.ts,
        }
    }
}

/// What an unload does with the module's tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UnloadTables {
    /// The rows stay: loading the module again brings them back (as an
    /// upgrade from the unloaded version). Logged as `0`.
    Keep,
    /// The rows are gone: loading the module again starts it empty (as a
    /// first install). Logged as `1`.
    Drop,
}

impl UnloadTables {
    /// The logged code (`docs/LOG_FORMAT.md` §5, `Unload`).
    pub fn code(self) -> u64 {
        match self {
            UnloadTables::Keep => 0,
            UnloadTables::Drop => 1,
        }
    }

    /// The mode of a logged code.
    pub fn from_code(code: u64) -> Option<Self> {
        match code {
            0 => Some(UnloadTables::Keep),
            1 => Some(UnloadTables::Drop),
            _ => None,
        }
    }

    /// `"keep"` or `"drop"` (what the tools show).
    pub fn name(self) -> &'static str {
        match self {
            UnloadTables::Keep => "keep",
            UnloadTables::Drop => "drop",
        }
    }
}

/// A [`LogEntry::Unload`] entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnloadRecord {
    /// Timestamp.
    pub ts: u64,
    /// The module unloaded.
    pub name: String,
    /// Whether its tables are kept or dropped.
    pub tables: UnloadTables,
}

/// The build that executes reducers: everything that can change a
/// transaction's fuel use or the depth at which its stack runs out without
/// the module changing (`docs/DETERMINISM.md`, "Engine upgrades"). The log
/// records which engine wrote each commit, so that `replay-check` on
/// another build can tell an engine change from a module's divergence.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EngineInfo {
    /// The Interstice runtime's version (`interstice-actors`).
    pub runtime: String,
    /// The wasmtime version: its fuel costs per instruction and its frame
    /// sizes.
    pub wasmtime: String,
    /// The target the code is compiled for, `ARCH-OS` (frame sizes).
    pub target: String,
    /// The version of the runtime's own fuel charges for host calls
    /// (`interstice_abi::query::FUEL_SCHEDULE`).
    pub fuel_schedule: u32,
    /// The wasm stack, in bytes, a transaction may use.
    pub max_wasm_stack: u64,
    /// blake3 of the engine's compatibility hash (wasmtime version, target,
    /// CPU features, compiler flags and tunables): the compiled-code
    /// identity, as in the compiled-module cache (`LOG_FORMAT.md` §9.1).
    pub code: Hash,
}

/// One field in which two [`EngineInfo`]s differ.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineChange {
    /// The field's name, as in `docs/LOG_FORMAT.md` §5.
    pub field: &'static str,
    /// Its value in the first.
    pub before: String,
    /// Its value in the second.
    pub after: String,
}

impl EngineInfo {
    /// Every field in which `self` and `other` differ, in field order.
    pub fn changes_to(&self, other: &EngineInfo) -> Vec<EngineChange> {
        let hex = |h: &Hash| blake3::Hash::from(*h).to_hex()[..16].to_owned();
        let fields = [
            ("runtime", self.runtime.clone(), other.runtime.clone()),
            ("wasmtime", self.wasmtime.clone(), other.wasmtime.clone()),
            ("target", self.target.clone(), other.target.clone()),
            (
                "fuel_schedule",
                self.fuel_schedule.to_string(),
                other.fuel_schedule.to_string(),
            ),
            (
                "max_wasm_stack",
                self.max_wasm_stack.to_string(),
                other.max_wasm_stack.to_string(),
            ),
            ("code", hex(&self.code), hex(&other.code)),
        ];
        fields
            .into_iter()
            .filter(|(_, a, b)| a != b)
            .map(|(field, before, after)| EngineChange {
                field,
                before,
                after,
            })
            .collect()
    }
}

impl std::fmt::Display for EngineInfo {
    /// `interstice 0.1.0, wasmtime 48.0.8, x86_64-linux, fuel schedule 1,
    /// stack 1048576 B, code 0123456789abcdef`
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "interstice {}, wasmtime {}, {}, fuel schedule {}, stack {} B, code {}",
            self.runtime,
            self.wasmtime,
            self.target,
            self.fuel_schedule,
            self.max_wasm_stack,
            &blake3::Hash::from(self.code).to_hex()[..16]
        )
    }
}

/// An [`LogEntry::Engine`] entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineRecord {
    /// Timestamp.
    pub ts: u64,
    /// The engine that executes the entries after this one.
    pub engine: EngineInfo,
}

/// A module installation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleInstall {
    /// Timestamp.
    pub ts: u64,
    /// Module name.
    pub name: String,
    /// Module version.
    pub version: String,
    /// The canonical schema CBOR.
    pub schema: Vec<u8>,
    /// blake3 of `schema`.
    pub schema_hash: Hash,
    /// blake3 of the wasm binary (its name under `modules/`).
    pub wasm_hash: Hash,
    /// The engine of the runtime that installed it; `None` in logs written
    /// before engines were recorded.
    pub engine: Option<EngineInfo>,
}

/// The host's clock as a commit's [`CommitRecord::wall_micros`]:
/// microseconds since the Unix epoch (0 for a clock set before 1970).
pub fn wall_clock_micros() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// One reducer call: its input, recorded non-determinism and output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitRecord {
    /// Timestamp.
    pub ts: u64,
    /// The module the reducer belongs to.
    pub module: String,
    /// The module's schema hash at the time of the call.
    pub schema_hash: Hash,
    /// Reducer name.
    pub reducer: String,
    /// CBOR array of the arguments, opaque here.
    pub args: Vec<u8>,
    /// Why the reducer ran.
    pub cause: Cause,
    /// Recorded non-deterministic inputs, in the order they were taken.
    pub nondet: Vec<Nondet>,
    /// Result of the call.
    pub outcome: Outcome,
    /// Table mutations (empty unless the outcome is `Ok`).
    pub mutations: Vec<Mutation>,
    /// Write calls to deliver after this commit (empty unless `Ok`).
    pub calls: Vec<OutboundCall>,
    /// When the transaction finished by the host's clock, in microseconds
    /// since the Unix epoch; `None` in logs written before wall-clock times
    /// were recorded. Only the inspection tools read it: it is not an input
    /// of the reducer (that is [`Nondet::Now`]), so replay and `replay-check`
    /// pass over it.
    pub wall_micros: Option<u64>,
}

/// Why a reducer ran.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cause {
    /// A call from outside the runtime.
    External,
    /// The module's `init` reducer.
    Init,
    /// The `index`-th outbound call of the commit at `ts` in `module`.
    Call {
        /// Calling module.
        module: String,
        /// Timestamp of the calling commit.
        ts: u64,
        /// Index into that commit's `calls`.
        index: u32,
        /// The caller's reply reducer, for a call made with a reply
        /// ([`OutboundCall::reply`]): this commit's outcome is delivered to
        /// it as a commit of its own (cause [`Cause::Reply`]). `None` (and
        /// not encoded) otherwise, as in every log written before replies.
        reply: Option<String>,
    },
    /// A subscription fired by the `index`-th mutation of the commit at `ts`.
    Trigger {
        /// Source module.
        module: String,
        /// Timestamp of the source commit.
        ts: u64,
        /// Index into that commit's `mutations`.
        index: u32,
    },
    /// The code migration of `table` from `from_version` to `to_version`,
    /// run once at the upgrade whose install immediately precedes it, in
    /// the same batch (tag 4).
    Migration {
        /// The migrated table.
        table: String,
        /// The logged version migrated from.
        from_version: u32,
        /// The version migrated to.
        to_version: u32,
    },
    /// The reply to an async call made with a reply (tag 5): the outcome of
    /// the commit at `ts` in `module` (the callee, whose cause is a
    /// [`Cause::Call`] with a `reply`), delivered to the caller's reply
    /// reducer as its `index`-th delivery.
    Reply {
        /// The called module, whose commit is replied.
        module: String,
        /// Timestamp of that commit.
        ts: u64,
        /// Index among that commit's deliveries (after its calls and
        /// triggers).
        index: u32,
    },
}

impl Cause {
    /// The reply reducer this commit's outcome goes to, for a call made
    /// with a reply: `(caller module, reply reducer)`.
    pub fn reply_to(&self) -> Option<(&str, &str)> {
        match self {
            Cause::Call {
                module,
                reply: Some(r),
                ..
            } => Some((module, r)),
            _ => None,
        }
    }

    /// The timestamp of the entry that caused this delivery (the commit
    /// whose call, change or outcome it is); `None` for an external call,
    /// an init or a migration.
    pub fn source_ts(&self) -> Option<u64> {
        match self {
            Cause::Call { ts, .. } | Cause::Trigger { ts, .. } | Cause::Reply { ts, .. } => {
                Some(*ts)
            }
            Cause::External | Cause::Init | Cause::Migration { .. } => None,
        }
    }
}

/// A non-deterministic input, recorded so replay-check can feed it back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Nondet {
    /// `ctx.now()`: wall-clock time captured at transaction start.
    Now(i64),
    /// The seed of `ctx.rng()`.
    RngSeed(Hash),
    /// A synchronous read call and its result.
    ReadCall {
        /// Called module.
        module: String,
        /// Called read reducer.
        reducer: String,
        /// CBOR array of the arguments.
        args: Vec<u8>,
        /// Encoded result.
        result: Vec<u8>,
        /// Fuel the read call burnt, charged to the calling transaction's
        /// budget (tag 4). `None` in records written before read calls
        /// shared their caller's budget (tag 2): nothing was charged.
        fuel: Option<u64>,
    },
    /// `ctx.timestamp()`: the latest timestamp taken when the transaction
    /// first asked (tag 3).
    Timestamp(u64),
}

/// The result of a reducer call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Committed; the encoded return value.
    Ok(Vec<u8>),
    /// Rolled back.
    Err {
        /// Which kind of failure.
        kind: ErrorKind,
        /// Human-readable message.
        message: String,
        /// The encoded `Err` value of a [`ErrorKind::UserError`], recorded
        /// only for a commit whose outcome is replied ([`Cause::reply_to`]),
        /// so that replay can rebuild the reply. `None` (and not encoded)
        /// otherwise.
        value: Option<Vec<u8>>,
    },
}

/// Why a reducer call rolled back. The on-disk codes are stable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A wasm trap (code 0).
    Trap = 0,
    /// A guest panic (code 1).
    Panic = 1,
    /// The reducer returned `Err` (code 2).
    UserError = 2,
    /// The execution budget ran out (code 3).
    Budget = 3,
    /// The memory cap was hit (code 4).
    Memory = 4,
    /// A table constraint was violated (code 5).
    Constraint = 5,
    /// A host-side failure (code 6).
    Host = 6,
    /// The wall-clock limit ran out (code 7). Unlike every other kind, it
    /// depends on the machine, so `replay-check` does not expect it again.
    Timeout = 7,
    /// A delivery (trigger or async call) cut by the fan-out budget of the
    /// external call that caused it (code 8): it never ran.
    FanOut = 8,
}

impl ErrorKind {
    /// Every kind, in code order.
    pub const ALL: [ErrorKind; 9] = [
        ErrorKind::Trap,
        ErrorKind::Panic,
        ErrorKind::UserError,
        ErrorKind::Budget,
        ErrorKind::Memory,
        ErrorKind::Constraint,
        ErrorKind::Host,
        ErrorKind::Timeout,
        ErrorKind::FanOut,
    ];

    /// The kind's name, as the API and the `run` protocol spell it
    /// (`"Trap"`, `"UserError"`, …); stable, like the code.
    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::Trap => "Trap",
            ErrorKind::Panic => "Panic",
            ErrorKind::UserError => "UserError",
            ErrorKind::Budget => "Budget",
            ErrorKind::Memory => "Memory",
            ErrorKind::Constraint => "Constraint",
            ErrorKind::Host => "Host",
            ErrorKind::Timeout => "Timeout",
            ErrorKind::FanOut => "FanOut",
        }
    }

    /// What a reducer that failed this way did, in words (`"trapped"`,
    /// `"returned an error"`, …), for messages.
    pub fn what_happened(self) -> &'static str {
        match self {
            ErrorKind::Trap => "trapped",
            ErrorKind::Panic => "panicked",
            ErrorKind::UserError => "returned an error",
            ErrorKind::Budget => "ran out of execution budget",
            ErrorKind::Memory => "exceeded its memory cap",
            ErrorKind::Constraint => "violated a constraint",
            ErrorKind::Host => "made an invalid host call",
            ErrorKind::Timeout => "ran out of time",
            ErrorKind::FanOut => "was cut by the fan-out budget",
        }
    }

    /// The stable on-disk code.
    pub fn code(self) -> u8 {
        self as u8
    }

    /// The kind with this code, if any.
    pub fn from_code(code: u64) -> Option<Self> {
        Self::ALL.get(usize::try_from(code).ok()?).copied()
    }
}

/// One change to one table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mutation {
    /// Table index in the module's schema.
    pub table: u32,
    /// The change.
    pub op: MutationOp,
}

/// A row change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MutationOp {
    /// Inserted row CBOR.
    Insert(Vec<u8>),
    /// New row CBOR (the key identifies the old row).
    Update(Vec<u8>),
    /// Encoded key value CBOR of the deleted row.
    Delete(Vec<u8>),
}

/// A write call to deliver after the commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundCall {
    /// Target module.
    pub module: String,
    /// Target write reducer.
    pub reducer: String,
    /// CBOR array of the arguments.
    pub args: Vec<u8>,
    /// The reducer of the calling module that gets the call's outcome
    /// (`ctx.call_with_reply`); `None` (and not encoded) for a plain call.
    pub reply: Option<String>,
}

// ---------------------------------------------------------------- encoding

/// Appends one entry's canonical CBOR to `w`.
pub fn encode_entry(entry: &LogEntry, w: &mut Writer) {
    encode_entry_at(entry, entry.ts(), w)
}

/// An entry encoded before its timestamp is known: a module actor encodes
/// a transaction's record when the transaction ends, while its data is
/// warm, and numbers it later (`actors/src/actors/outbox.rs`).
///
/// It holds the entry's canonical CBOR with timestamp 0. Both entry kinds
/// begin with a one-byte array head, a one-byte kind and the timestamp
/// (`docs/LOG_FORMAT.md` §5), so the timestamp 0 is byte 2, and
/// [`UnnumberedEntry::numbered`] replaces it with the real timestamp's
/// head: the result is byte for byte what [`encode_entry`] writes for the
/// numbered entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnnumberedEntry {
    bytes: Vec<u8>,
}

/// Where the timestamp sits in an encoded entry.
const TS_OFFSET: usize = 2;

impl UnnumberedEntry {
    /// Encodes `entry`, whatever its `ts`, as timestamp 0.
    pub fn encode(entry: &LogEntry) -> Self {
        let mut w = Writer::new();
        encode_entry_at(entry, 0, &mut w);
        let mut bytes = w.into_vec();
        debug_assert_eq!(bytes[TS_OFFSET], 0);
        // Room for the longest timestamp, so numbering does not reallocate.
        bytes.reserve(8);
        Self { bytes }
    }

    /// Encodes a commit entry from borrowed parts, as timestamp 0: the
    /// same bytes as [`UnnumberedEntry::encode`] of the owned record, with
    /// no copy of the rows first and the buffer sized once.
    pub fn encode_commit<'m>(
        parts: &CommitParts<'_>,
        mutations: impl ExactSizeIterator<Item = MutationRef<'m>> + Clone,
    ) -> Self {
        // The byte strings and names, plus the heads and fixed fields
        // around them (generously), plus the timestamp's 8 bytes.
        let size = parts.module.len()
            + parts.reducer.len()
            + parts.args.len()
            + parts.schema_hash.len()
            + parts.outcome.bytes_len()
            + mutations
                .clone()
                .map(|m| m.op.bytes().len() + 16)
                .sum::<usize>()
            + parts
                .calls
                .iter()
                .map(|c| {
                    c.module.len()
                        + c.reducer.len()
                        + c.args.len()
                        + 24
                        + c.reply.as_ref().map_or(0, String::len)
                })
                .sum::<usize>()
            + 32 * parts.nondet.len()
            + 96;
        let mut w = Writer::from_vec(Vec::with_capacity(size));
        encode_commit_at(parts, mutations, 0, &mut w);
        let bytes = w.into_vec();
        debug_assert_eq!(bytes[TS_OFFSET], 0);
        Self { bytes }
    }

    /// The entry's canonical CBOR with timestamp `ts`.
    pub fn numbered(mut self, ts: u64) -> Vec<u8> {
        let mut head = [0u8; 9];
        let n = encode_head(0, ts, &mut head); // major type 0: unsigned
        self.bytes
            .splice(TS_OFFSET..TS_OFFSET + 1, head[..n].iter().copied());
        self.bytes
    }
}

fn encode_entry_at(entry: &LogEntry, ts: u64, w: &mut Writer) {
    match entry {
        LogEntry::Install(i) => {
            w.array(if i.engine.is_some() { 8 } else { 7 });
            w.u64(KIND_INSTALL);
            w.u64(ts);
            w.str(&i.name);
            w.str(&i.version);
            w.bytes(&i.schema);
            w.bytes(&i.schema_hash);
            w.bytes(&i.wasm_hash);
            if let Some(e) = &i.engine {
                encode_engine(e, w);
            }
        }
        LogEntry::Engine(e) => {
            w.array(3);
            w.u64(KIND_ENGINE);
            w.u64(ts);
            encode_engine(&e.engine, w);
        }
        LogEntry::Unload(u) => {
            w.array(4);
            w.u64(KIND_UNLOAD);
            w.u64(ts);
            w.str(&u.name);
            w.u64(u.tables.code());
        }
        LogEntry::Commit(c) => {
            encode_commit_at(&c.parts(), c.mutations.iter().map(Mutation::as_ref), ts, w)
        }
    }
}

/// A commit entry's fields, borrowed from wherever they live: what
/// [`UnnumberedEntry::encode_commit`] encodes without first building an
/// owned [`CommitRecord`] (whose rows and names it would copy). The
/// mutations are passed beside it, as an iterator.
#[derive(Debug, Clone, Copy)]
pub struct CommitParts<'a> {
    /// The module the reducer belongs to.
    pub module: &'a str,
    /// The module's schema hash at the time of the call.
    pub schema_hash: &'a Hash,
    /// Reducer name.
    pub reducer: &'a str,
    /// CBOR array of the arguments.
    pub args: &'a [u8],
    /// Why the reducer ran.
    pub cause: &'a Cause,
    /// Recorded non-deterministic inputs.
    pub nondet: &'a [Nondet],
    /// Result of the call.
    pub outcome: OutcomeRef<'a>,
    /// Write calls to deliver after this commit.
    pub calls: &'a [OutboundCall],
    /// When the transaction finished, microseconds since the Unix epoch.
    pub wall_micros: Option<u64>,
}

impl CommitRecord {
    /// The record's fields as [`CommitParts`] (all but the timestamp and
    /// the mutations).
    pub fn parts(&self) -> CommitParts<'_> {
        CommitParts {
            module: &self.module,
            schema_hash: &self.schema_hash,
            reducer: &self.reducer,
            args: &self.args,
            cause: &self.cause,
            nondet: &self.nondet,
            outcome: self.outcome.as_ref(),
            calls: &self.calls,
            wall_micros: self.wall_micros,
        }
    }
}

/// The one encoder of a commit entry (`docs/LOG_FORMAT.md` §5), for owned
/// records and borrowed parts alike.
fn encode_commit_at<'m>(
    c: &CommitParts<'_>,
    mutations: impl ExactSizeIterator<Item = MutationRef<'m>>,
    ts: u64,
    w: &mut Writer,
) {
    w.array(if c.wall_micros.is_some() { 12 } else { 11 });
    w.u64(KIND_COMMIT);
    w.u64(ts);
    w.str(c.module);
    w.bytes(c.schema_hash);
    w.str(c.reducer);
    w.bytes(c.args);
    encode_cause(c.cause, w);
    w.array(c.nondet.len());
    for n in c.nondet {
        encode_nondet(n, w);
    }
    encode_outcome(c.outcome, w);
    w.array(mutations.len());
    for m in mutations {
        encode_mutation(m, w);
    }
    w.array(c.calls.len());
    for call in c.calls {
        w.array(if call.reply.is_some() { 4 } else { 3 });
        w.str(&call.module);
        w.str(&call.reducer);
        w.bytes(&call.args);
        if let Some(reply) = &call.reply {
            w.str(reply);
        }
    }
    if let Some(wall) = c.wall_micros {
        w.u64(wall);
    }
}

pub(crate) fn encode_cause(cause: &Cause, w: &mut Writer) {
    match cause {
        Cause::External => {
            w.array(1);
            w.u64(0);
        }
        Cause::Init => {
            w.array(1);
            w.u64(1);
        }
        Cause::Call {
            module,
            ts,
            index,
            reply,
        } => {
            w.array(if reply.is_some() { 5 } else { 4 });
            w.u64(2);
            w.str(module);
            w.u64(*ts);
            w.u64(u64::from(*index));
            if let Some(reply) = reply {
                w.str(reply);
            }
        }
        Cause::Trigger { module, ts, index } | Cause::Reply { module, ts, index } => {
            w.array(4);
            w.u64(if matches!(cause, Cause::Trigger { .. }) {
                3
            } else {
                5
            });
            w.str(module);
            w.u64(*ts);
            w.u64(u64::from(*index));
        }
        Cause::Migration {
            table,
            from_version,
            to_version,
        } => {
            w.array(4);
            w.u64(4);
            w.str(table);
            w.u64(u64::from(*from_version));
            w.u64(u64::from(*to_version));
        }
    }
}

fn encode_nondet(n: &Nondet, w: &mut Writer) {
    match n {
        Nondet::Now(t) => {
            w.array(2);
            w.u64(0);
            w.i64(*t);
        }
        Nondet::RngSeed(seed) => {
            w.array(2);
            w.u64(1);
            w.bytes(seed);
        }
        Nondet::ReadCall {
            module,
            reducer,
            args,
            result,
            fuel,
        } => {
            w.array(if fuel.is_some() { 6 } else { 5 });
            w.u64(if fuel.is_some() { 4 } else { 2 });
            w.str(module);
            w.str(reducer);
            w.bytes(args);
            w.bytes(result);
            if let Some(fuel) = fuel {
                w.u64(*fuel);
            }
        }
        Nondet::Timestamp(ts) => {
            w.array(2);
            w.u64(3);
            w.u64(*ts);
        }
    }
}

fn encode_outcome(o: OutcomeRef<'_>, w: &mut Writer) {
    match o {
        OutcomeRef::Ok(value) => {
            w.array(2);
            w.u64(0);
            w.bytes(value);
        }
        OutcomeRef::Err {
            kind,
            message,
            value,
        } => {
            w.array(if value.is_some() { 4 } else { 3 });
            w.u64(1);
            w.u64(u64::from(kind.code()));
            w.str(message);
            if let Some(value) = value {
                w.bytes(value);
            }
        }
    }
}

fn encode_mutation(m: MutationRef<'_>, w: &mut Writer) {
    let (tag, bytes) = match m.op {
        MutationOpRef::Insert(b) => (0, b),
        MutationOpRef::Update(b) => (1, b),
        MutationOpRef::Delete(b) => (2, b),
    };
    w.array(3);
    w.u64(u64::from(m.table));
    w.u64(tag);
    w.bytes(bytes);
}

/// The canonical CBOR of one entry.
pub fn entry_to_vec(entry: &LogEntry) -> Vec<u8> {
    let mut w = Writer::new();
    encode_entry(entry, &mut w);
    w.into_vec()
}

/// A batch payload: the entries' encodings concatenated (not wrapped in an
/// array), as `LogWriter::append_batch` expects.
pub fn encode_batch_payload(entries: &[LogEntry]) -> Vec<u8> {
    let mut w = Writer::new();
    for e in entries {
        encode_entry(e, &mut w);
    }
    w.into_vec()
}

// ---------------------------------------------------------------- decoding

/// `[runtime: text, wasmtime: text, target: text, fuel_schedule: u32,
/// max_wasm_stack: uint, code: bytes32]`.
pub fn encode_engine(e: &EngineInfo, w: &mut Writer) {
    w.array(6);
    w.str(&e.runtime);
    w.str(&e.wasmtime);
    w.str(&e.target);
    w.u64(u64::from(e.fuel_schedule));
    w.u64(e.max_wasm_stack);
    w.bytes(&e.code);
}

/// Decodes what [`encode_engine`] writes.
pub fn decode_engine(r: &mut Reader<'_>) -> Result<EngineInfo> {
    let (len, at) = array_head(r)?;
    if len != 6 {
        return Err(bad(
            at,
            format!("an engine must be an array of 6 items, found {len}"),
        ));
    }
    Ok(EngineInfo {
        runtime: string(r)?,
        wasmtime: string(r)?,
        target: string(r)?,
        fuel_schedule: u32_field(r, "fuel schedule")?,
        max_wasm_stack: r.u64()?,
        code: hash(r)?,
    })
}

pub(crate) fn bad(offset: usize, reason: impl Into<String>) -> PersistError {
    PersistError::Decode {
        offset: offset as u64,
        reason: reason.into(),
    }
}

/// Reads an array head and returns its length and start offset.
pub(crate) fn array_head(r: &mut Reader<'_>) -> Result<(usize, usize)> {
    let start = r.position();
    Ok((r.array()?, start))
}

pub(crate) fn expect_len(what: &str, tag: u64, len: usize, want: usize, at: usize) -> Result<()> {
    if len == want {
        Ok(())
    } else {
        Err(bad(
            at,
            format!("{what} with tag {tag} must be an array of {want} items, found {len}"),
        ))
    }
}

pub(crate) fn u32_field(r: &mut Reader<'_>, what: &str) -> Result<u32> {
    let at = r.position();
    let v = r.u64()?;
    u32::try_from(v).map_err(|_| bad(at, format!("{what} {v} does not fit in 32 bits")))
}

pub(crate) fn string(r: &mut Reader<'_>) -> Result<String> {
    Ok(r.str()?.to_owned())
}

pub(crate) fn byte_vec(r: &mut Reader<'_>) -> Result<Vec<u8>> {
    Ok(r.bytes()?.to_vec())
}

pub(crate) fn hash(r: &mut Reader<'_>) -> Result<Hash> {
    Ok(r.byte_array::<32>()?)
}

/// Upper bound on capacity reserved up front for a decoded list, so a hostile
/// length cannot force a large allocation before the items are read.
pub(crate) const PREALLOC_LIMIT: usize = 64;

pub(crate) fn list<'a, T>(
    r: &mut Reader<'a>,
    item: impl Fn(&mut Reader<'a>) -> Result<T>,
) -> Result<Vec<T>> {
    let n = r.array()?;
    let mut out = Vec::with_capacity(n.min(PREALLOC_LIMIT));
    for _ in 0..n {
        out.push(item(r)?);
    }
    Ok(out)
}

/// Decodes one entry from `r`, leaving `r` just after it.
///
/// The owned form of [`decode_entry_ref`]: it accepts and rejects exactly
/// the same bytes, with the same errors, since it is that decoder plus
/// [`LogEntryRef::into_owned`].
pub fn decode_entry(r: &mut Reader<'_>) -> Result<LogEntry> {
    Ok(decode_entry_ref(r)?.into_owned())
}

/// Reads the `[tag, …]` head of an enum; returns (tag, item count, start offset).
pub(crate) fn enum_head(r: &mut Reader<'_>, what: &str) -> Result<(u64, usize, usize)> {
    let (len, at) = array_head(r)?;
    if len == 0 {
        return Err(bad(at, format!("{what} cannot be an empty array")));
    }
    Ok((r.u64()?, len, at))
}

pub(crate) fn decode_cause(r: &mut Reader<'_>) -> Result<Cause> {
    let (tag, len, at) = enum_head(r, "cause")?;
    match tag {
        0 => {
            expect_len("cause", tag, len, 1, at)?;
            Ok(Cause::External)
        }
        1 => {
            expect_len("cause", tag, len, 1, at)?;
            Ok(Cause::Init)
        }
        2 => {
            // 5 items for a call made with a reply.
            if len != 4 && len != 5 {
                return Err(bad(
                    at,
                    format!("cause with tag 2 must be an array of 4 or 5 items, found {len}"),
                ));
            }
            let module = string(r)?;
            let ts = r.u64()?;
            let index = u32_field(r, "cause index")?;
            let reply = if len == 5 { Some(string(r)?) } else { None };
            Ok(Cause::Call {
                module,
                ts,
                index,
                reply,
            })
        }
        3 | 5 => {
            expect_len("cause", tag, len, 4, at)?;
            let module = string(r)?;
            let ts = r.u64()?;
            let index = u32_field(r, "cause index")?;
            Ok(if tag == 3 {
                Cause::Trigger { module, ts, index }
            } else {
                Cause::Reply { module, ts, index }
            })
        }
        4 => {
            expect_len("cause", tag, len, 4, at)?;
            let table = string(r)?;
            let from_version = u32_field(r, "migration from_version")?;
            let to_version = u32_field(r, "migration to_version")?;
            Ok(Cause::Migration {
                table,
                from_version,
                to_version,
            })
        }
        other => Err(bad(at, format!("unknown cause tag {other}"))),
    }
}

pub(crate) fn decode_nondet(r: &mut Reader<'_>) -> Result<Nondet> {
    let (tag, len, at) = enum_head(r, "non-deterministic input")?;
    match tag {
        0 => {
            expect_len("non-deterministic input", tag, len, 2, at)?;
            Ok(Nondet::Now(r.i64()?))
        }
        1 => {
            expect_len("non-deterministic input", tag, len, 2, at)?;
            Ok(Nondet::RngSeed(hash(r)?))
        }
        2 | 4 => {
            expect_len(
                "non-deterministic input",
                tag,
                len,
                if tag == 2 { 5 } else { 6 },
                at,
            )?;
            Ok(Nondet::ReadCall {
                module: string(r)?,
                reducer: string(r)?,
                args: byte_vec(r)?,
                result: byte_vec(r)?,
                fuel: if tag == 4 { Some(r.u64()?) } else { None },
            })
        }
        3 => {
            expect_len("non-deterministic input", tag, len, 2, at)?;
            Ok(Nondet::Timestamp(r.u64()?))
        }
        other => Err(bad(
            at,
            format!("unknown non-deterministic input tag {other}"),
        )),
    }
}

pub(crate) fn decode_call(r: &mut Reader<'_>) -> Result<OutboundCall> {
    let (len, at) = array_head(r)?;
    // 4 items for a call made with a reply.
    if len != 3 && len != 4 {
        return Err(bad(
            at,
            format!("an outbound call must be an array of 3 or 4 items, found {len}"),
        ));
    }
    Ok(OutboundCall {
        module: string(r)?,
        reducer: string(r)?,
        args: byte_vec(r)?,
        reply: if len == 4 { Some(string(r)?) } else { None },
    })
}

/// Decodes exactly one entry occupying all of `bytes`.
pub fn entry_from_slice(bytes: &[u8]) -> Result<LogEntry> {
    let mut r = Reader::new(bytes);
    let e = decode_entry(&mut r)?;
    r.finish()?;
    Ok(e)
}
