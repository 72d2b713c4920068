//! `t_bind_market`: a module that reaches `t_bind_inventory` only through
//! bindings generated from its 0.1.0 schema (`src/inventory.rs`, written by
//! `interstice generate rust`; tests/all/bindings.rs checks that
//! regenerating gives the same file): typed read calls (from a write and
//! from a read reducer), typed async calls, a typed async call with a
//! reply, a typed trigger, and the dependency's own types in a table of
//! its own.

use interstice_sdk::prelude::*;

mod inventory;

interstice_module! {
    name: "t_bind_market",
    version: "0.1.0",
    dependencies: [inventory],
    tables: [Listing, Seen, Moved],
    reducers: [
        stock,
        relocate,
        relocate_replied,
        on_moved,
        moves,
        list_item,
        peek,
        inventory_size,
        on_item,
        seen,
    ],
}

/// A listing of an item, made from what a typed read call returned.
#[table(name = "listings")]
#[derive(Clone, Debug)]
pub struct Listing {
    #[primary_key(auto_inc)]
    pub id: u64,
    pub item: u64,
    pub name: String,
    /// The dependency's type, through its bindings.
    pub rarity: inventory::Rarity,
}

/// An item the trigger saw inserted into the inventory.
#[table(name = "seen")]
#[derive(Clone, Debug)]
pub struct Seen {
    #[primary_key]
    pub id: u64,
    pub name: String,
}

/// Asks the inventory (an async call) to add item `id`.
#[reducer]
fn stock(ctx: &mut WriteContext, id: u64, name: String, rare: bool) {
    let rarity = if rare {
        inventory::Rarity::Rare
    } else {
        inventory::Rarity::Common
    };
    inventory::add_item(ctx, id, inventory::ItemSpec { name, rarity });
}

/// Asks the inventory (an async call) to move item `id` into `vault`.
#[reducer]
fn relocate(ctx: &mut WriteContext, id: u64, vault: String) {
    inventory::move_item(ctx, id, inventory::Location::Bank { vault });
}

/// The outcome of a move the inventory replied to, in reply order.
#[table(name = "moved")]
#[derive(Clone, Debug)]
pub struct Moved {
    #[primary_key(auto_inc)]
    pub id: u64,
    pub outcome: String,
}

/// Asks the inventory to move item `id` into `vault`, with a reply to
/// `on_moved` (a typed async call with a reply).
#[reducer]
fn relocate_replied(ctx: &mut WriteContext, id: u64, vault: String) {
    inventory::move_item_with_reply(
        ctx,
        id,
        inventory::Location::Bank { vault },
        reply_to!(on_moved),
    );
}

/// Records the outcome of a `relocate_replied` move.
#[reducer]
fn on_moved(ctx: &mut WriteContext, reply: Result<(), CallError<String>>) {
    let outcome = match reply {
        Ok(()) => "moved".to_owned(),
        Err(CallError::Returned(e)) => format!("refused: {e}"),
        Err(CallError::Failed { kind, message }) => format!("failed {kind}: {message}"),
    };
    ctx.tables.moved().insert(Moved { id: 0, outcome });
}

/// Every reply outcome recorded, in order.
#[reducer(mode = "read")]
fn moves(ctx: &ReadContext) -> Vec<String> {
    ctx.tables.moved().iter().map(|m| m.outcome).collect()
}

/// Lists item `item` (a typed read call); the listing's id.
#[reducer]
fn list_item(ctx: &mut WriteContext, item: u64) -> Result<u64, String> {
    let view: inventory::ItemView = inventory::get_item(ctx, item)?;
    let listing = ctx.tables.listings().insert(Listing {
        id: 0,
        item,
        name: view.spec.name,
        rarity: view.spec.rarity,
    });
    Ok(listing.id)
}

/// Where item `item` is (a typed read call from a read reducer).
#[reducer(mode = "read")]
fn peek(ctx: &ReadContext, item: u64) -> Result<String, String> {
    inventory::get_item(ctx, item).map(|v| v.place)
}

/// How many items the inventory holds (a read reducer without an error).
#[reducer(mode = "read")]
fn inventory_size(ctx: &ReadContext) -> u64 {
    inventory::item_count(ctx)
}

/// Records every item inserted into the inventory (a typed trigger).
#[reducer(on = inventory::items::insert, writes = [seen])]
fn on_item(ctx: &mut WriteContext, row: inventory::items::Row) {
    ctx.tables.seen().insert(Seen {
        id: row.id,
        name: row.spec.name,
    });
}

/// The name the trigger recorded for item `id`.
#[reducer(mode = "read")]
fn seen(ctx: &ReadContext, id: u64) -> Option<String> {
    ctx.tables.seen().get(&id).map(|s| s.name)
}
