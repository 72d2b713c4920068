//! `t_upgrade_v1`: version 1 of module `t_upgrade`, for the upgrade tests.
//! Two tables: `accounts` (holds data) and `scratch` (starts empty).

use interstice_sdk::prelude::*;

interstice_module! {
    name: "t_upgrade",
    version: "1.0.0",
    tables: [Account, Scratch],
    reducers: [open, deposit, balance, count, scratch_put],
}

/// An account.
#[table(name = "accounts")]
pub struct Account {
    #[primary_key(auto_inc)]
    pub id: u64,
    pub owner: String,
    pub balance: u64,
}

/// A table the drop test removes.
#[table(name = "scratch")]
pub struct Scratch {
    #[primary_key]
    pub id: u64,
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

/// Adds `amount` to account `id`; returns the new balance (version 1).
#[reducer]
fn deposit(ctx: &mut WriteContext, id: u64, amount: u64) -> Result<u64, String> {
    let mut a = ctx.tables.accounts().get(&id).ok_or("no such account")?;
    a.balance += amount;
    let b = a.balance;
    ctx.tables.accounts().update(a);
    Ok(b)
}

/// The balance of account `id`.
#[reducer(mode = "read")]
fn balance(ctx: &ReadContext, id: u64) -> Option<u64> {
    ctx.tables.accounts().get(&id).map(|a| a.balance)
}

/// How many accounts there are.
#[reducer(mode = "read")]
fn count(ctx: &ReadContext) -> u64 {
    ctx.tables.accounts().count()
}

/// Puts a row into `scratch`.
#[reducer]
fn scratch_put(ctx: &mut WriteContext, id: u64) {
    ctx.tables.scratch().insert(Scratch { id });
}
