//! `eco_market`: the market of the economy example. Sellers list items
//! for gold and buyers buy them, with the items held in escrow by
//! `eco_inventory`, reached only through bindings generated from its schema
//! (`src/eco_inventory.rs`):
//!
//! - `list` checks the seller's holdings by a typed read call, then asks
//!   the inventory to escrow the items by a typed async call whose reply
//!   (`on_inventory`) opens the listing or refuses it with the inventory's
//!   reason;
//! - `buy` marks the listing as settling and asks the inventory to settle
//!   it; the reply (`on_inventory` again) records the trade, or reopens
//!   the listing and refuses the order (a buyer short of gold).
//!
//! Offers are found by a range over the composite `(slot, price)` index
//! with a pushed-down filter on the state; trades are a columnar table,
//! summed host-side. `eco_leaderboard` subscribes to `trades`. Every action
//! takes a client nonce (a unique index), so a retry is answered, not
//! repeated.

use interstice_sdk::prelude::*;

mod eco_inventory;

use eco_inventory::{ItemKind, Outcome, Refusal};

interstice_module! {
    name: "eco_market",
    version: "1.0.0",
    dependencies: [eco_inventory],
    tables: [Listing, Order, Trade],
    reducers: [
        list, buy, on_inventory, offers, listing, order, stats, open_count,
    ],
}

/// The highest price a listing may ask.
pub const MAX_PRICE: u64 = 1_000_000;

/// An offer to sell: `pending` until the escrow's reply, then `open`,
/// `settling` while a buyer's gold is moved, `sold`, or `refused`.
#[table(
    name = "listings",
    index(name = "by_slot_price", columns = [slot, price])
)]
#[derive(Clone, Debug)]
pub struct Listing {
    #[primary_key(auto_inc)]
    pub id: u64,
    #[index(unique)]
    pub nonce: u64,
    #[index(hash)]
    pub seller: u64,
    /// `kind`'s variant index, for the composite index.
    pub slot: u8,
    pub kind: ItemKind,
    pub qty: u32,
    pub price: u64,
    pub state: String,
    /// Why it was refused, or the last refused order.
    pub note: String,
    /// Wall-clock µs (`ctx.now()`) of the listing.
    pub listed_at: u64,
}

/// A buyer's order for a listing, by its nonce: `pending` until the
/// settlement's reply, then `bought` or `refused: …`.
#[table(name = "orders")]
#[derive(Clone, Debug)]
pub struct Order {
    #[primary_key]
    pub nonce: u64,
    pub buyer: u64,
    #[index]
    pub listing: u64,
    pub state: String,
}

/// A completed trade, stored by column (summed host-side).
#[table(name = "trades", storage = "columnar")]
#[derive(Clone, Debug)]
pub struct Trade {
    #[primary_key(auto_inc)]
    pub id: u64,
    pub listing: u64,
    #[index]
    pub seller: u64,
    #[index]
    pub buyer: u64,
    pub kind: ItemKind,
    pub qty: u32,
    pub price: u64,
    /// Wall-clock µs (`ctx.now()`) of the settlement.
    pub at: u64,
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

/// Lists `qty` of `kind` for `price` gold; the listing's id. The escrow's
/// reply opens or refuses it.
#[reducer]
fn list(
    ctx: &mut WriteContext,
    seller: u64,
    kind: ItemKind,
    qty: u32,
    price: u64,
    nonce: u64,
) -> Result<u64, String> {
    if let Some(l) = ctx.tables.listings().by_nonce().find(&nonce) {
        return if l.seller == seller {
            Ok(l.id)
        } else {
            Err(format!("nonce {nonce} belongs to another player"))
        };
    }
    if qty == 0 || price == 0 || price > MAX_PRICE {
        return Err(format!(
            "a listing sells 1 or more for 1 to {MAX_PRICE} gold"
        ));
    }
    let have = eco_inventory::holdings(ctx, seller)
        .into_iter()
        .find(|(k, _)| *k == kind)
        .map_or(0, |(_, n)| n);
    if have < qty {
        return Err(format!("player {seller} holds {have} {kind:?}, not {qty}"));
    }
    let listed_at = ctx.now();
    let l = ctx.tables.listings().insert(Listing {
        id: 0,
        nonce,
        seller,
        slot: slot(&kind),
        kind: kind.clone(),
        qty,
        price,
        state: "pending".into(),
        note: String::new(),
        listed_at,
    });
    eco_inventory::escrow_with_reply(ctx, l.id, seller, kind, qty, reply_to!(on_inventory));
    Ok(l.id)
}

/// Buys listing `listing` for its price; the settlement's reply records the
/// trade or refuses the order (see `order(nonce)`).
#[reducer]
fn buy(ctx: &mut WriteContext, buyer: u64, listing: u64, nonce: u64) -> Result<(), String> {
    if let Some(o) = ctx.tables.orders().get(&nonce) {
        return if o.buyer == buyer && o.listing == listing {
            Ok(())
        } else {
            Err(format!("nonce {nonce} belongs to another order"))
        };
    }
    let listings = ctx.tables.listings();
    let mut l = listings
        .get(&listing)
        .ok_or(format!("no listing {listing}"))?;
    if l.state != "open" {
        return Err(format!("listing {listing} is {}", l.state));
    }
    if l.seller == buyer {
        return Err("a seller cannot buy their own listing".into());
    }
    l.state = "settling".into();
    listings.update(&l);
    ctx.tables.orders().insert(Order {
        nonce,
        buyer,
        listing,
        state: "pending".into(),
    });
    eco_inventory::settle_with_reply(ctx, listing, buyer, l.price, reply_to!(on_inventory));
    Ok(())
}

/// The inventory's reply to `escrow` or `settle`. An escrow opens the
/// listing; a settlement records the trade; a refusal refuses a pending
/// listing, or reopens a settling one and refuses its order.
#[reducer]
fn on_inventory(
    ctx: &mut WriteContext,
    answer: Result<Outcome, CallError<Refusal>>,
) -> Result<(), String> {
    let listings = ctx.tables.listings();
    let (id, outcome) = match answer {
        Ok(Outcome::Escrowed(id)) => (id, Ok(None)),
        Ok(Outcome::Settled(s)) => (s.listing, Ok(Some(s))),
        Err(CallError::Returned(r)) => (r.listing, Err(r.reason)),
        Err(CallError::Failed { kind, message }) => {
            // Replies come in call order; a failure names no listing, so
            // it refuses the oldest pending one (a failed settlement
            // leaves its listing settling, for an operator to look at).
            let oldest = listings
                .query()
                .matching(|c| c.state.eq("pending".into()))
                .first()
                .ok_or(format!("the inventory failed ({kind}): {message}"))?;
            (oldest.id, Err(format!("escrow failed ({kind}): {message}")))
        }
    };
    let mut l = listings.get(&id).ok_or(format!("no listing {id}"))?;
    if l.state == "pending" {
        match outcome {
            Ok(_) => l.state = "open".into(),
            Err(reason) => {
                l.state = "refused".into();
                l.note = reason;
            }
        }
        listings.update(&l);
        return Ok(());
    }
    let mut o = ctx
        .tables
        .orders()
        .by_listing()
        .filter(&id)
        .matching(|c| c.state.eq("pending".into()))
        .first()
        .ok_or(format!("no pending order for listing {id}"))?;
    match outcome {
        Ok(Some(s)) => {
            l.state = "sold".into();
            o.state = "bought".into();
            let at = ctx.now();
            ctx.tables.trades().insert(Trade {
                id: 0,
                listing: id,
                seller: s.seller,
                buyer: s.buyer,
                kind: s.kind,
                qty: s.qty,
                price: s.price,
                at,
            });
        }
        Ok(None) => return Err(format!("listing {id} was escrowed twice")),
        Err(reason) => {
            l.state = "open".into();
            l.note = format!("order {} refused: {reason}", o.nonce);
            o.state = format!("refused: {reason}");
        }
    }
    listings.update(&l);
    ctx.tables.orders().update(&o);
    Ok(())
}

/// Open offers of `kind` at `max_price` or less, cheapest first, as
/// `(listing, qty, price)`: a range over the composite `(slot, price)`
/// index, with the state filtered host-side.
#[reducer(mode = "read")]
fn offers(ctx: &ReadContext, kind: ItemKind, max_price: u64, limit: u32) -> Vec<(u64, u32, u64)> {
    let s = slot(&kind);
    ctx.tables
        .listings()
        .by_slot_price()
        .range((s, 0)..=(s, max_price))
        .matching(|c| c.state.eq("open".into()))
        .iter()
        .take(limit as usize)
        .map(|l| (l.id, l.qty, l.price))
        .collect()
}

/// Listing `id`: `(seller, kind, qty, price, state, note)`.
#[reducer(mode = "read")]
fn listing(ctx: &ReadContext, id: u64) -> Option<(u64, ItemKind, u32, u64, String, String)> {
    ctx.tables
        .listings()
        .get(&id)
        .map(|l| (l.seller, l.kind, l.qty, l.price, l.state, l.note))
}

/// The order of `nonce`: `(buyer, listing, state)`.
#[reducer(mode = "read")]
fn order(ctx: &ReadContext, nonce: u64) -> Option<(u64, u64, String)> {
    ctx.tables
        .orders()
        .get(&nonce)
        .map(|o| (o.buyer, o.listing, o.state))
}

/// `(trades, gold traded, listings pending or settling)`: host-side
/// aggregates over the columnar trades and a filtered count.
#[reducer(mode = "read")]
fn stats(ctx: &ReadContext) -> (u64, u64, u64) {
    let trades = ctx.tables.trades();
    let gold = u64::try_from(trades.query().sum(|c| c.price)).unwrap_or(u64::MAX);
    let busy = ctx
        .tables
        .listings()
        .matching(|c| c.state.eq("pending".into()) | c.state.eq("settling".into()))
        .count();
    (trades.count(), gold, busy)
}

/// How many listings are open.
#[reducer(mode = "read")]
fn open_count(ctx: &ReadContext) -> u64 {
    ctx.tables
        .listings()
        .matching(|c| c.state.eq("open".into()))
        .count()
}
