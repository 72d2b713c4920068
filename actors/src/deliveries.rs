//! Which deliveries (async calls, triggers, init) a log entry causes, in
//! their one deterministic order. The router uses this live; replay uses the
//! same code to find the deliveries that were still pending at a crash.
//!
//! Order for a commit at timestamp `ts`: its outbound calls in the order the
//! reducer made them (indexes `0..calls`), then for each change in order, each
//! subscriber of `(module, table, event)` sorted by (module, reducer name).
//! An install causes at most one delivery: the module's init reducer.

use std::collections::{BTreeMap, HashMap, HashSet};

use interstice_abi::cbor::Writer;
use interstice_abi::{ModuleSchema, Persistence, RowEvent, Trigger};
use interstice_persist::{Cause, OutboundCall};

use crate::messages::Delivery;
use crate::table::Change;

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
    pub fn add_module(&mut self, schema: &ModuleSchema) -> Option<Delivery> {
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
                    });
                }
                _ => {}
            }
        }
        self.watched = self.by_source.keys().map(|(m, _, _)| m.clone()).collect();
        init
    }

    /// Whether some trigger watches `module`'s tables. When it does not, a
    /// commit of `module` without outbound calls causes no delivery, so its
    /// changes need not be built at all.
    pub fn watches(&self, module: &str) -> bool {
        self.watched.contains(module)
    }

    /// The deliveries a commit causes, keyed for exactly-once tracking.
    pub fn for_commit(
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
            out.push((
                (ts, index),
                Delivery {
                    target: c.module.clone(),
                    reducer: c.reducer.clone(),
                    args: c.args.clone(),
                    cause: Cause::Call {
                        module: module.to_owned(),
                        ts,
                        index,
                    },
                    depth: depth + 1,
                },
            ));
            index += 1;
        }
        let logged = self.logged.get(module);
        for ch in changes {
            if !logged
                .and_then(|l| l.get(ch.table as usize))
                .copied()
                .unwrap_or(false)
            {
                continue;
            }
            let Some(table) = schema.tables.get(ch.table as usize) else {
                continue;
            };
            let Some(subs) = self
                .by_source
                .get(&(module.to_owned(), table.name.clone(), ch.event))
            else {
                continue;
            };
            let args = trigger_args(ch);
            for (sub, reducer) in subs {
                out.push((
                    (ts, index),
                    Delivery {
                        target: sub.clone(),
                        reducer: reducer.clone(),
                        args: args.clone(),
                        cause: Cause::Trigger {
                            module: module.to_owned(),
                            ts,
                            index,
                        },
                        depth: depth + 1,
                    },
                ));
                index += 1;
            }
        }
        out
    }
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
        Cause::External => None,
        Cause::Init => install_ts.get(module).map(|ts| (*ts, 0)),
        Cause::Call { ts, index, .. } | Cause::Trigger { ts, index, .. } => Some((*ts, *index)),
    }
}

/// Deliveries expected but not yet seen, in key order.
pub(crate) type Outstanding = BTreeMap<DeliveryKey, Delivery>;

#[cfg(test)]
mod tests {
    use super::*;
    use interstice_abi::codec::field;
    use interstice_abi::{ReducerMode, ReducerSchema, TableSchema, Type, ABI_VERSION};

    fn schema(name: &str, tables: &[&str], watch: &[(&str, &str)]) -> ModuleSchema {
        ModuleSchema {
            abi_version: ABI_VERSION,
            name: name.into(),
            version: "1".into(),
            dependencies: vec![],
            tables: tables
                .iter()
                .map(|t| TableSchema {
                    name: (*t).into(),
                    version: 1,
                    columns: vec![field("id", Type::U64)],
                    primary_key: 0,
                    auto_inc: false,
                    persistence: Persistence::Logged,
                    indexes: vec![],
                })
                .collect(),
            reducers: watch
                .iter()
                .map(|(reducer, table)| ReducerSchema {
                    name: (*reducer).into(),
                    mode: ReducerMode::Write,
                    params: vec![],
                    returns: Type::Unit,
                    error: None,
                    trigger: Some(Trigger::Table {
                        module: "src".into(),
                        table: (*table).into(),
                        event: RowEvent::Insert,
                    }),
                })
                .collect(),
        }
    }

    fn insert_into(table: u32) -> Change {
        Change {
            table,
            event: RowEvent::Insert,
            key: Box::default(),
            old: None,
            new: Some(vec![0x81, 0x01].into_boxed_slice()),
            key_value: Box::default(),
        }
    }

    #[test]
    fn a_new_version_replaces_its_subscriptions() {
        let src = schema("src", &["a", "b"], &[]);
        let mut subs = Subscriptions::default();
        subs.add_module(&src);
        subs.add_module(&schema("sub", &[], &[("on_a", "a")]));
        subs.add_module(&schema("other", &[], &[("on_a", "a")]));
        let targets = |subs: &Subscriptions, table: u32| -> Vec<(String, String)> {
            subs.for_commit("src", &src, 5, 0, &[], &[insert_into(table)])
                .into_iter()
                .map(|(_, d)| (d.target, d.reducer))
                .collect()
        };
        assert_eq!(
            targets(&subs, 0),
            vec![
                ("other".into(), "on_a".into()),
                ("sub".into(), "on_a".into())
            ]
        );
        // Version 2 of `sub` watches `b` instead of `a`, under a new name.
        subs.add_module(&schema("sub", &[], &[("on_b", "b")]));
        assert_eq!(targets(&subs, 0), vec![("other".into(), "on_a".into())]);
        assert_eq!(targets(&subs, 1), vec![("sub".into(), "on_b".into())]);
        // Adding the same version again does not deliver twice.
        subs.add_module(&schema("sub", &[], &[("on_b", "b")]));
        assert_eq!(targets(&subs, 1).len(), 1);
    }
}
