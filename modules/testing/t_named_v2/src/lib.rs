//! `t_named_v2`: version 2 of module `t_named`: `Rarity` gains a variant at the
//! end, which keeps the rows of version 1 readable (a compatible upgrade).

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
    Rare,
    Epic,
    Legendary,
}

include!("../../t_named_common.rs");
