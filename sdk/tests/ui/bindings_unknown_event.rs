use interstice_sdk::prelude::*;

#[path = "../../../modules/testing/t_bind_market/src/inventory.rs"]
mod inventory;

#[reducer(on = inventory::items::upsert)]
fn on_upsert(_ctx: &mut WriteContext, _row: inventory::items::Row) {}

#[reducer(on = items::insert)]
fn on_short(_ctx: &mut WriteContext, _row: inventory::items::Row) {}

fn main() {}
