//! `t_inventory`: items that come and go, and a read reducer other modules
//! read-call (`t_market`). The isolation tests race `t_market`'s writes,
//! which read an item, against this module's writes of the same item.

use interstice_sdk::prelude::*;

interstice_module! {
    name: "t_inventory",
    version: "0.1.0",
    tables: [Item],
    reducers: [add_item, remove_item, get_item, burn],
}

/// An item, by id.
#[table(name = "items")]
#[derive(Clone, Debug)]
pub struct Item {
    #[primary_key]
    pub id: u64,
    pub owner: String,
}

/// Adds item `id` (an error if it exists).
#[reducer]
fn add_item(ctx: &mut WriteContext, id: u64, owner: String) -> Result<(), String> {
    if ctx.tables.items().get(&id).is_some() {
        return Err(format!("item {id} exists"));
    }
    ctx.tables.items().insert(Item { id, owner });
    Ok(())
}

/// Removes item `id`; whether it was there.
#[reducer]
fn remove_item(ctx: &mut WriteContext, id: u64) -> bool {
    ctx.tables.items().delete(&id)
}

/// Item `id`'s owner, if the item exists.
#[reducer(mode = "read")]
fn get_item(ctx: &ReadContext, id: u64) -> Option<String> {
    ctx.tables.items().get(&id).map(|i| i.owner)
}

/// Burns CPU for `rounds` rounds of xorshift (a read that costs fuel).
#[reducer(mode = "read")]
fn burn(_ctx: &ReadContext, rounds: u64) -> u64 {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for _ in 0..rounds {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x = core::hint::black_box(x);
    }
    x
}
