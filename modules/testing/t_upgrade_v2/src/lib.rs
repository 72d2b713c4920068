//! `t_upgrade_v2`: a compatible version 2 of module `t_upgrade`: the same
//! tables, plus a new table `audit` and a new reducer `audit_count`;
//! `deposit` also writes an audit row.

use interstice_sdk::prelude::*;

interstice_module! {
    name: "t_upgrade",
    version: "2.0.0",
    tables: [Account, Scratch, Audit],
    reducers: [open, deposit, balance, count, scratch_put, audit_count],
}

/// An account (unchanged).
#[table(name = "accounts")]
pub struct Account {
    #[primary_key(auto_inc)]
    pub id: u64,
    pub owner: String,
    pub balance: u64,
}

/// Unchanged.
#[table(name = "scratch")]
pub struct Scratch {
    #[primary_key]
    pub id: u64,
}

/// New in version 2: one row per deposit.
#[table(name = "audit")]
pub struct Audit {
    #[primary_key(auto_inc)]
    pub id: u64,
    pub account: u64,
    pub amount: u64,
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

/// Adds `amount` to account `id` and audits it; returns the new balance.
#[reducer]
fn deposit(ctx: &mut WriteContext, id: u64, amount: u64) -> Result<u64, String> {
    let mut a = ctx.tables.accounts().get(&id).ok_or("no such account")?;
    a.balance += amount;
    let b = a.balance;
    ctx.tables.accounts().update(a);
    ctx.tables.audit().insert(Audit {
        id: 0,
        account: id,
        amount,
    });
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

/// New in version 2: how many deposits were audited.
#[reducer(mode = "read")]
fn audit_count(ctx: &ReadContext) -> u64 {
    ctx.tables.audit().count()
}
