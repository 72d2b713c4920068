use interstice_sdk::prelude::*;

#[path = "../../../modules/testing/t_bind_market/src/inventory.rs"]
mod inventory;

#[reducer]
fn sell(ctx: &mut WriteContext, id: u64) {
    inventory::move_itme(ctx, id, inventory::Location::Backpack);
}

#[reducer(mode = "read")]
fn look(ctx: &ReadContext, id: u64) -> Result<String, String> {
    inventory::get_itme(ctx, id).map(|v| v.place)
}

fn main() {}
