//! The module actor: one per loaded module, on its own arbiter (thread). It
//! owns the module's tables and its wasmtime store, runs its reducers one at
//! a time, and hands every finished write transaction to the sequencer.
//!
//! Batching: finished entries wait in an outbox while the mailbox is being
//! drained, and go to the sequencer as one [`Completed`] when it is empty
//! (actix runs `notify`-ed messages after the mailbox) or when the outbox
//! holds [`OUTBOX_MAX`] entries, so a burst of calls wakes the sequencer
//! once. The outbox is also flushed when the actor stops.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use actix::{Actor, ActorContext, AsyncContext, Context, Handler, Message};
use interstice_abi::cbor::Writer;
use interstice_abi::host as abi;
use interstice_abi::schema_diff::SchemaDiff;
use interstice_persist::{encode_entry, CommitRecord, ErrorKind, LogEntry, ModuleInstall};

use crate::engine::{CompiledModule, WasmHost};
use crate::host_state::TxMode;
use crate::messages::{
    CommitSummary, Completed, ExecError, Execute, Failure, HashState, Query, Sequenced, StopModule,
    Summary, TableRows, Target, Upgrade, UpgradeRefused,
};
use crate::shared::ModuleEnv;
use crate::table::Tables;
use crate::transaction::{logged_mutations, resolve_delivery, run_write, GuestSlot, TxOutput};

/// The most entries held back before they are sent anyway: bounds how long
/// a busy module can hold up the commits of others (timestamps are released
/// in order, so a held entry delays every later one).
const OUTBOX_MAX: usize = 32;

/// Sends the outbox to the sequencer.
#[derive(Message)]
#[rtype(result = "()")]
struct FlushOutbox;

/// The actor that owns one module.
pub(crate) struct ModuleActor {
    env: Arc<ModuleEnv>,
    /// The module's instance: created by its first call (replay never
    /// instantiates, so a replayed runtime has none until then).
    slot: GuestSlot,
    tables: Tables,
    /// Finished entries not yet handed to the sequencer.
    outbox: Vec<(u64, Sequenced)>,
    flush_scheduled: bool,
}

impl ModuleActor {
    pub fn new(
        env: Arc<ModuleEnv>,
        host: Arc<WasmHost>,
        compiled: CompiledModule,
        tables: Tables,
    ) -> Self {
        Self {
            slot: GuestSlot::new(env.clone(), host, compiled),
            env,
            tables,
            outbox: Vec::new(),
            flush_scheduled: false,
        }
    }

    /// Queues a finished entry for the sequencer (see the module docs).
    fn hand_over(&mut self, ts: u64, item: Sequenced, ctx: &mut Context<Self>) {
        self.outbox.push((ts, item));
        if self.outbox.len() >= OUTBOX_MAX {
            self.flush();
        } else if !self.flush_scheduled {
            self.flush_scheduled = true;
            ctx.notify(FlushOutbox);
        }
    }

    fn flush(&mut self) {
        if !self.outbox.is_empty() {
            let items = std::mem::take(&mut self.outbox);
            self.env.shared.sequencer().do_send(Completed { items });
        }
    }
}

impl Handler<FlushOutbox> for ModuleActor {
    type Result = ();

    fn handle(&mut self, _msg: FlushOutbox, _ctx: &mut Self::Context) {
        self.flush_scheduled = false;
        self.flush();
    }
}

impl Actor for ModuleActor {
    type Context = Context<Self>;

    fn stopped(&mut self, _ctx: &mut Self::Context) {
        // Timestamps are gapless: an entry left here would hold up the log.
        self.flush();
        actix::Arbiter::current().stop();
    }
}

impl Handler<Execute> for ModuleActor {
    type Result = ();

    fn handle(&mut self, msg: Execute, ctx: &mut Self::Context) {
        let shared = self.env.shared.clone();
        if let Some(fault) = shared.fault() {
            if let Some(reply) = msg.reply {
                reply.send(Err(ExecError::Poisoned(fault)));
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
                        None => tracing::error!(
                            module = %self.env.name, reducer,
                            "execute against a stale schema without a reply channel: dropped"
                        ),
                    }
                    return;
                }
                match self.env.schema.reducers.get(*reducer as usize) {
                    Some(rs) => Ok((*reducer, rs.name.clone())),
                    None => {
                        tracing::error!(module = %self.env.name, reducer, "execute: no such reducer");
                        return;
                    }
                }
            }
            Target::Name(name) => resolve_delivery(&self.env.schema, name, &msg.args),
        };
        let ts = shared.order.allocate();
        let (out, reducer) = match resolved {
            Ok((idx, name)) => (
                run_write(&mut self.slot, &mut self.tables, idx, &msg.args, ts, None),
                name,
            ),
            Err((name, message)) => (
                TxOutput {
                    result: Err(Failure {
                        kind: ErrorKind::Host,
                        message,
                        value: None,
                    }),
                    changes: Vec::new(),
                    calls: Vec::new(),
                    nondet: Vec::new(),
                },
                name,
            ),
        };
        let outcome = out.outcome();
        let TxOutput {
            result,
            changes,
            calls,
            nondet,
        } = out;
        match &result {
            Ok(_) => shared.metrics.commits.fetch_add(1, Ordering::Relaxed),
            Err(f) => {
                tracing::debug!(module = %self.env.name, %reducer, ts, kind = ?f.kind, "rolled back: {}", f.message);
                shared.metrics.rollbacks.fetch_add(1, Ordering::Relaxed)
            }
        };
        let record = CommitRecord {
            ts,
            module: self.env.name.to_string(),
            schema_hash: self.slot.compiled.schema_hash,
            reducer,
            args: msg.args,
            cause: msg.cause,
            nondet,
            outcome,
            mutations: logged_mutations(&self.tables, &changes),
            calls: calls.clone(),
        };
        let mut w = Writer::new();
        encode_entry(&LogEntry::Commit(record), &mut w);
        let summary = CommitSummary {
            module: self.env.name.clone(),
            schema: self.env.schema.clone(),
            ok: result.is_ok(),
            calls,
            changes,
            depth: msg.depth,
        };
        self.hand_over(
            ts,
            Sequenced {
                entry: w.into_vec(),
                summary: Summary::Commit(summary),
            },
            ctx,
        );
        if let Some(reply) = msg.reply {
            match result {
                // Answered once the commit is durable, by whichever thread
                // publishes the watermark: the caller is woken once, and
                // never before the fsync that covers its commit.
                Ok(v) => shared.watermark.on_reach(ts, move |durable| {
                    reply.send(match durable {
                        Ok(()) => Ok((ts, v)),
                        Err(e) => Err(ExecError::Poisoned(e.0)),
                    })
                }),
                Err(f) => reply.send(Err(ExecError::Failed(f))),
            }
        }
    }
}

impl Handler<Query> for ModuleActor {
    type Result = ();

    fn handle(&mut self, msg: Query, _ctx: &mut Self::Context) {
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
                msg.reply.send(Err(Failure {
                    kind: ErrorKind::Host,
                    message,
                    value: None,
                }));
                return;
            }
        };
        let (result, _) = self
            .slot
            .call(&mut self.tables, idx, &msg.args, TxMode::Read, None);
        let tagged = |tag: u64, v: &[u8]| {
            let mut w = Writer::new();
            w.array(2);
            w.u64(tag);
            w.raw(v);
            w.into_vec()
        };
        msg.reply.send(match result {
            Ok(v) => Ok(tagged(abi::RESULT_OK, &v)),
            Err(Failure {
                kind: ErrorKind::UserError,
                value: Some(v),
                ..
            }) => Ok(tagged(abi::RESULT_ERR, &v)),
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

impl Handler<Upgrade> for ModuleActor {
    type Result = ();

    fn handle(&mut self, msg: Upgrade, ctx: &mut Self::Context) {
        let shared = self.env.shared.clone();
        if let Some(fault) = shared.fault() {
            msg.reply.send(Err(UpgradeRefused::Poisoned(fault)));
            return;
        }
        let schema = msg.compiled.schema.clone();
        // The loader checked with row counts it asked for earlier; rows may
        // have arrived since, so check again on the tables themselves.
        let diff = SchemaDiff::between(&self.env.schema, &schema);
        if let Some((table, change)) = diff.first_incompatibility(|t| self.tables.rows_of(t)) {
            msg.reply
                .send(Err(UpgradeRefused::Incompatible(table, change)));
            return;
        }
        // Taken here, between two transactions of this module: every commit
        // of the old code is before it, every commit of the new code after.
        let ts = shared.order.allocate();
        self.tables.remap(&schema.tables);
        let env = Arc::new(ModuleEnv {
            name: self.env.name.clone(),
            schema: schema.clone(),
            shared: shared.clone(),
        });
        // Dropping the old slot drops the old instance; the next call
        // instantiates the new code. Init does not run again.
        self.slot = GuestSlot::new(env.clone(), self.slot.host.clone(), msg.compiled);
        self.env = env;
        let mut w = Writer::new();
        encode_entry(
            &LogEntry::Install(ModuleInstall { ts, ..msg.install }),
            &mut w,
        );
        self.hand_over(
            ts,
            Sequenced {
                entry: w.into_vec(),
                summary: Summary::Install(schema),
            },
            ctx,
        );
        msg.reply.send(Ok(ts));
    }
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
