// The module style of the SDK guide compiles, and its schema checks.
use interstice_sdk::prelude::*;
use interstice_sdk::Table;

interstice_module! {
    name: "bank",
    version: "0.1.0",
    dependencies: [],
    tables: [Account],
    reducers: [open_account, deposit, transfer, balance, init, on_greeting, on_rename],
}

#[table(name = "accounts")]
#[derive(Clone, Debug)]
pub struct Account {
    #[primary_key(auto_inc)]
    pub id: u64,
    pub owner: String,
    pub balance: u64,
}

#[derive(IntersticeType, Clone, Debug)]
pub struct Greeting {
    pub id: u64,
    pub name: String,
    pub greeted_at: u64,
}

#[reducer]
fn open_account(ctx: &mut WriteContext, owner: String, initial: u64) -> Result<u64, String> {
    let acc = ctx.tables.accounts().insert(Account { id: 0, owner, balance: initial });
    Ok(acc.id)
}

#[reducer]
fn deposit(ctx: &mut WriteContext, id: u64, amount: u64) -> Result<(), String> {
    let mut acc = ctx.tables.accounts().get(&id).ok_or("no such account")?;
    acc.balance += amount;
    ctx.tables.accounts().update(acc);
    Ok(())
}

#[reducer]
fn transfer(ctx: &mut WriteContext, from: u64, to: u64, amount: u64) -> Result<(), String> {
    let accounts = ctx.tables.accounts();
    let mut a = accounts.get(&from).ok_or("no from")?;
    let mut b = accounts.get(&to).ok_or("no to")?;
    if a.balance < amount {
        return Err(format!("insufficient funds: {} < {amount}", a.balance));
    }
    a.balance -= amount;
    b.balance += amount;
    accounts.update(&a);
    accounts.update(&b);
    ctx.call("audit", "record", (from, to, amount));
    Ok(())
}

#[reducer(mode = "read")]
fn balance(ctx: &ReadContext, id: u64) -> Result<u64, String> {
    let _total: u64 = ctx.tables.accounts().iter().map(|a| a.balance).sum();
    ctx.tables.accounts().get(&id).map(|a| a.balance).ok_or_else(|| format!("no account {id}"))
}

#[reducer(on = "init")]
fn init(ctx: &mut WriteContext) {
    let seed = ctx.rng().next_u64();
    info!("init at {} (now {}), seed {seed}", ctx.timestamp(), ctx.now());
}

#[reducer(on = "hello.greetings.insert")]
fn on_greeting(ctx: &mut WriteContext, row: Greeting) {
    ctx.log_info(&format!("greeting {}", row.name));
}

#[reducer(on = "hello.greetings.update")]
fn on_rename(_ctx: &mut WriteContext, old: Greeting, new: Greeting) {
    let _ = (old.id, new.id);
}

fn main() {
    let schema = __interstice_module_schema();
    schema.check().expect("schema checks");
    assert_eq!(MODULE_NAME, "bank");
    assert_eq!(reducers::OPEN_ACCOUNT, "open_account");
    assert_eq!(Account::NAME, "accounts");
    assert_eq!(schema.tables[0].name, "accounts");
    assert!(schema.tables[0].auto_inc);
    assert_eq!(schema.reducers.len(), 7);
    assert_eq!(schema.reducers[3].mode, interstice_sdk::abi::ReducerMode::Read);
    assert_eq!(schema.reducers[0].error, Some(interstice_sdk::Type::String));
}
