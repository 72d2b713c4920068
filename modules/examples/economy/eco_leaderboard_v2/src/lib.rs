//! `eco_leaderboard` version 2 (after `eco_leaderboard`): `scores` goes to
//! table version 2, gaining a `tier` (a hash-indexed name) and the best
//! single trade; the code migration `scores_v2` rewrites every version-1
//! row, deriving its tier from its volume. It keeps the version-1 bindings
//! of the market (the same file, `../eco_leaderboard/src/eco_market.rs`),
//! which the runtime checks against the loaded market at the upgrade.
//! `interstice demo --app` upgrades to it while the economy runs.

use interstice_sdk::prelude::*;

#[path = "../../eco_leaderboard/src/eco_market.rs"]
mod eco_market;

interstice_module! {
    name: "eco_leaderboard",
    version: "2.0.0",
    dependencies: [eco_market],
    tables: [Score],
    reducers: [on_trade, top, score, total_volume, tier_of, in_tier, scores_v2],
}

/// Version 1 of `scores`, as the migration reads it.
#[table(name = "scores", version = 1, old)]
pub struct ScoreV1 {
    #[primary_key]
    pub player: u64,
    pub volume: u64,
    pub trades: u32,
}

/// A player's trading record (table version 2).
#[table(name = "scores", version = 2)]
#[derive(Clone, Debug)]
pub struct Score {
    #[primary_key]
    pub player: u64,
    #[index(hash)]
    pub tier: String,
    #[index]
    pub volume: u64,
    pub trades: u32,
    /// The largest single trade (`None` for trades before version 2).
    pub best: Option<u64>,
}

/// The tier a volume earns.
fn tier(volume: u64) -> &'static str {
    match volume {
        v if v >= 5000 => "gold",
        v if v >= 1000 => "silver",
        _ => "bronze",
    }
}

/// Rewrites every version-1 score with its tier.
#[migration(from_version = 1, to_version = 2)]
fn scores_v2(ctx: &mut WriteContext, old: OldTable<ScoreV1>) {
    for o in &old {
        ctx.tables.scores().insert(Score {
            player: o.player,
            tier: tier(o.volume).into(),
            volume: o.volume,
            trades: o.trades,
            best: None,
        });
    }
}

/// Credits a trade to both sides (a typed trigger on the market's trades).
#[reducer(on = eco_market::trades::insert, writes = [scores])]
fn on_trade(ctx: &mut WriteContext, trade: eco_market::trades::Row) {
    for player in [trade.seller, trade.buyer] {
        let scores = ctx.tables.scores();
        let mut s = scores.get(&player).unwrap_or(Score {
            player,
            tier: String::new(),
            volume: 0,
            trades: 0,
            best: None,
        });
        let fresh = s.trades == 0;
        s.volume += trade.price;
        s.trades += 1;
        s.best = Some(s.best.unwrap_or(0).max(trade.price));
        s.tier = tier(s.volume).into();
        if fresh {
            scores.insert(s);
        } else {
            scores.update(&s);
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

/// `player`'s tier, if they ever traded.
#[reducer(mode = "read")]
fn tier_of(ctx: &ReadContext, player: u64) -> Option<String> {
    ctx.tables.scores().get(&player).map(|s| s.tier)
}

/// How many players are in `tier` (a hash-index lookup).
#[reducer(mode = "read")]
fn in_tier(ctx: &ReadContext, tier: String) -> u64 {
    ctx.tables.scores().by_tier().filter(&tier).count()
}
