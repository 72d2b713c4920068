// The migration says it produces version 2 of `items`, but the module's
// `items` table is version 3.
use interstice_sdk::prelude::*;

interstice_module! {
    name: "m",
    version: "0.1.0",
    tables: [Item],
    reducers: [items_v2],
}

#[table(name = "items", version = 1, old)]
pub struct ItemV1 {
    #[primary_key]
    pub id: u64,
}

#[table(name = "items", version = 3)]
pub struct Item {
    #[primary_key]
    pub id: u64,
    pub qty: u64,
}

#[migration(from_version = 1, to_version = 2)]
fn items_v2(ctx: &mut WriteContext, old: OldTable<ItemV1>) {
    for o in &old {
        ctx.tables.items().insert(Item { id: o.id, qty: 0 });
    }
}

fn main() {}
