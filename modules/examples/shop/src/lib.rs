//! `shop`: the dependent half of the example pair `shop` → `warehouse`
//! (`docs/SDK.md` §15). It reaches `warehouse` only through bindings
//! generated from its schema (`src/warehouse.rs`, written by
//! `interstice generate rust`; `tests/all/bindings.rs` checks that
//! regenerating gives the same file), all of it typed: the warehouse's own
//! types in a table of the shop, a typed trigger that lists every new item,
//! a typed read call that prices an order, and a typed async call with a
//! reply that reserves the stock and settles the order.
//!
//! Replies come back in the order the calls were made (`docs/SDK.md`
//! §7.1), so a reply settles the oldest pending order.

use interstice_sdk::prelude::*;

mod warehouse;

interstice_module! {
    name: "shop",
    version: "1.0.0",
    dependencies: [warehouse],
    tables: [Listing, Order],
    reducers: [on_item, order, on_reserved, orders, catalog],
}

/// An item the warehouse stocks, listed by the trigger.
#[table(name = "catalog")]
#[derive(Clone, Debug)]
pub struct Listing {
    #[primary_key]
    pub item: u64,
    pub name: String,
    /// The warehouse's type, through its bindings.
    pub category: warehouse::Category,
}

/// An order and where it stands: `pending` until the warehouse replies.
#[table(name = "orders")]
#[derive(Clone, Debug)]
pub struct Order {
    #[primary_key(auto_inc)]
    pub id: u64,
    pub item: u64,
    pub quantity: u32,
    pub cents: u64,
    pub status: String,
}

/// Lists every item inserted into the warehouse (a typed trigger).
#[reducer(on = warehouse::items::insert, writes = [catalog])]
fn on_item(ctx: &mut WriteContext, row: warehouse::items::Row) {
    ctx.tables.catalog().insert(Listing {
        item: row.id,
        name: row.spec.name,
        category: row.spec.category,
    });
}

/// Orders `quantity` of `item`: priced by a typed read call, then reserved
/// by a typed async call whose reply goes to `on_reserved`. The order's id.
#[reducer]
fn order(ctx: &mut WriteContext, item: u64, quantity: u32) -> Result<u64, String> {
    let unit = warehouse::price(ctx, item)?;
    let order = ctx.tables.orders().insert(Order {
        id: 0,
        item,
        quantity,
        cents: unit * u64::from(quantity),
        status: "pending".into(),
    });
    warehouse::reserve_with_reply(ctx, item, quantity, reply_to!(on_reserved));
    Ok(order.id)
}

/// Settles the oldest pending order with the warehouse's reply.
#[reducer]
fn on_reserved(
    ctx: &mut WriteContext,
    reply: Result<u32, CallError<String>>,
) -> Result<(), String> {
    let mut order = ctx
        .tables
        .orders()
        .iter()
        .find(|o| o.status == "pending")
        .ok_or("a reply with no pending order")?;
    order.status = match reply {
        Ok(left) => format!("reserved ({left} left)"),
        Err(CallError::Returned(e)) => format!("refused: {e}"),
        Err(CallError::Failed { kind, message }) => format!("failed {kind}: {message}"),
    };
    ctx.tables.orders().update(order);
    Ok(())
}

/// Every order as `(id, cents, status)`, oldest first.
#[reducer(mode = "read")]
fn orders(ctx: &ReadContext) -> Vec<(u64, u64, String)> {
    ctx.tables
        .orders()
        .iter()
        .map(|o| (o.id, o.cents, o.status))
        .collect()
}

/// The names of the listed items, in item order.
#[reducer(mode = "read")]
fn catalog(ctx: &ReadContext) -> Vec<String> {
    ctx.tables.catalog().iter().map(|l| l.name).collect()
}
