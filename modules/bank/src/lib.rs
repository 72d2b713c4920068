//! `bank`: accounts and transfers, with errors that roll transactions back.

use interstice_sdk::prelude::*;

interstice_module! {
    name: "bank",
    version: "0.1.0",
    tables: [Account],
    reducers: [open_account, deposit, transfer, balance, total],
}

#[table(name = "accounts")]
#[derive(Clone, Debug)]
pub struct Account {
    #[primary_key(auto_inc)]
    pub id: u64,
    pub owner: String,
    pub balance: u64,
}

fn account(ctx: &WriteContext, id: u64) -> Result<Account, String> {
    ctx.tables
        .accounts()
        .get(&id)
        .ok_or_else(|| format!("no account {id}"))
}

/// Opens an account; returns its id.
#[reducer]
fn open_account(ctx: &mut WriteContext, owner: String, initial: u64) -> Result<u64, String> {
    if owner.is_empty() {
        return Err("owner must not be empty".into());
    }
    let acc = ctx.tables.accounts().insert(Account {
        id: 0,
        owner,
        balance: initial,
    });
    info!("opened account {} for {}", acc.id, acc.owner);
    Ok(acc.id)
}

/// Adds `amount`; returns the new balance.
#[reducer]
fn deposit(ctx: &mut WriteContext, id: u64, amount: u64) -> Result<u64, String> {
    let mut acc = account(ctx, id)?;
    acc.balance = acc
        .balance
        .checked_add(amount)
        .ok_or_else(|| format!("account {id}: balance would overflow"))?;
    ctx.tables.accounts().update(&acc);
    Ok(acc.balance)
}

/// Moves `amount` from `from` to `to`.
///
/// It debits `from` *before* checking the balance, so an insufficient-funds
/// error really has a write to roll back: the `Err` undoes it.
#[reducer]
fn transfer(ctx: &mut WriteContext, from: u64, to: u64, amount: u64) -> Result<(), String> {
    let mut src = account(ctx, from)?;
    let had = src.balance;
    src.balance = had.saturating_sub(amount);
    ctx.tables.accounts().update(&src);
    if had < amount {
        return Err(format!(
            "insufficient funds: account {from} has {had}, needs {amount}"
        ));
    }
    let mut dst = account(ctx, to)?;
    dst.balance = dst
        .balance
        .checked_add(amount)
        .ok_or_else(|| format!("account {to}: balance would overflow"))?;
    ctx.tables.accounts().update(&dst);
    Ok(())
}

/// The balance of account `id`.
#[reducer(mode = "read")]
fn balance(ctx: &ReadContext, id: u64) -> Result<u64, String> {
    ctx.tables
        .accounts()
        .get(&id)
        .map(|a| a.balance)
        .ok_or_else(|| format!("no account {id}"))
}

/// The sum of all balances (saturating at `u64::MAX`).
#[reducer(mode = "read")]
fn total(ctx: &ReadContext) -> u64 {
    ctx.tables
        .accounts()
        .iter()
        .fold(0u64, |sum, a| sum.saturating_add(a.balance))
}
