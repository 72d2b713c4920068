//! The worked example of `docs/ABI.md` §5.1, byte for byte: the schema
//! fields a column default and a migration add, as the SDK generates them.

use interstice_sdk::abi::Trigger;
use interstice_sdk::prelude::*;

/// The old layout the migration reads.
#[table(name = "items", version = 1, old)]
pub struct ItemV1 {
    /// Key.
    #[primary_key]
    pub id: u64,
}

/// The new layout: a column appended with a default.
#[table(name = "items", version = 2)]
pub struct Item {
    /// Key.
    #[primary_key]
    pub id: u64,
    /// Appended, default 3.
    #[default(3)]
    pub stars: u8,
}

impl interstice_sdk::TableId for Item {
    const ID: u32 = 0;
}

/// The migration whose trigger the example shows.
#[migration(from_version = 1, to_version = 2)]
fn items_v2(_ctx: &mut WriteContext, _old: OldTable<ItemV1>) {}

fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn cbor<T: serde::Serialize>(v: &T) -> String {
    let mut out = Vec::new();
    ciborium::into_writer(v, &mut out).unwrap();
    hex(&out)
}

#[test]
fn abi_md_worked_example() {
    let t = <Item as Table>::schema();
    assert_eq!(t.version, 2);
    assert_eq!(
        cbor(&t.defaults),
        "81 a2 66 63 6f 6c 75 6d 6e 01 65 76 61 6c 75 65 81 03"
    );
    let r = <__interstice_reducer_items_v2 as interstice_sdk::__private::Reducer>::schema();
    assert_eq!(
        cbor(&r.params),
        "81 a2 64 6e 61 6d 65 63 6f 6c 64 62 74 79 63 55 33 32"
    );
    let trigger = r.trigger.unwrap();
    assert!(matches!(trigger, Trigger::Migration { .. }));
    assert_eq!(
        cbor(&trigger),
        "a1 69 4d 69 67 72 61 74 69 6f 6e a4 65 74 61 62 6c 65 65 69 74 65 6d 73 \
         6c 66 72 6f 6d 5f 76 65 72 73 69 6f 6e 01 6a 74 6f 5f 76 65 72 73 69 6f 6e 02 \
         67 63 6f 6c 75 6d 6e 73 81 a2 64 6e 61 6d 65 62 69 64 62 74 79 63 55 36 34"
    );
    // A table without defaults has no `defaults` key at all.
    let v1 = <ItemV1 as Table>::schema();
    let mut out = Vec::new();
    ciborium::into_writer(&v1, &mut out).unwrap();
    assert!(!out.windows(8).any(|w| w == b"defaults"));
}
