//! `eco_inventory`: what each player of the economy example holds, items
//! and gold. It reaches `eco_world` only through bindings generated from
//! its schema (`src/eco_world.rs`): a typed trigger on `players.insert`
//! opens each new player's wallet, and `gather` asks the world by a typed
//! read call what the player's region yields, then draws the find with
//! `ctx.rng()`. The market reaches it by async calls with replies: `escrow`
//! takes a listing's items out of the seller's holdings, and `settle` moves
//! the buyer's gold and the escrowed items, or refuses with a [`Refusal`]
//! the reply carries back.
//!
//! Every player action carries a client nonce and leaves a receipt, so a
//! retried action is answered from its receipt instead of running twice,
//! and a load generator can check that each acknowledged action survived.

use interstice_sdk::prelude::*;

mod eco_world;

use eco_world::ItemKind;

interstice_module! {
    name: "eco_inventory",
    version: "1.0.0",
    dependencies: [eco_world],
    tables: [Holding, Wallet, Escrow, Receipt],
    reducers: [
        on_join, gather, craft, escrow, settle, holdings, gold_of, total_gold,
        item_totals, receipt, richest,
    ],
}

/// The gold every new player starts with; gold is never minted otherwise.
pub const START_GOLD: u64 = 100;

/// Why the inventory refused a market operation (the reply's error).
#[derive(IntersticeType, Clone, Debug, PartialEq)]
pub struct Refusal {
    pub listing: u64,
    pub reason: String,
}

/// What the inventory did for the market: the reply of `escrow` and of
/// `settle` (one type, so that the market has one reply reducer for both).
#[derive(IntersticeType, Clone, Debug, PartialEq)]
pub enum Outcome {
    /// The listing's items are in escrow.
    Escrowed(u64),
    /// The listing was bought.
    Settled(Settlement),
}

/// A settled trade.
#[derive(IntersticeType, Clone, Debug, PartialEq)]
pub struct Settlement {
    pub listing: u64,
    pub seller: u64,
    pub buyer: u64,
    pub kind: ItemKind,
    pub qty: u32,
    pub price: u64,
}

/// How many of one kind a player holds; one row per (owner, kind).
#[table(
    name = "holdings",
    index(name = "by_owner_slot", columns = [owner, slot], kind = "unique")
)]
#[derive(Clone, Debug)]
pub struct Holding {
    #[primary_key(auto_inc)]
    pub id: u64,
    #[index]
    pub owner: u64,
    /// `kind`'s variant index (an index column is an integer).
    pub slot: u8,
    pub kind: ItemKind,
    pub qty: u32,
}

/// A player's gold.
#[table(name = "wallets")]
#[derive(Clone, Debug)]
pub struct Wallet {
    #[primary_key]
    pub owner: u64,
    #[index]
    pub gold: u64,
}

/// Items a listing holds until it is bought.
#[table(name = "escrow")]
#[derive(Clone, Debug)]
pub struct Escrow {
    #[primary_key]
    pub listing: u64,
    #[index(hash)]
    pub owner: u64,
    pub kind: ItemKind,
    pub qty: u32,
}

/// What a player action did, by its nonce; `net` is the change in the
/// number of items that exist (a gather adds, a craft consumes).
#[table(name = "receipts")]
#[derive(Clone, Debug)]
pub struct Receipt {
    #[primary_key]
    pub nonce: u64,
    #[index]
    pub player: u64,
    pub action: String,
    pub kind: ItemKind,
    pub qty: u32,
    pub net: i64,
}

fn slot(kind: &ItemKind) -> u8 {
    match kind {
        ItemKind::Wood => 0,
        ItemKind::Ore => 1,
        ItemKind::Herb => 2,
        ItemKind::Tool => 3,
        ItemKind::Potion => 4,
    }
}

/// Adds `delta` (may be negative) to what `owner` holds of `kind`; refuses
/// to go below zero. The new quantity.
fn adjust(ctx: &mut WriteContext, owner: u64, kind: &ItemKind, delta: i64) -> Result<u32, String> {
    let h = ctx.tables.holdings();
    let row = h.by_owner_slot().filter(&(owner, slot(kind))).first();
    let have = i64::from(row.as_ref().map_or(0, |r| r.qty));
    let now = have + delta;
    if now < 0 {
        return Err(format!(
            "player {owner} holds {have} {kind:?}, needs {}",
            -delta
        ));
    }
    let qty = u32::try_from(now).map_err(|_| "too many items".to_string())?;
    match row {
        Some(mut r) => {
            r.qty = qty;
            h.update(&r);
        }
        None => {
            h.insert(Holding {
                id: 0,
                owner,
                slot: slot(kind),
                kind: kind.clone(),
                qty,
            });
        }
    }
    Ok(qty)
}

/// The receipt of `nonce`, if that action already ran (for `player`).
fn replayed(ctx: &WriteContext, nonce: u64, player: u64) -> Result<Option<Receipt>, String> {
    match ctx.tables.receipts().get(&nonce) {
        Some(r) if r.player == player => Ok(Some(r)),
        Some(_) => Err(format!("nonce {nonce} belongs to another player")),
        None => Ok(None),
    }
}

/// Opens the wallet of every player who joins the world (a typed trigger).
#[reducer(on = eco_world::players::insert, writes = [wallets])]
fn on_join(ctx: &mut WriteContext, row: eco_world::players::Row) {
    ctx.tables.wallets().insert(Wallet {
        owner: row.id,
        gold: START_GOLD,
    });
}

/// Gathers 1–3 of something the player's region yields; what was found.
#[reducer]
fn gather(ctx: &mut WriteContext, player: u64, nonce: u64) -> Result<(ItemKind, u32), String> {
    if let Some(r) = replayed(ctx, nonce, player)? {
        return Ok((r.kind, r.qty));
    }
    let kinds = eco_world::yields(ctx, player)?;
    if kinds.is_empty() {
        return Err("nothing grows here".into());
    }
    let mut rng = ctx.rng();
    let kind = kinds[rng.below(kinds.len() as u64) as usize].clone();
    let qty = 1 + rng.below(3) as u32;
    adjust(ctx, player, &kind, i64::from(qty))?;
    ctx.tables.receipts().insert(Receipt {
        nonce,
        player,
        action: "gather".into(),
        kind: kind.clone(),
        qty,
        net: i64::from(qty),
    });
    Ok((kind, qty))
}

/// Crafts one `Tool` (2 wood, 1 ore) or `Potion` (2 herbs); how many of
/// it the player now holds. Missing ingredients roll everything back.
#[reducer]
fn craft(ctx: &mut WriteContext, player: u64, kind: ItemKind, nonce: u64) -> Result<u32, String> {
    if let Some(r) = replayed(ctx, nonce, player)? {
        return Ok(r.qty);
    }
    let recipe: &[(ItemKind, i64)] = match kind {
        ItemKind::Tool => &[(ItemKind::Wood, 2), (ItemKind::Ore, 1)],
        ItemKind::Potion => &[(ItemKind::Herb, 2)],
        _ => return Err(format!("{kind:?} cannot be crafted")),
    };
    let mut used = 0;
    for (input, n) in recipe {
        adjust(ctx, player, input, -n)?;
        used += n;
    }
    let now = adjust(ctx, player, &kind, 1)?;
    ctx.tables.receipts().insert(Receipt {
        nonce,
        player,
        action: "craft".into(),
        kind,
        qty: now,
        net: 1 - used,
    });
    Ok(now)
}

/// Takes `qty` of `kind` out of `owner`'s holdings into the escrow of
/// `listing` (called by the market, with a reply); the listing.
#[reducer]
fn escrow(
    ctx: &mut WriteContext,
    listing: u64,
    owner: u64,
    kind: ItemKind,
    qty: u32,
) -> Result<Outcome, Refusal> {
    let refuse = |reason: String| Refusal { listing, reason };
    if qty == 0 {
        return Err(refuse("nothing to list".into()));
    }
    if ctx.tables.escrow().get(&listing).is_some() {
        return Err(refuse("listing already escrowed".into()));
    }
    adjust(ctx, owner, &kind, -i64::from(qty)).map_err(refuse)?;
    ctx.tables.escrow().insert(Escrow {
        listing,
        owner,
        kind,
        qty,
    });
    Ok(Outcome::Escrowed(listing))
}

/// Settles `listing`: `price` gold from `buyer` to the seller, the
/// escrowed items to `buyer` (called by the market, with a reply).
#[reducer]
fn settle(
    ctx: &mut WriteContext,
    listing: u64,
    buyer: u64,
    price: u64,
) -> Result<Outcome, Refusal> {
    let refuse = |reason: String| Refusal { listing, reason };
    let held = ctx
        .tables
        .escrow()
        .get(&listing)
        .ok_or_else(|| refuse("nothing in escrow".into()))?;
    if held.owner == buyer {
        return Err(refuse("a seller cannot buy their own listing".into()));
    }
    let wallets = ctx.tables.wallets();
    let mut from = wallets
        .get(&buyer)
        .ok_or_else(|| refuse(format!("player {buyer} has no wallet")))?;
    if from.gold < price {
        return Err(refuse(format!(
            "player {buyer} has {} gold, the price is {price}",
            from.gold
        )));
    }
    let mut to = wallets
        .get(&held.owner)
        .ok_or_else(|| refuse(format!("player {} has no wallet", held.owner)))?;
    from.gold -= price;
    to.gold += price;
    wallets.update(&from);
    wallets.update(&to);
    adjust(ctx, buyer, &held.kind, i64::from(held.qty)).map_err(refuse)?;
    ctx.tables.escrow().delete(&listing);
    Ok(Outcome::Settled(Settlement {
        listing,
        seller: held.owner,
        buyer,
        kind: held.kind,
        qty: held.qty,
        price,
    }))
}

/// What `owner` holds, leaving out kinds they have none of (a pushed-down
/// filter on the owner index).
#[reducer(mode = "read")]
fn holdings(ctx: &ReadContext, owner: u64) -> Vec<(ItemKind, u32)> {
    ctx.tables
        .holdings()
        .by_owner()
        .filter(&owner)
        .matching(|c| c.qty.gt(0))
        .iter()
        .map(|h| (h.kind, h.qty))
        .collect()
}

/// `owner`'s gold.
#[reducer(mode = "read")]
fn gold_of(ctx: &ReadContext, owner: u64) -> Result<u64, String> {
    ctx.tables
        .wallets()
        .get(&owner)
        .map(|w| w.gold)
        .ok_or(format!("player {owner} has no wallet"))
}

/// `(wallets, gold)`: every wallet's gold adds up to `wallets × START_GOLD`.
#[reducer(mode = "read")]
fn total_gold(ctx: &ReadContext) -> (u64, u64) {
    let w = ctx.tables.wallets();
    let gold = w.query().sum(|c| c.gold);
    (w.count(), u64::try_from(gold).unwrap_or(u64::MAX))
}

/// `(held, escrowed, net)`: items held and in escrow, and the net of every
/// receipt; trades move items, so `held + escrowed == net`. Holdings and
/// escrow are at most a row per player and kind, summed by the host; the
/// receipts, one per action ever taken, are walked page by page, because
/// one host-side aggregate examines at most 2^20 entries (an hour of the
/// soak's load makes more).
#[reducer(mode = "read")]
fn item_totals(ctx: &ReadContext) -> (u64, u64, i64) {
    let held = ctx.tables.holdings().query().sum(|c| c.qty);
    let escrowed = ctx.tables.escrow().query().sum(|c| c.qty);
    let net: i128 = ctx
        .tables
        .receipts()
        .query()
        .iter()
        .map(|r| i128::from(r.net))
        .sum();
    (
        u64::try_from(held).unwrap_or(u64::MAX),
        u64::try_from(escrowed).unwrap_or(u64::MAX),
        i64::try_from(net).unwrap_or(i64::MAX),
    )
}

/// The receipt of `nonce`: `(player, action, kind, qty)`.
#[reducer(mode = "read")]
fn receipt(ctx: &ReadContext, nonce: u64) -> Option<(u64, String, ItemKind, u32)> {
    ctx.tables
        .receipts()
        .get(&nonce)
        .map(|r| (r.player, r.action, r.kind, r.qty))
}

/// The players with at least `gold` gold, richest first (a range query on
/// the gold index).
#[reducer(mode = "read")]
fn richest(ctx: &ReadContext, gold: u64) -> Vec<(u64, u64)> {
    let mut rich: Vec<(u64, u64)> = ctx
        .tables
        .wallets()
        .by_gold()
        .range(gold..)
        .iter()
        .map(|w| (w.owner, w.gold))
        .collect();
    rich.reverse();
    rich
}
