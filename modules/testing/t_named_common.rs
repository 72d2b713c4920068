// The part of `t_named` its versions share (`t_named_v1`, `t_named_v2`,
// `t_named_bad` include it after declaring their `Rarity`).

/// An item's numbers: a struct used in two columns and in a reducer.
#[derive(IntersticeType, Clone, Copy, Debug, PartialEq)]
pub struct Stats {
    pub power: u32,
    pub weight: u32,
}

/// An item. Column 3 is `rarity`.
#[table(name = "items")]
#[derive(Clone, Debug)]
pub struct Item {
    #[primary_key(auto_inc)]
    pub id: u64,
    pub owner: String,
    pub name: String,
    pub rarity: Rarity,
    pub base: Stats,
    pub bonus: Stats,
}

/// Adds an item; returns its id.
#[reducer]
fn add(
    ctx: &mut WriteContext,
    owner: String,
    name: String,
    rarity: Rarity,
    base: Stats,
    bonus: Stats,
) -> u64 {
    ctx.tables
        .items()
        .insert(Item {
            id: 0,
            owner,
            name,
            rarity,
            base,
            bonus,
        })
        .id
}

/// The rarity of item `id`.
#[reducer(mode = "read")]
fn rarity_of(ctx: &ReadContext, id: u64) -> Option<Rarity> {
    ctx.tables.items().get(&id).map(|i| i.rarity)
}

/// The base and bonus stats of item `id`.
#[reducer(mode = "read")]
fn stats_of(ctx: &ReadContext, id: u64) -> Option<(Stats, Stats)> {
    ctx.tables.items().get(&id).map(|i| (i.base, i.bonus))
}

/// How many items there are.
#[reducer(mode = "read")]
fn count(ctx: &ReadContext) -> u64 {
    ctx.tables.items().count()
}
