//! `t_relay`: one link of a subscription chain, one subscriber of a
//! fan-out, or a reader of another module (`tests/all/stress.rs`). Its
//! source is a module with `t_inventory`'s `items` table (`t_inventory`
//! itself, or another relay): its trigger runs on every insert into the
//! source's `items` and inserts the item, one hop further (`owner` holds
//! the hops as a decimal number), into its own `items`, so that another
//! relay can subscribe to it, and records the arrival in `seen`.
//! `list_item` read-calls the source's `get_item` like `t_market` does.
//!
//! The module name `t_relay_000` and the source `t_inventory` are
//! placeholders of 11 bytes each: `support::relay_wasm(name, source)`
//! copies this binary with both rewritten (same length), giving as many
//! distinct modules as a test needs from one crate (`docs/TESTING.md`,
//! "Many modules from one crate"). They are longer than 8 bytes so that
//! the compiler keeps them as bytes in the data section (a string of 8
//! bytes or less can become an integer constant in the code).

use interstice_sdk::prelude::*;

interstice_module! {
    name: "t_relay_000",
    version: "0.1.0",
    dependencies: ["t_inventory"],
    tables: [Item, Seen],
    reducers: [on_item, seen, seen_count, get_item, list_item],
}

/// An item, with the row type of `t_inventory.items`: `id` is the
/// source's item, `owner` the hops it made as a decimal number.
#[table(name = "items")]
#[derive(Clone, Debug)]
pub struct Item {
    #[primary_key]
    pub id: u64,
    pub owner: String,
}

/// One arrival, numbered `n` in the order the trigger ran.
#[table(name = "seen")]
#[derive(Clone, Debug)]
pub struct Seen {
    #[primary_key]
    pub n: u64,
    /// The source's item id.
    pub seq: u64,
    /// The hops the item had made when it arrived (0 from `t_inventory`).
    pub hops: u64,
}

/// Records the arrival and passes the item on, one hop further. A second
/// arrival of one item fails (the primary key of `items`), so a duplicate
/// delivery is a failed commit, never a silent one.
#[reducer(on = "t_inventory.items.insert", writes = [items, seen])]
fn on_item(ctx: &mut WriteContext, item: Item) -> Result<(), String> {
    let hops: u64 = item.owner.parse().map_err(|_| {
        format!(
            "item {}: owner {:?} is not a hop count",
            item.id, item.owner
        )
    })?;
    let seen = ctx.tables.seen();
    let n = seen.count();
    seen.insert(Seen {
        n,
        seq: item.id,
        hops,
    });
    let items = ctx.tables.items();
    if items.get(&item.id).is_some() {
        return Err(format!("item {} arrived twice", item.id));
    }
    items.insert(Item {
        id: item.id,
        owner: (hops + 1).to_string(),
    });
    Ok(())
}

/// Arrivals `from .. from + limit` in arrival order, flattened:
/// `[seq, hops, seq, hops, …]`.
#[reducer(mode = "read")]
fn seen(ctx: &ReadContext, from: u64, limit: u32) -> Vec<u64> {
    let seen = ctx.tables.seen();
    let mut out = Vec::new();
    for n in from..from.saturating_add(u64::from(limit)) {
        match seen.get(&n) {
            Some(s) => {
                out.push(s.seq);
                out.push(s.hops);
            }
            None => break,
        }
    }
    out
}

/// The number of arrivals.
#[reducer(mode = "read")]
fn seen_count(ctx: &ReadContext) -> u64 {
    ctx.tables.seen().count()
}

/// Item `id`'s owner, if this relay has the item (`t_inventory`'s
/// `get_item`, so that a relay can be another relay's source).
#[reducer(mode = "read")]
fn get_item(ctx: &ReadContext, id: u64) -> Option<String> {
    ctx.tables.items().get(&id).map(|i| i.owner)
}

/// Read-calls the source's `get_item(item)` and asks for
/// `ctx.timestamp()`, as `t_market.list_item` does (the isolation
/// checker's reader); whether the source had the item.
#[reducer]
fn list_item(ctx: &mut WriteContext, item: u64) -> Result<bool, String> {
    let owner: Option<String> = ctx
        .read_call::<Option<String>, ()>("t_inventory", "get_item", (item,))
        .map_err(|()| "get_item cannot fail".to_string())?;
    let _ = ctx.timestamp();
    Ok(owner.is_some())
}
