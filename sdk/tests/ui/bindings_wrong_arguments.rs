use interstice_sdk::prelude::*;

#[path = "../../../modules/testing/t_bind_market/src/inventory.rs"]
mod inventory;

#[reducer]
fn sell(ctx: &mut WriteContext, id: u64) {
    inventory::move_item(ctx, "one", inventory::Location::Backpack);
    inventory::move_item(ctx, id, inventory::Rarity::Rare);
    inventory::move_item(ctx, id);
}

#[reducer(mode = "read")]
fn look(ctx: &ReadContext, id: u32) -> Result<String, String> {
    let view: inventory::ItemView = inventory::get_item(ctx, id)?;
    Ok(view.place)
}

#[reducer(mode = "read")]
fn write_from_read(ctx: &ReadContext, id: u64) {
    inventory::move_item(ctx, id, inventory::Location::Backpack);
}

fn main() {}
