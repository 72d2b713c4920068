//! The `--where` language: what it compiles to (checked against the
//! encoding `docs/ABI.md` §4.1 gives, and evaluated by the host's query
//! code) and the position each error names.

use interstice_abi::cbor::Writer;
use interstice_abi::query as q;
use interstice_abi::{Field, Persistence, TableSchema, Type};

use super::{compile, table_query};

fn table() -> TableSchema {
    let col = |name: &str, ty: Type| Field {
        name: name.into(),
        ty,
    };
    TableSchema {
        name: "accounts".into(),
        version: 1,
        columns: vec![
            col("id", Type::U64),
            col("owner", Type::String),
            col("balance", Type::U64),
            col("note", Type::Option(Box::new(Type::String))),
        ],
        primary_key: 0,
        auto_inc: true,
        persistence: Persistence::Logged,
        indexes: vec![],
        defaults: vec![],
        storage: Default::default(),
    }
}

fn cmp(w: &mut Writer, op: u64, column: u64, value: impl FnOnce(&mut Writer)) {
    w.array(3);
    w.u64(op);
    w.u64(column);
    value(w);
}

#[test]
fn comparisons_and_connectives_compile_to_the_host_encoding() {
    let t = table();
    let mut w = Writer::new();
    cmp(&mut w, q::OP_GE, 2, |w| w.u64(10));
    assert_eq!(compile("balance >= 10", &t).unwrap(), w.into_vec());

    // `and` binds tighter than `or`; `not` and `is none`.
    let got = compile(r#"owner = "ann" or balance < 5 AND not (note is none)"#, &t).unwrap();
    let mut w = Writer::new();
    w.array(2);
    w.u64(q::OP_OR);
    w.array(2);
    cmp(&mut w, q::OP_EQ, 1, |w| w.str("ann"));
    w.array(2);
    w.u64(q::OP_AND);
    w.array(2);
    cmp(&mut w, q::OP_LT, 2, |w| w.u64(5));
    w.array(2);
    w.u64(q::OP_NOT);
    w.array(2);
    w.u64(q::OP_IS_NONE);
    w.u64(3);
    assert_eq!(got, w.into_vec());

    // An Option column compares with its inner type.
    let mut w = Writer::new();
    cmp(&mut w, q::OP_NE, 3, |w| w.str("x"));
    assert_eq!(compile(r#"note != "x""#, &t).unwrap(), w.into_vec());
    // `is not none` is `not (is none)`.
    let mut w = Writer::new();
    w.array(2);
    w.u64(q::OP_NOT);
    w.array(2);
    w.u64(q::OP_IS_NONE);
    w.u64(3);
    assert_eq!(compile("note is not none", &t).unwrap(), w.into_vec());
}

#[test]
fn the_query_wraps_the_filter() {
    let mut w = Writer::new();
    w.array(4);
    w.null();
    w.null();
    w.null();
    w.null();
    assert_eq!(table_query(None), w.into_vec());
}

fn err(text: &str) -> (usize, String) {
    let e = compile(text, &table()).expect_err(text);
    (e.position, e.message)
}

#[test]
fn errors_name_the_position_and_the_problem() {
    let (pos, msg) = err("balance > 1 and colour = 3");
    assert_eq!(pos, 17);
    assert!(msg.contains("unknown column `colour`"), "{msg}");
    assert!(msg.contains("id, owner, balance, note"), "{msg}");

    let (pos, msg) = err(r#"balance = "ten""#);
    assert_eq!(pos, 11);
    assert!(msg.contains("not a u64 for column `balance`"), "{msg}");

    let (pos, msg) = err("owner = ann");
    assert_eq!(pos, 9);
    assert!(msg.contains("expected a JSON value"), "{msg}");

    let (pos, msg) = err("(balance = 1");
    assert_eq!(pos, 13);
    assert!(msg.contains("expected `)`"), "{msg}");

    let (_, msg) = err("balance is none");
    assert!(msg.contains("not an Option"), "{msg}");

    let (_, msg) = err("note = null");
    assert!(msg.contains("note is none"), "{msg}");

    let (pos, msg) = err("balance ~ 3");
    assert_eq!(pos, 9);
    assert!(msg.contains("expected an operator"), "{msg}");

    let (pos, msg) = err("balance = 1 balance = 2");
    assert_eq!(pos, 13);
    assert!(msg.contains("after a complete predicate"), "{msg}");

    let (_, msg) = err("");
    assert!(msg.contains("expected a column name"), "{msg}");
}

#[test]
fn nesting_is_bounded() {
    let deep = format!("{}balance = 1{}", "(".repeat(100), ")".repeat(100));
    let (_, msg) = err(&deep);
    assert!(msg.contains("nested deeper than"), "{msg}");
    let nots = format!("{}balance = 1", "not ".repeat(100));
    let (_, msg) = err(&nots);
    assert!(msg.contains("nested deeper than"), "{msg}");
    let long = "x".repeat(super::MAX_PREDICATE_BYTES + 1);
    let (_, msg) = err(&long);
    assert!(msg.contains("longer than"), "{msg}");
}

#[test]
fn values_end_at_a_parenthesis_or_a_space() {
    let t = table();
    let a = compile(r#"(balance = 1) and (owner="a")"#, &t).unwrap();
    let b = compile(r#"balance = 1 and owner = "a""#, &t).unwrap();
    assert_eq!(a, b);
    let (pos, msg) = err("balance = 1x");
    assert_eq!(pos, 11);
    assert!(msg.contains("expected a JSON value"), "{msg}");
}
