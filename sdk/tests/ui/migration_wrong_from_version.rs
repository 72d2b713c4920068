// The migration says it reads version 1 rows, but the old row type it
// reads is declared as version 2.
use interstice_sdk::prelude::*;

interstice_module! {
    name: "m",
    version: "0.1.0",
    tables: [Item],
    reducers: [items_v3],
}

#[table(name = "items", version = 2, old)]
pub struct ItemV2 {
    #[primary_key]
    pub id: u64,
}

#[table(name = "items", version = 3)]
pub struct Item {
    #[primary_key]
    pub id: u64,
    pub qty: u64,
}

#[migration(from_version = 1, to_version = 3)]
fn items_v3(ctx: &mut WriteContext, old: OldTable<ItemV2>) {
    for o in &old {
        ctx.tables.items().insert(Item { id: o.id, qty: 0 });
    }
}

fn main() {}
