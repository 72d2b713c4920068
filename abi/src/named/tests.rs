//! Unit tests of `named`: both forms of a schema, the canonical encoding
//! (pinned), its size, and hostile references.

use super::*;
use crate::codec::field;
use crate::schema::{Persistence, ReducerMode, ReducerSchema, TableSchema};
use crate::schema_diff::{SchemaDiff, TableChange};
use crate::types::{EnumType, Field, StructType, Variant};
use crate::ABI_VERSION;

fn unit(name: &str) -> Variant {
    Variant {
        name: name.into(),
        fields: vec![],
    }
}

fn rarity() -> Type {
    Type::Enum(EnumType {
        name: "Rarity".into(),
        variants: vec![unit("Common"), unit("Rare"), unit("Epic")],
    })
}

fn stats() -> Type {
    Type::Struct(StructType {
        name: "Stats".into(),
        fields: vec![
            field("power", Type::U32),
            field("best", Type::Option(Box::new(rarity()))),
        ],
    })
}

fn schema(columns: Vec<Field>, reducers: Vec<ReducerSchema>) -> ModuleSchema {
    let mut cols = vec![field("id", Type::U64)];
    cols.extend(columns);
    ModuleSchema {
        abi_version: ABI_VERSION,
        name: "m".into(),
        version: "1".into(),
        dependencies: vec![],
        tables: vec![TableSchema {
            name: "items".into(),
            version: 1,
            columns: cols,
            primary_key: 0,
            auto_inc: false,
            persistence: Persistence::Logged,
            indexes: vec![],
            defaults: vec![],
            storage: Default::default(),
        }],
        reducers,
        types: vec![],
        bindings: vec![],
    }
}

fn reducer(name: &str, params: Vec<Field>, returns: Type) -> ReducerSchema {
    ReducerSchema {
        writes: None,
        recursive: false,
        name: name.into(),
        mode: ReducerMode::Write,
        params,
        returns,
        error: None,
        trigger: None,
    }
}

/// An item schema using `Rarity` and `Stats` (which holds a `Rarity`) in
/// columns, a parameter and a result, all inline.
fn inline() -> ModuleSchema {
    schema(
        vec![field("rarity", rarity()), field("stats", stats())],
        vec![reducer(
            "add",
            vec![field("rarity", rarity())],
            Type::Vec(Box::new(stats())),
        )],
    )
}

fn count(haystack: &[u8], needle: &[u8]) -> usize {
    haystack
        .windows(needle.len())
        .filter(|w| *w == needle)
        .count()
}

fn cbor<T: serde::Serialize>(v: &T) -> Vec<u8> {
    let mut out = Vec::new();
    ciborium::into_writer(v, &mut out).unwrap();
    out
}

#[test]
fn the_sdk_names_each_custom_type_once_in_first_use_order() {
    let named = inline().with_named_types();
    assert_eq!(named.types, vec![rarity(), stats()]);
    let bytes = named.canonical_bytes();
    // Each definition once, every use a reference.
    assert_eq!(count(&bytes, b"Common"), 1);
    assert_eq!(count(&bytes, b"power"), 1);
    // Columns `rarity`, `stats`, parameter `rarity`, `Stats.best`; the result.
    assert_eq!(count(&bytes, b"\x65Named\x66Rarity"), 3);
    assert_eq!(count(&bytes, b"\x65Named\x65Stats"), 2);
    // The inline form of the same schema repeats them.
    let old = inline().canonical_bytes();
    assert_eq!(count(&old, b"Common"), 4);
    assert!(bytes.len() < old.len());
}

#[test]
fn a_named_schema_decodes_inline_and_encodes_back_the_same() {
    let named = inline().with_named_types();
    let bytes = named.canonical_bytes();
    let back = ModuleSchema::decode(&bytes).unwrap();
    assert_eq!(back, named);
    // In memory every type is inline, as in a schema of an earlier SDK.
    assert_eq!(back.tables, inline().tables);
    assert_eq!(back.reducers, inline().reducers);
    assert_eq!(back.canonical_bytes(), bytes);
    assert_eq!(back.hash(), named.hash());
    // The inline form still decodes, to the inline schema.
    let old = ModuleSchema::decode(&inline().canonical_bytes()).unwrap();
    assert_eq!(old, inline());
    assert!(old.types.is_empty());
    assert_ne!(old.hash(), named.hash());
}

#[test]
fn inline_and_named_schemas_of_a_module_are_the_same_tables() {
    let old = ModuleSchema::decode(&inline().canonical_bytes()).unwrap();
    let new = ModuleSchema::decode(&inline().with_named_types().canonical_bytes()).unwrap();
    for (a, b) in [(&old, &new), (&new, &old)] {
        let diff = SchemaDiff::between(a, b);
        assert_eq!(
            diff.tables,
            vec![("items".to_string(), TableChange::Unchanged)]
        );
    }
}

#[test]
fn a_name_two_different_types_share_stays_inline() {
    let other = Type::Enum(EnumType {
        name: "Rarity".into(),
        variants: vec![unit("Low"), unit("High")],
    });
    let s = schema(
        vec![
            field("a", rarity()),
            field("b", other.clone()),
            field("c", stats()),
        ],
        vec![],
    )
    .with_named_types();
    // `Stats` holds the first `Rarity`; only `Stats` is named.
    assert_eq!(s.types, vec![stats()]);
    let back = ModuleSchema::decode(&s.canonical_bytes()).unwrap();
    assert_eq!(back.tables[0].columns[1].ty, rarity());
    assert_eq!(back.tables[0].columns[2].ty, other);
    assert_eq!(back, s);
}

/// The worked example of `docs/ABI.md` §5.2.
#[test]
fn worked_example_is_pinned() {
    let flag = Type::Enum(EnumType {
        name: "Flag".into(),
        variants: vec![unit("On"), unit("Off")],
    });
    let s = schema(vec![field("flag", flag.clone())], vec![]).with_named_types();
    let wire = to_wire(&s);
    assert_eq!(
        hex(&cbor(&wire.types)),
        "81a164456e756da2646e616d6564466c61676876617269616e747382\
         a2646e616d65624f6e666669656c647380a2646e616d65634f6666666669656c647380"
    );
    assert_eq!(
        hex(&cbor(&wire.tables[0].columns[1])),
        "a2646e616d6564666c6167627479a1654e616d656464466c6167"
    );
    let bytes = s.canonical_bytes();
    // `types` is the last entry of the schema map.
    assert!(bytes.ends_with(&cbor(&wire.types)));
    assert!(bytes[bytes.len() - cbor(&wire.types).len() - 6..].starts_with(b"\x65types"));
    assert_eq!(
        blake3::Hash::from(s.hash()).to_hex().as_str(),
        "cd0700aa3d59af4675a878f0cdfb7df5acc22fff359cd0925db6672a8c835975"
    );
    assert_eq!(
        ModuleSchema::decode(&bytes).unwrap().tables[0].columns[1].ty,
        flag
    );
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[test]
fn a_type_used_in_three_columns_costs_its_definition_once() {
    let with = |n: usize| {
        let cols = (1..=n).map(|i| field(&format!("r{i}"), rarity())).collect();
        schema(cols, vec![])
    };
    let (one, three) = (with(1).with_named_types(), with(3).with_named_types());
    let (one, three) = (one.canonical_bytes().len(), three.canonical_bytes().len());
    let definition = cbor(&rarity()).len();
    let reference = cbor(&field("r2", Type::Named("Rarity".into()))).len();
    // Two more columns cost two references, and no definition.
    assert_eq!(three - one, 2 * reference);
    assert!(three <= one + definition, "{three} > {one} + {definition}");
    // Inline, each column repeats the definition.
    let (old_one, old_three) = (
        with(1).canonical_bytes().len(),
        with(3).canonical_bytes().len(),
    );
    assert!(old_three - old_one > 2 * definition);
}

/// Encodes `s` as it stands (references and all), as a hostile module could.
fn raw(s: &ModuleSchema) -> Vec<u8> {
    cbor(s)
}

fn refused(s: &ModuleSchema) -> String {
    ModuleSchema::decode(&raw(s)).unwrap_err().to_string()
}

fn named(n: &str) -> Type {
    Type::Named(n.into())
}

fn strukt(name: &str, fields: Vec<Field>) -> Type {
    Type::Struct(StructType {
        name: name.into(),
        fields,
    })
}

#[test]
fn an_unknown_name_is_refused() {
    let s = schema(vec![field("r", named("Rarity"))], vec![]);
    assert_eq!(
        refused(&s),
        "invalid schema: module `m`: reference to type `Rarity`, which `types` does not define"
    );
}

#[test]
fn a_name_defined_twice_is_refused() {
    let mut s = schema(vec![field("r", named("Rarity"))], vec![]);
    s.types = vec![rarity(), rarity()];
    assert_eq!(
        refused(&s),
        "invalid schema: module `m`: type `Rarity` is defined twice in `types`"
    );
}

#[test]
fn a_definition_must_be_a_struct_or_an_enum() {
    let mut s = schema(vec![], vec![]);
    s.types = vec![rarity(), Type::U64];
    assert_eq!(
        refused(&s),
        "invalid schema: module `m`: `types` entry 1 is u64: only structs and enums are named types"
    );
    s.types = vec![named("Rarity")];
    assert!(refused(&s).contains("`types` entry 0 is Rarity"));
}

#[test]
fn a_recursive_type_is_refused() {
    let mut s = schema(vec![field("n", named("Node"))], vec![]);
    s.types = vec![strukt(
        "Node",
        vec![field("next", Type::Option(Box::new(named("Node"))))],
    )];
    assert_eq!(
        refused(&s),
        "invalid schema: module `m`: type `Node` is recursive (Node → Node): a type cannot \
         contain itself"
    );
    s.types = vec![
        strukt("A", vec![field("b", named("B"))]),
        strukt("B", vec![field("c", Type::Vec(Box::new(named("C"))))]),
        strukt("C", vec![field("a", named("A"))]),
    ];
    s.tables[0].columns[1].ty = named("B");
    assert_eq!(
        refused(&s),
        "invalid schema: module `m`: type `A` is recursive (A → B → C → A): a type cannot \
         contain itself"
    );
}

/// Definitions `T0` … `T{n-1}`, each a struct of `width` fields of the next
/// (the last: of u8).
fn chain(n: usize, width: usize) -> ModuleSchema {
    let mut s = schema(vec![field("t", named("T0"))], vec![]);
    s.types = (0..n)
        .map(|i| {
            let next = if i + 1 == n {
                Type::U8
            } else {
                named(&format!("T{}", i + 1))
            };
            strukt(
                &format!("T{i}"),
                (0..width)
                    .map(|j| field(&format!("f{j}"), next.clone()))
                    .collect(),
            )
        })
        .collect();
    s
}

#[test]
fn nesting_is_bounded() {
    // 200 levels of structs are fine, and resolve inline.
    let s = ModuleSchema::decode(&raw(&chain(200, 1))).unwrap();
    assert!(matches!(&s.tables[0].columns[1].ty, Type::Struct(t) if t.name == "T0"));
    assert_eq!(
        refused(&chain(300, 1)),
        "invalid schema: module `m`: types nest deeper than 256 levels"
    );
    // A chain far longer than any stack allows is refused just the same.
    assert_eq!(
        refused(&chain(100_000, 1)),
        "invalid schema: module `m`: types nest deeper than 256 levels"
    );
}

#[test]
fn expansion_is_bounded() {
    // 40 definitions each of two fields of the next: 2^40 nodes inline.
    assert_eq!(
        refused(&chain(40, 2)),
        "invalid schema: module `m`: named types expand to more than 100000 type nodes"
    );
    // One wide type used many times.
    let mut s = schema(
        (0..200)
            .map(|i| field(&format!("c{i}"), named("Wide")))
            .collect(),
        vec![],
    );
    s.types = vec![strukt(
        "Wide",
        (0..1000)
            .map(|i| field(&format!("f{i}"), Type::U8))
            .collect(),
    )];
    assert!(refused(&s).contains("expand to more than 100000"));
    // Small expansions are fine.
    assert!(ModuleSchema::decode(&raw(&chain(10, 2))).is_ok());
}

#[test]
fn check_refuses_what_decode_would_have_resolved() {
    // A schema built in memory (not decoded) with a reference left in it.
    let s = schema(vec![field("r", named("Rarity"))], vec![]);
    assert_eq!(
        s.check().unwrap_err().to_string(),
        "invalid schema: unresolved reference to type `Rarity`"
    );
    let mut s = schema(vec![], vec![]);
    s.types = vec![Type::U8];
    assert_eq!(
        s.check().unwrap_err().to_string(),
        "invalid schema: module `m`: named type u8 is not a struct or an enum"
    );
    // No value has a reference as its type.
    assert!(named("Rarity").validate_exact(&[0xf6]).is_err());
}
