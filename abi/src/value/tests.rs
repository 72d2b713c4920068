//! Unit tests of `value`.

use super::*;
use crate::types::{Field, StructType};

#[test]
fn roundtrip_through_type() {
    let ty = Type::Struct(StructType {
        name: "Row".into(),
        fields: vec![
            Field {
                name: "a".into(),
                ty: Type::I32,
            },
            Field {
                name: "b".into(),
                ty: Type::Vec(Box::new(Type::Option(Box::new(Type::String)))),
            },
        ],
    });
    let v = Value::Struct(vec![
        Value::I32(-5),
        Value::Vec(vec![
            Value::Option(None),
            Value::Option(Some(Box::new(Value::String("x".into())))),
        ]),
    ]);
    let bytes = v.to_bytes();
    ty.validate_exact(&bytes).unwrap();
    assert_eq!(Value::decode_exact(&ty, &bytes).unwrap(), v);
}

#[test]
fn coercion_is_lossless_only() {
    assert_eq!(Value::U64(5).coerce(&Type::U32).unwrap(), Value::U32(5));
    assert!(Value::U64(1 << 40).coerce(&Type::U32).is_err());
    assert!(Value::I64(-1).coerce(&Type::U64).is_err());
    assert!(Value::String("x".into()).coerce(&Type::U64).is_err());
}
