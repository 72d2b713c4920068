//! The module actor: one per loaded module, on its own arbiter (thread).
//!
//! - **Owns** the module's tables and its wasmtime store (through its
//!   [`GuestSlot`]), and its outbox of finished, unnumbered entries
//!   (`outbox.rs`, shared with the store).
//! - **Receives** [`Execute`] (write calls, async calls, triggers, init),
//!   [`Query`] (reads, and read calls of other modules), [`Unpin`],
//!   [`Upgrade`], [`Unload`], [`TableRows`], [`ScanRows`], [`HashState`],
//!   [`StopModule`].
//! - **Sends** [`crate::actors::messages::Numbered`] to the sequencer (from the
//!   outbox), [`Unpin`] to modules it read, and answers its callers
//!   (failures at once; commits through the durability watermark).
//!
//! It runs its reducers one at a time. A write transaction runs without a
//! timestamp and takes one when it has finished (`interstice_sync::
//! CommitOrder` has the protocol): a transaction that read no other module
//! goes to the outbox and is numbered with the others; one that read other
//! modules is numbered at once, validated against what it read, and runs
//! again if one of them has committed since ([`ATTEMPTS`]; the last attempt
//! pins the modules it reads, which then hold back their own writes until
//! it has its timestamp). While pinned, this actor defers its own
//! [`Execute`] and [`Upgrade`] messages, in order, and keeps answering
//! reads.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use actix::{Actor, ActorContext, AsyncContext, Context, Handler, Message};
use interstice_abi::cbor::Writer;
use interstice_abi::host as abi;
use interstice_abi::schema_diff::{SchemaDiff, TableChange};
use interstice_persist::{
    wall_clock_micros, Cause, CommitParts, CommitRecord, ErrorKind, LogEntry, Nondet,
    UnnumberedEntry,
};

use crate::actors::messages::{
    CommitInfo, EntryInfo, ExecError, Execute, HashState, Query, ReturnTables, ScanRows,
    ScannedPages, StopModule, TableRows, Target, Unload, Unpin, Upgrade, UpgradeRefused,
};
use crate::actors::module_log::ModuleLogRecord;
use crate::actors::outbox::Outbox;
use crate::actors::outbox::{send_numbered, Finished, OUTBOX_MAX};
use crate::actors::peers::{LivePeers, TracedReads};
use crate::actors::shared::Shared;
use crate::actors::trace::{ExecSpan, ReadSpan, SpanOutcome};
use crate::recovery::deliveries::{reply_of, reply_outcome_owned};
use crate::wasm::engine::{CompiledModule, WasmHost};
use crate::wasm::env::{ModuleEnv, ReadAnswer};
use crate::wasm::host_state::{Observation, Observer, Pin, TxMode};
use crate::wasm::hostcalls::observations;
use crate::wasm::transaction::Failure;
use crate::wasm::transaction::{
    finish, logged_mutation_refs, logged_mutations, resolve_delivery, run_migration, run_open,
    GuestSlot, TxOutput,
};
use interstice_tables::Tables;

/// Runs of a write transaction that reads other modules, before it gives
/// up: all but the last optimistic, the last with the modules it reads
/// pinned (so it cannot be refused again unless it outlives its wall-clock
/// limit).
pub(crate) const ATTEMPTS: u32 = 4;

/// Numbers the outbox (actix runs `notify`-ed messages after the mailbox,
/// so this batches everything a mailbox drain finished).
#[derive(Message)]
#[rtype(result = "()")]
struct FlushOutbox;

/// Checks for expired pins.
#[derive(Message)]
#[rtype(result = "()")]
struct PinExpired;

/// A message held back while the module is pinned.
enum Deferred {
    Execute(Execute),
    Upgrade(Box<Upgrade>),
    Unload(Unload),
}

/// The actor that owns one module.
pub(crate) struct ModuleActor {
    env: Arc<ModuleEnv>,
    shared: Arc<Shared>,
    /// Finished, unnumbered transactions and the module's clock (the same
    /// outbox the module's [`LivePeers`] numbers from its host calls).
    outbox: Arc<Outbox>,
    /// The module's instance: created by its first call (replay never
    /// instantiates, so a replayed runtime has none until then).
    slot: GuestSlot,
    tables: Tables,
    flush_scheduled: bool,
    /// Holds on this module's writes (`host_state::Pin`): id → expiry.
    pins: HashMap<u64, Instant>,
    /// Writes that arrived while pinned, in arrival order.
    deferred: VecDeque<Deferred>,
    /// While tracing: the read calls the current reducer made (measured by
    /// the module's `LivePeers`).
    trace_reads: Option<TracedReads>,
    /// The timestamp of this module's unload, once it has unloaded: it runs
    /// nothing more (its actor is stopping).
    unloaded: Option<u64>,
}

/// A traced execution so far (`actors/trace.rs`).
struct TraceRun {
    start: Instant,
    /// Fuel over every attempt.
    fuel: u64,
    attempts: u32,
    /// The delivery's flow id.
    flow: Option<u64>,
}

/// What an [`Execute`] brings to its log record, besides the outcome.
struct CallInfo {
    reducer: String,
    args: Vec<u8>,
    cause: interstice_persist::Cause,
    depth: u32,
    root: Option<u64>,
    reply: Option<crate::actors::messages::Responder<crate::actors::messages::ExecReply>>,
    /// `Some` while tracing.
    trace: Option<TraceRun>,
}

impl ModuleActor {
    pub(crate) fn new(
        env: Arc<ModuleEnv>,
        peers: &LivePeers,
        host: Arc<WasmHost>,
        compiled: CompiledModule,
        tables: Tables,
    ) -> Self {
        Self {
            slot: GuestSlot::new(env.clone(), host, compiled),
            env,
            shared: peers.shared.clone(),
            outbox: peers.outbox.clone(),
            tables,
            flush_scheduled: false,
            pins: HashMap::new(),
            deferred: VecDeque::new(),
            trace_reads: peers.reads.as_ref().map(|(_, r)| r.clone()),
            unloaded: None,
        }
    }

    /// The read calls traced since the last call (none when not tracing).
    fn take_reads(&self) -> Vec<ReadSpan> {
        match &self.trace_reads {
            Some(r) => std::mem::take(&mut *r.lock().expect("trace reads lock")),
            None => Vec::new(),
        }
    }

    /// Queues a finished entry in the outbox (see `outbox.rs`).
    fn hand_over(&mut self, f: Finished, ctx: &mut Context<Self>) {
        if self.outbox.push(f) >= OUTBOX_MAX {
            self.outbox.flush(&self.shared);
        } else if !self.flush_scheduled {
            self.flush_scheduled = true;
            ctx.notify(FlushOutbox);
        }
    }

    /// Whether a reader holds this module's writes (dropping expired holds).
    fn pinned(&mut self) -> bool {
        if !self.pins.is_empty() {
            let now = Instant::now();
            self.pins.retain(|_, until| *until > now);
        }
        !self.pins.is_empty()
    }

    fn pin(&mut self, pin: Pin, ctx: &mut Context<Self>) {
        if self.pins.insert(pin.id, pin.until).is_none() {
            let wait = pin.until.saturating_duration_since(Instant::now());
            ctx.notify_later(PinExpired, wait);
        }
    }

    /// Runs the deferred writes once no reader holds the module.
    fn release(&mut self, ctx: &mut Context<Self>) {
        // Reads are not handled while this runs, so nothing pins meanwhile.
        while !self.pinned() {
            match self.deferred.pop_front() {
                Some(Deferred::Execute(m)) => self.execute(m, ctx),
                Some(Deferred::Upgrade(u)) => self.upgrade(*u, ctx),
                Some(Deferred::Unload(u)) => self.unload(u, ctx),
                None => break,
            }
        }
    }

    fn execute(&mut self, msg: Execute, ctx: &mut Context<Self>) {
        let started = self.shared.tracer.as_ref().map(|_| Instant::now());
        let shared = self.shared.clone();
        if let Some(ts) = self.unloaded {
            // Dropped, as the unload's entry says (`docs/LOG_FORMAT.md` §5,
            // `Unload`): a delivery is not consumed, a caller is told.
            match msg.reply {
                Some(reply) => reply.send(Err(ExecError::Unloaded(ts))),
                None => crate::event_in!(DEBUG, Some(&self.env.name), None, None;
                    cause = ?msg.cause, "delivery dropped: the module was unloaded at ts {ts}"),
            }
            return;
        }
        if let Some(refusal) = shared.refusal() {
            if let Some(reply) = msg.reply {
                reply.send(Err(ExecError::Refused(refusal)));
            }
            return;
        }
        let current = self.slot.compiled.schema_hash;
        let resolved = match &msg.target {
            Target::Index {
                reducer,
                schema_hash,
            } => {
                if *schema_hash != current {
                    match msg.reply {
                        Some(reply) => reply.send(Err(ExecError::Stale)),
                        None => crate::event_in!(ERROR, Some(&self.env.name), None, None;
                            index = reducer,
                            "execute against a stale schema without a reply channel: dropped"
                        ),
                    }
                    return;
                }
                match self.env.schema.reducers.get(*reducer as usize) {
                    Some(rs) => Ok((*reducer, rs.name.clone())),
                    None => {
                        crate::event_in!(ERROR, Some(&self.env.name), None, None;
                            index = reducer, "execute: no such reducer");
                        return;
                    }
                }
            }
            Target::Name(name) => resolve_delivery(&self.env.schema, name, &msg.args),
        };
        let Execute {
            args,
            cause,
            depth,
            root,
            cut,
            flow,
            reply,
            ..
        } = msg;
        let refused = |reducer: String, kind, message: String| {
            let out = TxOutput {
                result: Err(Failure::new(kind, message)),
                changes: Vec::new(),
                calls: Vec::new(),
                nondet: Vec::new(),
                lines: Vec::new(),
            };
            (out, reducer)
        };
        let mut info = CallInfo {
            reducer: String::new(),
            args,
            cause,
            depth,
            root,
            reply,
            trace: started.map(|start| TraceRun {
                start,
                fuel: 0,
                attempts: 0,
                flow,
            }),
        };
        let (idx, name) = match resolved {
            Ok(r) => r,
            Err((name, message)) => {
                let (out, reducer) = refused(name, ErrorKind::Host, message);
                info.reducer = reducer;
                return self.conclude(None, out, info, ctx);
            }
        };
        info.reducer = name;
        if cut {
            let message = format!(
                "not run: the fan-out budget of the external call at ts {} is used up \
                 (Limits::fanout = {} deliveries)",
                root.unwrap_or(0),
                shared.limits.fanout
            );
            shared.metrics.fanout_cuts.fetch_add(1, Ordering::Relaxed);
            let (out, _) = refused(String::new(), ErrorKind::FanOut, message);
            return self.conclude(None, out, info, ctx);
        }
        for attempt in 1..=ATTEMPTS {
            let mut start = self.slot.start(TxMode::Write { logged_ts: None }, None);
            let pin = (attempt == ATTEMPTS).then(|| Pin {
                id: shared.pins.fetch_add(1, Ordering::Relaxed),
                until: start.deadline,
            });
            start.observer = Some(Observer { pin });
            let (result, mut tx, fuel) =
                run_open(&mut self.slot, &mut self.tables, idx, &info.args, start);
            if let Some(t) = &mut info.trace {
                t.fuel += fuel;
                t.attempts = attempt;
            }
            if tx.observed.is_empty() {
                let out = finish(&mut self.tables, result, tx);
                return self.conclude(None, out, info, ctx);
            }
            // It read other modules: numbered now, after everything this
            // module finished before it, and only if none of them has
            // committed since it read them.
            let observed = std::mem::take(&mut tx.observed);
            self.outbox.flush(&shared);
            let clock = self.outbox.clock().clone();
            let timed_out = matches!(&result, Err(f) if f.kind == ErrorKind::Timeout);
            let numbered = if timed_out {
                // A timeout is not re-executed by `replay-check`, and what
                // it read is not kept (below): nothing to validate.
                Ok(shared.order.allocate(&clock, 1))
            } else {
                shared.order.allocate_validated(
                    &clock,
                    1,
                    observed.iter().map(|o| (&*o.clock, o.last)),
                )
            };
            match numbered {
                Ok(ts) => {
                    if timed_out {
                        tx.nondet.retain(|n| !matches!(n, Nondet::ReadCall { .. }));
                    }
                    let out = finish(&mut self.tables, result, tx);
                    self.conclude(Some(ts), out, info, ctx);
                    return unpin(&self.shared, pin, &observed);
                }
                Err(stale) => {
                    self.tables.rollback();
                    unpin(&self.shared, pin, &observed);
                    shared.metrics.reruns.fetch_add(1, Ordering::Relaxed);
                    crate::event_in!(DEBUG, Some(&self.env.name), Some(&info.reducer), None;
                        attempt,
                        moved = %observed[stale.0].module,
                        "ran again: a module it read committed before it was numbered"
                    );
                    if attempt == ATTEMPTS {
                        let first = tx.nondet.iter().find_map(|n| match n {
                            Nondet::ReadCall {
                                module, reducer, ..
                            } => Some(format!("{module}.{reducer}")),
                            _ => None,
                        });
                        let message = format!(
                            "read call to {} failed: module `{}` kept committing while this \
                             transaction ran ({ATTEMPTS} attempts); call again",
                            first.unwrap_or_default(),
                            observed[stale.0].module
                        );
                        let reducer = info.reducer.clone();
                        let (out, _) = refused(reducer, ErrorKind::Host, message);
                        return self.conclude(None, out, info, ctx);
                    }
                }
            }
        }
    }

    /// Logs a finished transaction (numbered `ts`, or through the outbox)
    /// and answers its caller: a failure at once, a commit once durable.
    fn conclude(
        &mut self,
        ts: Option<u64>,
        out: TxOutput,
        info: CallInfo,
        ctx: &mut Context<Self>,
    ) {
        let shared = &self.shared;
        // A replied commit keeps its `Err` value, which the reply carries.
        let replied = info.cause.reply_to().is_some();
        let outcome = out.outcome(replied);
        let reply = reply_of(&info.cause, reply_outcome_owned(&outcome))
            .map(|r| Box::new((r.module.to_owned(), r.reducer.to_owned(), r.args)));
        let TxOutput {
            result,
            changes,
            calls,
            nondet,
            lines,
        } = out;
        let mut log_records: Vec<ModuleLogRecord> = lines
            .into_iter()
            .map(|l| ModuleLogRecord {
                ts: 0,
                module: self.env.name.clone(),
                reducer: info.reducer.clone(),
                level: l.level,
                kind: "log",
                text: l.text,
                extra: None,
            })
            .collect();
        match &result {
            Ok(_) => shared.metrics.commits.fetch_add(1, Ordering::Relaxed),
            Err(f) => {
                crate::event_in!(DEBUG, Some(&self.env.name), Some(&info.reducer), ts;
                    kind = ?f.kind, "rolled back: {}", f.message);
                if let Some(r) = failed_delivery_record(&self.env.name, &info, f) {
                    log_records.push(r);
                }
                shared.metrics.rollbacks.fetch_add(1, Ordering::Relaxed)
            }
        };
        let trace = info.trace.as_ref().map(|t| {
            Box::new(ExecSpan {
                start: t.start,
                dur: t.start.elapsed(),
                module: self.env.name.clone(),
                reducer: info.reducer.clone(),
                write: true,
                cause: Some(info.cause.clone()),
                outcome: SpanOutcome::of(&result),
                fuel: t.fuel,
                attempts: t.attempts.max(1),
                reads: self.take_reads(),
                flow_in: t.flow,
            })
        });
        // Encoded now, from the transaction's own changes and names (no
        // owned record first: its rows would be copies).
        let mutations = logged_mutation_refs(&self.tables, &changes);
        let entry = UnnumberedEntry::encode_commit(
            &CommitParts {
                module: &self.env.name,
                schema_hash: &self.slot.compiled.schema_hash,
                reducer: &info.reducer,
                args: &info.args,
                cause: &info.cause,
                nondet: &nondet,
                outcome: outcome.as_ref(),
                calls: &calls,
                wall_micros: Some(wall_clock_micros()),
            },
            mutations.iter().copied(),
        );
        drop(mutations);
        let reducer = info.reducer;
        let entry_info = EntryInfo::Commit(CommitInfo {
            module: self.env.name.clone(),
            schema: self.env.schema.clone(),
            ok: result.is_ok(),
            calls,
            changes,
            depth: info.depth,
            root: info.root,
            reducer,
            reply,
            log_records,
            trace,
        });
        let (later, now) = match (info.reply, result) {
            (Some(reply), Ok(v)) => (Some((reply, v)), None),
            (Some(reply), Err(f)) => (None, Some((reply, f))),
            (None, _) => (None, None),
        };
        let finished = Finished {
            entry,
            info: entry_info,
            reply: later,
        };
        match ts {
            Some(ts) => {
                send_numbered(shared, ts, vec![finished]);
            }
            None => self.hand_over(finished, ctx),
        }
        if let Some((reply, f)) = now {
            // Numbered before it is answered (a commit is answered even
            // later, once durable): a caller that saw this failure and then
            // calls any module gets a later timestamp.
            self.outbox.flush(&self.shared);
            reply.send(Err(ExecError::Failed(f)));
        }
    }

    /// Takes the unload's timestamp after everything this module finished,
    /// logs it, hands back the tables if they are kept, and stops: every
    /// commit of the module is before the unload, and nothing runs after
    /// it (see [`Unload`]).
    fn unload(&mut self, msg: Unload, ctx: &mut Context<Self>) {
        let shared = self.shared.clone();
        if let Some(ts) = self.unloaded {
            msg.reply.send(Ok((ts, None)));
            return;
        }
        if let Some(refusal) = shared.refusal() {
            msg.reply.send(Err(refusal));
            return;
        }
        self.outbox.flush(&shared);
        let ts = shared.order.allocate(self.outbox.clock(), 1);
        let name = self.env.name.to_string();
        let record = interstice_persist::UnloadRecord {
            ts: 0,
            name: name.clone(),
            tables: msg.tables,
        };
        let finished = vec![Finished {
            entry: UnnumberedEntry::encode(&LogEntry::Unload(record)),
            info: EntryInfo::Unload(name),
            reply: None,
        }];
        send_numbered(&shared, ts, finished);
        self.unloaded = Some(ts);
        let tables = match msg.tables {
            interstice_persist::UnloadTables::Keep => Some(std::mem::replace(
                &mut self.tables,
                Tables::new(&self.env.schema.tables),
            )),
            interstice_persist::UnloadTables::Drop => None,
        };
        msg.reply.send(Ok((ts, tables)));
        // Writes deferred behind the unload are answered as unloaded.
        for d in std::mem::take(&mut self.deferred) {
            match d {
                Deferred::Execute(m) => self.execute(m, ctx),
                Deferred::Upgrade(u) => u.reply.send(Err(UpgradeRefused::Incompatible {
                    table: String::new(),
                    change: format!("the module was unloaded at ts {ts}"),
                })),
                Deferred::Unload(u) => u.reply.send(Ok((ts, None))),
            }
        }
        ctx.stop();
    }

    fn upgrade(&mut self, msg: Upgrade, _ctx: &mut Context<Self>) {
        let shared = self.shared.clone();
        if let Some(refusal) = shared.refusal() {
            msg.reply.send(Err(UpgradeRefused::Refused(refusal)));
            return;
        }
        let schema = msg.compiled.schema.clone();
        // The loader checked with row counts it asked for earlier; rows may
        // have arrived since, so check again on the tables themselves. The
        // unique indexes of tables a migration rewrites are checked as the
        // migration writes them.
        let diff = SchemaDiff::between(&self.env.schema, &schema);
        let kept = tables_where(&schema, &diff, |c| {
            !matches!(
                c,
                Some(TableChange::Migrated { .. } | TableChange::Extended { .. })
            )
        });
        if let Some((table, change)) = diff
            .first_incompatibility(|t| self.tables.rows_of(t))
            .or_else(|| self.tables.unique_violation(&kept))
        {
            msg.reply
                .send(Err(UpgradeRefused::Incompatible { table, change }));
            return;
        }
        let migrations: Vec<(String, String)> = diff
            .migrations()
            .map(|(t, r)| (t.to_owned(), r.to_owned()))
            .collect();
        let extended = tables_where(&schema, &diff, |c| {
            matches!(c, Some(TableChange::Extended { .. }))
        });
        // A failed migration, or a unique index the defaults violate,
        // restores the tables as they were.
        let backup = (!migrations.is_empty() || !extended.is_empty()).then(|| self.tables.clone());
        let shadows = self.tables.upgrade(&schema.tables, &diff);
        if let Some((table, change)) = self.tables.unique_violation(&extended) {
            if let Some(b) = backup {
                self.tables = b;
            }
            msg.reply
                .send(Err(UpgradeRefused::Incompatible { table, change }));
            return;
        }
        let env = Arc::new(self.env.upgraded(schema.clone()));
        let mut slot = GuestSlot::new(env.clone(), self.slot.host.clone(), msg.compiled);
        let mut finished = vec![Finished {
            entry: UnnumberedEntry::encode(&LogEntry::Install(msg.install)),
            info: EntryInfo::Install(schema.clone()),
            reply: None,
        }];
        for ((table, old), (_, reducer)) in shadows.into_iter().zip(&migrations) {
            let Some((idx, rs)) = schema.reducer(reducer) else {
                unreachable!("the diff names a migration of the new schema")
            };
            let Some(interstice_abi::Trigger::Migration {
                from_version,
                to_version,
                ..
            }) = rs.trigger.clone()
            else {
                unreachable!("the diff names a migration")
            };
            let started = shared.tracer.as_ref().map(|_| Instant::now());
            let (out, args, fuel) =
                run_migration(&mut slot, &mut self.tables, idx, old, None, None);
            if let Err(f) = &out.result {
                if let Some(b) = backup {
                    self.tables = b;
                }
                let change = format!(
                    "migration `{reducer}` (version {from_version} to {to_version}) {}, so \
                     nothing was changed: {}",
                    f.kind.what_happened(),
                    f.message
                );
                msg.reply
                    .send(Err(UpgradeRefused::Incompatible { table, change }));
                return;
            }
            shared.metrics.commits.fetch_add(1, Ordering::Relaxed);
            let cause = Cause::Migration {
                table,
                from_version,
                to_version,
            };
            let trace = started.map(|start| {
                Box::new(ExecSpan {
                    start,
                    dur: start.elapsed(),
                    module: self.env.name.clone(),
                    reducer: reducer.clone(),
                    write: true,
                    cause: Some(cause.clone()),
                    outcome: SpanOutcome::Ok,
                    fuel,
                    attempts: 1,
                    reads: Vec::new(),
                    flow_in: None,
                })
            });
            let record = CommitRecord {
                ts: 0,
                module: self.env.name.to_string(),
                schema_hash: slot.compiled.schema_hash,
                reducer: reducer.clone(),
                args,
                cause,
                nondet: out.nondet.clone(),
                outcome: out.outcome(false),
                mutations: logged_mutations(&self.tables, &out.changes),
                calls: Vec::new(),
                wall_micros: Some(wall_clock_micros()),
            };
            // Migrations fire no triggers and reach no table subscriber:
            // their rows are not new, only rewritten.
            let info = EntryInfo::Commit(CommitInfo {
                module: self.env.name.clone(),
                schema: schema.clone(),
                ok: true,
                calls: Vec::new(),
                changes: Vec::new(),
                depth: 0,
                root: None,
                reducer: reducer.clone(),
                reply: None,
                log_records: out
                    .lines
                    .iter()
                    .map(|l| ModuleLogRecord {
                        ts: 0,
                        module: self.env.name.clone(),
                        reducer: reducer.clone(),
                        level: l.level,
                        kind: "log",
                        text: l.text.clone(),
                        extra: None,
                    })
                    .collect(),
                trace,
            });
            finished.push(Finished {
                entry: UnnumberedEntry::encode(&LogEntry::Commit(record)),
                info,
                reply: None,
            });
        }
        // Numbered here, between two transactions of this module and after
        // every commit of the old code: every commit of the new code comes
        // after it. The install and its migrations get consecutive
        // timestamps in one `Numbered`, so the sequencer releases them as
        // one batch: on disk they are all there or none is.
        self.outbox.flush(&shared);
        let ts = shared
            .order
            .allocate(self.outbox.clock(), finished.len() as u64);
        // Dropping the old slot drops the old instance; the next call
        // instantiates the new code. Init does not run again.
        self.slot = slot;
        self.env = env;
        let last = send_numbered(&shared, ts, finished);
        msg.reply.send(Ok(last));
    }
}

/// A delivery (an async call or a trigger) that failed has no caller to
/// answer: the module-log record returned here makes it visible. The
/// router, once the commit has its timestamp, writes it to the module
/// logs, emits a `warn` event for it (in a span with the module, reducer
/// and timestamp, naming the commit that caused it) and counts it in
/// `Metrics::failed_deliveries`. Its commit record (with the error) is
/// logged like any other, so the log tools show it too.
fn failed_delivery_record(
    module: &Arc<str>,
    info: &CallInfo,
    failure: &Failure,
) -> Option<ModuleLogRecord> {
    use interstice_persist::Cause;
    let (how, cause_module, cause_ts) = match &info.cause {
        Cause::Call { module, ts, .. } => ("async call", module, ts),
        Cause::Trigger { module, ts, .. } => ("trigger", module, ts),
        Cause::Reply { module, ts, .. } => ("reply", module, ts),
        Cause::External | Cause::Init | Cause::Migration { .. } => return None,
    };
    Some(ModuleLogRecord {
        ts: 0,
        module: module.clone(),
        reducer: info.reducer.clone(),
        level: "warn",
        kind: "failed_delivery",
        text: format!("delivery failed: {}", failure.message),
        extra: Some(serde_json::json!({
            "cause": how,
            "cause_module": cause_module,
            "cause_ts": cause_ts,
            "error_kind": failure.kind.name(),
        })),
    })
}

/// The tables of `schema` whose change in `diff` (`None` if it has none)
/// satisfies `pick`.
fn tables_where(
    schema: &interstice_abi::ModuleSchema,
    diff: &SchemaDiff,
    pick: impl Fn(Option<&TableChange>) -> bool,
) -> Vec<interstice_abi::TableSchema> {
    schema
        .tables
        .iter()
        .filter(|t| {
            pick(
                diff.tables
                    .iter()
                    .find(|(n, _)| n == &t.name)
                    .map(|(_, c)| c),
            )
        })
        .cloned()
        .collect()
}

/// Releases the holds a write transaction's last attempt put on the
/// modules it read.
fn unpin(shared: &Shared, pin: Option<Pin>, observed: &[Observation]) {
    let Some(pin) = pin else {
        return;
    };
    let mut done: Vec<&str> = Vec::new();
    for o in observed {
        if done.contains(&&*o.module) {
            continue;
        }
        done.push(&o.module);
        if let Some(entry) = shared.module(&o.module) {
            entry.addr.do_send(Unpin { id: pin.id });
        }
    }
}

impl Handler<FlushOutbox> for ModuleActor {
    type Result = ();

    fn handle(&mut self, _msg: FlushOutbox, _ctx: &mut Self::Context) {
        self.flush_scheduled = false;
        self.outbox.flush(&self.shared);
    }
}

impl Actor for ModuleActor {
    type Context = Context<Self>;

    fn stopped(&mut self, _ctx: &mut Self::Context) {
        // Everything finished gets its timestamp; deferred writes were never
        // run (their callers see the shutdown; deliveries resume at the
        // next open).
        self.outbox.flush(&self.shared);
        actix::Arbiter::current().stop();
    }
}

impl Handler<Execute> for ModuleActor {
    type Result = ();

    fn handle(&mut self, msg: Execute, ctx: &mut Self::Context) {
        if self.pinned() || !self.deferred.is_empty() {
            self.deferred.push_back(Deferred::Execute(msg));
            return;
        }
        self.execute(msg, ctx);
    }
}

impl Handler<Upgrade> for ModuleActor {
    type Result = ();

    fn handle(&mut self, msg: Upgrade, ctx: &mut Self::Context) {
        if self.pinned() || !self.deferred.is_empty() {
            self.deferred.push_back(Deferred::Upgrade(Box::new(msg)));
            return;
        }
        self.upgrade(msg, ctx);
    }
}

impl Handler<Unload> for ModuleActor {
    type Result = ();

    fn handle(&mut self, msg: Unload, ctx: &mut Self::Context) {
        if self.pinned() || !self.deferred.is_empty() {
            self.deferred.push_back(Deferred::Unload(msg));
            return;
        }
        self.unload(msg, ctx);
    }
}

impl Handler<ReturnTables> for ModuleActor {
    type Result = ();

    fn handle(&mut self, msg: ReturnTables, ctx: &mut Self::Context) {
        let tables = std::mem::replace(&mut self.tables, Tables::new(&[]));
        msg.reply.send(tables);
        ctx.stop();
    }
}

impl Handler<Unpin> for ModuleActor {
    type Result = ();

    fn handle(&mut self, msg: Unpin, ctx: &mut Self::Context) {
        self.pins.remove(&msg.id);
        self.release(ctx);
    }
}

impl Handler<PinExpired> for ModuleActor {
    type Result = ();

    fn handle(&mut self, _msg: PinExpired, ctx: &mut Self::Context) {
        self.release(ctx);
    }
}

impl Handler<Query> for ModuleActor {
    type Result = ();

    fn handle(&mut self, msg: Query, ctx: &mut Self::Context) {
        if self.unloaded.is_some() {
            // Dropping the reply tells the reader the module stopped.
            return;
        }
        if let Some(observer) = msg.observer {
            // A write transaction reads: everything it can see here must be
            // numbered before it is.
            self.outbox.flush(&self.shared);
            if let Some(pin) = observer.pin {
                self.pin(pin, ctx);
            }
        }
        let idx = if msg.schema_hash == self.slot.compiled.schema_hash {
            Ok(msg.reducer)
        } else {
            // Looked up before an upgrade: resolve the name again.
            match resolve_delivery(&self.env.schema, &msg.name, &msg.args) {
                Ok((idx, _))
                    if self.env.schema.reducers[idx as usize].mode
                        == interstice_abi::ReducerMode::Read =>
                {
                    Ok(idx)
                }
                Ok(_) => Err(format!(
                    "read of {}.{}: it is not a read reducer in version {} of the module",
                    self.env.name, msg.name, self.env.schema.version
                )),
                Err((_, why)) => Err(why),
            }
        };
        let n = self.env.schema.reducers.len();
        let idx = idx.and_then(|i| {
            if (i as usize) < n {
                Ok(i)
            } else {
                Err(format!("no reducer #{i}"))
            }
        });
        let idx = match idx {
            Ok(i) => i,
            Err(message) => {
                msg.reply.send(Err(Failure::new(ErrorKind::Host, message)));
                return;
            }
        };
        let mut start = self.slot.start(TxMode::Read, None);
        start.fuel = msg.fuel;
        start.deadline = msg.deadline;
        start.observer = msg.observer;
        let started = self.shared.tracer.as_ref().map(|_| Instant::now());
        let (result, effects) = self.slot.call(&mut self.tables, idx, &msg.args, start);
        if let (Some(tracer), Some(start)) = (&self.shared.tracer, started) {
            let reducer = &self.env.schema.reducers[idx as usize].name;
            let reads = self.take_reads();
            match &msg.trace_caller {
                // A read from outside: a span of its own, without a timestamp.
                None => {
                    let span = ExecSpan {
                        start,
                        dur: start.elapsed(),
                        module: self.env.name.clone(),
                        reducer: reducer.clone(),
                        write: false,
                        cause: None,
                        outcome: SpanOutcome::of(&result),
                        fuel: effects.fuel,
                        attempts: 1,
                        reads,
                        flow_in: None,
                    };
                    tracer.exec(None, Box::new(span), Vec::new());
                }
                // A read call: its caller measured it; the reads it made
                // in turn are drawn on the caller's thread, inside it.
                Some(caller) if !reads.is_empty() => tracer.nested(
                    caller.clone(),
                    format!("{}.{reducer}", self.env.name),
                    reads,
                ),
                Some(_) => {}
            }
        }
        let observed = match msg.observer {
            Some(_) => observations(&self.env.name, self.outbox.clock(), effects.tx.observed),
            None => Vec::new(),
        };
        let tagged = |tag, v: &[u8]| {
            let mut w = Writer::new();
            abi::write_result_head(&mut w, tag);
            w.raw(v);
            w.into_vec()
        };
        let answer = |result| ReadAnswer {
            result,
            fuel: effects.fuel,
            observed,
        };
        msg.reply.send(match result {
            Ok(v) => Ok(answer(tagged(abi::ResultTag::Ok, &v))),
            Err(Failure {
                kind: ErrorKind::UserError,
                value: Some(v),
                ..
            }) => Ok(answer(tagged(abi::ResultTag::Err, &v))),
            Err(f) => Err(f),
        });
    }
}

impl Handler<TableRows> for ModuleActor {
    type Result = ();

    fn handle(&mut self, msg: TableRows, _ctx: &mut Self::Context) {
        msg.reply.send(self.tables.row_counts());
    }
}

/// Entries a [`ScanRows`] may examine, matching or not: a bound on how long
/// it holds the actor (about 16 pages of the guests' query code).
pub(crate) const MAX_SCAN_EXAMINED: u64 = 16 * interstice_abi::query::MAX_PAGE_EXAMINED as u64;

impl Handler<ScanRows> for ModuleActor {
    type Result = ();

    fn handle(&mut self, msg: ScanRows, _ctx: &mut Self::Context) {
        msg.reply
            .send(scan_rows(&self.tables, msg.table, &msg.query, msg.limit));
    }
}

/// Reads pages of `query` over table `table` until `limit` rows, the end,
/// or [`MAX_SCAN_EXAMINED`] examined entries.
fn scan_rows(
    tables: &interstice_tables::Tables,
    table: u32,
    query: &[u8],
    limit: u32,
) -> Result<ScannedPages, interstice_tables::TableError> {
    let mut cursor = interstice_tables::Cursor::open(tables, table, query)?;
    let mut out = ScannedPages::default();
    let (mut rows, mut examined) = (0u32, 0u64);
    while rows < limit && examined < MAX_SCAN_EXAMINED {
        let mut buf = Vec::new();
        let page = tables.query_page(&mut cursor, limit - rows, &mut buf)?;
        examined += page.examined;
        if !page.filled {
            break;
        }
        let n = interstice_abi::cbor::Reader::new(&buf).array()?;
        rows = rows.saturating_add(u32::try_from(n).unwrap_or(u32::MAX));
        out.pages.push(buf);
    }
    out.more = !cursor.is_done();
    Ok(out)
}

impl Handler<HashState> for ModuleActor {
    type Result = ();

    fn handle(&mut self, msg: HashState, _ctx: &mut Self::Context) {
        let mut h = blake3::Hasher::new();
        self.tables.state_hash(&mut h);
        msg.reply
            .send((self.env.name.to_string(), *h.finalize().as_bytes()));
    }
}

impl Handler<StopModule> for ModuleActor {
    type Result = ();

    fn handle(&mut self, _msg: StopModule, ctx: &mut Self::Context) {
        ctx.stop();
    }
}
