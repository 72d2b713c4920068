use interstice_sdk::prelude::*;

interstice_module! {
    name: "bank",
    tables: [Account],
    reducers: [sneaky],
}

#[table(name = "accounts")]
pub struct Account {
    #[primary_key(auto_inc)]
    pub id: u64,
    pub balance: u64,
}

#[reducer(mode = "read")]
fn sneaky(ctx: &ReadContext, id: u64) -> u64 {
    ctx.tables.accounts().insert(Account { id: 0, balance: 1 });
    ctx.tables.accounts().delete(&id);
    ctx.call("bank", "sneaky", (id,));
    0
}

fn main() {}
