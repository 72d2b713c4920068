//! `t_indexes`: a table with every index kind (btree, unique, hash and a
//! composite btree), queried through the typed SDK: point lookups, every
//! range form, composite prefixes, pushed-down filters and host-side
//! aggregates. `tests/all/indexes.rs` and `tests/all/filters.rs` drive it.

use interstice_sdk::prelude::*;
use interstice_sdk::{Filter, Query};

interstice_module! {
    name: "t_indexes",
    version: "0.1.0",
    tables: [Item],
    reducers: [
        add, add_two, add_then_fail, set_price, set_sku, remove, bulk,
        by_owner, by_color, by_sku, price_range, owner_kind, owner_prefix,
        add_and_read_back, filter_price, filter_discount, filter_weight, filter_logic,
        stats, ids_where_page_boundary, first_from,
    ],
}

/// An item with every kind of index.
#[table(name = "items", index(name = "by_owner_kind", columns = [owner, kind]))]
#[derive(Clone, Debug)]
pub struct Item {
    #[primary_key(auto_inc)]
    pub id: u64,
    #[index]
    pub owner: String,
    pub kind: u32,
    #[index(unique)]
    pub sku: String,
    #[index(hash)]
    pub color: String,
    #[index(btree)]
    pub price: i64,
    pub discount: Option<u32>,
    pub weight: f64,
}

fn item(owner: String, kind: u32, sku: String, color: String, price: i64) -> Item {
    Item {
        id: 0,
        owner,
        kind,
        sku,
        color,
        price,
        discount: None,
        weight: 0.0,
    }
}

fn ids(q: Query<Item>) -> Vec<u64> {
    q.iter().map(|i| i.id).collect()
}

/// Adds an item; returns its id.
#[reducer]
#[allow(clippy::too_many_arguments)]
fn add(
    ctx: &mut WriteContext,
    owner: String,
    kind: u32,
    sku: String,
    color: String,
    price: i64,
    discount: Option<u32>,
    weight: f64,
) -> Result<u64, String> {
    let mut it = item(owner, kind, sku, color, price);
    it.discount = discount;
    it.weight = weight;
    Ok(ctx.tables.items().insert(it).id)
}

/// Adds two items in one transaction (the second may violate `sku`).
#[reducer]
fn add_two(ctx: &mut WriteContext, sku_a: String, sku_b: String) -> Result<(), String> {
    let items = ctx.tables.items();
    items.insert(item("two".into(), 1, sku_a, "red".into(), 1));
    items.insert(item("two".into(), 1, sku_b, "red".into(), 2));
    Ok(())
}

/// Adds an item, checks the indexes see it, then fails (rolls back).
#[reducer]
fn add_then_fail(ctx: &mut WriteContext, owner: String, sku: String) -> Result<(), String> {
    let id = ctx
        .tables
        .items()
        .insert(item(owner.clone(), 9, sku.clone(), "blue".into(), 999))
        .id;
    let seen = ids(ctx.tables.items().by_owner().filter(&owner));
    let by_sku = ctx.tables.items().by_sku().find(&sku).map(|i| i.id);
    Err(format!("seen {seen:?} sku {by_sku:?} id {id}"))
}

/// Changes an item's price (moves it in the `price` index).
#[reducer]
fn set_price(ctx: &mut WriteContext, id: u64, price: i64) -> Result<bool, String> {
    let Some(mut it) = ctx.tables.items().get(&id) else {
        return Ok(false);
    };
    it.price = price;
    Ok(ctx.tables.items().update(it))
}

/// Changes an item's sku (the unique index refuses another row's).
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
fn remove(ctx: &mut WriteContext, id: u64) -> Result<bool, String> {
    Ok(ctx.tables.items().delete(&id))
}

/// Adds `n` items of `owner` with prices 0..n and distinct skus.
#[reducer]
fn bulk(ctx: &mut WriteContext, owner: String, n: u32) -> Result<(), String> {
    for i in 0..n {
        let mut it = item(
            owner.clone(),
            i % 3,
            format!("{owner}-{i}"),
            if i % 2 == 0 { "red" } else { "blue" }.into(),
            i64::from(i),
        );
        it.discount = (i % 4 != 0).then_some(i % 10);
        it.weight = f64::from(i) / 2.0;
        ctx.tables.items().insert(it);
    }
    Ok(())
}

/// Ids of `owner`'s items (btree point query).
#[reducer(mode = "read")]
fn by_owner(ctx: &ReadContext, owner: String) -> Result<Vec<u64>, String> {
    Ok(ids(ctx.tables.items().by_owner().filter(&owner)))
}

/// Ids of items of this color (hash point query).
#[reducer(mode = "read")]
fn by_color(ctx: &ReadContext, color: String) -> Result<Vec<u64>, String> {
    Ok(ids(ctx.tables.items().by_color().filter(&color)))
}

/// The id of the item with this sku (unique lookup).
#[reducer(mode = "read")]
fn by_sku(ctx: &ReadContext, sku: String) -> Result<Option<u64>, String> {
    Ok(ctx.tables.items().by_sku().find(&sku).map(|i| i.id))
}

/// Prices of the items in a price range, in index order; `form` picks the
/// range syntax: 0 `..`, 1 `a..`, 2 `..b`, 3 `..=b`, 4 `a..b`, 5 `a..=b`,
/// 6 both ends excluded.
#[reducer(mode = "read")]
fn price_range(ctx: &ReadContext, form: u8, a: i64, b: i64) -> Result<Vec<i64>, String> {
    use std::ops::Bound::Excluded;
    let ix = ctx.tables.items().by_price();
    let q = match form {
        0 => ix.range(..),
        1 => ix.range(a..),
        2 => ix.range(..b),
        3 => ix.range(..=b),
        4 => ix.range(a..b),
        5 => ix.range(a..=b),
        6 => ix.range((Excluded(a), Excluded(b))),
        _ => return Err(format!("no range form {form}")),
    };
    Ok(q.iter().map(|i| i.price).collect())
}

/// Ids of `owner`'s items of `kind` (composite, every column).
#[reducer(mode = "read")]
fn owner_kind(ctx: &ReadContext, owner: String, kind: u32) -> Result<Vec<u64>, String> {
    Ok(ids(ctx
        .tables
        .items()
        .by_owner_kind()
        .filter(&(owner, kind))))
}

/// `(kind, id)` of `owner`'s items through the composite index's prefix,
/// in index order.
#[reducer(mode = "read")]
fn owner_prefix(ctx: &ReadContext, owner: String) -> Result<Vec<(u32, u64)>, String> {
    Ok(ctx
        .tables
        .items()
        .by_owner_kind()
        .prefix(&(owner,))
        .iter()
        .map(|i| (i.kind, i.id))
        .collect())
}

/// Inserts, updates and deletes, then reads back through every index in
/// the same transaction: `[owner ids, sku hit, color ids, prices ≥ 1000]`.
#[reducer]
fn add_and_read_back(ctx: &mut WriteContext, owner: String) -> Result<Vec<Vec<u64>>, String> {
    let items = ctx.tables.items();
    let a = items
        .insert(item(
            owner.clone(),
            1,
            format!("{owner}-a"),
            "green".into(),
            1000,
        ))
        .id;
    let b = items
        .insert(item(
            owner.clone(),
            2,
            format!("{owner}-b"),
            "green".into(),
            5,
        ))
        .id;
    let c = items
        .insert(item(
            owner.clone(),
            3,
            format!("{owner}-c"),
            "green".into(),
            7,
        ))
        .id;
    let mut moved = items.get(&b).ok_or("b vanished")?;
    moved.price = 2000;
    items.update(moved);
    items.delete(&c);
    let _ = a;
    Ok(vec![
        ids(items.by_owner().filter(&owner)),
        items
            .by_sku()
            .find(&format!("{owner}-a"))
            .map(|i| i.id)
            .into_iter()
            .collect(),
        ids(items.by_color().filter(&"green".to_string())),
        ids(items.by_price().range(1000..)),
    ])
}

fn cmp_filter<V>(
    op: u8,
    col: interstice_sdk::Col<Item, V>,
    v: V::Inner,
) -> Result<Filter<Item>, String>
where
    V: interstice_sdk::Comparable,
{
    Ok(match op {
        0 => col.eq(v),
        1 => col.ne(v),
        2 => col.lt(v),
        3 => col.le(v),
        4 => col.gt(v),
        5 => col.ge(v),
        _ => return Err(format!("no operator {op}")),
    })
}

/// Ids of the items whose price compares with `v` by `op` (0 =, 1 ≠, 2 <,
/// 3 ≤, 4 >, 5 ≥), filtered by the host over the whole table.
#[reducer(mode = "read")]
fn filter_price(ctx: &ReadContext, op: u8, v: i64) -> Result<Vec<u64>, String> {
    let f = cmp_filter(op, Item::columns().price, v)?;
    Ok(ids(ctx.tables.items().matching(|_| f)))
}

/// Likewise on the `Option<u32>` column `discount`; `op` 6 is `is_none`,
/// 7 `is_some`.
#[reducer(mode = "read")]
fn filter_discount(ctx: &ReadContext, op: u8, v: u32) -> Result<Vec<u64>, String> {
    let c = Item::columns().discount;
    let f = match op {
        6 => c.is_none(),
        7 => c.is_some(),
        _ => cmp_filter(op, c, v)?,
    };
    Ok(ids(ctx.tables.items().matching(|_| f)))
}

/// Likewise on the `f64` column `weight`.
#[reducer(mode = "read")]
fn filter_weight(ctx: &ReadContext, op: u8, v: f64) -> Result<Vec<u64>, String> {
    let f = cmp_filter(op, Item::columns().weight, v)?;
    Ok(ids(ctx.tables.items().matching(|_| f)))
}

/// `owner`'s items (through its index) that are red and cheaper than
/// `max`, or not of kind 0: `and`, `or`, `not` over an index query.
#[reducer(mode = "read")]
fn filter_logic(ctx: &ReadContext, owner: String, max: i64) -> Result<Vec<u64>, String> {
    Ok(ids(ctx.tables.items().by_owner().filter(&owner).matching(
        |c| (c.color.eq("red".into()) & c.price.lt(max)) | !c.kind.eq(0),
    )))
}

/// Host-side aggregates over `owner`'s items with a price ≥ `min`:
/// `(count, sum of price, min price, max price, sum of discount, sum of weight)`.
#[reducer(mode = "read")]
#[allow(clippy::type_complexity)]
fn stats(
    ctx: &ReadContext,
    owner: String,
    min: i64,
) -> Result<(u64, i128, Option<i64>, Option<i64>, u128, f64), String> {
    let q = ctx
        .tables
        .items()
        .by_owner()
        .filter(&owner)
        .matching(|c| c.price.ge(min));
    Ok((
        q.count(),
        q.sum(|c| c.price),
        q.min(|c| c.price),
        q.max(|c| c.price),
        q.sum(|c| c.discount),
        q.sum(|c| c.weight),
    ))
}

/// The number of rows a filtered whole-table query returns that keeps one
/// row in `every` (checks paging over filtered-out runs).
#[reducer(mode = "read")]
fn ids_where_page_boundary(ctx: &ReadContext, price_mod: i64) -> Result<u64, String> {
    let n = ctx
        .tables
        .items()
        .query()
        .iter()
        .filter(|i| i.price % price_mod == 0)
        .count() as u64;
    let pushed = ctx.tables.items().matching(|c| c.kind.eq(0)).iter().count() as u64;
    Ok(n * 1_000_000 + pushed)
}

/// The first of `owner`'s items (by the owner index, in primary-key order)
/// with a price of at least `min`: `(by Query::first, by iter().next())`,
/// which must agree.
#[reducer(mode = "read")]
fn first_from(ctx: &ReadContext, owner: String, min: i64) -> (Option<u64>, Option<u64>) {
    let q = ctx
        .tables
        .items()
        .by_owner()
        .filter(&owner)
        .matching(|c| c.price.ge(min));
    (q.first().map(|i| i.id), q.iter().next().map(|i| i.id))
}
