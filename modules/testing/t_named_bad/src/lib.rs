//! `t_named_bad`: a version of module `t_named` that inserts a `Rarity` variant
//! in the middle, which renumbers the later ones: its upgrade is refused.

use interstice_sdk::prelude::*;

interstice_module! {
    name: "t_named",
    version: "2.0.0",
    tables: [Item],
    reducers: [add, rarity_of, stats_of, count],
}

/// How rare an item is.
#[derive(IntersticeType, Clone, Copy, Debug, PartialEq)]
pub enum Rarity {
    Common,
    Uncommon,
    Rare,
    Epic,
}

include!("../../t_named_common.rs");
