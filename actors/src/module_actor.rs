//! The module actor: one per loaded module, on its own arbiter (thread). It
//! owns the module's tables and its wasmtime store, runs its reducers one at
//! a time, and hands every finished write transaction to the sequencer.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use actix::{Actor, ActorContext, Context, Handler};
use interstice_abi::cbor::Writer;
use interstice_abi::host as abi;
use interstice_abi::RowEvent;
use interstice_persist::{
    encode_entry, CommitRecord, ErrorKind, LogEntry, Mutation, MutationOp, Outcome,
};

use crate::engine::{CompiledModule, WasmHost};
use crate::guest::{CallEffects, Guest};
use crate::host_state::{Recorded, TxMode, TxState};
use crate::messages::{
    CommitSummary, Completed, ExecError, Execute, Failure, HashState, Query, Sequenced, StopModule,
    Summary,
};
use crate::shared::ModuleEnv;
use crate::table::{Change, Tables};

/// The actor that owns one module.
pub(crate) struct ModuleActor {
    env: Arc<ModuleEnv>,
    host: Arc<WasmHost>,
    compiled: CompiledModule,
    tables: Tables,
    guest: Option<Guest>,
}

impl ModuleActor {
    pub fn new(
        env: Arc<ModuleEnv>,
        host: Arc<WasmHost>,
        compiled: CompiledModule,
        tables: Tables,
    ) -> Self {
        Self {
            env,
            host,
            compiled,
            tables,
            guest: None,
        }
    }

    /// Runs one reducer call in wasm, instantiating lazily. Replay never gets
    /// here, so a replayed runtime has no instance until its first call.
    fn call(
        &mut self,
        idx: u32,
        args: &[u8],
        mode: TxMode,
        recorded: Option<Recorded>,
    ) -> (Result<Vec<u8>, Failure>, TxState) {
        if self.guest.is_none() {
            match Guest::instantiate(&self.host, &self.compiled, self.env.clone()) {
                Ok(g) => self.guest = Some(g),
                Err(f) => return (Err(f), TxState::new()),
            }
        }
        let guest = self.guest.as_mut().expect("instantiated above");
        let schema = self.env.schema.clone();
        let rs = &schema.reducers[idx as usize];
        let (result, CallEffects { tx }, discard) = guest.invoke(
            &mut self.tables,
            (idx, rs),
            args,
            mode,
            recorded,
            self.host.limits.fuel,
        );
        if discard {
            self.guest = None;
        }
        (result, tx)
    }
}

impl Actor for ModuleActor {
    type Context = Context<Self>;

    fn stopped(&mut self, _ctx: &mut Self::Context) {
        actix::Arbiter::current().stop();
    }
}

/// The mutations of `changes` that go to the log (logged tables only).
fn logged_mutations(tables: &Tables, changes: &[Change]) -> Vec<Mutation> {
    changes
        .iter()
        .filter(|c| tables.table(c.table).is_some_and(|t| t.is_logged()))
        .map(|c| Mutation {
            table: c.table,
            op: match c.event {
                RowEvent::Insert => {
                    MutationOp::Insert(c.new.as_deref().unwrap_or_default().to_vec())
                }
                RowEvent::Update => {
                    MutationOp::Update(c.new.as_deref().unwrap_or_default().to_vec())
                }
                RowEvent::Delete => MutationOp::Delete(c.key_value.to_vec()),
            },
        })
        .collect()
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
        let Some(rs) = self.env.schema.reducers.get(msg.reducer as usize) else {
            tracing::error!(module = %self.env.name, reducer = msg.reducer, "execute: no such reducer");
            return;
        };
        let reducer = rs.name.clone();
        let ts = shared.order.allocate();
        self.tables.begin();
        let (result, tx) = self.call(msg.reducer, &msg.args, TxMode::Write { ts }, None);
        let (outcome, changes, calls) = match &result {
            Ok(v) => {
                shared.metrics.commits.fetch_add(1, Ordering::Relaxed);
                (Outcome::Ok(v.clone()), self.tables.commit(), tx.calls)
            }
            Err(f) => {
                self.tables.rollback();
                shared.metrics.rollbacks.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(module = %self.env.name, %reducer, ts, kind = ?f.kind, "rolled back: {}", f.message);
                (
                    Outcome::Err {
                        kind: f.kind,
                        message: f.message.clone(),
                    },
                    Vec::new(),
                    Vec::new(),
                )
            }
        };
        let record = CommitRecord {
            ts,
            module: self.env.name.to_string(),
            schema_hash: self.compiled.schema_hash,
            reducer,
            args: msg.args,
            cause: msg.cause,
            nondet: tx.nondet,
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
        if msg.reducer as usize >= self.env.schema.reducers.len() {
            msg.reply.send(Err(Failure {
                kind: ErrorKind::Host,
                message: format!("no reducer #{}", msg.reducer),
                value: None,
            }));
            return;
        }
        let (result, _) = self.call(msg.reducer, &msg.args, TxMode::Read, None);
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
