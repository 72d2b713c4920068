use std::collections::BTreeSet;

use interstice_abi::{RowEvent, TableSchema, Type};

use crate::apply::{merge_sorted, write_each, SortedChange};
use crate::entry::Entry;
use crate::*;
use interstice_abi::codec::field;
use interstice_abi::{IntersticeType, Persistence};

fn accounts() -> Tables {
    Tables::new(&[TableSchema {
        name: "accounts".into(),
        version: 1,
        columns: vec![field("id", Type::U64), field("balance", Type::U64)],
        primary_key: 0,
        auto_inc: true,
        persistence: Persistence::Logged,
        indexes: vec![],
        defaults: vec![],
        storage: Default::default(),
    }])
}

#[test]
fn remap_keeps_rows_and_counters_by_name() {
    let mut t = accounts();
    t.begin();
    t.insert(0, &(0u64, 10u64).to_bytes()).unwrap();
    t.insert(0, &(0u64, 20u64).to_bytes()).unwrap();
    t.commit();
    let audit = TableSchema {
        name: "audit".into(),
        version: 1,
        columns: vec![field("id", Type::U64)],
        primary_key: 0,
        auto_inc: false,
        persistence: Persistence::Logged,
        indexes: vec![],
        defaults: vec![],
        storage: Default::default(),
    };
    // The new schema puts a new table first: `accounts` moves to #1.
    let kept = t.table(0).unwrap().schema.as_ref().clone();
    t.remap(&[audit, kept.clone()]);
    assert_eq!(
        t.row_counts(),
        vec![("audit".into(), 0), ("accounts".into(), 2)]
    );
    assert_eq!(t.rows_of("accounts"), 2);
    t.begin();
    let row = t.insert(1, &(0u64, 5u64).to_bytes()).unwrap().to_vec();
    assert_eq!(<(u64, u64)>::from_bytes(&row).unwrap(), (3, 5));
    t.commit();
    // Dropping `audit` (empty) and keeping `accounts`.
    t.remap(&[kept]);
    assert_eq!(t.row_counts(), vec![("accounts".into(), 3)]);
    assert_eq!(t.rows_of("audit"), 0);
}

#[test]
fn auto_inc_and_rollback() {
    let mut t = accounts();
    t.begin();
    let row = t.insert(0, &(0u64, 10u64).to_bytes()).unwrap().to_vec();
    assert_eq!(<(u64, u64)>::from_bytes(&row).unwrap(), (1, 10));
    t.commit();

    t.begin();
    t.insert(0, &(0u64, 5u64).to_bytes()).unwrap();
    assert!(t.update(0, &(1u64, 99u64).to_bytes()).unwrap());
    assert!(t.delete(0, &1u64.to_bytes()).unwrap());
    t.rollback();
    let tab = t.table(0).unwrap();
    assert_eq!(tab.len(), 1);
    assert_eq!(tab.next_auto_inc(), 2, "counter rolled back too");
    let got = t.get(0, &1u64.to_bytes()).unwrap().unwrap();
    assert_eq!(<(u64, u64)>::from_bytes(&got).unwrap(), (1, 10));
}

#[test]
fn entry_order_is_the_byte_order_of_the_keys() {
    let mut keys: Vec<Vec<u8>> = vec![vec![], vec![0], vec![0, 0], vec![1], vec![0xff]];
    for v in [0u64, 1, 255, 256, 1 << 32, u64::MAX - 1, u64::MAX] {
        keys.push(v.to_be_bytes().to_vec());
        keys.push(u128::from(v).to_be_bytes().to_vec());
        keys.push((u128::from(v) << 64).to_be_bytes().to_vec());
        let mut nine = v.to_be_bytes().to_vec();
        nine.push(7);
        keys.push(nine);
        keys.push(v.to_be_bytes()[..7].to_vec());
    }
    keys.push(vec![b'k'; 200]);
    keys.push(vec![b'k'; 201]);
    for a in &keys {
        for b in &keys {
            let (ea, eb) = (Entry::new(a, b"row"), Entry::new(b, b""));
            assert_eq!(ea.cmp(&eb), a.cmp(b), "{a:?} vs {b:?}");
            assert_eq!(ea.key(), &a[..]);
            assert_eq!(eb.row(), b"");
        }
    }
    // A set of entries (rows long enough for a two-byte length) is looked
    // up by probes over the keys, and ranged over by probe bounds.
    let long_row = vec![0xabu8; 300];
    let set: std::collections::BTreeSet<Entry> =
        keys.iter().map(|k| Entry::new(k, &long_row)).collect();
    let mut sorted = keys.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(set.len(), sorted.len());
    for (i, k) in sorted.iter().enumerate() {
        let found = crate::entry::with_probe(k, |p| set.get(p).map(|e| e.parts()));
        assert_eq!(found, Some((&k[..], &long_row[..])));
        let after: Vec<&[u8]> = crate::entry::with_probe_bounds(
            std::ops::Bound::Excluded(k),
            std::ops::Bound::Unbounded,
            |lo, hi| {
                set.range::<crate::entry::Head, _>((lo, hi))
                    .map(|e| e.key())
                    .collect()
            },
        );
        assert_eq!(
            after,
            sorted[i + 1..]
                .iter()
                .map(Vec::as_slice)
                .collect::<Vec<_>>()
        );
        let mut missing = k.clone();
        missing.push(0);
        if !sorted.contains(&missing) {
            assert!(crate::entry::with_probe(&missing, |p| !set.contains(p)));
        }
    }
    let cloned = set.iter().next().cloned();
    assert_eq!(cloned.map(|e| e.row().len()), Some(300));
}

#[test]
fn apply_logged_quiet_changes_the_tables_exactly_like_apply_logged() {
    use interstice_persist::MutationOp;
    let ops = [
        (0, MutationOp::Insert((5u64, 10u64).to_bytes())),
        (0, MutationOp::Update((5u64, 11u64).to_bytes())),
        (0, MutationOp::Insert((9u64, 1u64).to_bytes())),
        (0, MutationOp::Delete(9u64.to_bytes())),
        (0, MutationOp::Delete(42u64.to_bytes())),
        (0, MutationOp::Insert(vec![0x80])),
        (3, MutationOp::Insert((1u64, 1u64).to_bytes())),
    ];
    let (mut loud, mut quiet) = (accounts(), accounts());
    for (table, op) in &ops {
        let a = loud.apply_logged(*table, op).map(|_| ());
        let b = quiet.apply_logged_quiet(*table, op.as_ref());
        assert_eq!(format!("{a:?}"), format!("{b:?}"));
    }
    assert_eq!(loud.export_logged(), quiet.export_logged());
    let (old, new) = match loud.apply_logged(0, &ops[1].1).unwrap() {
        (RowEvent::Update, old, new) => (old, new),
        other => panic!("{:?}", other.0),
    };
    assert_eq!(old.as_deref(), Some(&(5u64, 11u64).to_bytes()[..]));
    assert_eq!(new.as_deref(), Some(&(5u64, 11u64).to_bytes()[..]));
}

#[test]
fn sorted_writes_merged_or_one_by_one_give_the_same_rows() {
    use std::collections::BTreeMap;
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    // Keys of 0 to 11 bytes over a small alphabet: 8-byte keys take the
    // integer comparison, the others `memcmp`; many share prefixes.
    let key = |next: &mut dyn FnMut() -> u64| {
        let len = (next() % 12) as usize;
        (0..len).map(|_| (next() % 3) as u8).collect::<Vec<u8>>()
    };
    for round in 0..200 {
        let mut model = BTreeMap::new();
        let mut rows = BTreeSet::new();
        for _ in 0..next() % 300 {
            let (k, v) = (key(&mut next), next().to_be_bytes().to_vec());
            model.insert(k.clone(), v.clone());
            rows.replace(Entry::new(&k, &v));
        }
        let mut writes = BTreeMap::new();
        for _ in 0..next() % 300 {
            let row = (next() % 3 != 0).then(|| vec![7u8; (next() % 5) as usize]);
            writes.insert(key(&mut next), row);
        }
        for (k, row) in &writes {
            match row {
                Some(v) => model.insert(k.clone(), v.clone()),
                None => model.remove(k),
            };
        }
        let batch = || {
            writes.iter().map(|(k, row)| SortedChange {
                entry: Entry::new(k, row.as_deref().unwrap_or_default()),
                delete: row.is_none(),
            })
        };
        let (mut merged, mut each) = (rows.clone(), rows);
        merge_sorted(&mut merged, batch());
        write_each(&mut each, batch());
        let want: Vec<(Vec<u8>, Vec<u8>)> = model.into_iter().collect();
        for got in [merged, each] {
            let got: Vec<(Vec<u8>, Vec<u8>)> = got
                .iter()
                .map(|e| (e.key().to_vec(), e.row().to_vec()))
                .collect();
            assert_eq!(got, want, "round {round}");
        }
    }
}

#[test]
fn duplicate_key_is_a_constraint_violation() {
    let mut t = accounts();
    t.begin();
    t.insert(0, &(7u64, 1u64).to_bytes()).unwrap();
    assert!(matches!(
        t.insert(0, &(7u64, 2u64).to_bytes()),
        Err(TableError::Constraint(_))
    ));
}

#[test]
fn one_entry_per_row_keeps_order_scans_and_state_across_restore() {
    let schema = TableSchema {
        name: "names".into(),
        version: 1,
        columns: vec![field("name", Type::String), field("n", Type::U64)],
        primary_key: 0,
        auto_inc: false,
        persistence: Persistence::Logged,
        indexes: vec![],
        defaults: vec![],
        storage: Default::default(),
    };
    let mut t = Tables::new(std::slice::from_ref(&schema));
    // Keys longer than 127 bytes take a two-byte length prefix.
    let names = ["b".to_string(), "a".repeat(300), "c".repeat(127), "".into()];
    t.begin();
    for (i, n) in names.iter().enumerate() {
        t.insert(0, &(n.clone(), i as u64).to_bytes()).unwrap();
    }
    assert!(!t.update(0, &("zz".to_string(), 1u64).to_bytes()).unwrap());
    assert!(t.update(0, &("b".to_string(), 9u64).to_bytes()).unwrap());
    t.commit();
    assert_eq!(t.table(0).unwrap().len(), 4, "a failed update adds nothing");
    let got = t.get(0, &"b".to_string().to_bytes()).unwrap().unwrap();
    assert_eq!(<(String, u64)>::from_bytes(&got).unwrap(), ("b".into(), 9));
    // A scan visits the rows in key order.
    let mut seen = Vec::new();
    let mut after: Option<Key> = None;
    while let Some((k, row)) = t.table(0).unwrap().next_after(after.as_deref()) {
        seen.push(<(String, u64)>::from_bytes(&row).unwrap().0);
        after = Some(k.into());
    }
    let mut sorted = names.to_vec();
    sorted.sort();
    assert_eq!(seen, sorted);
    // Export, restore: the same rows and the same hash.
    let saved = t.export_logged();
    let back = Tables::restore(std::slice::from_ref(&schema), &saved).unwrap();
    let hash = |t: &Tables| {
        let mut h = blake3::Hasher::new();
        t.state_hash(&mut h);
        h.finalize()
    };
    assert_eq!(hash(&t), hash(&back));
    assert_eq!(back.export_logged()[0].rows, saved[0].rows);
    // Delete and roll back.
    let mut t = back;
    t.begin();
    assert!(t.delete(0, &"b".to_string().to_bytes()).unwrap());
    assert!(t.get(0, &"b".to_string().to_bytes()).unwrap().is_none());
    t.rollback();
    assert_eq!(hash(&t), hash(&Tables::restore(&[schema], &saved).unwrap()));
}

#[test]
fn bad_rows_are_refused() {
    let mut t = accounts();
    t.begin();
    assert!(t.insert(0, &("x".to_string(), 1u64).to_bytes()).is_err());
    assert!(t.insert(0, &[0xff, 0x00]).is_err());
    assert!(t.insert(5, &(1u64, 1u64).to_bytes()).is_err());
}

#[test]
fn upgrade_extends_rows_with_defaults_and_sets_migrated_tables_aside() {
    use interstice_abi::schema_diff::SchemaDiff;
    let mut t = accounts();
    t.begin();
    t.insert(0, &(0u64, 10u64).to_bytes()).unwrap();
    t.insert(0, &(0u64, 20u64).to_bytes()).unwrap();
    t.commit();
    let old_schema = t.table(0).unwrap().schema.as_ref().clone();
    let module = |tables: Vec<TableSchema>| interstice_abi::ModuleSchema {
        abi_version: interstice_abi::ABI_VERSION,
        name: "m".into(),
        version: "1".into(),
        dependencies: vec![],
        tables,
        reducers: vec![],
        types: vec![],
        bindings: vec![],
    };
    // Automatic: a column `stars: u8` with default 3.
    let mut extended = old_schema.clone();
    extended.columns.push(field("stars", Type::U8));
    extended.defaults = vec![interstice_abi::ColumnDefault {
        column: 2,
        value: 3u8.to_bytes(),
    }];
    let diff = SchemaDiff::between(
        &module(vec![old_schema.clone()]),
        &module(vec![extended.clone()]),
    );
    let mut up = t.clone();
    assert!(up
        .upgrade(std::slice::from_ref(&extended), &diff)
        .is_empty());
    let rows: Vec<(u64, u64, u8)> = {
        let table = up.table(0).unwrap();
        let mut out = Vec::new();
        let mut after: Option<Vec<u8>> = None;
        while let Some((k, row)) = table.next_after(after.as_deref()) {
            out.push(<(u64, u64, u8)>::from_bytes(&row).unwrap());
            after = Some(k.to_vec());
        }
        out
    };
    assert_eq!(rows, vec![(1, 10, 3), (2, 20, 3)]);
    // New rows take the new layout; the old one is refused.
    up.begin();
    up.insert(0, &(0u64, 5u64, 9u8).to_bytes()).unwrap();
    assert!(up.insert(0, &(0u64, 5u64).to_bytes()).is_err());
    up.commit();

    // By code: the table starts empty, the old one is handed back.
    let mut migrated = old_schema.clone();
    migrated.version = 2;
    migrated.columns[1].ty = Type::String;
    let mut new = module(vec![migrated.clone()]);
    new.reducers = vec![interstice_abi::ReducerSchema {
        writes: None,
        recursive: false,
        name: "m2".into(),
        mode: interstice_abi::ReducerMode::Write,
        params: vec![field("old", Type::U32)],
        returns: Type::Unit,
        error: None,
        trigger: Some(interstice_abi::Trigger::Migration {
            table: "accounts".into(),
            from_version: 1,
            to_version: 2,
            columns: old_schema.columns.clone(),
        }),
    }];
    let diff = SchemaDiff::between(&module(vec![old_schema]), &new);
    let shadows = t.upgrade(std::slice::from_ref(&migrated), &diff);
    assert_eq!(t.rows_of("accounts"), 0);
    assert_eq!(shadows.len(), 1);
    assert_eq!((shadows[0].0.as_str(), shadows[0].1.len()), ("accounts", 2));
    // Attached, the old rows are table #1, unlogged; detached again after.
    let id = t.attach_shadow(shadows.into_iter().next().unwrap().1);
    assert_eq!(id, 1);
    assert!(!t.table(1).unwrap().is_logged());
    assert_eq!(t.detach_shadow().map(|s| s.len()), Some(2));
    assert!(t.table(1).is_none());
}
