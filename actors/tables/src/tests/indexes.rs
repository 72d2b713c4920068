//! Index maintenance: after any mix of inserts, updates, deletes,
//! rollbacks, logged mutations (direct and through the replay overlay) and
//! a snapshot restore, every index holds exactly what a rebuild from the
//! rows gives.

use crate::index::IndexData;
use crate::tests::Rng;
use crate::*;
use interstice_abi::cbor::Writer;
use interstice_abi::codec::field;
use interstice_abi::{IndexKind, IndexSchema, Persistence, TableSchema, Type};
use interstice_persist::MutationOpRef;

fn schema() -> Vec<TableSchema> {
    let ix = |name: &str, columns: Vec<u32>, kind| IndexSchema {
        name: name.into(),
        columns,
        kind,
    };
    vec![TableSchema {
        name: "items".into(),
        version: 1,
        columns: vec![
            field("id", Type::U64),
            field("owner", Type::String),
            field("n", Type::I32),
            field("sku", Type::U64),
        ],
        primary_key: 0,
        auto_inc: false,
        persistence: Persistence::Logged,
        indexes: vec![
            ix("by_owner", vec![1], IndexKind::BTree),
            ix("by_n", vec![2], IndexKind::Hash),
            ix("by_sku", vec![3], IndexKind::Unique),
            ix("by_owner_n", vec![1, 2], IndexKind::BTree),
        ],
        defaults: vec![],
        storage: Default::default(),
    }]
}

fn row(id: u64, owner: &str, n: i32, sku: u64) -> Vec<u8> {
    let mut w = Writer::new();
    w.array(4);
    w.u64(id);
    w.str(owner);
    w.i64(i64::from(n));
    w.u64(sku);
    w.into_vec()
}

fn key(id: u64) -> Vec<u8> {
    let mut w = Writer::new();
    w.u64(id);
    w.into_vec()
}

/// Every index's content, comparable.
fn contents(t: &Tables) -> Vec<Vec<Vec<u8>>> {
    t.tables[0]
        .indexes
        .iter()
        .map(|ix| match &ix.data {
            IndexData::Ordered(set) => set.iter().map(|e| e.to_vec()).collect(),
            IndexData::Hash(map) => {
                let mut v: Vec<Vec<u8>> = map
                    .iter()
                    .flat_map(|(k, pks)| pks.iter().map(move |p| [&k[..], &p[..]].concat()))
                    .collect();
                v.sort();
                v
            }
        })
        .collect()
}

fn assert_consistent(t: &Tables, what: &str) {
    let mut fresh = t.clone();
    fresh.tables[0].rebuild_indexes();
    assert_eq!(
        contents(t),
        contents(&fresh),
        "{what}: indexes differ from a rebuild"
    );
    for ix in &t.tables[0].indexes {
        assert_eq!(
            ix.len(),
            t.tables[0].len(),
            "{what}: one entry per row in {}",
            ix.name()
        );
    }
}

#[test]
fn indexes_follow_writes_rollbacks_replay_and_restore() {
    let owners = ["", "a", "a\0", "ab", "b"];
    let mut live = Tables::new(&schema());
    let mut rng = Rng(7);
    let mut logged: Vec<(bool, Vec<u8>)> = Vec::new();
    for round in 0..200 {
        live.begin();
        let mut ops = Vec::new();
        for _ in 0..rng.below(6) {
            let id = rng.below(30);
            let r = row(
                id,
                owners[rng.below(5) as usize],
                rng.below(5) as i32 - 2,
                rng.below(40),
            );
            let res = match rng.below(3) {
                0 => live.insert(0, &r).map(|_| true),
                1 => live.update(0, &r),
                _ => live.delete(0, &key(id)),
            };
            match res {
                Ok(_) => ops.push(()),
                Err(TableError::Constraint(m)) => {
                    assert!(m.contains("items"), "{m}");
                }
                Err(e) => panic!("{e}"),
            }
        }
        if round % 3 == 0 {
            live.rollback();
            assert_consistent(&live, "after a rollback");
        } else {
            for c in live.commit() {
                match c.new {
                    Some(r) => logged.push((false, r.to_vec())),
                    None => logged.push((true, c.key_value.to_vec())),
                }
            }
            assert_consistent(&live, "after a commit");
        }
        let _ = ops;
    }
    // Unique: no two rows share a sku.
    let mut skus: Vec<u64> = live.tables[0]
        .store
        .iter()
        .map(|(_, row)| {
            let row = row.to_row();
            let mut r = interstice_abi::cbor::Reader::new(&row);
            r.array().unwrap();
            r.u64().unwrap();
            r.str().unwrap();
            r.i64().unwrap();
            r.u64().unwrap()
        })
        .collect();
    let n = skus.len();
    skus.sort_unstable();
    skus.dedup();
    assert_eq!(skus.len(), n, "a unique index let a duplicate in");

    // Replay, one mutation at a time and through the overlay.
    let mut direct = Tables::new(&schema());
    let mut overlay = ReplayTables::new(Tables::new(&schema()));
    for (delete, bytes) in &logged {
        let op = if *delete {
            MutationOpRef::Delete(bytes)
        } else {
            MutationOpRef::Update(bytes)
        };
        direct.apply_logged_quiet(0, op).unwrap();
        overlay.apply_quiet(0, op).unwrap();
    }
    assert_eq!(contents(&direct), contents(&live), "direct replay");
    let overlay = overlay.into_tables();
    assert_eq!(contents(&overlay), contents(&live), "overlay replay");

    // Snapshot restore rebuilds them.
    let restored = Tables::restore(&schema(), &live.export_logged()).unwrap();
    assert_eq!(contents(&restored), contents(&live), "restore");
    // An upgrade to a schema without the indexes, and back.
    let mut bare = schema();
    bare[0].indexes.clear();
    let mut up = live.clone();
    up.remap(&bare);
    assert!(up.tables[0].indexes.is_empty());
    up.remap(&schema());
    assert_eq!(contents(&up), contents(&live), "remap");
}

#[test]
fn an_upgrade_adding_a_unique_index_over_duplicates_is_refused() {
    let mut plain = schema();
    plain[0].indexes.retain(|ix| ix.kind != IndexKind::Unique);
    let mut t = Tables::new(&plain);
    t.begin();
    t.insert(0, &row(1, "a", 0, 7)).unwrap();
    t.insert(0, &row(2, "b", 0, 8)).unwrap();
    t.commit();
    assert_eq!(t.unique_violation(&schema()), None, "distinct skus");
    t.begin();
    t.insert(0, &row(3, "c", 0, 7)).unwrap();
    t.commit();
    let (table, what) = t.unique_violation(&schema()).expect("duplicate sku 7");
    assert_eq!(table, "items");
    assert!(what.contains("`by_sku`") && what.contains('7'), "{what}");
}

/// An aggregate examines at most its limit of entries and is refused past
/// it (one host call's time stays bounded); at the limit it answers.
#[test]
fn an_aggregate_over_more_entries_than_its_limit_is_refused() {
    let mut t = Tables::new(&schema());
    t.begin();
    for id in 1..=5 {
        t.insert(0, &row(id, "a", 1, id)).unwrap();
    }
    t.commit();
    // `[[null, null, null, null], count, 0]`: count the whole table.
    let mut w = Writer::new();
    w.array(3);
    w.array(4);
    for _ in 0..4 {
        w.null();
    }
    w.u64(interstice_abi::query::AGG_COUNT);
    w.u64(0);
    let count = w.into_vec();
    let mut five = Writer::new();
    five.u64(5);
    let mut examined = 0;
    assert_eq!(
        t.aggregate_at_most(0, &count, 5, &mut examined).unwrap(),
        five.into_vec()
    );
    assert_eq!(examined, 5, "a count over 5 rows examines 5 entries");
    let whole = t.aggregate(0, &count).unwrap();
    assert_eq!(
        whole.value,
        t.aggregate_at_most(0, &count, 5, &mut 0).unwrap()
    );
    assert_eq!(whole.examined, 5);
    match t.aggregate_at_most(0, &count, 4, &mut 0) {
        Err(TableError::Query(m)) => assert!(m.contains("more than 4 entries"), "{m}"),
        other => panic!("expected a refusal, got {other:?}"),
    }
}
