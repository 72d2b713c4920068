//! The module actor: one per loaded module, on its own arbiter (thread). It
//! owns the module's tables and its wasmtime store, runs its reducers one at
//! a time, and hands every finished write transaction to the sequencer.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use actix::{Actor, ActorContext, Context, Handler};
use interstice_abi::cbor::Writer;
use interstice_abi::host as abi;
use interstice_persist::{encode_entry, CommitRecord, ErrorKind, LogEntry};

use crate::engine::{CompiledModule, WasmHost};
use crate::host_state::TxMode;
use crate::messages::{
    CommitSummary, Completed, ExecError, Execute, Failure, HashState, Query, Sequenced, StopModule,
    Summary,
};
use crate::shared::ModuleEnv;
use crate::table::Tables;
use crate::transaction::{logged_mutations, run_write, GuestSlot, TxOutput};

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
        let Some(rs) = self.env.schema.reducers.get(msg.reducer as usize) else {
            tracing::error!(module = %self.env.name, reducer = msg.reducer, "execute: no such reducer");
            return;
        };
        let reducer = rs.name.clone();
        let ts = shared.order.allocate();
        let out = run_write(
            &mut self.slot,
            &mut self.tables,
            msg.reducer,
            &msg.args,
            ts,
            None,
        );
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
        if msg.reducer as usize >= self.env.schema.reducers.len() {
            msg.reply.send(Err(Failure {
                kind: ErrorKind::Host,
                message: format!("no reducer #{}", msg.reducer),
                value: None,
            }));
            return;
        }
        let (result, _) =
            self.slot
                .call(&mut self.tables, msg.reducer, &msg.args, TxMode::Read, None);
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
