use interstice_sdk::prelude::*;

interstice_module! {
    name: "bank",
    tables: [],
    reducers: [],
}

#[table(name = "accounts")]
pub struct Account {
    #[primary_key]
    pub id: u64,
}

fn main() {}
