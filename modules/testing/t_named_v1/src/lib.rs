//! `t_named_v1`: version 1 of module `t_named`, for the named-types tests: an
//! enum `Rarity` of three variants and a struct `Stats`, each used in several
//! columns and reducers.

use interstice_sdk::prelude::*;

interstice_module! {
    name: "t_named",
    version: "1.0.0",
    tables: [Item],
    reducers: [add, rarity_of, stats_of, count],
}

/// How rare an item is.
#[derive(IntersticeType, Clone, Copy, Debug, PartialEq)]
pub enum Rarity {
    Common,
    Rare,
    Epic,
}

include!("../../t_named_common.rs");
