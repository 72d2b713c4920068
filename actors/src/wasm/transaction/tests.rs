//! Unit tests of `transaction`.

use super::*;
use interstice_abi::codec::field;
use interstice_abi::{ReducerMode, ReducerSchema, Type, ABI_VERSION};

#[test]
fn deliveries_that_no_longer_fit_are_named() {
    let schema = ModuleSchema {
        abi_version: ABI_VERSION,
        name: "m".into(),
        version: "2".into(),
        dependencies: vec![],
        tables: vec![],
        reducers: vec![ReducerSchema {
            writes: None,
            recursive: false,
            name: "put".into(),
            mode: ReducerMode::Write,
            params: vec![field("id", Type::U64)],
            returns: Type::Unit,
            error: None,
            trigger: None,
        }],
        types: vec![],
        bindings: vec![],
    };
    let one = [0x81, 0x01]; // [1]
    assert_eq!(
        resolve_delivery(&schema, "put", &one),
        Ok((0, "put".into()))
    );
    let (name, why) = resolve_delivery(&schema, "gone", &one).unwrap_err();
    assert_eq!(name, "gone");
    assert!(
        why.contains("version 2") && why.contains("no reducer `gone`"),
        "{why}"
    );
    let text = [0x81, 0x61, b'x']; // ["x"]
    let (_, why) = resolve_delivery(&schema, "put", &text).unwrap_err();
    assert!(why.contains("do not fit"), "{why}");
}
