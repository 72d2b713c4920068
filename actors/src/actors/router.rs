//! The subscription-router actor. It receives every sequenced entry in
//! timestamp order and
//! - turns commits into deliveries (async calls and triggers) and installs
//!   into init calls, sent to the target module actors in source-timestamp
//!   order (each module's mailbox is FIFO, so they run in that order);
//! - feeds external subscribers ([`crate::Runtime::subscribe`]) their row
//!   changes, held back until the commit is durable.
//!
//! After a restart, replay hands it the deliveries that were pending at the
//! crash ([`ResumePending`]); they run before anything new, in order.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use actix::{Actor, Context, Handler, Message};
use interstice_abi::{RowEvent, Type, Value};
use tokio::sync::mpsc::UnboundedSender;

use crate::actors::messages::{Durable, EntryInfo, Execute, ResumePending, Route, Target};
use crate::actors::module_log::ModuleLogRecord;
use crate::actors::shared::Shared;
use crate::recovery::deliveries::Delivery;
use crate::recovery::deliveries::{
    route, DeliveryLimits, FanOut, Reply, RoutedCommit, Subscriptions,
};

/// A committed change to a table, as external subscribers see it.
#[derive(Debug, Clone, PartialEq)]
pub struct RowChange {
    /// Timestamp of the commit.
    pub ts: u64,
    /// Module owning the table.
    pub module: String,
    /// Table name.
    pub table: String,
    /// Insert, update or delete.
    pub event: RowEvent,
    /// The row before (update, delete).
    pub old: Option<Value>,
    /// The row after (insert, update).
    pub new: Option<Value>,
    row_type: Arc<Type>,
}

impl RowChange {
    /// JSON: `{"ts", "module", "table", "event", "old", "new"}`.
    pub fn to_json(&self) -> serde_json::Value {
        let row = |v: &Option<Value>| {
            v.as_ref()
                .map(|v| v.to_json(&self.row_type))
                .unwrap_or(serde_json::Value::Null)
        };
        serde_json::json!({
            "ts": self.ts,
            "module": self.module,
            "table": self.table,
            "event": self.event.as_str(),
            "old": row(&self.old),
            "new": row(&self.new),
        })
    }
}

/// Where an external subscriber's changes go: one at a time, or one
/// message per commit (all the commit's changes to the table, in order).
pub(crate) enum Subscriber {
    /// [`crate::Runtime::subscribe`].
    Each(UnboundedSender<RowChange>),
    /// [`crate::Runtime::subscribe_with_position`].
    Commits(UnboundedSender<Vec<RowChange>>),
}

impl Subscriber {
    /// Sends one commit's changes; `false` once the receiver is gone.
    fn send(&self, commit: &[RowChange]) -> bool {
        match self {
            Subscriber::Each(tx) => commit.iter().all(|c| tx.send(c.clone()).is_ok()),
            Subscriber::Commits(tx) => tx.send(commit.to_vec()).is_ok(),
        }
    }
}

/// Registers an external subscriber.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct SubscribeTable {
    pub module: String,
    pub table: String,
    pub sender: Subscriber,
    /// Told, once the subscriber is registered, the highest timestamp the
    /// router had been handed then: the subscriber gets every change after
    /// it.
    pub registered: Option<tokio::sync::oneshot::Sender<u64>>,
}

/// The router actor.
pub(crate) struct Router {
    shared: Arc<Shared>,
    subs: Subscriptions,
    fanout: FanOut,
    external: HashMap<(String, String), Vec<Subscriber>>,
    held: VecDeque<RowChange>,
    durable: u64,
    /// The highest timestamp of the `Route`s handled so far.
    routed: u64,
}

impl Router {
    pub(crate) fn new(
        shared: Arc<Shared>,
        subs: Subscriptions,
        fanout: FanOut,
        durable: u64,
    ) -> Self {
        Self {
            shared,
            subs,
            fanout,
            external: HashMap::new(),
            held: VecDeque::new(),
            durable,
            routed: durable,
        }
    }

    /// Sends a delivery to its module (`flow`: its flow id while tracing).
    /// Its events' spans name the delivery's module and reducer; it has no
    /// timestamp yet.
    fn deliver(&self, d: Delivery, flow: Option<u64>) {
        if d.cut {
            crate::event_in!(DEBUG, Some(&d.target), Some(&d.reducer), None;
                cause = ?d.cause, root = ?d.root,
                "cut by the fan-out budget (Limits::fanout = {})", self.shared.limits.fanout
            );
        }
        let Some(entry) = self.shared.module(&d.target) else {
            crate::event_in!(DEBUG, Some(&d.target), Some(&d.reducer), None;
                cause = ?d.cause, "delivery to a module that is not loaded: dropped");
            return;
        };
        // Caused before this incarnation of the module was installed: the
        // module was unloaded since (and loaded again), and the unload
        // dropped it (`LogState::unload` does the same in replay).
        if d.cause.source_ts().is_some_and(|ts| ts < entry.since()) {
            crate::event_in!(DEBUG, Some(&d.target), Some(&d.reducer), None;
                cause = ?d.cause, "delivery from before the module was unloaded: dropped");
            return;
        }
        // Resolved by name in the module actor, against the schema it has
        // when the delivery runs (the module may be upgraded meanwhile).
        entry.addr.do_send(Execute {
            target: Target::Name(d.reducer),
            args: d.args,
            cause: d.cause,
            depth: d.depth,
            root: d.root,
            cut: d.cut,
            flow,
            reply: None,
        });
    }

    /// A failed async call or trigger, now that its commit has timestamp
    /// `r.ts`: a `warn` event in a span with the module, reducer and
    /// timestamp (naming the commit that caused it and the error kind),
    /// counted in `Metrics::failed_deliveries`.
    fn failed_delivery(&self, r: &ModuleLogRecord) {
        let extra = |k: &str| r.extra.as_ref().and_then(|e| e.get(k)).cloned();
        let text = |k: &str| extra(k).and_then(|v| v.as_str().map(str::to_owned));
        let (cause, cause_module, kind) = (text("cause"), text("cause_module"), text("error_kind"));
        let cause_ts = extra("cause_ts").and_then(|v| v.as_u64());
        crate::event_in!(WARN, Some(&r.module), Some(&r.reducer), Some(r.ts);
            cause = cause.as_deref().unwrap_or_default(),
            cause_module = %cause_module.as_deref().unwrap_or_default(),
            cause_ts = cause_ts.unwrap_or_default(),
            kind = kind.as_deref().unwrap_or_default(),
            "{}", r.text
        );
        self.shared
            .metrics
            .failed_deliveries
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    fn release(&mut self) {
        // A commit's changes are consecutive in `held` (a `Route` pushes
        // them in order); each table's share of them goes out as one commit.
        while self.held.front().is_some_and(|c| c.ts <= self.durable) {
            let ts = self.held.front().expect("checked").ts;
            let mut commit = Vec::new();
            while self.held.front().is_some_and(|c| c.ts == ts) {
                commit.push(self.held.pop_front().expect("checked"));
            }
            let mut keys: Vec<(String, String)> = Vec::new();
            for c in &commit {
                if !keys.iter().any(|(m, t)| *m == c.module && *t == c.table) {
                    keys.push((c.module.clone(), c.table.clone()));
                }
            }
            for key in keys {
                let Some(list) = self.external.get_mut(&key) else {
                    continue;
                };
                let changes: Vec<RowChange> = commit
                    .iter()
                    .filter(|c| c.module == key.0 && c.table == key.1)
                    .cloned()
                    .collect();
                list.retain(|sub| sub.send(&changes));
            }
        }
    }
}

impl Actor for Router {
    type Context = Context<Self>;
}

impl Handler<Route> for Router {
    type Result = ();

    fn handle(&mut self, msg: Route, _ctx: &mut Self::Context) {
        for (ts, info) in msg.0 {
            self.routed = self.routed.max(ts);
            match info {
                EntryInfo::Install(schema) => {
                    // A live install's init call is queued by the loader
                    // itself (before the module is visible); replay resumes
                    // one that never ran through `ResumePending`. An
                    // upgrade's install replaces the module's subscriptions.
                    let _init = self.subs.add_module(&schema);
                }
                EntryInfo::Unload(name) => {
                    // Its triggers stop; its subscribers' streams end.
                    self.subs.remove_module(&name);
                    self.external.retain(|(m, _), _| *m != name);
                }
                EntryInfo::Commit(mut c) => {
                    for mut r in std::mem::take(&mut c.log_records) {
                        r.ts = ts;
                        if r.kind == "failed_delivery" {
                            self.failed_delivery(&r);
                        }
                        self.shared.module_log.send(r);
                    }
                    let limits = DeliveryLimits::from(&self.shared.limits);
                    let reply = c.reply.take();
                    let commit = RoutedCommit {
                        module: &c.module,
                        schema: &c.schema,
                        ts,
                        depth: c.depth,
                        root: c.root,
                        ok: c.ok,
                        calls: &c.calls,
                        changes: &c.changes,
                        reply: reply.as_deref().map(|(module, reducer, args)| Reply {
                            module,
                            reducer,
                            args: args.clone(),
                        }),
                    };
                    let (deliveries, dropped) = route(&self.subs, &mut self.fanout, limits, commit);
                    if dropped > 0 {
                        let text = format!(
                            "dropped {dropped} deliveries: trigger depth {} exceeds \
                             Limits::max_trigger_depth = {} (a subscription cycle?)",
                            c.depth + 1,
                            limits.max_depth
                        );
                        crate::event_in!(WARN, Some(&c.module), Some(&c.reducer), Some(ts); "{text}");
                        self.shared.module_log.send(ModuleLogRecord {
                            ts,
                            module: c.module.clone(),
                            reducer: c.reducer.clone(),
                            level: "warn",
                            kind: "cut_chain",
                            text,
                            extra: Some(serde_json::json!({ "dropped": dropped })),
                        });
                    }
                    match (&self.shared.tracer, c.trace.take()) {
                        (Some(tracer), Some(span)) => {
                            let mut flows = Vec::with_capacity(deliveries.len());
                            for (_, d) in deliveries {
                                let id = tracer.flow_id();
                                flows.push(id);
                                self.deliver(d, Some(id));
                            }
                            tracer.exec(Some(ts), span, flows);
                        }
                        _ => {
                            for (_, d) in deliveries {
                                self.deliver(d, None);
                            }
                        }
                    }
                    if !c.ok || self.external.is_empty() {
                        continue;
                    }
                    for ch in &c.changes {
                        let table = &c.schema.tables[ch.table as usize];
                        let key = (c.module.to_string(), table.name.clone());
                        if self.external.get(&key).is_none_or(|l| l.is_empty()) {
                            continue;
                        }
                        let row_type = Arc::new(table.row_type());
                        let decode = |b: &Option<Box<[u8]>>| {
                            b.as_deref()
                                .and_then(|b| Value::decode_exact(&row_type, b).ok())
                        };
                        self.held.push_back(RowChange {
                            ts,
                            module: key.0,
                            table: key.1,
                            event: ch.event,
                            old: decode(&ch.old),
                            new: decode(&ch.new),
                            row_type: row_type.clone(),
                        });
                    }
                }
            }
        }
        self.release();
    }
}

impl Handler<Durable> for Router {
    type Result = ();

    fn handle(&mut self, msg: Durable, _ctx: &mut Self::Context) {
        self.durable = self.durable.max(msg.0);
        self.release();
    }
}

impl Handler<SubscribeTable> for Router {
    type Result = ();

    fn handle(&mut self, msg: SubscribeTable, _ctx: &mut Self::Context) {
        self.external
            .entry((msg.module, msg.table))
            .or_default()
            .push(msg.sender);
        // Routes come in timestamp order: every change routed from now on
        // has a timestamp after `routed`, and is sent to the new subscriber.
        if let Some(tx) = msg.registered {
            let _ = tx.send(self.routed);
        }
    }
}

impl Handler<ResumePending> for Router {
    type Result = ();

    fn handle(&mut self, msg: ResumePending, _ctx: &mut Self::Context) {
        if !msg.0.is_empty() {
            crate::event_in!(INFO, None, None, None;
                "resuming {} deliveries pending at the last shutdown",
                msg.0.len()
            );
        }
        for d in msg.0 {
            self.deliver(d, None);
        }
    }
}
