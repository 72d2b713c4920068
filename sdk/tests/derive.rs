//! `#[derive(IntersticeType)]` and `#[table]` produce exactly the encodings
//! the ABI specifies: a struct is the array of its fields, an enum the array
//! `[variant index, fields…]`, and `Type::validate_exact` accepts them.

// Test fixtures, not an API: their public items need no docs.
#![allow(missing_docs)]

use interstice_sdk::abi::codec::field;
use interstice_sdk::abi::{EnumType, Persistence, StructType, Value, Variant};
use interstice_sdk::prelude::*;
use interstice_sdk::{Table, Type};

#[derive(IntersticeType, Debug, Clone, PartialEq)]
pub struct Point {
    pub x: u8,
    pub y: i32,
}

#[derive(IntersticeType, Debug, Clone, PartialEq)]
struct Pair(String, Option<u64>);

#[derive(IntersticeType, Debug, Clone, PartialEq)]
struct Marker;

#[derive(IntersticeType, Debug, Clone, PartialEq)]
pub enum Shape {
    Empty,
    Circle(f64),
    Rect { w: u32, h: u32 },
    Poly(Vec<Point>, Option<String>),
}

#[derive(IntersticeType, Debug, Clone, PartialEq)]
enum Never {}

#[derive(IntersticeType, Debug, Clone, PartialEq)]
struct Nested {
    shapes: Vec<Shape>,
    origin: Option<Point>,
    pairs: Vec<(u16, Pair)>,
    blob: Bytes,
    wide: (u128, i128),
    r#type: bool,
    boxed: Box<Marker>,
}

/// Roundtrips `v`, checks the bytes against the derived type and returns them.
fn check<T: IntersticeType + PartialEq + std::fmt::Debug>(v: &T) -> Vec<u8> {
    let bytes = v.to_bytes();
    T::ty().check_well_formed().unwrap();
    T::ty()
        .validate_exact(&bytes)
        .unwrap_or_else(|e| panic!("{v:?} does not validate: {e}"));
    assert_eq!(&T::from_bytes(&bytes).unwrap(), v);
    // The dynamic decoder agrees too.
    let value = Value::decode_exact(&T::ty(), &bytes).unwrap();
    assert_eq!(value.to_bytes(), bytes);
    bytes
}

#[test]
fn struct_is_an_array_of_fields_in_order() {
    assert_eq!(check(&Point { x: 1, y: -1 }), vec![0x82, 0x01, 0x20]);
    assert_eq!(
        Point::ty(),
        Type::Struct(StructType {
            name: "Point".into(),
            fields: vec![field("x", Type::U8), field("y", Type::I32)],
        })
    );
    // Tuple struct: positional field names.
    assert_eq!(check(&Pair("a".into(), None)), vec![0x82, 0x61, b'a', 0xf6]);
    assert_eq!(
        Pair::ty(),
        Type::Struct(StructType {
            name: "Pair".into(),
            fields: vec![
                field("0", Type::String),
                field("1", Type::Option(Box::new(Type::U64)))
            ],
        })
    );
    // Unit struct: an empty array.
    assert_eq!(check(&Marker), vec![0x80]);
}

#[test]
fn enum_is_variant_index_then_fields() {
    assert_eq!(check(&Shape::Empty), vec![0x81, 0x00]);
    assert_eq!(
        check(&Shape::Circle(1.5)),
        vec![0x82, 0x01, 0xfb, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0]
    );
    assert_eq!(
        check(&Shape::Rect { w: 2, h: 3 }),
        vec![0x83, 0x02, 0x02, 0x03]
    );
    check(&Shape::Poly(vec![Point { x: 0, y: 5 }], Some("p".into())));
    let Type::Enum(EnumType { name, variants }) = Shape::ty() else {
        panic!("not an enum")
    };
    assert_eq!(name, "Shape");
    assert_eq!(
        variants[2],
        Variant {
            name: "Rect".into(),
            fields: vec![field("w", Type::U32), field("h", Type::U32)],
        }
    );
    assert_eq!(variants[1].fields, vec![field("0", Type::F64)]);
    assert!(variants[0].fields.is_empty());
    assert_eq!(
        Never::ty(),
        Type::Enum(EnumType {
            name: "Never".into(),
            variants: vec![]
        })
    );
}

#[test]
fn nested_types_roundtrip() {
    let v = Nested {
        shapes: vec![Shape::Empty, Shape::Rect { w: 1, h: u32::MAX }],
        origin: Some(Point {
            x: 255,
            y: i32::MIN,
        }),
        pairs: vec![(7, Pair("z".into(), Some(u64::MAX)))],
        blob: Bytes(vec![0, 1, 2]),
        wide: (u128::MAX, i128::MIN),
        r#type: true,
        boxed: Box::new(Marker),
    };
    check(&v);
    let Type::Struct(s) = Nested::ty() else {
        panic!()
    };
    assert_eq!(s.fields[5].name, "type", "raw identifiers lose their r#");
}

#[test]
fn bad_input_is_an_error_not_a_panic() {
    // Unknown variant.
    assert!(Shape::from_bytes(&[0x81, 0x09]).is_err());
    // Known variant, wrong number of fields.
    assert!(Shape::from_bytes(&[0x82, 0x02, 0x01]).is_err());
    // Struct with a field missing, or an extra one.
    assert!(Point::from_bytes(&[0x81, 0x01]).is_err());
    assert!(Point::from_bytes(&[0x83, 0x01, 0x01, 0x01]).is_err());
    // Out-of-range integer.
    assert!(Point::from_bytes(&[0x82, 0x19, 0x01, 0x00, 0x00]).is_err());
}

// Tables: the row type, the key and the schema.

interstice_module! {
    name: "derive_test",
    tables: [Account, UserSession],
}

#[table(name = "accounts")]
#[derive(Debug, Clone, PartialEq)]
pub struct Account {
    #[primary_key(auto_inc)]
    pub id: u64,
    #[index]
    pub owner: String,
    #[index(unique)]
    pub email: String,
    pub balance: u64,
}

#[table(ephemeral, version = 3)]
#[derive(Debug, Clone, PartialEq)]
pub struct UserSession {
    pub user: String,
    #[primary_key]
    pub token: Bytes,
    pub shape: Option<Shape>,
}

#[test]
fn tables_describe_themselves() {
    let acc = Account {
        id: 4,
        owner: "ann".into(),
        email: "a@x".into(),
        balance: 10,
    };
    check(&acc);
    assert_eq!(*acc.key(), 4);
    let s = Account::schema();
    assert_eq!(Account::NAME, "accounts");
    assert_eq!(s.name, "accounts");
    assert_eq!(s.version, 1);
    assert_eq!(s.primary_key, 0);
    assert!(s.auto_inc && Account::AUTO_INC);
    assert_eq!(s.persistence, Persistence::Logged);
    assert_eq!(s.columns.len(), 4);
    assert_eq!(s.indexes.len(), 2);
    assert_eq!(s.indexes[0].name, "accounts_owner");
    assert_eq!(s.indexes[1].columns, vec![2]);
    assert_eq!(s.row_type().validate_exact(&acc.to_bytes()), Ok(()));

    // Default name: the struct name in snake_case.
    assert_eq!(UserSession::NAME, "user_session");
    let s = UserSession::schema();
    assert_eq!(s.primary_key, 1);
    assert!(!s.auto_inc);
    assert_eq!(s.version, 3);
    assert_eq!(s.persistence, Persistence::Ephemeral);
    let row = UserSession {
        user: "u".into(),
        token: Bytes(vec![9]),
        shape: Some(Shape::Circle(0.5)),
    };
    check(&row);
    assert_eq!(row.key(), &Bytes(vec![9]));
}
