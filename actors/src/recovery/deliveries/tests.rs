//! Unit tests of `deliveries`.

use super::*;
use interstice_abi::codec::field;
use interstice_abi::{ReducerMode, ReducerSchema, TableSchema, Type, ABI_VERSION};

/// Module `name` with `tables` (of one u64 key) and, for each `(reducer,
/// table)` of `watch`, a trigger on inserts into `src.table`.
pub(crate) fn schema(name: &str, tables: &[&str], watch: &[(&str, &str)]) -> ModuleSchema {
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
                defaults: vec![],
                storage: Default::default(),
            })
            .collect(),
        reducers: watch
            .iter()
            .map(|(reducer, table)| ReducerSchema {
                writes: None,
                recursive: false,
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
        types: vec![],
        bindings: vec![],
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

/// A trigger that inserts two rows into its own table: every commit
/// fires it twice. The budget lets the tree make exactly `fanout`
/// deliveries, cuts the rest (each cut one still runs, as a failed
/// commit, and causes nothing), so the storm ends; then the tree is
/// forgotten.
#[test]
fn the_fanout_budget_ends_a_storm_and_forgets_the_tree() {
    let src = schema("src", &["a"], &[("on_a", "a")]);
    let mut subs = Subscriptions::default();
    subs.add_module(&src);
    let limits = DeliveryLimits {
        max_depth: 1000,
        fanout: 50,
    };
    let mut fanout = FanOut::default();
    let two = [insert_into(0), insert_into(0)];
    let commit = |ts, root, ok, changes: &'static [Change]| RoutedCommit {
        module: "src",
        schema: &src,
        ts,
        depth: 0,
        root,
        ok,
        calls: &[],
        changes,
        reply: None,
    };
    let two: &'static [Change] = Box::leak(Box::new(two));
    let (mut queue, _) = route(&subs, &mut fanout, limits, commit(1, None, true, two));
    let (mut ts, mut made, mut cut) = (1, queue.len(), 0);
    while let Some((_, d)) = queue.pop() {
        ts += 1;
        assert_eq!(d.root, Some(1));
        if d.cut {
            cut += 1;
            let (more, _) = route(&subs, &mut fanout, limits, commit(ts, d.root, false, &[]));
            assert!(more.is_empty());
            continue;
        }
        let (more, _) = route(&subs, &mut fanout, limits, commit(ts, d.root, true, two));
        made += more.iter().filter(|(_, d)| !d.cut).count();
        queue.extend(more);
    }
    assert_eq!(made, 50, "exactly the budget ran");
    assert!(cut > 0 && cut <= 2 * 50, "{cut} cut");
    assert_eq!(fanout.len(), 0, "a finished tree is forgotten");
}
