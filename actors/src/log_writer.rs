//! The log-writer actor: appends batches to the hash-chained log and makes
//! them durable according to the durability mode, then publishes the
//! durability watermark that callers wait on before acknowledging.
//!
//! Group commit: in `sync` mode one fsync is issued after the mailbox is
//! drained (a `notify`-ed message runs after all queued batches), so every
//! batch that arrived meanwhile shares it. Any write or fsync error poisons
//! the runtime: waiters are failed and no later write is acknowledged.
//! A read-only runtime has no writer (and refuses writes before they get here).

use std::sync::atomic::Ordering;
use std::sync::Arc;

use actix::{Actor, Addr, AsyncContext, Context, Handler, Message};

use crate::config::Durability;
use crate::messages::{AppendBatch, Durable, FlushLog};
use crate::router::Router;
use crate::shared::Shared;

/// fsync what was written.
#[derive(Message)]
#[rtype(result = "()")]
struct SyncNow;

/// The log-writer actor.
pub(crate) struct LogWriter {
    /// `None` in a read-only runtime.
    writer: Option<interstice_persist::LogWriter>,
    shared: Arc<Shared>,
    durability: Durability,
    router: Addr<Router>,
    written_ts: u64,
    synced_ts: u64,
    sync_scheduled: bool,
}

impl LogWriter {
    pub fn new(
        writer: Option<interstice_persist::LogWriter>,
        shared: Arc<Shared>,
        durability: Durability,
        router: Addr<Router>,
        last_ts: u64,
    ) -> Self {
        Self {
            writer,
            shared,
            durability,
            router,
            written_ts: last_ts,
            synced_ts: last_ts,
            sync_scheduled: false,
        }
    }

    fn publish(&mut self, ts: u64) {
        self.shared.watermark.publish(ts);
        self.router.do_send(Durable(ts));
    }

    fn sync(&mut self) {
        if self.written_ts <= self.synced_ts || self.shared.fault().is_some() {
            return;
        }
        let Some(writer) = self.writer.as_mut() else {
            return;
        };
        match writer.sync() {
            Ok(()) => {
                self.shared.metrics.fsyncs.fetch_add(1, Ordering::Relaxed);
                self.synced_ts = self.written_ts;
                if self.durability == Durability::Sync {
                    self.publish(self.synced_ts);
                }
            }
            Err(e) => self.fail(format!("fsync of the log failed: {e}")),
        }
    }

    fn fail(&mut self, reason: String) {
        tracing::error!("{reason}");
        self.shared.poison(reason);
    }
}

impl Actor for LogWriter {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        if let Durability::Periodic(every) = self.durability {
            ctx.run_interval(every, |act, _| act.sync());
        }
    }

    fn stopped(&mut self, _ctx: &mut Self::Context) {
        self.sync();
    }
}

impl Handler<AppendBatch> for LogWriter {
    type Result = ();

    fn handle(&mut self, msg: AppendBatch, ctx: &mut Self::Context) {
        if self.shared.fault().is_some() {
            return;
        }
        let Some(writer) = self.writer.as_mut() else {
            self.fail("the log is open read-only".into());
            return;
        };
        if let Err(e) = writer.append_batch(msg.first_ts, msg.count, &msg.payload) {
            self.fail(format!("writing the log failed: {e}"));
            return;
        }
        self.written_ts = msg.first_ts + msg.count as u64 - 1;
        match self.durability {
            Durability::Sync => {
                if !self.sync_scheduled {
                    self.sync_scheduled = true;
                    ctx.notify(SyncNow);
                }
            }
            Durability::Periodic(_) | Durability::None => self.publish(self.written_ts),
        }
    }
}

impl Handler<SyncNow> for LogWriter {
    type Result = ();

    fn handle(&mut self, _msg: SyncNow, _ctx: &mut Self::Context) {
        self.sync_scheduled = false;
        self.sync();
    }
}

impl Handler<FlushLog> for LogWriter {
    type Result = ();

    fn handle(&mut self, msg: FlushLog, _ctx: &mut Self::Context) {
        self.sync();
        msg.reply.send(());
    }
}
