//! `eco_world`: the world of the economy example (`modules/examples/economy`,
//! run by `interstice demo --app`). Players join it under a unique name and
//! are placed in a region drawn with `ctx.rng()`, stamped with `ctx.now()`.
//! Its custom type `ItemKind` is shared with `eco_inventory`, `eco_market`
//! and `eco_leaderboard` through bindings generated from this schema; it
//! depends on nothing.

use interstice_sdk::prelude::*;

interstice_module! {
    name: "eco_world",
    version: "1.0.0",
    tables: [Player],
    reducers: [join, player, yields, players_in, player_count],
}

/// Everything a player can hold, gather, craft or trade.
#[derive(IntersticeType, Clone, Copy, Debug, PartialEq)]
pub enum ItemKind {
    Wood,
    Ore,
    Herb,
    /// Crafted from 2 wood and 1 ore.
    Tool,
    /// Crafted from 2 herbs.
    Potion,
}

/// The regions, in the order `join` draws them from.
const REGIONS: [&str; 3] = ["forest", "mine", "meadow"];

/// A player of the world.
#[table(name = "players")]
#[derive(Clone, Debug)]
pub struct Player {
    #[primary_key(auto_inc)]
    pub id: u64,
    #[index(unique)]
    pub name: String,
    #[index(hash)]
    pub region: String,
    /// Wall-clock µs (`ctx.now()`) of the join.
    #[index]
    pub joined_at: u64,
}

/// Joins the world as `name` (unique); the new player's id.
#[reducer]
fn join(ctx: &mut WriteContext, name: String) -> Result<u64, String> {
    if name.is_empty() || name.len() > 32 {
        return Err("a name is 1 to 32 bytes".into());
    }
    let players = ctx.tables.players();
    if players.by_name().find(&name).is_some() {
        return Err(format!("the name {name:?} is taken"));
    }
    let region = REGIONS[ctx.rng().below(REGIONS.len() as u64) as usize].to_owned();
    let joined_at = ctx.now();
    let p = players.insert(Player {
        id: 0,
        name,
        region,
        joined_at,
    });
    info!("player {} ({}) joined in the {}", p.id, p.name, p.region);
    Ok(p.id)
}

/// Player `id` as `(name, region)`.
#[reducer(mode = "read")]
fn player(ctx: &ReadContext, id: u64) -> Result<(String, String), String> {
    let p = ctx
        .tables
        .players()
        .get(&id)
        .ok_or(format!("no player {id}"))?;
    Ok((p.name, p.region))
}

/// What player `id` can gather where they are.
#[reducer(mode = "read")]
fn yields(ctx: &ReadContext, id: u64) -> Result<Vec<ItemKind>, String> {
    let p = ctx
        .tables
        .players()
        .get(&id)
        .ok_or(format!("no player {id}"))?;
    Ok(match p.region.as_str() {
        "forest" => vec![ItemKind::Wood, ItemKind::Herb],
        "mine" => vec![ItemKind::Ore, ItemKind::Wood],
        _ => vec![ItemKind::Herb, ItemKind::Ore],
    })
}

/// How many players are in `region` (a hash-index lookup).
#[reducer(mode = "read")]
fn players_in(ctx: &ReadContext, region: String) -> u64 {
    ctx.tables.players().by_region().filter(&region).count()
}

/// How many players joined.
#[reducer(mode = "read")]
fn player_count(ctx: &ReadContext) -> u64 {
    ctx.tables.players().count()
}
