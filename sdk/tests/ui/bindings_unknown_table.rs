use interstice_sdk::prelude::*;

#[path = "../../../modules/testing/t_bind_market/src/inventory.rs"]
mod inventory;

#[reducer(on = inventory::itemz::insert)]
fn on_item(_ctx: &mut WriteContext, _row: inventory::items::Row) {}


#[reducer(on = inventory::items::insert)]
fn on_wrong_row(_ctx: &mut WriteContext, _row: inventory::ItemView) {}

fn main() {}
