//! `t_market`: lists items of `t_inventory` after reading them with a read
//! call, and records what the read saw. Each listing also records
//! `ctx.timestamp()`, which the tests check against the log.

use interstice_sdk::prelude::*;

interstice_module! {
    name: "t_market",
    version: "0.1.0",
    dependencies: ["t_inventory"],
    tables: [Listing],
    reducers: [list_item, list_slowly, spin_reads, listing_count],
}

/// One attempt to list an item: whether the read call saw it.
#[table(name = "listings")]
#[derive(Clone, Debug)]
pub struct Listing {
    #[primary_key(auto_inc)]
    pub id: u64,
    pub item: u64,
    pub seen: bool,
    /// What `ctx.timestamp()` returned.
    pub stamped: u64,
}

/// Reads item `item` from `t_inventory` and records whether it exists;
/// fails (after the read) if it does not, so failed commits carry read
/// results too.
#[reducer]
fn list_item(ctx: &mut WriteContext, item: u64) -> Result<bool, String> {
    let owner: Option<String> = ctx
        .read_call::<Option<String>, ()>("t_inventory", "get_item", (item,))
        .map_err(|()| "get_item cannot fail".to_string())?;
    let stamped = ctx.timestamp();
    ctx.tables.listings().insert(Listing {
        id: 0,
        item,
        seen: owner.is_some(),
        stamped,
    });
    Ok(owner.is_some())
}

/// `list_item`, then `rounds` rounds of CPU work before committing: a
/// reader that leaves a wide window for `t_inventory` to commit after the
/// read.
#[reducer]
fn list_slowly(ctx: &mut WriteContext, item: u64, rounds: u64) -> Result<bool, String> {
    let seen = list_item(ctx, item)?;
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for _ in 0..rounds {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x = core::hint::black_box(x);
    }
    Ok(seen)
}

/// Read-calls `t_inventory.burn(100_000)` `times` times: a transaction
/// that spends its budget in read calls, each costing far more fuel than
/// the loop around it.
#[reducer]
fn spin_reads(ctx: &mut WriteContext, times: u64) -> u64 {
    let mut x = 0;
    for _ in 0..times {
        x ^= ctx
            .read_call::<u64, ()>("t_inventory", "burn", (100_000u64,))
            .unwrap_or(0);
    }
    x
}

/// Listings made so far.
#[reducer(mode = "read")]
fn listing_count(ctx: &ReadContext) -> u64 {
    ctx.tables.listings().count()
}
