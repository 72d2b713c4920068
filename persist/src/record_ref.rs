//! Borrowed views of log entries, decoded without copying: names are
//! `&str` and byte strings (arguments, rows, return values) are `&[u8]`
//! into the batch payload. Replay applies most commits straight from these
//! views; [`LogEntryRef::into_owned`] gives the [`LogEntry`] for everything
//! else.
//!
//! This is the only entry decoder: [`crate::decode_entry`] is
//! [`decode_entry_ref`] plus `into_owned`, so the two accept and reject
//! exactly the same bytes with the same errors. Rarely used or rarely
//! non-empty parts (installs, causes, non-deterministic inputs, outbound
//! calls) are decoded owned here too.

use interstice_abi::cbor::Reader;

use crate::error::Result;
use crate::record::{
    array_head, bad, byte_vec, decode_call, decode_cause, decode_engine, decode_nondet, enum_head,
    expect_len, hash, list, string, u32_field, Cause, CommitRecord, EngineRecord, ErrorKind, Hash,
    LogEntry, ModuleInstall, Mutation, MutationOp, Nondet, OutboundCall, Outcome, UnloadRecord,
    UnloadTables, KIND_COMMIT, KIND_ENGINE, KIND_INSTALL, KIND_UNLOAD,
};

/// A log entry borrowing from the bytes it was decoded from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogEntryRef<'a> {
    /// A module was installed (or upgraded); rare, so owned.
    Install(ModuleInstall),
    /// A reducer call committed or failed.
    Commit(CommitRef<'a>),
    /// Another build executes reducers from here on; rare, so owned.
    Engine(EngineRecord),
    /// A module was unloaded; rare, so owned.
    Unload(UnloadRecord),
}

impl LogEntryRef<'_> {
    /// The entry's timestamp.
    pub fn ts(&self) -> u64 {
        match self {
            LogEntryRef::Install(i) => i.ts,
            LogEntryRef::Commit(c) => c.ts,
            LogEntryRef::Engine(e) => e.ts,
            LogEntryRef::Unload(u) => u.ts,
        }
    }

    /// The owned entry.
    pub fn into_owned(self) -> LogEntry {
        match self {
            LogEntryRef::Install(i) => LogEntry::Install(i),
            LogEntryRef::Commit(c) => LogEntry::Commit(c.into_owned()),
            LogEntryRef::Engine(e) => LogEntry::Engine(e),
            LogEntryRef::Unload(u) => LogEntry::Unload(u),
        }
    }
}

/// A [`CommitRecord`] borrowing its names and byte strings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitRef<'a> {
    /// Timestamp.
    pub ts: u64,
    /// The module the reducer belongs to.
    pub module: &'a str,
    /// The module's schema hash at the time of the call.
    pub schema_hash: Hash,
    /// Reducer name.
    pub reducer: &'a str,
    /// CBOR array of the arguments.
    pub args: &'a [u8],
    /// Why the reducer ran.
    pub cause: Cause,
    /// Recorded non-deterministic inputs.
    pub nondet: Vec<Nondet>,
    /// Result of the call.
    pub outcome: OutcomeRef<'a>,
    /// Table mutations (empty unless the outcome is `Ok`).
    pub mutations: Vec<MutationRef<'a>>,
    /// Write calls to deliver after this commit.
    pub calls: Vec<OutboundCall>,
    /// When the transaction finished, microseconds since the Unix epoch
    /// (`None` in logs written before wall-clock times were recorded).
    pub wall_micros: Option<u64>,
}

impl CommitRef<'_> {
    /// The owned record.
    pub fn into_owned(self) -> CommitRecord {
        CommitRecord {
            ts: self.ts,
            module: self.module.to_owned(),
            schema_hash: self.schema_hash,
            reducer: self.reducer.to_owned(),
            args: self.args.to_vec(),
            cause: self.cause,
            nondet: self.nondet,
            outcome: match self.outcome {
                OutcomeRef::Ok(v) => Outcome::Ok(v.to_vec()),
                OutcomeRef::Err {
                    kind,
                    message,
                    value,
                } => Outcome::Err {
                    kind,
                    message: message.to_owned(),
                    value: value.map(<[u8]>::to_vec),
                },
            },
            mutations: self
                .mutations
                .into_iter()
                .map(|m| Mutation {
                    table: m.table,
                    op: m.op.to_owned(),
                })
                .collect(),
            calls: self.calls,
            wall_micros: self.wall_micros,
        }
    }
}

/// An [`Outcome`] borrowing its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutcomeRef<'a> {
    /// Committed; the encoded return value.
    Ok(&'a [u8]),
    /// Rolled back.
    Err {
        /// Which kind of failure.
        kind: ErrorKind,
        /// Human-readable message.
        message: &'a str,
        /// The recorded `Err` value ([`Outcome::Err`]'s `value`).
        value: Option<&'a [u8]>,
    },
}

/// A [`Mutation`] borrowing its row or key bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MutationRef<'a> {
    /// Table index in the module's schema.
    pub table: u32,
    /// The change.
    pub op: MutationOpRef<'a>,
}

/// A [`MutationOp`] borrowing its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MutationOpRef<'a> {
    /// Inserted row CBOR.
    Insert(&'a [u8]),
    /// New row CBOR.
    Update(&'a [u8]),
    /// Encoded key value CBOR of the deleted row.
    Delete(&'a [u8]),
}

impl MutationOpRef<'_> {
    /// The owned op.
    pub fn to_owned(self) -> MutationOp {
        match self {
            MutationOpRef::Insert(b) => MutationOp::Insert(b.to_vec()),
            MutationOpRef::Update(b) => MutationOp::Update(b.to_vec()),
            MutationOpRef::Delete(b) => MutationOp::Delete(b.to_vec()),
        }
    }
}

impl MutationOpRef<'_> {
    /// The row (insert, update) or key value (delete) bytes.
    pub fn bytes(&self) -> &[u8] {
        match self {
            MutationOpRef::Insert(b) | MutationOpRef::Update(b) | MutationOpRef::Delete(b) => b,
        }
    }
}

impl Mutation {
    /// A borrowed view of the mutation.
    pub fn as_ref(&self) -> MutationRef<'_> {
        MutationRef {
            table: self.table,
            op: self.op.as_ref(),
        }
    }
}

impl Outcome {
    /// A borrowed view of the outcome.
    pub fn as_ref(&self) -> OutcomeRef<'_> {
        match self {
            Outcome::Ok(v) => OutcomeRef::Ok(v),
            Outcome::Err {
                kind,
                message,
                value,
            } => OutcomeRef::Err {
                kind: *kind,
                message,
                value: value.as_deref(),
            },
        }
    }
}

impl OutcomeRef<'_> {
    /// How many bytes its value and message hold.
    pub fn bytes_len(&self) -> usize {
        match self {
            OutcomeRef::Ok(v) => v.len(),
            OutcomeRef::Err { message, value, .. } => message.len() + value.map_or(0, <[u8]>::len),
        }
    }
}

impl MutationOp {
    /// A borrowed view of the op.
    pub fn as_ref(&self) -> MutationOpRef<'_> {
        match self {
            MutationOp::Insert(b) => MutationOpRef::Insert(b),
            MutationOp::Update(b) => MutationOpRef::Update(b),
            MutationOp::Delete(b) => MutationOpRef::Delete(b),
        }
    }
}

/// Decodes one entry from `r` without copying its byte strings, leaving `r`
/// just after it.
pub fn decode_entry_ref<'a>(r: &mut Reader<'a>) -> Result<LogEntryRef<'a>> {
    let (len, at) = array_head(r)?;
    if len == 0 {
        return Err(bad(at, "a log entry cannot be an empty array"));
    }
    let kind_at = r.position();
    let kind = r.u64()?;
    match kind {
        KIND_INSTALL => {
            // 7 items in logs written before engines were recorded.
            if len != 7 && len != 8 {
                let reason = format!(
                    "log entry with tag {kind} must be an array of 7 or 8 items, found {len}"
                );
                return Err(bad(at, reason));
            }
            Ok(LogEntryRef::Install(ModuleInstall {
                ts: r.u64()?,
                name: string(r)?,
                version: string(r)?,
                schema: byte_vec(r)?,
                schema_hash: hash(r)?,
                wasm_hash: hash(r)?,
                engine: if len == 8 {
                    Some(decode_engine(r)?)
                } else {
                    None
                },
            }))
        }
        KIND_ENGINE => {
            expect_len("log entry", kind, len, 3, at)?;
            Ok(LogEntryRef::Engine(EngineRecord {
                ts: r.u64()?,
                engine: decode_engine(r)?,
            }))
        }
        KIND_UNLOAD => {
            expect_len("log entry", kind, len, 4, at)?;
            let ts = r.u64()?;
            let name = string(r)?;
            let code_at = r.position();
            let code = r.u64()?;
            let tables = UnloadTables::from_code(code).ok_or_else(|| {
                bad(
                    code_at,
                    format!("unknown unload tables mode {code} (0 keep, 1 drop)"),
                )
            })?;
            Ok(LogEntryRef::Unload(UnloadRecord { ts, name, tables }))
        }
        KIND_COMMIT => {
            // 11 items in logs written before wall-clock times were recorded.
            if len != 11 && len != 12 {
                let reason = format!(
                    "log entry with tag {kind} must be an array of 11 or 12 items, found {len}"
                );
                return Err(bad(at, reason));
            }
            Ok(LogEntryRef::Commit(CommitRef {
                ts: r.u64()?,
                module: r.str()?,
                schema_hash: hash(r)?,
                reducer: r.str()?,
                args: r.bytes()?,
                cause: decode_cause(r)?,
                nondet: list(r, decode_nondet)?,
                outcome: decode_outcome(r)?,
                mutations: list(r, decode_mutation)?,
                calls: list(r, decode_call)?,
                wall_micros: if len == 12 { Some(r.u64()?) } else { None },
            }))
        }
        other => Err(bad(kind_at, format!("unknown log entry kind {other}"))),
    }
}

fn decode_outcome<'a>(r: &mut Reader<'a>) -> Result<OutcomeRef<'a>> {
    let (tag, len, at) = enum_head(r, "outcome")?;
    match tag {
        0 => {
            expect_len("outcome", tag, len, 2, at)?;
            Ok(OutcomeRef::Ok(r.bytes()?))
        }
        1 => {
            // 4 items when the `Err` value is recorded (a replied commit).
            if len != 3 && len != 4 {
                return Err(bad(
                    at,
                    format!("outcome with tag 1 must be an array of 3 or 4 items, found {len}"),
                ));
            }
            let code_at = r.position();
            let code = r.u64()?;
            let kind = ErrorKind::from_code(code)
                .ok_or_else(|| bad(code_at, format!("unknown error kind code {code}")))?;
            Ok(OutcomeRef::Err {
                kind,
                message: r.str()?,
                value: if len == 4 { Some(r.bytes()?) } else { None },
            })
        }
        other => Err(bad(at, format!("unknown outcome tag {other}"))),
    }
}

fn decode_mutation<'a>(r: &mut Reader<'a>) -> Result<MutationRef<'a>> {
    let (len, at) = array_head(r)?;
    if len != 3 {
        return Err(bad(
            at,
            format!("a mutation must be an array of 3 items, found {len}"),
        ));
    }
    let table = u32_field(r, "table index")?;
    let tag_at = r.position();
    let tag = r.u64()?;
    let bytes = r.bytes()?;
    let op = match tag {
        0 => MutationOpRef::Insert(bytes),
        1 => MutationOpRef::Update(bytes),
        2 => MutationOpRef::Delete(bytes),
        other => return Err(bad(tag_at, format!("unknown mutation op tag {other}"))),
    };
    Ok(MutationRef { table, op })
}
