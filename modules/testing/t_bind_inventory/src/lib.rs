//! `t_bind_inventory`: version 0.1.0 of module `t_bind_inventory`, for the bindings
//! tests (tests/all/bindings.rs). The version `t_bind_market`'s bindings are generated from.

use interstice_sdk::prelude::*;

interstice_module! {
    name: "t_bind_inventory",
    version: "0.1.0",
    tables: [Item],
    reducers: [add_item, move_item, get_item, item_count],
}

/// How rare an item is.
#[derive(IntersticeType, Clone, Copy, Debug, PartialEq)]
pub enum Rarity {
    Common,
    Rare,
}

/// Where `move_item` puts an item (a parameter type only).
#[derive(IntersticeType, Clone, Debug, PartialEq)]
pub enum Location {
    Shelf(u32),
    Backpack,
    Bank { vault: String },
}

include!("../../t_bind_inventory_common.rs");
