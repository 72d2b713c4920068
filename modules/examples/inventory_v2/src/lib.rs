//! `inventory` version 2 (after `inventory_v1`): `items` goes to table
//! version 2, its numeric `kind` replaced by a `category` name, rewritten by
//! the code migration `items_v2`; the columnar `sales` table gains a
//! `refunded` column with a declared default (an automatic migration, no
//! code). Refunded sales are left out of the revenue by a pushed-down
//! filter on the column vectors. `tests/all/example.rs` upgrades v1 to it.

use interstice_sdk::prelude::*;

interstice_module! {
    name: "inventory",
    version: "2.0.0",
    tables: [Item, Sale],
    reducers: [
        add_item, restock, sell, refund, skus_of, skus_in, in_warehouse, price_between,
        low_stock, revenue, item_revenue, items_v2,
    ],
}

/// Version 1 of `items`, as the migration reads it.
#[table(name = "items", version = 1, old)]
pub struct ItemV1 {
    #[primary_key(auto_inc)]
    pub id: u64,
    pub owner: String,
    pub kind: u32,
    pub sku: String,
    pub warehouse: String,
    pub price: u64,
    pub stock: u32,
}

/// A stock-keeping unit (table version 2).
#[table(
    name = "items",
    version = 2,
    index(name = "by_owner_category", columns = [owner, category])
)]
#[derive(Clone, Debug)]
pub struct Item {
    #[primary_key(auto_inc)]
    pub id: u64,
    #[index]
    pub owner: String,
    /// `tool`, `part` or `other`.
    pub category: String,
    #[index(unique)]
    pub sku: String,
    #[index(hash)]
    pub warehouse: String,
    /// Cents.
    #[index(btree)]
    pub price: u64,
    pub stock: u32,
}

/// One sale, stored by column; `refunded` is appended with a default, so
/// the upgrade gives every old sale `false` without code.
#[table(name = "sales", storage = "columnar")]
#[derive(Clone, Debug)]
pub struct Sale {
    #[primary_key(auto_inc)]
    pub id: u64,
    #[index]
    pub item: u64,
    pub quantity: u32,
    pub cents: u64,
    #[default(false)]
    pub refunded: bool,
}

/// Rewrites every version-1 item with its kind's category name.
#[migration(from_version = 1, to_version = 2)]
fn items_v2(ctx: &mut WriteContext, old: OldTable<ItemV1>) {
    for o in &old {
        let category = match o.kind {
            0 => "tool",
            1 => "part",
            _ => "other",
        };
        ctx.tables.items().insert(Item {
            id: o.id,
            owner: o.owner,
            category: category.into(),
            sku: o.sku,
            warehouse: o.warehouse,
            price: o.price,
            stock: o.stock,
        });
    }
}

/// Adds an item (a taken `sku` fails with `Constraint`); returns its id.
#[reducer]
fn add_item(
    ctx: &mut WriteContext,
    owner: String,
    category: String,
    sku: String,
    warehouse: String,
    price: u64,
    stock: u32,
) -> u64 {
    let item = Item {
        id: 0,
        owner,
        category,
        sku,
        warehouse,
        price,
        stock,
    };
    ctx.tables.items().insert(item).id
}

/// Adds `n` to the stock of `sku`; returns the new stock.
#[reducer]
fn restock(ctx: &mut WriteContext, sku: String, n: u32) -> Result<u32, String> {
    let items = ctx.tables.items();
    let mut it = items.by_sku().find(&sku).ok_or("no such sku")?;
    it.stock = it.stock.checked_add(n).ok_or("stock overflows")?;
    items.update(&it);
    Ok(it.stock)
}

/// Sells `quantity` of `sku`; returns the sale's id. Not enough stock
/// fails, and nothing is written.
#[reducer]
fn sell(ctx: &mut WriteContext, sku: String, quantity: u32) -> Result<u64, String> {
    let items = ctx.tables.items();
    let mut it = items.by_sku().find(&sku).ok_or("no such sku")?;
    it.stock = it
        .stock
        .checked_sub(quantity)
        .ok_or_else(|| format!("only {} of {sku} in stock", it.stock))?;
    items.update(&it);
    let sale = Sale {
        id: 0,
        item: it.id,
        quantity,
        cents: it.price * u64::from(quantity),
        refunded: false,
    };
    Ok(ctx.tables.sales().insert(sale).id)
}

/// Refunds sale `id` (its units go back in stock); false if it was
/// refunded already.
#[reducer]
fn refund(ctx: &mut WriteContext, id: u64) -> Result<bool, String> {
    let sales = ctx.tables.sales();
    let mut sale = sales.get(&id).ok_or("no such sale")?;
    if sale.refunded {
        return Ok(false);
    }
    sale.refunded = true;
    sales.update(&sale);
    let items = ctx.tables.items();
    let mut it = items.get(&sale.item).ok_or("the item is gone")?;
    it.stock += sale.quantity;
    items.update(&it);
    Ok(true)
}

/// The skus of `owner`'s items, in id order (B-tree point query).
#[reducer(mode = "read")]
fn skus_of(ctx: &ReadContext, owner: String) -> Vec<String> {
    let q = ctx.tables.items().by_owner().filter(&owner);
    q.iter().map(|i| i.sku).collect()
}

/// `(category, sku)` of `owner`'s items, by category (composite prefix).
#[reducer(mode = "read")]
fn skus_in(ctx: &ReadContext, owner: String) -> Vec<(String, String)> {
    let q = ctx.tables.items().by_owner_category().prefix(&(owner,));
    q.iter().map(|i| (i.category, i.sku)).collect()
}

/// The skus stored in `warehouse` (hash index).
#[reducer(mode = "read")]
fn in_warehouse(ctx: &ReadContext, warehouse: String) -> Vec<String> {
    let q = ctx.tables.items().by_warehouse().filter(&warehouse);
    q.iter().map(|i| i.sku).collect()
}

/// `(sku, price)` of the items priced in `lo..=hi`, cheapest first (range).
#[reducer(mode = "read")]
fn price_between(ctx: &ReadContext, lo: u64, hi: u64) -> Vec<(String, u64)> {
    let q = ctx.tables.items().by_price().range(lo..=hi);
    q.iter().map(|i| (i.sku, i.price)).collect()
}

/// The skus with at most `max` in stock (filtered by the host).
#[reducer(mode = "read")]
fn low_stock(ctx: &ReadContext, max: u32) -> Vec<String> {
    let q = ctx.tables.items().matching(|c| c.stock.le(max));
    q.iter().map(|i| i.sku).collect()
}

/// `(sales, units, cents, biggest sale)` over the sales not refunded: a
/// pushed-down filter and host-side aggregates on the columnar table.
#[reducer(mode = "read")]
fn revenue(ctx: &ReadContext) -> (u64, u128, u128, Option<u64>) {
    let kept = ctx.tables.sales().matching(|c| c.refunded.eq(false));
    (
        kept.count(),
        kept.sum(|c| c.quantity),
        kept.sum(|c| c.cents),
        kept.max(|c| c.cents),
    )
}

/// The cents kept for `sku`: its sales not refunded, through the `item`
/// index and a filter, summed by the host.
#[reducer(mode = "read")]
fn item_revenue(ctx: &ReadContext, sku: String) -> Result<u128, String> {
    let it = ctx
        .tables
        .items()
        .by_sku()
        .find(&sku)
        .ok_or("no such sku")?;
    let q = ctx.tables.sales().by_item().filter(&it.id);
    Ok(q.matching(|c| c.refunded.eq(false)).sum(|c| c.cents))
}
