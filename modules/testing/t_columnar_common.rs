// The module `t_columnar`, shared by `t_columnar_rows` and
// `t_columnar_cols`: each includes it and declares `items` with
// `items_table!(storage = "…")`, so the two differ only in how the host
// stores the table. Every index kind, ranges, pushed-down filters and
// host-side aggregates, and a transaction that writes, reads back and
// fails (rolled back).

use interstice_sdk::prelude::*;
use interstice_sdk::{Filter, Query};

interstice_module! {
    name: "t_columnar",
    version: "0.1.0",
    tables: [Item],
    reducers: [
        put, set, set_sku, remove, write_then_fail, get, all, by_owner, by_kind, by_sku,
        owner_kind, owner_prefix, price_range, id_range, filtered, stats,
    ],
}

/// Declares `Item`, stored as `$storage` says.
macro_rules! items_table {
    ($($storage:tt)*) => {
        /// An item: every index kind, numbers of several widths, an
        /// `Option` and a float.
        #[table(name = "items", $($storage)*, index(name = "by_owner_kind", columns = [owner, kind]))]
        #[derive(Clone, Debug)]
        pub struct Item {
            #[primary_key(auto_inc)]
            pub id: u64,
            #[index]
            pub owner: String,
            #[index(hash)]
            pub kind: u32,
            #[index(unique)]
            pub sku: String,
            #[index(btree)]
            pub price: i64,
            pub qty: u64,
            pub weight: f64,
            pub discount: Option<u32>,
            pub note: String,
        }
    };
}

fn ids(q: Query<Item>) -> Vec<u64> {
    q.iter().map(|i| i.id).collect()
}

/// Inserts an item (a taken sku fails the transaction); returns its id.
#[reducer]
#[allow(clippy::too_many_arguments)]
fn put(
    ctx: &mut WriteContext,
    owner: String,
    kind: u32,
    sku: String,
    price: i64,
    qty: u64,
    weight: f64,
    discount: Option<u32>,
) -> Result<u64, String> {
    let note = format!("{owner}/{sku}");
    let item = Item {
        id: 0,
        owner,
        kind,
        sku,
        price,
        qty,
        weight,
        discount,
        note,
    };
    Ok(ctx.tables.items().insert(item).id)
}

/// Changes an item's numbers; false if there is no such item.
#[reducer]
fn set(
    ctx: &mut WriteContext,
    id: u64,
    price: i64,
    qty: u64,
    discount: Option<u32>,
) -> Result<bool, String> {
    let Some(mut it) = ctx.tables.items().get(&id) else {
        return Ok(false);
    };
    it.price = price;
    it.qty = qty;
    it.discount = discount;
    Ok(ctx.tables.items().update(it))
}

/// Changes an item's sku (the unique index refuses another item's).
#[reducer]
fn set_sku(ctx: &mut WriteContext, id: u64, sku: String) -> Result<bool, String> {
    let Some(mut it) = ctx.tables.items().get(&id) else {
        return Ok(false);
    };
    it.sku = sku;
    Ok(ctx.tables.items().update(it))
}

/// Deletes an item.
#[reducer]
fn remove(ctx: &mut WriteContext, id: u64) -> bool {
    ctx.tables.items().delete(&id)
}

/// Inserts an item of `owner`, moves item `id` to `price`, deletes item
/// `id + 1`, reads everything back through the indexes and aggregates, and
/// fails with what it saw: the transaction rolls back.
#[reducer]
fn write_then_fail(
    ctx: &mut WriteContext,
    owner: String,
    id: u64,
    price: i64,
) -> Result<(), String> {
    let items = ctx.tables.items();
    let new = items
        .insert(Item {
            id: 0,
            owner: owner.clone(),
            kind: 7,
            sku: format!("tmp-{owner}-{id}"),
            price,
            qty: 1,
            weight: 0.5,
            discount: None,
            note: String::new(),
        })
        .id;
    if let Some(mut it) = items.get(&id) {
        it.price = price;
        items.update(it);
    }
    let deleted = items.delete(&(id + 1));
    let all = items.query();
    Err(format!(
        "new {new} deleted {deleted} owner {:?} kind7 {:?} prices {:?} count {} sum {} max {:?}",
        ids(items.by_owner().filter(&owner)),
        ids(items.by_kind().filter(&7)),
        ids(items.by_price().range(price..=price)),
        all.count(),
        all.sum(|c| c.qty),
        all.max(|c| c.price),
    ))
}

/// An item by id.
#[reducer(mode = "read")]
fn get(ctx: &ReadContext, id: u64) -> Option<Item> {
    ctx.tables.items().get(&id)
}

/// Every item, in key order (a plain scan).
#[reducer(mode = "read")]
fn all(ctx: &ReadContext) -> Vec<Item> {
    ctx.tables.items().iter().collect()
}

/// Ids of `owner`'s items (btree).
#[reducer(mode = "read")]
fn by_owner(ctx: &ReadContext, owner: String) -> Vec<u64> {
    ids(ctx.tables.items().by_owner().filter(&owner))
}

/// Ids of the items of `kind` (hash).
#[reducer(mode = "read")]
fn by_kind(ctx: &ReadContext, kind: u32) -> Vec<u64> {
    ids(ctx.tables.items().by_kind().filter(&kind))
}

/// The item with `sku` (unique).
#[reducer(mode = "read")]
fn by_sku(ctx: &ReadContext, sku: String) -> Option<Item> {
    ctx.tables.items().by_sku().find(&sku)
}

/// Ids of `owner`'s items of `kind` (composite, every column).
#[reducer(mode = "read")]
fn owner_kind(ctx: &ReadContext, owner: String, kind: u32) -> Vec<u64> {
    ids(ctx.tables.items().by_owner_kind().filter(&(owner, kind)))
}

/// `(kind, id)` of `owner`'s items (composite prefix), in index order.
#[reducer(mode = "read")]
fn owner_prefix(ctx: &ReadContext, owner: String) -> Vec<(u32, u64)> {
    let q = ctx.tables.items().by_owner_kind().prefix(&(owner,));
    q.iter().map(|i| (i.kind, i.id)).collect()
}

/// `(price, id)` of the items with `lo <= price < hi` (btree range), and
/// of those with `price >= lo`.
#[reducer(mode = "read")]
fn price_range(ctx: &ReadContext, lo: i64, hi: i64) -> (Vec<(i64, u64)>, Vec<u64>) {
    let ix = ctx.tables.items().by_price();
    let bounded = if lo < hi {
        ix.range(lo..hi).iter().map(|i| (i.price, i.id)).collect()
    } else {
        Vec::new()
    };
    (bounded, ids(ix.range(lo..)))
}

/// Ids of the items with `lo <= id <= hi` (primary-key range).
#[reducer(mode = "read")]
fn id_range(ctx: &ReadContext, lo: u64, hi: u64) -> Vec<u64> {
    ids(ctx.tables.items().range(lo..=hi))
}

/// The filter `form` picks, over the whole table or an index range.
fn filter_of(form: u8, price: i64, qty: u64) -> Filter<Item> {
    let c = Item::columns();
    match form % 6 {
        0 => c.price.lt(price) & c.qty.ge(qty),
        1 => c.discount.is_none() | c.weight.gt(1.5),
        2 => !c.owner.eq("a".into()) & c.kind.ne(1),
        3 => c.discount.ge(qty as u32) | c.price.eq(price),
        4 => c.weight.le(0.25) | c.qty.gt(qty),
        _ => c.sku.lt("m".into()) & !c.discount.is_some(),
    }
}

/// Ids of the items a pushed-down filter keeps: over the whole table
/// (`over` 0), `owner`'s items (1) or the prices from `price` up (2).
#[reducer(mode = "read")]
fn filtered(ctx: &ReadContext, over: u8, form: u8, owner: String, price: i64, qty: u64) -> Vec<u64> {
    let f = filter_of(form, price, qty);
    let items = ctx.tables.items();
    let q = match over % 3 {
        0 => items.query(),
        1 => items.by_owner().filter(&owner),
        _ => items.by_price().range(price..),
    };
    ids(q.matching(|_| f))
}

/// Host-side aggregates over the whole table, or (`form` < 6) the items a
/// filter keeps: `(count, sum qty, sum price, sum weight, min price,
/// max price, max discount, min weight)`.
#[reducer(mode = "read")]
#[allow(clippy::type_complexity)]
fn stats(
    ctx: &ReadContext,
    form: u8,
    price: i64,
    qty: u64,
) -> (u64, u128, i128, f64, Option<i64>, Option<i64>, Option<u32>, Option<f64>) {
    let q = if form < 6 {
        let f = filter_of(form, price, qty);
        ctx.tables.items().query().matching(|_| f)
    } else {
        ctx.tables.items().query()
    };
    (
        q.count(),
        q.sum(|c| c.qty),
        q.sum(|c| c.price),
        q.sum(|c| c.weight),
        q.min(|c| c.price),
        q.max(|c| c.price),
        q.max(|c| c.discount),
        q.min(|c| c.weight),
    )
}
