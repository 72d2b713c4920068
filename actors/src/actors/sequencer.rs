//! The sequencer actor: takes finished entries from module actors in any
//! order, releases them in gapless timestamp order (through the loom-modelled
//! [`interstice_sync::CommitOrder`]), and forwards each ready run as one CBOR
//! batch to the log-writer and, summarised, to the router.
//!
//! Batching: entries released while the mailbox is being drained are held
//! and sent in one batch when the mailbox is empty (actix processes
//! `notify`-ed messages after the mailbox), so a burst becomes one write and
//! one fsync.

use std::sync::Arc;

use actix::{Actor, Addr, AsyncContext, Context, Handler, Message};
use interstice_sync::Refusal;

use crate::actors::log_writer::LogWriter;
use crate::actors::messages::{AppendBatch, Numbered, NumberedEntry, Route};
use crate::actors::router::Router;
use crate::actors::shared::Shared;

/// Sends the held run on.
#[derive(Message)]
#[rtype(result = "()")]
struct FlushRun;

/// The sequencer actor.
pub(crate) struct Sequencer {
    shared: Arc<Shared>,
    log: Addr<LogWriter>,
    router: Addr<Router>,
    run: Vec<(u64, NumberedEntry)>,
    flush_scheduled: bool,
}

impl Sequencer {
    pub(crate) fn new(shared: Arc<Shared>, log: Addr<LogWriter>, router: Addr<Router>) -> Self {
        Self {
            shared,
            log,
            router,
            run: Vec::new(),
            flush_scheduled: false,
        }
    }
}

impl Actor for Sequencer {
    type Context = Context<Self>;
}

impl Handler<Numbered> for Sequencer {
    type Result = ();

    fn handle(&mut self, msg: Numbered, ctx: &mut Self::Context) {
        let run = &mut self.run;
        for (ts, item) in msg.items {
            if let Err(v) = self
                .shared
                .order
                .complete(ts, item, |ts, item| run.push((ts, item)))
            {
                // Only a bug can get here; refusing writes is the safe reaction.
                let reason = format!("sequencer received timestamp {} twice or unallocated", v.0);
                crate::event_in!(ERROR, None, None, Some(v.0); "{reason}");
                self.shared.refuse_writes(Refusal::StorageFault(reason));
                return;
            }
        }
        if !self.run.is_empty() && !self.flush_scheduled {
            self.flush_scheduled = true;
            ctx.notify(FlushRun);
        }
    }
}

impl Handler<FlushRun> for Sequencer {
    type Result = ();

    fn handle(&mut self, _msg: FlushRun, _ctx: &mut Self::Context) {
        self.flush_scheduled = false;
        let run = std::mem::take(&mut self.run);
        let Some(first_ts) = run.first().map(|(ts, _)| *ts) else {
            return;
        };
        let len: usize = run.iter().map(|(_, s)| s.entry.len()).sum();
        let mut payload = Vec::with_capacity(len);
        let mut infos = Vec::with_capacity(run.len());
        for (ts, item) in run {
            payload.extend_from_slice(&item.entry);
            infos.push((ts, item.info));
        }
        self.log.do_send(AppendBatch {
            first_ts,
            count: infos.len() as u32,
            payload,
        });
        self.router.do_send(Route(infos));
    }
}
