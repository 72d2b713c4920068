//! `t_migrate_v1`: version 1 of module `t_migrate`, whose version 2
//! (`t_migrate_v2`) migrates `items` by code and `notes` automatically.

use interstice_sdk::prelude::*;

interstice_module! {
    name: "t_migrate",
    version: "1.0.0",
    tables: [Item, Note],
    reducers: [add, note, item, notes],
}

/// An item (table version 1).
#[table(name = "items")]
pub struct Item {
    #[primary_key]
    pub id: u64,
    pub name: String,
    pub qty: u32,
}

/// A note.
#[table(name = "notes")]
pub struct Note {
    #[primary_key(auto_inc)]
    pub id: u64,
    pub text: String,
}

/// Adds an item.
#[reducer]
fn add(ctx: &mut WriteContext, id: u64, name: String, qty: u32) {
    ctx.tables.items().insert(Item { id, name, qty });
}

/// Adds a note; returns its id.
#[reducer]
fn note(ctx: &mut WriteContext, text: String) -> u64 {
    ctx.tables.notes().insert(Note { id: 0, text }).id
}

/// Item `id` as `(name, qty)`.
#[reducer(mode = "read")]
fn item(ctx: &ReadContext, id: u64) -> Option<(String, u32)> {
    ctx.tables.items().get(&id).map(|i| (i.name, i.qty))
}

/// Every note's text, in id order.
#[reducer(mode = "read")]
fn notes(ctx: &ReadContext) -> Vec<String> {
    ctx.tables.notes().iter().map(|n| n.text).collect()
}
