//! `warehouse`: the dependency of the example pair `shop` → `warehouse`
//! (`docs/SDK.md` §15). Its custom types (`ItemSpec`, `Category`) are the
//! ones `shop` uses through bindings generated from this module's schema;
//! it knows nothing of `shop`.

use interstice_sdk::prelude::*;

interstice_module! {
    name: "warehouse",
    version: "1.0.0",
    tables: [Item],
    reducers: [add_item, reserve, price, stock_of],
}

/// What kind of thing an item is.
#[derive(IntersticeType, Clone, Debug, PartialEq)]
pub enum Category {
    Tool,
    Part,
    Other,
}

/// What an item is and what one costs.
#[derive(IntersticeType, Clone, Debug, PartialEq)]
pub struct ItemSpec {
    pub name: String,
    pub category: Category,
    /// The price of one, in cents.
    pub cents: u64,
}

/// An item and how many are in stock.
#[table(name = "items")]
#[derive(Clone, Debug)]
pub struct Item {
    #[primary_key(auto_inc)]
    pub id: u64,
    pub spec: ItemSpec,
    pub stock: u32,
}

/// Stocks a new item; its id.
#[reducer]
fn add_item(ctx: &mut WriteContext, spec: ItemSpec, stock: u32) -> Result<u64, String> {
    if spec.name.is_empty() {
        return Err("an item needs a name".into());
    }
    Ok(ctx.tables.items().insert(Item { id: 0, spec, stock }).id)
}

/// Takes `quantity` of item `id` out of stock; how many are left.
#[reducer]
fn reserve(ctx: &mut WriteContext, id: u64, quantity: u32) -> Result<u32, String> {
    let mut item = ctx.tables.items().get(&id).ok_or(format!("no item {id}"))?;
    if item.stock < quantity {
        return Err(format!(
            "only {} of {} in stock",
            item.stock, item.spec.name
        ));
    }
    item.stock -= quantity;
    let left = item.stock;
    ctx.tables.items().update(item);
    Ok(left)
}

/// The price of one of item `id`, in cents.
#[reducer(mode = "read")]
fn price(ctx: &ReadContext, id: u64) -> Result<u64, String> {
    ctx.tables
        .items()
        .get(&id)
        .map(|i| i.spec.cents)
        .ok_or(format!("no item {id}"))
}

/// How many of item `id` are in stock (0 for no such item).
#[reducer(mode = "read")]
fn stock_of(ctx: &ReadContext, id: u64) -> u32 {
    ctx.tables.items().get(&id).map_or(0, |i| i.stock)
}
