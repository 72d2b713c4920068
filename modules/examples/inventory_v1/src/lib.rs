//! `inventory` version 1: an example of tables that answer queries
//! (`docs/SDK.md` §4). `items` has every index kind — a B-tree on
//! `owner`, a unique index on `sku`, a hash index on `warehouse`, a B-tree
//! on `price` for ranges and a composite B-tree on `(owner, kind)` — and
//! `sales` is stored by column (`storage = "columnar"`), so the revenue
//! sums read one column vector. `inventory_v2` is the next version, with a
//! code migration of `items` and an automatic one of `sales`.
//! `tests/all/example.rs` drives both.

use interstice_sdk::prelude::*;

interstice_module! {
    name: "inventory",
    version: "1.0.0",
    tables: [Item, Sale],
    reducers: [
        add_item, restock, sell, skus_of, skus_of_kind, in_warehouse, price_between,
        low_stock, revenue, item_revenue,
    ],
}

/// A stock-keeping unit.
#[table(name = "items", index(name = "by_owner_kind", columns = [owner, kind]))]
#[derive(Clone, Debug)]
pub struct Item {
    #[primary_key(auto_inc)]
    pub id: u64,
    #[index]
    pub owner: String,
    /// 0 tool, 1 part, anything else other (a string in version 2).
    pub kind: u32,
    #[index(unique)]
    pub sku: String,
    #[index(hash)]
    pub warehouse: String,
    /// Cents.
    #[index(btree)]
    pub price: u64,
    pub stock: u32,
}

/// One sale, stored by column: `quantity` and `cents` are plain vectors
/// that `revenue` sums without decoding a row.
#[table(name = "sales", storage = "columnar")]
#[derive(Clone, Debug)]
pub struct Sale {
    #[primary_key(auto_inc)]
    pub id: u64,
    #[index]
    pub item: u64,
    pub quantity: u32,
    pub cents: u64,
}

/// Adds an item (a taken `sku` fails with `Constraint`); returns its id.
#[reducer]
fn add_item(
    ctx: &mut WriteContext,
    owner: String,
    kind: u32,
    sku: String,
    warehouse: String,
    price: u64,
    stock: u32,
) -> u64 {
    let item = Item {
        id: 0,
        owner,
        kind,
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

/// Sells `quantity` of `sku` (a unique-index lookup); returns the sale's
/// id. Not enough stock fails, and nothing is written.
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
    };
    Ok(ctx.tables.sales().insert(sale).id)
}

/// The skus of `owner`'s items, in id order (B-tree point query).
#[reducer(mode = "read")]
fn skus_of(ctx: &ReadContext, owner: String) -> Vec<String> {
    let q = ctx.tables.items().by_owner().filter(&owner);
    q.iter().map(|i| i.sku).collect()
}

/// The skus of `owner`'s items of `kind` (composite index, both columns).
#[reducer(mode = "read")]
fn skus_of_kind(ctx: &ReadContext, owner: String, kind: u32) -> Vec<String> {
    let q = ctx.tables.items().by_owner_kind().filter(&(owner, kind));
    q.iter().map(|i| i.sku).collect()
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

/// The skus with at most `max` in stock: the filter runs in the host, and
/// only those rows cross into wasm.
#[reducer(mode = "read")]
fn low_stock(ctx: &ReadContext, max: u32) -> Vec<String> {
    let q = ctx.tables.items().matching(|c| c.stock.le(max));
    q.iter().map(|i| i.sku).collect()
}

/// `(sales, units, cents, biggest sale)`, each one host-side aggregate
/// over the columnar `sales` table.
#[reducer(mode = "read")]
fn revenue(ctx: &ReadContext) -> (u64, u128, u128, Option<u64>) {
    let all = ctx.tables.sales().query();
    (
        all.count(),
        all.sum(|c| c.quantity),
        all.sum(|c| c.cents),
        all.max(|c| c.cents),
    )
}

/// The cents taken for `sku`: its sales through the `item` index, summed
/// by the host.
#[reducer(mode = "read")]
fn item_revenue(ctx: &ReadContext, sku: String) -> Result<u128, String> {
    let it = ctx
        .tables
        .items()
        .by_sku()
        .find(&sku)
        .ok_or("no such sku")?;
    Ok(ctx.tables.sales().by_item().filter(&it.id).sum(|c| c.cents))
}
