//! Unit tests of `json`.

use super::*;
use crate::types::{StructType, Variant};

#[test]
fn struct_and_enum_roundtrip() {
    let color = Type::Enum(EnumType {
        name: "Color".into(),
        variants: vec![
            Variant {
                name: "Red".into(),
                fields: vec![],
            },
            Variant {
                name: "Rgb".into(),
                fields: vec![
                    Field {
                        name: "0".into(),
                        ty: Type::U8,
                    },
                    Field {
                        name: "1".into(),
                        ty: Type::U8,
                    },
                ],
            },
        ],
    });
    let ty = Type::Struct(StructType {
        name: "Pixel".into(),
        fields: vec![
            Field {
                name: "x".into(),
                ty: Type::I64,
            },
            Field {
                name: "c".into(),
                ty: color,
            },
        ],
    });
    let j: Json = serde_json::json!({"x": -3, "c": {"Rgb": [1, 2]}});
    let v = Value::from_json(&ty, &j).unwrap();
    assert_eq!(v.to_json(&ty), j);
    let err = Value::from_json(&ty, &serde_json::json!({"x": "a", "c": "Red"}))
        .unwrap_err()
        .to_string();
    assert!(err.contains("Pixel.x"), "{err}");
}
