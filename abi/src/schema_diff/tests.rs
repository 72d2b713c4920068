//! Unit tests of `schema_diff`.

use super::*;
use crate::codec::field;
use crate::schema::Persistence;
use crate::{Type, ABI_VERSION};

fn table(name: &str, cols: &[(&str, Type)], pk: u32) -> TableSchema {
    TableSchema {
        name: name.into(),
        version: 1,
        columns: cols.iter().map(|(n, t)| field(n, t.clone())).collect(),
        primary_key: pk,
        auto_inc: false,
        persistence: Persistence::Logged,
        indexes: vec![],
    }
}

fn module(tables: Vec<TableSchema>) -> ModuleSchema {
    ModuleSchema {
        abi_version: ABI_VERSION,
        name: "m".into(),
        version: "1".into(),
        dependencies: vec![],
        tables,
        reducers: vec![],
    }
}

#[test]
fn added_and_empty_removed_tables_are_compatible() {
    let old = module(vec![
        table("a", &[("id", Type::U64)], 0),
        table("gone", &[("id", Type::U64)], 0),
    ]);
    let new = module(vec![
        table("a", &[("id", Type::U64)], 0),
        table("b", &[("id", Type::U64)], 0),
    ]);
    let diff = SchemaDiff::between(&old, &new);
    assert_eq!(
        diff.tables,
        vec![
            ("a".into(), TableChange::Unchanged),
            ("gone".into(), TableChange::Removed),
            ("b".into(), TableChange::Added),
        ]
    );
    assert_eq!(diff.first_incompatibility(|_| 0), None);
    let (t, why) = diff.first_incompatibility(|_| 3).unwrap();
    assert_eq!(t, "gone");
    assert!(why.contains("3 rows"), "{why}");
}

#[test]
fn changed_types_and_keys_are_named() {
    let old = module(vec![table("a", &[("id", Type::U64), ("v", Type::U32)], 0)]);
    let typed = module(vec![table(
        "a",
        &[("id", Type::U64), ("v", Type::String)],
        0,
    )]);
    let (t, why) = SchemaDiff::between(&old, &typed)
        .first_incompatibility(|_| 0)
        .unwrap();
    assert_eq!(t, "a");
    assert!(
        why.contains("`v`") && why.contains("u32") && why.contains("String"),
        "{why}"
    );
    let rekeyed = module(vec![table("a", &[("id", Type::U64), ("v", Type::U32)], 1)]);
    let (_, why) = SchemaDiff::between(&old, &rekeyed)
        .first_incompatibility(|_| 0)
        .unwrap();
    assert!(why.contains("primary key"), "{why}");
}
