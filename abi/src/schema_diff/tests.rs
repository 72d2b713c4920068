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
        defaults: vec![],
        storage: Default::default(),
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
        types: vec![],
        bindings: vec![],
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

fn migration(table: &str, from: u32, to: u32, cols: &[Type]) -> crate::ReducerSchema {
    crate::ReducerSchema {
        writes: None,
        recursive: false,
        name: format!("{table}_v{to}"),
        mode: crate::ReducerMode::Write,
        params: vec![field("old", Type::U32)],
        returns: Type::Unit,
        error: None,
        trigger: Some(crate::Trigger::Migration {
            table: table.into(),
            from_version: from,
            to_version: to,
            columns: cols.iter().map(|t| field("c", t.clone())).collect(),
        }),
    }
}

#[test]
fn appended_columns_with_defaults_are_an_automatic_migration() {
    let old = module(vec![table("a", &[("id", Type::U64)], 0)]);
    let mut t = table(
        "a",
        &[("id", Type::U64), ("n", Type::U32), ("s", Type::String)],
        0,
    );
    t.defaults = vec![
        crate::ColumnDefault {
            column: 1,
            value: vec![0x07],
        },
        crate::ColumnDefault {
            column: 2,
            value: vec![0x60],
        },
    ];
    let diff = SchemaDiff::between(&old, &module(vec![t.clone()]));
    assert_eq!(
        diff.tables,
        vec![(
            "a".into(),
            TableChange::Extended {
                defaults: vec![vec![0x07], vec![0x60]]
            }
        )]
    );
    assert_eq!(diff.first_incompatibility(|_| 9), None);
    // One appended column without a default: refused, and said why.
    t.defaults.pop();
    let (_, why) = SchemaDiff::between(&old, &module(vec![t]))
        .first_incompatibility(|_| 0)
        .unwrap();
    assert!(
        why.contains("appended column `s` has no #[default]"),
        "{why}"
    );
}

#[test]
fn a_changed_layout_needs_a_version_bump_and_a_migration() {
    let old = module(vec![table("a", &[("id", Type::U64), ("v", Type::U32)], 0)]);
    let mut t = table("a", &[("id", Type::U64), ("v", Type::U64)], 0);
    let why = |new: &ModuleSchema| {
        SchemaDiff::between(&old, new)
            .first_incompatibility(|_| 0)
            .map(|(_, w)| w)
    };
    assert_eq!(
        why(&module(vec![t.clone()])).unwrap(),
        "logged version 1, new version 1: the layout changed (column 1 (`v`) changed type from \
         u32 to u64) but the version did not: bump the version and declare a \
         #[migration(from_version = 1, to_version = 2)]"
    );
    t.version = 2;
    assert!(why(&module(vec![t.clone()]))
        .unwrap()
        .ends_with("but no #[migration(from_version = 1, to_version = 2)] is declared"));
    // With the migration: migrated by code.
    let mut new = module(vec![t.clone()]);
    new.reducers = vec![migration("a", 1, 2, &[Type::U64, Type::U32])];
    let diff = SchemaDiff::between(&old, &new);
    assert_eq!(why(&new), None);
    assert_eq!(diff.migrations().collect::<Vec<_>>(), vec![("a", "a_v2")]);
    // A migration that reads another layout than the logged one.
    new.reducers = vec![migration("a", 1, 2, &[Type::U64])];
    assert!(why(&new).unwrap().contains("reads rows as (u64)"));
    // A migration from another version does not apply.
    new.reducers = vec![migration("a", 3, 2, &[Type::U64, Type::U32])];
    assert!(why(&new).unwrap().contains("no #[migration"));
    // A version bump alone keeps the rows; a version never goes down.
    let mut same = table("a", &[("id", Type::U64), ("v", Type::U32)], 0);
    same.version = 4;
    assert_eq!(
        SchemaDiff::between(&old, &module(vec![same.clone()])).tables[0].1,
        TableChange::Unchanged
    );
    let (_, down) = SchemaDiff::between(&module(vec![same]), &old)
        .first_incompatibility(|_| 0)
        .unwrap();
    assert_eq!(
        down,
        "logged version 4, new version 1: a table's version cannot go down"
    );
}

fn variants(name: &str, names: &[&str]) -> Type {
    Type::Enum(crate::types::EnumType {
        name: name.into(),
        variants: names
            .iter()
            .map(|n| crate::types::Variant {
                name: (*n).into(),
                fields: vec![],
            })
            .collect(),
    })
}

fn rarity(names: &[&str]) -> Type {
    variants("Rarity", names)
}

fn stats(fields: &[(&str, Type)]) -> Type {
    Type::Struct(crate::types::StructType {
        name: "Stats".into(),
        fields: fields.iter().map(|(n, t)| field(n, t.clone())).collect(),
    })
}

const OLD: &[&str] = &["Common", "Rare", "Epic"];

#[test]
fn an_enum_may_gain_variants_at_the_end_at_any_depth() {
    let more = &["Common", "Rare", "Epic", "Legendary"];
    assert_eq!(type_change(&rarity(OLD), &rarity(more)), None);
    let deep = |r: Type| Type::Vec(Box::new(Type::Option(Box::new(stats(&[("best", r)])))));
    assert_eq!(type_change(&deep(rarity(OLD)), &deep(rarity(more))), None);
    let tuple = |r: Type| Type::Tuple(vec![Type::U8, r]);
    assert_eq!(type_change(&tuple(rarity(OLD)), &tuple(rarity(more))), None);
    // The other way round loses a variant.
    assert_eq!(
        type_change(&rarity(more), &rarity(OLD)).unwrap(),
        "`Rarity`: variants 4 → 3 (`Legendary` removed)"
    );
    // A table keeps its rows.
    let t = |r: Type| table("items", &[("id", Type::U64), ("rarity", r)], 0);
    let diff = SchemaDiff::between(
        &module(vec![t(rarity(OLD))]),
        &module(vec![t(rarity(more))]),
    );
    assert_eq!(diff.tables, vec![("items".into(), TableChange::Unchanged)]);
}

#[test]
fn every_other_type_change_names_the_difference() {
    let change = |a: &Type, b: &Type| type_change(a, b).unwrap();
    assert_eq!(
        change(
            &rarity(OLD),
            &rarity(&["Common", "Uncommon", "Rare", "Epic"])
        ),
        "`Rarity`: variants 3 → 4, and variant 1 is `Uncommon`, was `Rare` (variants may only \
         be added at the end)"
    );
    assert_eq!(
        change(&rarity(OLD), &rarity(&["Common", "Epic", "Rare"])),
        "`Rarity`: variant 1 renamed from `Rare` to `Epic`"
    );
    assert_eq!(
        change(&rarity(OLD), &variants("Rank", OLD)),
        "Rarity → Rank"
    );
    let mut with_field = rarity(OLD);
    if let Type::Enum(e) = &mut with_field {
        e.variants[1].fields.push(field("0", Type::U8));
    }
    assert_eq!(
        change(&rarity(OLD), &with_field),
        "`Rarity::Rare`: fields 0 → 1"
    );
    let s = stats(&[("power", Type::U32), ("best", rarity(OLD))]);
    assert_eq!(
        change(&s, &stats(&[("power", Type::U64), ("best", rarity(OLD))])),
        "field `Stats.power`: u32 → u64"
    );
    assert_eq!(
        change(
            &s,
            &stats(&[("strength", Type::U32), ("best", rarity(OLD))])
        ),
        "`Stats`: field 0 renamed from `power` to `strength`"
    );
    assert_eq!(
        change(&s, &stats(&[("power", Type::U32)])),
        "`Stats`: fields 2 → 1"
    );
    assert_eq!(
        change(
            &s,
            &stats(&[("power", Type::U32), ("best", rarity(&["Common"]))])
        ),
        "field `Stats.best`: `Rarity`: variants 3 → 1 (`Rare`, `Epic` removed)"
    );
    assert_eq!(
        change(
            &Type::Tuple(vec![Type::U8]),
            &Type::Tuple(vec![Type::U8, Type::U8])
        ),
        "tuple of 1 items → 2"
    );
    assert_eq!(
        change(
            &Type::Option(Box::new(s.clone())),
            &Type::Option(Box::new(stats(&[])))
        ),
        "`Stats`: fields 2 → 0"
    );
}

#[test]
fn a_refused_column_names_what_changed_in_its_type() {
    let t = |r: Type| {
        table(
            "items",
            &[
                ("id", Type::U64),
                ("owner", Type::String),
                ("name", Type::String),
                ("rarity", r),
            ],
            0,
        )
    };
    let why = |new: Type| {
        SchemaDiff::between(&module(vec![t(rarity(OLD))]), &module(vec![t(new)]))
            .first_incompatibility(|_| 0)
            .map(|(_, w)| w)
            .unwrap()
    };
    assert_eq!(
        why(rarity(&["Common", "Uncommon", "Rare", "Epic"])),
        "logged version 1, new version 1: the layout changed (column 3 (`rarity`) changed type: \
         `Rarity`: variants 3 → 4, and variant 1 is `Uncommon`, was `Rare` (variants may only be \
         added at the end)) but the version did not: bump the version and declare a \
         #[migration(from_version = 1, to_version = 2)]"
    );
    // Types with different names keep the short form.
    assert!(why(Type::U8).contains("column 3 (`rarity`) changed type from Rarity to u8)"));
}

#[test]
fn widening_names_the_appended_variants() {
    let more = &["Common", "Rare", "Epic", "Legendary", "Mythic"];
    assert_eq!(
        widening(&rarity(OLD), &rarity(more)).unwrap(),
        "`Rarity`: variants 3 → 5 (`Legendary`, `Mythic` added at the end)"
    );
    let inside = |r: Type| Type::Option(Box::new(stats(&[("power", Type::U32), ("best", r)])));
    assert_eq!(
        widening(&inside(rarity(OLD)), &inside(rarity(more))).unwrap(),
        "`Rarity`: variants 3 → 5 (`Legendary`, `Mythic` added at the end)"
    );
    assert_eq!(widening(&rarity(OLD), &rarity(OLD)), None);
    assert_eq!(widening(&Type::U8, &Type::U16), None);
}
