//! The live runtime's side of the wasm layer's [`Peers`]: read calls go to
//! the dependency's actor as a [`Query`], and the module's finished
//! transactions are numbered through its outbox. While tracing, each read
//! call is measured here, on the caller's thread (`actors/trace.rs`).

use std::sync::{Arc, Mutex};
use std::time::Instant;

use interstice_abi::ModuleSchema;

use crate::actors::messages::{Query, Responder};
use crate::actors::outbox::Outbox;
use crate::actors::shared::Shared;
use crate::actors::trace::ReadSpan;
use crate::wasm::env::{Peers, ReadAnswer, ReadCall, ReadCallError};

/// One module's view of the live runtime.
#[derive(Debug)]
pub(crate) struct LivePeers {
    pub shared: Arc<Shared>,
    /// The module's own outbox (kept across upgrades).
    pub outbox: Arc<Outbox>,
    /// While tracing: the module's name and the read calls its current
    /// reducer made, measured here and taken by its actor when the
    /// reducer has finished (only the module's own thread takes the lock).
    pub reads: Option<(Arc<str>, TracedReads)>,
}

/// The read calls a module's current reducer made, while tracing.
pub(crate) type TracedReads = Arc<Mutex<Vec<ReadSpan>>>;

impl Peers for LivePeers {
    fn schema(&self, name: &str, _ts: Option<u64>) -> Option<Arc<ModuleSchema>> {
        self.shared.module(name).map(|e| e.schema.clone())
    }

    fn read_call(&self, call: ReadCall<'_>) -> Result<ReadAnswer, ReadCallError> {
        let Some(target) = self.shared.module(call.module) else {
            return Err(ReadCallError::UnknownModule);
        };
        // The index and the hash from the same registry entry; the actor
        // re-resolves the name if the module was upgraded since.
        let idx = target.reducer(call.reducer).map_or(call.idx, |(i, _)| i);
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let started = self.reads.as_ref().map(|_| Instant::now());
        target.addr.do_send(Query {
            reducer: idx,
            schema_hash: target.schema_hash,
            name: call.reducer.to_owned(),
            args: call.args,
            fuel: call.fuel,
            deadline: call.deadline,
            observer: call.observer,
            trace_caller: self.reads.as_ref().map(|(name, _)| name.clone()),
            reply: Responder::std(tx),
        });
        let wait = call.deadline.saturating_duration_since(Instant::now());
        let result = match rx.recv_timeout(wait) {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(f)) => Err(ReadCallError::Failed(f)),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => Err(ReadCallError::TimedOut),
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => Err(ReadCallError::Stopped),
        };
        if let (Some((_, reads)), Some(started)) = (&self.reads, started) {
            let span = ReadSpan::measured(
                started,
                target.schema.name.as_str().into(),
                call.reducer,
                &result,
            );
            reads.lock().expect("trace reads lock").push(span);
        }
        result
    }

    fn number_finished(&self) {
        self.outbox.flush(&self.shared);
    }

    fn latest_timestamp(&self) -> Option<u64> {
        self.number_finished();
        Some(self.shared.order.peek_next() - 1)
    }
}
