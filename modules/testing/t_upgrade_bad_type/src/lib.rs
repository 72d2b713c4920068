//! `t_upgrade_bad_type`: an incompatible version of module `t_upgrade`:
//! column 2 of `accounts` (`balance`) changes type from u64 to String.

use interstice_sdk::prelude::*;

interstice_module! {
    name: "t_upgrade",
    version: "3.0.0-bad",
    tables: [Account, Scratch],
    reducers: [count],
}

/// `balance` is now a String: incompatible with the stored rows.
#[table(name = "accounts")]
pub struct Account {
    #[primary_key(auto_inc)]
    pub id: u64,
    pub owner: String,
    pub balance: String,
}

/// Unchanged.
#[table(name = "scratch")]
pub struct Scratch {
    #[primary_key]
    pub id: u64,
}

/// How many accounts there are.
#[reducer(mode = "read")]
fn count(ctx: &ReadContext) -> u64 {
    ctx.tables.accounts().count()
}
