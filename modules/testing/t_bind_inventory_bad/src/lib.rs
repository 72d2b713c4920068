//! `t_bind_inventory_bad`: version 0.3.0 of module `t_bind_inventory`, for the bindings
//! tests (tests/all/bindings.rs). `Rarity` gained `Epic` at the end, and `get_item` returns it: bindings of 0.1.0 cannot read every result.

use interstice_sdk::prelude::*;

interstice_module! {
    name: "t_bind_inventory",
    version: "0.3.0",
    tables: [Item],
    reducers: [add_item, move_item, get_item, item_count],
}

/// How rare an item is.
#[derive(IntersticeType, Clone, Copy, Debug, PartialEq)]
pub enum Rarity {
    Common,
    Rare,
    Epic,
}

/// Where `move_item` puts an item (a parameter type only).
#[derive(IntersticeType, Clone, Debug, PartialEq)]
pub enum Location {
    Shelf(u32),
    Backpack,
    Bank { vault: String },
}

include!("../../t_bind_inventory_common.rs");
