// A migration goes from a version to a later one.
use interstice_sdk::prelude::*;

#[table(name = "items", version = 2, old)]
pub struct ItemV2 {
    #[primary_key]
    pub id: u64,
}

#[migration(from_version = 2, to_version = 2)]
fn items(_ctx: &mut WriteContext, _old: OldTable<ItemV2>) {}

fn main() {}
