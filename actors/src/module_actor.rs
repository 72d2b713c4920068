//! The module actor: one per loaded module, on its own arbiter (thread). It
//! owns the module's tables and its wasmtime store, runs its reducers one at
//! a time, and hands every finished write transaction to the sequencer.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use actix::{Actor, ActorContext, Context, Handler};
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

/// The actor that owns one module.
pub(crate) struct ModuleActor {
    env: Arc<ModuleEnv>,
    /// The module's instance: created by its first call (replay never
    /// instantiates, so a replayed runtime has none until then).
    slot: GuestSlot,
    tables: Tables,
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
        }
    }
}

impl Actor for ModuleActor {
    type Context = Context<Self>;

    fn stopped(&mut self, _ctx: &mut Self::Context) {
        actix::Arbiter::current().stop();
    }
}

impl Handler<Execute> for ModuleActor {
    type Result = ();

    fn handle(&mut self, msg: Execute, _ctx: &mut Self::Context) {
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
        shared.sequencer().do_send(Completed {
            ts,
            item: Sequenced {
                entry: w.into_vec(),
                summary: Summary::Commit(summary),
            },
        });
        if let Some(reply) = msg.reply {
            reply.send(match result {
                Ok(v) => Ok((ts, v)),
                Err(f) => Err(ExecError::Failed(f)),
            });
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

    fn handle(&mut self, msg: Upgrade, _ctx: &mut Self::Context) {
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
        shared.sequencer().do_send(Completed {
            ts,
            item: Sequenced {
                entry: w.into_vec(),
                summary: Summary::Install(schema),
            },
        });
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
