//! Unit tests of `schema`.

use super::*;
use crate::codec::field;
use crate::IntersticeType;

pub(crate) fn sample() -> ModuleSchema {
    ModuleSchema {
        abi_version: ABI_VERSION,
        name: "bank".into(),
        version: "0.1.0".into(),
        dependencies: vec![],
        tables: vec![TableSchema {
            name: "accounts".into(),
            version: 1,
            columns: vec![field("id", Type::U64), field("balance", Type::U64)],
            primary_key: 0,
            auto_inc: true,
            persistence: Persistence::Logged,
            indexes: vec![],
            defaults: vec![],
            storage: Default::default(),
        }],
        reducers: vec![ReducerSchema {
            writes: None,
            recursive: false,
            name: "deposit".into(),
            mode: ReducerMode::Write,
            params: vec![field("id", Type::U64), field("amount", Type::U64)],
            returns: Type::Unit,
            error: Some(Type::String),
            trigger: None,
        }],
        types: vec![],
        bindings: vec![],
    }
}

#[test]
fn schema_roundtrip_and_hash_is_stable() {
    let s = sample();
    let bytes = s.canonical_bytes();
    let back = ModuleSchema::decode(&bytes).unwrap();
    assert_eq!(back, s);
    assert_eq!(back.hash(), s.hash());
}

#[test]
fn abi_mismatch_is_reported() {
    let mut s = sample();
    s.abi_version = ABI_VERSION + 1;
    let err = ModuleSchema::decode(&s.canonical_bytes()).unwrap_err();
    assert!(matches!(err, AbiError::AbiMismatch { .. }), "{err}");
}

#[test]
fn triggers_parse() {
    assert_eq!(Trigger::parse("init").unwrap(), Trigger::Init);
    assert!(matches!(
        Trigger::parse("hello.greetings.insert").unwrap(),
        Trigger::Table {
            event: RowEvent::Insert,
            ..
        }
    ));
    assert!(Trigger::parse("hello.greetings").is_err());
    assert!(Trigger::parse("a.b.upsert").is_err());
}

/// The layouts of `ModuleSchema`, `TableSchema` and `ReducerSchema` before
/// column defaults and trigger `writes` existed (field for field), to show
/// the encoding of a schema without either did not change.
#[derive(serde::Serialize, serde::Deserialize)]
struct ModuleSchemaBefore {
    abi_version: u32,
    name: String,
    version: String,
    dependencies: Vec<String>,
    tables: Vec<TableSchemaBefore>,
    reducers: Vec<ReducerSchemaBefore>,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct ReducerSchemaBefore {
    name: String,
    mode: ReducerMode,
    params: Vec<crate::types::Field>,
    returns: Type,
    error: Option<Type>,
    trigger: Option<Trigger>,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct TableSchemaBefore {
    name: String,
    version: u32,
    columns: Vec<crate::types::Field>,
    primary_key: u32,
    auto_inc: bool,
    persistence: Persistence,
    indexes: Vec<IndexSchema>,
}

fn before(s: &ModuleSchema) -> ModuleSchemaBefore {
    ModuleSchemaBefore {
        abi_version: s.abi_version,
        name: s.name.clone(),
        version: s.version.clone(),
        dependencies: s.dependencies.clone(),
        tables: s
            .tables
            .iter()
            .map(|t| TableSchemaBefore {
                name: t.name.clone(),
                version: t.version,
                columns: t.columns.clone(),
                primary_key: t.primary_key,
                auto_inc: t.auto_inc,
                persistence: t.persistence,
                indexes: t.indexes.clone(),
            })
            .collect(),
        reducers: s
            .reducers
            .iter()
            .map(|r| ReducerSchemaBefore {
                name: r.name.clone(),
                mode: r.mode,
                params: r.params.clone(),
                returns: r.returns.clone(),
                error: r.error.clone(),
                trigger: r.trigger.clone(),
            })
            .collect(),
    }
}

/// `sample()` with a trigger on its own table.
fn with_trigger() -> ModuleSchema {
    let mut s = sample();
    s.reducers.push(ReducerSchema {
        name: "on_account".into(),
        mode: ReducerMode::Write,
        params: vec![field("row", s.tables[0].row_type())],
        returns: Type::Unit,
        error: None,
        trigger: Some(Trigger::parse("bank.accounts.insert").unwrap()),
        writes: None,
        recursive: false,
    });
    s
}

#[test]
fn a_trigger_without_writes_encodes_and_hashes_as_before() {
    let s = with_trigger();
    let mut old = Vec::new();
    ciborium::into_writer(&before(&s), &mut old).unwrap();
    assert_eq!(
        s.canonical_bytes(),
        old,
        "undeclared writes moved the encoding"
    );
    assert_eq!(s.hash(), *blake3::hash(&old).as_bytes());
    let back = ModuleSchema::decode(&old).unwrap();
    assert_eq!(back.reducers[1].writes, None);
    assert!(!back.reducers[1].recursive);
    // Declared (even empty) writes and `recursive` are encoded, and read back.
    let mut w = with_trigger();
    w.reducers[1].writes = Some(vec![]);
    assert_ne!(w.canonical_bytes(), old);
    assert_eq!(ModuleSchema::decode(&w.canonical_bytes()).unwrap(), w);
    w.reducers[1].writes = Some(vec!["accounts".into()]);
    w.reducers[1].recursive = true;
    let back = ModuleSchema::decode(&w.canonical_bytes()).unwrap();
    assert_eq!(back, w);
    // docs/ABI.md's worked example: the reducer map's last two entries.
    let mut r = Vec::new();
    ciborium::into_writer(&w.reducers[1], &mut r).unwrap();
    assert_eq!(r[0], 0xa8, "a map of 8 entries");
    let tail: Vec<u8> = [
        "66 77 72 69 74 65 73",
        "81 68 61 63 63 6f 75 6e 74 73",
        "69 72 65 63 75 72 73 69 76 65",
        "f5",
    ]
    .join(" ")
    .split(' ')
    .map(|h| u8::from_str_radix(h, 16).unwrap())
    .collect();
    assert!(r.ends_with(&tail), "{r:02x?}");
    assert_eq!(
        back.reducers[1].writes.as_deref(),
        Some(&["accounts".to_string()][..])
    );
}

#[test]
fn a_schema_without_defaults_encodes_and_hashes_as_before() {
    let s = sample();
    let mut old = Vec::new();
    ciborium::into_writer(&before(&s), &mut old).unwrap();
    assert_eq!(
        s.canonical_bytes(),
        old,
        "the encoding of an unchanged schema moved"
    );
    // Pinned: the hash of `sample()` (that is, of a module built with the
    // SDK before table versions could change) stays what it was.
    assert_eq!(
        blake3::Hash::from(s.hash()).to_hex().as_str(),
        blake3::hash(&old).to_hex().as_str()
    );
    assert_eq!(
        blake3::Hash::from(s.hash()).to_hex().as_str(),
        "89f8a46a812b557d853b1d57a09fbebef7a209f0e67489da3f3513944e9b73d0"
    );
    let back = ModuleSchema::decode(&old).unwrap();
    assert_eq!(back, s);
    assert!(back.tables[0].defaults.is_empty());
}

#[test]
fn a_table_without_a_version_reads_as_version_1() {
    #[derive(serde::Serialize)]
    struct Unversioned {
        name: String,
        columns: Vec<crate::types::Field>,
        primary_key: u32,
        auto_inc: bool,
        persistence: Persistence,
        indexes: Vec<IndexSchema>,
    }
    #[derive(serde::Serialize)]
    struct Module {
        abi_version: u32,
        name: String,
        version: String,
        dependencies: Vec<String>,
        tables: Vec<Unversioned>,
        reducers: Vec<ReducerSchema>,
    }
    let m = Module {
        abi_version: ABI_VERSION,
        name: "m".into(),
        version: "1".into(),
        dependencies: vec![],
        tables: vec![Unversioned {
            name: "t".into(),
            columns: vec![field("id", Type::U64)],
            primary_key: 0,
            auto_inc: false,
            persistence: Persistence::Logged,
            indexes: vec![],
        }],
        reducers: vec![],
    };
    let mut bytes = Vec::new();
    ciborium::into_writer(&m, &mut bytes).unwrap();
    assert_eq!(ModuleSchema::decode(&bytes).unwrap().tables[0].version, 1);
}

fn with_defaults(defaults: Vec<ColumnDefault>) -> Result<(), AbiError> {
    let mut s = sample();
    s.tables[0].defaults = defaults;
    ModuleSchema::decode(&s.canonical_bytes()).map(|_| ())
}

#[test]
fn defaults_are_checked_against_their_column() {
    let d = |column, value: Vec<u8>| ColumnDefault { column, value };
    assert!(with_defaults(vec![d(1, 7u64.to_bytes())]).is_ok());
    let err = |r: Result<(), AbiError>| r.unwrap_err().to_string();
    assert!(
        err(with_defaults(vec![d(1, "x".to_string().to_bytes())])).contains("is not a u64"),
        "a default of the wrong type"
    );
    assert!(err(with_defaults(vec![d(0, 1u64.to_bytes())])).contains("primary key"));
    assert!(err(with_defaults(vec![d(5, 1u64.to_bytes())])).contains("does not exist"));
    assert!(err(with_defaults(vec![
        d(1, 1u64.to_bytes()),
        d(1, 2u64.to_bytes())
    ]))
    .contains("two defaults"));
}

fn migration(table: &str, from: u32, to: u32, params: Vec<Field>) -> ReducerSchema {
    ReducerSchema {
        writes: None,
        recursive: false,
        name: "migrate".into(),
        mode: ReducerMode::Write,
        params,
        returns: Type::Unit,
        error: None,
        trigger: Some(Trigger::Migration {
            table: table.into(),
            from_version: from,
            to_version: to,
            columns: vec![field("id", Type::U64)],
        }),
    }
}

#[test]
fn migrations_are_checked_against_their_table() {
    let check = |r: ReducerSchema, version: u32| {
        let mut s = sample();
        s.tables[0].version = version;
        s.reducers.push(r);
        ModuleSchema::decode(&s.canonical_bytes())
            .map(|_| ())
            .map_err(|e| e.to_string())
    };
    let old = || vec![field("old", Type::U32)];
    assert_eq!(check(migration("accounts", 1, 2, old()), 2), Ok(()));
    let e = check(migration("accounts", 1, 3, old()), 2).unwrap_err();
    assert!(
        e.contains("to_version 3 does not match table `accounts`'s version 2"),
        "{e}"
    );
    let e = check(migration("accounts", 2, 2, old()), 2).unwrap_err();
    assert!(e.contains("must be lower"), "{e}");
    let e = check(migration("nope", 1, 2, old()), 2).unwrap_err();
    assert!(e.contains("does not declare"), "{e}");
    let e = check(migration("accounts", 1, 2, vec![]), 2).unwrap_err();
    assert!(e.contains("exactly one parameter"), "{e}");
}

#[test]
fn a_schema_with_inline_custom_types_encodes_and_hashes_as_before() {
    // What an SDK before named types exported: the enum inline, twice.
    let rarity = Type::Enum(crate::types::EnumType {
        name: "Rarity".into(),
        variants: ["Common", "Rare"]
            .iter()
            .map(|n| crate::types::Variant {
                name: (*n).into(),
                fields: vec![],
            })
            .collect(),
    });
    let mut s = sample();
    s.tables[0].columns.push(field("rarity", rarity.clone()));
    s.reducers[0].params.push(field("rarity", rarity));
    let mut old = Vec::new();
    ciborium::into_writer(&before(&s), &mut old).unwrap();
    assert_eq!(s.canonical_bytes(), old);
    assert!(!old.windows(5).any(|w| w == b"types"));
    assert_eq!(
        blake3::Hash::from(s.hash()).to_hex().as_str(),
        "1bd3f8c4f253c71ec0df59467c96a64024561e80701c92fe40542fc82a1a8faa"
    );
    let back = ModuleSchema::decode(&old).unwrap();
    assert_eq!(back, s);
    assert!(back.types.is_empty());
    assert_eq!(back.canonical_bytes(), old);
}

#[test]
fn a_table_without_storage_encodes_and_hashes_as_before() {
    // Row storage is left out of the encoding: `sample()` hashes as pinned
    // in `a_schema_without_defaults_encodes_and_hashes_as_before`.
    let rows = sample();
    assert_eq!(rows.tables[0].storage, Storage::Rows);
    assert_eq!(
        blake3::Hash::from(rows.hash()).to_hex().as_str(),
        "89f8a46a812b557d853b1d57a09fbebef7a209f0e67489da3f3513944e9b73d0"
    );
    // A columnar table carries `"storage": "Columnar"` and round-trips.
    let mut columnar = sample();
    columnar.tables[0].storage = Storage::Columnar;
    let bytes = columnar.canonical_bytes();
    let value: ciborium::Value = ciborium::from_reader(&bytes[..]).unwrap();
    let tables = value
        .as_map()
        .unwrap()
        .iter()
        .find(|(k, _)| k.as_text() == Some("tables"))
        .map(|(_, v)| v.as_array().unwrap().clone())
        .unwrap();
    let storage = tables[0]
        .as_map()
        .unwrap()
        .iter()
        .find(|(k, _)| k.as_text() == Some("storage"))
        .map(|(_, v)| v.as_text().unwrap().to_owned());
    assert_eq!(storage.as_deref(), Some("Columnar"));
    assert_ne!(columnar.hash(), rows.hash());
    assert_eq!(ModuleSchema::decode(&bytes).unwrap(), columnar);
}
