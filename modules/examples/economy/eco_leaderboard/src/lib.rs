//! `eco_leaderboard` version 1: who trades most in the economy example.
//! It is kept only by a typed trigger on `eco_market.trades.insert`
//! (bindings generated from the market's schema, `src/eco_market.rs`):
//! each trade credits its price to the seller's and the buyer's volume,
//! exactly once even across crashes. `eco_leaderboard_v2` is its next
//! version (a code migration of `scores`).

use interstice_sdk::prelude::*;

mod eco_market;

interstice_module! {
    name: "eco_leaderboard",
    version: "1.0.0",
    dependencies: [eco_market],
    tables: [Score],
    reducers: [on_trade, top, score, total_volume],
}

/// A player's trading record (table version 1).
#[table(name = "scores")]
#[derive(Clone, Debug)]
pub struct Score {
    #[primary_key]
    pub player: u64,
    #[index]
    pub volume: u64,
    pub trades: u32,
}

/// Credits a trade to both sides (a typed trigger on the market's trades).
#[reducer(on = eco_market::trades::insert, writes = [scores])]
fn on_trade(ctx: &mut WriteContext, trade: eco_market::trades::Row) {
    for player in [trade.seller, trade.buyer] {
        let scores = ctx.tables.scores();
        match scores.get(&player) {
            Some(mut s) => {
                s.volume += trade.price;
                s.trades += 1;
                scores.update(&s);
            }
            None => {
                scores.insert(Score {
                    player,
                    volume: trade.price,
                    trades: 1,
                });
            }
        }
    }
}

/// The `n` players with the most volume, as `(player, volume)`, highest
/// first (a range over the volume index, from its top).
#[reducer(mode = "read")]
fn top(ctx: &ReadContext, n: u32) -> Vec<(u64, u64)> {
    let mut all: Vec<(u64, u64)> = ctx
        .tables
        .scores()
        .by_volume()
        .range(1..)
        .iter()
        .map(|s| (s.player, s.volume))
        .collect();
    all.reverse();
    all.truncate(n as usize);
    all
}

/// `(volume, trades)` of `player` (zeros if they never traded).
#[reducer(mode = "read")]
fn score(ctx: &ReadContext, player: u64) -> (u64, u32) {
    ctx.tables
        .scores()
        .get(&player)
        .map_or((0, 0), |s| (s.volume, s.trades))
}

/// Every player's volume added up: twice the gold traded.
#[reducer(mode = "read")]
fn total_volume(ctx: &ReadContext) -> u64 {
    u64::try_from(ctx.tables.scores().query().sum(|c| c.volume)).unwrap_or(u64::MAX)
}
