// The part of module `t_bind_inventory` its versions share
// (`t_bind_inventory`, `_v2`, `_bad`), included after each version's
// `interstice_module!` and its `Rarity` and `Location` (the types the
// versions change). Other modules reach it through generated bindings
// (`t_bind_market`, `t_bind_stale`).

/// What an item is.
#[derive(IntersticeType, Clone, Debug, PartialEq)]
pub struct ItemSpec {
    pub name: String,
    pub rarity: Rarity,
}

/// An item as `get_item` returns it.
#[derive(IntersticeType, Clone, Debug, PartialEq)]
pub struct ItemView {
    pub id: u64,
    pub spec: ItemSpec,
    pub place: String,
}

/// An item, by id.
#[table(name = "items")]
#[derive(Clone, Debug)]
pub struct Item {
    #[primary_key]
    pub id: u64,
    pub spec: ItemSpec,
    /// Where it is, as `move_item` described its `Location`.
    pub place: String,
}

/// Adds item `id` (an error if it exists).
#[reducer]
fn add_item(ctx: &mut WriteContext, id: u64, spec: ItemSpec) -> Result<(), String> {
    if ctx.tables.items().get(&id).is_some() {
        return Err(format!("item {id} exists"));
    }
    ctx.tables.items().insert(Item {
        id,
        spec,
        place: "nowhere".into(),
    });
    Ok(())
}

/// Moves item `id` to `to`.
#[reducer]
fn move_item(ctx: &mut WriteContext, id: u64, to: Location) -> Result<(), String> {
    let mut item = ctx.tables.items().get(&id).ok_or(format!("no item {id}"))?;
    item.place = format!("{to:?}");
    ctx.tables.items().update(item);
    Ok(())
}

/// Item `id`.
#[reducer(mode = "read")]
fn get_item(ctx: &ReadContext, id: u64) -> Result<ItemView, String> {
    let i = ctx.tables.items().get(&id).ok_or(format!("no item {id}"))?;
    Ok(ItemView {
        id: i.id,
        spec: i.spec,
        place: i.place,
    })
}

/// How many items there are (a reducer without an error type).
#[reducer(mode = "read")]
fn item_count(ctx: &ReadContext) -> u64 {
    ctx.tables.items().count()
}
