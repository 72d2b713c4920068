//! Unit tests of `schema`.

use super::*;
use crate::codec::field;

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
        }],
        reducers: vec![ReducerSchema {
            name: "deposit".into(),
            mode: ReducerMode::Write,
            params: vec![field("id", Type::U64), field("amount", Type::U64)],
            returns: Type::Unit,
            error: Some(Type::String),
            trigger: None,
        }],
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
