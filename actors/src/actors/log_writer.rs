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
use interstice_sync::Refusal;

use crate::actors::messages::{AppendBatch, Durable, FlushLog};
use crate::actors::router::Router;
use crate::actors::shared::Shared;
use crate::config::Durability;
use crate::error::SnapshotError;
use crate::recovery::snapshot::{SnapMsg, SnapshotReply};

/// Write a snapshot of the state at the durable end of the log, and reply
/// with its timestamp ([`crate::Runtime::snapshot_now`]).
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct SnapshotNow {
    pub reply: SnapshotReply,
}

/// The log-writer's side of snapshots: feeds the snapshotter and decides
/// when one is due.
pub(crate) struct SnapshotFeed {
    pub tx: std::sync::mpsc::Sender<SnapMsg>,
    pub every_commits: Option<u64>,
    pub every_bytes: Option<u64>,
    pub commits_since: u64,
    pub bytes_since: u64,
}

impl SnapshotFeed {
    fn due(&self) -> bool {
        self.every_commits.is_some_and(|n| self.commits_since >= n)
            || self.every_bytes.is_some_and(|b| self.bytes_since >= b)
    }
}

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
    snapshots: Option<SnapshotFeed>,
}

impl LogWriter {
    pub(crate) fn new(
        writer: Option<interstice_persist::LogWriter>,
        shared: Arc<Shared>,
        durability: Durability,
        router: Addr<Router>,
        last_ts: u64,
        snapshots: Option<SnapshotFeed>,
    ) -> Self {
        Self {
            writer,
            shared,
            durability,
            router,
            written_ts: last_ts,
            synced_ts: last_ts,
            sync_scheduled: false,
            snapshots,
        }
    }

    fn publish(&mut self, ts: u64) {
        self.shared.watermark.publish(ts);
        self.router.do_send(Durable(ts));
    }

    fn sync(&mut self) {
        if self.written_ts <= self.synced_ts || self.shared.refusal().is_some() {
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
                if self.snapshots.as_ref().is_some_and(SnapshotFeed::due) {
                    self.take_snapshot(None);
                }
            }
            Err(e) => self.fail(format!("fsync of the log failed: {e}")),
        }
    }

    /// Asks for a snapshot at the synced end of the log (everything
    /// forwarded so far). Only after a successful sync.
    fn take_snapshot(&mut self, reply: Option<SnapshotReply>) {
        let ts = self.synced_ts;
        match self.snapshots.as_mut() {
            Some(feed) => {
                feed.commits_since = 0;
                feed.bytes_since = 0;
                if let Err(e) = feed.tx.send(SnapMsg::Take { ts, reply }) {
                    if let SnapMsg::Take { reply: Some(r), .. } = e.0 {
                        let _ = r.send(Err(SnapshotError::SnapshotterGone));
                    }
                }
            }
            None => {
                if let Some(r) = reply {
                    let _ = r.send(Err(SnapshotError::NotEnabled));
                }
            }
        }
    }

    fn fail(&mut self, reason: String) {
        crate::event_in!(ERROR, None, None, None; "{reason}");
        self.shared.refuse_writes(Refusal::StorageFault(reason));
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
        if self.shared.refusal().is_some() {
            return;
        }
        let Some(writer) = self.writer.as_mut() else {
            self.fail("the log is open read-only".into());
            return;
        };
        let hash = match writer.append_batch(msg.first_ts, msg.count, &msg.payload) {
            Ok(hash) => hash,
            Err(e) => {
                self.fail(format!("writing the log failed: {e}"));
                return;
            }
        };
        self.written_ts = msg.first_ts + msg.count as u64 - 1;
        let mut snapshot_due = false;
        if let Some(feed) = self.snapshots.as_mut() {
            feed.commits_since += u64::from(msg.count);
            feed.bytes_since +=
                (interstice_persist::segment::BATCH_HEADER_LEN + msg.payload.len()) as u64;
            let _ = feed.tx.send(SnapMsg::Batch {
                first_ts: msg.first_ts,
                count: msg.count,
                payload: msg.payload,
                hash,
            });
            snapshot_due = feed.due();
        }
        match self.durability {
            Durability::Sync => {
                if !self.sync_scheduled {
                    self.sync_scheduled = true;
                    ctx.notify(SyncNow);
                }
            }
            Durability::Periodic(_) | Durability::None => {
                self.publish(self.written_ts);
                // A snapshot must not be newer than the durable log: sync now.
                if snapshot_due {
                    self.sync();
                }
            }
        }
    }
}

impl Handler<SnapshotNow> for LogWriter {
    type Result = ();

    fn handle(&mut self, msg: SnapshotNow, _ctx: &mut Self::Context) {
        self.sync();
        if let Some(refusal) = self.shared.refusal() {
            let _ = msg.reply.send(Err(SnapshotError::Refused(refusal)));
            return;
        }
        if self.writer.is_none() {
            let _ = msg.reply.send(Err(SnapshotError::ReadOnly));
            return;
        }
        self.take_snapshot(Some(msg.reply));
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
