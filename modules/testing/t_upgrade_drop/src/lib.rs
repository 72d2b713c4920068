//! `t_upgrade_drop`: a version of module `t_upgrade` without the `scratch`
//! table: accepted only while `scratch` is empty.

use interstice_sdk::prelude::*;

interstice_module! {
    name: "t_upgrade",
    version: "2.1.0-drop",
    tables: [Account],
    reducers: [open, count],
}

/// An account (unchanged).
#[table(name = "accounts")]
pub struct Account {
    #[primary_key(auto_inc)]
    pub id: u64,
    pub owner: String,
    pub balance: u64,
}

/// Opens an account; returns its id.
#[reducer]
fn open(ctx: &mut WriteContext, owner: String, balance: u64) -> u64 {
    ctx.tables
        .accounts()
        .insert(Account {
            id: 0,
            owner,
            balance,
        })
        .id
}

/// How many accounts there are.
#[reducer(mode = "read")]
fn count(ctx: &ReadContext) -> u64 {
    ctx.tables.accounts().count()
}
