//! Which deliveries (async calls, triggers, init) a log entry causes, in
//! their one deterministic order. The router uses this live; replay uses the
//! same code to find the deliveries that were still pending at a crash.
//!
//! Order for a commit at timestamp `ts`: its outbound calls in the order the
//! reducer made them (indexes `0..calls`), then for each change in order, each
//! subscriber of `(module, table, event)` sorted by (module, reducer name).
//! An install causes at most one delivery: the module's init reducer.
//! A commit whose cause is a call made with a reply (`Cause::reply_to`)
//! causes one more, last, whether it committed or failed: the reply to the
//! caller's reply reducer (cause `Cause::Reply`, arguments
//! `interstice_abi::reply::reply_args` of its outcome).
//!
//! [`route`] adds the two run-time guards, the same way live and in replay:
//! the depth limit (`Limits::max_trigger_depth`: deliveries deeper are
//! dropped) and the fan-out budget (`Limits::fanout`, [`FanOut`]: every
//! external call or init is the root of a tree of deliveries, and once a
//! tree has made its budget's worth, its further deliveries are marked
//! `cut`; the target module logs each as a commit failed with
//! `ErrorKind::FanOut`, without running it, which consumes it).

use std::collections::{BTreeMap, HashMap, HashSet};

use interstice_abi::cbor::Writer;
use interstice_abi::reply::{reply_args, ReplyOutcome};
use interstice_abi::{ModuleSchema, Persistence, RowEvent, Trigger};
use interstice_persist::{Cause, OutboundCall, PendingDelivery};

use interstice_tables::Change;

/// A delivery: an async call or a trigger, to run in its target module.
#[derive(Debug, Clone)]
pub(crate) struct Delivery {
    pub target: String,
    pub reducer: String,
    pub args: Vec<u8>,
    pub cause: Cause,
    pub depth: u32,
    /// The timestamp at the root of its delivery tree (`Execute::root`);
    /// `None` for an init, which is a root itself.
    pub root: Option<u64>,
    /// Cut by the fan-out budget (`Execute::cut`).
    pub cut: bool,
}

impl Delivery {
    /// A delivery a snapshot holds as pending.
    pub(crate) fn from_pending(d: &PendingDelivery) -> Self {
        Self {
            target: d.target.clone(),
            reducer: d.reducer.clone(),
            args: d.args.clone(),
            cause: d.cause.clone(),
            depth: d.depth,
            root: d.root,
            cut: d.cut,
        }
    }

    /// The delivery as a snapshot holds it: pending, caused by the commit
    /// at `source_ts` (its `index`-th delivery).
    pub(crate) fn to_pending(&self, source_ts: u64, index: u32) -> PendingDelivery {
        PendingDelivery {
            source_ts,
            index,
            target: self.target.clone(),
            reducer: self.reducer.clone(),
            args: self.args.clone(),
            cause: self.cause.clone(),
            depth: self.depth,
            root: self.root,
            cut: self.cut,
        }
    }

    /// A delivery a commit causes, one level deeper than the commit; its
    /// root and cut are filled in when it is routed.
    fn caused(target: &str, reducer: &str, args: Vec<u8>, cause: Cause, depth: u32) -> Self {
        Self {
            target: target.to_owned(),
            reducer: reducer.to_owned(),
            args,
            cause,
            depth: depth + 1,
            root: None,
            cut: false,
        }
    }
}

/// A subscriber: module and reducer name.
type Subscriber = (String, String);

/// Who listens to what.
#[derive(Debug, Default, Clone)]
pub(crate) struct Subscriptions {
    by_source: HashMap<(String, String, RowEvent), Vec<Subscriber>>,
    /// Tables whose mutations are logged, per module (ephemeral tables do
    /// not fire module triggers: their changes are not in the log, so replay
    /// could not reproduce them).
    logged: HashMap<String, Vec<bool>>,
    /// Modules that some trigger watches (the keys' modules of
    /// `by_source`): a commit of any other module without outbound calls
    /// causes no delivery, which `for_commit` answers without allocating.
    watched: HashSet<String>,
}

/// Key under which replay tracks an expected delivery: the source timestamp
/// and the delivery's index among that source's deliveries.
pub(crate) type DeliveryKey = (u64, u32);

impl Subscriptions {
    /// Registers a module's triggers, replacing those of an earlier
    /// version of the module (an upgrade). Returns its init delivery, if
    /// any.
    pub(crate) fn add_module(&mut self, schema: &ModuleSchema) -> Option<Delivery> {
        self.by_source.retain(|_, list| {
            list.retain(|(m, _)| m != &schema.name);
            !list.is_empty()
        });
        self.logged.insert(
            schema.name.clone(),
            schema
                .tables
                .iter()
                .map(|t| t.persistence == Persistence::Logged)
                .collect(),
        );
        let mut init = None;
        for r in &schema.reducers {
            match &r.trigger {
                Some(Trigger::Table {
                    module,
                    table,
                    event,
                }) => {
                    let list = self
                        .by_source
                        .entry((module.clone(), table.clone(), *event))
                        .or_default();
                    list.push((schema.name.clone(), r.name.clone()));
                    list.sort();
                }
                Some(Trigger::Init) if init.is_none() => {
                    let mut w = Writer::new();
                    w.array(0);
                    init = Some(Delivery {
                        target: schema.name.clone(),
                        reducer: r.name.clone(),
                        args: w.into_vec(),
                        cause: Cause::Init,
                        depth: 0,
                        root: None,
                        cut: false,
                    });
                }
                _ => {}
            }
        }
        self.watched = self.by_source.keys().map(|(m, _, _)| m.clone()).collect();
        init
    }

    /// Forgets an unloaded module's triggers (its own tables' subscribers
    /// are refused at unload, so none is left).
    pub(crate) fn remove_module(&mut self, name: &str) {
        self.by_source.retain(|(source, _, _), list| {
            list.retain(|(m, _)| m != name);
            source != name && !list.is_empty()
        });
        self.logged.remove(name);
        self.watched = self.by_source.keys().map(|(m, _, _)| m.clone()).collect();
    }

    /// Whether some trigger watches `module`'s tables. When it does not, a
    /// commit of `module` without outbound calls causes no delivery, so its
    /// changes need not be built at all.
    pub(crate) fn watches(&self, module: &str) -> bool {
        self.watched.contains(module)
    }

    /// The deliveries a commit causes, keyed for exactly-once tracking.
    pub(crate) fn for_commit(
        &self,
        module: &str,
        schema: &ModuleSchema,
        ts: u64,
        depth: u32,
        calls: &[OutboundCall],
        changes: &[Change],
    ) -> Vec<(DeliveryKey, Delivery)> {
        if calls.is_empty() && (changes.is_empty() || !self.watched.contains(module)) {
            return Vec::new();
        }
        let mut out = Vec::new();
        let mut index = 0u32;
        for c in calls {
            let cause = Cause::Call {
                module: module.to_owned(),
                ts,
                index,
                reply: c.reply.clone(),
            };
            out.push((
                (ts, index),
                Delivery::caused(&c.module, &c.reducer, c.args.clone(), cause, depth),
            ));
            index += 1;
        }
        for ch in changes {
            let subs = self.subscribers(module, schema, ch.table, ch.event);
            if subs.is_empty() {
                continue;
            }
            let args = trigger_args(ch);
            for (sub, reducer) in subs {
                let cause = Cause::Trigger {
                    module: module.to_owned(),
                    ts,
                    index,
                };
                out.push((
                    (ts, index),
                    Delivery::caused(sub, reducer, args.clone(), cause, depth),
                ));
                index += 1;
            }
        }
        out
    }
}

impl Subscriptions {
    /// The triggers a change of table `table` (an index into `schema`'s
    /// tables) of `module` runs, in delivery order: none for an ephemeral
    /// table.
    fn subscribers(
        &self,
        module: &str,
        schema: &ModuleSchema,
        table: u32,
        event: RowEvent,
    ) -> &[Subscriber] {
        let logged = self
            .logged
            .get(module)
            .and_then(|l| l.get(table as usize))
            .copied()
            .unwrap_or(false);
        let Some(t) = schema.tables.get(table as usize).filter(|_| logged) else {
            return &[];
        };
        self.by_source
            .get(&(module.to_owned(), t.name.clone(), event))
            .map_or(&[], Vec::as_slice)
    }

    /// How many deliveries [`Subscriptions::for_commit`] makes for a
    /// commit with `calls` outbound calls and these `(table, event)`
    /// changes, without building them.
    pub(crate) fn count_for(
        &self,
        module: &str,
        schema: &ModuleSchema,
        calls: usize,
        changes: impl Iterator<Item = (u32, RowEvent)>,
    ) -> usize {
        if !self.watched.contains(module) {
            return calls;
        }
        calls
            + changes
                .map(|(t, e)| self.subscribers(module, schema, t, e).len())
                .sum::<usize>()
    }
}

/// The run-time guards on deliveries (from `Limits`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DeliveryLimits {
    /// `Limits::max_trigger_depth`.
    pub max_depth: u32,
    /// `Limits::fanout`.
    pub fanout: u64,
}

impl From<&crate::config::Limits> for DeliveryLimits {
    fn from(l: &crate::config::Limits) -> Self {
        Self {
            max_depth: l.max_trigger_depth,
            fanout: l.fanout,
        }
    }
}

/// One tree of deliveries: how many it was allowed, how many are pending.
#[derive(Debug, Default, Clone, Copy)]
struct Tree {
    made: u64,
    open: u64,
}

/// The fan-out budgets of the delivery trees that still have pending
/// deliveries, by root timestamp. A tree is forgotten once none of its
/// deliveries is pending, so this holds only trees in flight.
#[derive(Debug, Default, Clone)]
pub(crate) struct FanOut {
    trees: HashMap<u64, Tree>,
}

impl FanOut {
    /// The trees of a snapshot: how many deliveries each made, and how many
    /// of the snapshot's pending deliveries are theirs.
    pub(crate) fn restore(trees: &[interstice_persist::FanOutTree], pending: &[Delivery]) -> Self {
        let mut f = FanOut::default();
        for t in trees {
            f.trees.entry(t.root).or_default().made = t.made;
        }
        for d in pending {
            if let Some(root) = d.root {
                f.trees.entry(root).or_default().open += 1;
            }
        }
        f
    }

    /// The trees, for a snapshot.
    pub(crate) fn export(&self) -> Vec<interstice_persist::FanOutTree> {
        let mut v: Vec<_> = self
            .trees
            .iter()
            .map(|(&root, t)| interstice_persist::FanOutTree { root, made: t.made })
            .collect();
        v.sort_by_key(|t| t.root);
        v
    }

    /// A pending delivery of the tree `root` will never be consumed (its
    /// target was unloaded): the tree is forgotten once none is pending.
    pub(crate) fn forget(&mut self, root: Option<u64>) {
        let Some(root) = root else { return };
        if let Some(t) = self.trees.get_mut(&root) {
            t.open = t.open.saturating_sub(1);
            if t.open == 0 {
                self.trees.remove(&root);
            }
        }
    }

    /// Trees in flight.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.trees.len()
    }
}

/// The deliveries a commit at `ts` causes once the guards are applied, and
/// how many the depth limit dropped. `root` is the tree of the delivery the
/// commit consumed (`None`: the commit is a root itself); `ok` whether it
/// committed (a failed commit causes nothing but its reply, and still
/// consumed its delivery). A reply goes through the same guards as any
/// delivery: the depth limit and the fan-out budget.
pub(crate) fn route(
    subs: &Subscriptions,
    fanout: &mut FanOut,
    limits: DeliveryLimits,
    commit: RoutedCommit<'_>,
) -> (Vec<(DeliveryKey, Delivery)>, usize) {
    let root = match commit.root {
        Some(r) => {
            if let Some(t) = fanout.trees.get_mut(&r) {
                t.open = t.open.saturating_sub(1);
            }
            r
        }
        None => commit.ts,
    };
    let mut kept = Vec::new();
    let mut dropped = 0;
    let mut all = if commit.ok {
        subs.for_commit(
            commit.module,
            commit.schema,
            commit.ts,
            commit.depth,
            commit.calls,
            commit.changes,
        )
    } else {
        Vec::new()
    };
    if let Some(reply) = commit.reply {
        let index = all.len() as u32;
        let cause = Cause::Reply {
            module: commit.module.to_owned(),
            ts: commit.ts,
            index,
        };
        all.push((
            (commit.ts, index),
            Delivery::caused(reply.module, reply.reducer, reply.args, cause, commit.depth),
        ));
    }
    for (key, mut d) in all {
        if d.depth > limits.max_depth {
            dropped += 1;
            continue;
        }
        let tree = fanout.trees.entry(root).or_default();
        tree.open += 1;
        d.root = Some(root);
        if tree.made < limits.fanout {
            tree.made += 1;
        } else {
            d.cut = true;
        }
        kept.push((key, d));
    }
    if fanout.trees.get(&root).is_some_and(|t| t.open == 0) {
        fanout.trees.remove(&root);
    }
    (kept, dropped)
}

/// What [`route`] needs to know about a commit.
pub(crate) struct RoutedCommit<'a> {
    pub module: &'a str,
    pub schema: &'a ModuleSchema,
    pub ts: u64,
    pub depth: u32,
    /// The tree of the delivery it consumed (`Execute::root`).
    pub root: Option<u64>,
    pub ok: bool,
    pub calls: &'a [OutboundCall],
    pub changes: &'a [Change],
    /// The reply the commit owes its caller ([`reply_of`]), if any.
    pub reply: Option<Reply<'a>>,
}

/// The reply a commit owes: the caller's reply reducer and its argument
/// array.
#[derive(Debug, Clone)]
pub(crate) struct Reply<'a> {
    pub module: &'a str,
    pub reducer: &'a str,
    pub args: Vec<u8>,
}

/// The reply a commit with this cause and outcome owes, if its cause is a
/// call made with a reply. The same live (from the transaction's result)
/// and in replay (from the record), since the record keeps the `Err` value
/// of a replied commit.
pub(crate) fn reply_of<'a>(cause: &'a Cause, outcome: ReplyOutcome<'_>) -> Option<Reply<'a>> {
    let (module, reducer) = cause.reply_to()?;
    Some(Reply {
        module,
        reducer,
        args: reply_args(outcome),
    })
}

/// A logged outcome as the reply encodes it.
pub(crate) fn reply_outcome(outcome: interstice_persist::OutcomeRef<'_>) -> ReplyOutcome<'_> {
    use interstice_persist::{ErrorKind, OutcomeRef};
    match outcome {
        OutcomeRef::Ok(v) => ReplyOutcome::Ok(v),
        OutcomeRef::Err {
            kind: ErrorKind::UserError,
            value: Some(v),
            ..
        } => ReplyOutcome::Returned(v),
        OutcomeRef::Err { kind, message, .. } => ReplyOutcome::Failed {
            kind: kind.name(),
            message,
        },
    }
}

/// [`reply_outcome`] of an owned outcome.
pub(crate) fn reply_outcome_owned(outcome: &interstice_persist::Outcome) -> ReplyOutcome<'_> {
    reply_outcome(outcome.as_ref())
}

/// The argument array of a trigger reducer: `[row]` for insert and delete,
/// `[old, new]` for update.
fn trigger_args(ch: &Change) -> Vec<u8> {
    let mut w = Writer::new();
    match ch.event {
        RowEvent::Insert => {
            w.array(1);
            w.raw(ch.new.as_deref().unwrap_or(&[]));
        }
        RowEvent::Delete => {
            w.array(1);
            w.raw(ch.old.as_deref().unwrap_or(&[]));
        }
        RowEvent::Update => {
            w.array(2);
            w.raw(ch.old.as_deref().unwrap_or(&[]));
            w.raw(ch.new.as_deref().unwrap_or(&[]));
        }
    }
    w.into_vec()
}

/// The key a commit's own cause consumes, if it was a delivery.
pub(crate) fn consumed_key(
    cause: &Cause,
    install_ts: &HashMap<String, u64>,
    module: &str,
) -> Option<DeliveryKey> {
    match cause {
        Cause::External | Cause::Migration { .. } => None,
        Cause::Init => install_ts.get(module).map(|ts| (*ts, 0)),
        Cause::Call { ts, index, .. }
        | Cause::Trigger { ts, index, .. }
        | Cause::Reply { ts, index, .. } => Some((*ts, *index)),
    }
}

/// Deliveries expected but not yet seen, in key order.
pub(crate) type Outstanding = BTreeMap<DeliveryKey, Delivery>;

#[cfg(test)]
pub(crate) mod tests;
