use interstice_sdk::prelude::*;

#[table(name = "accounts")]
pub struct Account {
    pub id: u64,
    pub owner: String,
}

fn main() {}
