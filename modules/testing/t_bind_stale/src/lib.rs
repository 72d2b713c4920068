//! `t_bind_stale`: calls `t_bind_inventory` through bindings generated from
//! its 0.1.0 schema (`src/inventory.rs`) but declares the dependency by name
//! only, so its schema records no binding and the runtime cannot check
//! them: loaded beside `t_bind_inventory_bad`, whose `Rarity` gained a
//! variant, a read call returning that variant does not decode, and the
//! panic names both types and this file's line (tests/all/bindings.rs).

use interstice_sdk::prelude::*;

mod inventory;

interstice_module! {
    name: "t_bind_stale",
    version: "0.1.0",
    dependencies: ["t_bind_inventory"],
    tables: [],
    reducers: [look],
}

/// Item `id`'s name, through the stale bindings.
#[reducer(mode = "read")]
fn look(ctx: &ReadContext, id: u64) -> Result<String, String> {
    let view = inventory::get_item(ctx, id)?;
    Ok(view.spec.name)
}
