//! The worked example of `docs/ABI.md` §4.1, byte for byte: a typed query
//! built with the SDK encodes to exactly the bytes the document shows.

use interstice_sdk::prelude::*;
use interstice_sdk::{IndexHandle, TableId, UniqueKind};

/// The example's table.
#[table(name = "items")]
pub struct Item {
    /// Key.
    #[primary_key]
    pub id: u64,
    /// Column 1.
    pub owner: String,
    /// Column 2, index 0.
    #[index(unique)]
    pub price: u64,
    /// Column 3.
    pub discount: Option<u32>,
}

impl TableId for Item {
    const ID: u32 = 0;
}

fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn abi_md_worked_example() {
    let by_price: IndexHandle<Item, u64, UniqueKind> = IndexHandle::new(0, false);
    let q = by_price
        .range(10..100)
        .matching(|c| (c.price.lt(50) & c.owner.eq("bob".into())) | !c.discount.is_none());
    assert_eq!(
        hex(&q.to_bytes()),
        "84 00 82 00 81 0a 82 01 81 18 64 \
         82 07 82 82 06 82 83 02 02 18 32 83 00 01 63 62 6f 62 82 08 82 09 03"
    );
    // `is_some` is `not(is_none)`.
    let f = Item::columns().discount.is_some();
    assert_eq!(hex(f.as_bytes()), "82 08 82 09 03");
}
