//! Unit tests of `generate`: the Rust bindings of hostile schemas are
//! refused with a message naming the problem, never written as code that
//! does not compile; keywords are written raw; the output is a function
//! of the schema.

use interstice_abi::codec::field;
use interstice_abi::{
    EnumType, ModuleSchema, Persistence, ReducerMode, ReducerSchema, StructType, TableSchema, Type,
    Variant, ABI_VERSION,
};

use super::rust::render;

fn reducer(name: &str, params: Vec<interstice_abi::Field>, returns: Type) -> ReducerSchema {
    ReducerSchema {
        name: name.into(),
        mode: ReducerMode::Read,
        params,
        returns,
        error: None,
        trigger: None,
        writes: None,
        recursive: false,
    }
}

fn schema(table: &str, reducers: Vec<ReducerSchema>) -> ModuleSchema {
    ModuleSchema {
        abi_version: ABI_VERSION,
        name: "m".into(),
        version: "1".into(),
        dependencies: vec![],
        tables: vec![TableSchema {
            name: table.into(),
            version: 1,
            columns: vec![field("id", Type::U64)],
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

fn unit_struct(name: &str, fields: Vec<interstice_abi::Field>) -> Type {
    Type::Struct(StructType {
        name: name.into(),
        fields,
    })
}

#[test]
fn keywords_are_written_raw_and_the_output_is_stable() {
    let s = schema(
        "type",
        vec![reducer("match", vec![field("fn", Type::U8)], Type::Unit)],
    );
    let out = render(&s).expect("renders");
    assert!(out.contains("pub mod r#type {"), "{out}");
    assert!(out.contains("pub fn r#match("), "{out}");
    assert!(out.contains("r#fn: u8"), "{out}");
    assert!(out.contains("pub const MATCH: &str = \"match\";"), "{out}");
    assert_eq!(render(&s).expect("again"), out);
}

#[test]
fn names_that_are_no_rust_identifier_are_refused() {
    let s = schema(
        "items",
        vec![reducer("get", vec![field("self", Type::U8)], Type::Unit)],
    );
    assert_eq!(
        render(&s).unwrap_err(),
        "parameter of reducer `get` `self` cannot be a Rust identifier"
    );
    let s = schema(
        "items",
        vec![reducer("get", vec![field("a-b", Type::U8)], Type::Unit)],
    );
    assert_eq!(
        render(&s).unwrap_err(),
        "parameter of reducer `get` `a-b` cannot be a Rust identifier"
    );
    let s = schema("items", vec![reducer("Get", vec![], Type::Unit)]);
    assert_eq!(
        render(&s).unwrap_err(),
        "reducer name `Get` is not [a-z][a-z0-9_]*"
    );
    let bad = unit_struct("Crate", vec![field("x y", Type::U8)]);
    let s = schema("items", vec![reducer("get", vec![], bad)]);
    assert_eq!(
        render(&s).unwrap_err(),
        "field of `Crate` `x y` cannot be a Rust identifier"
    );
}

#[test]
fn two_different_types_of_one_name_are_refused() {
    let a = unit_struct("Spec", vec![field("a", Type::U8)]);
    let b = unit_struct("Spec", vec![field("b", Type::U8)]);
    let s = schema("items", vec![reducer("get", vec![field("x", a)], b)]);
    assert_eq!(
        render(&s).unwrap_err(),
        "two different types are named `Spec`: bindings name each custom type once"
    );
}

#[test]
fn tables_named_like_the_name_modules_long_tuples_and_parameter_lists_are_refused() {
    assert_eq!(
        render(&schema("tables", vec![])).unwrap_err(),
        "table name `tables` is taken by a generated module of names"
    );
    let nine = Type::Tuple(vec![Type::U8; 9]);
    let s = schema("items", vec![reducer("get", vec![], nine)]);
    assert_eq!(
        render(&s).unwrap_err(),
        "a tuple of 9 items: bindings support 1 to 8"
    );
    let params = (0..9).map(|i| field(&format!("p{i}"), Type::U8)).collect();
    let s = schema("items", vec![reducer("get", params, Type::Unit)]);
    assert_eq!(
        render(&s).unwrap_err(),
        "reducer `get` takes 9 parameters: bindings support at most 8"
    );
}

#[test]
fn tuple_unit_and_data_variants_are_declared_as_the_derive_reads_them() {
    let e = Type::Enum(EnumType {
        name: "Shape".into(),
        variants: vec![
            Variant {
                name: "Dot".into(),
                fields: vec![],
            },
            Variant {
                name: "Pair".into(),
                fields: vec![field("0", Type::U8), field("1", Type::String)],
            },
            Variant {
                name: "Named".into(),
                fields: vec![field("r", Type::F64)],
            },
        ],
    });
    let point = unit_struct("Point", vec![field("0", Type::I32), field("1", Type::I32)]);
    let s = schema("items", vec![reducer("get", vec![field("p", point)], e)]);
    let out = render(&s).expect("renders");
    assert!(out.contains("pub struct Point(pub i32, pub i32);"), "{out}");
    assert!(out.contains("    Dot,\n"), "{out}");
    assert!(
        out.contains("    Pair(u8, ::std::string::String),\n"),
        "{out}"
    );
    assert!(
        out.contains("    Named {\n        r: f64,\n    },\n"),
        "{out}"
    );
    // No error type: the read returns the value itself.
    assert!(out.contains(") -> Shape {"), "{out}");
}

#[test]
fn write_reducers_get_a_with_reply_function_and_a_clash_is_refused() {
    let write = |name: &str| ReducerSchema {
        mode: ReducerMode::Write,
        error: Some(Type::String),
        ..reducer(name, vec![field("id", Type::U64)], Type::U32)
    };
    let s = schema(
        "items",
        vec![write("take"), reducer("look", vec![], Type::U8)],
    );
    let out = render(&s).expect("renders");
    assert!(out.contains("pub fn take_with_reply("), "{out}");
    assert!(
        out.contains("ReplyReducer<u32, ::std::string::String>"),
        "{out}"
    );
    assert!(!out.contains("look_with_reply"), "{out}");
    let s = schema("items", vec![write("take"), write("take_with_reply")]);
    assert_eq!(
        render(&s).unwrap_err(),
        "reducers `take` and `take_with_reply` would both generate a function `take_with_reply`"
    );
}
